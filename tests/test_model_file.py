"""The model file, pickle and copies, exact resume, checkpoints, and bad files.

The model file is the one way a network leaves its process: `save`/`load`, pickle,
`copy`/`deepcopy` and checkpoints all go through it. Exactness is bitwise: a resumed run
must give the same bits as an uninterrupted one."""
import copy
import io
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import pydl
from pydl import model_file
from conftest import subprocess_env

DATA = os.path.join(os.path.dirname(__file__), "data")
GOLDEN_V1 = os.path.join(DATA, "model-v1.pydl")

OPTIMIZERS = {
    "gd": lambda: pydl.GradientDescent(0.05),
    "momentum": lambda: pydl.Momentum(0.05, beta=0.8),
    "rmsprop": lambda: pydl.RMSprop(0.005, beta=0.9, epsilon=1e-7),
    "adam": lambda: pydl.Adam(0.005, beta1=0.85, beta2=0.99, epsilon=1e-7),
}
SCHEDULES = {
    "constant": lambda: None,
    "inverse": lambda: pydl.InverseDecay(0.3),
    "staircase": lambda: pydl.StaircaseDecay(0.5, time_interval=3),
    "exponential": lambda: pydl.ExponentialDecay(0.9),
    "sqrt_epoch": lambda: pydl.SqrtEpochDecay(1.5),
    "sqrt_step": lambda: pydl.SqrtStepDecay(2.0),
}


