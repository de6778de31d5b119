"""The course's pieces as public API (issue 16): seeds as Generator/RandomState, pydl.blocks,
Network.backward, dropout with given masks, mini-batches, gradient_check of a function.

Expected values come from tests/reference.py (the course's formulas in NumPy) or from the
course's own NumPy recipes written out here; where the course publishes the numbers of its
test cases, they are checked too (printed to 8 digits there, hence atol 5e-9 on those)."""
import numpy as np
import pytest

import pydl
from pydl import blocks
from conftest import DTYPES, HIDDEN, RTOL, assert_close, make_targets, ref_params, ref_targets
import reference as ref

PUBLISHED = dict(rtol=0, atol=5e-9)


def _set(net, params):
    return net.set_parameters(params)


def _flat(grads, L):
    return np.concatenate([np.ravel(grads[f"{p}{l}"]) for l in range(1, L + 1)
                           for p in ("dW", "db")])


# ---- 1. seeds -------------------------------------------------------------------------------

def test_random_state_reproduces_initialize_parameters_deep():
    # the course: np.random.seed(3); W[l] = np.random.randn(n[l], n[l-1]) * 0.01; b = 0
    rs = np.random.RandomState(3)
    expected = {}
    for l, (n_prev, n) in enumerate(zip([5, 4], [4, 3]), start=1):
        expected[f"W{l}"] = rs.randn(n, n_prev) * 0.01
        expected[f"b{l}"] = np.zeros((n, 1))
    net = pydl.Network([5, 4, 3], init="random", dtype="float64",
                       seed=np.random.RandomState(3))
    for k, v in expected.items():
        np.testing.assert_array_equal(net.parameters[k], v)
    np.testing.assert_allclose(net.parameters["W1"][0],
                               [0.01788628, 0.0043651, 0.00096497, -0.01863493, -0.00277388],
                               **PUBLISHED)
    assert net.seed is None and isinstance(net._train_seed, int)


def test_random_state_reproduces_initialize_parameters_he():
    # the course: np.random.seed(3); W[l] = randn(n[l], n[l-1]) * np.sqrt(2. / n[l-1])
    rs = np.random.RandomState(3)
    W1 = rs.randn(4, 2) * np.sqrt(2. / 2)
    W2 = rs.randn(1, 4) * np.sqrt(2. / 4)
    net = pydl.Network([2, 4, 1], init="he", dtype="float64", seed=np.random.RandomState(3))
    np.testing.assert_array_equal(net.parameters["W1"], W1)
    np.testing.assert_array_equal(net.parameters["W2"], W2)
    np.testing.assert_allclose(net.parameters["W1"], [[1.78862847, 0.43650985],
                                                      [0.09649747, -1.8634927],
                                                      [-0.2773882, -0.35475898],
                                                      [-0.08274148, -0.62700068]], **PUBLISHED)
    np.testing.assert_allclose(net.parameters["W2"],
                               [[-0.03098412, -0.33744411, -0.92904268, 0.62552248]],
                               **PUBLISHED)


def test_generator_seed_equals_int_seed():
    a = pydl.Network([6, 5, 2], seed=7)
    b = pydl.Network([6, 5, 2], seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a._train_seed == b._train_seed and a.seed == 7 and b.seed is None


def test_random_state_seed_trains_reproducibly(rng):
    X = rng.standard_normal((50, 3))
    y = (X[:, 0] > 0).astype(float)
    nets = [pydl.Network([3, 4, 1], dtype="float64", keep_probs=0.8,
                         seed=np.random.RandomState(1)) for _ in range(2)]
    for net in nets:
        net.fit(X, y, epochs=3, batch_size=16, learning_rate=0.1)
    np.testing.assert_array_equal(nets[0].theta, nets[1].theta)
    other = pydl.Network([3, 4, 1], dtype="float64", seed=np.random.RandomState(2))
    assert other._train_seed != nets[0]._train_seed


def test_other_seeds_take_random_sources(rng):
    X, y = rng.standard_normal((40, 2)), np.arange(40) % 2
    a = pydl.train_dev_test_split(X, y, sizes=(0.5, 0.5, 0), seed=np.random.default_rng(4))
    b = pydl.train_dev_test_split(X, y, sizes=(0.5, 0.5, 0), seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    c = pydl.train_dev_test_split(X, y, sizes=(0.5, 0.5, 0), seed=np.random.RandomState(4))
    assert c[0].shape == a[0].shape
    net = pydl.Network([2, 3, 1], dtype="float64", seed=0)
    check = pydl.gradient_check(net, X[:8], y[:8], n_samples=5, seed=np.random.RandomState(0))
    assert check.method == "sampled" and check.verdict == "great"


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (1.5, TypeError), ("3", TypeError),
                                       (True, TypeError)])
