"""Build of pydl's one extension, pydl._core (Cython door + the C99 core in csrc/).

OpenMP is used when the compiler can build *and run* a tiny OpenMP program. Environment:
  PYDL_OPENMP=0   build without OpenMP (one thread everywhere; pydl.openmp_enabled() is False)
  PYDL_OPENMP=1   fail the build if OpenMP does not work (wheel builds set this)
  PYDL_SANITIZE=address,undefined   a checking build (GCC/clang): AddressSanitizer and
                  UndefinedBehaviorSanitizer, any report aborts; run Python with the ASan
                  runtime preloaded (see the README's "Development")
BLAS is not linked: the C core calls scipy's ?gemm through pointers handed over at import.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

OPENMP_PROBE = r"""
#include <omp.h>
#include <stdio.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    printf("%d\n", n == omp_get_max_threads());
    return n == omp_get_max_threads() ? 0 : 1;
}
"""


def openmp_flags(compiler):
    """(compile_args, link_args) that make OpenMP work with this compiler."""
    ctype = compiler.compiler_type
    if ctype == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":  # Apple clang: libomp must come from elsewhere
        prefix = os.environ.get("OPENMP_PREFIX", "")
        inc = [f"-I{prefix}/include"] if prefix else []
        lib = [f"-L{prefix}/lib", f"-Wl,-rpath,{prefix}/lib"] if prefix else []
        return ["-Xpreprocessor", "-fopenmp"] + inc, lib + ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def openmp_works(compiler, cflags, lflags):
    """Compile, link and run OPENMP_PROBE."""
    tmp = tempfile.mkdtemp(prefix="pydl-omp-")
    cwd = os.getcwd()
    try:
        os.chdir(tmp)
        with open("probe.c", "w") as f:
            f.write(OPENMP_PROBE)
        objs = compiler.compile(["probe.c"], extra_postargs=cflags)
        compiler.link_executable(objs, "probe", extra_postargs=lflags)
        exe = os.path.join(tmp, "probe" + (".exe" if sys.platform == "win32" else ""))
        return subprocess.run([exe], capture_output=True, timeout=60).returncode == 0
    except Exception:
        return False
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def build_extensions(self):
        want = os.environ.get("PYDL_OPENMP", "auto")
        is_msvc = self.compiler.compiler_type == "msvc"
        # pydl never reads errno or the FP exception flags; without them element loops with
        # sqrt or a conditional (clamps, leaky relu) vectorize. -fno-wrapv undoes the
        # interpreter's -fwrapv (its CFLAGS come first): pydl's C has no signed overflow
        # (UBSan checks it in .ci/run, which it cannot under -fwrapv), and with wrapping
        # ints the single-example predict kernel ran 5-8% slower (bench_predict, both ways)
        base = ["/O2"] if is_msvc else ["-O3", "-fno-math-errno", "-fno-trapping-math",
                                         "-fno-wrapv", "-fvisibility=hidden"]
        cflags, lflags = [], []
        if want != "0":
            cflags, lflags = openmp_flags(self.compiler)
            if not openmp_works(self.compiler, cflags, lflags):
                if want == "1":
                    sys.exit("error: PYDL_OPENMP=1 but OpenMP does not work with this compiler")
                print("warning: OpenMP not available: pydl is built single-threaded")
                cflags, lflags = [], []
        sanitize = os.environ.get("PYDL_SANITIZE", "")
        if sanitize:  # symbols and frame pointers for readable reports; stop at the first;
            # -O1: the unrolled product kernels (gemm_tile.h) took 2 min to compile
            # instrumented at -O3, 20 s at -O1
            san = [f"-fsanitize={sanitize}", "-fno-sanitize-recover=all",
                   "-fno-omit-frame-pointer", "-g", "-O1"]
            cflags, lflags = cflags + san, lflags + san
        strip = sys.platform.startswith("linux") and not sanitize \
            and not os.environ.get("PYDL_KEEP_SYMBOLS")
        for ext in self.extensions:
            ext.extra_compile_args = base + cflags
            # strip debug symbols (the interpreter's CFLAGS carry -g): a 10x smaller .so
            ext.extra_link_args = lflags + (["-s"] if strip else [])
        super().build_extensions()


class BuildPy(build_py):
    """The package, plus the C headers (csrc/*.h) in pydl/include: pydl.get_include()."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "pydl", "include")
        os.makedirs(target, exist_ok=True)
        for header in sorted(glob.glob(os.path.join("csrc", "*.h"))):
            self.copy_file(header, os.path.join(target, os.path.basename(header)))


extensions = [
    Extension(
        "pydl._core",
        sources=["pydl/_core.pyx", "csrc/net.c"],
        include_dirs=["csrc", np.get_include()],
        depends=sorted(glob.glob("csrc/*.h")),  # rebuild net.c when a header changes
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        build_dir="build/cython",  # keep generated C out of the tree (and out of the sdist)
        compiler_directives={"language_level": 3},
    ),
    cmdclass={"build_ext": BuildExt, "build_py": BuildPy},
)
