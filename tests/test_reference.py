"""Self-checks of the pure-NumPy oracle tests/reference.py (no pydl involved).

The oracle's backward pass is validated against its own centred-difference
gradient check, and the smaller pieces against hand-computed values.
"""

import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

HIDDEN_ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu"]
OUTPUTS = ["sigmoid", "softmax", "linear"]
# hidden-layer sizes; n_x and n_L are added per case ([] = no hidden layer)
HIDDEN_SHAPES = [[], [4], [5, 3], [3, 6, 4]]
REGULARIZATIONS = [(0.0, 0.0), (0.7, 0.0), (0.0, 0.3), (0.5, 0.2)]
N_OUT = {"sigmoid": 2, "softmax": 3, "linear": 2}


def make_labels(rng, output, n_L, m):
    """Y for the given output kind: 0/1 (n_L, m), integer labels (m,), or real (n_L, m)."""
    if output == "sigmoid":
        return rng.integers(0, 2, size=(n_L, m)).astype(np.float64)
    if output == "softmax":
        return rng.integers(0, n_L, size=m)
    return rng.standard_normal((n_L, m))


def make_network(seed, n_x, hidden, output, hidden_act, m=7, w_min=0.05, z_min=1e-3):
    """Random (X, Y, parameters, activations) with |W| >= w_min and, for kinked activations, min |Z[l]| >= z_min."""
    layer_dims = [n_x] + hidden + [N_OUT[output]]
    activations = [hidden_act] * len(hidden) + [output]
    for attempt in range(200):
        rng = np.random.default_rng([seed, attempt])
        X = rng.standard_normal((n_x, m))
        Y = make_labels(rng, output, layer_dims[-1], m)
        parameters = {}
        for l in range(1, len(layer_dims)):
            W = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) / math.sqrt(layer_dims[l - 1])
            W = np.where(np.abs(W) < w_min, np.copysign(w_min, W), W)  # keep l1's sign() away from its kink
            parameters["W" + str(l)] = W
            parameters["b" + str(l)] = 0.1 * rng.standard_normal((layer_dims[l], 1))
        if hidden_act in ("relu", "leaky_relu"):
            _, caches = ref.forward(X, parameters, activations)
            if min(np.min(np.abs(c["Z"])) for c in caches[:-1]) < z_min:
                continue
        return X, Y, parameters, activations
    raise RuntimeError("no network with pre-activations away from 0 found")


# --------------------------------------------------------------------------
# backward vs centred differences
# --------------------------------------------------------------------------

# every hidden activation x every output x several shapes (the no-hidden-layer
# shape only once per output, since it has no hidden activation)
NETWORK_CASES = [(shape_index, hidden_act, output)
                 for shape_index, hidden in enumerate(HIDDEN_SHAPES)
                 for hidden_act in (HIDDEN_ACTIVATIONS if hidden else ["none"])
                 for output in OUTPUTS]


@pytest.mark.parametrize("lambd,l1", REGULARIZATIONS)
@pytest.mark.parametrize("shape_index,hidden_act,output", NETWORK_CASES)
def test_backward_matches_gradient_check(shape_index, hidden_act, output, lambd, l1):
    hidden = HIDDEN_SHAPES[shape_index]
    n_x = 3 + shape_index
    seed = 1000 * shape_index + 10 * (HIDDEN_ACTIVATIONS + ["none"]).index(hidden_act) + OUTPUTS.index(output)
    X, Y, parameters, activations = make_network(seed, n_x, hidden, output, hidden_act)
    difference, approx, grad = ref.gradient_check(parameters, X, Y, activations, output,
                                                  epsilon=1e-7, lambd=lambd, l1=l1)
    assert approx.shape == grad.shape == (ref.parameters_to_vector(parameters, len(activations)).shape)
    assert np.linalg.norm(grad) > 1e-3  # not a vacuous check
    assert difference < 1e-7, difference


