"""Thread counts and the one-pool rule.

Inside a training step on the "blas" product path pydl runs its own OpenMP threads and calls
scipy's BLAS *sequentially* from each of them; BLAS's own thread pool must then be held at one
thread, or the two pools alternate and cost 20-50x. `sequential_blas` does that for the
duration of a call, counted so that several pydl calls in several Python threads share one
limit.
"""
from __future__ import annotations

import contextlib
import numbers
import os
import threading

from pydl import _core

_in_forked_child = False   # ... of a parent whose OpenMP pool may have started
_parallel_used = False     # this process asked for more than one thread (its pool may run)
MAX_THREADS = 1024  # a sanity bound; a product never uses more threads than processors


def _after_fork_in_child() -> None:
    # libgomp is not fork-safe (GCC bug 60035): after a parallel region in the parent, a
    # child's first parallel region would hang -- one thread there; a parent that never
    # asked for threads leaves the child free. The child also starts with no pydl call
    # under way: a lock held by another thread of the parent at fork time would never be
    # released, and a BLAS limit set by a call under way would never be restored.
    global _in_forked_child, _lock, _depth, _limiter
    _in_forked_child = _parallel_used
    limiter = _limiter
    _lock = threading.Lock()
    _depth = 0
    _limiter = None
    if limiter is not None:
        try:
            _set_blas_threads(limiter)
        except Exception:  # never fail in a fork handler; the child keeps one BLAS thread
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def resolve_n_threads(n_threads: int | None) -> int:
    """Threads to use: None means all usable (OpenMP's default for this thread, which honours
    OMP_NUM_THREADS and threadpoolctl); a negative value counts back from that (-1 = all)."""
    if _in_forked_child:
        return 1
    if n_threads is None:
        return _note_threads(_core.max_threads())
    # a plain int skips the ABC check: it was 0.8 us of a 12 us single-sample predict
    if type(n_threads) is not int and (isinstance(n_threads, bool)
                                       or not isinstance(n_threads, numbers.Integral)) \
            or n_threads == 0 or abs(n_threads) > MAX_THREADS:
        raise ValueError(f"n_threads must be None or a nonzero integer in "
                         f"[-{MAX_THREADS}, {MAX_THREADS}], got {n_threads!r}")
    n_threads = int(n_threads)
    if n_threads < 0:
        n_threads = max(1, _core.max_threads() + 1 + n_threads)
    return _note_threads(n_threads)


def _note_threads(n_threads):
    global _parallel_used
    if n_threads > 1 and not _parallel_used:
        _parallel_used = True
    return n_threads


_lock = threading.Lock()
_depth = 0
_limiter = None    # [(BLAS controller, its thread count before)] while a pydl call runs
_blas = None       # threadpoolctl's controllers of the BLAS libraries, found once


def _blas_libraries():
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas


def _set_blas_threads(limits):
    """Set each (controller, n_threads) of `limits` (directly: a threadpoolctl limiter
    object, made and undone on every call, cost ~45 us of a ~90 us small call)."""
    _release_blas_control()
    for lib, n in limits:
        lib.set_num_threads(n)
    _release_blas_control()


def _release_blas_control():
    """threadpoolctl >= 3.6 lets only one Python thread (the "controlling thread", released
    when a `with` block exits) change a process-wide pthreads OpenBLAS limit. pydl's limit is
    shared by all its callers and set/restored by whichever thread comes first/last, so it
    takes control explicitly around each change."""
    import threadpoolctl

    clear = getattr(getattr(threadpoolctl, "OpenBLASController", None),
                    "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


@contextlib.contextmanager
def sequential_blas(any_path=False):
    """Hold scipy's (and numpy's) BLAS at one thread while pydl's C core calls it.

    Only on the "blas" product path, unless `any_path` (code that calls the BLAS itself
    between pydl's calls, as L-BFGS-B does): pydl's own kernels never call the BLAS, and
    changing its limits woke OpenBLAS's threads, which then spun beside pydl's (3% of a
    784-256-128-10 epoch on 2 cores, perf). On the BLAS path also with one pydl thread (and
    in a build without OpenMP): a multi-threaded BLAS splits a product differently and gives
    different bits, and pydl's results must not depend on the number of threads. Calls from
    several Python threads share one limit, set by the first to enter and restored by the
    last to leave; a limit another library sets in between is overwritten by that
    restore."""
    global _depth, _limiter
    path = _core.float_products()  # yielded: pass it to the C call, whatever switches after
    if not any_path and path != "blas":
        yield path
        return
    with _lock:
        if _depth == 0:
            _limiter = [(lib, lib.num_threads) for lib in _blas_libraries()]
            _set_blas_threads([(lib, 1) for lib, _ in _limiter])
        _depth += 1
    try:
        yield path
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set_blas_threads(_limiter)
                _limiter = None
