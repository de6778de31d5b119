"""Training throughput of pydl against what users would pick instead, in one run.

Workloads (--only NAME[,NAME] runs some of them):
  784-f32     One epoch of a 784-256-128-10 ReLU/softmax network, Adam, float32, on 60000
              synthetic examples, at batch sizes 32, 64, 128 and 512: pydl, the course-literal
              NumPy reference (tests/reference.py), scikit-learn's MLPClassifier, PyTorch
              (eager) and JAX. Also pydl's achieved GFLOP/s as a fraction of the float32 GEMM
              rate measured in the same run: the BLAS's sgemm ("of gemm", what NumPy users
              get) and, where pydl computes float32 products with a kernel of its own, that
              kernel's rate on the same 1024^3 product ("of own").
  784-f64     The same network in float64 at batch 64: pydl, PyTorch, JAX.
  20-64-64-1  A small ReLU network with a sigmoid output and binary cross-entropy, Adam,
              float32, one epoch of 60000 examples at batch 32: pydl, PyTorch, JAX.
  planar      The course's planar 2-4-1 tanh/sigmoid network, 10000 full-batch iterations of
              plain gradient descent (rate 1.2) on its 400 points, float32, in us/iteration:
              pydl, the NumPy reference, PyTorch, JAX.
Each line gives pydl's in-run ratio to every peer (pydl's speed / the peer's: above 1 pydl
is faster), and the run ends with the targets of issue 13 next to the ratios, met or not.

Fairness. Every framework runs in a process of its own (two thread pools alternating cost
20-50x on a 2-core machine), on the same data (the same seeded arrays), with the same
thread count (--threads, default: all cores), the same network shape, He initialization
(the planar network: the course's N(0, 1) * 0.01), the same Adam (beta1 0.9, beta2 0.999,
epsilon 1e-8, bias-corrected moments with t counting updates from 1, the course's form)
and the same batching: every framework reshuffles the examples each epoch, inside the
timed epoch, and cuts the permutation into full batches and one smaller last batch; a
full batch (planar) is not shuffled, as pydl does not. Timed: the best of two epochs (of
two runs of the 10000 iterations for planar) after a warm-up; the NumPy reference and
scikit-learn run once. With --rounds R every framework is measured R times, the frameworks
taking turns (pydl, then each peer, R times over), and each keeps its best: on a shared
machine whose speed drifts for minutes at a time, a slow spell then costs every framework
a round rather than one framework the comparison. "cores busy" is the process's CPU time
over the wall time of the timed runs: the number of cores it actually kept busy.

JAX is written as a JAX user would write the strongest compiled training loop: the whole
epoch (shuffle, gather, forward, jax.value_and_grad, Adam written out) is one `jax.jit` of
a `lax.scan` over the mini-batches, plus one more step for the last smaller batch, with
the data already on the device; it returns the epoch's cost as pydl does. Compile time
(tracing, lowering and XLA compilation, ahead of time) is excluded from the timing and
printed separately. float64 runs with jax_enable_x64 set, in its own process. Threads:
XLA's CPU client sizes its intra-op thread pool from the CPUs the process may run on
(sched_getaffinity; jax-ml/jax#1539: "setting the task affinity map *is* the correct way
to limit JAX's CPU usage"; XLA_FLAGS' old intra_op_parallelism_threads does not limit it),
so the JAX process pins itself to --threads CPUs before importing jax when --threads is
below the CPU count; it cannot be given more threads than CPUs. PyTorch gets
torch.set_num_threads, NumPy and scikit-learn threadpoolctl, pydl n_threads.

Every process inherits this one's environment, OPENBLAS_CORETYPE and PYDL_FLOAT_PRODUCTS
included, so NumPy, scikit-learn and the GEMM rate use the same OpenBLAS kernels (the
header says which; PyTorch and JAX bring their own). Run:
    python bench/bench_training.py [--threads N] [--quick] [--only 784-f32,planar]
    env -u OPENBLAS_CORETYPE python bench/bench_training.py   # OpenBLAS's own kernel choice
    PYDL_FLOAT_PRODUCTS=blas python bench/bench_training.py   # force one pydl product path
    python bench/bench_training.py --avx2   # an AVX2 machine on an AVX-512 one (below)
(some machines set OPENBLAS_CORETYPE=Haswell, which holds OpenBLAS to AVX2 kernels on an
AVX-512 CPU; `pydl config` says what a machine runs with). A peer that is not installed
is skipped and named in the header.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from collections import namedtuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import reference as R  # noqa: E402  (the course-literal NumPy oracle)

# --avx2: an AVX2 machine on an AVX-512 one, as far as each framework lets itself be held
# (set before pydl reads it at import; the children inherit it): pydl's product path,
# OpenBLAS's kernels (NumPy, scikit-learn, pydl's BLAS path), XLA's code generation and
# PyTorch's kernels. pydl's element loops (activations, Adam: a few % of a step) still pick
# their AVX-512 build at load; the header says so.
if "--avx2" in sys.argv:
    os.environ.update({"PYDL_FLOAT_PRODUCTS": "avx2", "OPENBLAS_CORETYPE": "Haswell",
                       "XLA_FLAGS": "--xla_cpu_max_isa=AVX2", "ATEN_CPU_CAPABILITY": "avx2"})

import pydl  # noqa: E402

Workload = namedtuple("Workload", "title dims hidden output dtype init optimizer lr m epochs "
                                  "batches quick_batches quick peers")
ADAM = {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
WORKLOADS = {
    "784-f32": Workload("784-256-128-10 relu/softmax, Adam, float32", [784, 256, 128, 10],
                        "relu", "softmax", "float32", "he", "adam", 0.001, 60000, 1,
                        [32, 64, 128, 512], [64], 4096, ["numpy", "sklearn", "torch", "jax"]),
    "784-f64": Workload("784-256-128-10 relu/softmax, Adam, float64", [784, 256, 128, 10],
                        "relu", "softmax", "float64", "he", "adam", 0.001, 60000, 1,
                        [64], [64], 4096, ["torch", "jax"]),
    "20-64-64-1": Workload("20-64-64-1 relu/sigmoid, binary cross-entropy, Adam, float32",
                           [20, 64, 64, 1], "relu", "sigmoid", "float32", "he", "adam", 0.001,
                           60000, 1, [32], [32], 4096, ["torch", "jax"]),
    # m = the planar set's 400 points; epochs = full-batch iterations (10000, quick 1000)
    "planar": Workload("planar 2-4-1 tanh/sigmoid, gradient descent, full batch, float32",
                       [2, 4, 1], "tanh", "sigmoid", "float32", "random", "gd", 1.2, 400,
                       10000, [400], [400], 1000, ["numpy", "torch", "jax"]),
}
# issue 13's targets: (workload, batch, peer, minimum in-run ratio pydl / peer)
TARGETS = [("784-f32", 64, "jax", 1.5), ("784-f32", 64, "torch", 3.0),
           ("784-f32", 512, "jax", 1.3), ("784-f64", 64, "jax", 2.0),
           ("20-64-64-1", 32, "jax", 1.5), ("planar", 400, "jax", 1.5)]
PEER_NAMES = {"numpy": "NumPy", "sklearn": "sklearn", "torch": "PyTorch", "jax": "JAX"}


def flops_per_sample(dims):
    """Multiply-adds x2 of forward, dW and dA_prev (none for the input layer)."""
    macs = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    return 2 * (3 * macs - dims[0] * dims[1])


def timed(fn):
    """(wall seconds, cores busy) of one call."""
    c, t = time.process_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    return wall, (time.process_time() - c) / wall


def best_of(fn, repeats):
    return min((timed(fn) for _ in range(repeats)), key=lambda r: r[0])


def sgemm_rate(threads):
    from scipy.linalg.blas import sgemm
    from threadpoolctl import threadpool_limits
    n = 1024
    a = np.asfortranarray(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    with threadpool_limits(threads, user_api="blas"):
        sgemm(1.0, a, a)
        t = best_of(lambda: sgemm(1.0, a, a), 30)[0]  # the best of many: a generous bound
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
        t = best_of(product, 30)[0]
    return 2 * n**3 / t / 1e9


def data(w, m):
    """The workload's examples (rows) and labels: class indices for softmax, 0/1 floats in a
    column for sigmoid; the same seeded arrays in every process."""
    if w.dims[0] == 2:
        X, y = pydl.datasets.load_planar()
        return X.astype(w.dtype), y.reshape(-1, 1).astype(w.dtype)
    rng = np.random.default_rng(0)
    X = rng.random((m, w.dims[0])).astype(w.dtype)
    if w.output == "softmax":
        return X, rng.integers(0, w.dims[-1], m)
    return X, rng.integers(0, 2, (m, 1)).astype(w.dtype)


def init_params(w, rng):
    """[(W (n_l, n_l-1), b (n_l,))] as the course initializes them (He, or N(0,1) * 0.01)."""
    params = []
    for n_prev, n in zip(w.dims[:-1], w.dims[1:]):
        std = np.sqrt(2.0 / n_prev) if w.init == "he" else 0.01
        params.append(((rng.standard_normal((n, n_prev)) * std).astype(w.dtype),
                       np.zeros(n, w.dtype)))
    return params


def run_pydl(w, X, y, bs, threads, epochs):
    net = pydl.Network(w.dims, hidden_activation=w.hidden, output_activation=w.output,
                       init=w.init, dtype=w.dtype, seed=0, n_threads=threads)
    kw = ({"optimizer": pydl.Adam(w.lr, **ADAM)} if w.optimizer == "adam"
          else {"learning_rate": w.lr})
    yy = y.ravel() if w.output == "sigmoid" else y
    net.fit(X[:2048], yy[:2048], epochs=min(epochs, 10), batch_size=bs, **kw)  # warm-up
    return best_of(lambda: net.fit(X, yy, epochs=epochs, batch_size=bs, **kw), 2)


def run_numpy(w, X, y, bs, threads, epochs):
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(0)
    params = R.initialize_parameters(w.dims, w.init, rng, dtype=np.dtype(w.dtype))
    acts = [w.hidden] * (len(w.dims) - 2) + [w.output]
    Xt = np.ascontiguousarray(X.T)
    Y = y if w.output == "softmax" else np.ascontiguousarray(y.T)
    state = dict(ADAM)

    def train():
        nonlocal params
        for _ in range(epochs):
            if w.optimizer == "adam":
                params, _ = R.train_epoch(Xt, Y, params, acts, w.output,
                                          rng.permutation(X.shape[0]), bs, "adam", state, w.lr)
            else:  # full batch: the course's loop
                AL, caches = R.forward(Xt, params, acts)
                R.compute_cost(AL, Y, w.output)
                grads = R.backward(AL, Y, caches, acts, w.output)
                params = R.update_parameters_with_gd(params, grads, w.lr)
    with threadpool_limits(threads):
        return timed(train)


def run_sklearn(w, X, y, bs, threads, epochs):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits
    clf = MLPClassifier(hidden_layer_sizes=w.dims[1:-1], activation=w.hidden, solver="adam",
                        batch_size=bs, max_iter=epochs, learning_rate_init=w.lr,
                        random_state=0)
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return timed(lambda: clf.fit(X, y))


def run_torch(w, X, y, bs, threads, epochs):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dtype = getattr(torch, w.dtype)
    layers = []
    for l, (W, _) in enumerate(init_params(w, np.random.default_rng(0))):
        lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.zero_()
        layers.append(lin)
        if l < len(w.dims) - 2:
            layers.append(torch.nn.ReLU() if w.hidden == "relu" else torch.nn.Tanh())
    model = torch.nn.Sequential(*layers)
    opt = (torch.optim.Adam(model.parameters(), lr=w.lr, betas=(ADAM["beta1"], ADAM["beta2"]),
                            eps=ADAM["epsilon"])
           if w.optimizer == "adam" else torch.optim.SGD(model.parameters(), lr=w.lr))
    loss_fn = (torch.nn.CrossEntropyLoss() if w.output == "softmax"
               else torch.nn.BCEWithLogitsLoss())
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    m = Xt.shape[0]

    def step(xb, yb):
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()

    def train():
        for _ in range(epochs):
            if bs >= m:
                step(Xt, yt)
                continue
            perm = torch.randperm(m)
            for i in range(0, m, bs):
                idx = perm[i:i + bs]
                step(Xt[idx], yt[idx])
    for _ in range(10):  # warm-up
        step(Xt[:bs], yt[:bs])
    return best_of(train, 2)


def jax_training(w, m, bs, epochs):
    """(train, state): train(state, key, X, Y) -> (state, key, epoch costs) runs `epochs`
    epochs of shuffle + lax.scan over the batches (the caller jits it); state is
    (params [(W, b)], v, s, t) at the start. jax must be imported (and jax_enable_x64 set
    for float64) before."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    dtype = jnp.dtype(w.dtype)
    b1, b2, eps, lr = (dtype.type(v) for v in (ADAM["beta1"], ADAM["beta2"],
                                                ADAM["epsilon"], w.lr))
    hidden = jax.nn.relu if w.hidden == "relu" else jnp.tanh

    def loss(params, xb, yb):
        A = xb
        for W, b in params[:-1]:
            A = hidden(A @ W.T + b)
        Z = A @ params[-1][0].T + params[-1][1]
        if w.output == "softmax":
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(Z), yb[:, None], axis=1))
        return jnp.mean(jax.nn.softplus(Z) - yb * Z)  # binary cross-entropy of sigmoid(Z)

    def step(state, xb, yb):
        params, v, s, t = state
        cost, grads = jax.value_and_grad(loss)(params, xb, yb)
        if w.optimizer == "gd":
            return (jax.tree.map(lambda p, g: p - lr * g, params, grads), v, s, t), cost
        t = t + 1
        tf = t.astype(dtype)
        c1, c2 = 1 - b1 ** tf, 1 - b2 ** tf  # the course's bias corrections
        v = jax.tree.map(lambda v_, g: b1 * v_ + (1 - b1) * g, v, grads)
        s = jax.tree.map(lambda s_, g: b2 * s_ + (1 - b2) * g * g, s, grads)
        params = jax.tree.map(lambda p, v_, s_: p - lr * (v_ / c1) / (jnp.sqrt(s_ / c2) + eps),
                              params, v, s)
        return (params, v, s, t), cost

    full, rest = divmod(m, bs)

    def train(state, key, Xd, Yd):
        def batch(st, idx):
            st, cost = step(st, Xd[idx], Yd[idx])
            return st, cost * idx.shape[0]

        def epoch(carry, _):
            state, key = carry
            if bs >= m:  # full batch: no shuffle, as pydl
                state, cost = step(state, Xd, Yd)
                return (state, key), cost
            key, sub = jax.random.split(key)
            perm = jax.random.permutation(sub, m)
            state, costs = lax.scan(batch, state, perm[:full * bs].reshape(full, bs))
            total = costs.sum()
            if rest:  # the last, smaller batch
                state, last = batch(state, perm[full * bs:])
                total = total + last
            return (state, key), total / m
        (state, key), costs = lax.scan(epoch, (state, key), None, length=epochs)
        return state, key, costs

    params = [tuple(jnp.asarray(a) for a in layer)
              for layer in init_params(w, np.random.default_rng(0))]
    zeros = jax.tree.map(jnp.zeros_like, params)
    return train, (params, zeros, zeros, jnp.zeros((), jnp.int32))


