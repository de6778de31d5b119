"""pydl.gradcheck.gradient_check: agreement with the oracle's gradient check, the course's
verdicts, locating a wrong backward pass, float32 networks checked on a float64 copy, the
sampled and directional variants, dropout's note, and bad input."""
import numpy as np
import pytest

import pydl
import reference as R
from conftest import HIDDEN, OUTPUTS, make_targets, ref_params, ref_targets
from pydl.gradcheck import GradientCheck, gradient_check

DIMS = [4, 6, 5, 3]


def make_problem(rng, hidden="tanh", output="sigmoid", dims=DIMS, dtype="float64", m=15,
                 seed=0):
    net = pydl.Network(dims, hidden_activation=hidden, output_activation=output, dtype=dtype,
                       seed=seed)
    # nonzero biases: with b = 0 an example whose relu units are all off gives the next layer
    # z = b = 0 exactly, a kink that the two-sided difference straddles (a false alarm)
    net.set_parameters({name: rng.normal(0.0, 0.1, p.shape)
                        for name, p in net.parameters.items() if name.startswith("b")})
    X = rng.standard_normal((m, dims[0]))
    y = make_targets(rng, m, dims[-1], output)
    return net, X, y


def wrong_backward(net, monkeypatch, key, factor=1.01):
    """Make `net.gradients` (this object only) return `key` scaled by `factor`."""
    original = net.gradients

    def gradients(X, y, l2=0.0, l1=0.0):
        grads = dict(original(X, y, l2=l2, l1=l1))
        grads[key] = grads[key] * factor
        return grads

    monkeypatch.setattr(net, "gradients", gradients)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_matches_the_oracle(rng, hidden, output):
    net, X, y = make_problem(rng, hidden, output)
    # eps 1e-5: the oracle's cost (log(1 - a) taken literally) carries ~1e-13 of rounding
    # when a sigmoid saturates, which a smaller step would magnify beyond 1e-7
    eps, l2, l1 = 1e-5, 0.3, 0.1
    check = gradient_check(net, X, y, eps, l2=l2, l1=l1)
    d_ref, approx_ref, grad_ref = R.gradient_check(
        ref_params(net), X.T, ref_targets(y, output), net.activations, output, eps, l2, l1,
        net.leaky_slope)
    scale = np.abs(approx_ref).max()
    np.testing.assert_allclose(check.grad_approx, approx_ref, rtol=1e-7, atol=1e-7 * scale)
    np.testing.assert_allclose(check.grad, grad_ref, rtol=1e-10,
                               atol=1e-10 * np.abs(grad_ref).max())
    # the course's formula on the two vectors
    a, g = check.grad_approx, check.grad
    expected = np.linalg.norm(a - g) / (np.linalg.norm(a) + np.linalg.norm(g))
    assert check.difference == pytest.approx(expected, rel=1e-12)
    # both differences are truncation error plus rounding noise: pydl's is never an order of
    # magnitude above the oracle's (it can be far below: the oracle's saturated log(1 - a)
    # is noisier than pydl's cost)
    assert check.difference < 10 * d_ref and d_ref < 1e-7
    assert check.verdict == "great"
    assert check.method == "full"
    np.testing.assert_array_equal(check.indices, np.arange(net.theta.size))


@pytest.mark.parametrize("hidden,output", [("relu", "sigmoid"), ("leaky_relu", "softmax"),
                                          ("tanh", "linear"), ("sigmoid", "sigmoid")])
def test_correct_network_is_great_at_the_default_epsilon(rng, hidden, output):
    net, X, y = make_problem(rng, hidden, output)
    check = gradient_check(net, X, y, l2=0.5)
    assert isinstance(check, GradientCheck)
    assert check.verdict == "great" and check.difference < 1e-7
    assert list(check.per_parameter) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    # a block with small gradients (b1 behind sigmoid units) is relatively noisier
    assert max(check.per_parameter.values()) < 1e-6
    assert check.note == ""
    assert check.grad.shape == check.grad_approx.shape == net.theta.shape
    assert check.grad.dtype == check.grad_approx.dtype == np.float64
    assert "great" in str(check)


def test_flattened_in_theta_order(rng):
    net, X, y = make_problem(rng)
    check = gradient_check(net, X, y)
    grads = net.gradients(X, y)
    expected = np.concatenate([grads[f"d{k}"].ravel() for k in net.parameters])
    np.testing.assert_array_equal(check.grad, expected)


