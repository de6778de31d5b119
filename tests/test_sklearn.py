"""pydl.sklearn: scikit-learn's own estimator checks, the places users put an estimator
(pipelines, grid search, cross-validation, displays...), and the estimators' numbers against
NumPy references written here from scikit-learn's documented formulas."""
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="pydl[sklearn] (scikit-learn) is not installed")

import pydl  # noqa: E402
from pydl import _core  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from pydl.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

RTOL = {np.float64: 1e-10, np.float32: 1e-5}


# scikit-learn's own MLPClassifier and MLPRegressor declare no expected failures
# (PER_ESTIMATOR_XFAIL_CHECKS in sklearn/utils/_test_common/instance_generator.py), and
# neither do these: nothing is xfailed. Two checks skip themselves, for scikit-learn's MLP
# too: check_array_api_input (needs SCIPY_ARRAY_API=1 in the environment) and
# check_classifiers_multilabel_output_format_decision_function (no decision_function).
# dtype=None computes in the input's dtype, as scikit-learn's MLP: in float32 (pydl's
# default) "sample_weight equals repeated rows" holds to ~1e-5 (the two sums round
# differently; test_sample_weights_equal_repeated_rows_float32), not to the checks' 1e-7.
@parametrize_with_checks([
    MLPClassifier(dtype=None, max_iter=100),
    MLPRegressor(dtype=None, max_iter=100),
    MLPClassifier(solver="lbfgs", dtype=None, max_iter=100),
    MLPRegressor(solver="sgd", dtype=None, max_iter=100),
])
def test_sklearn_checks(estimator, check):
    check(estimator)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


def blobs(n=120, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (k, d))
    y = rng.integers(0, k, n)
    return centers[y] + rng.normal(0, 1, (n, d)), y


# ---- NumPy references (scikit-learn's formulas) --------------------------------------

def ref_cost_grad(coefs, intercepts, X, Y, hidden, output, alpha, sw=None):
    """scikit-learn's MLP loss and gradients (its _backprop), sample weights included:
    loss = weighted mean of the per-example loss + alpha/(2 sum w) sum ||W||^2."""
    acts = [X]
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        Z = acts[-1] @ W + b
        if i < len(coefs) - 1:
            acts.append({"relu": np.maximum(Z, 0), "tanh": np.tanh(Z),
                         "logistic": 1 / (1 + np.exp(-Z)), "identity": Z}[hidden])
        elif output == "softmax":
            E = np.exp(Z - Z.max(axis=1, keepdims=True))
            acts.append(E / E.sum(axis=1, keepdims=True))
        elif output == "logistic":
            acts.append(1 / (1 + np.exp(-Z)))
        elif output == "exp":
            acts.append(np.exp(Z))
        else:
            acts.append(Z)
    A = acts[-1]
    w = np.ones(len(X)) if sw is None else sw
    if output == "softmax":
        per = -(Y * np.log(A)).sum(axis=1)
    elif output == "logistic":
        per = -(Y * np.log(A) + (1 - Y) * np.log(1 - A)).sum(axis=1)
    elif output == "exp":  # scikit-learn's poisson_loss: xlogy(y, y / a) - y + a
        from scipy.special import xlogy

        per = (xlogy(Y, Y / A) - Y + A).sum(axis=1)
    else:
        per = 0.5 * ((A - Y) ** 2).sum(axis=1)
    sw_sum = w.sum()
    loss = (w * per).sum() / sw_sum + 0.5 * alpha * sum((W ** 2).sum() for W in coefs) / sw_sum
    delta = (A - Y) * w[:, None]
    gW, gb = [None] * len(coefs), [None] * len(coefs)
    for i in range(len(coefs) - 1, -1, -1):
        gW[i] = (acts[i].T @ delta + alpha * coefs[i]) / sw_sum
        gb[i] = delta.sum(axis=0) / sw_sum
        if i:
            delta = delta @ coefs[i].T
            a = acts[i]
            delta = delta * {"relu": (a > 0), "tanh": 1 - a ** 2, "logistic": a * (1 - a),
                             "identity": 1.0}[hidden]
    return loss, gW, gb