def image_data(seed=0, m=90):
    """4x4 'images' with 3 classes: augmentation applies to them."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, 16))
    y = (X[:, :5].sum(axis=1) > 0).astype(int) + (X[:, 5] > 1)
    return X, y


def image_net(dtype="float32", seed=3):
    return pydl.Network([16, 12, 8, 3], output_activation="softmax", dtype=dtype, seed=seed,
                        keep_probs=[0.8, 0.9, 1.0])


FIT = dict(batch_size=16, l2=0.05, l1=0.01,
           augment=pydl.Augmentation(image_shape=(4, 4), flip=True, max_shift=1))


def trained_net(dtype="float64", epochs=3, normalizer=True):
    X, y = image_data()
    net = image_net(dtype)
    if normalizer:
        net.normalizer = pydl.Normalizer().fit(X)
    X_dev, y_dev = image_data(seed=1, m=30)
    net.fit(X, y, epochs=epochs, optimizer=pydl.Adam(0.01), lr_schedule=pydl.InverseDecay(0.1),
            validation_data=(X_dev, y_dev),
            early_stopping=pydl.EarlyStopping(patience=50, restore_best=False),
            record_steps=True, **FIT)
    return net


def assert_same_network(a, b, rtol=0.0):
    """Everything the model file holds is equal: bit for bit, or the floating-point results
    of training within rtol (for a network trained again, maybe by another build or CPU)."""
    def same(x, y):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        scale = np.abs(y).max() if y.size else 0.0  # elements near 0: rounding of the sum
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * scale)
        if rtol == 0:
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes()

    assert a.layer_dims == b.layer_dims and a.activations == b.activations
    assert a.leaky_slope == b.leaky_slope and a.keep_probs == b.keep_probs
    assert a.dtype == b.dtype and a.init == b.init and a.seed == b.seed
    assert a._train_seed == b._train_seed and a.n_threads == b.n_threads
    same(a.theta, b.theta)
    assert (a.normalizer is None) == (b.normalizer is None)
    if a.normalizer is not None:
        for attr in ("epsilon", "mean_", "var_", "scale_"):
            np.testing.assert_array_equal(getattr(a.normalizer, attr),
                                          getattr(b.normalizer, attr))
    assert a.epochs_trained == b.epochs_trained
    assert repr(a.optimizer) == repr(b.optimizer) and repr(a.lr_schedule) == repr(b.lr_schedule)
    if a.optimizer is not None:
        assert a.optimizer.t == b.optimizer.t and b.optimizer._owner is b
        for name in ("v", "s"):
            va, vb = getattr(a.optimizer, name), getattr(b.optimizer, name)
            assert (va is None) == (vb is None)
            if va is not None:
                same(va, vb)
                assert vb is not va
    assert repr(a.early_stopping) == repr(b.early_stopping)
    if a.early_stopping is not None:
        for attr in ("best_epoch", "stopped_epoch", "_waited"):
            assert getattr(a.early_stopping, attr) == getattr(b.early_stopping, attr)
        same(a.early_stopping.best_cost, b.early_stopping.best_cost)
        assert (a.early_stopping._best_theta is None) == (b.early_stopping._best_theta is None)
    for attr in ("epochs", "learning_rate", "step_learning_rate", "dev_accuracy",
                 "best_epoch", "stopped_epoch", "wall_time"):
        assert getattr(a.history, attr) == getattr(b.history, attr), attr
    for attr in ("cost", "step_cost", "dev_cost"):
        assert len(getattr(a.history, attr)) == len(getattr(b.history, attr)), attr
        same(getattr(a.history, attr), getattr(b.history, attr))


# ---- 1. one model file ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip_keeps_everything(tmp_path, dtype):
    net = trained_net(dtype)
    assert net.history.step_cost and net.history.dev_cost  # something to keep
    path = tmp_path / "net.pydl"
    net.save(path)
    assert_same_network(net, pydl.load(path))
    assert_same_network(net, pydl.load(str(path)))
    buf = io.BytesIO()
    net.save(buf)
    assert buf.getvalue() == path.read_bytes()  # one format, whatever the target
    assert_same_network(net, pydl.load(io.BytesIO(buf.getvalue())))
    X, _ = image_data(seed=5)
    np.testing.assert_array_equal(pydl.load(path).predict_proba(X), net.predict_proba(X))


def test_training_state_false_keeps_only_what_predicting_needs(tmp_path):
    net = trained_net()
    net.save(tmp_path / "p.pydl", training_state=False)
    loaded = pydl.load(tmp_path / "p.pydl")
    assert loaded.theta.tobytes() == net.theta.tobytes()
    assert loaded.optimizer is None and loaded.lr_schedule is None
    assert loaded.early_stopping is None and loaded.epochs_trained == 0
    assert len(loaded.history) == 0
    np.testing.assert_array_equal(loaded.normalizer.mean_, net.normalizer.mean_)
    X, _ = image_data(seed=5)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert len((tmp_path / "p.pydl").read_bytes()) < len(model_file.to_bytes(net))
    with pytest.raises(TypeError, match="training_state"):
        net.save(tmp_path / "q.pydl", training_state="no")


def test_untrained_network_and_every_activation_round_trip():
    net = pydl.Network([3, 5, 4, 2], activations=["leaky_relu", "tanh", "softmax"],
                       leaky_slope=0.2, seed=7, n_threads=1)
    assert_same_network(net, pydl.load(io.BytesIO(model_file.to_bytes(net))))
    for hidden in ("relu", "sigmoid", "linear"):
        net = pydl.Network([2, 3, 1], hidden_activation=hidden, output_activation="linear",
                           init="xavier")
        assert_same_network(net, model_file.from_bytes(model_file.to_bytes(net)))


def test_file_is_little_endian_safetensors_layout():
    net = trained_net("float32")
    blob = model_file.to_bytes(net)
    (n,) = struct.unpack("<Q", blob[:8])
    assert n % 8 == 0
    header = json.loads(blob[8:8 + n])
    meta = header["__metadata__"]
    assert meta["format"] == "pydl.model" and meta["format_version"] == "1"
    entry = header["theta"]
    assert entry["dtype"] == "F32" and entry["shape"] == [net.theta.size]
    begin, end = entry["data_offsets"]
    assert blob[8 + n + begin:8 + n + end] == net.theta.astype("<f4").tobytes()
    described = json.loads(meta["pydl"])
    assert described["network"]["activations"] == ["relu", "relu", "softmax"]
    assert described["training"]["optimizer"]["kind"] == "Adam"


def test_golden_version_1_file_loads_forever():
    """tests/data/model-v1.pydl was written by format version 1 (see make_golden_v1); every
    later pydl must load it to the same network (trained again here: equal to rounding, as
    another CPU or build may round the last bit of float64 sums differently)."""
    net = pydl.load(GOLDEN_V1)
    expected = make_golden_v1()
    assert_same_network(net, expected, rtol=1e-12)
    X = np.linspace(-1, 1, 12).reshape(4, 3)
    np.testing.assert_allclose(net.forward(X), expected.forward(X), rtol=1e-12)


def make_golden_v1():
    """The network stored in tests/data/model-v1.pydl (its training is deterministic)."""
    X = np.linspace(-2, 2, 60).reshape(20, 3)
    y = (X.sum(axis=1) > 0).astype(int)
    net = pydl.Network([3, 4, 1], hidden_activation="tanh", dtype="float64", seed=11,
                       n_threads=1, normalizer=pydl.Normalizer().fit(X))
    net.fit(X, y, epochs=3, optimizer=pydl.Momentum(0.1, beta=0.5), batch_size=8,
            lr_schedule=pydl.ExponentialDecay(0.5), validation_data=(X[:6], y[:6]),
            early_stopping=pydl.EarlyStopping(patience=5, restore_best=False))
    net.history.wall_time = 0.0  # the one field that is not deterministic
    return net


def test_newer_format_version_is_refused_naming_both():
    blob = rewrite_header(model_file.to_bytes(pydl.Network([2, 1])),
                          lambda h: h["__metadata__"].update(format_version="2"))
    with pytest.raises(pydl.ModelFileError, match=r"format version 2.*versions 1 to 1"):
        model_file.from_bytes(blob)


# ---- 3. exact resume ------------------------------------------------------------------------

_RESUME_CHILD = r"""
import sys
import numpy as np
import pydl
sys.path.insert(0, sys.argv[1])
from test_model_file import FIT, image_data
X, y = image_data(m=int(sys.argv[2]))
X_dev, y_dev = image_data(seed=1, m=30)
for path in sys.argv[3:]:
    net = pydl.load(path)
    net.fit(X, y, epochs=10, validation_data=(X_dev, y_dev), **FIT)  # optimizer etc.: the net's
    net.save(path)