def run_jax(w, X, y, bs, threads, epochs):
    """The whole run in one jax.jit, compiled ahead of time; returns (seconds, cores busy,
    compile seconds)."""
    cpus = sorted(os.sched_getaffinity(0))
    if threads < len(cpus):  # XLA sizes its thread pool from the affinity mask
        os.sched_setaffinity(0, cpus[:threads])
    import jax
    if w.dtype == "float64":
        jax.config.update("jax_enable_x64", True)

    train, state = jax_training(w, X.shape[0], bs, epochs)
    key = jax.random.key(0)
    Xd = jax.device_put(X)
    Yd = jax.device_put(y.astype(np.int32) if w.output == "softmax" else y)
    t0 = time.perf_counter()
    compiled = jax.jit(train).lower(state, key, Xd, Yd).compile()
    compile_s = time.perf_counter() - t0

    def run():
        nonlocal state, key
        state, key, costs = compiled(state, key, Xd, Yd)
        jax.block_until_ready((state, costs))
    run()  # warm-up, as every framework gets
    return (*best_of(run, 2), compile_s)


RUNNERS = {"pydl": run_pydl, "numpy": run_numpy, "sklearn": run_sklearn, "torch": run_torch,
           "jax": run_jax}


def available(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


def measure(name, workload, threads, quick):
    """[(seconds, cores busy, compile seconds or None)] of one framework at each batch size
    of the workload, in a fresh process."""
    cmd = [sys.executable, __file__, "--measure", name, "--only", workload,
           "--threads", str(threads)] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{name} on {workload} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def sizes(w, quick):
    """(examples, epochs) of a workload's run; quick shortens the data, or the iterations
    of a full-batch workload."""
    if w.epochs > 1:
        return w.m, (w.quick if quick else w.epochs)
    return (w.quick if quick else w.m), 1


def measure_here(name, workload, threads, quick):
    w = WORKLOADS[workload]
    m, epochs = sizes(w, quick)
    X, y = data(w, m)
    out = []
    for bs in (w.quick_batches if quick else w.batches):
        r = RUNNERS[name](w, X, y, bs, threads, epochs)
        out.append(list(r) + [None] * (3 - len(r)))
    return out


def best_rounds(runs):
    """Per batch size, the fastest of several rounds' [seconds, cores busy, compile]."""
    return [min(entries, key=lambda r: r[0]) for entries in zip(*runs)]


def bench(workload, threads, quick, peers_present, rounds=1):
    """Run one workload for pydl and every installed peer (each the best of `rounds`
    rounds, the frameworks taking turns); print its table; return {(batch, peer): ratio}."""
    w = WORKLOADS[workload]
    m, epochs = sizes(w, quick)
    batches = w.quick_batches if quick else w.batches
    per_iteration = w.epochs > 1
    gemm = workload == "784-f32"
    print(f"\n{w.title}, {m} examples, " + (f"{epochs} iterations, " if per_iteration else "")
          + f"{threads} thread(s)" + (f", the best of {rounds} rounds" if rounds > 1 else ""),
          flush=True)
    rate = own = None
    if gemm:
        rate, own = sgemm_rate(threads), own_sgemm_rate(threads)
        per_sample = flops_per_sample(w.dims)
        print(f"sgemm 1024^3 measured: {rate:.0f} GFLOP/s -> the step's products alone allow "
              f"{rate * 1e9 / per_sample / 1e3:.0f}k samples/s")
        if own:
            print(f"pydl's own float32 kernel, the same product: {own:.0f} GFLOP/s -> "
                  f"{own * 1e9 / per_sample / 1e3:.0f}k samples/s")
    peers = [p for p in w.peers if peers_present[p]]
    runs = {p: [] for p in ["pydl"] + peers}
    for _ in range(rounds):
        for p in runs:
            runs[p].append(measure(p, workload, threads, quick))
    res = {p: best_rounds(r) for p, r in runs.items()}

    def speed(r):  # samples/s (k), or us/iteration for planar
        return r[0] / epochs * 1e6 if per_iteration else m / r[0] / 1e3

    unit = "us/iteration" if per_iteration else "samples/s (k)"
    names = ["pydl"] + [PEER_NAMES[p] for p in peers]
    head = f"{'batch':>5} " + " ".join(f"{n:>9}" for n in names) + "  " + \
        " ".join(f"{'x ' + PEER_NAMES[p]:>9}" for p in peers)
    if gemm:
        head += f"  {'GFLOP/s':>8} {'of gemm':>7}" + (f" {'of own':>7}" if own else "")
    print(f"{unit}; x PEER = pydl's speed / the peer's, in this run\n{head}")
    ratios = {}
    for i, bs in enumerate(batches):
        line = f"{bs:>5} " + " ".join(f"{speed(res[n][i]):>9.{2 if per_iteration else 1}f}"
                                      for n in ["pydl"] + peers) + "  "
        for p in peers:
            ratios[bs, p] = res[p][i][0] / res["pydl"][i][0]
        line += " ".join(f"{ratios[bs, p]:>9.2f}" for p in peers)
        if gemm:
            gf = m / res["pydl"][i][0] * per_sample / 1e9
            line += f"  {gf:>8.0f} {gf / rate:>7.0%}" + (f" {gf / own:>7.0%}" if own else "")
        print(line, flush=True)
    busy = ", ".join(f"{n} " + "/".join(f"{r[1]:.1f}" for r in res[k])
                     for n, k in zip(names, ["pydl"] + peers))
    print(f"cores busy (CPU time / wall, per batch size): {busy}")
    if "jax" in res:
        print("JAX compile (excluded above): "
              + ", ".join(f"{r[2]:.2f} s" for r in res["jax"]))
    return ratios


def cpu_label():
    model = platform.processor() or platform.machine()
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine()):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                if flags and model:
                    break
    except OSError:
        pass
    isa = ("AVX-512F" if "avx512f" in flags else
           "AVX2+FMA, no AVX-512" if {"avx2", "fma"} <= flags else
           "no AVX2+FMA" if flags else "instruction set unknown")
    return f"{model} ({os.cpu_count()} CPUs, {isa})"


