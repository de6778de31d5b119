"""pydl.show_config: what it reports matches the core and threadpoolctl, and its BLAS advice
appears exactly when an OpenBLAS runs kernels without AVX-512 on a CPU that has it."""
import os

import pytest
from threadpoolctl import threadpool_info

import pydl
from pydl import _core
from pydl.config import blas_hints, product_path_words
from conftest import needs_controlled_blas


@needs_controlled_blas
def test_dicts_report_the_core_and_the_loaded_blas():
    info = pydl.show_config(mode="dicts")
    assert info["pydl"] == pydl.__version__
    assert info["openmp"] == _core.openmp_enabled()
    assert info["max_threads"] == _core.max_threads()
    assert info["simd_level"] in ("x86-64-v4", "x86-64-v3", "avx2", "baseline")
    assert info["float_products"] == _core.float_products()
    assert info["flush_denormals"] is _core.flushes_denormals()
    loaded = {lib["filepath"] for lib in threadpool_info() if lib["user_api"] == "blas"}
    assert {lib["filepath"] for lib in info["blas"]} == loaded
    assert loaded, "scipy's BLAS is loaded with pydl"
    assert info["hints"] == blas_hints(info["simd_level"], info["blas"],
                                       os.environ.get("OPENBLAS_CORETYPE"))


def test_stdout_report(capsys):
    assert pydl.show_config() is None
    out = capsys.readouterr().out
    info = pydl.show_config(mode="dicts")
    assert out.startswith(f"pydl {pydl.__version__}")
    assert f"element loops: {info['simd_level']}" in out
    assert f"products (float32 and float64): {product_path_words(info['float_products'])}" \
        in out
    assert ("denormal floats: flushed to zero in pydl's loops" in out) is info["flush_denormals"]
    for lib in info["blas"]:
        assert lib["filepath"] in out
    assert out.count("hint:") == len(info["hints"])


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        pydl.show_config(mode="json")


@pytest.mark.parametrize("simd, arch, advised", [
    ("x86-64-v4", "Haswell", True),       # AVX-512 CPU, AVX2 kernels
    ("x86-64-v4", "Zen", True),
    ("x86-64-v4", "SkylakeX", False),
    ("x86-64-v4", "SapphireRapids", False),
    ("x86-64-v3", "Haswell", False),      # no AVX-512 to be had
    ("baseline", "Prescott", False),
])
@pytest.mark.parametrize("coretype", [None, "Haswell"])
def test_blas_hint_rule(simd, arch, advised, coretype):
    lib = {"internal_api": "openblas", "architecture": arch, "version": "0.3.30",
           "filepath": "/x/libopenblas.so"}
    hints = blas_hints(simd, [lib], coretype)
    assert len(hints) == int(advised)
    if advised and coretype:  # the environment forces the slow kernels: unset it
        assert f"OPENBLAS_CORETYPE={coretype} in the environment" in hints[0]
        assert "Unset it" in hints[0] and arch in hints[0]
    elif advised:  # OpenBLAS chose them itself: name the kernels to force
        assert "OPENBLAS_CORETYPE=SkylakeX" in hints[0] and arch in hints[0]
    mkl = {"internal_api": "mkl", "architecture": None, "version": "2025", "filepath": "/x/mkl"}
    assert blas_hints(simd, [mkl], coretype) == []


def test_command_line(capsys):
    from pydl.__main__ import main
    assert main(["config"]) == 0
    assert capsys.readouterr().out.startswith(f"pydl {pydl.__version__}")