print("resumed", len(sys.argv) - 3)
"""


def run_child(script, *args, timeout=300):
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                         text=True, env=subprocess_env(), timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_train_save_load_in_a_new_process_continues_bitwise(tmp_path, dtype):
    """Every optimizer x every schedule, with dropout, augmentation, L2, L1 and early stopping
    (restore_best=False: with it, the first fit ends on the best epoch's parameters): 10
    epochs, save, 10 more in a new process == 20 epochs in one go."""
    X, y = image_data()
    X_dev, y_dev = image_data(seed=1, m=30)
    cases = {}
    for opt_name, make_opt in OPTIMIZERS.items():
        for sched_name, make_sched in SCHEDULES.items():
            def fit(net, epochs):
                net.fit(X, y, epochs=epochs, optimizer=make_opt(), lr_schedule=make_sched(),
                        validation_data=(X_dev, y_dev),
                        early_stopping=pydl.EarlyStopping(patience=3, min_delta=0.01,
                                                                 restore_best=False),
                        **FIT)
            whole, half = image_net(dtype), image_net(dtype)
            fit(whole, 20)
            fit(half, 10)
            path = tmp_path / f"{opt_name}-{sched_name}.pydl"
            half.save(path)
            cases[path] = whole
    run_child(_RESUME_CHILD, os.path.dirname(__file__), 90, *cases)
    stopped = 0
    for path, whole in cases.items():
        resumed = pydl.load(path)
        assert resumed.theta.tobytes() == whole.theta.tobytes(), path.name
        assert resumed.optimizer.t == whole.optimizer.t, path.name
        assert resumed.optimizer.v is None or \
            resumed.optimizer.v.tobytes() == whole.optimizer.v.tobytes()
        assert resumed.history.cost == whole.history.cost, path.name
        assert resumed.history.dev_cost == whole.history.dev_cost, path.name
        assert resumed.history.stopped_epoch == whole.history.stopped_epoch, path.name
        stopped += whole.history.stopped_epoch is not None
    assert 0 < stopped < len(cases)  # early stopping acted in some runs, not all


# ---- 4. pickle and copies -------------------------------------------------------------------

@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_every_protocol(protocol):
    net = trained_net()
    assert_same_network(net, pickle.loads(pickle.dumps(net, protocol=protocol)))


@pytest.mark.parametrize("how", [copy.copy, copy.deepcopy])
def test_copies_own_their_theta_and_optimizer_state(how):
    net = trained_net()
    twin = how(net)
    assert_same_network(net, twin)
    assert not np.shares_memory(twin.theta, net.theta)
    assert twin.optimizer is not net.optimizer
    assert not np.shares_memory(twin.optimizer.v, net.optimizer.v)
    X, y = image_data()
    twin.fit(X, y, epochs=1, **FIT)  # training the copy leaves the original alone
    assert twin.theta.tobytes() != net.theta.tobytes()
    assert net.optimizer.t < twin.optimizer.t


def test_pickle_goes_through_the_model_file():
    """No Python object but the loader function is pickled: the payload is the file."""
    net = trained_net()
    reduced = net.__reduce__()
    assert reduced == (model_file.from_bytes, (model_file.to_bytes(net),))


def test_joblib_dump_and_load(tmp_path):
    joblib = pytest.importorskip("joblib", reason="joblib is optional (pydl[sklearn])")
    net = trained_net()
    joblib.dump(net, tmp_path / "net.joblib")
    assert_same_network(net, joblib.load(tmp_path / "net.joblib"))


def _predict_in_worker(net, X):
    return net.predict_proba(X)


def test_network_crosses_a_spawn_pool_and_predicts_the_same():
    import multiprocessing

    net = trained_net("float32")
    X, _ = image_data(seed=4)
    ctx = multiprocessing.get_context("spawn")
    env_path = subprocess_env()["PYTHONPATH"]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = env_path  # the children import this test module and pydl
    sys.path.insert(0, os.path.dirname(__file__))
    try:
        with ctx.Pool(1) as pool:
            got = pool.apply(_predict_in_worker, (net, X))
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    np.testing.assert_array_equal(got, net.predict_proba(X))


def test_custom_schedule_cannot_be_saved_but_training_state_false_can():
    class Halving(pydl.Schedule):
        def learning_rate(self, lr0, epoch):
            return lr0 / 2

    X, y = image_data()
    net = image_net()
    net.fit(X, y, epochs=1, learning_rate=0.1, lr_schedule=Halving())
    with pytest.raises(ValueError, match="lr_schedule.*training_state=False"):
        model_file.to_bytes(net)
    with pytest.raises(ValueError, match="lr_schedule"):
        pickle.dumps(net)
    loaded = model_file.from_bytes(model_file.to_bytes(net, training_state=False))
    assert loaded.theta.tobytes() == net.theta.tobytes()


# ---- 5. checkpoints -------------------------------------------------------------------------

def test_checkpoint_every_k_epochs_and_best(tmp_path):
    X, y = image_data()
    X_dev, y_dev = image_data(seed=1, m=30)
    saved = []

    class Recording(pydl.Checkpoint):
        def _save(self, net):
            super()._save(net)
            saved.append(("last", net.epochs_trained))

        def _save_best(self, net):
            super()._save_best(net)
            saved.append(("best", net.epochs_trained))

    ck = Recording(tmp_path / "run.pydl", every=3, keep_best=True)
    assert ck.best_path == str(tmp_path / "run.best.pydl")
    net = image_net()
    h = net.fit(X, y, epochs=8, optimizer=pydl.Adam(0.01), validation_data=(X_dev, y_dev),
                checkpoint=ck, **FIT)
    assert [e for kind, e in saved if kind == "last"] == [3, 6]
    best = [e for kind, e in saved if kind == "best"]
    running_min = np.minimum.accumulate(h.dev_cost)
    expected_best = [i + 1 for i in range(8) if i == 0 or h.dev_cost[i] < running_min[i - 1]]
    assert best == expected_best
    assert pydl.load(ck.path).epochs_trained == 6
    best_net = pydl.load(ck.best_path)
    assert best_net.epochs_trained == expected_best[-1]
    assert best_net.cost(X_dev, y_dev) == pytest.approx(min(h.dev_cost), rel=1e-6)
    with pytest.raises(ValueError, match="keep_best"):
        net.fit(X, y, epochs=1, checkpoint=pydl.Checkpoint(tmp_path / "x", keep_best=True))
    with pytest.raises(TypeError, match="checkpoint"):
        net.fit(X, y, epochs=1, checkpoint=str(tmp_path / "x"))
    with pytest.raises(ValueError, match="every"):
        pydl.Checkpoint(tmp_path / "x", every=0)


def test_resume_from_checkpoint_is_bitwise_with_early_stopping_restore_best(tmp_path):
    """A checkpoint holds the state mid-fit (before restore_best acts): loading it and
    fitting the remaining epochs gives the bits of the uninterrupted fit."""
    X, y = image_data(m=30)  # few examples: the dev cost turns up early
    X_dev, y_dev = image_data(seed=1, m=30)

    def fit(net, epochs, **kw):
        return net.fit(X, y, epochs=epochs, optimizer=pydl.Adam(0.05),
                       lr_schedule=pydl.InverseDecay(0.01), validation_data=(X_dev, y_dev),
                       early_stopping=pydl.EarlyStopping(patience=30, restore_best=True),
                       **FIT, **kw)

    whole = image_net()
    fit(whole, 24)
    crashed = image_net()
    fit(crashed, 12, checkpoint=pydl.Checkpoint(tmp_path / "ck.pydl", every=12))
    run_child(_RESUME_CHILD.replace("epochs=10", "epochs=12"), os.path.dirname(__file__), 30,
              tmp_path / "ck.pydl")
    resumed = pydl.load(tmp_path / "ck.pydl")
    assert resumed.theta.tobytes() == whole.theta.tobytes()
    assert resumed.history.dev_cost == whole.history.dev_cost
    assert resumed.history.best_epoch == whole.history.best_epoch < 20  # restored the best


_KILL_CHILD = r"""
import os, sys
import numpy as np
import pydl
X = np.random.default_rng(0).standard_normal((64, 200))
y = (X[:, 0] > 0).astype(int)
path = sys.argv[1]
if os.path.exists(path):  # resume from whatever the last kill left
    net, opt = pydl.load(path), None
else:
    net, opt = pydl.Network([200, 400, 1], seed=0, n_threads=1), pydl.Adam(1e-4)
net.fit(X, y, epochs=10**6, optimizer=opt, batch_size=64,
        checkpoint=pydl.Checkpoint(path, every=1))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_while_checkpointing_never_leaves_a_torn_file(tmp_path):
    """200 kills at random instants of a process that checkpoints a ~330 KB network every
    epoch and resumes from the checkpoint when restarted: whatever is on disk afterwards
    always loads, and training advances across the kills."""
    path = tmp_path / "ck.pydl"
    rng = np.random.default_rng(0)
    server = subprocess.Popen(
        [sys.executable, "-c", _FORK_SERVER, _KILL_CHILD, str(path)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        assert server.stdout.readline().strip() == "loaded"
        epochs_seen = [0]
        longest = 0.05  # the longest wait before a kill; longer while a loaded machine stalls
        for i in range(200):
            server.stdin.write("go\n")
            server.stdin.flush()
            pid = int(server.stdout.readline())
            time.sleep(rng.uniform(0.0, longest))
            os.kill(pid, signal.SIGKILL)
            server.stdin.write("reap\n")
            server.stdin.flush()
            assert server.stdout.readline().strip() == "reaped"
            if path.exists():
                net = pydl.load(path)  # complete, or this raises
                assert net.optimizer.t == net.epochs_trained
                assert net.epochs_trained >= epochs_seen[-1]
                epochs_seen.append(net.epochs_trained)
            if i >= 20 and epochs_seen[-1] == epochs_seen[-min(20, len(epochs_seen))]:
                longest = min(2 * longest, 0.4)
        assert epochs_seen[-1] > 5, epochs_seen  # training advanced across the kills
    finally:
        server.kill()
        server.wait()
    leftovers = [p for p in os.listdir(tmp_path) if p != "ck.pydl"]
    assert all(p.startswith(".pydl-") and p.endswith(".tmp") for p in leftovers)
    assert leftovers, epochs_seen  # some kills landed in the middle of a write


# a parent that has imported pydl forks one child per kill (a fresh interpreter each time
# would spend most of the test importing numpy); the child runs _KILL_CHILD's training
_FORK_SERVER = r"""
import os, sys
import numpy as np
import pydl
script, path = sys.argv[1], sys.argv[2]
print("loaded", flush=True)
for line in sys.stdin:
    if line.strip() == "go":
        pid = os.fork()
        if pid == 0:
            sys.argv = ["child", path]
            sys.stdout = open(os.devnull, "w")
            try:
                exec(compile(script, "child", "exec"), {"__name__": "__main__"})
            finally:
                os._exit(0)
        print(pid, flush=True)
    elif line.strip() == "reap":
        os.waitpid(pid, 0)
        print("reaped", flush=True)
"""


# ---- 6. nothing lost on the way out of fit --------------------------------------------------

class _InterruptAt(pydl.Checkpoint):
    """Raises KeyboardInterrupt at a checkpoint, as Ctrl-C would between epochs."""

    def __init__(self, path, at):
        super().__init__(path)
        self.at = at

    def _save(self, net):
        if net.epochs_trained == self.at:
            raise KeyboardInterrupt
        super()._save(net)


def test_interrupted_fit_keeps_the_history_of_completed_epochs(tmp_path):
    X, y = image_data()
    net = image_net()
    net.fit(X, y, epochs=2, learning_rate=0.05)
    with pytest.raises(KeyboardInterrupt) as info:
        net.fit(X, y, epochs=10, learning_rate=0.05, checkpoint=_InterruptAt(tmp_path / "c", 5))
    assert info.value.history.epochs == [2, 3, 4]
    assert net.history.epochs == [0, 1, 2, 3, 4] and net.epochs_trained == 5
    assert len(net.history.cost) == 5


def test_diverged_fit_keeps_the_history_of_completed_epochs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5)) * 10
    y = X @ rng.standard_normal(5) * 100
    net = pydl.Network([5, 16, 16, 1], output_activation="linear", seed=0, dtype="float64")
    with pytest.raises(FloatingPointError) as info:
        net.fit(X, y, epochs=200, learning_rate=10.0, batch_size=8)
    assert info.value.history.epochs == list(range(net.epochs_trained))
    assert net.history.epochs == list(range(net.epochs_trained))


def test_fit_that_fails_before_training_leaves_everything_unchanged():
    X, y = image_data()
    net = trained_net(normalizer=False)  # X goes to the C loop as given
    before = model_file.to_bytes(net)
    opt, sched, stop = net.optimizer, net.lr_schedule, net.early_stopping
    new_opt = pydl.Momentum(0.1)
    bad_dev = (X[:5], np.array([0, 1, 2, 7, 0]))  # a class the network does not have
    with pytest.raises(ValueError):
        net.fit(X, y, epochs=3, optimizer=new_opt, lr_schedule=pydl.ExponentialDecay(0.5),
                validation_data=bad_dev)
    with pytest.raises(ValueError):  # the C loop refuses an X that aliases theta
        Xa = net.theta[:16 * 4].reshape(4, 16)
        net.fit(Xa, y[:4], epochs=1, optimizer=new_opt, lr_schedule=pydl.Constant())
    assert net.optimizer is opt and net.lr_schedule is sched and net.early_stopping is stop
    assert new_opt.v is None and new_opt._owner is None and new_opt.t == 0
    assert model_file.to_bytes(net) == before


# ---- 7. bad files ---------------------------------------------------------------------------

def rewrite_header(blob, change, rehash=True):
    """The file with its JSON header changed by change(header), checksum recomputed."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    change(header)
    if rehash:
        header["__metadata__"]["sha256"] = model_file._checksum(header, data)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def rewrite_description(blob, change):
    def edit(header):
        d = json.loads(header["__metadata__"]["pydl"])
        change(d)
        header["__metadata__"]["pydl"] = json.dumps(d)
    return rewrite_header(blob, edit)


def rewrite_array(blob, name, values):
    """The file with array `name`'s bytes replaced (same size), checksum recomputed."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = bytearray(blob[8 + n:])
    begin, end = header[name]["data_offsets"]
    data[begin:end] = values
    header["__metadata__"]["sha256"] = model_file._checksum(header, bytes(data))
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + bytes(data)


@pytest.fixture(scope="module")
def small_blob():
    return model_file.to_bytes(trained_net("float32", epochs=2))


def test_every_truncation_is_a_clear_error(small_blob):
    for cut in range(len(small_blob)):
        with pytest.raises(pydl.ModelFileError):
            model_file.from_bytes(small_blob[:cut])


def test_random_byte_flips_are_caught_or_harmless(small_blob):
    """A changed byte either raises ModelFileError or (JSON whitespace turned into other
    whitespace) loads the very same network."""
    rng = np.random.default_rng(0)
    original = model_file.from_bytes(small_blob)
    harmless = 0
    for _ in range(3000):
        blob = bytearray(small_blob)
        i = int(rng.integers(len(blob)))
        blob[i] = (blob[i] + int(rng.integers(1, 256))) % 256
        try:
            net = model_file.from_bytes(bytes(blob))
        except pydl.ModelFileError:
            continue
        assert_same_network(original, net)
        harmless += 1
    assert harmless < 30


@pytest.mark.parametrize("blob,match", [
    (b"", "too short"),
    (b"PK\x03\x04" + b"\0" * 100, "header claims"),                        # a zip file
    (struct.pack("<Q", 10**12) + b"{}", "header claims"),                  # far larger than the file
    (struct.pack("<Q", 2) + b"{}", "format"),                              # JSON, not ours
    (struct.pack("<Q", 4) + b"\xff\xfe{}", "not valid JSON"),
    (struct.pack("<Q", 2000) + b"[" * 1000 + b"]" * 1000, "not valid JSON|format"),  # deep
], ids=["empty", "zip", "huge-header", "foreign-json", "not-utf8", "deep-nesting"])
def test_not_a_model_file(blob, match):
    with pytest.raises(pydl.ModelFileError, match=match):
        model_file.from_bytes(blob)


def test_pickle_and_npz_files_are_refused_unexecuted(tmp_path):
    """A pickle (which would run code if unpickled) and an .npz holding an object array are
    rejected before anything in them is interpreted."""
    class Boom:
        def __reduce__(self):
            return os.system, ("touch " + str(tmp_path / "pwned"),)

    for blob in (pickle.dumps(Boom()), pickle.dumps(trained_net())):
        with pytest.raises(pydl.ModelFileError):
            model_file.from_bytes(blob)
    buf = io.BytesIO()
    np.savez(buf, theta=np.array([Boom()], dtype=object))
    with pytest.raises(pydl.ModelFileError):
        model_file.from_bytes(buf.getvalue())
    assert not (tmp_path / "pwned").exists()


def test_zip_bomb_is_refused_without_inflating():
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("theta.npy", b"\0" * (64 << 20))  # 64 MiB of zeros in ~64 KB
    assert len(buf.getvalue()) < 1 << 20
    with pytest.raises(pydl.ModelFileError):
        model_file.from_bytes(buf.getvalue())


def test_corrupted_data_fails_the_checksum(small_blob):
    (n,) = struct.unpack("<Q", small_blob[:8])
    blob = bytearray(small_blob)
    blob[8 + n + 5] ^= 0x40
    with pytest.raises(pydl.ModelFileError, match="checksum"):
        model_file.from_bytes(bytes(blob))


@pytest.mark.parametrize("change,match", [
    (lambda d: d["network"].update(layer_dims=[16, 12, 9, 3]), "theta"),
    (lambda d: d["network"].update(layer_dims=[16, -12, 8, 3]), "layer_dims"),
    (lambda d: d["network"].update(layer_dims="16"), "layer_dims"),
    (lambda d: d["network"].update(activations=["relu", "os.system", "softmax"]),
     "unknown activation"),
    (lambda d: d["network"].update(dtype="object"), "dtype"),
    (lambda d: d["network"].update(init="__import__"), "init"),
    (lambda d: d["network"].update(keep_probs=[0.5, 2.0, 1.0]), "keep_probs"),
    (lambda d: d["network"].update(train_seed=-1), "train_seed"),
    (lambda d: d["network"].pop("seed"), "expected the fields"),
    (lambda d: d["training"]["optimizer"].update(kind="builtins.eval"), "unknown optimizer"),
    (lambda d: d["training"]["optimizer"]["params"].update(beta1=1.5), "beta1"),
    (lambda d: d["training"]["optimizer"]["params"].update(code="x"), "code|numbers"),
    (lambda d: d["training"]["optimizer"].update(t=-3), "optimizer.t"),
    (lambda d: d["training"]["lr_schedule"].update(kind="Lambda"), "unknown lr_schedule"),
    (lambda d: d["training"].update(epochs_trained=2**70), "epochs_trained"),
    (lambda d: d["training"]["early_stopping"]["params"].update(patience=0), "patience"),
    (lambda d: d.update(extra=1), "expected the fields"),
], ids=["dims-vs-theta", "negative-dim", "dims-type", "activation", "dtype", "init",
        "keep_probs", "train_seed", "missing-field", "optimizer-kind", "optimizer-param",
        "optimizer-extra", "t", "schedule-kind", "epochs", "patience", "extra-field"])
def test_impossible_descriptions(small_blob, change, match):
    with pytest.raises(pydl.ModelFileError, match=match):
        model_file.from_bytes(rewrite_description(small_blob, change))


@pytest.mark.parametrize("change,match", [
    (lambda h: h["theta"].update(shape=[100]), "needs"),
    (lambda h: h["theta"].update(shape=[10**9]), "bad shape"),
    (lambda h: h["theta"].update(data_offsets=[0, 10**12]), "outside"),
    (lambda h: h["theta"].update(dtype="U8"), "unknown dtype"),
    (lambda h: h["theta"].update(shape=[1, 2, 3, 4]), "bad shape"),
    (lambda h: h.update(extra={"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}),
     "unexpected arrays"),
    (lambda h: h.pop("optimizer.v"), "tile|cover"),
    (lambda h: h["__metadata__"].update(format="numpy"), "format"),
    (lambda h: h["__metadata__"].update(format_version="0"), "format_version"),
    (lambda h: h["__metadata__"].update(format_version="1e3"), "format_version"),
], ids=["shape-vs-size", "huge-shape", "offsets", "dtype", "ndim", "extra-array", "missing-array",
        "magic", "version-0", "version-text"])
def test_impossible_headers(small_blob, change, match):
    with pytest.raises(pydl.ModelFileError, match=match):
        model_file.from_bytes(rewrite_header(small_blob, change))


def test_duplicate_keys_are_refused(small_blob):
    (n,) = struct.unpack("<Q", small_blob[:8])
    text = small_blob[8:8 + n].rstrip()
    dup = text[:-1] + b',"__metadata__":{}}'
    with pytest.raises(pydl.ModelFileError, match="duplicate"):
        model_file.from_bytes(struct.pack("<Q", len(dup)) + dup + small_blob[8 + n:])


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_theta_is_refused(small_blob, value):
    net = model_file.from_bytes(small_blob)
    theta = net.theta.copy()
    theta[3] = value
    with pytest.raises(pydl.ModelFileError, match="'theta' holds NaN or infinity"):
        model_file.from_bytes(rewrite_array(small_blob, "theta", theta.astype("<f4").tobytes()))


def test_load_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="path or a binary file-like"):
        pydl.load(3.5)
    with pytest.raises(TypeError, match="binary mode"):
        pydl.load(io.StringIO("text"))
    with pytest.raises(FileNotFoundError):
        pydl.load(tmp_path / "missing.pydl")
    with pytest.raises(TypeError, match="path or a binary file-like"):
        pydl.Network([2, 1]).save(3.5)


def test_safetensors_reads_the_arrays():
    """The layout is safetensors': its own reader opens a pydl file (the interop claim)."""
    st = pytest.importorskip("safetensors.numpy", reason="safetensors is in pydl[test]")
    net = trained_net("float32")
    arrays = st.load(model_file.to_bytes(net))
    np.testing.assert_array_equal(arrays["theta"], net.theta)
    np.testing.assert_array_equal(arrays["optimizer.s"], net.optimizer.s)
    np.testing.assert_array_equal(arrays["history.cost"], net.history.cost)
