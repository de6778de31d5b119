"""The Network's forward pass, cost, gradients, initializers and full-batch training against
the NumPy oracle (tests/reference.py), for every activation, output and initializer, both
dtypes, on random shapes -- m = 1, odd sizes, and sizes above the OpenMP threshold."""
import pickle

import numpy as np
import pytest

import pydl
import reference as R
from conftest import (DTYPE_KERNELS, DTYPES, FLOAT_KERNELS, HIDDEN, OUTPUTS, RTOL, needs_openmp,
                      assert_close, make_targets, ref_params, ref_targets)

# (hidden sizes, m): m = 1, odd sizes, and a step large enough to run multi-threaded
# (layers of >= 128 units are split into several row blocks, see csrc/net.c)
SHAPES = [((), 1), ((3,), 1), ((4,), 7), ((9, 5), 33), ((130, 64), 301)]


def random_case(rng, hidden, output, hidden_sizes, m, dtype, n_x=None, n_out=None):
    n_x = n_x or int(rng.integers(1, 12))
    n_out = n_out or (int(rng.integers(2, 6)) if output == "softmax" else int(rng.integers(1, 4)))
    dims = [n_x, *hidden_sizes, n_out]
    acts = [hidden] * len(hidden_sizes) + [output]
    net = pydl.Network(dims, activations=acts, init="xavier", dtype=dtype,
                       seed=int(rng.integers(2**31)), leaky_slope=0.05)
    # non-zero biases so that their gradients are exercised too
    net.set_parameters({f"b{l}": rng.standard_normal((dims[l], 1)) * 0.3
                        for l in range(1, len(dims))})
    # relu/leaky relu: a pre-activation within float32 rounding of 0 would flip g'(z) between
    # the network and the float64 oracle; redraw X until none is that close
    for _ in range(50):
        X = rng.standard_normal((m, n_x)) * 1.5
        if hidden not in ("relu", "leaky_relu") or not hidden_sizes:
            break
        _, caches = R.forward(X.astype(dtype).astype(np.float64).T, ref_params(net), acts,
                              slope=0.05)
        if min(np.abs(c["Z"]).min() for c in caches[:-1]) > 3e-6:
            break
    y = make_targets(rng, m, n_out, output)
    return net, acts, X, y


@pytest.mark.parametrize("dtype,kernel", DTYPE_KERNELS)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("hidden_sizes,m", SHAPES)
def test_forward_cost_gradients_match_reference(rng, kernel_of, kernel, dtype, output, hidden,
                                                hidden_sizes, m):
    kernel_of(kernel)
    net, acts, X, y = random_case(rng, hidden, output, hidden_sizes, m, dtype)
    if m == 301:
        assert net._arch.effective_threads(2, m) == 2  # the threaded path runs (with OpenMP)
    P = ref_params(net)
    Xr = X.astype(dtype).astype(np.float64).T  # the network sees X rounded to its dtype
    AL, caches = R.forward(Xr, P, acts, slope=0.05)
    # the output is within rounding of the terms summed into it, |W| |A_prev| + |b| (a value
    # that cancels to near 0, as a linear output can, is not known to its own relative 1e-5)
    last = caches[-1]
    terms = np.abs(last["W"]) @ np.abs(last["A_prev"]) + np.abs(last["b"])
    assert_close(net.forward(X), AL.T, dtype, scale=max(np.abs(AL).max(), terms.max()))

    Y = ref_targets(y, output)
    for l2, l1 in [(0.0, 0.0), (0.7, 0.0), (0.0, 0.3), (0.5, 0.2)]:
        J = R.compute_cost_with_regularization(AL, Y, P, output, lambd=l2, l1=l1)
        # float32: Z itself carries ~1e-7 relative rounding, so a cost near 0 is known to
        # ~1e-5 absolutely (the loss scale), not relatively
        rtol = RTOL[np.dtype(dtype)]
        assert net.cost(X, y, l2=l2, l1=l1) == pytest.approx(
            J, rel=rtol, abs=rtol if dtype == np.float32 else 0)
        expected = R.backward(AL, Y, caches, acts, output, lambd=l2, l1=l1, slope=0.05)
        grads = net.gradients(X, y, l2=l2, l1=l1)
        assert sorted(grads) == sorted(f"d{k}" for k in net.parameters)
        # float32 sums that cancel (db near 0) are accurate to float32 relative to the
        # gradient's scale, not to their own tiny value: compare on the whole vector's scale
        scale = max(np.abs(expected[k]).max() for k in grads) if dtype == np.float32 else None
        for key, g in grads.items():
            assert g.shape == net.parameters[key[1:]].shape
            assert_close(g, expected[key], dtype, scale=scale)