def flat_grad(net, gW, gb):
    """scikit-learn-oriented gradients in the layout of net.theta."""
    return np.concatenate([np.concatenate([g.T.ravel(), b]) for g, b in zip(gW, gb)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("output,hidden", [("softmax", "relu"), ("logistic", "tanh"),
                                           ("identity", "logistic"), ("exp", "tanh")])
def test_weighted_cost_and_gradient_match_reference(dtype, output, hidden):
    rng = np.random.default_rng(1)
    m, dims = 37, [6, 9, 4]
    X = rng.normal(size=(m, dims[0]))
    act = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "linear"}[hidden]
    out = {"softmax": "softmax", "logistic": "sigmoid", "identity": "linear",
           "exp": "exp"}[output]
    net = pydl.Network(dims, activations=[act, out], init="xavier", dtype=dtype, seed=3)
    labels = rng.integers(0, dims[-1], m).astype(np.int32)
    if output == "softmax":
        Y, Yref = None, np.eye(dims[-1])[labels]
    elif output == "logistic":
        Y = rng.integers(0, 2, (m, dims[-1])).astype(dtype)
        Yref, labels = Y.astype(np.float64), None
    elif output == "exp":  # counts, zeros included
        Y = rng.poisson(2.0, (m, dims[-1])).astype(dtype)
        Yref, labels = Y.astype(np.float64), None
    else:
        Y = rng.normal(size=(m, dims[-1])).astype(dtype)
        Yref, labels = Y.astype(np.float64), None
    sw = rng.integers(0, 4, m).astype(np.float64) + rng.random(m)
    alpha = 0.3
    p = net.parameters
    coefs = [p["W1"].T.astype(np.float64), p["W2"].T.astype(np.float64)]
    inter = [p["b1"][:, 0].astype(np.float64), p["b2"][:, 0].astype(np.float64)]
    loss, gW, gb = ref_cost_grad(coefs, inter, X.astype(dtype).astype(np.float64), Yref,
                                 hidden, output, alpha, sw.astype(dtype).astype(np.float64))
    grad = np.empty_like(net.theta)
    cost = _core.cost_grad(net._arch, net.theta, X.astype(dtype), Y, labels, alpha, 0.0, grad,
                           net._arch.workspace(dtype, m), 2, sample_weight=sw.astype(dtype))
    np.testing.assert_allclose(cost, loss, rtol=RTOL[dtype])
    expected = flat_grad(net, gW, gb)
    np.testing.assert_allclose(grad, expected, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * np.abs(expected).max())
    assert np.abs(expected).max() > 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["sgd_momentum", "nesterov"])
