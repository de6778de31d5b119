"""Command line: `python -m pydl demo` trains on the embedded data sets; `python -m pydl config`
reports what pydl runs with (OpenMP, threads, vector instructions, BLAS)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pydl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo_parser = sub.add_parser("demo", help="train on the embedded planar flower and digits data sets")
    demo_parser.add_argument("--plot", metavar="DIR",
                             help="also write the flower's decision boundary and the digits' learning "
                                  "curves as PNG files into DIR (needs matplotlib: pydl[plot])")
    sub.add_parser("config", help="report OpenMP, threads, vector instructions and the BLAS")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from pydl import demo

        demo.main(plot_dir=args.plot)
    elif args.command == "config":
        from pydl import show_config

        show_config()
    return 0


if __name__ == "__main__":
    sys.exit(main())