def test_bad_seed(seed, exc):
    with pytest.raises(exc, match="seed"):
        pydl.Network([2, 1], seed=seed)
    with pytest.raises(exc, match="seed"):
        pydl.random_mini_batches(np.zeros((4, 2)), np.zeros(4), 2, seed=seed)


# ---- 2. the building blocks -------------------------------------------------------------------

def _course_params(rng, dims, dtype=np.float64):
    return {k: v.astype(dtype) for l in range(1, len(dims)) for k, v in
            ((f"W{l}", rng.standard_normal((dims[l], dims[l - 1]))),
             (f"b{l}", rng.standard_normal((dims[l], 1))))}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", HIDDEN + ["softmax"])
def test_linear_activation_forward_backward(rng, dtype, act):
    n_prev, n, m = rng.integers(1, 9), rng.integers(2, 9), rng.integers(1, 12)
    P = _course_params(rng, [n_prev, n], dtype)
    A_prev = rng.standard_normal((n_prev, m)).astype(dtype)
    A, cache = blocks.linear_activation_forward(A_prev, P["W1"], P["b1"], act)
    Z = P["W1"].astype(float) @ A_prev.astype(float) + P["b1"].astype(float)
    assert A.dtype == dtype and A.shape == (n, m)
    assert_close(cache[1], Z, dtype)
    assert_close(A, ref.activation(act, Z), dtype)
    dA = rng.standard_normal((n, m)).astype(dtype)
    dA_prev, dW, db = blocks.linear_activation_backward(dA, cache, act)
    Af = ref.activation(act, Z)
    if act == "softmax":   # the Jacobian product, per example
        dZ = Af * (dA - (Af * dA).sum(axis=0, keepdims=True))
    else:
        dZ = dA * ref.activation_derivative(act, Z)
    assert_close(dW, dZ @ A_prev.T.astype(float) / m, dtype)
    assert_close(db, dZ.sum(axis=1, keepdims=True) / m, dtype)
    assert_close(dA_prev, P["W1"].T.astype(float) @ dZ, dtype)
    assert dW.shape == (n, n_prev) and db.shape == (n, 1) and dA_prev.shape == (n_prev, m)


def test_linear_forward_backward(rng):
    A = rng.standard_normal((3, 2))
    W, b = rng.standard_normal((1, 3)), rng.standard_normal((1, 1))
    Z, cache = blocks.linear_forward(A, W, b)
    np.testing.assert_allclose(Z, W @ A + b, rtol=1e-12)
    assert cache[0] is A or np.shares_memory(cache[0], A)
    dZ = rng.standard_normal((1, 2))
    dA_prev, dW, db = blocks.linear_backward(dZ, cache)
    np.testing.assert_allclose(dW, dZ @ A.T / 2, rtol=1e-12)
    np.testing.assert_allclose(db, dZ.sum(1, keepdims=True) / 2, rtol=1e-12)
    np.testing.assert_allclose(dA_prev, W.T @ dZ, rtol=1e-12)