@needs_openmp
@pytest.mark.parametrize("dtype,kernel", DTYPE_KERNELS)
@pytest.mark.parametrize("output", OUTPUTS)
def test_threads_give_identical_results(rng, kernel_of, kernel, dtype, output):
    """Each output element is computed by one thread in a fixed order."""
    kernel_of(kernel)
    net, _, X, y = random_case(rng, "relu", output, (160, 130), 517, dtype, n_x=200)
    assert net._arch.effective_threads(2, 517) == 2  # the parallel path runs
    one = (net.forward(X, n_threads=1), net.gradients(X, y, l2=0.1))
    net.n_threads = 2
    two = (net.forward(X), net.gradients(X, y, l2=0.1))
    np.testing.assert_array_equal(one[0], two[0])
    for k in one[1]:
        np.testing.assert_array_equal(one[1][k], two[1][k])


@pytest.mark.parametrize("output", OUTPUTS)
def centred_difference(net, X, y, grad, l2=0.0, l1=0.0, eps=1e-7):
    """The course's check: ||dtheta_approx - grad|| / (||dtheta_approx|| + ||grad||), the
    approximation from centred differences of net.cost over every coordinate of theta."""
    theta = net._theta  # the array itself, perturbed in place: cost reads theta, not the pack
    approx = np.empty_like(theta)
    for i in range(theta.size):
        old = theta[i]
        theta[i] = old + eps
        plus = net.cost(X, y, l2=l2, l1=l1)
        theta[i] = old - eps
        minus = net.cost(X, y, l2=l2, l1=l1)
        theta[i] = old
        approx[i] = (plus - minus) / (2 * eps)
    return np.linalg.norm(approx - grad) / (np.linalg.norm(approx) + np.linalg.norm(grad))


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradient_check_centred_differences(rng, hidden, output):
    """The course's gradient check over all of theta in float64: relative difference < 1e-7."""
    net, _, X, y = random_case(rng, hidden, output, (5, 4), 11, np.float64, n_x=3)
    if hidden in ("relu", "leaky_relu"):  # keep pre-activations away from the kink
        net.set_parameters({"b1": np.full((5, 1), 0.5), "b2": np.full((4, 1), 0.5)})
    l2, l1 = 0.3, 0.1
    grad = np.concatenate([g.ravel() for g in net.gradients(X, y, l2=l2, l1=l1).values()])
    assert np.abs(grad).max() > 1e-3, "an all-zero gradient proves nothing"
    assert centred_difference(net, X, y, grad, l2, l1) < 1e-7


@pytest.mark.parametrize("where", ["W1", "b2", "l2-term"])
def test_gradient_check_catches_a_wrong_gradient(rng, where):
    """The check used above must be able to fail: a gradient off by 1% in one coordinate, or
    missing its regularization term, is caught by the same function."""
    net, _, X, y = random_case(rng, "tanh", "sigmoid", (4,), 9, np.float64, n_x=3)
    grads = net.gradients(X, y, l2=0 if where == "l2-term" else 0.3)
    if where == "W1":
        grads["dW1"][0, 0] *= 1.01
    elif where == "b2":
        grads["db2"][0, 0] += 0.01 * np.abs(grads["db2"]).max() + 1e-3
    grad = np.concatenate([g.ravel() for g in grads.values()])
    assert centred_difference(net, X, y, grad, l2=0.3) > 1e-7


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("init", ["random", "xavier", "xavier_avg", "he"])
def test_initializers_have_the_course_scale(dtype, init):
    n_prev, n_cur = 400, 300
    net = pydl.Network([n_prev, n_cur, 2], init=init, dtype=dtype, seed=5, init_scale=0.02)
    for l, (a, b) in enumerate([(n_prev, n_cur), (n_cur, 2)], start=1):
        W = net.parameters[f"W{l}"]
        expected = R.init_std(init, a, b, scale=0.02)
        n = W.size
        # the sample std of n normal draws is within ~4/sqrt(2n) relative of the true one
        assert W.std() == pytest.approx(expected, rel=4 / np.sqrt(2 * n))
        assert abs(W.mean()) < 4 * expected / np.sqrt(n)
        assert not net.parameters[f"b{l}"].any()
    assert net.theta.dtype == dtype