@pytest.mark.parametrize("key", ["dW2", "db1", "dW3"])
def test_wrong_backward_in_one_layer_is_located(rng, monkeypatch, key):
    net, X, y = make_problem(rng)
    wrong_backward(net, monkeypatch, key)
    check = gradient_check(net, X, y)
    assert check.verdict == "likely bug" and check.difference > 1e-5
    name = key[1:]
    worst = max(check.per_parameter, key=check.per_parameter.get)
    assert worst == name and check.per_parameter[name] > 1e-5
    assert all(d < 1e-6 for k, d in check.per_parameter.items() if k != name)


def test_forgotten_regularization_is_a_bug(rng, monkeypatch):
    """Course note 3: remember regularization (backprop without the l2 term fails)."""
    net, X, y = make_problem(rng)
    original = net.gradients
    monkeypatch.setattr(net, "gradients", lambda X, y, l2=0.0, l1=0.0: original(X, y))
    assert gradient_check(net, X, y).verdict == "great"
    assert gradient_check(net, X, y, l2=0.7).verdict == "likely bug"


def test_float32_network_checked_on_a_float64_copy_and_left_unchanged(rng):
    net, X, y = make_problem(rng, "relu", "softmax", dtype="float32")
    X = X.astype(np.float32)
    before = net.theta.copy()
    W1 = net.parameters["W1"]
    check = gradient_check(net, X, y, l2=0.2)
    assert check.verdict == "great"
    assert net.dtype == np.float32 and net.theta.dtype == np.float32
    assert net.theta.tobytes() == before.tobytes()
    assert np.shares_memory(W1, net.theta)                  # views still valid
    copy = pydl.Network(net.layer_dims, activations=net.activations, dtype="float64",
                        leaky_slope=net.leaky_slope)
    copy.theta = net.theta.astype(np.float64)
    same = gradient_check(copy, X, y, l2=0.2)
    np.testing.assert_array_equal(check.grad, same.grad)
    np.testing.assert_array_equal(check.grad_approx, same.grad_approx)
    assert check.difference == same.difference


def test_float64_network_restored_bit_for_bit(rng):
    net, X, y = make_problem(rng, "leaky_relu", "linear")
    before = net.theta.copy()
    gradient_check(net, X, y, l1=0.3)
    gradient_check(net, X, y, n_samples=10, seed=1)
    gradient_check(net, X, y, directions=3, seed=1)
    assert net.theta.tobytes() == before.tobytes()


