"""Packaging: what a user gets from `pip install pydl`.

These tests look at the *installed* distribution (the wheel), not the source tree: the type
stubs match the compiled module, a forked child process does not hang, the version has one
source, the package data is inside the package, and the wheel carries nothing but what users
need. CI runs them against the repaired wheel from a directory outside the source tree.
"""
import importlib.metadata
import importlib.resources
import json
import multiprocessing
import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

import pydl

# Cython puts these two pickling helpers of `cdef class Architecture` in the module's
# namespace too; they are implementation details, not API, and have no stub.
STUBTEST_ALLOWLIST = """\
pydl._core.__reduce_cython__
pydl._core.__setstate_cython__
pydl._core.__test__
"""


def _distribution():
    """The installed pydl distribution, or skip when there is none (a bare in-place build).
    Only one an installer wrote counts: the pydl.egg-info that `pip install .` leaves in a
    source tree (first on sys.path under `python -m pytest`) lists the sdist's files."""
    for dist in importlib.metadata.distributions(name="pydl"):
        if dist.read_text("INSTALLER") is not None:
            return dist
    pytest.skip("pydl is not installed (in-place build): nothing packaged to check")


def _is_editable(dist):
    direct_url = dist.read_text("direct_url.json")
    return bool(direct_url) and json.loads(direct_url).get("dir_info", {}).get("editable", False)


# ---- (a) the hand-written stubs match the compiled module ----------------------------------

def test_stubs_match_the_extension_module(tmp_path):
    pytest.importorskip("mypy.stubtest")
    allowlist = tmp_path / "stubtest-allowlist.txt"
    allowlist.write_text(STUBTEST_ALLOWLIST)
    # from a temporary directory: the installed pydl (and its _core.pyi) is the one checked
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "pydl._core", "--allowlist", str(allowlist),
         "--ignore-unused-allowlist"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---- (b) a forked child process does not hang ----------------------------------------------

FORK_DIMS = [784, 256, 128, 10]
FORK_BATCH = 256


def _fork_work():
    """Train a network big enough for the parallel path; its parameters, bit for bit."""
    rng = np.random.default_rng(0)
    X = rng.random((2 * FORK_BATCH, FORK_DIMS[0]), dtype=np.float32)
    y = rng.integers(0, FORK_DIMS[-1], size=2 * FORK_BATCH)
    net = pydl.Network(FORK_DIMS, output_activation="softmax", seed=1, n_threads=2)
    history = net.fit(X, y, epochs=2, batch_size=FORK_BATCH, learning_rate=0.05)
    return net.theta.copy(), list(history.cost)


@pytest.mark.skipif(not hasattr(os, "fork") or
                    "fork" not in multiprocessing.get_all_start_methods(),
                    reason="no fork on this platform")
def test_forked_child_trains_after_parallel_training_in_parent():
    if not pydl.openmp_enabled():
        pytest.skip("built without OpenMP: no thread pool to inherit")
    net = pydl.Network(FORK_DIMS, output_activation="softmax")
    assert net._arch.effective_threads(2, FORK_BATCH) == 2  # the parallel path is taken

    # the parent trains with 2 threads: libgomp's pool now exists in this process
    theta, costs = _fork_work()
    assert np.isfinite(theta).all()

    ctx = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        # Python >= 3.12 warns that forking a multi-threaded process may deadlock: that is
        # exactly what this test is about.
        warnings.simplefilter("ignore", DeprecationWarning)
        with ctx.Pool(1) as pool:
            try:
                child_theta, child_costs = pool.apply_async(_fork_work).get(timeout=60)
            except multiprocessing.TimeoutError:
                pytest.fail("the forked child hung in its first parallel region "
                            "(libgomp is not fork-safe: pydl must use one thread there)")

    # results do not depend on the number of threads: the child's one thread agrees
    np.testing.assert_array_equal(child_theta, theta)
    assert child_costs == costs