def test_zero_init_is_zero_and_warns_about_symmetry():
    with pytest.warns(RuntimeWarning, match="symmetric"):
        net = pydl.Network([3, 4, 1], init="zeros")
    assert not net.theta.any()
    # logistic regression from zeros is fine (no hidden units to keep symmetric)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pydl.Network([3, 1], init="zeros")


def test_seed_makes_initialization_reproducible():
    a = pydl.Network([5, 8, 3], seed=11)
    b = pydl.Network([5, 8, 3], seed=11)
    c = pydl.Network([5, 8, 3], seed=12)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert not np.array_equal(a.theta, c.theta)


def test_parameters_are_views_into_theta():
    net = pydl.Network([3, 4, 2], seed=0, dtype="float64")
    params = net.parameters
    assert params["W1"].shape == (4, 3) and params["b1"].shape == (4, 1)
    assert params["W2"].shape == (2, 4) and params["b2"].shape == (2, 1)
    assert net.theta.shape == (4 * 3 + 4 + 2 * 4 + 2,)
    # read-only: predict reads a packed copy that only theta's setter and set_parameters
    # rebuild, so a write through a view would leave it stale
    for view in (params["b2"], net.theta):
        with pytest.raises(ValueError, match="read-only"):
            view[...] = 1.0
    net.set_parameters({"b2": np.array([0.0, 7.0])})   # (n,) accepted for a bias
    assert net.theta[-1] == 7.0 and params["b2"][1, 0] == 7.0  # the views follow
    theta = np.arange(net.theta.size, dtype=float)
    net.theta = theta  # the setter writes in place: views stay valid
    np.testing.assert_array_equal(params["W1"], np.arange(12).reshape(4, 3))
    np.testing.assert_array_equal(net.predict_proba(np.eye(3)),
                                  pydl.Network([3, 4, 2], dtype="float64").set_parameters(
                                      net.parameters).predict_proba(np.eye(3)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output,hidden", [("sigmoid", "tanh"), ("softmax", "relu"),
                                           ("linear", "leaky_relu")])
def test_full_batch_gradient_descent_matches_reference(rng, dtype, output, hidden):
    net, acts, X, y = random_case(rng, hidden, output, (6, 5), 41, dtype, n_x=4)
    P = ref_params(net)
    Xr, Y = X.astype(dtype).astype(np.float64).T, ref_targets(y, output)
    lr, l2, epochs = 0.1, 0.2, 5
    history = net.fit(X, y, epochs=epochs, learning_rate=lr, l2=l2)
    costs = []
    for _ in range(epochs):
        AL, caches = R.forward(Xr, P, acts, slope=0.05)
        costs.append(R.compute_cost_with_regularization(AL, Y, P, output, lambd=l2))
        grads = R.backward(AL, Y, caches, acts, output, lambd=l2, slope=0.05)
        P = R.update_parameters_with_gd(P, grads, lr)
    # float32 error grows a little with each step; five steps stay well inside 1e-5 * 10
    rtol = RTOL[np.dtype(dtype)] * (10 if dtype == np.float32 else 1)
    np.testing.assert_allclose(history.cost, costs, rtol=rtol)
    for k, v in net.parameters.items():
        np.testing.assert_allclose(v, P[k], rtol=rtol, atol=rtol * np.abs(P[k]).max())
    assert history.epochs == list(range(epochs)) and net.epochs_trained == epochs
    assert history.learning_rate == [lr] * epochs


