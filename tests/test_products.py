"""The product door of a training step (csrc/products.h): every path -- pydl's own kernels
(AVX-512, AVX2+FMA, generic C) and the BLAS -- through _core.product: against NumPy within
the error bound of a K-term dot product, in every layout the step uses, with the epilogue
(bias, rectifier with or without a gate) and picked columns; pydl's own kernels compute one
fused multiply-add chain per element, so any tiling, sub-block and own path gives the same
bits."""
import os
import subprocess
import sys

import numpy as np
import pytest

import pydl
from conftest import DTYPE_KERNELS, FLOAT_KERNELS, RUNNABLE_KERNELS

OWN = [p for p in FLOAT_KERNELS if p.values[0] != "blas"]
EPS = {np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}
# sizes around the tiles' edges: 32/16-row tiles and 12/6-column tiles, narrower ones below
EDGES = [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 15, 16, 17, 31, 32, 33, 47, 48, 49, 64, 65]


def operands(rng, dtype, M, K, N, lda_pad=0, b_rows=False):
    """a (M, K) with its columns contiguous (leading dimension M + lda_pad) and b (K, N)
    with its columns (or, b_rows, its rows) contiguous."""
    a = np.asfortranarray(rng.standard_normal((M + lda_pad, K)).astype(dtype))[:M]
    b = rng.standard_normal((K, N)).astype(dtype)
    return a, (b if b_rows else np.asfortranarray(b))


