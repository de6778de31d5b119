"""The same seed gives the same bits: whatever the thread count, OMP_NUM_THREADS or the CPU
affinity of the process (taskset, cgroups, Slurm), and without index overflow on huge data."""
import contextlib
import hashlib
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import pydl
from pydl import _core
from conftest import RUNNABLE_KERNELS, subprocess_env

_TRAIN = r"""
import hashlib, os, sys
cpus = sys.argv[1]
if cpus != "all":
    os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
import numpy as np
import pydl
n_threads = None if sys.argv[2] == "default" else int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.standard_normal((600, 150))
y = rng.integers(0, 5, 600)
out = []
for dtype in ("float32", "float64"):
    # 300 and 200 units: products of 4 and 3 row blocks, whatever the machine
    net = pydl.Network([150, 300, 200, 5], output_activation="softmax", dtype=dtype, seed=1,
                       n_threads=n_threads, keep_probs=0.9)
    net.fit(X, y, epochs=2, batch_size=128, optimizer=pydl.Adam(0.01), l2=0.01)
    out.append(hashlib.sha256(net.theta.tobytes()).hexdigest()[:16])
print(pydl._core.float_products(), *out)
"""


def _train_in_child(cpus, n_threads, **env):
    done = subprocess.run([sys.executable, "-c", _TRAIN, cpus, str(n_threads)],
                          capture_output=True, text=True, env=subprocess_env(**env), timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity")
                    else True, reason="needs two processors to vary the affinity")
@pytest.mark.parametrize("kernel", RUNNABLE_KERNELS)
def test_affinity_threads_and_omp_num_threads_do_not_change_the_bits(kernel):
    """float32 (with every product kernel this CPU runs) and float64, with dropout: one
    processor or two, 1/2/default threads, OMP_NUM_THREADS 1 or 3 -- one result."""
    cpu0, cpu1 = sorted(os.sched_getaffinity(0))[:2]
    runs = {}
    for cpus in (f"{cpu0}", f"{cpu0},{cpu1}"):
        for n_threads in ("default", 1, 2):
            runs[cpus, n_threads] = _train_in_child(cpus, n_threads,
                                                    PYDL_FLOAT_PRODUCTS=kernel)
    for omp in ("1", "3"):
        runs["OMP_NUM_THREADS", omp] = _train_in_child(
            "all", "default", PYDL_FLOAT_PRODUCTS=kernel, OMP_NUM_THREADS=omp)
    assert {r[0] for r in runs.values()} == {kernel}
    assert len({tuple(r) for r in runs.values()}) == 1, runs