def test_fit_continues_where_it_stopped():
    X, y = pydl.datasets.load_planar()
    a = pydl.Network([2, 4, 1], hidden_activation="tanh", init="random", seed=3)
    b = pydl.Network([2, 4, 1], hidden_activation="tanh", init="random", seed=3)
    a.fit(X, y, epochs=30, learning_rate=1.2)
    h1 = b.fit(X, y, epochs=10, learning_rate=1.2)
    h2 = b.fit(X, y, epochs=20, learning_rate=1.2)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert h2.epochs == list(range(10, 30)) and len(h1) == 10


def test_float64_input_to_float32_network_is_converted(rng):
    net_a = pydl.Network([3, 5, 1], seed=2)
    net_b = pydl.Network([3, 5, 1], seed=2)
    X = rng.standard_normal((20, 3))
    y = (X[:, 0] > 0).astype(int)
    net_a.fit(X, y, epochs=3, learning_rate=0.1)
    net_b.fit(X.astype(np.float32), y, epochs=3, learning_rate=0.1)
    np.testing.assert_array_equal(net_a.theta, net_b.theta)
    assert net_a.forward(X).dtype == np.float32


def test_logistic_regression_is_one_layer(rng):
    X = rng.standard_normal((200, 2))
    y = (X @ [1.5, -2.0] + 0.3 > 0).astype(int)
    net = pydl.Network([2, 1], init="zeros", dtype="float64")
    history = net.fit(X, y, epochs=300, learning_rate=0.5)
    assert history.cost[-1] < history.cost[0] < 0.7
    assert net.score(X, y) > 0.95
    w = net.parameters["W1"].ravel()
    assert w[0] > 0 > w[1]  # it found the direction of the separating line


def test_predict_shapes_and_labels(rng):
    X = rng.standard_normal((10, 4))
    soft = pydl.Network([4, 6, 3], output_activation="softmax", seed=0)
    proba = soft.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(soft.predict(X), proba.argmax(axis=1))
    one = pydl.Network([4, 6, 1], seed=0)
    assert one.predict(X).shape == (10,)
    np.testing.assert_array_equal(one.predict(X), (one.predict_proba(X)[:, 0] > 0.5))
    multi = pydl.Network([4, 6, 2], seed=0)
    assert multi.predict(X).shape == (10, 2)
    lin = pydl.Network([4, 6, 1], output_activation="linear", seed=0)
    np.testing.assert_array_equal(lin.predict(X), lin.forward(X)[:, 0])
    with pytest.raises(ValueError, match="predict_proba"):
        lin.predict_proba(X)


def test_score(rng):
    X = rng.standard_normal((50, 3))
    net = pydl.Network([3, 4, 1], seed=1)
    pred = net.predict(X)
    assert net.score(X, pred) == 1.0
    assert net.score(X, 1 - pred) == 0.0
    lin = pydl.Network([3, 4, 1], output_activation="linear", seed=1, dtype="float64")
    assert lin.score(X, lin.predict(X)) == pytest.approx(1.0)


@pytest.mark.parametrize("n_out", [1, 3])
def test_r2_of_imperfect_predictions(rng, n_out):
    """R^2 = 1 - sum (y - pred)^2 / sum (y - mean(y))^2 over all outputs, on predictions
    that are off: against the formula in NumPy."""
    X = rng.standard_normal((40, 3))
    lin = pydl.Network([3, 5, n_out], output_activation="linear", seed=2, dtype="float64")
    pred = lin.predict(X).reshape(40, n_out)
    y = pred + rng.standard_normal(pred.shape) * 0.3 + 0.1
    expected = 1 - ((y - pred) ** 2).sum() / ((y - y.mean(axis=0)) ** 2).sum()
    assert 0 < expected < 1
    assert lin.score(X, y.squeeze()) == pytest.approx(expected, rel=1e-12)
    worse = y.mean(axis=0) + 2 * (y - y.mean(axis=0))  # below zero: worse than the mean
    expected = 1 - ((worse - pred) ** 2).sum() / ((worse - worse.mean(axis=0)) ** 2).sum()
    assert lin.score(X, worse.squeeze()) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cost_at_large_logits(rng, dtype):
    """Logits in the hundreds (exp overflows float32 at 89, float64 at 710): the cost is
    computed stably, against log-sum-exp in float64."""
    from scipy.special import logsumexp

    net = pydl.Network([4, 6], output_activation="softmax", dtype=dtype, seed=0)
    net.set_parameters({"W1": rng.standard_normal((6, 4)) * 300})
    X = rng.standard_normal((25, 4))
    y = rng.integers(0, 6, 25)
    W, b = (net.parameters[k].astype(np.float64) for k in ("W1", "b1"))
    Z = W @ X.astype(dtype).astype(np.float64).T + b
    assert np.abs(Z).max() > 750
    expected = np.mean(logsumexp(Z, axis=0) - Z[y, np.arange(25)])
    cost = net.cost(X, y)
    assert np.isfinite(cost)
    assert cost == pytest.approx(expected, rel=RTOL[np.dtype(dtype)])


