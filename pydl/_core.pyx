# cython: language_level=3, cdivision=True
# cython: initializedcheck=False, autotestdict=False
"""The one door to pydl's C core.

Every array is checked here, by name (dtype, shape, C-contiguity, writability, finiteness
where it matters), before a pointer reaches C; the GIL is released around every C call and
C status codes become Python exceptions. Nothing here decides *what* to compute: that is
the Python layer's job (pydl/network.py).
"""
import functools
import os
import threading

import numpy as np

cimport cython
cimport numpy as cnp
from cpython.exc cimport PyErr_CheckSignals
from libc.math cimport isfinite
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from scipy.linalg.cython_blas cimport dgemm, sgemm

from pydl._csrc cimport *

cnp.import_array()

# scipy's own BLAS does the matrix products: hand its ?gemm to C once, at import.
pydl_init(<pydl_sgemm_fn>sgemm, <pydl_dgemm_fn>dgemm)

ACTIVATIONS = {"linear": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "leaky_relu": 4, "softmax": 5,
               "exp": 6}
# exp: Poisson regression (half the Poisson deviance, y >= 0); output layers only
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax", "linear", "exp")
# sgd_momentum, nesterov: scikit-learn's momentum form (for pydl.sklearn), v = b1 v - lr g
OPTIMIZERS = {"gd": 0, "momentum": 1, "rmsprop": 2, "adam": 3, "sgd_momentum": 4, "nesterov": 5}
_INT_MAX = 2**31 - 1
# Scans shorter than this (~0.1-0.3 ms) keep the GIL: a thread that releases it while another
# runs Python waits up to the switch interval (5 ms) to get it back, which cost a fit in a
# worker thread more than its checks' scans
cdef Py_ssize_t _NOGIL_MIN_ELEMENTS = 1 << 20
_MAX_LAYERS = 2**16  # a sanity bound on L


# ---- checks ----------------------------------------------------------------------------

# The public API's bound (pydl/_threads.py MAX_THREADS), kept here too: libgomp aborts the
# process when asked for 2**31-1 threads ("Out of memory allocating ... bytes").
MAX_THREADS = 1024


