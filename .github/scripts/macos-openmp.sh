#!/usr/bin/env bash
# An OpenMP runtime for Apple clang that can be bundled into pydl's macOS wheels.
#
# Apple clang compiles OpenMP (-Xpreprocessor -fopenmp) but ships no runtime. This installs
# conda-forge's llvm-openmp (built for an old macOS, as scikit-learn does) into a private
# prefix, and exports for the following steps (GITHUB_ENV; printed when run by hand):
#   OPENMP_PREFIX             read by setup.py on macOS: -I$prefix/include -L$prefix/lib -lomp
#   MACOSX_DEPLOYMENT_TARGET  at least the macOS version libomp.dylib was built for: delocate
#                             refuses to bundle a library newer than the wheel's target
# Builds natively: arm64 on macos-15, x86_64 on macos-15-intel.
set -euo pipefail

SPEC=${LLVM_OPENMP_SPEC:-llvm-openmp=21}
case "$(uname -m)" in
    arm64)  subdir=osx-arm64; floor=11.0 ;;   # cibuildwheel's default targets
    x86_64) subdir=osx-64;    floor=10.13 ;;
    *) echo "unsupported machine: $(uname -m)" >&2; exit 1 ;;
esac

base=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
prefix="$base/llvm-openmp"
mkdir -p "$base/micromamba"
curl -fsSL "https://micro.mamba.pm/api/micromamba/$subdir/latest" \
    | tar -xj -C "$base/micromamba" bin/micromamba
"$base/micromamba/bin/micromamba" create --yes --quiet --root-prefix "$base/mamba" \
    --prefix "$prefix" --override-channels --channel conda-forge "$SPEC"

lib="$prefix/lib/libomp.dylib"
test -f "$lib" && test -f "$prefix/include/omp.h"
# the minimum macOS of libomp.dylib: LC_BUILD_VERSION's minos, or LC_VERSION_MIN_MACOSX's version
minos=$(otool -l "$lib" | awk '
    $1 == "cmd" { cmd = $2 }
    cmd == "LC_BUILD_VERSION" && $1 == "minos" { print $2; exit }
    cmd == "LC_VERSION_MIN_MACOSX" && $1 == "version" { print $2; exit }')
[ -n "$minos" ] || { echo "cannot read the minimum macOS of $lib" >&2; exit 1; }
target=$(printf '%s\n%s\n' "$floor" "$minos" | sort -t. -k1,1n -k2,2n | tail -n 1)
echo "$lib: built for macOS $minos; MACOSX_DEPLOYMENT_TARGET=$target"

if [ -n "${GITHUB_ENV:-}" ]; then
    echo "OPENMP_PREFIX=$prefix" >> "$GITHUB_ENV"
    echo "MACOSX_DEPLOYMENT_TARGET=$target" >> "$GITHUB_ENV"
else
    echo "export OPENMP_PREFIX=$prefix MACOSX_DEPLOYMENT_TARGET=$target"
fi