def test_sklearn_momentum_update_matches_reference(dtype, kind):
    """scikit-learn's SGDOptimizer: v = mu v - lr g; theta += v (Nesterov: += mu v - lr g)."""
    rng = np.random.default_rng(2)
    P, mu = 70001, 0.85  # above the C update's parallel threshold
    theta = rng.normal(size=P).astype(dtype)
    v = np.zeros(P, dtype)
    th_ref, v_ref = theta.astype(np.float64), np.zeros(P)
    for t, lr in enumerate([0.1, 0.05, 0.02], start=1):
        g = rng.normal(size=P).astype(dtype)
        _core.update(kind, mu, 0.0, 1.0, t, lr, theta, g, v, None, 2)
        v_ref = mu * v_ref - lr * g
        th_ref += (mu * v_ref - lr * g) if kind == "nesterov" else v_ref
    np.testing.assert_allclose(theta, th_ref, rtol=RTOL[dtype], atol=RTOL[dtype])
    np.testing.assert_allclose(v, v_ref, rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_minibatch_training_matches_reference(dtype):
    """One epoch, plain gradient descent, batches of 7 in order: each step follows the
    weighted cost of its own batch (weights normalized by the batch's sum)."""
    rng = np.random.default_rng(4)
    m, dims, lr, alpha = 23, [4, 5, 3], 0.2, 0.1
    X = rng.normal(size=(m, dims[0]))
    y = rng.integers(0, 3, m)
    sw = rng.random(m) * 2
    sw[:7] = 0  # a batch whose weights sum to 0 contributes nothing
    net = pydl.Network(dims, output_activation="softmax", dtype=dtype, seed=5)
    coefs = [net.parameters["W1"].T.astype(np.float64), net.parameters["W2"].T.astype(np.float64)]
    inter = [net.parameters["b1"][:, 0].astype(np.float64),
             net.parameters["b2"][:, 0].astype(np.float64)]
    Xd, swd = X.astype(dtype).astype(np.float64), sw.astype(dtype).astype(np.float64)
    costs_ref = []
    for lo in range(0, m, 7):
        b = slice(lo, lo + 7)
        if swd[b].sum() == 0:
            costs_ref.append(0.0)
            continue
        loss, gW, gb = ref_cost_grad(coefs, inter, Xd[b], np.eye(3)[y[b]], "relu", "softmax",
                                     alpha, swd[b])
        costs_ref.append(loss * len(Xd[b]))
        coefs = [c - lr * g for c, g in zip(coefs, gW)]
        inter = [c - lr * g for c, g in zip(inter, gb)]
    costs = np.empty(1)
    _core.train(net._arch, net._theta, None, None, X.astype(dtype), None, y.astype(np.int32),
                optimizer="gd", beta1=0.0, beta2=0.0, epsilon=1.0,
                progress=np.zeros(2, np.int64), lrs=np.array([lr]), costs=costs, epoch0=0,
                batch_size=7, shuffle=False, seed=0, l2=alpha, l1=0.0, lr_step_k=0.0,
                n_threads=2, work=net._arch.workspace(dtype, 7), perm=np.empty(m, np.int32),
                sample_weight=sw.astype(dtype))
    np.testing.assert_allclose(net.theta, flat_grad(net, coefs, inter), rtol=RTOL[dtype],
                               atol=RTOL[dtype])
    np.testing.assert_allclose(costs[0], sum(costs_ref) / m, rtol=RTOL[dtype])


def test_sample_weight_is_checked_at_the_door():
    net = pydl.Network([2, 3, 1], dtype="float64")
    X, Y = np.ones((4, 2)), np.ones((4, 1))
    work, grad = net._arch.workspace(np.float64, 4), np.empty_like(net.theta)
    for bad, err in [(np.array([1.0, -1, 1, 1]), ValueError), (np.zeros(4), ValueError),
                     (np.array([1.0, np.nan, 1, 1]), ValueError), (np.ones(3), ValueError),
                     (np.ones(4, np.float32), TypeError)]:
        with pytest.raises(err, match="sample_weight"):
            _core.cost_grad(net._arch, net.theta, X, Y, None, 0.0, 0.0, grad, work, 1,
                            sample_weight=bad)


# ---- the estimators -------------------------------------------------------------------

def forward_from_coefs(est, X):
    A = X
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        Z = A @ W + b
        A = np.maximum(Z, 0) if i < len(est.coefs_) - 1 else Z
    return A


def test_coefs_are_sklearn_oriented_and_predict_follows_them():
    X, y = blobs()
    clf = quiet(MLPClassifier(hidden_layer_sizes=(7, 6), max_iter=30, dtype=None,
                              random_state=0).fit, X, y)
    assert [c.shape for c in clf.coefs_] == [(5, 7), (7, 6), (6, 3)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (6,), (3,)]
    Z = forward_from_coefs(clf, X)
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), P, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[P.argmax(axis=1)])
    with pytest.raises(ValueError, match="read-only"):   # views: assign whole lists
        clf.coefs_[0][0, 0] = 1.0
    clf.coefs_ = [c * 1.5 for c in clf.coefs_]
    clf.intercepts_ = [b + 0.25 for b in clf.intercepts_]
    Z2 = forward_from_coefs(clf, X)
    assert not np.allclose(Z2, Z)
    P = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(X), P / P.sum(axis=1, keepdims=True),
                               rtol=1e-10, atol=1e-14)   # predict follows the new weights
    assert (clf.n_layers_, clf.n_outputs_, clf.out_activation_) == (4, 3, "softmax")
    assert clf.network_.dtype == np.float64 and clf.n_features_in_ == 5  # dtype=None: X's
    assert MLPClassifier(max_iter=1).fit(X, y).network_.dtype == np.float32  # the default