def test_course_linear_forward_test_case():
    # linear_forward_test_case: np.random.seed(1); A = randn(3, 2); W = randn(1, 3); b = randn(1, 1)
    rs = np.random.RandomState(1)
    A, W, b = rs.randn(3, 2), rs.randn(1, 3), rs.randn(1, 1)
    Z, _ = blocks.linear_forward(A, W, b)
    np.testing.assert_allclose(Z, [[3.26295337, -1.23429987]], **PUBLISHED)


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_L_model_forward_backward_match_reference_and_network(rng, hidden, output):
    dims = [int(d) for d in rng.integers(2, 7, size=rng.integers(2, 5))]
    m = int(rng.integers(1, 10))
    net = pydl.Network(dims, hidden_activation=hidden, output_activation=output,
                       dtype="float64", seed=int(rng.integers(1000)))
    P = ref_params(net)
    X = rng.standard_normal((m, dims[0]))
    y = make_targets(rng, m, dims[-1], output)
    acts = net.activations
    AL, caches = blocks.L_model_forward(X.T, P, hidden, output)
    AL_ref, caches_ref = ref.forward(X.T, P, acts)
    assert_close(AL, AL_ref, np.float64)
    assert len(caches) == len(dims) - 1
    Y = ref.one_hot(y, dims[-1]) if output == "softmax" else ref_targets(y, output)
    grads = blocks.L_model_backward(AL, Y, caches, hidden, output)
    expected = ref.backward(AL_ref, ref_targets(y, output), caches_ref, acts, output)
    for key in expected:
        if key.startswith(("dW", "db", "dA")):
            assert_close(grads[key], expected[key], np.float64)
    # and the network's own fused gradients
    net_grads = net.gradients(X, y)
    for l in range(1, len(dims)):
        assert_close(grads[f"dW{l}"], net_grads[f"dW{l}"], np.float64)
    assert set(grads) == {f"{p}{l}" for l in range(1, len(dims)) for p in ("dW", "db")} | \
        {f"dA{l}" for l in range(len(dims) - 1)}


def test_course_L_model_backward_test_case():
    # L_model_backward_test_case: np.random.seed(3), AL = randn(1, 2), Y = [[1, 0]], then
    # A1 (4, 2), W1 (3, 4), b1 (3, 1), Z1 (3, 2), A2 (3, 2), W2 (1, 3), b2 (1, 1), Z2 (1, 2)
    rs = np.random.RandomState(3)
    AL, Y = rs.randn(1, 2), np.array([[1, 0]])
    A1, W1, b1, Z1 = rs.randn(4, 2), rs.randn(3, 4), rs.randn(3, 1), rs.randn(3, 2)
    A2, W2, b2, Z2 = rs.randn(3, 2), rs.randn(1, 3), rs.randn(1, 1), rs.randn(1, 2)
    grads = blocks.L_model_backward(AL, Y, [((A1, W1, b1), Z1), ((A2, W2, b2), Z2)])
    np.testing.assert_allclose(grads["dW1"], [[0.41010002, 0.07807203, 0.13798444, 0.10502167],
                                              [0, 0, 0, 0],
                                              [0.05283652, 0.01005865, 0.01777766, 0.0135308]],
                               **PUBLISHED)
    np.testing.assert_allclose(grads["db1"], [[-0.22007063], [0], [-0.02835349]], **PUBLISHED)
    np.testing.assert_allclose(grads["dA1"], [[0.12913162, -0.44014127],
                                              [-0.14175655, 0.48317296],
                                              [0.01663708, -0.05670698]], **PUBLISHED)


@pytest.mark.parametrize("dtype", DTYPES)
def test_update_parameters(rng, dtype):
    P = _course_params(rng, [3, 4, 2], dtype)
    G = {"d" + k: rng.standard_normal(v.shape).astype(dtype) for k, v in P.items()}
    before = {k: v.copy() for k, v in P.items()}
    new = blocks.update_parameters(P, G, 0.1)
    for k in P:
        np.testing.assert_array_equal(P[k], before[k])      # inputs untouched
        assert new[k].dtype == dtype and new[k].shape == P[k].shape
        assert_close(new[k], P[k].astype(float) - np.float64(dtype(0.1)) * G["d" + k], dtype)