@pytest.mark.parametrize("hidden_act", ["relu", "tanh", "leaky_relu"])
@pytest.mark.parametrize("output", OUTPUTS)
def test_backward_with_fixed_dropout_masks_matches_gradient_check(hidden_act, output):
    X, Y, parameters, activations = make_network(77 + OUTPUTS.index(output), 4, [6, 5], output, hidden_act)
    rng = np.random.default_rng(5)
    m = X.shape[1]
    keep_probs = [0.8, 0.6, 1.0]
    masks = {1: (rng.random((6, m)) < 0.8).astype(np.float64),
             2: (rng.random((5, m)) < 0.6).astype(np.float64)}
    difference, _, grad = ref.gradient_check(parameters, X, Y, activations, output, lambd=0.3, l1=0.1,
                                             keep_probs=keep_probs, masks=masks)
    assert difference < 1e-7, difference
    # and the masks really change the gradient
    _, _, grad_no_dropout = ref.gradient_check(parameters, X, Y, activations, output, lambd=0.3, l1=0.1)
    assert not np.allclose(grad, grad_no_dropout)


def test_dropout_forward_is_inverted_dropout():
    X, _, parameters, activations = make_network(3, 4, [6, 5], "sigmoid", "tanh")
    m = X.shape[1]
    D1 = (np.arange(6 * m).reshape(6, m) % 3 != 0).astype(np.float64)
    _, plain = ref.forward(X, parameters, activations)
    _, dropped = ref.forward(X, parameters, activations, keep_probs=[0.5, 1.0, 1.0], masks={1: D1})
    np.testing.assert_array_equal(dropped[0]["A"], plain[0]["A"] * D1 / 0.5)
    np.testing.assert_array_equal(dropped[0]["Z"], plain[0]["Z"])


def test_backward_regularization_terms_are_literal():
    X, Y, parameters, activations = make_network(11, 3, [4], "linear", "tanh")
    m = X.shape[1]
    AL, caches = ref.forward(X, parameters, activations)
    g0 = ref.backward(AL, Y, caches, activations, "linear")
    g = ref.backward(AL, Y, caches, activations, "linear", lambd=0.4, l1=0.25)
    for l in (1, 2):
        W = parameters["W%d" % l]
        np.testing.assert_allclose(g["dW%d" % l], g0["dW%d" % l] + 0.4 / m * W + 0.25 / m * np.sign(W),
                                   rtol=0, atol=1e-15)
        np.testing.assert_array_equal(g["db%d" % l], g0["db%d" % l])
    J0 = ref.compute_cost(AL, Y, "linear")
    J = ref.compute_cost_with_regularization(AL, Y, parameters, "linear", lambd=0.4, l1=0.25)
    expected = J0 + 0.4 / (2 * m) * sum(np.sum(parameters["W%d" % l] ** 2) for l in (1, 2)) \
        + 0.25 / m * sum(np.sum(np.abs(parameters["W%d" % l])) for l in (1, 2))
    assert abs(J - expected) < 1e-14


def test_costs_match_hand_values():
    A = np.array([[0.9, 0.2, 0.6]])
    Y = np.array([[1.0, 0.0, 1.0]])
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.6)) / 3
    assert abs(ref.compute_cost(A, Y, "sigmoid") - expected) < 1e-15
    P = np.array([[0.7, 0.1], [0.2, 0.3], [0.1, 0.6]])
    y = np.array([0, 2])
    assert abs(ref.compute_cost(P, y, "softmax") - (-(math.log(0.7) + math.log(0.6)) / 2)) < 1e-15
    assert abs(ref.compute_cost(np.array([[1.0, 3.0]]), np.array([[0.0, 1.0]]), "linear") - 5.0 / 4) < 1e-15


# --------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------