def test_init_is_sklearns_glorot_uniform():
    X, y = blobs(n=50, d=40)
    clf = MLPClassifier(hidden_layer_sizes=(30,), max_iter=1, learning_rate_init=1e-12,
                        random_state=0)
    quiet(clf.fit, X, y)
    for W in clf.coefs_:
        bound = np.sqrt(6 / sum(W.shape))
        assert np.abs(W).max() <= bound and np.abs(W).max() > 0.9 * bound
        assert abs(W.mean()) < 0.1 * bound


@pytest.mark.parametrize("y", [
    np.array(["cat", "dog", "emu"] * 10),
    np.array([-3, 5] * 15),
    np.array([1.0, 2.0, 7.0] * 10),
])
def test_label_types(y):
    X = np.random.default_rng(0).normal(size=(30, 4)) + (y == y[0])[:, None] * 3
    clf = quiet(MLPClassifier(max_iter=200, random_state=0).fit, X, y)
    np.testing.assert_array_equal(clf.classes_, np.unique(y))
    assert clf.predict(X).dtype == y.dtype
    assert set(clf.predict(X)) <= set(y)
    P = clf.predict_proba(X)
    assert P.shape == (30, len(np.unique(y)))
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-6)  # float32 probabilities
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(P))


def test_binary_and_multilabel():
    X, y = blobs(k=2)
    clf = quiet(MLPClassifier(max_iter=50, random_state=0).fit, X, y)
    P = clf.predict_proba(X)
    assert P.shape == (len(y), 2) and clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    Y = np.stack([y, 1 - y, (X[:, 0] > 0).astype(int)], axis=1)
    ml = quiet(MLPClassifier(max_iter=50, random_state=0).fit, X, Y)
    assert ml.predict(X).shape == Y.shape and ml.predict_proba(X).shape == Y.shape
    assert ml.out_activation_ == "logistic" and ml.n_outputs_ == 3


def test_sgd_momentum_relates_to_the_course_form():
    """Constant rate: scikit-learn's v = mu v - lr g equals the course's pydl.Momentum with
    beta = mu and alpha = lr / (1 - mu)."""
    X, y = blobs(n=40)
    est = MLPRegressor(hidden_layer_sizes=(6,), solver="sgd", momentum=0.8,
                       nesterovs_momentum=False, batch_size=40, shuffle=False, max_iter=6,
                       tol=0, n_iter_no_change=np.inf, alpha=0.01, learning_rate_init=0.01,
                       dtype="float64", random_state=0)
    target = X @ np.arange(5.0)
    net = quiet(clone(est).set_params(max_iter=1, learning_rate_init=1e-300).fit, X,
                target).network_
    theta0 = net.theta.copy()
    quiet(est.fit, X, target)
    net.theta = theta0
    net.fit(X, target, epochs=6, optimizer=pydl.Momentum(0.01 / (1 - 0.8), beta=0.8), l2=0.01)
    np.testing.assert_allclose(est.network_.theta, net.theta, rtol=1e-9, atol=1e-12)


def test_invscaling_rates():
    """learning_rate='invscaling': lr_init / (t_ + 1) ** power_t after every epoch, t_ the
    number of samples seen: the same as plain gradient descent with those rates."""
    X, y = blobs(n=30)
    target = X[:, 0] - X[:, 1]
    est = MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", momentum=0.0, batch_size=30,
                       learning_rate="invscaling", power_t=0.5, learning_rate_init=0.05,
                       max_iter=5, tol=0, n_iter_no_change=np.inf, dtype="float64",
                       random_state=0)
    net = quiet(clone(est).set_params(max_iter=1, learning_rate_init=1e-300).fit, X,
                target).network_
    quiet(est.fit, X, target)
    for epoch in range(5):
        lr = 0.05 if epoch == 0 else 0.05 / (30 * epoch + 1) ** 0.5
        net.fit(X, target, epochs=1, learning_rate=lr, l2=1e-4)
    np.testing.assert_allclose(est.network_.theta, net.theta, rtol=1e-10, atol=1e-13)
    assert est.t_ == 150 and est.n_iter_ == 5


