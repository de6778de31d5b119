"""Denormal floats: training, predict and the products flush them to zero (csrc/fpmode.h), on
every product path and thread count, and put the calling thread's mode back afterwards."""
import platform

import numpy as np
import pytest

import pydl
import reference as R
from pydl import _core
from conftest import DTYPE_KERNELS, DTYPES, PARALLEL, assert_close

FLUSHES = _core.flushes_denormals()
needs_flush = pytest.mark.skipif(not FLUSHES, reason="this build's CPU family keeps denormals "
                                 "(pydl flushes them on x86-64 and AArch64 only)")


def subnormal(dtype):
    """A denormal of dtype: a quarter of the smallest normal number."""
    return np.finfo(dtype).tiny / 4


def test_flushing_is_known_for_this_cpu_family():
    family = platform.machine().lower() in {"x86_64", "amd64", "aarch64", "arm64"}
    assert FLUSHES is family


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_callers_mode_is_restored(dtype, rng):
    """NumPy, in the thread that called pydl, still makes denormals after every kind of call."""
    X = rng.standard_normal((300, 64))
    y = rng.integers(0, 2, 300)
    net = pydl.Network([64, 64, 64, 1], dtype=dtype, seed=1)
    for n_threads in (1, 2):
        net.fit(X, y, epochs=1, batch_size=100, optimizer=pydl.Adam(1e-3), n_threads=n_threads)
        net.predict_proba(X, n_threads=n_threads)
        net.forward(X, n_threads=n_threads)
        a = np.asfortranarray(rng.standard_normal((8, 8)), dtype)
        _core.product(a, a)
        tiny = np.finfo(dtype).tiny * np.ones(1, dtype)
        assert (tiny / 4)[0] == subnormal(dtype) != 0, f"n_threads={n_threads}"


@needs_flush
@pytest.mark.parametrize("dtype,kernel", DTYPE_KERNELS)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_adam_moments_decay_to_zero_not_through_denormals(dtype, kernel, n_threads, kernel_of,
                                                          rng):
    """A weight whose gradient is 0 (its input feature is 0 in every example) keeps Adam's
    first moment v at beta1 v: from a denormal v that is 0 (IEEE: 0.875 v, still a denormal).
    Every other parameter follows the oracle's update (which reads such v as 0)."""
    if n_threads > 1 and not PARALLEL:
        pytest.skip("built without OpenMP: every call runs on one thread")
    kernel_of(kernel)
    dims = [48, 40, 32, 3]   # with 256 examples: enough work for two threads
    net = pydl.Network(dims, hidden_activation="tanh", output_activation="softmax",
                       dtype=dtype, seed=int(rng.integers(2**31)))
    X = rng.standard_normal((256, dims[0]))
    X[:, 0] = 0
    y = rng.integers(0, dims[-1], 256)
    P = net.theta.size
    dead = np.arange(0, dims[1] * dims[0], dims[0])   # W1[:, 0] in theta's layout
    b1, b2, eps, lr = 0.875, 1 - 2.0**-10, 2.0**-26, 2.0**-7
    opt = pydl.Adam(lr, beta1=b1, beta2=b2, epsilon=eps)
    opt.t = 10**6                                      # bias corrections of 1
    opt.v = np.full(P, subnormal(dtype), dtype)
    opt.s = (rng.random(P) * 1e-2 + 1e-3).astype(dtype)
    s0, theta0 = opt.s.astype(np.float64), net.theta.copy()
    g = {k: a.astype(np.float64) for k, a in net.gradients(X, y).items()}

    net.fit(X, y, epochs=1, batch_size=256, optimizer=opt, n_threads=n_threads)

    assert np.all(opt.v[dead] == 0), "the moments of zero gradients stayed denormal"
    assert np.all(net.theta[dead] == theta0[dead])
    as_grads = lambda vector: {"d" + k: a for k, a in
                               R.vector_to_parameters(vector, dims).items()}
    expected, v, _ = R.update_parameters_with_adam(
        R.vector_to_parameters(theta0.astype(np.float64), dims), g, as_grads(np.zeros(P)),
        as_grads(s0), 10**6 + 1, lr, b1, b2, eps)   # v as read: the denormals as 0
    assert_close(net.theta, R.parameters_to_vector(expected, net.n_layers), dtype)
    assert_close(opt.v, R.gradients_to_vector(v, net.n_layers), dtype)


@needs_flush
@pytest.mark.parametrize("dtype,kernel", DTYPE_KERNELS)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_predict_and_forward_read_a_denormal_bias_as_zero(dtype, kernel, n_threads, kernel_of,
                                                          rng):
    """Z = W x + b with W = 0 and a denormal b: 0 from predict (its own kernels) and from
    forward (the step's products), so the two agree bit for bit."""
    if n_threads > 1 and not PARALLEL:
        pytest.skip("built without OpenMP: every call runs on one thread")
    kernel_of(kernel)
    net = pydl.Network([128, 96, 4], hidden_activation="relu", output_activation="linear",
                       dtype=dtype, seed=2)
    net.theta = np.zeros_like(net.theta)
    net.set_parameters({"b2": np.full((4, 1), subnormal(dtype))})
    X = rng.standard_normal((512, 128))
    assert np.all(net.predict(X, n_threads=n_threads) == 0)
    assert np.all(net.forward(X, n_threads=n_threads) == 0)
