"""Bad input: every wrong argument raises a clear ValueError or TypeError that names it,
leaves the network (parameters, epoch count, optimizer and its state) unchanged, and never
crashes the interpreter -- through the public API and at the Cython door (pydl._core).

Cases marked xfail(strict=True) are known library defects: the test states the behaviour
the library should have; when the library is fixed, the strict xfail turns into a failure
and the mark must be removed.
"""
import contextlib
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pydl
from pydl import (Adam, ExponentialDecay, GradientDescent, Momentum, Network, RMSprop,
                  Schedule, _core)

DTYPES = ["float32", "float64"]
N_X = 3
N_OUT = {"sigmoid": 1, "softmax": 3, "linear": 2}
M = 8  # examples in the test data


# ---- helpers -------------------------------------------------------------------------------

def make_data(output="sigmoid", m=M, seed=0):
    """(X, y) of float64 X (m, N_X) and valid targets for the output kind."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, N_X))
    if output == "sigmoid":
        y = np.arange(m) % 2
    elif output == "softmax":
        y = np.arange(m) % N_OUT["softmax"]
    else:
        y = rng.standard_normal((m, N_OUT["linear"]))
    return X, y


def trained(output="sigmoid", dtype="float32"):
    """A [3, 4, n_L] network already trained 2 epochs with Adam (so the optimizer has
    state: t > 0 and non-zero v, s), with its training data."""
    net = Network([N_X, 4, N_OUT[output]], output_activation=output, dtype=dtype, seed=0)
    X, y = make_data(output)
    net.fit(X, y, epochs=2, optimizer=Adam(0.01), batch_size=4)
    assert net.optimizer.t == 4 and net.epochs_trained == 2
    return net, X, y


def _bits(a):
    return None if a is None else (a.dtype.str, a.shape, a.tobytes())


def _state(net, optimizers):
    state = {"theta": _bits(net.theta), "theta's buffer": net.theta.ctypes.data,
             "epochs_trained": net.epochs_trained, "net.optimizer": id(net.optimizer),
             "net.lr_schedule": id(net.lr_schedule), "net.early_stopping": id(net.early_stopping),
             "net.history": repr(vars(net.history))}
    for i, o in enumerate(optimizers):
        for attr in ("t", "v", "s", "learning_rate", "_owner"):
            value = getattr(o, attr, None)
            value = id(value) if attr == "_owner" else value
            state[f"optimizer {i} ({type(o).__name__}).{attr}"] = \
                _bits(value) if isinstance(value, np.ndarray) else value
    return state


@contextlib.contextmanager
def unchanged(net, *optimizers):
    """Asserts that the block leaves `net` and the optimizers (the network's own and those
    given) bitwise as they were: theta (values and buffer), epochs_trained, which optimizer,
    schedule and early stopping the network holds, its history, and each optimizer's t, v,
    s, learning rate and owner."""
    opts = [net.optimizer] if net.optimizer is not None else []
    opts += [o for o in optimizers if all(o is not p for p in opts)]
    before = _state(net, opts)
    yield
    after = _state(net, opts)
    changed = [k for k in before if before[k] != after[k]]
    assert not changed, f"the failed call changed the network: {changed}"


def test_unchanged_detects_changes():
    """The helper is not vacuous: a successful step, fit or theta assignment is caught."""
    for change in (lambda net, X, y: net.fit(X, y, epochs=1),
                   lambda net, X, y: net.optimizer.step(net, net.gradients(X, y)),
                   lambda net, X, y: setattr(net, "theta", net.theta + 1),
                   lambda net, X, y: net.fit(X, y, epochs=0, optimizer=Adam(0.01))):
        net, X, y = trained()
        with pytest.raises(AssertionError, match="changed the network"):
            with unchanged(net):
                change(net, X, y)


METHODS = {
    "fit": lambda net, X, y: net.fit(X, y, epochs=1),
    "cost": lambda net, X, y: net.cost(X, y),
    "gradients": lambda net, X, y: net.gradients(X, y),
    "forward": lambda net, X, y: net.forward(X),
    "predict": lambda net, X, y: net.predict(X),
    "predict_proba": lambda net, X, y: net.predict_proba(X),
    "score": lambda net, X, y: net.score(X, y),
}
X_METHODS = list(METHODS)
Y_METHODS = ["fit", "cost", "gradients"]  # the methods that check the targets' values


# ---- Network(...): layer_dims, activations, init, dtype, ... --------------------------------

@pytest.mark.parametrize("dims", [[3], [], [3, 0], [3, -1], [0, 1], [3, 2.5], [3, 2.0],
                                  [3, True], [3, "2"], [3, 2**31]])
def test_layer_dims_invalid(dims):
    with pytest.raises(ValueError, match="layer_dims"):
        Network(dims)


@pytest.mark.parametrize("dims", [5, None, 3.0])
def test_layer_dims_not_a_sequence(dims):
    with pytest.raises(TypeError, match="layer_dims"):
        Network(dims)


@pytest.mark.parametrize("kwargs", [
    {"hidden_activation": "foo"},
    {"output_activation": "soft_max"},
    {"activations": ["relu", "Sigmoid"]},
    {"activations": ["swish", "sigmoid"]},
])
def test_unknown_activation(kwargs):
    with pytest.raises(ValueError, match="activation"):
        Network([N_X, 4, 1], **kwargs)


@pytest.mark.parametrize("kwargs", [
    {"hidden_activation": "softmax", "output_activation": "softmax"},
    {"activations": ["softmax", "sigmoid"]},
])
def test_softmax_as_hidden_layer(kwargs):
    with pytest.raises(ValueError, match="softmax.*activation|activation.*softmax"):
        Network([N_X, 4, 3], **kwargs)


@pytest.mark.parametrize("output", ["tanh", "relu", "leaky_relu"])
def test_output_activation_not_allowed(output):
    with pytest.raises(ValueError, match="output.activation"):
        Network([N_X, 4, 1], output_activation=output)
    with pytest.raises(ValueError, match="output.activation"):
        Network([N_X, 4, 1], activations=["relu", output])


@pytest.mark.parametrize("activations", [["sigmoid"], ["relu", "relu", "sigmoid"], []])
def test_wrong_number_of_activations(activations):
    with pytest.raises(ValueError, match="activations"):
        Network([N_X, 4, 1], activations=activations)


@pytest.mark.parametrize("kwargs", [
    pytest.param({"output_activation": ["sigmoid"]}),
    pytest.param({"activations": 5}),
])
def test_activation_of_wrong_type(kwargs):
    with pytest.raises(TypeError, match="activation"):
        Network([N_X, 4, 1], **kwargs)


def test_softmax_output_needs_two_units():
    with pytest.raises(ValueError, match="softmax"):
        Network([N_X, 1], output_activation="softmax")


@pytest.mark.parametrize("init", ["foo", "He", "glorot", None, ""])
def test_unknown_init(init):
    with pytest.raises(ValueError, match="init"):
        Network([N_X, 4, 1], init=init)


@pytest.mark.parametrize("dtype", [
    "int32", "float16", "complex128", np.int64, np.float16, bool,
    pytest.param("foo"),
    pytest.param("flaot32"),
])
def test_invalid_dtype(dtype):
    with pytest.raises(ValueError, match="dtype"):
        Network([N_X, 4, 1], dtype=dtype)


@pytest.mark.parametrize("n_threads", [0, 1.5, "2"])
def test_n_threads_invalid_in_constructor(n_threads):
    with pytest.raises((ValueError, TypeError), match="n_threads"):
        Network([N_X, 4, 1], n_threads=n_threads)


@pytest.mark.parametrize("name, value, exc", [
    ("leaky_slope", -0.1, ValueError), ("leaky_slope", math.nan, ValueError),
    ("leaky_slope", "x", TypeError),
    ("init_scale", 0.0, ValueError), ("init_scale", -1.0, ValueError),
    ("init_scale", math.inf, ValueError),
    ("seed", -1, ValueError), ("seed", 1.5, TypeError), ("seed", "0", TypeError),
])
def test_other_constructor_arguments(name, value, exc):
    with pytest.raises(exc, match=name):
        Network([N_X, 4, 1], **{name: value})


# ---- X ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", X_METHODS)
@pytest.mark.parametrize("n_features", [N_X - 1, N_X + 1])
def test_X_wrong_number_of_features(method, n_features):
    net, X, y = trained()
    bad = np.ones((M, n_features))
    with unchanged(net), pytest.raises(ValueError, match=r"\bX\b"):
        METHODS[method](net, bad, y)


@pytest.mark.parametrize("method", X_METHODS)
@pytest.mark.parametrize("shape", [(M * N_X,), (N_X,), (M, N_X, 1), (1, M, N_X), ()])
def test_X_wrong_ndim(method, shape):
    net, X, y = trained()
    bad = np.ones(shape)
    with unchanged(net), pytest.raises(ValueError, match=r"\bX\b"):
        METHODS[method](net, bad, y)


@pytest.mark.parametrize("method", X_METHODS)
def test_X_empty(method):
    net, X, y = trained()
    with unchanged(net), pytest.raises(ValueError, match=r"\bX\b"):
        METHODS[method](net, X[:0], y[:0])


@pytest.mark.parametrize("method", X_METHODS)
@pytest.mark.parametrize("kind", ["complex", "object", "str", "datetime"])
def test_X_dtype_not_real(method, kind):
    net, X, y = trained()
    bad = {
        "complex": X.astype(np.complex128),
        "object": X.astype(object),
        "str": X.astype(str),
        "datetime": np.zeros(X.shape, dtype="datetime64[s]"),
    }[kind]
    with unchanged(net), pytest.raises(TypeError, match=r"\bX\b"):
        METHODS[method](net, bad, y)


@pytest.mark.parametrize("method", ["fit", "cost", "forward"])
def test_X_ragged_list(method):
    net, X, y = trained()
    bad = [[1.0, 2.0, 3.0], [1.0, 2.0]] + X[2:].tolist()
    with unchanged(net), pytest.raises((ValueError, TypeError), match=r"\bX\b"):
        METHODS[method](net, bad, y)


@pytest.mark.parametrize("method", X_METHODS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("dtype", DTYPES)
def test_X_not_finite(method, value, dtype):
    net, X, y = trained(dtype=dtype)
    bad = X.astype(dtype)
    bad[3, 1] = value
    with unchanged(net), pytest.raises(ValueError, match=r"\bX\b"):
        METHODS[method](net, bad, y)


@pytest.mark.parametrize("method", ["fit", "forward"])
def test_X_overflows_float32(method):
    """1e39 is finite in float64 but not representable in a float32 network."""
    net, X, y = trained(dtype="float32")
    bad = X.copy()
    bad[0, 0] = 1e39
    with unchanged(net), pytest.raises(ValueError, match=r"\bX\b"):
        METHODS[method](net, bad, y)


# ---- y ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", Y_METHODS + ["score"])
@pytest.mark.parametrize("output", list(N_OUT))
@pytest.mark.parametrize("length", [M - 1, M + 1, 0])
def test_y_wrong_length(method, output, length):
    net, X, y = trained(output)
    bad = np.resize(y, (length,) + y.shape[1:])
    with unchanged(net), pytest.raises(ValueError, match=r"\by\b"):
        METHODS[method](net, X, bad)


@pytest.mark.parametrize("method", Y_METHODS)
@pytest.mark.parametrize("output", list(N_OUT))
def test_y_scalar(method, output):
    net, X, y = trained(output)
    with unchanged(net), pytest.raises(ValueError, match=r"\by\b"):
        METHODS[method](net, X, 1)


@pytest.mark.parametrize("method", Y_METHODS)
@pytest.mark.parametrize("output", ["sigmoid", "linear"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("dtype", DTYPES)
def test_y_not_finite(method, output, value, dtype):
    net, X, y = trained(output, dtype)
    bad = y.astype(np.float64)
    bad[2] = value
    with unchanged(net), pytest.raises(ValueError, match=r"\by\b"):
        METHODS[method](net, X, bad)


@pytest.mark.parametrize("method", Y_METHODS)
@pytest.mark.parametrize("label", [2, -1, 0.5])
def test_sigmoid_labels_not_0_or_1(method, label):
    net, X, y = trained("sigmoid")
    bad = y.astype(np.float64)
    bad[1] = label
    with unchanged(net), pytest.raises(ValueError, match=r"\by\b"):
        METHODS[method](net, X, bad)


@pytest.mark.parametrize("method", Y_METHODS)
@pytest.mark.parametrize("label", [-1, N_OUT["softmax"], 100, 2**31, -2**40])
def test_softmax_labels_out_of_range(method, label):
    net, X, y = trained("softmax")
    bad = y.astype(np.int64)
    bad[5] = label
    with unchanged(net), pytest.raises(ValueError, match=r"\by\b"):
        METHODS[method](net, X, bad)


@pytest.mark.parametrize("method", Y_METHODS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, bool])
def test_softmax_labels_not_integer(method, dtype):
    net, X, y = trained("softmax")
    with unchanged(net), pytest.raises(TypeError, match=r"\by\b"):
        METHODS[method](net, X, y.astype(dtype))


@pytest.mark.parametrize("method", Y_METHODS)
def test_softmax_labels_2d(method):
    net, X, y = trained("softmax")
    one_hot = np.eye(N_OUT["softmax"], dtype=np.int64)[y]
    with unchanged(net), pytest.raises(ValueError, match=r"\by\b"):
        METHODS[method](net, X, one_hot)
    with unchanged(net), pytest.raises(ValueError, match=r"\by\b"):
        METHODS[method](net, X, y.reshape(-1, 1))


@pytest.mark.parametrize("method", Y_METHODS)
@pytest.mark.parametrize("output", ["sigmoid", "linear"])
@pytest.mark.parametrize("kind", ["complex", "str", "object"])
def test_y_dtype_not_real(method, output, kind):
    net, X, y = trained(output)
    bad = y.astype({"complex": np.complex128, "str": str, "object": object}[kind])
    with unchanged(net), pytest.raises(TypeError, match=r"\by\b"):
        METHODS[method](net, X, bad)


@pytest.mark.parametrize("method", Y_METHODS)
def test_y_wrong_number_of_outputs(method):
    net, X, y = trained("linear")  # 2 outputs
    for bad in (y[:, :1], y[:, 0], np.hstack([y, y])):
        with unchanged(net), pytest.raises(ValueError, match=r"\by\b"):
            METHODS[method](net, X, bad)


@pytest.mark.parametrize("output, label", [("sigmoid", 2), ("softmax", 7)])
def test_score_labels_out_of_range(output, label):
    net, X, y = trained(output)
    bad = np.array(y)
    bad[0] = label
    with unchanged(net), pytest.raises(ValueError, match=r"\by\b"):
        net.score(X, bad)


# ---- fit's hyperparameters ----------------------------------------------------------------

@pytest.mark.parametrize("lr, exc", [(0, ValueError), (0.0, ValueError), (-0.1, ValueError),
                                     (math.nan, ValueError), (math.inf, ValueError),
                                     (-math.inf, ValueError), ("0.1", TypeError),
                                     (True, TypeError), ([0.1], TypeError)])
def test_fit_learning_rate_invalid(lr, exc):
    net, X, y = trained()
    with unchanged(net), pytest.raises(exc, match="learning_rate"):
        net.fit(X, y, epochs=1, learning_rate=lr)


def test_fit_learning_rate_and_optimizer():
    net, X, y = trained()
    opt = Adam(0.01)
    with unchanged(net, opt), pytest.raises(ValueError, match="learning_rate"):
        net.fit(X, y, epochs=1, learning_rate=0.1, optimizer=opt)


@pytest.mark.parametrize("epochs, exc", [(-1, ValueError), (2.5, TypeError),
                                         (3.0, TypeError), ("3", TypeError),
                                         (None, TypeError)])
def test_fit_epochs_invalid(epochs, exc):
    net, X, y = trained()
    with unchanged(net), pytest.raises(exc, match="epochs"):
        net.fit(X, y, epochs=epochs)


def test_fit_epochs_too_large():
    pytest.importorskip("resource")  # the child limits its memory: the failure is exhaustion
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("AddressSanitizer reserves terabytes of address space: the child's "
                    "RLIMIT_AS cannot hold")
    code = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))
        import numpy as np
        import pydl
        net = pydl.Network([3, 1], seed=0)
        try:
            net.fit(np.zeros((4, 3)), [0, 1, 0, 1], epochs=2**40, learning_rate=0.1)
        except Exception as exc:
            print(f"{type(exc).__name__}: {exc}")
        print("epochs_trained", net.epochs_trained)
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(pydl.__file__)))
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env, cwd=root)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("ValueError") and "epochs" in first, proc.stdout
    assert "epochs_trained 0" in proc.stdout


@pytest.mark.parametrize("batch_size, exc", [(0, ValueError), (-1, ValueError),
                                             (M + 1, ValueError), (2.5, TypeError),
                                             ("4", TypeError)])
def test_fit_batch_size_invalid(batch_size, exc):
    net, X, y = trained()
    with unchanged(net), pytest.raises(exc, match="batch_size"):
        net.fit(X, y, epochs=1, batch_size=batch_size)


@pytest.mark.parametrize("method", ["fit", "cost", "gradients"])
@pytest.mark.parametrize("name", ["l2", "l1"])
@pytest.mark.parametrize("value, exc", [(-0.1, ValueError), (math.nan, ValueError),
                                        (math.inf, ValueError), ("0.1", TypeError)])
def test_regularization_invalid(method, name, value, exc):
    net, X, y = trained()
    call = {"fit": lambda: net.fit(X, y, epochs=1, **{name: value}),
            "cost": lambda: net.cost(X, y, **{name: value}),
            "gradients": lambda: net.gradients(X, y, **{name: value})}[method]
    with unchanged(net), pytest.raises(exc, match=rf"\b{name}\b"):
        call()


@pytest.mark.parametrize("method", ["fit", "forward"])
@pytest.mark.parametrize("n_threads", [0, 1.5, "4"])
def test_n_threads_invalid_in_call(method, n_threads):
    net, X, y = trained()
    call = {"fit": lambda: net.fit(X, y, epochs=1, n_threads=n_threads),
            "forward": lambda: net.forward(X, n_threads=n_threads)}[method]
    with unchanged(net), pytest.raises((ValueError, TypeError), match="n_threads"):
        call()


@pytest.mark.parametrize("where", ["constructor", "fit", "forward"])
def test_n_threads_too_large(where):
    net, X, y = trained()
    if where == "constructor":
        with pytest.raises(ValueError, match="n_threads"):
            Network([N_X, 4, 1], n_threads=2**40)
        return
    opt = Adam(0.01)
    call = {"fit": lambda: net.fit(X, y, epochs=1, optimizer=opt, n_threads=2**40),
            "forward": lambda: net.forward(X, n_threads=2**40)}[where]
    with unchanged(net, opt), pytest.raises(ValueError, match="n_threads"):
        call()


@pytest.mark.parametrize("optimizer", ["adam", Adam, object(), 0.01, GradientDescent])
def test_fit_optimizer_wrong_type(optimizer):
    net, X, y = trained()
    with unchanged(net), pytest.raises(TypeError, match="optimizer"):
        net.fit(X, y, epochs=1, optimizer=optimizer)


@pytest.mark.parametrize("schedule", [0.9, "exponential", ExponentialDecay,
                                      lambda lr, epoch: lr])
def test_fit_lr_schedule_wrong_type(schedule):
    net, X, y = trained()
    with unchanged(net), pytest.raises(TypeError, match="lr_schedule"):
        net.fit(X, y, epochs=1, lr_schedule=schedule)


class _NegativeRate(Schedule):
    def learning_rate(self, lr0, epoch):
        return -lr0


@pytest.mark.parametrize("how", ["optimizer_attribute", "schedule"])
def test_fit_non_positive_rate_from_optimizer_or_schedule(how):
    net, X, y = trained()
    opt = Momentum(0.1)
    kwargs = {"optimizer": opt}
    if how == "optimizer_attribute":
        opt.learning_rate = 0.0
    else:
        kwargs["lr_schedule"] = _NegativeRate()
    with unchanged(net, opt), pytest.raises(ValueError, match="learning.rate"):
        net.fit(X, y, epochs=2, **kwargs)


# ---- optimizers -----------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [GradientDescent, Momentum, RMSprop, Adam])
@pytest.mark.parametrize("lr, exc", [(0.0, ValueError), (-1e-3, ValueError),
                                     (math.nan, ValueError), (math.inf, ValueError),
                                     (None, TypeError), ("0.1", TypeError)])
def test_optimizer_learning_rate_invalid(cls, lr, exc):
    with pytest.raises(exc, match="learning_rate"):
        cls(lr)


@pytest.mark.parametrize("cls, name, value", [
    (Momentum, "beta", 1.0), (Momentum, "beta", -0.1), (Momentum, "beta", math.nan),
    (RMSprop, "beta", 1.0), (RMSprop, "beta", -0.1),
    (RMSprop, "epsilon", 0.0), (RMSprop, "epsilon", -1e-8),
    (Adam, "beta1", 1.0), (Adam, "beta1", -0.1), (Adam, "beta2", 1.0), (Adam, "beta2", 1.5),
    (Adam, "epsilon", 0.0), (Adam, "epsilon", -1e-8), (Adam, "epsilon", math.inf),
])
def test_optimizer_hyperparameter_invalid(cls, name, value):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        cls(0.01, **{name: value})


@pytest.mark.parametrize("how", ["fit", "step"])
def test_optimizer_reused_for_second_network(how):
    net1, X, y = trained()
    opt = net1.optimizer
    net2 = Network([N_X, 4, 1], seed=1)
    grads = net2.gradients(X, y)
    with unchanged(net1), unchanged(net2, opt), pytest.raises(ValueError, match="optimizer"):
        if how == "fit":
            net2.fit(X, y, epochs=1, optimizer=opt)
        else:
            opt.step(net2, grads)
    assert net2.optimizer is None


def test_optimizer_reused_for_network_of_other_shape():
    net1, X, y = trained()
    opt = net1.optimizer
    net2 = Network([N_X, 7, 1], seed=1)
    with unchanged(net1), unchanged(net2, opt), pytest.raises(ValueError, match="optimizer"):
        net2.fit(X, y, epochs=1, optimizer=opt)


def _grads(net, X, y):
    return {k: v.copy() for k, v in net.gradients(X, y).items()}


@pytest.mark.parametrize("key", ["dW1", "db1", "dW2", "db2"])
def test_step_missing_key(key):
    net, X, y = trained()
    opt = net.optimizer
    grads = _grads(net, X, y)
    del grads[key]
    with unchanged(net, opt), pytest.raises(ValueError, match="grads"):
        opt.step(net, grads)


@pytest.mark.parametrize("key, shape", [("dW1", (3, 4)), ("dW1", (4, 3, 1)), ("db1", (4,)),
                                        ("db2", (1, 2)), ("dW2", (4,)), ("dW2", ())])
def test_step_wrong_shape(key, shape):
    net, X, y = trained()
    opt = net.optimizer
    grads = _grads(net, X, y)
    grads[key] = np.zeros(shape)
    with unchanged(net, opt), pytest.raises(ValueError, match="grads"):
        opt.step(net, grads)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("dtype", DTYPES)
def test_step_nonfinite_gradient(value, dtype):
    net, X, y = trained(dtype=dtype)
    opt = net.optimizer
    grads = _grads(net, X, y)
    grads["dW2"][0, 1] = value
    with unchanged(net, opt), pytest.raises(ValueError, match="grads"):
        opt.step(net, grads)


@pytest.mark.parametrize("kind", ["complex", "str"])
def test_step_gradient_dtype_not_real(kind):
    net, X, y = trained()
    opt = net.optimizer
    grads = _grads(net, X, y)
    grads["dW1"] = grads["dW1"].astype(np.complex128) + 1j if kind == "complex" \
        else grads["dW1"].astype(str)
    with unchanged(net, opt), pytest.raises(TypeError, match="grads"):
        opt.step(net, grads)


def test_step_grads_not_a_mapping():
    net, X, y = trained()
    opt = net.optimizer
    with unchanged(net, opt), pytest.raises(TypeError, match="grads"):
        opt.step(net, None)


@pytest.mark.parametrize("how", ["learning_rate", "n_threads"])
def test_step_invalid_rate_or_threads_leaves_fresh_optimizer_unbound(how):
    net, X, y = trained()
    grads = _grads(net, X, y)
    opt = Adam(0.01)
    kwargs = {}
    if how == "learning_rate":
        opt.learning_rate = 0.0
    else:
        kwargs["n_threads"] = 0
    with unchanged(net, opt), pytest.raises(ValueError, match=how.replace("_", ".")):
        opt.step(net, grads, **kwargs)
    assert opt.v is None and opt.s is None


@pytest.mark.parametrize("how", ["learning_rate", "n_threads"])
def test_step_invalid_rate_or_threads_on_bound_optimizer(how):
    net, X, y = trained()
    grads = _grads(net, X, y)
    opt = net.optimizer
    kwargs = {}
    if how == "learning_rate":
        opt.learning_rate = -0.5
    else:
        kwargs["n_threads"] = 0
    with unchanged(net, opt), pytest.raises(ValueError, match=how.replace("_", ".")):
        opt.step(net, grads, **kwargs)


# ---- the theta setter -------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["short", "long", "2d", "scalar", "none"])
def test_theta_wrong_shape(shape):
    net, X, y = trained()
    P = net.theta.shape[0]
    value = {"short": np.zeros(P - 1), "long": np.zeros(P + 1), "2d": np.zeros((1, P)),
             "scalar": np.float64(1.0), "none": None}[shape]
    with unchanged(net), pytest.raises(ValueError, match="theta"):
        net.theta = value


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("dtype", DTYPES)
def test_theta_not_finite(value, dtype):
    net, X, y = trained(dtype=dtype)
    new = np.zeros(net.theta.shape)
    new[-1] = value
    with unchanged(net), pytest.raises(ValueError, match="theta"):
        net.theta = new


@pytest.mark.parametrize("kind", ["complex", "str", "object"])
def test_theta_dtype_not_real(kind):
    net, X, y = trained()
    new = net.theta.astype({"complex": np.complex128, "str": str, "object": object}[kind])
    with unchanged(net), pytest.raises((ValueError, TypeError), match="theta"):
        net.theta = new


def test_theta_overflows_float32():
    net, X, y = trained(dtype="float32")
    new = net.theta.astype(np.float64)
    new[0] = 1e39
    with unchanged(net), pytest.raises(ValueError, match="theta"):
        net.theta = new


# ---- the Cython door (pydl._core) ------------------------------------------------------------

class Door:
    """Valid arguments for _core.forward / cost_grad / train / update, built the way
    Network.forward and Network.fit build them; `kw(**over)` gives train's, overridden."""

    def __init__(self, output="sigmoid", dtype="float32", m=6):
        net = Network([N_X, 4, N_OUT[output]], output_activation=output, dtype=dtype, seed=0)
        X, y = make_data(output, m=m)
        self.net, self.m, self.dtype = net, m, np.dtype(dtype)
        self.arch = net._arch
        self.theta = net.theta.copy()
        self.X = np.ascontiguousarray(X, dtype=dtype)
        if output == "softmax":
            self.Y, self.labels = None, np.ascontiguousarray(y, dtype=np.int32)
        else:
            self.Y = np.ascontiguousarray(np.reshape(y, (m, -1)), dtype=dtype)
            self.labels = None
        self.out = np.empty((m, N_OUT[output]), dtype=dtype)
        self.grad = np.empty_like(self.theta)
        self.work = self.arch.workspace(dtype, m)
        P = self.theta.shape[0]
        self.v = np.zeros(P, dtype=dtype)
        self.s = np.zeros(P, dtype=dtype)

    def forward(self, **over):
        a = dict(arch=self.arch, theta=self.theta, X=self.X, out=self.out, work=self.work,
                 n_threads=1)
        a.update(over)
        return _core.forward(a["arch"], a["theta"], a["X"], a["out"], a["work"], a["n_threads"])

    def cost_grad(self, **over):
        a = dict(arch=self.arch, theta=self.theta, X=self.X, Y=self.Y, labels=self.labels,
                 l2=0.0, l1=0.0, grad=self.grad, work=self.work, n_threads=1)
        a.update(over)
        return _core.cost_grad(a["arch"], a["theta"], a["X"], a["Y"], a["labels"], a["l2"],
                               a["l1"], a["grad"], a["work"], a["n_threads"],
                               products=a.get("products"))

    def propagate(self, **over):
        a = dict(arch=self.arch, theta=self.theta, X=self.X, Y=self.Y, labels=self.labels,
                 dA=None, keep=None, masks=None, l2=0.0, l1=0.0, out=self.out, grad=self.grad,
                 work=self.work, n_threads=1)
        a.update(over)
        return _core.propagate(*a.values())

    def train(self, **over):
        a = dict(arch=self.arch, theta=self.theta, v=self.v, s=self.s, X=self.X, Y=self.Y,
                 labels=self.labels, optimizer="adam", beta1=0.9, beta2=0.999, epsilon=1e-8,
                 progress=np.array([0, 0], dtype=np.int64), lrs=np.full(2, 0.01),
                 costs=np.empty(2), epoch0=0, batch_size=self.m, shuffle=True, seed=1,
                 l2=0.0, l1=0.0, lr_step_k=0.0, n_threads=1, work=self.work,
                 perm=np.empty(self.m, dtype=np.int32))
        a.update(over)
        pos = [a.pop(k) for k in ("arch", "theta", "v", "s", "X", "Y", "labels")]
        return _core.train(*pos, **a)

    def update(self, **over):
        a = dict(kind="adam", beta1=0.9, beta2=0.999, epsilon=1e-8, t=1, lr=0.01,
                 theta=self.theta, grad=np.ones_like(self.theta), v=self.v, s=self.s,
                 n_threads=1)
        a.update(over)
        return _core.update(*a.values())

    def snapshot(self):
        return [_bits(a) for a in (self.theta, self.v, self.s)]


