"""What pydl runs with on this machine: for bug reports, and to find a slow BLAS setup."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from threadpoolctl import threadpool_info

from pydl import _core
from pydl._version import __version__

# OpenBLAS kernel sets that use AVX-512 (threadpoolctl reports OpenBLAS's core name)
_OPENBLAS_AVX512 = {"skylakex", "cooperlake", "sapphirerapids"}


def get_include() -> str:
    """The directory of pydl's C headers, for C code built against pydl's kernels.

    It holds ``products.h`` (the product kernels' contract), their kernels
    (``gemm_avx512.h``, ``gemm_avx2.h``, ``gemm_generic.h``: header-only) and ``pydl.h``
    (the C core's API). Installed, they are in ``pydl/include``; from a source checkout
    (an editable or in-place build), in its ``csrc``.

    Returns
    -------
    str
        The directory, for a compiler's ``-I``.

    Raises
    ------
    FileNotFoundError
        If neither directory holds the headers (a broken installation).

    Examples
    --------
    >>> import os, pydl
    >>> os.path.isfile(os.path.join(pydl.get_include(), "products.h"))
    True
    """
    package = Path(__file__).resolve().parent
    for folder in (package / "include", package.parent / "csrc"):
        if (folder / "products.h").is_file():
            return str(folder)
    raise FileNotFoundError(
        f"pydl's C headers are in neither {package / 'include'} nor {package.parent / 'csrc'}: "
        "reinstall pydl (pip install --force-reinstall pydl)")


def blas_hints(simd_level: str, blas: list[dict], coretype: str | None = None) -> list[str]:
    """Advice on the BLAS libraries `blas` (threadpoolctl's entries) for a CPU whose vector
    level is `simd_level` (pydl._core.simd_level()), with OPENBLAS_CORETYPE = `coretype`."""
    slow = [lib for lib in blas
            if simd_level == "x86-64-v4" and lib.get("internal_api") == "openblas"
            and str(lib.get("architecture") or "").lower() not in _OPENBLAS_AVX512]
    if not slow:
        return []
    libs = ", ".join(f"{os.path.basename(str(lib.get('filepath')))} {lib.get('version')} "
                     f"({lib.get('architecture')})" for lib in slow)
    measured = ("1.8x faster sgemm; pydl's products run on pydl's own AVX-512 kernels "
                "either way, NumPy's on this BLAS")
    if coretype:
        return [f"OPENBLAS_CORETYPE={coretype} in the environment holds OpenBLAS to kernels "
                f"without AVX-512 on this CPU, which has it: {libs}. Unset it before Python "
                f"starts to let OpenBLAS choose for the CPU (on an AMD Zen 5 it then chose its "
                f"AVX-512 SkylakeX kernels: {measured})."]
    return [f"OpenBLAS runs kernels without AVX-512 on this CPU, which has it: {libs} (a "
            f"release older than the CPU may not recognise it). OPENBLAS_CORETYPE=SkylakeX "
            f"set before Python starts selects the AVX-512 kernels ({measured})."]


_PATH_WORDS = {"avx512": "pydl's own kernels, AVX-512", "avx2": "pydl's own kernels, AVX2 + FMA",
               "generic": "pydl's own kernels, generic C", "blas": "the BLAS"}


def product_path_words(path: str) -> str:
    """What the product path `path` (pydl._core.float_products()) is, in words."""
    return f"{_PATH_WORDS[path]} (path {path!r}; PYDL_FLOAT_PRODUCTS chooses another)"


def product_paths() -> tuple[str, ...]:
    """The matrix-product paths this CPU and build run, pydl's default first: "avx512",
    "avx2", "generic" (pydl's own kernels, which give the same bits) and "blas" (the
    installed BLAS). ``PYDL_FLOAT_PRODUCTS=<path>``, set before ``import pydl``, chooses one;
    ``pydl.show_config()`` says which runs."""
    return _core.runnable_float_products()


def show_config(mode: str = "stdout") -> dict | None:
    """Report pydl's version, OpenMP, threads, the vector instruction set of its element
    loops, what computes its matrix products (the product path: pydl's own AVX-512, AVX2 or
    generic kernels, or the BLAS), the BLAS libraries loaded in this process, and advice when one of them runs
    slower kernels than the CPU allows.

    mode="stdout" prints the report; mode="dicts" returns it as a dict instead.
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode must be 'stdout' or 'dicts', got {mode!r}")
    keys = ("filepath", "version", "architecture", "threading_layer", "num_threads",
            "internal_api")
    blas = [{k: lib.get(k) for k in keys} for lib in threadpool_info()
            if lib.get("user_api") == "blas"]
    simd = _core.simd_level()
    info = {
        "pydl": __version__,
        "python": sys.version.split()[0],
        "openmp": _core.openmp_enabled(),
        "max_threads": _core.max_threads(),
        "flush_denormals": _core.flushes_denormals(),
        "simd_level": simd,
        "float_products": _core.float_products(),
        "blas": blas,
        "hints": blas_hints(simd, blas, os.environ.get("OPENBLAS_CORETYPE")),
    }
    if mode == "dicts":
        return info
    print(f"pydl {info['pydl']} on Python {info['python']}")
    print(f"  OpenMP: {'on' if info['openmp'] else 'off'}, up to {info['max_threads']} "
          f"thread(s); element loops: {simd}")
    print(f"  products (float32 and float64): {product_path_words(info['float_products'])}")
    print(f"  denormal floats: {'flushed to zero in' if info['flush_denormals'] else 'kept by'} "
          f"pydl's loops (the caller's mode is left as it was)")
    for lib in blas:
        print(f"  BLAS: {lib['internal_api']} {lib['version']}, {lib['architecture']} kernels, "
              f"{lib['threading_layer']}, {lib['filepath']}")
    for hint in info["hints"]:
        print(f"  hint: {hint}")
    return None