def test_blocks_train_like_the_network(rng):
    # one course iteration with the blocks == one full-batch gradient-descent step of fit
    X = rng.standard_normal((30, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(float)
    net = pydl.Network([4, 5, 3, 1], dtype="float64", seed=3)
    P = ref_params(net)
    for _ in range(3):
        AL, caches = blocks.L_model_forward(X.T, P)
        P = blocks.update_parameters(P, blocks.L_model_backward(AL, y[None, :], caches), 0.05)
    net.fit(X, y, epochs=3, learning_rate=0.05)
    for k, v in net.parameters.items():
        assert_close(P[k], v, np.float64)


def test_blocks_bad_input():
    W, b, A = np.ones((2, 3)), np.zeros((2, 1)), np.ones((3, 4))
    with pytest.raises(ValueError, match="A_prev must have 3 rows"):
        blocks.linear_forward(np.ones((4, 3)), W, b)
    with pytest.raises(ValueError, match=r"b must have shape \(2, 1\)"):
        blocks.linear_forward(A, W, np.zeros((3, 1)))
    with pytest.raises(ValueError, match="unknown activation"):
        blocks.linear_activation_forward(A, W, b, "swish")
    with pytest.raises(ValueError, match="NaN or inf"):
        blocks.linear_forward(A * np.nan, W, b)
    with pytest.raises(TypeError, match="real numbers"):
        blocks.linear_forward(A.astype(str), W, b)
    _, cache = blocks.linear_activation_forward(A, W, b, "relu")
    with pytest.raises(ValueError, match=r"dA must have shape \(2, 4\)"):
        blocks.linear_activation_backward(np.ones((4, 2)), cache, "relu")
    with pytest.raises(TypeError, match="cache must be"):
        blocks.linear_activation_backward(np.ones((2, 4)), (A, W, b), "relu")
    with pytest.raises(ValueError, match="exactly W1, b1"):
        blocks.L_model_forward(A, {"W1": W})
    with pytest.raises(ValueError, match="missing 'dW1'"):
        blocks.update_parameters({"W1": W, "b1": b}, {"db1": b}, 0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        blocks.update_parameters({"W1": W, "b1": b}, {"dW1": W, "db1": b}, -1)


# ---- 3. external gradients -------------------------------------------------------------------

def _huber(r, delta=1.0):
    return np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))


@pytest.mark.parametrize("output", ["linear", "sigmoid"])
def test_backward_huber_matches_finite_differences(rng, output):
    X = rng.standard_normal((13, 3))
    T = rng.standard_normal((13, 2)) * 2
    net = pydl.Network([3, 6, 2], hidden_activation="tanh", output_activation=output,
                       dtype="float64", seed=int(rng.integers(1000)))

    def J(theta):
        net.theta = theta
        return _huber(net.forward(X) - T).sum() / X.shape[0]

    theta0 = net.theta.copy()
    r = net.forward(X) - T
    grads = net.backward(X, np.clip(r, -1, 1), l2=0.0)
    check = pydl.gradient_check(J, theta0, grad=_flat(grads, 2))
    net.theta = theta0
    assert check.verdict == "great", check
    assert np.abs(check.grad).max() > 1e-3          # not a check of zeros


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_backward_of_pydl_loss_equals_gradients(rng, output):
    dims = [4, 5, 3]
    net = pydl.Network(dims, output_activation=output, dtype="float64", seed=1)
    X = rng.standard_normal((9, 4))
    y = make_targets(rng, 9, 3, output)
    A = net.forward(X)
    Y = np.eye(3)[y] if output == "softmax" else y
    dA = {"sigmoid": -(Y / A - (1 - Y) / (1 - A)), "softmax": -Y / A, "linear": A - Y}[output]
    got = net.backward(X, dA, l2=0.3, l1=0.1)
    want = net.gradients(X, y, l2=0.3, l1=0.1)
    for k in want:
        assert_close(got[k], want[k], np.float64)


def test_backward_trains_with_an_optimizer(rng):
    X = rng.standard_normal((64, 2))
    T = X @ np.array([[1.0], [-2.0]]) + 0.5
    net = pydl.Network([2, 8, 1], hidden_activation="tanh", output_activation="linear",
                       dtype="float64", seed=0)
    opt = pydl.Adam(0.05)
    first = _huber(net.forward(X) - T).mean()
    for _ in range(200):
        opt.step(net, net.backward(X, np.clip(net.forward(X) - T, -1, 1)))
    assert _huber(net.forward(X) - T).mean() < 0.05 * first


def test_backward_float32(rng):
    X = rng.standard_normal((20, 3))
    net64 = pydl.Network([3, 4, 2], output_activation="linear", dtype="float64", seed=2)
    net32 = pydl.Network([3, 4, 2], output_activation="linear", dtype="float32", seed=2)
    net32.theta = net64.theta
    dA = rng.standard_normal((20, 2))
    g64, g32 = net64.backward(X, dA), net32.backward(X, dA)
    assert g32["dW1"].dtype == np.float32
    np.testing.assert_allclose(_flat(g32, 2), _flat(g64, 2), rtol=1e-4,
                               atol=1e-5 * np.abs(_flat(g64, 2)).max())


def test_backward_bad_input():
    net = pydl.Network([3, 2], output_activation="linear")
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match="dA must have 2 features"):
        net.backward(X, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="one row per example"):
        net.backward(X, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="dA contains NaN"):
        net.backward(X, np.full((4, 2), np.nan))