def header(peers_present):
    from pydl import _core
    config = pydl.show_config(mode="dicts")
    print(f"CPU: {cpu_label()}")
    forced = os.environ.get("PYDL_FLOAT_PRODUCTS")
    print(f"pydl {pydl.__version__}: products path {_core.float_products()}"
          + (f" (PYDL_FLOAT_PRODUCTS={forced})" if forced else "")
          + f", element loops {config['simd_level']}, "
          f"OpenMP {'on' if config['openmp'] else 'off'}; numpy {np.__version__}")
    for lib in config["blas"]:
        print(f"BLAS {os.path.basename(lib['filepath'])} {lib['version']}: "
              f"{lib['architecture']} kernels")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    if os.environ.get("XLA_FLAGS") or os.environ.get("ATEN_CPU_CAPABILITY"):
        print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '(unset)')}, "
              f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', '(unset)')}")
    versions = []
    for p in ("sklearn", "torch", "jax"):
        if peers_present[p]:
            versions.append(f"{PEER_NAMES[p]} {__import__(p).__version__}")
        else:
            versions.append(f"{PEER_NAMES[p]} not installed")
    print("peers: " + ", ".join(versions))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="smaller run (a smoke test)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every framework this many times, taking turns, and "
                             "keep each one's best (a shared, noisy machine)")
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated workloads among {', '.join(WORKLOADS)}")
    parser.add_argument("--avx2", action="store_true",
                        help="on an AVX-512 CPU, hold every framework to AVX2 (module top)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one framework
    args = parser.parse_args()
    only = args.only.split(",")
    unknown = [n for n in only if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; expected some of {list(WORKLOADS)}")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.measure:
        print(json.dumps(measure_here(args.measure, only[0], args.threads, args.quick)))
        return
    peers_present = {"numpy": True, **{p: available(p) for p in ("sklearn", "torch", "jax")}}
    header(peers_present)
    ratios = {n: bench(n, args.threads, args.quick, peers_present, args.rounds) for n in only}
    print("\nissue 13's targets (in-run ratio pydl / peer):")
    for name, bs, peer, target in TARGETS:
        label = f"{name} batch {bs} vs {PEER_NAMES[peer]}"
        r = ratios.get(name, {}).get((bs, peer))
        if r is None:
            why = "not installed" if not peers_present[peer] else "not measured in this run"
            print(f"  {label:<32} target >= {target}x: {why}")
        else:
            print(f"  {label:<32} {r:5.2f}x  target >= {target}x: "
                  f"{'met' if r >= target else 'NOT met'}")


if __name__ == "__main__":
    main()