def test_adaptive_divides_the_rate_and_stops():
    X, y = blobs(n=60)
    est = MLPClassifier(solver="sgd", learning_rate="adaptive", learning_rate_init=0.5,
                        n_iter_no_change=2, tol=10.0, max_iter=500, random_state=0)
    est.fit(X, y)
    # tol=10: no epoch after the first counts as an improvement, so the rate is divided by 5
    # every 3 epochs from 0.5 until it is <= 1e-6 (9 divisions), then training stops; the
    # same bookkeeping as scikit-learn's
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    theirs = SklearnMLP(**{k: v for k, v in est.get_params().items()
                           if k in SklearnMLP().get_params()}).fit(X, y)
    assert est.n_iter_ == theirs.n_iter_ == 1 + 3 * 10
    assert est._opt_state["lr"] == pytest.approx(0.5 / 5 ** 9)
    assert theirs._optimizer.learning_rate == pytest.approx(0.5 / 5 ** 9)


def test_verbose_prints_the_loss_of_each_iteration(capsys):
    X, y = blobs(n=60)
    for solver in ("adam", "lbfgs"):
        est = quiet(MLPClassifier(solver=solver, max_iter=3, verbose=True, random_state=0).fit,
                    X, y)
        lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Iter")]
        assert len(lines) == est.n_iter_ == 3
        assert float(lines[-1].split("loss = ")[1]) == pytest.approx(est.loss_, rel=1e-6)


def test_stopping_rules_and_curves():
    X, y = blobs(n=200)
    est = MLPClassifier(max_iter=300, random_state=0, tol=1e-3, n_iter_no_change=5).fit(X, y)
    assert len(est.loss_curve_) == est.n_iter_ < 300
    assert est.best_loss_ == min(est.loss_curve_) and est.loss_ == est.loss_curve_[-1]
    assert est.t_ == 200 * est.n_iter_ and est.validation_scores_ is None
    es = MLPClassifier(max_iter=300, random_state=0, early_stopping=True, n_iter_no_change=3)
    es.fit(X, y)
    assert len(es.validation_scores_) == es.n_iter_
    assert es.best_validation_score_ == max(es.validation_scores_) and es.best_loss_ is None


def test_sample_weights_equal_repeated_rows_float32():
    X, y = blobs(n=15)
    sw = np.array([0, 1, 2, 3, 1, 0, 2, 1, 1, 4, 1, 2, 0, 1, 3])
    a = MLPClassifier(solver="lbfgs", dtype="float32", max_iter=50, random_state=0)
    b = clone(a)
    quiet(a.fit, X, y, sample_weight=sw)
    quiet(b.fit, np.repeat(X, sw, axis=0), np.repeat(y, sw))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-4)


def test_poisson_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = rng.poisson(np.exp(X @ [0.6, -0.4, 0.2]))
    est = quiet(MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=300,
                             learning_rate_init=0.01, dtype="float64", random_state=0).fit,
                X, y)
    assert est.out_activation_ == "exp" and est.network_.output_activation == "exp"
    pred = est.predict(X)
    assert (pred > 0).all() and est.score(X, y) > 0.3
    # the loss is scikit-learn's half Poisson deviance (+ the L2 term) at the final weights
    from scipy.special import xlogy

    Z = forward_from_coefs(est, X).ravel()
    alpha_term = 0.5 * est.alpha * sum((W ** 2).sum() for W in est.coefs_) / len(y)
    deviance = np.mean(xlogy(y, y / np.exp(Z)) - y + np.exp(Z)) + alpha_term
    full = est.network_.cost(X, y, l2=est.alpha)
    np.testing.assert_allclose(full, deviance, rtol=1e-10)
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson").fit(X, -y - 1.0)
    with pytest.raises(ValueError, match="output activation"):
        pydl.Network([3, 4, 1], activations=["exp", "linear"])