# ---- 4. dropout with given masks ---------------------------------------------------------------

def _course_dropout_case():
    # forward_propagation_with_dropout_test_case: np.random.seed(1); X = randn(3, 5);
    # W1 (2, 3), b1 (2, 1), W2 (3, 2), b2 (3, 1), W3 (1, 3), b3 (1, 1), all randn
    rs = np.random.RandomState(1)
    X = rs.randn(3, 5)
    P = {k: rs.randn(*s) for k, s in (("W1", (2, 3)), ("b1", (2, 1)), ("W2", (3, 2)),
                                       ("b2", (3, 1)), ("W3", (1, 3)), ("b3", (1, 1)))}
    net = _set(pydl.Network([3, 2, 3, 1], dtype="float64"), P)
    return X, P, net


def test_course_forward_propagation_with_dropout():
    X, P, net = _course_dropout_case()
    # the course's function draws D1 then D2 with np.random.seed(1), keep_prob = 0.7
    rs, kp = np.random.RandomState(1), 0.7
    A1 = np.maximum(P["W1"] @ X + P["b1"], 0)
    D1 = rs.rand(*A1.shape) < kp
    A2 = np.maximum(P["W2"] @ (A1 * D1 / kp) + P["b2"], 0)
    D2 = rs.rand(*A2.shape) < kp
    A3 = net.forward(X.T, masks=[D1.T, D2.T], keep_probs=kp).T
    np.testing.assert_allclose(A3, [[0.36974721, 0.00305176, 0.04565099, 0.49683389,
                                     0.36974721]], **PUBLISHED)
    assert not np.allclose(A3, net.forward(X.T).T)     # no masks: no dropout


