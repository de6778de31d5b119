"""Shared test helpers: one tolerance table for the whole suite, data makers, and the bridge
from a pydl network to the oracle's parameter dict (tests/reference.py, course notation)."""
import os
import sys
import zlib

import numpy as np
import pytest

import pydl

sys.path.insert(0, os.path.dirname(__file__))

# Relative agreement with the float64 oracle: float64 to rounding, float32 to its precision.
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
DTYPES = [np.float32, np.float64]
HIDDEN = ["relu", "leaky_relu", "tanh", "sigmoid", "linear"]


# The parallel path runs whenever the build has OpenMP: products are cut into row blocks
# fixed by the layer sizes, so two threads share a step even on a one-processor machine.
PARALLEL = pydl.openmp_enabled()
needs_openmp = pytest.mark.skipif(not PARALLEL,
                                  reason="built without OpenMP: every call runs on one thread")
OUTPUTS = ["sigmoid", "softmax", "linear"]


def _controlled_blas():
    from threadpoolctl import threadpool_info
    return [i for i in threadpool_info() if i["user_api"] == "blas"]


# threadpoolctl controls OpenBLAS, MKL and BLIS; Apple's Accelerate (scipy's macOS 14+
# wheels) it can neither see nor limit, and pydl then calls it as it is
needs_controlled_blas = pytest.mark.skipif(
    not _controlled_blas(), reason="no BLAS that threadpoolctl can control (e.g. Apple "
    "Accelerate): pydl cannot hold it to one thread")


RUNNABLE_KERNELS = pydl.product_paths()  # the default first
# every product path pydl has; those this host cannot run are reported as skipped
FLOAT_KERNELS = [pytest.param(k, marks=pytest.mark.skipif(
    k not in RUNNABLE_KERNELS, reason=f"this CPU or build cannot run the {k!r} products"))
    for k in pydl._core.FLOAT_PRODUCTS]
# (dtype, product path) pairs: both dtypes with every path
DTYPE_KERNELS = [pytest.param(dtype, *p.values, marks=p.marks)
                 for dtype in (np.float32, np.float64) for p in FLOAT_KERNELS]


@pytest.fixture
def kernel_of():
    """Call kernel_of(name) to compute products with the path `name` for this test (None:
    the current one); the previous choice comes back afterwards."""
    previous = pydl._core.float_products()
    yield lambda name: name and pydl._core.set_float_products(name)
    pydl._core.set_float_products(previous)


def assert_close(actual, expected, dtype, scale=None):
    """|actual - expected| <= rtol * max|expected| elementwise (plus rtol relative)."""
    rtol = RTOL[np.dtype(dtype)]
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.abs(expected).max() if scale is None else scale
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected,
                               rtol=rtol, atol=rtol * max(scale, 1e-30))


def make_targets(rng, m, n_out, output):
    """pydl-layout targets: 0/1 (m, n_out), integer labels (m,), or real values (m, n_out)."""
    if output == "sigmoid":
        return (rng.random((m, n_out)) < 0.5).astype(np.float64)
    if output == "softmax":
        return rng.integers(0, n_out, size=m)
    return rng.standard_normal((m, n_out))


def ref_targets(y, output):
    """The oracle's Y: (n_out, m) with examples in columns, or the labels themselves."""
    return np.asarray(y) if output == "softmax" else np.asarray(y, dtype=np.float64).T.copy()


def ref_params(net):
    """The network's parameters in float64, as the oracle's dict W1, b1, ..."""
    return {k: v.astype(np.float64) for k, v in net.parameters.items()}


@pytest.fixture
def rng(request):
    # a different, reproducible stream for every test (PYDL_TEST_SEED varies them all)
    base = int(os.environ.get("PYDL_TEST_SEED", "0"))
    return np.random.default_rng([base, zlib.crc32(request.node.nodeid.encode())])


def subprocess_env(**extra):
    """The environment for a child Python that imports the same pydl as this process (the
    child runs outside the source tree; pydl may be installed or built in place)."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(pydl.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    env.update(extra)
    return env
