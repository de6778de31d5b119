"""Flat memory and no leaks (issue 15): the RSS of 10^5 small calls and 10^3 model-file round
trips, and valgrind's memcheck on a short session, each in a subprocess."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import pydl

HERE = os.path.dirname(os.path.abspath(__file__))
GROWTH_MIB = 2.0


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS read from /proc (Linux)")
def test_rss_is_flat_over_many_small_calls():
    """10^5 alternating fit/predict/cost/gradients calls, then 10^3 save/load round trips,
    after a warm-up: the resident set grows by less than 2 MiB over each."""
    out = subprocess.run([sys.executable, os.path.join(HERE, "memory_loop.py"), "--calls",
                          "100000", "--round-trips", "1000"], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    calls = r["rss_after_calls_mib"] - r["rss_before_mib"]
    trips = r["rss_after_round_trips_mib"] - r["rss_after_calls_mib"]
    assert calls < GROWTH_MIB, r
    assert trips < GROWTH_MIB, r


# A frame in pydl's compiled code: its shared object (named by path in every frame, with or
# without symbols), or a source file of the C core or of the Cython door (with symbols).
_CSRC = ("net.c", "net_impl.h", "layer_impl.h", "fastmath.h", "philox.h", "products.h",
         "gemm_tile.h", "gemm_avx512.h", "gemm_avx2.h", "gemm_generic.h", "dot.h",
         "pydl_omp.h", "fpmode.h", "transpose.h", "_core.c", "_core.pyx")
PYDL_FRAME = re.compile(r"pydl/_core\.[\w.-]+\.so|\((?:%s):\d+\)"
                        % "|".join(map(re.escape, _CSRC)))


# Python code run on pydl's behalf (an import at module init, a callback) allocates through
# the interpreter's evaluation loop or import machinery: such an allocation is Python's
_PYTHON_RUNS = re.compile(r"_PyEval_EvalFrameDefault|PyImport_")


def pydl_allocated(record):
    """Whether a loss record's block was allocated by pydl's compiled code: a pydl frame on
    the stack with no Python code run between it and the allocation."""
    frames = re.findall(r"(?:at|by) 0x[0-9A-F]+: .*", record)
    for i, frame in enumerate(frames):
        if PYDL_FRAME.search(frame):
            return not any(_PYTHON_RUNS.search(f) for f in frames[:i])
    return False


def leak_records(log):
    """valgrind's loss records: (kind, text) pairs, kind "definitely", "possibly", ..."""
    out = []
    for rec in re.split(r"(?m)^==\d+== \n", log):
        m = re.search(r"are (definitely|indirectly|possibly) lost|are still reachable", rec)
        if m:
            out.append((m.group(1) or "reachable", rec))
    return out


@pytest.mark.skipif(shutil.which("valgrind") is None,
                    reason="valgrind is not installed (.ci/run installs it: apt-get install valgrind)")
@pytest.mark.skipif(sys.platform != "linux", reason="valgrind's memcheck runs here on Linux")
def test_valgrind_finds_no_definite_leak_in_pydl(tmp_path):
    """Python itself leaks by valgrind's standards (interned objects, module state): only
    records with a frame in pydl's .so or C sources count. The same log must show pydl's
    frames among the records still reachable, or the matcher could not see a pydl leak."""
    log = tmp_path / "memcheck.log"
    env = dict(os.environ, PYTHONMALLOC="malloc")  # Python's allocations visible to memcheck
    out = subprocess.run(
        ["valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=all",
         "--num-callers=50", f"--log-file={log}", sys.executable,
         os.path.join(HERE, "valgrind_script.py")],
        capture_output=True, text=True, timeout=900, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    records = leak_records(log.read_text())
    assert records, "no loss records: was valgrind's leak check run?"
    ours = [(kind, rec) for kind, rec in records if PYDL_FRAME.search(rec)]
    assert ours, "no record names pydl's frames: the matcher would miss a pydl leak"
    definite = [rec for kind, rec in ours if kind == "definitely" and pydl_allocated(rec)]
    assert not definite, "\n\n".join(definite[:5])