def test_course_backward_propagation_with_dropout():
    # backward_propagation_with_dropout_test_case's masks, keep_prob = 0.8: dA2 and dA1 as the
    # course computes them, dA[l] = (W[l+1]^T dZ[l+1]) * D[l] / keep_prob, with the blocks
    _, P, _ = _course_dropout_case()
    D1 = np.array([[1, 0, 1, 1, 1], [1, 1, 1, 1, 0]], dtype=bool)
    D2 = np.array([[1, 0, 1, 0, 1], [0, 1, 0, 1, 1], [0, 0, 1, 0, 0]], dtype=bool)
    A2 = np.array([[1.06071093, 0, 8.21049603, 0, 1.06071093], [0.] * 5, [0.] * 5])
    A3 = np.array([[0.32266394, 0.49683389, 0.00348883, 0.49683389, 0.32266394]])
    Y, kp = np.array([[1, 1, 0, 1, 0]]), 0.8
    dA2, _, _ = blocks.linear_backward(A3 - Y, (A2, P["W3"], P["b3"]))
    dA2 = dA2 * D2 / kp
    np.testing.assert_allclose(dA2, [[0.58180856, 0., -0.00299679, 0., -0.27715731],
                                     [0., 0.53159854, -0., 0.53159854, -0.34089673],
                                     [0., 0., -0.00292733, 0., -0.]], **PUBLISHED)
    A1 = np.array([[0, 0, 4.27989081, 5.21401307, 0], [0, 8.32019881, 1.58102041, 2.92987024, 0]])
    dZ2 = dA2 * (A2 > 0)              # the course reads relu's derivative off A2
    dA1, _, _ = blocks.linear_backward(dZ2, (A1, P["W2"], P["b2"]))
    dA1 = dA1 * D1 / kp
    np.testing.assert_allclose(dA1, [[0.36544439, 0., -0.00188233, 0., -0.17408748],
                                     [0.65515713, 0., -0.00337459, 0., -0.]], **PUBLISHED)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
def test_gradients_with_masks_match_reference(rng, dtype, output):
    dims = [5, 7, 6, 3]
    keep = [0.6, 0.8, 1.0]
    net = pydl.Network(dims, hidden_activation="tanh", output_activation=output,
                       dtype=dtype, seed=int(rng.integers(1000)))
    m = int(rng.integers(1, 12))
    X = rng.standard_normal((m, 5))
    y = make_targets(rng, m, 3, output)
    D = {l: rng.random((dims[l], m)) < keep[l - 1] for l in (1, 2)}
    masks = [D[1].T, D[2].T]
    P = ref_params(net)
    AL, caches = ref.forward(X.T, P, net.activations, keep_probs=keep, masks=D)
    assert_close(net.forward(X, masks=masks, keep_probs=keep), AL.T, dtype)
    expected = ref.backward(AL, ref_targets(y, output), caches, net.activations, output,
                            lambd=0.2, keep_probs=keep, masks=D)
    got = net.gradients(X, y, l2=0.2, masks=masks, keep_probs=keep)
    for k in got:
        assert_close(got[k], expected[k], dtype)


def test_gradient_check_with_fixed_masks(rng):
    net = pydl.Network([4, 6, 5, 1], dtype="float64", keep_probs=[0.7, 0.9], seed=5)
    net.set_parameters({"b1": rng.standard_normal((6, 1)) * 0.1,   # away from relu's kink
                        "b2": rng.standard_normal((5, 1)) * 0.1})
    X = rng.standard_normal((10, 4))
    y = (rng.random(10) < 0.5).astype(float)
    masks = net.dropout_masks(10, epoch=2, step=1)
    assert any((mk == 0).any() for mk in masks)

    def J(theta):
        work = pydl.Network([4, 6, 5, 1], dtype="float64", keep_probs=[0.7, 0.9])
        work.theta = theta
        A = work.forward(X, masks=masks)
        return -np.mean(y * np.log(A[:, 0]) + (1 - y) * np.log(1 - A[:, 0]))

    check = pydl.gradient_check(J, net.theta, grad=_flat(net.gradients(X, y, masks=masks), 3))
    assert check.verdict == "great", check


