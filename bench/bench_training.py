"""Training throughput of pydl against what users would pick instead, in one run.

1. One epoch of a 784-256-128-10 ReLU/softmax network, Adam, float32, on 60000 synthetic
   examples, at batch sizes 32, 64, 128 and 512: pydl, the course-literal NumPy reference
   (tests/reference.py), scikit-learn's MLPClassifier and PyTorch (each when installed).
   Prints samples/s, pydl's ratio to each peer, and pydl's achieved GFLOP/s as a fraction of
   the float32 GEMM rate measured in the same run: the BLAS's sgemm ("of gemm", what NumPy
   users get) and, where pydl computes float32 products with its own AVX-512 kernel, that
   kernel's rate on the same 1024^3 product ("of own").
2. The course's planar 2-4-1 tanh/sigmoid network, 10000 full-batch iterations on 400
   points: pydl against the NumPy reference and PyTorch.

All peers get the same thread count (--threads, default: all cores), and each framework
runs in a process of its own, so that no thread pool left spinning by one slows another
(two pools alternating cost 20-50x on a 2-core machine). Every process inherits this one's
environment, OPENBLAS_CORETYPE included, so NumPy, scikit-learn and the GEMM rate use the
same OpenBLAS kernels (the header says which; PyTorch brings its own BLAS, pydl its own
float32 kernel on AVX-512 CPUs). Run:
    python bench/bench_training.py [--threads N] [--quick]
    env -u OPENBLAS_CORETYPE python bench/bench_training.py   # OpenBLAS's own kernel choice
    PYDL_FLOAT_PRODUCTS=blas python bench/bench_training.py   # pydl on the BLAS too
(the machines here set OPENBLAS_CORETYPE=Haswell, which holds OpenBLAS to AVX2 kernels on
their AVX-512 CPU; `pydl config` says what a machine runs with).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import reference as R  # noqa: E402  (the course-literal NumPy oracle)

import pydl  # noqa: E402

DIMS = [784, 256, 128, 10]


def flops_per_sample(dims):
    """Multiply-adds x2 of forward, dW and dA_prev (none for the input layer)."""
    macs = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    return 2 * (3 * macs - dims[0] * dims[1])


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def sgemm_rate(threads):
    from scipy.linalg.blas import sgemm
    from threadpoolctl import threadpool_limits
    n = 1024
    a = np.asfortranarray(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    with threadpool_limits(threads, user_api="blas"):
        sgemm(1.0, a, a)
        t = best_of(lambda: sgemm(1.0, a, a), 30)  # the best of many: a generous bound
    return 2 * n**3 / t / 1e9


def own_sgemm_rate(threads):
    """GFLOP/s of pydl's own float32 kernel on the same 1024^3 product, `threads` row blocks
    computed at once (each call runs on its own thread, the GIL released), as a step splits
    its products; None where float32 products go to the BLAS."""
    from concurrent.futures import ThreadPoolExecutor
    from pydl import _core
    if _core.float_products() == "blas":
        return None
    n = 1024
    a = np.asfortranarray(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    rows = [a[n * t // threads:n * (t + 1) // threads] for t in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        def product():
            list(pool.map(lambda r: _core.product(r, a), rows))
        product()
        t = best_of(product, 30)
    return 2 * n**3 / t / 1e9


def data(m=60000):
    rng = np.random.default_rng(0)
    X = rng.random((m, DIMS[0]), dtype=np.float32)
    y = rng.integers(0, DIMS[-1], m)
    return X, y


def run_pydl(X, y, bs, threads):
    net = pydl.Network(DIMS, output_activation="softmax", seed=0, n_threads=threads)
    opt = pydl.Adam(0.001)
    net.fit(X[:2048], y[:2048], epochs=1, batch_size=bs, optimizer=opt)  # warm-up
    return best_of(lambda: net.fit(X, y, epochs=1, batch_size=bs, optimizer=opt), 2)


def run_numpy(X, y, bs, threads):
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(0)
    params = R.initialize_parameters(DIMS, "he", rng, dtype=np.float32)
    acts = ["relu", "relu", "softmax"]
    state = {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
    Xt = np.ascontiguousarray(X.T)
    perm = rng.permutation(X.shape[0])
    with threadpool_limits(threads):
        t = time.perf_counter()
        R.train_epoch(Xt, y, params, acts, "softmax", perm, bs, "adam", state, 0.001)
        return time.perf_counter() - t


def run_sklearn(X, y, bs, threads):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits
    clf = MLPClassifier(hidden_layer_sizes=DIMS[1:-1], activation="relu", solver="adam",
                        batch_size=bs, max_iter=1, learning_rate_init=0.001, random_state=0)
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        clf.fit(X, y)
        return time.perf_counter() - t


def run_torch(X, y, bs, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def epoch():
        perm = torch.randperm(Xt.shape[0])
        for i in range(0, Xt.shape[0], bs):
            idx = perm[i:i + bs]
            opt.zero_grad()
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            opt.step()
    return best_of(epoch, 2)


def available(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


RUNNERS = {"pydl": run_pydl, "numpy": run_numpy, "sklearn": run_sklearn, "torch": run_torch}


def measure(name, threads, batch_sizes, m):
    """Samples/s of one framework at each batch size, in a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--measure", name, "--threads", str(threads),
                          "--m", str(m), "--batches", ",".join(map(str, batch_sizes))],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_here(name, threads, batch_sizes, m):
    X, y = data(m)
    return [m / RUNNERS[name](X, y, bs, threads) for bs in batch_sizes]


