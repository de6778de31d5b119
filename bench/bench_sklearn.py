"""pydl.sklearn against scikit-learn's MLPClassifier, same parameters, same data.

    python bench/bench_sklearn.py [--threads 2] [--repeat 3] [--only digits,...]

For each data set (digits, breast cancer, make_classification 100k x 100; standardized,
75/25 split, seed 0) and solver (adam, lbfgs), scikit-learn's MLPClassifier and pydl's (its
default, float32, and dtype=None, which computes in X's float64 as scikit-learn) each fit in their own process
(OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / n_threads set to --threads) with the same
parameters, and report the best fit time over --repeat runs and the test accuracy; "×" is
scikit-learn's time over pydl's. All stop by the same rules (tol, n_iter_no_change,
max_iter), so the epoch (or lbfgs iteration) counts are shown too.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

DATASETS = {
    # name: max_iter (the same for both; everything else is MLPClassifier's default)
    "digits": 200,
    "breast_cancer": 200,
    "classification_100k": 10,   # 100k x 100: 10 epochs (scikit-learn needs seconds per epoch)
}


def load(name):
    import numpy as np
    from sklearn.datasets import load_breast_cancer, load_digits, make_classification
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if name == "digits":
        X, y = load_digits(return_X_y=True)
    elif name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    else:
        X, y = make_classification(n_samples=100_000, n_features=100, n_informative=40,
                                   n_classes=4, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    return (scaler.transform(Xtr).astype(np.float64), scaler.transform(Xte), ytr, yte)


def one(framework, name, solver, threads, repeat):
    """Runs in the child process: fit `repeat` times, print JSON."""
    Xtr, Xte, ytr, yte = load(name)
    if framework == "sklearn":
        from sklearn.neural_network import MLPClassifier

        extra = {}
    else:  # "pydl" (its default, float32) or "pydl-float64" (dtype=None: X's, float64)
        from pydl.sklearn import MLPClassifier

        extra = {"n_threads": threads, "dtype": None if framework.endswith("64") else "float32"}
    params = dict(solver=solver, max_iter=DATASETS[name], random_state=0)
    best, clf = float("inf"), None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarning at max_iter, for both
        for _ in range(repeat):
            clf = MLPClassifier(**params, **extra)
            t0 = time.perf_counter()
            clf.fit(Xtr, ytr)
            best = min(best, time.perf_counter() - t0)
    print(json.dumps({"time": best, "acc": clf.score(Xte, yte), "n_iter": clf.n_iter_}))


FRAMEWORKS = ("sklearn", "pydl", "pydl-float64")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default=",".join(DATASETS))
    ap.add_argument("--solvers", default="adam,lbfgs")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        one(*args.child, args.threads, args.repeat)
        return
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    import pydl
    import sklearn

    print(f"pydl {pydl.__version__}, scikit-learn {sklearn.__version__}, {args.threads} "
          f"threads, best of {args.repeat}; time (epochs or lbfgs iterations), test accuracy")
    print("| data | solver | scikit-learn | pydl | × | pydl, dtype=None (float64) | × |")
    print("|---|---|---|---|---|---|---|")
    for name in args.only.split(","):
        for solver in args.solvers.split(","):
            res = {}
            for fw in FRAMEWORKS:
                out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads),
                                      "--repeat", str(args.repeat), "--child", fw, name, solver],
                                     env=env, capture_output=True, text=True, check=True)
                res[fw] = json.loads(out.stdout.strip().splitlines()[-1])

            def cell(r):
                return f"{r['time']:.3f} s ({r['n_iter']}), {100 * r['acc']:.1f}%"

            s, p, p64 = (res[fw] for fw in FRAMEWORKS)
            print(f"| {name} | {solver} | {cell(s)} | {cell(p)} | **{s['time'] / p['time']:.1f}** "
                  f"| {cell(p64)} | **{s['time'] / p64['time']:.1f}** |", flush=True)


if __name__ == "__main__":
    main()