def test_softmax_columns_sum_to_one():
    rng = np.random.default_rng(0)
    for shape in [(1, 5), (3, 7), (10, 2)]:
        Z = 5 * rng.standard_normal(shape)
        A = ref.softmax(Z)
        assert A.shape == shape
        np.testing.assert_allclose(np.sum(A, axis=0), 1.0, rtol=0, atol=1e-12)
        assert np.all(A > 0)
        A32 = ref.softmax(Z.astype(np.float32))
        assert A32.dtype == np.float32
        np.testing.assert_allclose(np.sum(A32, axis=0), 1.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softmax_are_stable_for_large_z(dtype):
    Z = np.array([[-1000.0, -100.0, 0.0, 100.0, 1000.0],
                  [1000.0, 0.0, -50.0, 100.0, -1000.0],
                  [999.0, -1e4, 50.0, -100.0, 1000.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        S = ref.sigmoid(Z)
        P = ref.softmax(Z)
        dS = ref.activation_derivative("sigmoid", Z)
    for arr in (S, P, dS):
        assert arr.dtype == dtype
        assert np.all(np.isfinite(arr))
    assert S[0, 0] == 0.0 and S[0, 4] == 1.0 and S[0, 2] == 0.5
    np.testing.assert_allclose(np.sum(P, axis=0), 1.0, atol=1e-6)
    assert P[0, 4] == pytest.approx(0.5, abs=1e-6) and P[1, 0] == pytest.approx(1 / (1 + math.exp(-1)), abs=1e-6)


def test_activations_and_derivatives_hand_values():
    Z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    np.testing.assert_array_equal(ref.relu(Z), [[0, 0, 0, 0.5, 2]])
    np.testing.assert_array_equal(ref.leaky_relu(Z, 0.1), [[-0.2, -0.05, 0, 0.5, 2]])
    np.testing.assert_array_equal(ref.linear(Z), Z)
    np.testing.assert_allclose(ref.tanh(Z), np.tanh(Z))
    np.testing.assert_allclose(ref.sigmoid(Z), 1 / (1 + np.exp(-Z)), rtol=1e-15)
    np.testing.assert_array_equal(ref.activation_derivative("relu", Z), [[0, 0, 0, 1, 1]])
    np.testing.assert_array_equal(ref.activation_derivative("leaky_relu", Z, 0.1), [[0.1, 0.1, 0.1, 1, 1]])
    np.testing.assert_array_equal(ref.activation_derivative("linear", Z), np.ones_like(Z))
    np.testing.assert_allclose(ref.activation_derivative("tanh", Z), 1 - np.tanh(Z) ** 2)
    s = 1 / (1 + np.exp(-Z))
    np.testing.assert_allclose(ref.activation_derivative("sigmoid", Z), s * (1 - s), rtol=1e-14)


def test_float32_stays_float32():
    X, Y, parameters, activations = make_network(21, 3, [4, 3], "softmax", "relu")
    X32 = X.astype(np.float32)
    p32 = {k: v.astype(np.float32) for k, v in parameters.items()}
    AL, caches = ref.forward(X32, p32, activations)
    assert AL.dtype == np.float32
    J = ref.compute_cost_with_regularization(AL, Y, p32, "softmax", lambd=np.float64(0.1), l1=0.1)
    assert J.dtype == np.float32
    grads = ref.backward(AL, Y, caches, activations, "softmax", lambd=np.float64(0.1), l1=0.1)
    assert all(g.dtype == np.float32 for g in grads.values())
    new_p = ref.update_parameters_with_gd(p32, grads, np.float64(0.1))
    assert all(v.dtype == np.float32 for v in new_p.values())
    v, s = ref.initialize_adam(p32)
    new_p, v, s = ref.update_parameters_with_adam(p32, grads, v, s, 1, 0.01, np.float64(0.9), 0.999, 1e-8)
    assert all(a.dtype == np.float32 for d in (new_p, v, s) for a in d.values())
    new_p, v = ref.update_parameters_with_momentum(p32, grads, v, 0.9, 0.01)
    new_p, s = ref.update_parameters_with_rmsprop(new_p, grads, s, 0.9, 0.01, 1e-8)
    assert all(a.dtype == np.float32 for d in (new_p, v, s) for a in d.values())
    state = {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
    new_p, cost = ref.train_epoch(X32, Y, p32, activations, "softmax", np.arange(X.shape[1]), 3, "adam",
                                  state, 0.01, lambd=0.1)
    assert cost.dtype == np.float32 and all(a.dtype == np.float32 for a in new_p.values())
    assert ref.ewa(np.ones(4, dtype=np.float32), 0.9, True).dtype == np.float32
    # and the float32 results are close to the float64 ones
    AL64, _ = ref.forward(X, parameters, activations)
    np.testing.assert_allclose(AL, AL64, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------
# parameters <-> vector
# --------------------------------------------------------------------------

def test_vector_round_trip_and_order():
    layer_dims = [3, 4, 2]
    rng = np.random.default_rng(1)
    parameters = ref.initialize_parameters(layer_dims, "he", rng)
    parameters["b1"] = rng.standard_normal((4, 1))
    theta = ref.parameters_to_vector(parameters, 2)
    assert theta.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    np.testing.assert_array_equal(theta[:12], parameters["W1"].ravel())
    np.testing.assert_array_equal(theta[1:3], parameters["W1"][0, 1:3])  # row-major
    np.testing.assert_array_equal(theta[12:16], parameters["b1"][:, 0])
    back = ref.vector_to_parameters(theta, layer_dims)
    for k in parameters:
        np.testing.assert_array_equal(back[k], parameters[k])
        assert back[k].shape == parameters[k].shape
    grads = {"d" + k: v for k, v in parameters.items()}
    np.testing.assert_array_equal(ref.gradients_to_vector(grads, 2), theta)


def test_init_std():
    assert ref.init_std("zeros", 4, 3) == 0.0
    assert ref.init_std("random", 4, 3) == 0.01
    assert ref.init_std("random", 4, 3, scale=0.5) == 0.5
    assert ref.init_std("xavier", 4, 3) == math.sqrt(1 / 4)
    assert ref.init_std("xavier_avg", 4, 3) == math.sqrt(2 / 7)
    assert ref.init_std("he", 4, 3) == math.sqrt(2 / 4)


# --------------------------------------------------------------------------
# optimizers
# --------------------------------------------------------------------------

def test_adam_on_1d_quadratic_matches_hand_unrolled_two_steps():
    # J(w, b) = (w - 3)^2 + 2 (b + 1)^2  ->  dw = 2 (w - 3), db = 4 (b + 1)
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    parameters = {"W1": np.array([[0.5]]), "b1": np.array([[0.25]])}
    v, s = ref.initialize_adam(parameters)

    def grads_at(p):
        return {"dW1": 2 * (p["W1"] - 3), "db1": 4 * (p["b1"] + 1)}

    p = parameters
    for t in (1, 2):
        p, v, s = ref.update_parameters_with_adam(p, grads_at(p), v, s, t, lr, b1, b2, eps)

    # hand-unrolled for w (plain Python floats)
    w = 0.5
    g1 = 2 * (w - 3)
    v1 = (1 - b1) * g1
    s1 = (1 - b2) * g1 ** 2
    w = w - lr * (v1 / (1 - b1)) / (math.sqrt(s1 / (1 - b2)) + eps)
    g2 = 2 * (w - 3)
    v2 = b1 * v1 + (1 - b1) * g2
    s2 = b2 * s1 + (1 - b2) * g2 ** 2
    w = w - lr * (v2 / (1 - b1 ** 2)) / (math.sqrt(s2 / (1 - b2 ** 2)) + eps)
    # and for b
    b = 0.25
    h1 = 4 * (b + 1)
    vb1, sb1 = (1 - b1) * h1, (1 - b2) * h1 ** 2
    b = b - lr * (vb1 / (1 - b1)) / (math.sqrt(sb1 / (1 - b2)) + eps)
    h2 = 4 * (b + 1)
    vb2, sb2 = b1 * vb1 + (1 - b1) * h2, b2 * sb1 + (1 - b2) * h2 ** 2
    b = b - lr * (vb2 / (1 - b1 ** 2)) / (math.sqrt(sb2 / (1 - b2 ** 2)) + eps)

    assert abs(p["W1"][0, 0] - w) < 1e-12
    assert abs(p["b1"][0, 0] - b) < 1e-12
    assert abs(v["dW1"][0, 0] - v2) < 1e-12 and abs(s["dW1"][0, 0] - s2) < 1e-12
    # first Adam step moves each coordinate by ~lr (the bias-corrected ratio is ~sign(g))
    first_step = lr * (v1 / (1 - b1)) / (math.sqrt(s1 / (1 - b2)) + eps)
    assert abs(abs(first_step) - lr) < 1e-8
    # inputs were not modified
    assert parameters["W1"][0, 0] == 0.5


def test_momentum_rmsprop_gd_hand_values():
    p = {"W1": np.array([[1.0, -2.0]]), "b1": np.array([[0.5]])}
    g = {"dW1": np.array([[0.4, -0.2]]), "db1": np.array([[1.0]])}
    new = ref.update_parameters_with_gd(p, g, 0.1)
    np.testing.assert_allclose(new["W1"], [[0.96, -1.98]], rtol=1e-15)
    v = ref.initialize_velocity(p)
    new, v = ref.update_parameters_with_momentum(p, g, v, 0.9, 0.1)
    np.testing.assert_allclose(v["dW1"], [[0.04, -0.02]], rtol=1e-14)
    np.testing.assert_allclose(new["W1"], [[1.0 - 0.004, -2.0 + 0.002]], rtol=1e-14)
    s = ref.initialize_rmsprop(p)
    new, s = ref.update_parameters_with_rmsprop(p, g, s, 0.9, 0.1, 1e-8)
    np.testing.assert_allclose(s["db1"], [[0.1]], rtol=1e-14)
    np.testing.assert_allclose(new["b1"], [[0.5 - 0.1 * 1.0 / (math.sqrt(0.1) + 1e-8)]], rtol=1e-14)


# --------------------------------------------------------------------------
# learning-rate schedules and EWA
# --------------------------------------------------------------------------

def test_learning_rate_schedules():
    assert ref.lr_inverse_decay(0.2, 3, 0.5) == pytest.approx(0.2 / 2.5, rel=1e-15)
    assert ref.lr_staircase(0.2, 7, 0.5, 3) == pytest.approx(0.2 / 2.0, rel=1e-15)
    assert ref.lr_staircase(0.2, 2, 0.5, 3) == 0.2
    assert ref.lr_exponential(0.2, 3, 0.95) == pytest.approx(0.2 * 0.95 ** 3, rel=1e-15)
    assert ref.lr_sqrt_epoch(0.2, 4, 0.5) == pytest.approx(0.05, rel=1e-15)
    assert ref.lr_sqrt_epoch(0.2, 1, 1.0) == 0.2
    assert ref.lr_sqrt_step(0.2, 9, 3.0) == pytest.approx(0.2, rel=1e-15)


def test_ewa_bias_corrected_constant_is_constant():
    for beta in (0.5, 0.9, 0.98, 0.999):
        out = ref.ewa(np.full(60, 3.7), beta, bias_correction=True)
        np.testing.assert_allclose(out, 3.7, rtol=0, atol=1e-12)


def test_ewa_hand_values():
    thetas = np.array([1.0, 2.0, 4.0])
    out = ref.ewa(thetas, 0.5)
    np.testing.assert_allclose(out, [0.5, 1.25, 2.625], rtol=1e-15)
    out_bc = ref.ewa(thetas, 0.5, bias_correction=True)
    np.testing.assert_allclose(out_bc, [1.0, 1.25 / 0.75, 2.625 / 0.875], rtol=1e-15)
    # vector-valued thetas (T, n) are averaged per component
    out2 = ref.ewa(np.stack([thetas, 2 * thetas], axis=1), 0.5)
    np.testing.assert_allclose(out2[:, 1], 2 * out, rtol=1e-15)


# --------------------------------------------------------------------------
# mini-batches and training epochs
# --------------------------------------------------------------------------

def test_random_mini_batches_keeps_last_batch_and_covers_every_column_once():
    m = 11
    rng = np.random.default_rng(2)
    X = np.vstack([np.arange(m, dtype=np.float64), rng.standard_normal(m)])
    Y = 10 * np.arange(m, dtype=np.float64).reshape(1, m)
    y = np.arange(m) + 100
    permutation = rng.permutation(m)
    batches = ref.random_mini_batches(X, Y, 4, permutation)
    assert [b[0].shape[1] for b in batches] == [4, 4, 3]
    cols = np.concatenate([b[0][0] for b in batches]).astype(int)
    np.testing.assert_array_equal(cols, permutation)
    np.testing.assert_array_equal(np.sort(cols), np.arange(m))
    for Xt, Yt in batches:
        np.testing.assert_array_equal(Yt[0], 10 * Xt[0])  # X and Y shuffled together
    label_batches = ref.random_mini_batches(X, y, 4, permutation)
    for Xt, yt in label_batches:
        assert yt.ndim == 1
        np.testing.assert_array_equal(yt, Xt[0].astype(int) + 100)
    # exact multiple: no empty trailing batch
    assert [b[0].shape[1] for b in ref.random_mini_batches(X[:, :8], Y[:, :8], 4, np.arange(8))] == [4, 4]
    assert [b[0].shape[1] for b in ref.random_mini_batches(X, Y, 20, permutation)] == [11]


def test_train_epoch_full_batch_gd_is_one_gd_step():
    X, Y, parameters, activations = make_network(31, 3, [4], "sigmoid", "tanh")
    AL, caches = ref.forward(X, parameters, activations)
    J = ref.compute_cost_with_regularization(AL, Y, parameters, "sigmoid", 0.2, 0.1)
    grads = ref.backward(AL, Y, caches, activations, "sigmoid", 0.2, 0.1)
    expected = ref.update_parameters_with_gd(parameters, grads, 0.3)
    state = {}
    new_p, cost = ref.train_epoch(X, Y, parameters, activations, "sigmoid", np.arange(X.shape[1]),
                                  X.shape[1], "gd", state, 0.3, lambd=0.2, l1=0.1)
    assert state["t"] == 1
    assert cost == pytest.approx(J, rel=1e-15)  # (m * J) / m
    for k in expected:
        np.testing.assert_array_equal(new_p[k], expected[k])


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "rmsprop", "adam"])
def test_train_epoch_matches_manual_loop(optimizer):
    X, y, parameters, activations = make_network(41, 3, [5], "softmax", "relu", m=10)
    permutation = np.random.default_rng(9).permutation(10)
    state = {"beta": 0.8, "beta1": 0.9, "beta2": 0.99, "epsilon": 1e-8, "t": 4}
    if optimizer in ("momentum", "adam"):
        state["v"] = ref.initialize_velocity(parameters)
    if optimizer in ("rmsprop", "adam"):
        state["s"] = ref.initialize_rmsprop(parameters)
    lr0, k = 0.05, 0.9
    new_p, cost = ref.train_epoch(X, y, parameters, activations, "softmax", permutation, 4, optimizer, state,
                                  lr0, lambd=0.1, lr_step_k=k)
    # manual
    p, t, v, s, total = parameters, 4, ref.initialize_velocity(parameters), ref.initialize_rmsprop(parameters), 0.0
    for Xt, yt in ref.random_mini_batches(X, y, 4, permutation):
        AL, caches = ref.forward(Xt, p, activations)
        total += Xt.shape[1] * ref.compute_cost_with_regularization(AL, yt, p, "softmax", 0.1)
        grads = ref.backward(AL, yt, caches, activations, "softmax", 0.1)
        t += 1
        lr = k / math.sqrt(t) * lr0
        if optimizer == "gd":
            p = ref.update_parameters_with_gd(p, grads, lr)
        elif optimizer == "momentum":
            p, v = ref.update_parameters_with_momentum(p, grads, v, 0.8, lr)
        elif optimizer == "rmsprop":
            p, s = ref.update_parameters_with_rmsprop(p, grads, s, 0.8, lr, 1e-8)
        else:
            p, v, s = ref.update_parameters_with_adam(p, grads, v, s, t, lr, 0.9, 0.99, 1e-8)
    assert state["t"] == 7
    assert cost == pytest.approx(total / 10, rel=1e-14)
    for key in p:
        np.testing.assert_allclose(new_p[key], p[key], rtol=1e-14, atol=1e-15)