_FORK_RESETS_ONLY_WHAT_IT_MUST = r"""
import os
import numpy as np
import pydl
from pydl import _threads
from threadpoolctl import threadpool_info


def blas_threads():
    return sorted(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def in_child(check):
    pid = os.fork()
    if pid == 0:
        os._exit(0 if check() else 1)
    return os.waitpid(pid, 0)[1] == 0


before = blas_threads()
pydl.Network([3, 4, 1], seed=0, n_threads=1).forward(np.zeros((2, 3)))  # one thread: no pool
assert in_child(lambda: _threads.resolve_n_threads(None) == pydl._core.max_threads()), \
    "a child of a parent that never started a pool was pinned to one thread"
pydl._core.set_float_products("blas")  # the path that calls the BLAS, and limits it
with _threads.sequential_blas():
    assert blas_threads() == [1] * len(before)
    assert in_child(lambda: blas_threads() == before), "the child kept BLAS at one thread"
pydl.Network([3, 4, 1], seed=0, n_threads=2).forward(np.zeros((2, 3)))  # a pool may start
assert in_child(lambda: _threads.resolve_n_threads(None) == 1)
print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_fork_resets_only_what_it_must():
    """A child is held to one thread only when the parent may have started libgomp's pool,
    and a child forked inside a BLAS-limited call gets the BLAS's own limits back."""
    if pydl._core.max_threads() < 2:
        pytest.skip("one usable thread: a child pinned to one could not be told apart")
    import threadpoolctl
    if not [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]:
        pytest.skip("no BLAS threadpoolctl controls (e.g. Apple Accelerate): nothing to restore")
    from conftest import subprocess_env
    done = subprocess.run([sys.executable, "-c", _FORK_RESETS_ONLY_WHAT_IT_MUST],
                          capture_output=True, text=True, timeout=120, env=subprocess_env())
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


# ---- (c) one version, one source -----------------------------------------------------------

def test_version_is_single_sourced():
    dist = _distribution()
    assert pydl.__version__ == dist.version == importlib.metadata.version("pydl")


# ---- (d) package data ----------------------------------------------------------------------

def test_imported_pydl_is_the_installed_one():
    dist = _distribution()
    if _is_editable(dist):
        pytest.skip("editable install: the package is the source tree")
    installed = pathlib.Path(dist.locate_file("pydl/__init__.py")).resolve()
    assert pathlib.Path(pydl.__file__).resolve() == installed, (
        f"tests import {pydl.__file__}, not the installed {installed}: run `pytest` "
        f"(not `python -m pytest`) or run it outside the source tree")


def test_package_data_is_installed_and_loads():
    data = importlib.resources.files("pydl") / "data"
    assert (data / "digits.npz").is_file()
    assert (data / "README.md").is_file()
    X, y = pydl.datasets.load_digits()
    assert X.shape == (1797, 64)
    assert y.shape == (1797,)
    assert set(np.unique(y).tolist()) == set(range(10))


# ---- the wheel holds only what users need --------------------------------------------------

ALLOWED_IN_PACKAGE = (".py", ".pyi", ".pyc", ".so", ".pyd", ".dylib", ".dll")
ALLOWED_NAMES = {"py.typed", "data/digits.npz", "data/README.md"}


def _unwanted(relpath):
    """Why a file under pydl/ does not belong in the wheel, or None."""
    parts = pathlib.PurePosixPath(relpath).parts
    name = parts[-1]
    if "tests" in parts or name.startswith("test_") or name == "conftest.py":
        return "test file"
    if relpath in ALLOWED_NAMES:
        return None
    if parts[0] == "data":
        return "unexpected data file"
    if parts[0] == "include" and len(parts) == 2 and name.endswith(".h"):
        return None  # the C headers pydl.get_include() names
    if name.endswith((".pyx", ".pxd", ".c", ".h", ".o")):
        return "build source"
    if not name.endswith(ALLOWED_IN_PACKAGE):
        return "unexpected file type"
    return None


def test_installed_files_are_only_what_users_need():
    dist = _distribution()
    if _is_editable(dist):
        pytest.skip("editable install: the package is the source tree")
    files = [str(f).replace("\\", "/") for f in dist.files or ()]
    assert files, "the installed distribution lists no files"
    problems = []
    for f in files:
        top = f.split("/", 1)[0]
        if top == "pydl":
            why = _unwanted(f.split("/", 1)[1])
            if why:
                problems.append(f"{f}: {why}")
        # pydl-X.dist-info, auditwheel/delvewheel's pydl.libs, scripts in ../bin are fine
        elif not (top.startswith("pydl-") and top.endswith(".dist-info")) \
                and top not in ("pydl.libs", "..") and not top.startswith(".."):
            problems.append(f"{f}: outside the pydl package")
    assert not problems, "\n".join(problems)
    assert any(f.startswith("pydl/_core.") and f.endswith((".so", ".pyd")) for f in files)


# ---- the build has OpenMP when the build was told it must ----------------------------------

def test_openmp_as_expected():
    expected = os.environ.get("PYDL_EXPECT_OPENMP")
    if expected is None:
        pytest.skip("PYDL_EXPECT_OPENMP not set (CI sets it for each build)")
    assert pydl.openmp_enabled() is (expected == "1")
