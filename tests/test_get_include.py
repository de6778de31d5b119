"""pydl.get_include(): the installed C headers, and a C file built against them."""
import os
import shutil
import subprocess

import pytest

import pydl

HEADERS = ["products.h", "gemm_avx512.h", "gemm_avx2.h", "gemm_generic.h", "pydl.h"]

# every kernel the compiler builds, on a 3 x 2 product with K = 2, checked against the
# contract's value; exits 0 when all match (what runs here depends on the CPU)
PROGRAM = r"""
#include <stdio.h>
#include "gemm_avx2.h"
#include "gemm_avx512.h"
#include "gemm_generic.h"

static int check(pydl_kernel_f32 f, const char *name) {
    const float A[6] = {1, 2, 3, 4, 5, 6}, B[4] = {1, -1, 2, 0.5f}, bias[3] = {0, -20, 1};
    const float want[6] = {0, 0, 0, 2, 0, 5.5f}; /* relu(0.5 A B + bias) */
    float C[6];
    const pydl_epilogue ep = {bias, NULL, 0, PYDL_RECTIFY_RELU, 0.0};
    f(3, 2, 2, 0.5f, A, 3, NULL, B, 1, 2, NULL, C, 3, &ep);
    for (int i = 0; i < 6; i++)
        if (C[i] != want[i]) {
            printf("%s: C[%d] = %g, expected %g\n", name, i, C[i], want[i]);
            return 1;
        }
    return 0;
}

int main(void) {
    int bad = check(pydl_gemm_generic_f32, "generic");
#ifdef PYDL_HAVE_GEMM_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        bad |= check(pydl_gemm_avx2_f32, "avx2");
#endif
#ifdef PYDL_HAVE_GEMM_AVX512
    if (__builtin_cpu_supports("avx512f"))
        bad |= check(pydl_gemm_avx512_f32, "avx512");
#endif
    return bad;
}
"""


def test_get_include_holds_the_headers():
    folder = pydl.get_include()
    assert os.path.isabs(folder)
    for name in HEADERS:
        assert os.path.isfile(os.path.join(folder, name)), name


def test_a_c_file_builds_and_runs_against_the_headers(tmp_path):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") \
        or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc, gcc or clang) on PATH to build against the headers")
    source = tmp_path / "uses_products.c"
    source.write_text(PROGRAM)
    exe = tmp_path / "uses_products"
    build = subprocess.run([cc, "-std=c99", "-O2", "-I", pydl.get_include(), str(source),
                            "-o", str(exe), "-lm"], capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