def test_mini_batch_index_arithmetic_is_64_bit():
    """m + batch_size past 2^31: the training loop's own spans (no huge array needed)."""
    m, bs = 2**31 - 1, 2**30 + 1
    n, spans = _core.batch_spans(m, bs)
    assert n == 2 and spans == [(0, bs), (bs, m - bs)]
    n, spans = _core.batch_spans(m, 2**30)
    assert n == 2 and spans == [(0, 2**30), (2**30, 2**30 - 1)]
    n, spans = _core.batch_spans(m, 7)
    assert n == -(-m // 7) and spans[-1] == ((n - 1) * 7, m - (n - 1) * 7)
    assert _core.batch_spans(10, 3) == (4, [(0, 3), (6, 3), (9, 1)])


def test_dropout_stream_does_not_wrap_past_2_to_34_elements():
    """Element e of a mask is word e % 4 of Philox block e / 4 (a 32-bit counter word);
    beyond 2^34 elements the block number's high bits key the stream, so element 2^34 + k
    is not element k again."""
    seed, epoch, batch, layer, keep = 2**40 + 5, 3, 7, 2, 0.5
    low = _core.dropout_bits(seed, epoch, batch, layer, keep, 0, 256)
    high = _core.dropout_bits(seed, epoch, batch, layer, keep, 2**34, 256)
    assert 0.3 < low.mean() < 0.7 and 0.3 < high.mean() < 0.7
    assert (low != high).mean() > 0.3
    # the layout, from the raw generator: counter (e / 4, epoch, batch, DROPOUT | layer)
    key = [seed & 0xFFFFFFFF, seed >> 32]
    ctr3 = 0x44520000 | layer
    for e0, words in ((0, low), (2**34, high)):
        hi = (e0 // 4) >> 32
        k = [key[0], key[1] ^ ((hi * 0x9E3779B9) & 0xFFFFFFFF)]
        bits = []
        for b in range(64):
            block = _core.philox4x32([(e0 // 4 + b) & 0xFFFFFFFF, epoch, batch, ctr3], k)
            bits += [int(w) < int(keep * 2**32) for w in block]
        np.testing.assert_array_equal(words, bits)
    # and the mask training applies is the same stream from element 0
    mask = _core.dropout_mask(seed, epoch, batch, layer, 16, 16, keep)
    np.testing.assert_array_equal(mask.ravel(), low)


def test_switching_kernels_from_another_thread_never_mixes_them_in_a_call():
    """The product path is read once per call: a thread switching it back and forth while
    fit trains gives the bits of one path or the other, never a mixture (pydl's own paths
    give the same bits: one of them against the BLAS)."""
    import threading

    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 100)).astype(np.float32)
    y = rng.integers(0, 4, 512)
    kernels = [RUNNABLE_KERNELS[0], "blas"]  # (generic, at least, always runs)

    def train():
        net = pydl.Network([100, 96, 64, 4], output_activation="softmax", seed=0, n_threads=2)
        net.fit(X, y, epochs=6, batch_size=32, optimizer=pydl.Adam(0.01))
        return net.theta.tobytes()

    previous = _core.float_products()
    try:
        alone = {}
        for k in kernels:
            _core.set_float_products(k)
            alone[k] = train()
        assert alone[kernels[0]] != alone[kernels[1]]  # the kernels do differ in their bits
        stop = threading.Event()

        def toggle():
            i = 0
            while not stop.is_set():
                _core.set_float_products(kernels[i % 2])
                i += 1

        th = threading.Thread(target=toggle)
        th.start()
        try:
            for _ in range(5):
                assert train() in alone.values()
        finally:
            stop.set()
            th.join()
    finally:
        _core.set_float_products(previous)


def _fit(X, y):
    net = pydl.Network([40, 32, 3], output_activation="softmax", seed=0, n_threads=2)
    net.fit(X, y, epochs=2, batch_size=32, optimizer=pydl.Adam(0.01))
    return net.theta


def _linear_net():
    return pydl.Network([40, 64, 3], output_activation="linear", seed=0, n_threads=2)


def _cost(X, y):
    return np.float64(_linear_net().cost(X, y))


def _gradients(X, y):
    return _linear_net().gradients(X, y)["dW1"]


def _gradients_with_masks(X, y):  # (the propagate door)
    net = _linear_net()
    return net.gradients(X, y, masks=net.dropout_masks(X.shape[0]), keep_probs=0.8)["dW1"]


def _backward(X, y):  # (propagate with an external loss)
    return _linear_net().backward(X, np.ones_like(y))["dW1"]


def _lbfgs(X, y):
    sklearn = pytest.importorskip("sklearn", reason="pip install scikit-learn")
    from pydl.sklearn import MLPRegressor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)  # 5 iterations
        est = MLPRegressor(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=5,
                           random_state=0, dtype="float32", n_threads=2).fit(X, y)
    return est.network_.theta


@pytest.mark.parametrize("module, call", [
    ("pydl.network", _fit), ("pydl.network", _cost), ("pydl.network", _gradients),
    ("pydl.network", _gradients_with_masks), ("pydl.network", _backward),
    ("pydl.sklearn", _lbfgs)])
def test_a_call_runs_the_path_it_held_the_blas_for(monkeypatch, module, call):
    """Each call that holds the BLAS decides at its start whether to (only the "blas" path
    calls it) and hands that same path to the C call: a switch in between (here: right after
    the decision) does not reach the call, which would otherwise run the BLAS unheld."""
    from pydl import _threads

    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 40)).astype(np.float32)
    y = rng.integers(0, 3, 300) if call is _fit else \
        rng.standard_normal((300, 3)).astype(np.float32)

    def bits():
        return call(X, y).tobytes()

    previous = _core.float_products()
    try:
        _core.set_float_products("blas")
        with_blas = bits()
        _core.set_float_products(RUNNABLE_KERNELS[0])
        own = bits()
        assert own != with_blas  # (the paths do differ in their bits here)
        held = _threads.sequential_blas

        @contextlib.contextmanager
        def switching_after_the_decision(any_path=False):
            with held(any_path) as path:
                _core.set_float_products("blas")
                yield path

        monkeypatch.setattr(f"{module}.sequential_blas", switching_after_the_decision)
        _core.set_float_products(RUNNABLE_KERNELS[0])
        assert bits() == own
    finally:
        _core.set_float_products(previous)
