"""The fuzzed door (issue 15): a short run of tests/fuzz_door.py, and one test per fix it led
to, each of which failed before the fix. The long run: `python tests/fuzz_door.py --runs 100000`."""
import io
import os
import sys

import numpy as np
import pytest

import pydl
from pydl import _core

sys.path.insert(0, os.path.dirname(__file__))
import fuzz_door  # noqa: E402

SHORT_RUNS = 20000  # 15-25 s on one core of the 2-core machine


def test_short_fuzz_run_has_no_failures():
    summary = fuzz_door.run(seed=20260101, runs=SHORT_RUNS, timeout=600)
    assert summary["crash"] is None, fuzz_door.report(summary)
    assert summary["failures"] == [], fuzz_door.report(summary)
    assert summary["runs"] == SHORT_RUNS
    # the run reached past the checks: every entry point succeeded now and then
    ok = summary["ok"]
    for name in ("_core.forward", "_core.cost_grad", "_core.propagate", "_core.update",
                 "_core.train", "_core.all_finite", "_core.product", "_core.layer_forward",
                 "_core.layer_backward", "_core.loss_grad", "Network.fit", "Network.predict",
                 "Network.gradients", "Network.backward", "Network.save/load", "pydl.load",
                 "blocks.L_model_backward", "gradient_check"):
        assert ok.get(name, 0) > 0, (name, fuzz_door.report(summary))
    assert summary["max_rss_mb"] < 1024, summary["max_rss_mb"]


def test_a_crash_is_reported_with_its_call(tmp_path):
    """The harness can fail: a child that dies names the call it was making."""
    script = tmp_path / "crash.py"
    script.write_text("import os, sys\n"
                      "fd = int(sys.argv[sys.argv.index('--progress-fd') + 1])\n"
                      "os.write(fd, b'7 _core.forward\\n')\nos.abort()\n")
    summary = fuzz_door.run(runs=1, timeout=60, script=str(script))
    assert summary["crash"]["last_call"] == "7 _core.forward"
    assert summary["crash"]["returncode"] != 0


# ---- the fixes ------------------------------------------------------------------------------

@pytest.mark.parametrize("n_threads", [0, -1, 1025, 2**31 - 1, 2**31, 2**64])
@pytest.mark.parametrize("fn", ["all_finite", "check_finite", "update"])
def test_door_bounds_n_threads(fn, n_threads):
    """2**31-1 threads made libgomp abort the process ("Out of memory allocating ...")."""
    a = np.zeros(300000)
    call = {"all_finite": lambda: _core.all_finite(a, n_threads),
            "check_finite": lambda: _core.check_finite(a, "a", n_threads),
            "update": lambda: _core.update("gd", 0.9, 0.999, 1e-8, 1, 0.1, a, np.zeros_like(a),
                                           None, None, n_threads)}[fn]
    with pytest.raises(ValueError, match=r"n_threads must be in \[1, 1024\]"):
        call()
    assert _core.MAX_THREADS == pydl._threads.MAX_THREADS


@pytest.mark.parametrize("n_threads", [1.0, "2", True, None])
def test_door_n_threads_must_be_an_integer(n_threads):
    with pytest.raises(TypeError, match="n_threads must be an integer"):
        _core.all_finite(np.zeros(3), n_threads)


def test_max_threads_run_in_a_limited_address_space():
    """1024 threads for an element-wise loop: at most one per processor (with a 2 GiB
    address-space limit, 1024 thread stacks made libgomp abort)."""
    code = ("import resource, numpy as np; from pydl import _core\n"
            "a = np.zeros(1 << 20)\n"
            "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
            "assert _core.all_finite(a, 1024)\n"
            "_core.update('gd', 0.9, 0.999, 1e-8, 1, 0.1, a, a.copy(), None, None, 1024)\n"
            "print('ok')\n")
    import subprocess
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.parametrize("a", [None, [1.0, 2.0], 3.0])
def test_all_finite_refuses_what_is_not_an_array(a):
    with pytest.raises(TypeError, match="numpy.ndarray"):  # was AttributeError for None
        _core.all_finite(a)


@pytest.mark.parametrize("a, error", [(np.zeros(3), ValueError), (np.zeros((2, 2, 2)), ValueError),
                                      (None, TypeError), ([[1.0]], TypeError)])