def test_restored_after_an_error(rng, monkeypatch):
    net, X, y = make_problem(rng)
    before = net.theta.copy()
    calls = []
    original = net.cost

    def cost(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(net, "cost", cost)
    with pytest.raises(KeyboardInterrupt):
        gradient_check(net, X, y)
    assert net.theta.tobytes() == before.tobytes()


def test_sampled_check_agrees_with_the_full_check(rng):
    net, X, y = make_problem(rng, "relu", "sigmoid")
    full = gradient_check(net, X, y, l2=0.1)
    part = gradient_check(net, X, y, l2=0.1, n_samples=25, seed=3)
    assert part.method == "sampled" and part.verdict == "great"
    assert part.indices.shape == (25,) and len(set(part.indices.tolist())) == 25
    np.testing.assert_array_equal(part.grad, full.grad[part.indices])
    np.testing.assert_array_equal(part.grad_approx, full.grad_approx[part.indices])
    # seeded: reproducible, and another seed picks other coordinates
    again = gradient_check(net, X, y, l2=0.1, n_samples=25, seed=3)
    np.testing.assert_array_equal(again.indices, part.indices)
    other = gradient_check(net, X, y, l2=0.1, n_samples=25, seed=4)
    assert not np.array_equal(other.indices, part.indices)
    # all coordinates: the full check's numbers
    every = gradient_check(net, X, y, l2=0.1, n_samples=net.theta.size, seed=0)
    assert every.difference == full.difference


def test_sampled_check_catches_and_locates_the_bug(rng, monkeypatch):
    net, X, y = make_problem(rng)
    wrong_backward(net, monkeypatch, "dW2")
    check = gradient_check(net, X, y, n_samples=30, seed=0)
    assert check.verdict == "likely bug"
    assert max(check.per_parameter, key=check.per_parameter.get) == "W2"
    names = set(check.per_parameter)
    assert names <= {"W1", "b1", "W2", "b2", "W3", "b3"}


def test_directional_check(rng, monkeypatch):
    net, X, y = make_problem(rng, "tanh", "softmax")
    full = gradient_check(net, X, y, l2=0.2)
    check = gradient_check(net, X, y, l2=0.2, directions=6, seed=0)
    assert check.method == "directional" and check.indices is None
    assert check.grad.shape == check.grad_approx.shape == (6,)
    assert check.per_parameter == {}
    assert check.verdict == "great" and check.difference < 1e-7
    # grad . u_j with the same seeded unit vectors
    U = np.random.default_rng(0).standard_normal((6, net.theta.size))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    np.testing.assert_allclose(check.grad, U @ full.grad, rtol=1e-12, atol=1e-15)
    wrong_backward(net, monkeypatch, "dW2")
    assert gradient_check(net, X, y, l2=0.2, directions=6, seed=0).verdict == "likely bug"


def test_dropout_is_noted_not_refused(rng):
    net, X, y = make_problem(rng)
    plain = gradient_check(net, X, y)
    net.keep_probs = [0.5, 0.8, 1.0]
    check = gradient_check(net, X, y)
    assert "dropout" in check.note and "keep_probs" in check.note and "fit" in check.note
    assert check.difference == plain.difference and check.verdict == "great"
    net.keep_probs = [1.0, 1.0, 1.0]
    assert gradient_check(net, X, y).note == ""


def test_zero_gradients_give_zero_with_a_note():
    net = pydl.Network([2, 1], output_activation="linear", init="zeros", dtype="float64")
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    check = gradient_check(net, X, np.zeros(2))
    assert check.difference == 0.0 and check.verdict == "great"
    assert "zero" in check.note
    assert check.per_parameter == {"W1": 0.0, "b1": 0.0}


@pytest.mark.parametrize("kwargs,exc,name", [
    ({"epsilon": 0.0}, ValueError, "epsilon"),
    ({"epsilon": -1e-7}, ValueError, "epsilon"),
    ({"epsilon": 2.0}, ValueError, "epsilon"),
    ({"epsilon": float("nan")}, ValueError, "epsilon"),
    ({"epsilon": "1e-7"}, TypeError, "epsilon"),
    ({"l2": -1.0}, ValueError, "l2"),
    ({"l1": None}, TypeError, "l1"),
    ({"n_samples": 0}, ValueError, "n_samples"),
    ({"n_samples": 10**6}, ValueError, "n_samples"),
    ({"n_samples": 2.5}, TypeError, "n_samples"),
    ({"n_samples": True}, TypeError, "n_samples"),
    ({"directions": 0}, ValueError, "directions"),
    ({"directions": "3"}, TypeError, "directions"),
    ({"n_samples": 3, "directions": 3}, ValueError, "directions"),
    ({"seed": -1}, ValueError, "seed"),
])
def test_bad_arguments(rng, kwargs, exc, name):
    net, X, y = make_problem(rng)
    with pytest.raises(exc, match=name):
        gradient_check(net, X, y, **kwargs)


def test_bad_data_and_network(rng):
    net, X, y = make_problem(rng)
    with pytest.raises(ValueError, match="X"):
        gradient_check(net, X[:, :3], y)
    with pytest.raises(ValueError, match="y"):
        gradient_check(net, X, y[:-1])
    with pytest.raises(ValueError, match="X"):
        gradient_check(net, np.full_like(X, np.nan), y)
    with pytest.raises(TypeError, match="net"):
        gradient_check(ref_params(net), X, y)


def test_network_with_a_normalizer(rng):
    """The float64 copy of a float32 network sees the same normalized inputs."""
    from pydl.preprocessing import Normalizer

    X = rng.standard_normal((15, 4)) * [1.0, 100.0, 0.01, 3.0] + [0.0, 500.0, 2.0, -7.0]
    y = make_targets(rng, 15, 3, "sigmoid")
    norm = Normalizer().fit(X)
    net32 = pydl.Network(DIMS, hidden_activation="tanh", seed=0, normalizer=norm)
    net64 = pydl.Network(DIMS, hidden_activation="tanh", seed=0, dtype="float64",
                         normalizer=norm)
    net64.theta = net32.theta.astype(np.float64)
    check = gradient_check(net32, X, y)
    assert check.verdict == "great"
    expected = np.concatenate([g.ravel() for g in net64.gradients(X, y).values()])
    np.testing.assert_array_equal(check.grad, expected)
    assert net32.normalizer is norm