def test_exp_output_backward_with_an_external_loss_is_the_poisson_gradient():
    """Network.backward with dA = dL/da of the Poisson loss a - y log a: through the exp
    output's derivative a, dZ = a - y, the gradient of the built-in Poisson cost."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(25, 4))
    y = rng.poisson(1.5, (25, 2)).astype(float)
    net = pydl.Network([4, 6, 2], activations=["tanh", "exp"], dtype="float64", seed=1)
    A = net.forward(X)
    external = net.backward(X, 1 - y / A)
    builtin = net.gradients(X, y)
    for key in builtin:
        np.testing.assert_allclose(external[key], builtin[key], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("n_out", [1, 3])
def test_exp_output_predicts_values_and_exports_to_onnx(n_out):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 4))
    net = pydl.Network([4, 6, n_out], output_activation="exp", dtype="float64", seed=0)
    p = net.parameters
    A1 = np.maximum(X @ p["W1"].T + p["b1"].T, 0)
    expected = np.exp(A1 @ p["W2"].T + p["b2"].T)
    pred = net.predict(X)
    np.testing.assert_allclose(pred, expected[:, 0] if n_out == 1 else expected, rtol=1e-12)
    with pytest.raises(ValueError, match="exp"):
        net.predict_proba(X)
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    session = ort.InferenceSession(net.to_onnx().SerializeToString())
    values = session.run(["values"], {"X": X})[0]
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_sparse_and_pandas_inputs():
    import scipy.sparse

    X, y = blobs()
    X[X < 0.5] = 0
    dense = quiet(MLPClassifier(max_iter=20, random_state=0).fit, X, y)
    for fmt in (scipy.sparse.csr_matrix, scipy.sparse.csc_array):
        sparse = quiet(MLPClassifier(max_iter=20, random_state=0).fit, fmt(X), y)
        np.testing.assert_array_equal(sparse.network_.theta, dense.network_.theta)
        np.testing.assert_array_equal(sparse.predict_proba(fmt(X)), dense.predict_proba(X))
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    est = quiet(MLPClassifier(max_iter=20, random_state=0).fit, df, y)
    np.testing.assert_array_equal(est.feature_names_in_, df.columns)


def test_warm_start_and_partial_fit_continue_the_optimizer():
    X, y = blobs()
    est = quiet(MLPClassifier(max_iter=5, warm_start=True, random_state=0).fit, X, y)
    t, theta = est._opt_state["t"], est.network_.theta.copy()
    quiet(est.fit, X, y)
    assert est._opt_state["t"] == 2 * t  # Adam's step count continues
    assert not np.array_equal(theta, est.network_.theta)
    pf = MLPClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes"):
        pf.partial_fit(X, y)
    for _ in range(3):
        pf.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    # as scikit-learn's: n_iter_ counts this call's epochs, t_ and loss_curve_ all of them
    assert pf.n_iter_ == 1 and pf.t_ == 180 and len(pf.loss_curve_) == 3
    lb = quiet(MLPClassifier(solver="lbfgs", max_iter=5, warm_start=True, random_state=0).fit,
               X, y)
    quiet(lb.set_params(solver="adam").fit, X, y)  # lbfgs, then adam from its weights
    assert len(lb.loss_curve_) == lb.n_iter_ > 0
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, y)


def test_schedule_extra_and_course_options():
    """pydl's extras: a course schedule drives Adam as in Network.fit; dropout, L1, leaky
    ReLU, the course's initializers and float32 are passed through to the network."""
    X, y = blobs()
    est = MLPClassifier(hidden_layer_sizes=(8,), learning_rate=pydl.ExponentialDecay(0.9),
                        learning_rate_init=0.01, batch_size=len(y), shuffle=False, max_iter=7,
                        tol=0, n_iter_no_change=np.inf, dtype="float64", random_state=0)
    net = quiet(clone(est).set_params(max_iter=1, learning_rate_init=1e-300).fit, X,
                y).network_
    net.epochs_trained = 0  # the schedule's epoch counts from the start
    quiet(est.fit, X, y)
    net.fit(X, y, epochs=7, optimizer=pydl.Adam(0.01), lr_schedule=pydl.ExponentialDecay(0.9),
            l2=1e-4)
    np.testing.assert_allclose(est.network_.theta, net.theta, rtol=1e-10, atol=1e-13)
    extra = MLPClassifier(init="he", l1=1e-3, keep_probs=0.9, activation="leaky_relu",
                          leaky_slope=0.05, dtype="float32", n_threads=1, max_iter=60,
                          learning_rate_init=0.01, random_state=0)
    quiet(extra.fit, X, y)
    assert extra.network_.dtype == np.float32 and extra.network_.activations[0] == "leaky_relu"
    assert extra.network_.keep_probs[0] == 0.9 and extra.network_.leaky_slope == 0.05
    assert extra.score(X, y) > 0.9