def test_forward_in_chunks_matches_one_pass(rng, monkeypatch):
    import pydl.network as network
    net = pydl.Network([6, 9, 2], seed=4, dtype="float64")
    X = rng.standard_normal((37, 6))
    y = (rng.random((37, 2)) < 0.5).astype(int)
    whole, cost = net.forward(X), net.cost(X, y, l2=0.4)
    monkeypatch.setattr(network, "_CHUNK_ELEMENTS", 100)  # ~ 4 rows per chunk
    assert net._chunk_rows() < 10
    np.testing.assert_allclose(net.forward(X), whole, rtol=1e-14)
    assert net.cost(X, y, l2=0.4) == pytest.approx(cost, rel=1e-13)


@needs_openmp
@pytest.mark.parametrize("kernel", FLOAT_KERNELS)
@pytest.mark.parametrize("threads", [3, 4, 5])
def test_uneven_block_splits_give_identical_results(rng, kernel_of, kernel, threads):
    """More blocks than threads, threads without a block, blocks not a multiple of threads
    (the 400-unit layer has 6 row blocks of 64+, the 130-unit one 2): the same bits as one
    thread (the float32 training with each kernel)."""
    kernel_of(kernel)
    net, _, X, y = random_case(rng, "tanh", "softmax", (400, 130), 257, np.float64, n_x=300,
                               n_out=4)
    assert net._arch.effective_threads(threads, 257) == threads
    one = (net.forward(X, n_threads=1), net.gradients(X, y, l2=0.1))
    net.n_threads = threads
    many = (net.forward(X), net.gradients(X, y, l2=0.1))
    np.testing.assert_array_equal(one[0], many[0])
    for k in one[1]:
        np.testing.assert_array_equal(one[1][k], many[1][k])
    a = pydl.Network([300, 400, 130, 4], output_activation="softmax", seed=3, n_threads=1)
    b = pydl.Network([300, 400, 130, 4], output_activation="softmax", seed=3,
                     n_threads=threads, keep_probs=1.0)
    for n in (a, b):
        n.fit(X, y, epochs=2, batch_size=64, optimizer=pydl.Adam(0.001))
    np.testing.assert_array_equal(a.theta, b.theta)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parameters_state_and_workspaces_start_on_cache_lines(dtype):
    """theta, the optimizer's moments and the workspace start on 64-byte lines (the
    kernels' row loads then never straddle two), also after a pickle round trip."""
    net = pydl.Network([7, 5, 3], output_activation="softmax", dtype=dtype, seed=0)
    opt = pydl.Adam(0.01)
    net.fit(np.ones((4, 7)), np.array([0, 1, 2, 0]), epochs=1, optimizer=opt)
    again = pickle.loads(pickle.dumps(net))
    for a in (net.theta, opt.v, opt.s, again.theta, net._arch.workspace(dtype, 9)):
        assert a.ctypes.data % pydl._core.ALIGNMENT == 0 and a.dtype == dtype
    for n in (0, 1, 17, 1000):
        a = pydl._core.aligned_empty(n, dtype, zero=True)
        assert a.shape == (n,) and a.dtype == dtype and a.flags.c_contiguous
        assert a.flags.writeable and not a.any()
        assert n == 0 or a.ctypes.data % 64 == 0
    with pytest.raises(ValueError, match="n must be >= 0"):
        pydl._core.aligned_empty(-1, dtype)
