"""Serving benchmark: pydl's predict against ONNX Runtime, PyTorch (inference_mode) and NumPy.

    flock /tmp/pydl-bench.lock python bench/bench_inference.py [--quick]

Each framework runs in its own process, one after the other, on the same weights (a seeded
pydl network: ORT runs its `to_onnx` export, PyTorch an nn.Sequential holding the same
tensors, NumPy three products). Printed, in one run:
  - single-sample latency on 784-256-128-10 (softmax probabilities) and the course's planar
    2-4-1 (tanh, sigmoid), float32, one thread;
  - pydl's fixed cost of a call (2-4-1 through _core.predict with out=, and the Network
    method) and what `out=` saves;
  - batch throughput (1024 and 65536 rows) with 1 and 2 threads, float32 and float64;
  - pydl predicting from 2 Python threads at once against 1 (single samples);
  - a fit in a worker thread while the main thread runs a busy Python loop, against the
    same fit with the main thread idle.
Timings are the best of several repeats (the machine may be shared); ratios are pydl's time
over the peer's (latency: < 1 is faster) or its rate over the peer's (throughput). With
--rounds R the frameworks take turns R times over and each keeps its best time and rate
(the median of the thread-scaling ratios): on a machine whose speed drifts for minutes, a
slow spell then costs every framework a round rather than one framework the comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time

import numpy as np

MNIST = [784, 256, 128, 10]
PLANAR = [2, 4, 1]
BATCHES = (1024, 65536)
THREADS = (1, 2)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        name = next(line.split(":", 1)[1].strip() for line in info.splitlines()
                    if line.startswith("model name"))
        flags = next(line for line in info.splitlines() if line.startswith("flags"))
        isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "no AVX2"
        return f"{name} ({isa}, {os.cpu_count()} logical CPUs)"
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def best(fn, calls, repeats):
    """Seconds per call of fn(), the best of `repeats` runs of `calls` calls."""
    fn()
    out = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        out = min(out, (time.perf_counter() - t0) / calls)
    return out


def networks(dtype):
    import pydl

    mnist = pydl.Network(MNIST, output_activation="softmax", dtype=dtype, seed=0)
    planar = pydl.Network(PLANAR, hidden_activation="tanh", dtype=dtype, seed=0)
    return mnist, planar


def inputs(dtype, m, n):
    return np.random.default_rng(1).standard_normal((m, n)).astype(dtype)


# ---- one framework per process ----------------------------------------------------------

def run_pydl(quick):
    import pydl
    from pydl import _core

    res = {"kernel": _core.inference_kernel()}
    for dtype in ("float32", "float64"):
        mnist, planar = networks(dtype)
        x, xp = inputs(dtype, 1, 784), inputs(dtype, 1, 2)
        if dtype == "float32":
            res["single"] = best(lambda: mnist.predict_proba(x, n_threads=1), 2000, 7)
            res["planar"] = best(lambda: planar.predict_proba(xp, n_threads=1), 20000, 7)
            out = np.empty((1, 1), np.float32)
            res["fixed_core"] = best(lambda: _core.predict(planar._arch, planar._pack, xp, out,
                                                           0, 1), 20000, 7)
            res["planar_out"] = best(lambda: planar.predict_proba(xp, n_threads=1, out=out),
                                     20000, 7)
            res["mnist_out"] = best(lambda: mnist.predict_proba(
                x, n_threads=1, out=np.empty((1, 10), np.float32)), 2000, 7)
            # two Python threads predicting at once vs one: single samples, and requests of
            # 16 rows (where the C call outweighs the GIL-held part of a call)
            for rows in (1, 16):
                X = inputs(dtype, rows, 784)
                n = (1000 if quick else 4000) // rows ** 0.5

                def loop():
                    for _ in range(int(n)):
                        mnist.predict_proba(X, n_threads=1)

                def timed(k):
                    ts = [threading.Thread(target=loop) for _ in range(k)]
                    t0 = time.perf_counter()
                    for t in ts:
                        t.start()
                    for t in ts:
                        t.join()
                    return time.perf_counter() - t0

                loop()
                one = min(timed(1) for _ in range(3))
                two = min(timed(2) for _ in range(3))
                res[f"threads_scaling_{rows}"] = 2 * one / two
        for m in BATCHES:
            X = inputs(dtype, m, 784)
            out = np.empty((m, 10), dtype)
            for nt in THREADS:
                calls = max(1, (20000 if not quick else 4000) // m)
                res[f"batch_{dtype}_{m}_{nt}"] = m / best(
                    lambda: mnist.predict_proba(X, n_threads=nt, out=out), calls, 5)
    res["fit_idle"], res["fit_busy"] = worker_fit(quick)
    return res


def worker_fit(quick):
    import pydl

    rng = np.random.default_rng(0)
    X = rng.standard_normal((4096, 64)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)

    def one(busy):
        net = pydl.Network([64, 64, 1], seed=0)
        took = {}

        def fit():
            t0 = time.perf_counter()
            net.fit(X, y, epochs=10 if quick else 40, batch_size=32, learning_rate=0.01,
                    n_threads=1)
            took["s"] = time.perf_counter() - t0

        t = threading.Thread(target=fit)
        t.start()
        spins = 0
        while busy and t.is_alive():
            spins += 1
        t.join()
        return took["s"]

    one(False)
    reps = 2 if quick else 4
    return min(one(False) for _ in range(reps)), min(one(True) for _ in range(reps))


def run_ort(quick):
    import onnxruntime as ort

    res = {}
    for dtype in ("float32", "float64"):
        mnist, planar = networks(dtype)
        sessions = {}
        for nt in THREADS:
            so = ort.SessionOptions()
            so.intra_op_num_threads = nt
            so.inter_op_num_threads = 1
            sessions[nt] = ort.InferenceSession(
                mnist.to_onnx().SerializeToString(), so, providers=["CPUExecutionProvider"])
        if dtype == "float32":
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            ps = ort.InferenceSession(planar.to_onnx().SerializeToString(), so,
                                      providers=["CPUExecutionProvider"])
            x, xp = inputs(dtype, 1, 784), inputs(dtype, 1, 2)
            # probabilities only, as predict_proba
            res["single"] = best(lambda: sessions[1].run(["probabilities"], {"X": x}), 2000, 7)
            res["planar"] = best(lambda: ps.run(["probabilities"], {"X": xp}), 20000, 7)
        for m in BATCHES:
            X = inputs(dtype, m, 784)
            for nt in THREADS:
                calls = max(1, (20000 if not quick else 4000) // m)
                res[f"batch_{dtype}_{m}_{nt}"] = m / best(
                    lambda: sessions[nt].run(["probabilities"], {"X": X}), calls, 5)
    return res


def run_torch(quick):
    import torch

    res = {}
    for dtype in ("float32", "float64"):
        mnist, planar = networks(dtype)

        def model(net):
            layers = []
            acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
            for l, act in enumerate(net.activations, start=1):
                W, b = net.parameters[f"W{l}"], net.parameters[f"b{l}"]
                lin = torch.nn.Linear(W.shape[1], W.shape[0]).to(getattr(torch, dtype))
                with torch.no_grad():
                    lin.weight.copy_(torch.from_numpy(W))
                    lin.bias.copy_(torch.from_numpy(b[:, 0]))
                layers += [lin, torch.nn.Softmax(dim=1) if act == "softmax" else acts[act]()]
            return torch.nn.Sequential(*layers).eval()

        tm, tp = model(mnist), model(planar)

        def run(mod, X):
            with torch.inference_mode():
                return mod(torch.from_numpy(X)).numpy()

        if dtype == "float32":
            torch.set_num_threads(1)
            x, xp = inputs(dtype, 1, 784), inputs(dtype, 1, 2)
            res["single"] = best(lambda: run(tm, x), 2000, 7)
            res["planar"] = best(lambda: run(tp, xp), 20000, 7)
        for m in BATCHES:
            X = inputs(dtype, m, 784)
            for nt in THREADS:
                torch.set_num_threads(nt)
                calls = max(1, (20000 if not quick else 4000) // m)
                res[f"batch_{dtype}_{m}_{nt}"] = m / best(lambda: run(tm, X), calls, 5)
    return res


def run_numpy(quick):
    from threadpoolctl import threadpool_limits

    res = {}
    for dtype in ("float32", "float64"):
        mnist, planar = networks(dtype)

        def weights(net):
            return [(net.parameters[f"W{l}"].T.copy(), net.parameters[f"b{l}"][:, 0].copy())
                    for l in range(1, net.n_layers + 1)]

        wm, wp = weights(mnist), weights(planar)

        def mlp(X):
            a = X
            for i, (W, b) in enumerate(wm):
                z = a @ W + b
                a = np.maximum(z, 0) if i < 2 else z
            e = np.exp(a - a.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

        def planar_net(X):
            (W1, b1), (W2, b2) = wp
            return 1 / (1 + np.exp(-(np.tanh(X @ W1 + b1) @ W2 + b2)))

        with threadpool_limits(1):
            if dtype == "float32":
                x, xp = inputs(dtype, 1, 784), inputs(dtype, 1, 2)
                res["single"] = best(lambda: mlp(x), 2000, 7)
                res["planar"] = best(lambda: planar_net(xp), 20000, 7)
        for m in BATCHES:
            X = inputs(dtype, m, 784)
            for nt in THREADS:
                with threadpool_limits(nt):
                    calls = max(1, (20000 if not quick else 4000) // m)
                    res[f"batch_{dtype}_{m}_{nt}"] = m / best(lambda: mlp(X), calls, 5)
    return res


RUNNERS = {"pydl": run_pydl, "onnxruntime": run_ort, "torch": run_torch, "numpy": run_numpy}


# ---- the report ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    ap.add_argument("--only", default=",".join(RUNNERS), help="frameworks, comma-separated")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every framework this many times, taking turns, and keep "
                         "each one's best (a shared, noisy machine)")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(RUNNERS[args.worker](args.quick)))
        return
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1, got {args.rounds}")
    runs = {}
    for _ in range(args.rounds):
        for name in args.only.split(","):
            cmd = [sys.executable, __file__, "--worker", name] + (["--quick"] if args.quick
                                                                   else [])
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                print(f"{name}: skipped ({proc.stderr.strip().splitlines()[-1]})")
                continue
            runs.setdefault(name, []).append(json.loads(proc.stdout.strip().splitlines()[-1]))
    report({name: best_of_rounds(r) for name, r in runs.items()}, args.rounds)


def best_of_rounds(rounds):
    """One framework's results over rounds: the best rate (batch_*), the median scaling
    ratio (threads_*: a best of noisy ratios would flatter), the shortest time (the rest)."""
    out = dict(rounds[0])
    for key, value in out.items():
        if isinstance(value, str):
            continue
        values = sorted(r[key] for r in rounds)
        out[key] = (values[-1] if key.startswith("batch_")
                    else values[len(values) // 2] if key.startswith("threads_")
                    else values[0])
    return out


def report(r, rounds=1):
    import numpy
    import pydl

    p = r["pydl"]
    peers = [k for k in r if k != "pydl"]
    print(f"CPU: {cpu_name()}; pydl {pydl.__version__} (inference kernel {p['kernel']}), "
          f"numpy {numpy.__version__}, Python {platform.python_version()}"
          + (f"; the best of {rounds} rounds" if rounds > 1 else ""))
    print("\nsingle sample, float32, one thread (us per call; ratio = pydl / peer)")
    head = f"{'':28}{'pydl':>9}" + "".join(f"{k:>14}{'ratio':>7}" for k in peers)
    print(head)
    for key, label in (("single", "784-256-128-10 predict_proba"),
                       ("planar", "planar 2-4-1 predict_proba")):
        row = f"{label:28}{p[key] * 1e6:9.1f}"
        for k in peers:
            row += f"{r[k][key] * 1e6:14.1f}{p[key] / r[k][key]:7.2f}"
        print(row)
    print(f"\nfixed cost of a call (planar 2-4-1): _core.predict(out=) {p['fixed_core'] * 1e6:.2f} us,"
          f" Network.predict_proba(out=) {p['planar_out'] * 1e6:.2f} us, without out= "
          f"{p['planar'] * 1e6:.2f} us; 784-256-128-10 with out= {p['mnist_out'] * 1e6:.1f} us")
    print("\nbatch throughput (thousand samples/s; ratio = pydl / peer)")
    print(f"{'':28}{'pydl':>9}" + "".join(f"{k:>14}{'ratio':>7}" for k in peers))
    for dtype in ("float32", "float64"):
        for m in BATCHES:
            for nt in THREADS:
                key = f"batch_{dtype}_{m}_{nt}"
                row = f"{dtype} {m:>6} rows {nt} thr{'s' if nt > 1 else ' '}    {p[key] / 1e3:9.0f}"
                for k in peers:
                    row += f"{r[k][key] / 1e3:14.0f}{p[key] / r[k][key]:7.2f}"
                print(row)
    print(f"\npydl single-sample predict from 2 Python threads at once: "
          f"{p['threads_scaling_1']:.2f}x the throughput of 1; requests of 16 rows: "
          f"{p['threads_scaling_16']:.2f}x")
    print(f"fit in a worker thread (n_threads=1): {p['fit_idle']:.3f} s with the main thread "
          f"idle, {p['fit_busy']:.3f} s while it runs a busy Python loop "
          f"({p['fit_busy'] / p['fit_idle']:.2f}x)")


if __name__ == "__main__":
    main()