def test_fit_equals_steps_on_its_batches_and_masks(rng):
    X = rng.standard_normal((37, 4))
    y = (X[:, 0] > 0).astype(float)
    net = pydl.Network([4, 6, 5, 1], dtype="float64", keep_probs=[0.7, 0.8], seed=11)
    copy = pydl.Network([4, 6, 5, 1], dtype="float64", keep_probs=[0.7, 0.8], seed=11)
    copy.fit(X, y, epochs=1, learning_rate=0.1)       # epoch 0: full batch
    theta = net.theta.copy()
    net.theta = theta - 0.1 * _flat(net.gradients(X, y, masks=net.dropout_masks(37, 0, 0)), 3)
    for epoch in (1, 2):
        copy.fit(X, y, epochs=1, batch_size=8, learning_rate=0.1)
        for step, (Xb, yb) in enumerate(net.mini_batches(X, y, 8, epoch=epoch)):
            g = net.gradients(Xb, yb, masks=net.dropout_masks(len(Xb), epoch, step))
            net.theta = net.theta - 0.1 * _flat(g, 3)
    np.testing.assert_allclose(net.theta, copy.theta, rtol=1e-10, atol=1e-12)


def test_masks_bad_input():
    net = pydl.Network([3, 4, 2, 1], keep_probs=0.5)
    X, y = np.zeros((5, 3)), np.zeros(5)
    good = net.dropout_masks(5)
    assert [mk.shape for mk in good] == [(5, 4), (5, 2)] and good[0].dtype == np.uint8
    with pytest.raises(ValueError, match="one mask per hidden layer"):
        net.gradients(X, y, masks=good[:1])
    with pytest.raises(ValueError, match=r"masks\[1\] .* shape \(5, 2\)"):
        net.gradients(X, y, masks=[good[0], np.ones((2, 5))])
    with pytest.raises(ValueError, match="only 0 and 1"):
        net.forward(X, masks=[good[0] * 2, good[1]])
    with pytest.raises(ValueError, match="keep_probs without masks"):
        net.forward(X, keep_probs=0.5)
    with pytest.raises(ValueError, match="every keep_prob is 1.0"):
        pydl.Network([3, 4, 2, 1]).forward(X, masks=[None, None])
    with pytest.raises(ValueError, match="keep_probs"):
        net.forward(X, masks=good, keep_probs=1.5)


# ---- 5. mini-batches ---------------------------------------------------------------------------

def test_course_random_mini_batches_test_case():
    # random_mini_batches_test_case: np.random.seed(1); X = randn(12288, 148);
    # Y = randn(1, 148) < 0.5; random_mini_batches(X, Y, 64) with the default seed 0
    rs = np.random.RandomState(1)
    X, Y = rs.randn(12288, 148), rs.randn(1, 148) < 0.5
    batches = pydl.random_mini_batches(X.T, Y.T, batch_size=64)
    assert [b[0].shape for b in batches] == [(64, 12288), (64, 12288), (20, 12288)]
    assert [b[1].shape for b in batches] == [(64, 1), (64, 1), (20, 1)]
    np.testing.assert_allclose(batches[0][0][:3, 0], [0.90085595, -0.7612069, 0.2344157],
                               **PUBLISHED)
    # the course's own recipe: np.random.seed(0); permutation; columns
    perm = np.random.RandomState(0).permutation(148)
    for k, (Xb, Yb) in enumerate(batches):
        np.testing.assert_array_equal(Xb, X[:, perm[64 * k:64 * (k + 1)]].T)
        np.testing.assert_array_equal(Yb, Y[:, perm[64 * k:64 * (k + 1)]].T)


def test_random_mini_batches_generator_and_partition(rng):
    X, y = rng.standard_normal((50, 2)), np.arange(50)
    batches = pydl.random_mini_batches(X, y, 16, seed=np.random.default_rng(3))
    order = np.random.default_rng(3).permutation(50)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), order)
    assert [len(b[1]) for b in batches] == [16, 16, 16, 2]
    assert len(pydl.random_mini_batches(X, y, 50)) == 1
    with pytest.raises(ValueError, match="one row per example"):
        pydl.random_mini_batches(X, y[:3])
    with pytest.raises(ValueError, match="batch_size"):
        pydl.random_mini_batches(X, y, 0)