def bench_mnist_like(threads, batch_sizes, m):
    rate, own = sgemm_rate(threads), own_sgemm_rate(threads)
    per_sample = flops_per_sample(DIMS)
    bound = rate * 1e9 / per_sample
    print(f"\n784-256-128-10 relu/softmax, Adam, float32, {m} examples, {threads} thread(s)")
    print(f"sgemm 1024^3 measured: {rate:.0f} GFLOP/s -> the step's products alone allow "
          f"{bound / 1e3:.0f}k samples/s")
    if own:
        print(f"pydl's own float32 kernel, the same product: {own:.0f} GFLOP/s -> "
              f"{own * 1e9 / per_sample / 1e3:.0f}k samples/s")
    peers = ["numpy"] + [p for p in ("sklearn", "torch") if available(p)]
    ours = measure("pydl", threads, batch_sizes, m)
    theirs = {p: measure(p, threads, batch_sizes, m) for p in peers}
    head = f"{'batch':>5} {'pydl':>9} " + " ".join(f"{p:>9}" for p in peers)
    head += "  " + " ".join(f"{'x ' + p:>9}" for p in peers) + f"  {'GFLOP/s':>8} {'of gemm':>7}"
    head += f" {'of own':>7}" if own else ""
    print("samples/s (k)\n" + head)
    for i, bs in enumerate(batch_sizes):
        sps = ours[i]
        peer_sps = [theirs[p][i] for p in peers]
        gf = sps * per_sample / 1e9
        print(f"{bs:>5} {sps / 1e3:>9.1f} " + " ".join(f"{p / 1e3:>9.1f}" for p in peer_sps)
              + "  " + " ".join(f"{sps / p:>9.2f}" for p in peer_sps)
              + f"  {gf:>8.0f} {gf / rate:>7.0%}" + (f" {gf / own:>7.0%}" if own else ""),
              flush=True)


def bench_planar(threads, iterations):
    X, y = pydl.datasets.load_planar()
    print(f"\nplanar 2-4-1 tanh/sigmoid, 400 points, {iterations} full-batch iterations, "
          f"float32, {threads} thread(s)")
    net = pydl.Network([2, 4, 1], hidden_activation="tanh", init="random", seed=2,
                       n_threads=threads)
    net.fit(X, y, epochs=10, learning_rate=1.2)
    t_pydl = best_of(lambda: net.fit(X, y, epochs=iterations, learning_rate=1.2), 3)
    results = {"pydl": t_pydl}

    from threadpoolctl import threadpool_limits
    Xr, Y = X.T.astype(np.float32), y.reshape(1, -1).astype(np.float32)
    params = R.initialize_parameters([2, 4, 1], "random", np.random.default_rng(2),
                                     dtype=np.float32)
    acts = ["tanh", "sigmoid"]
    n_np = max(1, iterations // 10)  # the reference is slow: time a tenth and scale

    def numpy_loop():
        nonlocal params
        for _ in range(n_np):
            AL, caches = R.forward(Xr, params, acts)
            R.compute_cost(AL, Y, "sigmoid")
            grads = R.backward(AL, Y, caches, acts, "sigmoid")
            params = R.update_parameters_with_gd(params, grads, 1.2)
    with threadpool_limits(threads):
        results["numpy"] = best_of(numpy_loop, 2) * iterations / n_np

    if available("torch"):
        import torch
        torch.set_num_threads(threads)
        model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
        opt = torch.optim.SGD(model.parameters(), lr=1.2)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        Xt, yt = torch.from_numpy(X.astype(np.float32)), torch.from_numpy(Y.T.copy())
        n_t = max(1, iterations // 10)

        def torch_loop():
            for _ in range(n_t):
                opt.zero_grad()
                loss_fn(model(Xt), yt).backward()
                opt.step()
        results["torch"] = best_of(torch_loop, 2) * iterations / n_t
    for name, t in results.items():
        ratio = "" if name == "pydl" else f"   pydl is {t / t_pydl:.1f}x faster"
        print(f"  {name:>6}: {t / iterations * 1e6:8.2f} us/iteration{ratio}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="smaller run (a smoke test)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one framework
    parser.add_argument("--m", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batches", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        batches = [int(b) for b in args.batches.split(",")]
        print(json.dumps(measure_here(args.measure, args.threads, batches, args.m)))
        return
    config = pydl.show_config(mode="dicts")
    print(f"pydl {pydl.__version__}, OpenMP {'on' if config['openmp'] else 'off'}, element "
          f"loops {config['simd_level']}, float32 products {config['float_products']}, "
          f"numpy {np.__version__}")
    for lib in config["blas"]:
        print(f"BLAS {os.path.basename(lib['filepath'])} {lib['version']}: "
              f"{lib['architecture']} kernels")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    if args.quick:
        bench_mnist_like(args.threads, [64], 4096)
        bench_planar(args.threads, 1000)
    else:
        bench_mnist_like(args.threads, [32, 64, 128, 512], 60000)
        bench_planar(args.threads, 10000)


if __name__ == "__main__":
    main()