cdef double _as_double(value, str name) except? -1:
    """value as a C double: TypeError for what is not a real number, ValueError for an
    integer too large for a double (Python's float() raises OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large, got {value}") from None


cdef int _thread_count(n_threads) except -1:
    """n_threads as the C core takes it: an integer in [1, MAX_THREADS], else
    TypeError/ValueError (never OverflowError, never a C int that wrapped around)."""
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)):
        raise TypeError(f"n_threads must be an integer, got {n_threads!r}")
    if not 1 <= n_threads <= MAX_THREADS:
        raise ValueError(f"n_threads must be in [1, {MAX_THREADS}], got {n_threads}")
    return n_threads


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): no bound
        return None


_MEMORY = _physical_memory()


def check_fits_memory(n_bytes, str name):
    """Raise ValueError naming `name` if an array of n_bytes could never be allocated: more
    than this machine's physical memory. A zero-stride view (np.broadcast_to) can claim
    terabytes it does not hold; copying it would raise MemoryError, or swap for minutes."""
    if _MEMORY is not None and n_bytes > _MEMORY:
        raise ValueError(f"{name} would need {n_bytes / 2**30:.3g} GiB, more than this "
                         f"machine's memory ({_MEMORY / 2**30:.3g} GiB)")


# Element-wise loops (the optimizer update, the finiteness scan) give the same result for
# any split: they never start more threads than the machine has processors, which a request
# of MAX_THREADS would otherwise turn into 1024 threads (and, under a memory or process
# limit, into libgomp's abort "Thread creation failed").
_CPUS = os.cpu_count() or 1


cdef _check_leaky_slope(double leaky_slope):
    if not (isfinite(leaky_slope) and leaky_slope >= 0):
        raise ValueError(f"leaky_slope must be a finite number >= 0, got {leaky_slope}")


cdef size_t _ALIGN = 64  # bytes: a cache line, and an AVX-512 vector
ALIGNMENT = _ALIGN


def aligned_empty(Py_ssize_t n, dtype, bint zero=False):
    """A new 1-D array of n >= 0 elements whose data start on an ALIGNMENT-byte boundary
    (numpy's own allocations start on 16): the kernels' vector loads of a row that starts on
    a cache line never straddle two lines (a batch predict ran ~20% faster with theta and X
    aligned). zero: filled with zeros."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    dtype = np.dtype(dtype)
    cdef Py_ssize_t size = n * dtype.itemsize
    buf = (np.zeros if zero else np.empty)(size + _ALIGN, dtype=np.uint8)
    cdef size_t address = <size_t>cnp.PyArray_DATA(buf)
    cdef Py_ssize_t start = <Py_ssize_t>((_ALIGN - address % _ALIGN) % _ALIGN)
    return buf[start:start + size].view(dtype)


def check_array(a, str name, dtype, shape, bint writable=False):
    """Raise TypeError/ValueError naming `name` unless `a` is a C-contiguous ndarray of
    `dtype` and `shape` (None in shape: any size), writable if asked."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}, got {a.dtype.name}")
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + \
               ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if writable and not a.flags.writeable:
        raise ValueError(f"{name} must be writable")


def all_finite(a, n_threads=1):
    """Whether the C-contiguous float32/float64 array `a` holds no NaN and no inf: one pass,
    no temporary, the GIL released, up to n_threads threads on large arrays."""
    cdef int nt = min(_thread_count(n_threads), _CPUS)
    if not isinstance(a, np.ndarray):
        raise TypeError(f"all_finite takes a numpy.ndarray, got {type(a).__name__}")
    cdef cnp.ndarray arr = a
    if arr.dtype != np.float32 and arr.dtype != np.float64:
        raise TypeError(f"all_finite takes float32 or float64, got {arr.dtype.name}")
    if not arr.flags.c_contiguous:
        raise ValueError("all_finite takes a C-contiguous array")
    cdef Py_ssize_t count = arr.size
    cdef void *p = cnp.PyArray_DATA(arr)
    cdef bint f32 = arr.dtype == np.float32
    cdef int ok
    if count < _NOGIL_MIN_ELEMENTS:  # well under a switch interval: keep the GIL
        ok = pydl_all_finite_f32(count, <const float *>p, 1) if f32 else \
            pydl_all_finite_f64(count, <const double *>p, 1)
        return bool(ok)
    with nogil:
        if f32:
            ok = pydl_all_finite_f32(count, <const float *>p, nt)
        else:
            ok = pydl_all_finite_f64(count, <const double *>p, nt)
    return bool(ok)


def check_finite(a, str name, n_threads=1):
    """Raise ValueError naming `name` if the float array `a` holds NaN or inf."""
    cdef int nt = _thread_count(n_threads)
    if not all_finite(a, nt):
        raise ValueError(f"{name} contains NaN or infinity")


@cython.boundscheck(False)
@cython.wraparound(False)
def check_disjoint(writable, readonly=()):
    """Raise ValueError unless no array of `writable` (pairs (name, array or None)) shares
    memory with another array of `writable` or `readonly`: C writes through one pointer
    while it reads through the other. Arrays here are contiguous, so comparing their
    bounds is exact."""
    arrays = [(n, a) for n, a in writable if a is not None]
    others = [(n, a) for n, a in readonly if a is not None]
    for i, (n1, a1) in enumerate(arrays):
        for n2, a2 in arrays[i + 1:] + others:
            if np.may_share_memory(a1, a2):
                raise ValueError(f"{n1} must not share memory with {n2}")


cdef int _check_labels(const int32_t[::1] y, int n_classes) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(y.shape[0]):
        if y[i] < 0 or y[i] >= n_classes:
            return 0
    return 1


# ---- the architecture ---------------------------------------------------------------------

cdef class Architecture:
    """Layer sizes, activations and dropout as the C core reads them (validated once,
    immutable)."""
    cdef pydl_net net
    cdef readonly object dims
    cdef readonly object activations
    cdef readonly object keep_probs
    cdef object _act_codes
    cdef readonly double leaky_slope

    def __cinit__(self, dims, activations, leaky_slope=0.01, keep_probs=None):
        for name, seq in (("layer_dims", dims), ("activations", activations)):
            if hasattr(seq, "__len__") and len(seq) > _MAX_LAYERS + 1:  # before list(): a
                raise ValueError(f"{name} must have at most {_MAX_LAYERS + 1} entries, "
                                 f"got {len(seq)}")  # huge view's list exhausts memory
        dims = list(dims)
        activations = list(activations)
        if len(dims) < 2:
            raise ValueError(f"layer_dims must have at least 2 entries [n_x, ..., n_L], got {dims}")
        for d in dims:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 0 < d <= _INT_MAX:
                raise ValueError(f"layer_dims must hold positive integers, got {dims}")
        if len(activations) != len(dims) - 1:
            raise ValueError(f"activations must name one activation per layer "
                             f"({len(dims) - 1}), got {len(activations)}")
        for i, a in enumerate(activations):
            if a not in ACTIVATIONS:
                raise ValueError(f"unknown activation {a!r} for layer {i + 1}; "
                                 f"expected one of {sorted(ACTIVATIONS)}")
            if a in ("softmax", "exp") and i != len(activations) - 1:
                raise ValueError(f"{a} is an output activation; layer {i + 1} is hidden")
        if activations[-1] not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"the output activation must be one of {OUTPUT_ACTIVATIONS} "
                             f"(it decides the cost), got {activations[-1]!r}")
        if activations[-1] == "softmax" and dims[-1] < 2:
            raise ValueError("a softmax output needs at least 2 units")
        leaky_slope = _as_double(leaky_slope, "leaky_slope")
        _check_leaky_slope(leaky_slope)
        self.dims = np.array(dims, dtype=np.intc)
        self.dims.flags.writeable = False
        self.activations = tuple(activations)
        self._act_codes = np.array([ACTIVATIONS[a] for a in activations], dtype=np.intc)
        self.leaky_slope = leaky_slope
        self.net.n_layers = len(dims) - 1
        self.net.dims = <const int *>cnp.PyArray_DATA(self.dims)
        self.net.act = <const int *>cnp.PyArray_DATA(self._act_codes)
        self.net.leaky_slope = leaky_slope
        L = len(dims) - 1
        keep = [1.0] * L if keep_probs is None else list(keep_probs)
        if len(keep) != L:
            raise ValueError(f"keep_probs must have one value per layer ({L}), got {len(keep)}")
        for i, k in enumerate(keep):
            if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)) \
                    or not 0 < k <= 1:
                raise ValueError(f"keep_probs must hold numbers in (0, 1], got {k!r} for "
                                 f"layer {i + 1}")
        if keep[-1] != 1:
            raise ValueError("keep_probs of the output layer must be 1.0 (dropout acts on "
                             "hidden layers)")
        self.keep_probs = np.array(keep, dtype=np.float64)
        self.keep_probs.flags.writeable = False
        self.net.keep = NULL  # no dropout anywhere: the C loop skips it
        if (self.keep_probs < 1).any():
            self.net.keep = <const double *>cnp.PyArray_DATA(self.keep_probs)

    @property
    def n_params(self):
        return pydl_n_params(&self.net)

    def workspace(self, dtype, max_batch):
        """The scratch array forward/cost_grad/train need for batches of up to max_batch."""
        if isinstance(max_batch, bool) or not isinstance(max_batch, (int, np.integer)):
            raise TypeError(f"max_batch must be an integer, got {max_batch!r}")
        if not 0 <= max_batch <= _INT_MAX:
            raise ValueError(f"max_batch must be in [0, {_INT_MAX}], got {max_batch}")
        if dtype is None or np.dtype(dtype) not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
        n = pydl_workspace_size(&self.net, max_batch)
        check_fits_memory(n * np.dtype(dtype).itemsize, "the workspace")
        return aligned_empty(n, dtype)

    def effective_threads(self, n_threads, batch):
        """Threads a step of `batch` examples uses (1 when too small to share)."""
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)):
            raise TypeError(f"batch must be an integer, got {batch!r}")
        if not 0 <= batch <= _INT_MAX:
            raise ValueError(f"batch must be in [0, {_INT_MAX}], got {batch}")
        cdef int nt = _thread_count(n_threads)
        return pydl_effective_threads(nt, &self.net, batch)


cdef inline void *_ptr(a):
    return cnp.PyArray_DATA(<cnp.ndarray>a) if a is not None else NULL


cdef _check_common(Architecture arch, theta, X, work, batch, int n_threads):
    """theta (P,) float32/float64; X (m, n0) of the same dtype; work large enough for
    batches of `batch` examples (None: all of X); n_threads >= 1."""
    if not isinstance(theta, np.ndarray) or theta.dtype not in (np.float32, np.float64):
        raise TypeError("theta must be a float32 or float64 numpy.ndarray")
    dtype = theta.dtype
    check_array(theta, "theta", dtype, (arch.n_params,))
    check_finite(theta, "theta")
    check_array(X, "X", dtype, (None, arch.dims[0]))
    if X.shape[0] < 1:
        raise ValueError("X must hold at least one example")
    if X.shape[0] > _INT_MAX:
        raise ValueError(f"X has too many examples ({X.shape[0]} > {_INT_MAX})")
    check_array(work, "work", dtype, (None,), writable=True)
    if batch is None:
        batch = X.shape[0]
    if work.shape[0] < pydl_workspace_size(&arch.net, batch):
        raise ValueError("work is too small for this batch size")
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    return dtype


cdef _check_targets(Architecture arch, dtype, int m, Y, labels):
    n_out = arch.dims[-1]
    if arch.activations[-1] == "softmax":
        if Y is not None:
            raise ValueError("a softmax output takes integer labels, not Y")
        check_array(labels, "labels", np.int32, (m,))
        if not _check_labels(labels, n_out):
            raise ValueError(f"labels must be integers in [0, {n_out - 1}]")
    else:
        if labels is not None:
            raise ValueError(f"a {arch.activations[-1]} output takes Y, not labels")
        check_array(Y, "Y", dtype, (m, n_out))
        check_finite(Y, "Y")


# ---- entry points ---------------------------------------------------------------------------

def forward(Architecture arch not None, theta, X, out, work, n_threads=1):
    """out (m, n_L) := A[L] of the network with parameters theta on X (m, n_x)."""
    cdef int nt = _thread_count(n_threads)
    dtype = _check_common(arch, theta, X, work, None, nt)
    cdef int m = X.shape[0]
    check_array(out, "out", dtype, (m, arch.dims[-1]), writable=True)
    check_finite(X, "X", nt)
    check_disjoint([("out", out), ("work", work)], [("theta", theta), ("X", X)])
    cdef void *pt = _ptr(theta)
    cdef void *px = _ptr(X)
    cdef void *po = _ptr(out)
    cdef void *pw = _ptr(work)
    cdef int status
    cdef bint f32 = dtype == np.float32
    with nogil:
        if f32:
            status = pydl_forward_f32(&arch.net, nt, m, <float *>pt, <float *>px,
                                      <float *>po, <float *>pw)
        else:
            status = pydl_forward_f64(&arch.net, nt, m, <double *>pt, <double *>px,
                                      <double *>po, <double *>pw)
    _raise_for(status)
    return out


cdef char *_span_end(cnp.ndarray a):
    """One past the last byte of a (contiguous, or rows of a 2-D array at a row stride)."""
    cdef char *start = <char *>cnp.PyArray_DATA(a)
    if cnp.PyArray_NDIM(a) < 2 or cnp.PyArray_DIM(a, 0) == 0:
        return start + cnp.PyArray_NBYTES(a)
    return start + (cnp.PyArray_DIM(a, 0) - 1) * cnp.PyArray_STRIDE(a, 0) + \
        cnp.PyArray_DIM(a, 1) * cnp.PyArray_ITEMSIZE(a)


cdef bint _overlaps(cnp.ndarray a, cnp.ndarray b):
    """Whether the memory spans of a and b meet."""
    return <char *>cnp.PyArray_DATA(a) < _span_end(b) and \
        <char *>cnp.PyArray_DATA(b) < _span_end(a)


PREDICT_OUTPUTS, PREDICT_LABELS = 0, 1


cdef Py_ssize_t _row_stride(cnp.ndarray x, int n_x):
    """X's row stride in elements when X (m, n_x) can be read in place (its rows contiguous,
    at a whole-element stride of at least n_x), else 0. The C API throughout: predict's
    checks cost tens of nanoseconds (`.flags` and `.strides` make Python objects)."""
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(x)
    cdef cnp.npy_intp *st = cnp.PyArray_STRIDES(x)
    cdef Py_ssize_t m = cnp.PyArray_DIM(x, 0)
    if n_x > 1 and st[1] != item:
        return 0
    if m == 1:
        return n_x
    if st[0] % item or st[0] < item * n_x:
        return 0
    return st[0] // item


def reads_in_place(Architecture arch not None, theta, X):
    """Whether predict reads X as it is: a 2-D numpy.ndarray (not a subclass: those are
    converted, as before) of theta's dtype, shape (m >= 1, n_x), its rows contiguous."""
    if type(X) is not np.ndarray or not isinstance(theta, np.ndarray):
        return False
    cdef cnp.ndarray x = X
    return (cnp.PyArray_NDIM(x) == 2 and cnp.PyArray_TYPE(x) == cnp.PyArray_TYPE(<cnp.ndarray>theta)
            and cnp.PyArray_DIM(x, 0) >= 1 and cnp.PyArray_DIM(x, 1) == arch.net.dims[0]
            and _row_stride(x, arch.net.dims[0]) > 0)