def assert_product(c, a, b, alpha):
    """|c - alpha a b| within the bound of K-term float dot products, elementwise:
    (K + 2) eps alpha (|a| |b|) (Higham's gamma_K, with the alpha scaling's rounding)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    expected = alpha * (a64 @ b64)
    bound = (a.shape[1] + 2) * EPS[a.dtype] * abs(alpha) * (np.abs(a64) @ np.abs(b64))
    assert c.shape == expected.shape and c.dtype == a.dtype and c.flags.f_contiguous
    err = np.abs(c - expected)
    assert np.all(err <= bound + np.finfo(a.dtype).tiny), (err - bound).max()


@pytest.mark.parametrize("dtype,kernel", DTYPE_KERNELS)
@pytest.mark.parametrize("b_rows", [False, True])
def test_product_matches_numpy(rng, kernel_of, dtype, kernel, b_rows):
    kernel_of(kernel)
    for _ in range(40):
        M, N = rng.choice(EDGES, 2)
        K = int(rng.integers(1, 300))
        a, b = operands(rng, dtype, M, K, N, lda_pad=int(rng.integers(0, 3)), b_rows=b_rows)
        alpha = float(rng.choice([1.0, 1 / 23, -2.5]))
        assert_product(pydl._core.product(a, b, alpha), a, b, alpha)


@pytest.mark.parametrize("kernel", FLOAT_KERNELS)
def test_product_shapes_of_a_training_step(rng, kernel_of, kernel):
    """The three products of a 784-256-128-10 step at batch 64 in their own layouts:
    Z = W A_prev (W copied to its own orientation), dW^T = (1/m) A_prev dZ^T, dA = W^T dZ."""
    kernel_of(kernel)
    mb = 64
    for n_prev, n in [(784, 256), (256, 128), (128, 10)]:
        Wt = rng.standard_normal((n, n_prev)).astype(np.float32)  # pydl's W, (n, n_prev)
        A = rng.standard_normal((mb, n_prev)).astype(np.float32)  # batch rows
        dZ = rng.standard_normal((mb, n)).astype(np.float32)
        assert_product(pydl._core.product(np.asfortranarray(Wt), A.T), Wt, A.T, 1.0)
        assert_product(pydl._core.product(A.T, dZ, 1 / mb), A.T, dZ, 1 / mb)
        assert_product(pydl._core.product(Wt.T, dZ.T), Wt.T, dZ.T, 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", OWN)
def test_own_kernel_is_one_chain_per_element(rng, kernel_of, kernel, dtype):
    """Sub-blocks, either orientation of b and every own path give the very same bits:
    each element is one fused multiply-add chain over k, whatever tile computes it."""
    kernel_of(kernel)
    # (4, 2, 400), (1, 4, 400), (4, 1, 400): the planar network's forward and dA products,
    # with the others of at most 8 rows and 16 k the narrow kernel's (gemm_tile.h)
    for M, K, N in [(77, 131, 29), (4, 2, 400), (1, 4, 400), (4, 1, 400), (3, 5, 21),
                    (8, 16, 37), (2, 9, 5), (1, 64, 33), (64, 400, 1), (130, 900, 13)]:
        a, b = operands(rng, dtype, M, K, N, lda_pad=3)
        whole = pydl._core.product(a, b, 0.75)
        np.testing.assert_array_equal(pydl._core.product(a, np.ascontiguousarray(b), 0.75),
                                      whole)
        for _ in range(6):
            i0, i1 = sorted(rng.choice(M + 1, 2, replace=False))
            j0, j1 = sorted(rng.choice(N + 1, 2, replace=False))
            part = pydl._core.product(a[i0:i1], b[:, j0:j1], 0.75)
            np.testing.assert_array_equal(part, whole[i0:i1, j0:j1])
        for other in (k for k in RUNNABLE_KERNELS if k != "blas"):
            kernel_of(other)
            np.testing.assert_array_equal(pydl._core.product(a, b, 0.75), whole)
        kernel_of(kernel)


def epilogue_of(c, bias, gate, rectify, slope):
    """The epilogue in NumPy, in c's dtype: + bias, then the rectifier by gate's sign (or
    the value's) -- the same IEEE operations every path must apply."""
    v = c + bias[:, None] if bias is not None else c.copy()
    sign = v if gate is None else gate
    if rectify == "relu":
        v = np.where(sign > 0, v, v.dtype.type(0))
    elif rectify == "leaky_relu":
        v = np.where(sign > 0, v, v.dtype.type(slope) * v)
    return v


@pytest.mark.parametrize("dtype,kernel", DTYPE_KERNELS)
def test_epilogue_is_applied_exactly_on_every_path(rng, kernel_of, dtype, kernel):
    """bias, relu and leaky ReLU by the value's sign (forward) or a gate's (backward): the
    same bits as the product followed by the element pass the epilogue replaces."""
    kernel_of(kernel)
    for trial in range(45):
        M, N = (int(x) for x in rng.choice(EDGES, 2))
        K = int(rng.integers(1, 200))
        if trial >= 30:  # the narrow kernel's shapes: few rows, short K (gemm_tile.h)
            M, K = int(rng.integers(1, 9)), int(rng.integers(1, 17))
        a, b = operands(rng, dtype, M, K, N, b_rows=bool(rng.integers(2)))
        alpha = float(rng.choice([1.0, 1 / 64]))
        bias = rng.standard_normal(M).astype(dtype) if rng.integers(2) else None
        gate = rng.standard_normal((M, N)).astype(dtype) if rng.integers(2) else None
        rectify = [None, "relu", "leaky_relu"][int(rng.integers(3))]
        slope = 0.01 if rectify == "leaky_relu" else 0.0
        plain = pydl._core.product(a, b, alpha)
        fused = pydl._core.product(a, b, alpha, bias=bias, gate=gate, rectify=rectify,
                                   slope=slope)
        np.testing.assert_array_equal(fused, epilogue_of(plain, bias, gate, rectify, slope))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", OWN)
def test_picked_columns_are_read_where_they_lie(rng, kernel_of, kernel, dtype):
    """a_columns / b_columns (a batch's examples picked from X) give the bits of the
    product of the gathered copies."""
    kernel_of(kernel)
    X = np.asfortranarray(rng.standard_normal((70, 300)).astype(dtype))  # (n0, m) columns
    for M, K, N in [(70, 64, 33), (9, 31, 7), (1, 5, 1)]:
        picked = rng.choice(300, max(K, N), replace=False).astype(np.int32)
        W = np.asfortranarray(rng.standard_normal((M, 70)).astype(dtype))
        # forward: Z = W X[:, picked]
        fwd = pydl._core.product(W, X, b_columns=picked[:N])
        np.testing.assert_array_equal(fwd, pydl._core.product(W, X[:, picked[:N]]))
        # dW^T = X[:M rows, picked] dZ^T
        dZ = rng.standard_normal((K, N)).astype(dtype)
        dw = pydl._core.product(X[:M], dZ, 0.5, a_columns=picked[:K])
        np.testing.assert_array_equal(dw, pydl._core.product(
            np.asfortranarray(X[:M, picked[:K]]), dZ, 0.5))


def test_blas_reads_no_picked_columns(kernel_of):
    kernel_of("blas")
    a = np.ones((2, 3), np.float32, order="F")
    with pytest.raises(ValueError, match="reads no picked columns"):
        pydl._core.product(a, np.ones((3, 2), np.float32), b_columns=np.array([0, 1], np.int32))


@pytest.mark.parametrize("kw,exc,match", [
    ({"rectify": "tanh"}, ValueError, "rectify must be"),
    ({"bias": np.ones(3, np.float32)}, ValueError, "bias must have shape"),
    ({"bias": np.ones(2, np.float64)}, TypeError, "bias must have dtype float32"),
    ({"gate": np.ones((2, 3), np.float32)}, ValueError, "gate.T must have shape"),
    ({"a_columns": np.array([0, 3, 1], np.int32)}, ValueError, r"indices in \[0, 3\)"),
    ({"a_columns": np.array([0, 1, 2], np.int64)}, TypeError, "a_columns must be"),
    ({"b_columns": np.array([[0]], np.int32)}, TypeError, "b_columns must be"),
])
def test_product_rejects_bad_epilogues_and_columns(kernel_of, kw, exc, match):
    kernel_of(RUNNABLE_KERNELS[0])
    with pytest.raises(exc, match=match):
        pydl._core.product(np.ones((2, 3), np.float32, order="F"),
                           np.ones((3, 2), np.float32), **kw)


@pytest.mark.parametrize("kernel", FLOAT_KERNELS)
def test_product_of_empty_and_single_shapes(rng, kernel_of, kernel):
    kernel_of(kernel)
    for M, K, N in [(0, 3, 4), (3, 0, 4), (3, 4, 0), (1, 1, 1), (1, 5, 1), (5, 1, 7)]:
        a, b = operands(rng, np.float32, M, K, N)
        assert_product(pydl._core.product(a, b), a, b, 1.0)


def kernel_in_new_process(setting):
    """(float_products() after `import pydl`, stderr) with PYDL_FLOAT_PRODUCTS=setting."""
    env = {k: v for k, v in os.environ.items() if k != "PYDL_FLOAT_PRODUCTS"}
    if setting is not None:
        env["PYDL_FLOAT_PRODUCTS"] = setting
    done = subprocess.run([sys.executable, "-c",
                           "import pydl; print(pydl._core.float_products())"],
                          capture_output=True, text=True, check=True, env=env)
    return done.stdout.strip(), done.stderr


def test_pydl_picks_its_fastest_kernel_unless_told():
    """The default is the first path pydl.product_paths() lists (the fastest this CPU runs);
    PYDL_FLOAT_PRODUCTS chooses another, and a name it cannot use is ignored with a warning.
    The BLAS and the generic kernels run everywhere."""
    assert {"blas", "generic"} <= set(RUNNABLE_KERNELS)
    assert set(RUNNABLE_KERNELS) <= set(pydl._core.FLOAT_PRODUCTS)
    assert kernel_in_new_process(None) == (RUNNABLE_KERNELS[0], "")
    for kernel in RUNNABLE_KERNELS:
        assert kernel_in_new_process(kernel)[0] == kernel
    chosen, err = kernel_in_new_process("sse9")
    assert chosen == RUNNABLE_KERNELS[0] and "PYDL_FLOAT_PRODUCTS ignored" in err


def test_set_float_products_rejects_unknown_names(kernel_of):
    before = pydl._core.float_products()
    with pytest.raises(ValueError, match="kernel must be one of"):
        pydl._core.set_float_products("sse9")
    assert pydl._core.float_products() == before


@pytest.mark.parametrize("a,b,exc,match", [
    (np.ones((2, 3), np.float32), np.ones((3, 2), np.float64), TypeError, "one dtype"),
    (np.ones((2, 3), np.int32), np.ones((3, 2), np.int32), TypeError, "a must have dtype"),
    (np.ones((2, 3), np.float32), [[1.0]], TypeError, "b must be a numpy.ndarray"),
    (np.ones(3, np.float32), np.ones((3, 2), np.float32), ValueError, "a must be 2-D"),
    (np.ones((2, 3), np.float32, order="F"), np.ones((4, 2), np.float32), ValueError,
     "agree in K"),
    (np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), ValueError,
     "a must have its columns contiguous"),
    (np.ones((2, 3), np.float32, order="F"), np.ones((6, 6), np.float32)[::2, ::2],
     ValueError, "b must have its rows or its columns contiguous"),
    (np.ones((2, 3), np.float32, order="F"), np.ones((3, 2), np.float32)[::-1], ValueError,
     "positive strides"),
])
def test_product_rejects_bad_operands(a, b, exc, match):
    with pytest.raises(exc, match=match):
        pydl._core.product(a, b)