def test_network_mini_batches(rng):
    X, y = rng.standard_normal((20, 3)), np.arange(20)
    net = pydl.Network([3, 2, 1], seed=4)
    b0 = net.mini_batches(X, y, 6, epoch=0)
    assert [len(b[1]) for b in b0] == [6, 6, 6, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate([b[1] for b in b0])), np.arange(20))
    np.testing.assert_array_equal(np.concatenate([b[1] for b in b0]),
                                  pydl._core.permutation(net._train_seed, 0, 20))
    b1 = net.mini_batches(X, y, 6, epoch=1)
    assert not np.array_equal(b0[0][1], b1[0][1])
    full = net.mini_batches(X, y)
    np.testing.assert_array_equal(full[0][0], X)
    np.testing.assert_array_equal(net.mini_batches(X, y, 6, shuffle=False)[0][1], np.arange(6))


# ---- 6. gradient_check of a function -----------------------------------------------------------

def test_course_one_dimensional_gradient_check():
    # J(theta) = theta x, x = 2, theta = 4; the course prints difference = 2.919335883291695e-10
    x, theta, eps = 2.0, 4.0, 1e-7
    check = pydl.gradient_check(lambda t: t * x, theta, grad=lambda t: x)
    gradapprox = ((theta + eps) * x - (theta - eps) * x) / (2 * eps)
    course = np.linalg.norm(x - gradapprox) / (np.linalg.norm(x) + np.linalg.norm(gradapprox))
    assert check.difference == course
    assert check.difference == pytest.approx(2.919335883291695e-10, rel=1e-6)
    assert check.verdict == "great" and check.per_parameter == {}


def test_gradient_check_function_forms(rng):
    A = rng.standard_normal((4, 4))
    A = A @ A.T
    theta = rng.standard_normal((2, 2))

    def J(t):
        return 0.5 * t.ravel() @ A @ t.ravel()

    def grad(t):
        assert t.shape == (2, 2)
        return (A @ t.ravel()).reshape(2, 2)

    assert pydl.gradient_check(J, theta, grad=grad).verdict == "great"
    assert pydl.gradient_check(J, theta, grad(theta)).verdict == "great"
    assert pydl.gradient_check(lambda t: (J(t), grad(t)), theta).verdict == "great"
    wrong = pydl.gradient_check(J, theta, grad=lambda t: grad(t) * 1.01)
    assert wrong.verdict == "likely bug" and wrong.difference > 1e-5
    np.testing.assert_allclose(wrong.grad_approx, grad(theta).ravel(), rtol=1e-6)


def test_gradient_check_function_bad_input():
    with pytest.raises(TypeError, match="fun must return"):
        pydl.gradient_check(lambda t: "x", 1.0, grad=lambda t: 1.0)
    with pytest.raises(TypeError, match=r"\(J, dtheta\)"):
        pydl.gradient_check(lambda t: t, 1.0)
    with pytest.raises(ValueError, match="theta's 2 value"):
        pydl.gradient_check(lambda t: t.sum(), np.ones(2), grad=np.ones(3))
    with pytest.raises(ValueError, match="theta must be"):
        pydl.gradient_check(lambda t: t, np.nan, grad=1.0)
    with pytest.raises(TypeError, match="net must be a pydl.Network"):
        pydl.gradient_check(3, np.ones(2), np.ones(2))


def test_random_state_network_saves_and_loads(tmp_path, rng):
    net = pydl.Network([3, 4, 1], dtype="float64", keep_probs=0.8, seed=np.random.RandomState(3))
    net.save(tmp_path / "net.pydl")
    back = pydl.load(tmp_path / "net.pydl")
    np.testing.assert_array_equal(back.theta, net.theta)
    assert back.seed is None and back._train_seed == net._train_seed
    for a, b in zip(back.dropout_masks(7, 1, 2), net.dropout_masks(7, 1, 2)):
        np.testing.assert_array_equal(a, b)
