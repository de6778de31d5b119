"""RSS of a process making many small pydl calls (issue 15, "flat memory"): run by
tests/test_memory.py in a subprocess, or by hand for the full count:

    python tests/memory_loop.py --calls 100000 --round-trips 1000

Prints one JSON line: RSS (MiB) after warm-up and after the calls, and the seconds taken.
"""
import argparse
import io
import json
import time

import numpy as np

import pydl


def rss_mib():
    """The current resident set size, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=100000)
    p.add_argument("--round-trips", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=2000)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = pydl.Network([4, 5, 1], seed=0, n_threads=1)

    def calls(n):  # fit / predict / cost / gradients in turn
        for i in range(n):
            k = i % 4
            if k == 0:
                net.fit(X, y, epochs=1, learning_rate=0.01, batch_size=8)
                if i % 1000 == 0:  # net.history keeps every epoch (by design, not a leak):
                    net.history.__init__()  # kept short, or freed lists would pad the RSS
            elif k == 1:
                net.predict(X)
            elif k == 2:
                net.cost(X, y)
            else:
                net.gradients(X, y)

    def round_trips(n):
        for _ in range(n):
            f = io.BytesIO()
            net.save(f)
            pydl.load(io.BytesIO(f.getvalue()))

    calls(args.warmup)
    round_trips(min(args.warmup, 200))
    net.history.__init__()  # fit appends one epoch per call: the history is not a leak
    before = rss_mib()
    t0 = time.perf_counter()
    calls(args.calls)
    net.history.__init__()
    after_calls = rss_mib()
    t1 = time.perf_counter()
    round_trips(args.round_trips)
    after_trips = rss_mib()
    print(json.dumps({"calls": args.calls, "round_trips": args.round_trips,
                      "rss_before_mib": before, "rss_after_calls_mib": after_calls,
                      "rss_after_round_trips_mib": after_trips,
                      "calls_s": t1 - t0, "round_trips_s": time.perf_counter() - t1}))


if __name__ == "__main__":
    main()