def pack_size(Architecture arch not None, dtype):
    """The values of a network's inference copy (pack) of that dtype (float32 or float64)."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return pydl_pack_size_f32(&arch.net)
    if dtype == np.float64:
        return pydl_pack_size_f64(&arch.net)
    raise TypeError(f"dtype must be float32 or float64, got {dtype.name}")


def pack(Architecture arch not None, theta, out):
    """out := the inference copy of theta that predict reads (csrc/pydl.h pydl_pack: each
    layer's W^T in panels of 64 bytes of units, and its bias), out of theta's dtype and
    shape (pack_size(arch, theta.dtype),). Returns out."""
    if not isinstance(theta, np.ndarray) or theta.dtype not in (np.float32, np.float64):
        raise TypeError("theta must be a float32 or float64 numpy.ndarray")
    check_array(theta, "theta", theta.dtype, (arch.n_params,))
    check_array(out, "out", theta.dtype, (pack_size(arch, theta.dtype),), writable=True)
    cdef cnp.ndarray t = theta, o = out
    if _overlaps(o, t):
        raise ValueError("out must not share memory with theta")
    cdef void *pt = cnp.PyArray_DATA(t)
    cdef void *po = cnp.PyArray_DATA(o)
    cdef bint f32 = cnp.PyArray_TYPE(t) == cnp.NPY_FLOAT32
    if cnp.PyArray_DIM(o, 0) < _NOGIL_MIN_ELEMENTS:  # (784-256-128-10: 0.23 ms) keep the GIL
        if f32:
            pydl_pack_f32(&arch.net, <float *>pt, <float *>po)
        else:
            pydl_pack_f64(&arch.net, <double *>pt, <double *>po)
        return out
    with nogil:
        if f32:
            pydl_pack_f32(&arch.net, <float *>pt, <float *>po)
        else:
            pydl_pack_f64(&arch.net, <double *>pt, <double *>po)
    return out


def predict(Architecture arch not None, pack, X, out=None, kind=PREDICT_OUTPUTS,
            n_threads=1):
    """The inference path: out := A[L] (kind PREDICT_OUTPUTS) or the labels predict gives
    (kind PREDICT_LABELS: int64, (m,) argmax for softmax, (m, n_L) a > 1/2 for sigmoid,
    (m,) for one sigmoid output) for
    X (m, n_x), X's rows contiguous (any row stride), from `pack`, the network's inference
    copy of theta (see pack; theta checked finite when set, so the pack is not scanned
    here). out None: a new array, else written in place. Nothing else is allocated (but a
    workspace when a hidden layer is too wide for the stack), no global state is written,
    no thread pool limit is changed; the GIL is released around the C call. Returns out."""
    cdef cnp.ndarray t = pack if isinstance(pack, np.ndarray) else None
    if t is None or cnp.PyArray_NDIM(t) != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(t) \
            or (cnp.PyArray_TYPE(t) != cnp.NPY_FLOAT32 and cnp.PyArray_TYPE(t) != cnp.NPY_FLOAT64) \
            or cnp.PyArray_DIM(t, 0) != (pydl_pack_size_f32(&arch.net)
                                         if cnp.PyArray_TYPE(t) == cnp.NPY_FLOAT32
                                         else pydl_pack_size_f64(&arch.net)):
        raise TypeError(f"pack must be a C-contiguous float32 or float64 numpy.ndarray of "
                        f"shape ({pydl_pack_size_f32(&arch.net)},) (float32) or "
                        f"({pydl_pack_size_f64(&arch.net)},) (float64): the network's "
                        f"inference copy (_core.pack)")
    cdef int typenum = cnp.PyArray_TYPE(t)
    if not isinstance(X, np.ndarray):
        raise TypeError(f"X must be a numpy.ndarray, got {type(X).__name__}")
    cdef cnp.ndarray x = X
    cdef int n0 = arch.net.dims[0], nL = arch.net.dims[arch.net.n_layers]
    if cnp.PyArray_TYPE(x) != typenum:
        raise TypeError(f"X must have dtype {t.dtype.name}, got {x.dtype.name}")
    if cnp.PyArray_NDIM(x) != 2 or cnp.PyArray_DIM(x, 1) != n0:
        raise ValueError(f"X must have shape (any, {n0}), got {X.shape}")
    if cnp.PyArray_DIM(x, 0) < 1 or cnp.PyArray_DIM(x, 0) > _INT_MAX:
        raise ValueError(f"X must hold between 1 and {_INT_MAX} examples, got {x.shape[0]}")
    cdef Py_ssize_t ldx = _row_stride(x, n0)
    if ldx == 0:
        raise ValueError("X must have its rows contiguous (C order, or rows of a C-ordered "
                         f"array), got strides {X.strides}")
    cdef int m = cnp.PyArray_DIM(x, 0)
    cdef int act = arch.net.act[arch.net.n_layers - 1]
    cdef cnp.npy_intp dims[2]
    cdef int out_type = typenum
    cdef int out_ndim = 2
    dims[0] = m
    dims[1] = nL
    if kind == PREDICT_LABELS:
        if act == PYDL_LINEAR or act == PYDL_EXP:
            raise ValueError(f"a {arch.activations[-1]} output has no labels")
        out_type = cnp.NPY_INT64
        if act == PYDL_SOFTMAX or nL == 1:
            out_ndim = 1
    elif kind != PREDICT_OUTPUTS:
        raise ValueError(f"kind must be PREDICT_OUTPUTS or PREDICT_LABELS, got {kind!r}")
    if type(n_threads) is not int and (isinstance(n_threads, bool)
                                       or not isinstance(n_threads, np.integer)):
        raise TypeError(f"n_threads must be an integer, got {n_threads!r}")
    if not 1 <= n_threads <= _INT_MAX:
        raise ValueError(f"n_threads must be in [1, {_INT_MAX}], got {n_threads!r}")
    cdef int nt = n_threads
    cdef cnp.ndarray o
    if out is None:
        o = cnp.PyArray_EMPTY(out_ndim, dims, out_type, 0)
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
        o = out
        if cnp.PyArray_TYPE(o) != out_type:
            raise TypeError(f"out must have dtype {np.dtype(cnp.PyArray_DescrFromType(out_type)).name}, "
                            f"got {o.dtype.name}")
        if cnp.PyArray_NDIM(o) != out_ndim or cnp.PyArray_DIM(o, 0) != m or (
                out_ndim == 2 and cnp.PyArray_DIM(o, 1) != nL):
            want = f"({m},)" if out_ndim == 1 else f"({m}, {nL})"
            raise ValueError(f"out must have shape {want}, got {out.shape}")
        if not cnp.PyArray_IS_C_CONTIGUOUS(o) or not cnp.PyArray_ISWRITEABLE(o):
            raise ValueError("out must be C-contiguous and writable")
        if _overlaps(o, x) or _overlaps(o, t):
            raise ValueError("out must not share memory with X or the parameters")
    cdef bint f32 = typenum == cnp.NPY_FLOAT32
    cdef Py_ssize_t need = (pydl_predict_work_size_f32 if f32 else pydl_predict_work_size_f64)(
        &arch.net, nt, kind == PREDICT_OUTPUTS)
    cdef void *pw = NULL
    if need:
        work = np.empty(need, dtype=t.dtype)
        pw = cnp.PyArray_DATA(work)
    cdef void *pt = cnp.PyArray_DATA(t)
    cdef char *px = <char *>cnp.PyArray_DATA(x)
    cdef void *po = NULL
    cdef int64_t *pl = NULL
    if kind == PREDICT_OUTPUTS:
        po = cnp.PyArray_DATA(o)
    else:
        pl = <int64_t *>cnp.PyArray_DATA(o)
    cdef int status = PYDL_OK
    with nogil:  # (the C side checks X finite, block by block as it reads it)
        if f32:
            status = pydl_predict_f32(&arch.net, nt, m, <float *>pt, <float *>px,
                                      ldx, <float *>po, pl, <float *>pw)
        else:
            status = pydl_predict_f64(&arch.net, nt, m, <double *>pt,
                                      <double *>px, ldx, <double *>po, pl, <double *>pw)
    if status == PYDL_ERR_NONFINITE:
        raise ValueError("X contains NaN or infinity")
    _raise_for(status)
    return o


cdef bytes _products_name(products):
    """A products= argument checked: None (the C call runs the product path set when it
    starts) or the name of a path this CPU and build run, e.g. the one the caller held the
    BLAS for (_threads.sequential_blas), which a switch by another thread in between then
    cannot change. Returns the name as bytes, or None."""
    if products is None:
        return None
    if products not in runnable_float_products():
        raise ValueError(f"products must be None or one of {runnable_float_products()} (the "
                         f"paths this CPU and build run), got {products!r}")
    return products.encode()


def cost_grad(Architecture arch not None, theta, X, Y, labels, double l2, double l1, grad, work,
              n_threads=1, sample_weight=None, products=None):
    """The cost J (with the L2/L1 terms) on (X, Y or labels); grad (P,) := dJ/dtheta
    unless grad is None. Returns J (inf or nan when the network overflows). sample_weight:
    None or (m,) of the network's dtype, finite, >= 0, with a sum > 0:
    J = (sum_i w_i loss_i + regularization) / sum_i w_i. products: as for train."""
    cdef int nt = _thread_count(n_threads)
    dtype = _check_common(arch, theta, X, work, None, nt)
    cdef int m = X.shape[0]
    check_finite(X, "X", nt)
    _check_targets(arch, dtype, m, Y, labels)
    _check_sample_weight(sample_weight, dtype, m)
    if grad is not None:
        check_array(grad, "grad", dtype, (arch.n_params,), writable=True)
    check_disjoint([("grad", grad), ("work", work)],
                   [("theta", theta), ("X", X), ("Y", Y), ("labels", labels),
                    ("sample_weight", sample_weight)])
    if not (isfinite(l2) and l2 >= 0) or not (isfinite(l1) and l1 >= 0):
        raise ValueError(f"l2 and l1 must be finite and >= 0, got l2={l2}, l1={l1}")
    cdef bytes path = _products_name(products)
    cdef const char *pp = <const char *>path if path is not None else NULL
    cdef void *pt = _ptr(theta)
    cdef void *px = _ptr(X)
    cdef void *py = _ptr(Y)
    cdef int32_t *pl = <int32_t *>_ptr(labels)
    cdef void *pg = _ptr(grad)
    cdef void *pw = _ptr(work)
    cdef void *psw = _ptr(sample_weight)
    cdef double cost = 0
    cdef int status
    cdef bint f32 = dtype == np.float32
    with nogil:
        if f32:
            status = pydl_cost_grad_f32(&arch.net, pp, nt, m, <float *>pt, <float *>px,
                                        <float *>py, pl, <float *>psw, l2, l1, &cost, <float *>pg,
                                        <float *>pw)
        else:
            status = pydl_cost_grad_f64(&arch.net, pp, nt, m, <double *>pt, <double *>px,
                                        <double *>py, pl, <double *>psw, l2, l1, &cost, <double *>pg,
                                        <double *>pw)
    if status != PYDL_ERR_NONFINITE:
        _raise_for(status)
    return cost


cdef _check_sample_weight(sample_weight, dtype, int m):
    """None, or (m,) of dtype, finite, >= 0, with a sum > 0."""
    if sample_weight is None:
        return
    check_array(sample_weight, "sample_weight", dtype, (m,))
    check_finite(sample_weight, "sample_weight")
    if (sample_weight < 0).any() or not sample_weight.sum() > 0:
        raise ValueError("sample_weight must hold weights >= 0 with a sum > 0")


cdef int _fill_optimizer(pydl_optimizer *o, str kind, double beta1, double beta2,
                         double epsilon, int64_t t) except -1:
    if kind not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer kind {kind!r}; expected one of {sorted(OPTIMIZERS)}")
    for name, value in (("beta1", beta1), ("beta2", beta2)):
        if not (0 <= value < 1):
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if not (isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon}")
    if t < 0:
        raise ValueError(f"t must be >= 0, got {t}")
    o.kind = OPTIMIZERS[kind]
    o.beta1 = beta1
    o.beta2 = beta2
    o.epsilon = epsilon
    o.t = t
    return 0


cdef tuple _check_state(str kind, theta, v, s):
    """(v, s) checked for the optimizer `kind`, each None where the kind does not use it."""
    P = theta.shape[0]
    if kind in ("momentum", "adam", "sgd_momentum", "nesterov"):
        check_array(v, "v", theta.dtype, (P,), writable=True)
    else:
        v = None
    if kind in ("rmsprop", "adam"):
        check_array(s, "s", theta.dtype, (P,), writable=True)
    else:
        s = None
    return v, s


def update(str kind, double beta1, double beta2, double epsilon, int64_t t, double lr,
           theta, grad, v, s, n_threads=1):
    """Applies update number t (>= 1) of the optimizer `kind` to theta in place."""
    cdef int nt = min(_thread_count(n_threads), _CPUS)
    if not isinstance(theta, np.ndarray) or theta.dtype not in (np.float32, np.float64):
        raise TypeError("theta must be a float32 or float64 numpy.ndarray")
    check_array(theta, "theta", theta.dtype, (None,), writable=True)
    check_array(grad, "grad", theta.dtype, (theta.shape[0],))
    check_finite(grad, "grad")
    v, s = _check_state(kind, theta, v, s)
    check_disjoint([("theta", theta), ("v", v), ("s", s)], [("grad", grad)])
    if not (isfinite(lr) and lr > 0):
        raise ValueError(f"learning_rate must be a finite number > 0, got {lr}")
    if t < 1:
        raise ValueError(f"t must be >= 1 (updates count from 1), got {t}")
    cdef pydl_optimizer o
    _fill_optimizer(&o, kind, beta1, beta2, epsilon, t - 1)
    cdef Py_ssize_t P = theta.shape[0]
    cdef void *pt = _ptr(theta)
    cdef void *pg = _ptr(grad)
    cdef void *pv = _ptr(v)
    cdef void *ps = _ptr(s)
    cdef bint f32 = theta.dtype == np.float32
    with nogil:
        if f32:
            pydl_update_f32(&o, t, lr, P, <float *>pt, <float *>pg, <float *>pv, <float *>ps,
                            nt)
        else:
            pydl_update_f64(&o, t, lr, P, <double *>pt, <double *>pg, <double *>pv,
                            <double *>ps, nt)


# The stop hook. Only the main thread runs Python's signal handlers (PyErr_CheckSignals does
# nothing elsewhere), so a fit in another thread gets no hook at all; on the main thread the
# hook takes the GIL at most every STOP_INTERVAL seconds. Taking it more often made a fit
# in a worker thread 44-150x slower while the main thread ran Python: each acquisition waits
# out the interpreter's switch interval (5 ms).
STOP_INTERVAL = 0.05
cdef double _STOP_INTERVAL = STOP_INTERVAL

cdef struct _stop_state:
    void *raised      # the list the exception goes to
    double next_check  # pydl_monotonic_seconds() at which to take the GIL next


cdef int _stop_hook(void *ctx) noexcept nogil:
    """Called by the C loop before a step: lets Python run its signal handlers, at most
    every STOP_INTERVAL seconds."""
    cdef _stop_state *st = <_stop_state *>ctx
    cdef double now = pydl_monotonic_seconds()
    if now < st.next_check:
        return 0
    st.next_check = now + _STOP_INTERVAL
    with gil:
        try:
            PyErr_CheckSignals()
        except BaseException as exc:
            (<list>st.raised).append(exc)
            return 1
    return 0


cdef class _Reduction:
    """What the data-parallel reduce hook needs: the summing function, the gradient buffer
    as an array (made once, on the first step), a preallocated [loss, stop] pair, the
    seconds spent summing, and the exception that stopped training."""
    cdef object sum_in_place
    cdef object grad
    cdef object scalars
    cdef object seconds
    cdef list raised
    cdef object dtype


cdef int _reduce_hook(void *ctx, void *grad, Py_ssize_t count, double *loss) noexcept nogil:
    """Between backward propagation and the update of every data-parallel step: looks at
    signals, then sums the gradient and the loss over the processes. Any process's Ctrl-C
    stops every process before the same update, so all keep the same parameters."""
    cdef cnp.npy_intp n = count
    with gil:
        r = <_Reduction>ctx
        try:
            if r.grad is None:  # the loop's own buffer, wrapped once
                r.grad = cnp.PyArray_SimpleNewFromData(
                    1, &n, cnp.NPY_FLOAT32 if r.dtype == np.float32 else cnp.NPY_FLOAT64,
                    grad)
            scalars = r.scalars
            scalars[0] = loss[0]
            scalars[1] = 0.0
            try:
                PyErr_CheckSignals()
            except BaseException as exc:
                r.raised.append(exc)
                scalars[1] = 1.0
            # no Python code runs from here to the update (sum_in_place is compiled), so
            # that no signal handler can leave one process between the two sums
            t0 = _perf_counter()
            r.sum_in_place(scalars)
            if scalars[1] == 0:
                r.sum_in_place(r.grad)
            r.seconds[0] += _perf_counter() - t0
            loss[0] = scalars[0]
            if scalars[1] != 0:
                if not r.raised:
                    r.raised.append(KeyboardInterrupt(
                        "training stopped: another process was interrupted"))
                return 1
        except BaseException as exc:
            r.raised.append(exc)
            return 1
    return 0


def train(Architecture arch not None, theta, v, s, X, Y, labels, *, str optimizer, double beta1,
          double beta2, double epsilon, progress, lrs, costs, int64_t epoch0,
          int batch_size, bint shuffle, uint64_t seed, double l2, double l1,
          double lr_step_k, n_threads, work, perm, step_costs=None, step_lrs=None,
          augment=None, sample_weight=None, data_parallel=None, products=None):
    """Trains len(lrs) epochs in one C call, the GIL released.

    products: None (the product path set when the call starts) or the name of the path
    to run (see _products_name).

    progress: int64 array [t, epochs_done]; t (updates applied so far) is read, and both
    are written back however the call ends, so an interrupted run keeps its count.
    costs[:epochs_done] receive the epochs' costs; step_costs/step_lrs (optional, float64,
    len(lrs) * ceil(m / batch_size) each) the cost J_b and learning rate of every step;
    augment: None or (height, width, channels, flip, max_shift); sample_weight: as for
    cost_grad, each mini-batch's cost weighted by its own weights. Raises KeyboardInterrupt (or whatever a
    signal handler raised) with the parameters left after the last completed step, and
    FloatingPointError when a batch cost stops being finite (before that batch's update).

    data_parallel: None, or (sum_in_place, m_global, first, seconds) when this process
    holds examples [first, first + m) of m_global trained in lockstep by several processes
    (csrc/pydl.h, pydl_data_parallel): batch_size is then the global batch size, perm has
    2 * m_global entries, and every step calls sum_in_place(array) -- a compiled function
    (e.g. a functools.partial of mpi4py's Allreduce) that sums the array over the processes
    in place -- on float64 [loss, stop] and then, unless the summed stop is nonzero, on the
    flat gradient; seconds (float64 (1,)) accumulates the time spent in it.
    """
    cdef int nt = _thread_count(n_threads)
    cdef int m = X.shape[0] if isinstance(X, np.ndarray) and X.ndim == 2 else 0
    cdef int64_t m_global = m, first = 0
    if data_parallel is not None:
        sum_in_place, m_global, first, seconds = data_parallel
        if not callable(sum_in_place):
            raise TypeError("data_parallel's sum_in_place must be callable")
        check_array(seconds, "seconds", np.float64, (1,), writable=True)
        if not (0 <= first and first + m <= m_global <= _INT_MAX):
            raise ValueError(f"data_parallel: examples [{first}, {first + m}) do not fit in "
                             f"m_global={m_global} (at most {_INT_MAX})")
        if sample_weight is not None:
            raise ValueError("sample_weight and data_parallel cannot be combined: weighted "
                             "batches would need the weights' sums over every process")
    dtype = _check_common(arch, theta, X, work, min(batch_size, m), nt)
    check_array(theta, "theta", dtype, (arch.n_params,), writable=True)
    if not 1 <= batch_size <= m_global:
        raise ValueError(f"batch_size must be in [1, {m_global}], got {batch_size}")
    check_finite(X, "X", nt)
    _check_targets(arch, dtype, m, Y, labels)
    _check_sample_weight(sample_weight, dtype, m)
    v, s = _check_state(optimizer, theta, v, s)
    check_array(lrs, "lrs", np.float64, (None,))
    cdef int n_epochs = lrs.shape[0]
    if n_epochs and not (np.isfinite(lrs).all() and (lrs > 0).all()):
        raise ValueError("learning rates must be finite and > 0")
    check_array(costs, "costs", np.float64, (n_epochs,), writable=True)
    check_array(perm, "perm", np.int32, (m if data_parallel is None else 2 * m_global,),
                writable=True)
    if (step_costs is None) != (step_lrs is None):
        raise ValueError("give both step_costs and step_lrs, or neither")
    if step_costs is not None:
        n_steps = n_epochs * ((m_global + batch_size - 1) // batch_size)
        check_array(step_costs, "step_costs", np.float64, (n_steps,), writable=True)
        check_array(step_lrs, "step_lrs", np.float64, (n_steps,), writable=True)
    if not (isfinite(l2) and l2 >= 0) or not (isfinite(l1) and l1 >= 0):
        raise ValueError(f"l2 and l1 must be finite and >= 0, got l2={l2}, l1={l1}")
    if not (isfinite(lr_step_k) and lr_step_k >= 0):
        raise ValueError(f"lr_step_k must be finite and >= 0, got {lr_step_k}")
    check_disjoint([("theta", theta), ("v", v), ("s", s), ("work", work), ("perm", perm),
                    ("costs", costs), ("progress", progress), ("step_costs", step_costs),
                    ("step_lrs", step_lrs)],
                   [("X", X), ("Y", Y), ("labels", labels), ("lrs", lrs),
                    ("sample_weight", sample_weight)])
    check_array(progress, "progress", np.int64, (2,), writable=True)
    cdef bytes products_name = _products_name(products)

    cdef pydl_optimizer o
    _fill_optimizer(&o, optimizer, beta1, beta2, epsilon, progress[0])
    raised = []
    cdef pydl_train tr
    tr.net = &arch.net
    tr.n_threads = nt
    tr.batch_size = batch_size
    tr.shuffle = shuffle
    tr.seed = seed
    tr.l2 = l2
    tr.l1 = l1
    tr.opt = &o
    tr.lr_step_k = lr_step_k
    _fill_augment(&tr.augment, augment, arch.dims[0])
    cdef _stop_state stop_state
    stop_state.raised = <void *>raised
    stop_state.next_check = pydl_monotonic_seconds() + _STOP_INTERVAL
    tr.stop = NULL
    if threading.current_thread() is threading.main_thread():
        tr.stop = _stop_hook
    tr.stop_ctx = &stop_state
    tr.check_every = 1  # the hook itself reads the clock: a few ns a step
    tr.products = <const char *>products_name if products_name is not None else NULL
    cdef pydl_data_parallel dp
    cdef _Reduction reduction
    tr.dp = NULL
    if data_parallel is not None:
        reduction = _Reduction()
        reduction.sum_in_place = sum_in_place
        reduction.seconds = seconds
        reduction.scalars = np.zeros(2)
        reduction.raised = raised
        reduction.dtype = dtype
        dp.reduce = _reduce_hook
        dp.ctx = <void *>reduction
        dp.m_global = m_global
        dp.first = first
        tr.dp = &dp

    cdef void *pt = _ptr(theta)
    cdef void *pv = _ptr(v)
    cdef void *ps = _ptr(s)
    cdef void *px = _ptr(X)
    cdef void *py = _ptr(Y)
    cdef int32_t *pl = <int32_t *>_ptr(labels)
    cdef void *psw = _ptr(sample_weight)
    cdef double *plr = <double *>_ptr(lrs)
    cdef double *pc = <double *>_ptr(costs)
    cdef double *psc = <double *>_ptr(step_costs)
    cdef double *psl = <double *>_ptr(step_lrs)
    cdef int32_t *pp = <int32_t *>_ptr(perm)
    cdef void *pw = _ptr(work)
    cdef int done = 0
    cdef int bad_layer = 0
    tr.bad_layer = &bad_layer
    cdef int status
    cdef bint f32 = dtype == np.float32
    with nogil:
        if f32:
            status = pydl_train_f32(&tr, m, <float *>pt, <float *>pv, <float *>ps,
                                    <float *>px, <float *>py, pl, <float *>psw, epoch0, n_epochs,
                                    plr, pc,
                                    psc, psl, &done, pp, <float *>pw)
        else:
            status = pydl_train_f64(&tr, m, <double *>pt, <double *>pv, <double *>ps,
                                    <double *>px, <double *>py, pl, <double *>psw, epoch0,
                                    n_epochs, plr, pc,
                                    psc, psl, &done, pp, <double *>pw)
    progress[0] = o.t
    progress[1] = done
    if status == PYDL_ERR_INTERRUPTED:
        raise raised[0]
    if status == PYDL_ERR_NONFINITE:
        where = (f"the activations of layer {bad_layer} became NaN or infinite" if bad_layer
                 else "the cost or a gradient became NaN or infinite")
        exc = FloatingPointError(
            f"{where} in epoch {epoch0 + done}; the parameters are left as they were "
            "before that mini-batch")
        exc.layer = bad_layer
        raise exc
    _raise_for(status)


from time import perf_counter as _perf_counter


# ---- utilities ----------------------------------------------------------------------------

cdef int _fill_augment(pydl_augment *a, spec, int n_features) except -1:
    a.height = a.width = a.channels = a.flip = a.max_shift = 0
    if spec is None:
        return 0
    h, w, c, flip, shift = (int(v) for v in spec)
    if min(h, w, c) < 1 or h * w * c != n_features:
        raise ValueError(f"image_shape {(h, w, c)} does not hold the {n_features} input "
                         f"features")
    if not 0 <= shift < min(h, w):
        raise ValueError(f"max_shift must be in [0, {min(h, w) - 1}], got {shift}")
    a.height, a.width, a.channels, a.flip, a.max_shift = h, w, c, bool(flip), shift
    return 0


def augment_batch(X, uint64_t seed, int64_t epoch, int64_t batch, augment):
    """The rows of X (one mini-batch, in batch order) as training augments them for
    batch `batch` of epoch `epoch`; augment = (height, width, channels, flip, max_shift)."""
    if not isinstance(X, np.ndarray) or X.dtype not in (np.float32, np.float64):
        raise TypeError("X must be a float32 or float64 numpy.ndarray")
    check_array(X, "X", X.dtype, (None, None))
    cdef pydl_augment a
    _fill_augment(&a, augment, X.shape[1])
    out = np.empty_like(X)
    if X.dtype == np.float32:
        pydl_augment_batch_f32(&a, seed, epoch, batch, X.shape[0],
                               <float *>cnp.PyArray_DATA(X), <float *>cnp.PyArray_DATA(out))
    else:
        pydl_augment_batch_f64(&a, seed, epoch, batch, X.shape[0],
                               <double *>cnp.PyArray_DATA(X), <double *>cnp.PyArray_DATA(out))
    return out


cdef _raise_for(int status):
    if status == PYDL_OK:
        return
    if status == PYDL_ERR_NO_BLAS:
        raise RuntimeError("pydl's BLAS routines were not installed")
    if status == PYDL_ERR_NONFINITE:
        raise FloatingPointError("the cost is NaN or infinite")
    raise RuntimeError(f"pydl C core returned status {status}")


def philox4x32(counter, key):
    """Philox4x32-10 block for a counter of 4 and a key of 2 uint32 words."""
    cdef uint32_t c[4]
    cdef uint32_t k[2]
    cdef uint32_t out[4]
    counter = [int(x) for x in counter]
    key = [int(x) for x in key]
    if len(counter) != 4 or len(key) != 2:
        raise ValueError("counter must have 4 words and key 2")
    for x in counter + key:
        if not 0 <= x < 2**32:
            raise ValueError(f"counter and key words must be uint32, got {x}")
    for i in range(4):
        c[i] = counter[i]
    for i in range(2):
        k[i] = key[i]
    pydl_philox4x32(c, k, out)
    return np.array([out[0], out[1], out[2], out[3]], dtype=np.uint32)


def dropout_mask(uint64_t seed, int64_t epoch, int64_t batch, int layer, int n_units,
                 int batch_size, double keep_prob):
    """The 0/1 mask (batch_size, n_units) that training applies to hidden layer `layer` in
    mini-batch `batch` of epoch `epoch` (keep where 1), for the network's training seed."""
    if n_units < 1 or batch_size < 1 or layer < 1:
        raise ValueError("layer, n_units and batch_size must be >= 1")
    if not 0 < keep_prob <= 1:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
    mask = np.empty((batch_size, n_units), dtype=np.uint8)
    pydl_dropout_mask(seed, epoch, batch, layer, n_units, batch_size, keep_prob,
                      <uint8_t *>cnp.PyArray_DATA(mask))
    return mask


def permutation(uint64_t seed, int64_t epoch, int m):
    """The permutation of range(m) that training uses in epoch `epoch` with `seed`."""
    if m < 0:
        raise ValueError(f"m must be >= 0, got {m}")
    perm = np.empty(m, dtype=np.int32)
    pydl_permutation(seed, epoch, m, <int32_t *>cnp.PyArray_DATA(perm))
    return perm


def dropout_bits(uint64_t seed, int64_t epoch, int64_t batch, int layer, double keep_prob,
                 uint64_t first, Py_ssize_t count):
    """For tests: the dropout bits of elements first .. first + count - 1 of a layer's mask
    (example j, unit i is element j * n_units + i), however large `first`."""
    if layer < 1 or not 0 <= count <= 1 << 20:
        raise ValueError("layer must be >= 1 and count in [0, 2**20]")
    if not 0 < keep_prob <= 1:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
    mask = np.empty(count, dtype=np.uint8)
    pydl_dropout_bits(seed, epoch, batch, layer, keep_prob, first, count,
                      <uint8_t *>cnp.PyArray_DATA(mask))
    return mask


def batch_spans(int m, int batch_size):
    """For tests: [(first, size), ...] of the mini-batches of an epoch of m examples, from the
    training loop's own (64-bit) index arithmetic; only the first and the last two for
    large m."""
    if m < 1 or not 1 <= batch_size <= m:
        raise ValueError(f"need m >= 1 and batch_size in [1, m], got m={m}, "
                         f"batch_size={batch_size}")
    cdef int64_t n = pydl_batch_count(m, batch_size), first
    cdef int mb
    spans = []
    for k in sorted({0, max(n - 2, 0), n - 1}):
        pydl_batch_span(m, batch_size, k, &first, &mb)
        spans.append((first, mb))
    return n, spans


def openmp_enabled():
    """True when the C core was compiled with OpenMP."""
    return bool(pydl_openmp_enabled())


def flushes_denormals():
    """True when training, predict and the products run with denormal floats flushed to zero
    (x86-64 and AArch64 builds): each thread sets the mode for pydl's loops and restores its
    caller's after, so no other code in the process runs in it."""
    return bool(pydl_flushes_denormals())


def simd_level():
    """The instruction set pydl's element loops run with on this CPU: "x86-64-v4" (AVX-512),
    "x86-64-v3" (AVX2 + FMA), "avx2" (a build by GCC < 12) or "baseline"."""
    return pydl_simd_level().decode()


INFERENCE_KERNELS = ("avx512", "avx2", "generic")


def inference_kernel():
    """The instruction set of the inference kernel (predict): "avx512", "avx2" (AVX2 + FMA)
    or "generic"; the widest this CPU runs unless set_inference_kernel chose another."""
    return pydl_inference_kernel().decode()


def set_inference_kernel(str kernel):
    """For tests and benchmarks: run predict with `kernel` (one of INFERENCE_KERNELS) from
    now on, not while a network predicts. Returns the previous choice; raises ValueError for
    an unknown name or one this CPU cannot run."""
    if kernel not in INFERENCE_KERNELS:
        raise ValueError(f"kernel must be one of {INFERENCE_KERNELS}, got {kernel!r}")
    previous = inference_kernel()
    if not pydl_set_inference_kernel(kernel.encode()):
        raise ValueError(f"inference kernel {kernel!r} is not available on this CPU or in "
                         f"this build")
    return previous


# the product paths, fastest first (csrc/net.c PATHS): pydl picks the first this CPU runs
FLOAT_PRODUCTS = ("avx512", "avx2", "generic", "blas")


def float_products():
    """What computes the matrix products of a training step, float32 and float64: "avx512",
    "avx2" (pydl's own kernels for CPUs with AVX-512, or with AVX2 and FMA), "generic"
    (pydl's own, plain C; these three give the same bits) or "blas" (the installed BLAS)."""
    return pydl_float_products().decode()


def runnable_float_products():
    """The product paths this CPU and build run, in pydl's order of preference (the first
    is the default at import)."""
    paths = []
    cdef const char *name = pydl_runnable_float_products(0)
    while name != NULL:
        paths.append(name.decode())
        name = pydl_runnable_float_products(len(paths))
    return tuple(paths)


def set_float_products(str kernel):
    """For tests and benchmarks: compute the products with `kernel` (one of FLOAT_PRODUCTS)
    from now on, not while a network computes. Returns the previous choice; raises
    ValueError for an unknown name or one this CPU cannot run."""
    if kernel not in FLOAT_PRODUCTS:
        raise ValueError(f"kernel must be one of {FLOAT_PRODUCTS}, got {kernel!r}")
    previous = float_products()
    if not pydl_set_float_products(kernel.encode()):
        raise ValueError(f"kernel {kernel!r} is not available on this CPU or in this build")
    return previous


def _unit_strides(a, str name):
    """(stride of axis 0, stride of axis 1) of the 2-D array `a` in elements, raising
    ValueError unless both are positive whole elements. A length-1 axis (or any axis of an
    empty array) has stride 1."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {a.ndim}-D")
    cdef Py_ssize_t item = a.itemsize
    out = []
    for axis in range(2):
        st = a.strides[axis]
        if a.shape[axis] <= 1 or a.size == 0:
            st = item
        if st <= 0 or st % item:
            raise ValueError(f"{name} must have positive strides in whole elements, "
                             f"got {a.strides}")
        out.append(st // item)
    return out


_RECTIFY = {None: 0, "relu": 1, "leaky_relu": 2}


def _picked(cols, str name, Py_ssize_t bound):
    """cols as an int32 array of indices in [0, bound), or None."""
    if cols is None:
        return None
    if not isinstance(cols, np.ndarray) or cols.dtype != np.int32 or cols.ndim != 1:
        raise TypeError(f"{name} must be a 1-D int32 numpy.ndarray")
    cols = np.ascontiguousarray(cols)
    if cols.size and (cols.min() < 0 or cols.max() >= bound):
        raise ValueError(f"{name} must hold indices in [0, {bound}), got "
                         f"[{cols.min()}, {cols.max()}]")
    return cols


def product(a, b, double alpha=1.0, *, a_columns=None, b_columns=None, bias=None,
            gate=None, rectify=None, double slope=0.0):
    """alpha * a[:, a_columns] @ b[:, b_columns], then the epilogue (+ bias per row, then
    rectify: "relu" or "leaky_relu" with `slope`, by the sign of the value or of `gate`),
    through the path a training step of a's dtype uses (float_products()): for tests and
    benchmarks of that path. `a` (M, K) must have its columns contiguous (Fortran order, or
    a slice of it), `b` (K, N) its rows or its columns contiguous; bias (M,) and gate (M, N)
    of the same float dtype; a_columns, b_columns int32 indices of the columns to take (not
    on the "blas" path, which never reads picked columns). Returns a new Fortran-ordered
    (M, N)."""
    for name, arr in (("a", a), ("b", b)):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(arr).__name__}")
        if arr.dtype != np.float32 and arr.dtype != np.float64:
            raise TypeError(f"{name} must have dtype float32 or float64, got {arr.dtype.name}")
        if arr.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got {arr.ndim}-D")
    if a.dtype != b.dtype:
        raise TypeError(f"a and b must have one dtype, got {a.dtype.name} and {b.dtype.name}")
    if max(a.shape + b.shape) > _INT_MAX or max(a.strides + b.strides) > _INT_MAX:
        raise ValueError("a and b must have fewer than 2**31 rows, columns and elements "
                         "per stride")
    if rectify not in _RECTIFY:
        raise ValueError(f"rectify must be None, 'relu' or 'leaky_relu', got {rectify!r}")
    acols = _picked(a_columns, "a_columns", a.shape[1])
    bcols = _picked(b_columns, "b_columns", b.shape[1])
    cdef int M = a.shape[0]
    cdef int K = a.shape[1] if acols is None else acols.shape[0]
    cdef int N = b.shape[1] if bcols is None else bcols.shape[0]
    if K != b.shape[0]:
        raise ValueError(f"a (M, K) and b (K, N) must agree in K, got {a.shape} and {b.shape}"
                         + (" (K: a_columns' length)" if acols is not None else ""))
    if (acols is not None or bcols is not None) and float_products() == "blas":
        raise ValueError("the 'blas' path reads no picked columns (a_columns, b_columns)")
    sa, lda = _unit_strides(a, "a")
    sbk, sbj = _unit_strides(b, "b")
    if a.shape[1] <= 1:  # one column: any stride will do
        lda = max(M, 1)
    if sa != 1 or lda < max(M, 1):
        raise ValueError(f"a must have its columns contiguous (Fortran order), got strides "
                         f"{a.strides}")
    if K <= 1:  # one row of b
        sbk = 1
    if b.shape[1] <= 1:  # one column of b
        sbj = max(K, 1) if sbk == 1 else 1
    if not ((sbk == 1 and sbj >= K) or (sbj == 1 and sbk >= b.shape[1])):
        raise ValueError(f"b must have its rows or its columns contiguous, got strides "
                         f"{b.strides}")
    if bias is not None:
        check_array(bias, "bias", a.dtype, (M,))
        bias = np.ascontiguousarray(bias)
    cdef int ldg = max(M, 1)
    if gate is not None:  # (any order: copied to the column-major the kernels read)
        check_array(np.asfortranarray(gate).T, "gate.T", a.dtype, (N, M))
        gate = np.asfortranarray(gate)
    c = np.empty((M, N), dtype=a.dtype, order="F")
    cdef int ia = lda, ib = sbk, jb = sbj, status, rect = _RECTIFY[rectify]
    cdef void *pa = cnp.PyArray_DATA(a)
    cdef void *pb = cnp.PyArray_DATA(b)
    cdef void *pc = cnp.PyArray_DATA(c)
    cdef void *pbias = _ptr(bias)
    cdef void *pgate = _ptr(gate)
    cdef const int32_t *pac = <const int32_t *>_ptr(acols)
    cdef const int32_t *pbc = <const int32_t *>_ptr(bcols)
    cdef bint single = a.dtype == np.float32
    with nogil:
        if single:
            status = pydl_product_f32(M, N, K, alpha, <float *>pa, ia, pac, <float *>pb, ib,
                                      jb, pbc, <float *>pc, max(M, 1), <float *>pbias,
                                      <float *>pgate, ldg, rect, slope)
        else:
            status = pydl_product_f64(M, N, K, alpha, <double *>pa, ia, pac, <double *>pb,
                                      ib, jb, pbc, <double *>pc, max(M, 1), <double *>pbias,
                                      <double *>pgate, ldg, rect, slope)
    _raise_for(status)
    return c


def _float_products_from_environment():
    """PYDL_FLOAT_PRODUCTS=blas (or avx512) and PYDL_INFERENCE_KERNEL=generic (avx2, avx512)
    override pydl's choices at import."""
    import os
    import warnings
    for name, setter in (("PYDL_FLOAT_PRODUCTS", set_float_products),
                         ("PYDL_INFERENCE_KERNEL", set_inference_kernel)):
        kernel = os.environ.get(name)
        if not kernel:
            continue
        try:
            setter(kernel)
        except ValueError as e:
            warnings.warn(f"{name} ignored: {e}", RuntimeWarning, stacklevel=2)


_float_products_from_environment()


def max_threads():
    """OpenMP's current default thread count for the calling thread (1 without OpenMP)."""
    return pydl_max_threads()


# ---- building blocks, external gradients, given dropout masks -------------------------------

def _check_keep_masks(Architecture arch not None, int m, keep, masks):
    """(keep, masks, pointer table) checked: keep None, or float64 (L,) in (0, 1] ending in
    1; masks, required with keep, one C-contiguous uint8 (m, n[l]) of 0/1 per hidden layer."""
    L = len(arch.dims) - 1
    if keep is None:
        if masks is not None:
            raise ValueError("masks need keep (the keep_prob of each layer)")
        return None, None, None
    check_array(keep, "keep", np.float64, (L,))
    if not ((keep > 0) & (keep <= 1)).all() or keep[-1] != 1:
        raise ValueError("keep must hold keep_probs in (0, 1], the output layer's 1.0")
    if masks is None or len(masks) != L - 1:
        raise ValueError(f"masks must hold one mask per hidden layer ({L - 1})")
    table = np.zeros(L, dtype=np.uintp)
    for l, mask in enumerate(masks, start=1):
        check_array(mask, f"masks[{l - 1}]", np.uint8, (m, arch.dims[l]))
        if mask.size and mask.max() > 1:
            raise ValueError(f"masks[{l - 1}] must hold only 0 and 1")
        table[l - 1] = <size_t>cnp.PyArray_DATA(<cnp.ndarray>mask)
    return keep, masks, table


def propagate(Architecture arch not None, theta, X, Y, labels, dA, keep, masks, double l2,
              double l1, out, grad, work, n_threads=1, products=None):
    """Forward (and backward) propagation on all of X with what training alone does
    otherwise: dropout with given masks (keep, masks: see _check_keep_masks) and an external
    loss's dA = dL/dA[L] (m, n_L) in place of Y/labels. out (m, n_L) := A[L] unless None;
    grad (P,) := the gradient of the mean loss (with the l2/l1 terms) unless None. Returns
    the cost J of Y/labels (None with dA or without targets). products: as for train."""
    cdef int nt = _thread_count(n_threads)
    dtype = _check_common(arch, theta, X, work, None, nt)
    cdef int m = X.shape[0]
    n_out = arch.dims[-1]
    check_finite(X, "X", nt)
    if dA is not None:
        if Y is not None or labels is not None:
            raise ValueError("give dA (an external loss) or Y/labels, not both")
        check_array(dA, "dA", dtype, (m, n_out))
        check_finite(dA, "dA", nt)
    elif Y is not None or labels is not None:
        _check_targets(arch, dtype, m, Y, labels)
    elif grad is not None:
        raise ValueError("gradients need Y/labels or dA")
    keep, masks, table = _check_keep_masks(arch, m, keep, masks)
    if out is not None:
        check_array(out, "out", dtype, (m, n_out), writable=True)
    if grad is not None:
        check_array(grad, "grad", dtype, (arch.n_params,), writable=True)
    check_disjoint([("out", out), ("grad", grad), ("work", work)],
                   [("theta", theta), ("X", X), ("Y", Y), ("labels", labels), ("dA", dA)]
                   + [(f"masks[{i}]", k) for i, k in enumerate(masks or ())])
    if not (isfinite(l2) and l2 >= 0) or not (isfinite(l1) and l1 >= 0):
        raise ValueError(f"l2 and l1 must be finite and >= 0, got l2={l2}, l1={l1}")
    cdef void *pt = _ptr(theta)
    cdef void *px = _ptr(X)
    cdef void *py = _ptr(Y)
    cdef int32_t *pl = <int32_t *>_ptr(labels)
    cdef void *pd = _ptr(dA)
    cdef const double *pk = <const double *>_ptr(keep)
    cdef const uint8_t *const *pm = <const uint8_t *const *>_ptr(table)
    cdef void *po = _ptr(out)
    cdef void *pg = _ptr(grad)
    cdef void *pw = _ptr(work)
    cdef bytes path = _products_name(products)
    cdef const char *pp = <const char *>path if path is not None else NULL
    cdef double cost = 0
    cdef int status
    cdef bint f32 = dtype == np.float32
    with nogil:
        if f32:
            status = pydl_propagate_f32(&arch.net, pp, pk, pm, nt, m, <float *>pt,
                                        <float *>px, <float *>py, pl, <float *>pd, l2, l1,
                                        &cost, <float *>po, <float *>pg, <float *>pw)
        else:
            status = pydl_propagate_f64(&arch.net, pp, pk, pm, nt, m, <double *>pt,
                                        <double *>px, <double *>py, pl, <double *>pd, l2, l1,
                                        &cost, <double *>po, <double *>pg, <double *>pw)
    if status != PYDL_ERR_NONFINITE:
        _raise_for(status)
    return cost if dA is None and (Y is not None or labels is not None) else None


cdef int _activation_code(str activation, str name) except -1:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown {name} {activation!r}; expected one of "
                         f"{sorted(ACTIVATIONS)}")
    return ACTIVATIONS[activation]


cdef _float_dtype(a, str name):
    if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be a float32 or float64 numpy.ndarray")
    return a.dtype


def layer_forward(str activation, double leaky_slope, W, b, A_prev, Z, A):
    """One layer, examples in rows (pydl's layout of the course's column matrices):
    Z (m, n) := A_prev (m, n_prev) W^T + b^T and, unless A is None, A (m, n) := g(Z).
    W (n, n_prev), b (n,): the course's W[l] and b[l] flattened."""
    cdef int act = _activation_code(activation, "activation")
    dtype = _float_dtype(W, "W")
    check_array(W, "W", dtype, (None, None))
    cdef int n = W.shape[0], n_prev = W.shape[1]
    check_array(b, "b", dtype, (n,))
    check_array(A_prev, "A_prev", dtype, (None, n_prev))
    cdef int m = A_prev.shape[0]
    if m < 1 or n < 1 or n_prev < 1:
        raise ValueError("W and A_prev must not be empty")
    for name, a in (("W", W), ("b", b), ("A_prev", A_prev)):
        check_finite(a, name)
    check_array(Z, "Z", dtype, (m, n), writable=True)
    if A is not None:
        check_array(A, "A", dtype, (m, n), writable=True)
    _check_leaky_slope(leaky_slope)
    check_disjoint([("Z", Z), ("A", A)], [("W", W), ("b", b), ("A_prev", A_prev)])
    cdef void *pW = _ptr(W)
    cdef void *pb = _ptr(b)
    cdef void *pa = _ptr(A_prev)
    cdef void *pz = _ptr(Z)
    cdef void *pA = _ptr(A)
    cdef int status
    cdef bint f32 = dtype == np.float32
    with nogil:
        if f32:
            status = pydl_layer_forward_f32(act, leaky_slope, n, n_prev, m, <float *>pW,
                                            <float *>pb, <float *>pa, <float *>pz, <float *>pA)
        else:
            status = pydl_layer_forward_f64(act, leaky_slope, n, n_prev, m, <double *>pW,
                                            <double *>pb, <double *>pa, <double *>pz,
                                            <double *>pA)
    _raise_for(status)


def layer_backward(str activation, double leaky_slope, W, A_prev, Z, dA, dZ, dW, db, dA_prev):
    """One layer backward, examples in rows: dZ (m, n) := dA * g'(Z) (Z may be None for
    "linear"), dW (n, n_prev) := (1/m) dZ^T A_prev, db (n,) := the mean of dZ's rows and,
    unless dA_prev is None, dA_prev (m, n_prev) := dZ W."""
    cdef int act = _activation_code(activation, "activation")
    dtype = _float_dtype(W, "W")
    check_array(W, "W", dtype, (None, None))
    cdef int n = W.shape[0], n_prev = W.shape[1]
    check_array(A_prev, "A_prev", dtype, (None, n_prev))
    cdef int m = A_prev.shape[0]
    if m < 1 or n < 1 or n_prev < 1:
        raise ValueError("W and A_prev must not be empty")
    check_array(dA, "dA", dtype, (m, n))
    if act != ACTIVATIONS["linear"] or Z is not None:
        check_array(Z, "Z", dtype, (m, n))
        check_finite(Z, "Z")
    for name, a in (("W", W), ("A_prev", A_prev), ("dA", dA)):
        check_finite(a, name)
    check_array(dZ, "dZ", dtype, (m, n), writable=True)
    check_array(dW, "dW", dtype, (n, n_prev), writable=True)
    check_array(db, "db", dtype, (n,), writable=True)
    if dA_prev is not None:
        check_array(dA_prev, "dA_prev", dtype, (m, n_prev), writable=True)
    _check_leaky_slope(leaky_slope)
    work = np.empty((m, n), dtype=dtype) if act != ACTIVATIONS["linear"] else None
    check_disjoint([("dZ", dZ), ("dW", dW), ("db", db), ("dA_prev", dA_prev)],
                   [("W", W), ("A_prev", A_prev), ("Z", Z), ("dA", dA)])
    cdef void *pW = _ptr(W)
    cdef void *pa = _ptr(A_prev)
    cdef void *pz = _ptr(Z)
    cdef void *pd = _ptr(dA)
    cdef void *pdz = _ptr(dZ)
    cdef void *pdw = _ptr(dW)
    cdef void *pdb = _ptr(db)
    cdef void *pdp = _ptr(dA_prev)
    cdef void *pw = _ptr(work)
    cdef int status
    cdef bint f32 = dtype == np.float32
    with nogil:
        if f32:
            status = pydl_layer_backward_f32(act, leaky_slope, n, n_prev, m, <float *>pW,
                                             <float *>pa, <float *>pz, <float *>pd,
                                             <float *>pdz, <float *>pdw, <float *>pdb,
                                             <float *>pdp, <float *>pw)
        else:
            status = pydl_layer_backward_f64(act, leaky_slope, n, n_prev, m, <double *>pW,
                                             <double *>pa, <double *>pz, <double *>pd,
                                             <double *>pdz, <double *>pdw, <double *>pdb,
                                             <double *>pdp, <double *>pw)
    _raise_for(status)


def loss_grad(str output, A, Y, dA):
    """dA := dL/dA of the cost the output activation decides, element by element (A, Y, dA
    of one shape): sigmoid -(y/a - (1-y)/(1-a)), softmax (one-hot Y) -y/a, linear a - y."""
    if output not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"output must be one of {OUTPUT_ACTIVATIONS}, got {output!r}")
    dtype = _float_dtype(A, "A")
    check_array(A, "A", dtype, A.shape)
    check_array(Y, "Y", dtype, A.shape)
    check_array(dA, "dA", dtype, A.shape, writable=True)
    check_finite(A, "A")
    check_finite(Y, "Y")
    check_disjoint([("dA", dA)], [("A", A), ("Y", Y)])
    cdef int act = ACTIVATIONS[output]
    cdef Py_ssize_t count = A.size
    cdef void *pa = _ptr(A)
    cdef void *py = _ptr(Y)
    cdef void *pd = _ptr(dA)
    cdef bint f32 = dtype == np.float32
    with nogil:
        if f32:
            pydl_loss_grad_f32(act, count, <float *>pa, <float *>py, <float *>pd)
        else:
            pydl_loss_grad_f64(act, count, <double *>pa, <double *>py, <double *>pd)
    return dA