def test_unit_strides_refuses_what_is_not_a_matrix(a, error):
    with pytest.raises(error):  # was IndexError / AttributeError
        _core._unit_strides(a, "a")


@pytest.mark.parametrize("call", [
    lambda: _core.permutation(-1, 0, 3),                      # uint64 seed
    lambda: _core.permutation(0, 2**63, 3),                   # int64 epoch
    lambda: _core.permutation(0, 0, 2**31),                   # int m
    lambda: _core.dropout_mask(0, 0, 0, 1, 2, 2**40, 0.5),
    lambda: _core.augment_batch(np.zeros((1, 4)), 2**64, 0, 0, (2, 2, 1, True, 1)),
    lambda: _core.Architecture([2, 1], ["sigmoid"], 10**400),
    lambda: _core.Architecture([2, 1], ["sigmoid"]).workspace(np.float64, 2**63),
    lambda: _core.Architecture([2, 1], ["sigmoid"]).effective_threads(2, 2**63),
    lambda: pydl.Network([2, 1]).mini_batches(np.zeros((4, 2)), np.zeros(4), 2, 2**63),
    lambda: pydl.blocks.update_parameters({"W1": np.zeros((1, 1)), "b1": np.zeros((1, 1))},
                                          {"dW1": np.zeros((1, 1)), "db1": np.zeros((1, 1))},
                                          10**400),
    lambda: pydl.InverseDecay(0.1).rates(10**400, 0, 2),
    lambda: pydl.datasets.load_planar(10, 10**400),
])
def test_out_of_range_numbers_are_value_errors(call):
    """Cython's conversion to a C integer or double raised OverflowError."""
    with pytest.raises(ValueError):
        call()


def test_out_of_range_integer_is_named():
    with pytest.raises(ValueError, match=r"permutation: epoch out of range"):
        _core.permutation(0, 2**63, 3)


@pytest.mark.parametrize("call", [
    lambda: pydl.Network([3, 1]).predict(np.broadcast_to(np.zeros((1, 3)), (2**40, 3))),
    lambda: pydl.Normalizer().fit(np.broadcast_to(np.zeros((1, 2)), (2**40, 2))),
    lambda: pydl.ewa(np.broadcast_to(0.0, (2**40,))),
    lambda: pydl.blocks.linear_forward(np.broadcast_to(np.zeros((2, 1)), (2, 2**40)),
                                       np.zeros((1, 2)), np.zeros((1, 1))),
    lambda: pydl.Network([2**30, 2**30]),
    lambda: _core.Architecture([2**15, 2**15], ["linear"]).workspace(np.float64, 2**31 - 1),
    lambda: pydl.datasets.load_planar(10**12),
    lambda: _core.Architecture(np.broadcast_to(np.int64(2), (2**40,)), ["linear"]),
    lambda: _core.Architecture([2, 1], np.broadcast_to(np.array("linear"), (2**40,))),
])
def test_what_cannot_fit_in_memory_is_refused_before_allocating(call):
    """A huge zero-stride view or a huge size claim: MemoryError before, now a ValueError
    that says why (and no attempt to copy terabytes)."""
    with pytest.raises(ValueError):
        call()


def test_check_fits_memory_names_the_array():
    with pytest.raises(ValueError, match=r"X would need .* GiB, more than this machine's"):
        _core.check_fits_memory(2**62, "X")
    _core.check_fits_memory(2**20, "X")


def test_unfitted_normalizer_raises_not_fitted_error():
    """Was RuntimeError; now NotFittedError, a ValueError and an AttributeError (as
    scikit-learn's)."""
    norm = pydl.Normalizer()
    for method in (norm.transform, norm.inverse_transform):
        with pytest.raises(pydl.NotFittedError, match="not fitted yet"):
            method(np.zeros((2, 2)))
    assert issubclass(pydl.NotFittedError, ValueError)
    assert issubclass(pydl.NotFittedError, AttributeError)


def test_door_helpers_refuse_none_for_an_architecture():
    """_core._check_keep_masks(None, ...) was a segmentation fault (found by the long run,
    call 66854 of seed 2)."""
    with pytest.raises(TypeError):
        _core._check_keep_masks(None, 3, None, None)