def test_errors_are_clear():
    X, y = blobs()
    with pytest.raises(ValueError, match="solver"):
        MLPClassifier(solver="newton").fit(X, y)
    with pytest.raises(ValueError, match="momentum"):
        MLPClassifier(momentum=1.5).fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        MLPClassifier().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPClassifier(hidden_layer_sizes=(3, 0)).fit(X, y)
    with pytest.raises(ValueError, match="too large for float32"):
        MLPClassifier().fit(np.full((4, 2), 1e300), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="lower learning_rate_init"):
        MLPRegressor(solver="sgd", learning_rate_init=10.0, momentum=0).fit(X * 1e3, y * 1e3)


def test_pickle_and_save_the_network(tmp_path):
    X, y = blobs()
    est = quiet(MLPClassifier(max_iter=20, random_state=0).fit, X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    quiet(again.partial_fit, X, y)  # the optimizer's state travelled too
    assert again._opt_state["t"] == est._opt_state["t"] + 1
    est.network_.save(tmp_path / "net.pydl")
    net = pydl.load(tmp_path / "net.pydl")
    np.testing.assert_array_equal(net.predict_proba(X), est.predict_proba(X))


# ---- where scikit-learn users put an estimator ----------------------------------------

def test_pipeline_grid_search_cross_validation():
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = blobs(n=150)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=50, random_state=0))
    assert quiet(pipe.fit, X, y).score(X, y) > 0.9
    scores = quiet(cross_val_score, pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2],
                               "mlpclassifier__solver": ["adam", "lbfgs"]}, cv=2, n_jobs=2)
    quiet(grid.fit, X, y)  # loky worker processes: the estimators pickle
    assert len(grid.cv_results_["params"]) == 4 and grid.best_score_ > 0.8
    assert isinstance(grid.best_estimator_[-1].network_, pydl.Network)


def test_clone_set_output_and_html_repr():
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils import estimator_html_repr

    X, y = blobs()
    est = MLPRegressor(hidden_layer_sizes=(8,), alpha=0.1, max_iter=10, random_state=0)
    copy = clone(est)
    assert copy.get_params() == est.get_params() and copy is not est
    pipe = make_pipeline(StandardScaler(), est).set_output(transform="pandas")
    quiet(pipe.fit, pd.DataFrame(X, columns=list("abcde")), y.astype(float))
    np.testing.assert_array_equal(pipe[-1].feature_names_in_, list("abcde"))
    html = estimator_html_repr(pipe)
    assert "MLPRegressor" in html and "alpha" in html


def test_learning_curve_display_and_permutation_importance():
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import LearningCurveDisplay

    X, y = blobs(n=150)
    est = MLPClassifier(max_iter=30, random_state=0)
    disp = quiet(LearningCurveDisplay.from_estimator, est, X, y, cv=3,
                 train_sizes=[0.5, 1.0])
    assert disp.test_scores.shape == (2, 3)
    plt.close("all")
    quiet(est.fit, X, y)
    imp = permutation_importance(est, X, y, n_repeats=3, random_state=0)
    assert imp.importances_mean.shape == (5,) and imp.importances_mean.max() > 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lbfgs_holds_the_blas_at_one_thread_on_every_product_path(monkeypatch):
    """scipy's L-BFGS-B calls the BLAS itself between pydl's parallel regions: its small
    vector operations ran 4-13x slower with OpenBLAS's pool awake beside pydl's, so lbfgs
    holds the BLAS at one thread whichever path computes the products."""
    import scipy.optimize
    from threadpoolctl import threadpool_info

    if not [i for i in threadpool_info() if i["user_api"] == "blas"]:
        pytest.skip("no BLAS that threadpoolctl can control: nothing to hold")
    seen = []
    minimize = scipy.optimize.minimize

    def watched(*args, **kwargs):
        seen.append([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"])
        return minimize(*args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", watched)
    X = np.random.default_rng(0).standard_normal((40, 5))
    y = (X[:, 0] > 0).astype(int)
    for path in pydl.product_paths():
        previous = _core.set_float_products(path)
        try:
            MLPClassifier(solver="lbfgs", max_iter=5, n_threads=2).fit(X, y)
        finally:
            _core.set_float_products(previous)
    assert len(seen) == len(pydl.product_paths())
    assert all(n == 1 for threads in seen for n in threads), seen
