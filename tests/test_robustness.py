"""Regressions from review: a diverging gradient, an interrupt at an epoch boundary, aliased
buffers at the door, and sizes that overflow an int."""
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import pydl
from pydl import _core


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_non_finite_gradient_with_finite_cost_leaves_theta(dtype):
    """dW overflows while the cost is still finite: no update may be applied."""
    big = 1e21 if dtype == "float32" else 1e156  # z^2/2 finite, dW = z * x not
    net = pydl.Network([1, 1], output_activation="linear", dtype=dtype, init="zeros")
    net.theta = [0.01, 0.0]
    X, y = np.array([[big]]), np.array([0.0])
    assert np.isfinite(net.cost(X, y))
    with pytest.raises(FloatingPointError, match="gradient") as info:
        net.fit(X, y, epochs=1, learning_rate=1e-3)
    np.testing.assert_array_equal(net.theta, np.array([0.01, 0.0], dtype=dtype))
    assert info.value.layer == 0 and net.epochs_trained == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_interrupt_keeps_updates_and_epochs_in_step(tmp_path):
    """Full batch: one update per epoch, so after Ctrl-C the two counts must agree."""
    code = textwrap.dedent("""
        import numpy as np, pydl
        rng = np.random.default_rng(0)
        X = rng.standard_normal((2000, 300)).astype(np.float32)
        y = (X[:, 0] > 0).astype(int)
        net = pydl.Network([300, 300, 1], seed=0)
        print("started", flush=True)
        try:
            net.fit(X, y, epochs=10**6, optimizer=pydl.Adam(1e-4))
        except KeyboardInterrupt:
            print("counts", net.optimizer.t, net.epochs_trained, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    t, epochs = map(int, out.split("counts")[1].split())
    assert t > 0 and t == epochs


def test_aliased_buffers_are_refused():
    net = pydl.Network([3, 4, 1], dtype="float64", seed=0)
    X, y = np.ones((5, 3)), np.ones((5, 1))
    work = net._arch.workspace(np.float64, 5)
    theta = net._theta  # the writable array itself (net.theta is a read-only view)
    with pytest.raises(ValueError, match="grad must not share memory with theta"):
        _core.cost_grad(net._arch, theta, X, y, None, 0.0, 0.0, theta, work, 1)
    with pytest.raises(ValueError, match="share memory"):
        _core.update("adam", 0.9, 0.999, 1e-8, 1, 0.1, theta, np.zeros_like(theta), theta,
                     np.zeros_like(theta), 1)
    P, size = theta.size, net._pack.size  # a pack whose first value is theta's last
    both = np.zeros(P + size)
    with pytest.raises(ValueError, match="share memory"):
        _core.pack(net._arch, both[:P], both[P - 1:P - 1 + size])
    opt = pydl.Adam(0.01)
    opt._bind(net)
    opt.s = opt.v  # state arrays that alias each other
    with pytest.raises(ValueError, match="share memory"):
        net.fit(X, y.ravel(), epochs=1, optimizer=opt)
    assert net.epochs_trained == 0
    # an optimizer kind that does not use a state array ignores whatever is passed for it
    _core.update("gd", 0.0, 0.0, 1.0, 1, 0.1, theta, np.zeros_like(theta), "junk", None, 1)


def test_parameter_count_does_not_overflow_an_int():
    arch = _core.Architecture([2**31 - 1, 1], ["linear"])
    assert arch.n_params == 2**31


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_finiteness_scan_finds_every_position(rng, dtype, n_threads):
    """The C scan that replaced np.isfinite(X).all() (chunked, threaded, no early exit)
    sees a NaN or inf wherever it is: first, last, chunk edges, anywhere."""
    chunk = 65536  # FINITE_CHUNK in csrc/net_impl.h
    size = int(rng.integers(2 * chunk, 5 * chunk))
    a = rng.standard_normal(size).astype(dtype)
    assert _core.all_finite(a, n_threads)
    for pos in [0, size - 1, chunk - 1, chunk, 2 * chunk, int(rng.integers(size))]:
        for bad in (np.nan, np.inf, -np.inf):
            a[pos] = bad
            assert not _core.all_finite(a, n_threads), (pos, bad)
            a[pos] = 0.5
    assert _core.all_finite(a, n_threads)
    small = rng.standard_normal(int(rng.integers(0, 40))).astype(dtype)
    assert _core.all_finite(small, n_threads) == bool(np.isfinite(small).all())


def test_finiteness_scan_refuses_what_it_cannot_read():
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.all_finite(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.all_finite(np.zeros((4, 4))[:, ::2])