# ---- integer and double arguments out of range ----------------------------------------------

def _without_overflow(fn):
    """fn, where Cython's conversion of an argument to a C integer or double raises
    OverflowError ("Python int too large to convert to C long"), raising ValueError that names
    the argument instead: bad input is a ValueError/TypeError at this door, never another type."""
    code = fn.__code__
    names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]

    @functools.wraps(fn)
    def door(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except OverflowError as exc:
            given = dict(zip(names, args), **kwargs)
            ints = {n: v for n, v in given.items()
                    if isinstance(v, (int, np.integer)) and not isinstance(v, bool)}
            bad = [n for n, v in ints.items() if not -2**31 <= v < 2**31]
            if not bad and "negative" in str(exc):
                bad = [n for n, v in ints.items() if v < 0]
            what = " or ".join(bad) if bad else "an argument"
            raise ValueError(f"{fn.__name__}: {what} out of range for the C core "
                             f"({exc})") from None
    return door


# (predict converts its integers itself: the wrapper cost a third of a small call)
for _name, _fn in list(globals().items()):
    if type(_fn).__name__ == "cython_function_or_method" and not _name.startswith("__") \
            and _name not in ("predict", "reads_in_place", "max_threads"):
        globals()[_name] = _without_overflow(_fn)
del _name, _fn, _without_overflow