def test_door_valid_calls_work():
    """The Door's arguments are valid: the bad-input tests below each change one."""
    for output in N_OUT:
        for dtype in DTYPES:
            d = Door(output, dtype)
            d.forward()
            assert np.isfinite(d.cost_grad())
            d.train()
            d.update()


DOOR_CALLS = ["forward", "cost_grad", "train"]


@pytest.mark.parametrize("call", DOOR_CALLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_door_non_contiguous_X(call, dtype):
    d = Door(dtype=dtype)
    wide = np.zeros((d.m, 2 * N_X), dtype=dtype)
    wide[:, ::2] = d.X
    X = wide[:, ::2]
    assert X.shape == d.X.shape and not X.flags.c_contiguous
    before = d.snapshot()
    with pytest.raises(ValueError, match=r"\bX\b.*contiguous"):
        getattr(d, call)(X=X)
    assert d.snapshot() == before


@pytest.mark.parametrize("call", DOOR_CALLS)
def test_door_fortran_order_X(call):
    d = Door()
    with pytest.raises(ValueError, match=r"\bX\b.*contiguous"):
        getattr(d, call)(X=np.asfortranarray(d.X))


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("call, name", [
    ("forward", "out"), ("forward", "work"),
    ("cost_grad", "grad"), ("cost_grad", "work"),
    ("train", "theta"), ("train", "v"), ("train", "s"), ("train", "work"),
    ("train", "progress"), ("train", "costs"), ("train", "perm"),
    ("update", "theta"), ("update", "v"), ("update", "s"),
])
def test_door_read_only_output(call, name):
    d = Door()
    if name in ("progress", "costs", "perm"):
        value = {"progress": np.zeros(2, np.int64), "costs": np.empty(2),
                 "perm": np.empty(d.m, np.int32)}[name]
    else:
        value = getattr(d, name)
    ro = _read_only(value)
    before = d.snapshot()
    with pytest.raises(ValueError, match=rf"\b{name}\b.*writ"):
        getattr(d, call)(**{name: ro})
    assert d.snapshot() == before
    if name == "theta":
        assert _bits(ro) == _bits(value)


@pytest.mark.parametrize("call", DOOR_CALLS)
@pytest.mark.parametrize("theta_dtype, x_dtype", [("float64", "float32"),
                                                  ("float32", "float64")])
def test_door_dtype_mismatch(call, theta_dtype, x_dtype):
    d = Door(dtype=x_dtype)
    theta = d.theta.astype(theta_dtype)
    before = _bits(theta)
    with pytest.raises(TypeError, match=r"\bX\b"):
        getattr(d, call)(theta=theta)
    assert _bits(theta) == before


@pytest.mark.parametrize("call, name", [("forward", "out"), ("forward", "work"),
                                        ("cost_grad", "grad"), ("cost_grad", "Y"),
                                        ("train", "v"), ("update", "grad")])
def test_door_other_array_dtype_mismatch(call, name):
    d = Door(dtype="float32")
    before = d.snapshot()
    with pytest.raises(TypeError, match=rf"\b{name}\b"):
        # zeros of the wrong dtype (casting `work`, uninitialized memory, could warn)
        getattr(d, call)(**{name: np.zeros_like(getattr(d, name if name != "grad" else "theta"),
                                                dtype=np.float64)})
    assert d.snapshot() == before


@pytest.mark.parametrize("call", DOOR_CALLS)
@pytest.mark.parametrize("theta", ["int", "float16", "list"])
def test_door_theta_not_float(call, theta):
    d = Door()
    value = {"int": d.theta.astype(np.int32), "float16": d.theta.astype(np.float16),
             "list": d.theta.tolist()}[theta]
    with pytest.raises(TypeError, match="theta"):
        getattr(d, call)(theta=value)


@pytest.mark.parametrize("call", DOOR_CALLS)
def test_door_theta_wrong_shape(call):
    d = Door()
    with pytest.raises(ValueError, match="theta"):
        getattr(d, call)(theta=np.zeros(d.theta.shape[0] + 1, d.dtype))
    with pytest.raises(ValueError, match="theta"):
        getattr(d, call)(theta=d.theta.reshape(1, -1))


@pytest.mark.parametrize("call", DOOR_CALLS)
@pytest.mark.parametrize("short_by", [1, "one_row_less", "all"])
def test_door_work_too_small(call, short_by):
    d = Door()
    if short_by == 1:
        work = d.work[:-1].copy()
    elif short_by == "one_row_less":
        work = d.arch.workspace(d.dtype, d.m - 1)
    else:
        work = np.empty(0, d.dtype)
    before = d.snapshot()
    with pytest.raises(ValueError, match=r"\bwork\b"):
        getattr(d, call)(work=work)
    assert d.snapshot() == before


@pytest.mark.parametrize("call", ["cost_grad", "train"])
@pytest.mark.parametrize("dtype", [np.int64, np.int16, np.uint32, np.float32])
def test_door_labels_wrong_dtype(call, dtype):
    d = Door("softmax")
    before = d.snapshot()
    with pytest.raises(TypeError, match=r"\blabels\b"):
        getattr(d, call)(labels=d.labels.astype(dtype))
    assert d.snapshot() == before


@pytest.mark.parametrize("call", ["cost_grad", "train"])
@pytest.mark.parametrize("label", [-1, N_OUT["softmax"], 2**31 - 1, -2**31])
@pytest.mark.parametrize("where", [0, -1])
def test_door_labels_out_of_range(call, label, where):
    d = Door("softmax")
    labels = d.labels.copy()
    labels[where] = label
    before = d.snapshot()
    with pytest.raises(ValueError, match=r"\blabels\b"):
        getattr(d, call)(labels=labels)
    assert d.snapshot() == before


@pytest.mark.parametrize("call", ["cost_grad", "train"])
def test_door_labels_wrong_shape_or_layout(call):
    d = Door("softmax")
    for labels in (d.labels[:-1].copy(), d.labels.reshape(-1, 1),
                   np.repeat(d.labels, 2)[::2]):
        with pytest.raises(ValueError, match=r"\blabels\b"):
            getattr(d, call)(labels=labels)


@pytest.mark.parametrize("call", ["cost_grad", "propagate", "train"])
def test_door_unknown_product_path(call):
    """products= names the path a call runs: only one this CPU and build run is taken."""
    d = Door()
    for products in ["nope", 1] + [p for p in _core.FLOAT_PRODUCTS
                                   if p not in _core.runnable_float_products()]:
        before = d.snapshot()
        with pytest.raises(ValueError, match="products must be None or one of"):
            getattr(d, call)(products=products)
        assert d.snapshot() == before
    for products in _core.runnable_float_products():
        getattr(d, call)(products=products)


@pytest.mark.parametrize("call", ["cost_grad", "train"])
def test_door_targets_missing(call):
    with pytest.raises(TypeError, match=r"\blabels\b"):
        getattr(Door("softmax"), call)(labels=None)
    with pytest.raises(TypeError, match=r"\bY\b"):
        getattr(Door("sigmoid"), call)(Y=None)


@pytest.mark.parametrize("dtype", [np.int32, np.float64, np.uint64])
def test_door_progress_wrong_dtype(dtype):
    d = Door()
    before = d.snapshot()
    with pytest.raises(TypeError, match=r"\bprogress\b"):
        d.train(progress=np.zeros(2, dtype=dtype))
    assert d.snapshot() == before


def test_door_progress_wrong_shape():
    d = Door()
    with pytest.raises(ValueError, match=r"\bprogress\b"):
        d.train(progress=np.zeros(3, np.int64))


@pytest.mark.parametrize("call", DOOR_CALLS)
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_door_X_not_finite(call, value):
    d = Door()
    X = d.X.copy()
    X[-1, -1] = value
    before = d.snapshot()
    with pytest.raises(ValueError, match=r"\bX\b"):
        getattr(d, call)(X=X)
    assert d.snapshot() == before


@pytest.mark.parametrize("call", ["cost_grad", "train"])
def test_door_Y_not_finite(call):
    d = Door("linear")
    Y = d.Y.copy()
    Y[0, 0] = math.nan
    with pytest.raises(ValueError, match=r"\bY\b"):
        getattr(d, call)(Y=Y)


@pytest.mark.parametrize("call", DOOR_CALLS)
def test_door_X_empty(call):
    d = Door()
    over = {"X": d.X[:0], "out": d.out[:0]} if call == "forward" else {"X": d.X[:0]}
    with pytest.raises(ValueError, match=r"\bX\b"):
        getattr(d, call)(**over)


@pytest.mark.parametrize("call, X", [
    pytest.param("forward", "list"),
    pytest.param("forward", "none"),
    pytest.param("cost_grad", "list"),
    ("train", "list"),
    ("train", "none"),
])
def test_door_X_not_an_array(call, X):
    d = Door()
    value = d.X.tolist() if X == "list" else None
    with pytest.raises(TypeError, match=r"\bX\b"):
        getattr(d, call)(X=value)


@pytest.mark.parametrize("call", DOOR_CALLS)
def test_door_arch_none(call):
    with pytest.raises(TypeError, match="arch"):
        getattr(Door(), call)(arch=None)


@pytest.mark.parametrize("batch_size", [0, -1, 7])
def test_door_train_batch_size_out_of_range(batch_size):
    d = Door()
    work = d.arch.workspace(d.dtype, d.m + 1)  # large enough for any batch_size here
    before = d.snapshot()
    with pytest.raises(ValueError, match="batch_size"):
        d.train(batch_size=batch_size, work=work)
    assert d.snapshot() == before


@pytest.mark.parametrize("over, match", [
    ({"optimizer": "sgd"}, "optimizer"),
    ({"beta1": 1.0}, "beta1"), ({"beta2": -0.1}, "beta2"),
    ({"epsilon": 0.0}, "epsilon"), ({"epsilon": math.nan}, "epsilon"),
    ({"l2": -1.0}, "l2"), ({"l1": math.nan}, "l1"),
    ({"lr_step_k": -1.0}, "lr_step_k"),
    ({"n_threads": 0}, "n_threads"),
    ({"lrs": np.array([0.01, 0.0])}, "learning rate"),
    ({"lrs": np.array([0.01, math.nan])}, "learning rate"),
    ({"costs": np.empty(1)}, "costs"),
    ({"perm": np.empty(5, np.int32)}, "perm"),
    ({"progress": np.array([-1, 0], np.int64)}, r"\bt\b"),
    ({"v": np.zeros(3, np.float32)}, r"\bv\b"),
    ({"s": None}, r"\bs\b"),
])
def test_door_train_other_arguments(over, match):
    d = Door()
    before = d.snapshot()
    with pytest.raises((ValueError, TypeError), match=match):
        d.train(**over)
    assert d.snapshot() == before


def _update_arg(d, name, what):
    base = d.v if name == "v" else d.theta
    return {"nan": lambda: np.full_like(base, math.nan),
            "inf": lambda: np.full_like(base, math.inf),
            "short": lambda: base[:-1].copy(), "list": base.tolist,
            "2d": lambda: base.reshape(1, -1), "int": lambda: base.astype(np.int32)}[what]()


@pytest.mark.parametrize("name, value, exc, match", [
    ("grad", "nan", ValueError, "grad"),
    ("grad", "inf", ValueError, "grad"),
    ("grad", "short", ValueError, "grad"),
    ("grad", "list", TypeError, "grad"),
    ("v", "short", ValueError, r"\bv\b"),
    ("s", None, TypeError, r"\bs\b"),
    ("theta", "2d", ValueError, "theta"),
    ("theta", "int", TypeError, "theta"),
    ("lr", 0.0, ValueError, "learning_rate"),
    ("lr", math.inf, ValueError, "learning_rate"),
    ("t", 0, ValueError, r"\bt\b"),
    ("kind", "sgd", ValueError, "optimizer"),
    ("beta1", 1.0, ValueError, "beta1"),
    ("epsilon", 0.0, ValueError, "epsilon"),
])
def test_door_update_bad_arguments(name, value, exc, match):
    d = Door()
    if name in ("grad", "v", "theta"):
        value = _update_arg(d, name, value)
    before = d.snapshot()
    with pytest.raises(exc, match=match):
        d.update(**{name: value})
    assert d.snapshot() == before


@pytest.mark.parametrize("dims, activations, match", [
    ([3], [], "layer_dims"), ([3, 0], ["sigmoid"], "layer_dims"),
    ([3, 1], ["sigmoid", "sigmoid"], "activations"), ([3, 1], ["tanh"], "output.activation"),
    ([3, 1], ["nope"], "activation"),
])
def test_door_architecture_invalid(dims, activations, match):
    with pytest.raises(ValueError, match=match):
        _core.Architecture(dims, activations)


def test_door_architecture_leaky_slope_invalid():
    with pytest.raises(ValueError, match="leaky_slope"):
        _core.Architecture([3, 1], ["sigmoid"], math.nan)
    with pytest.raises(ValueError, match="leaky_slope"):
        _core.Architecture([3, 1], ["sigmoid"], -1.0)


@pytest.mark.parametrize("value, kwargs, exc, match", [
    ([1.0, 2.0], {}, TypeError, "numpy.ndarray"),
    (np.zeros(3, np.float64), {}, TypeError, "float32"),
    (np.zeros((3, 1), np.float32), {}, ValueError, "shape"),
    (np.zeros(4, np.float32), {}, ValueError, "shape"),
    (np.zeros(6, np.float32)[::2], {}, ValueError, "contiguous"),
    (_read_only(np.zeros(3, np.float32)), {"writable": True}, ValueError, "writable"),
])
def test_check_array(value, kwargs, exc, match):
    with pytest.raises(exc, match=rf"^my_arg\b.*{match}"):
        _core.check_array(value, "my_arg", np.float32, (3,), **kwargs)
    _core.check_array(np.zeros(3, np.float32), "my_arg", np.float32, (None,), writable=True)


# ---- one table of parameter constraints, one message each ------------------------------------

_X4, _y4 = np.zeros((4, 3)), np.array([0, 1, 0, 1])
# key of pydl._checks.PARAMETERS -> (a value outside its range, a public call that takes it)
_PUBLIC_USES = {
    "learning_rate": (0.0, lambda v: Adam(v)),
    "beta": (1.0, lambda v: pydl.Momentum(0.1, beta=v)),
    "beta1": (1.0, lambda v: Adam(beta1=v)),
    "beta2": (-0.1, lambda v: Adam(beta2=v)),
    "epsilon": (0.0, lambda v: pydl.RMSprop(0.1, epsilon=v)),
    "decay_rate": (-1.0, lambda v: pydl.InverseDecay(v)),
    "time_interval": (0, lambda v: pydl.StaircaseDecay(0.1, time_interval=v)),
    "rate": (0.0, lambda v: pydl.ExponentialDecay(v)),
    "k": (0.0, lambda v: pydl.SqrtStepDecay(v)),
    "patience": (0, lambda v: pydl.EarlyStopping(patience=v)),
    "min_delta": (-1.0, lambda v: pydl.EarlyStopping(min_delta=v)),
    "every": (0, lambda v: pydl.Checkpoint("x.pydl", every=v)),
    "leaky_slope": (-0.5, lambda v: Network([3, 1], leaky_slope=v)),
    "init_scale": (0.0, lambda v: Network([3, 1], init_scale=v)),
    "l2": (-1.0, lambda v: Network([3, 1]).cost(_X4, _y4, l2=v)),
    "l1": (float("nan"), lambda v: Network([3, 1]).gradients(_X4, _y4, l1=v)),
    "epochs": (-1, lambda v: Network([3, 1]).fit(_X4, _y4, epochs=v)),
    "Normalizer.epsilon": (-1.0, lambda v: pydl.Normalizer(epsilon=v)),
    "gradient_check.epsilon": (2.0, lambda v: pydl.gradient_check(Network([3, 1]), _X4, _y4,
                                                                  epsilon=v)),
    "train_error": (1.5, lambda v: pydl.diagnose(train_error=v, dev_error=0.1)),
    "n_trials": (0, lambda v: pydl.search.random_search(
        lambda p: None, {"a": 1}, (_X4, _y4), (_X4, _y4), n_trials=v)),
    "top": (0.0, lambda v: pydl.search.random_search(
        lambda p: None, {"a": 1}, (_X4, _y4), (_X4, _y4), top=v)),
}


@pytest.mark.parametrize("key", sorted(_PUBLIC_USES))
def test_each_constraint_has_one_message(key):
    """Where a parameter enters the public API, the error is the table's own."""
    from pydl._checks import check_param

    bad, call = _PUBLIC_USES[key]
    with pytest.raises(ValueError) as expected:
        check_param(key, bad)
    with pytest.raises(ValueError) as got:
        call(bad)
    assert str(got.value) == str(expected.value)
