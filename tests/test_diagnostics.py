"""pydl.diagnostics: the bias / variance verdicts, the basic recipe's recommendations, the
thresholds, bad input, and two end-to-end networks: one under-fitting, one over-fitting."""
import dataclasses

import numpy as np
import pytest

import pydl
from pydl.datasets import load_planar
from pydl.diagnostics import VERDICTS, Diagnosis, diagnose, diagnose_network


@pytest.mark.parametrize("train,dev,bayes,verdict", [
    (0.01, 0.11, 0.0, "high variance"),                  # the course's four cases
    (0.15, 0.16, 0.0, "high bias"),
    (0.15, 0.30, 0.0, "high bias and high variance"),
    (0.005, 0.01, 0.0, "fine"),
    (0.15, 0.16, 0.14, "fine"),                          # Bayes error 14 %: not biased
    (0.15, 0.30, 0.14, "high variance"),
    (0.0, 0.0, 0.0, "fine"),
    (1.0, 1.0, 0.0, "high bias"),
])
def test_verdicts(train, dev, bayes, verdict):
    d = diagnose(train, dev, bayes)
    assert isinstance(d, Diagnosis) and d.verdict == verdict and d.verdict in VERDICTS
    assert d.avoidable_bias == pytest.approx(train - bayes)
    assert d.variance == pytest.approx(dev - train)
    assert (d.train_error, d.dev_error, d.bayes_error) == (train, dev, bayes)
    assert d.high_bias == ("high bias" in verdict)
    assert d.high_variance == ("high variance" in verdict)
    assert verdict in str(d)


def test_recipe():
    bias = diagnose(0.15, 0.16).recommendations
    variance = diagnose(0.01, 0.11).recommendations
    both = diagnose(0.15, 0.30).recommendations
    assert any("bigger network" in r for r in bias)
    assert any("train longer" in r for r in bias)
    assert any("architecture" in r for r in bias)
    assert not any("data" in r for r in bias)        # more data does not cure high bias
    assert any("more training data" in r for r in variance)
    assert any("regularization" in r for r in variance)
    assert any("architecture" in r for r in variance)
    assert not any("bigger network" in r for r in variance)
    # both: bias first (fix it until the training set is fit well), then variance
    assert both[:len(bias)] == bias
    assert any("more training data" in r for r in both)
    assert sum("architecture" in r for r in both) == 1
    assert diagnose(0.01, 0.02).recommendations == ()
    assert all(isinstance(r, str) for r in both) and isinstance(both, tuple)


def test_thresholds_are_strict_and_explicit():
    # equal to the threshold is acceptable, even when the subtraction rounds up
    assert 0.07 - 0.05 > 0.02
    assert diagnose(0.07, 0.07, 0.05).verdict == "fine"
    assert diagnose(0.02, 0.04).verdict == "fine"
    assert diagnose(0.0701, 0.0701, 0.05).verdict == "high bias"
    assert diagnose(0.02, 0.0401).verdict == "high variance"
    # custom thresholds
    assert diagnose(0.08, 0.12, bias_threshold=0.1, variance_threshold=0.05).verdict == "fine"
    assert diagnose(0.08, 0.12, bias_threshold=0.05, variance_threshold=0.05).verdict == \
        "high bias"
    assert diagnose(0.08, 0.12, bias_threshold=0.1, variance_threshold=0.03).verdict == \
        "high variance"
    # zero thresholds: any gap counts
    assert diagnose(0.001, 0.002, bias_threshold=0, variance_threshold=0).verdict == \
        "high bias and high variance"


def test_negative_gaps():
    d = diagnose(0.10, 0.05, 0.0)                        # dev easier than train
    assert d.variance == pytest.approx(-0.05) and not d.high_variance
    d = diagnose(0.0, 0.3, bayes_error=0.2)              # memorized noisy labels
    assert d.avoidable_bias == pytest.approx(-0.2) and d.verdict == "high variance"


def test_frozen():
    d = diagnose(0.1, 0.2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.verdict = "fine"


@pytest.mark.parametrize("args,kwargs,exc,name", [
    ((-0.1, 0.1), {}, ValueError, "train_error"),
    ((1.1, 0.1), {}, ValueError, "train_error"),
    ((0.1, 2), {}, ValueError, "dev_error"),
    ((0.1, float("nan")), {}, ValueError, "dev_error"),
    (("0.1", 0.1), {}, TypeError, "train_error"),
    ((True, 0.1), {}, TypeError, "train_error"),
    ((0.1, 0.1, -0.01), {}, ValueError, "bayes_error"),
    ((0.1, 0.1, None), {}, TypeError, "bayes_error"),
    ((0.1, 0.1), {"bias_threshold": -0.01}, ValueError, "bias_threshold"),
    ((0.1, 0.1), {"variance_threshold": 1.5}, ValueError, "variance_threshold"),
    ((0.1, 0.1), {"variance_threshold": "x"}, TypeError, "variance_threshold"),
])
def test_bad_input(args, kwargs, exc, name):
    with pytest.raises(exc, match=name):
        diagnose(*args, **kwargs)


# ---- diagnose_network ------------------------------------------------------------------

def test_underfitting_logistic_regression_has_high_bias():
    X, y = load_planar()
    net = pydl.Network([2, 1], dtype="float64", seed=0)
    net.fit(X, y, epochs=500, optimizer=pydl.Adam(0.05))
    X_dev, y_dev = load_planar(m=200, seed=2)
    d = diagnose_network(net, X, y, X_dev, y_dev, bayes_error=0.0)
    assert d.train_error == pytest.approx(1 - net.score(X, y))
    assert d.train_error > 0.3                           # a line cannot fit the flower
    assert d.high_bias and any("bigger network" in r for r in d.recommendations)


def test_overfitting_big_network_has_high_variance():
    rng = np.random.default_rng(0)
    X, y = load_planar(m=40, seed=3)
    flip = rng.random(40) < 0.2                          # 20 % of the labels are wrong
    y_noisy = np.where(flip, 1 - y, y)
    X_dev, y_dev = load_planar(m=400, seed=7)            # clean
    net = pydl.Network([2, 64, 64, 1], seed=0)
    net.fit(X, y_noisy, epochs=3000, optimizer=pydl.Adam(0.01))
    d = diagnose_network(net, X, y_noisy, X_dev, y_dev)
    assert d.train_error < 0.02                          # memorized, noise included
    assert d.variance > 0.15
    assert d.verdict == "high variance"
    assert any("regularization" in r for r in d.recommendations)


def test_softmax_and_matches_diagnose(rng):
    X = rng.standard_normal((60, 3))
    y = rng.integers(0, 3, size=60)
    net = pydl.Network([3, 4, 3], output_activation="softmax", seed=1)
    d = diagnose_network(net, X[:40], y[:40], X[40:], y[40:], 0.1, bias_threshold=0.05)
    expected = diagnose(1 - net.score(X[:40], y[:40]), 1 - net.score(X[40:], y[40:]), 0.1,
                        bias_threshold=0.05)
    assert d == expected


def test_linear_output_needs_an_error_function(rng):
    X = rng.standard_normal((30, 2))
    y = X @ [1.0, -2.0]
    net = pydl.Network([2, 1], output_activation="linear", dtype="float64", seed=0)
    with pytest.raises(ValueError, match="error="):
        diagnose_network(net, X[:20], y[:20], X[20:], y[20:])

    def off_by_more_than_half(y_true, y_pred):
        return float(np.mean(np.abs(np.asarray(y_true) - y_pred) > 0.5))

    d = diagnose_network(net, X[:20], y[:20], X[20:], y[20:], error=off_by_more_than_half)
    assert d.train_error == off_by_more_than_half(y[:20], net.predict(X[:20]))
    assert d.dev_error == off_by_more_than_half(y[20:], net.predict(X[20:]))
    with pytest.raises(ValueError, match="error"):
        diagnose_network(net, X[:20], y[:20], X[20:], y[20:], error=lambda t, p: 3.0)
    with pytest.raises(TypeError, match="error"):
        diagnose_network(net, X[:20], y[:20], X[20:], y[20:], error=lambda t, p: "low")
    with pytest.raises(TypeError, match="error"):
        diagnose_network(net, X[:20], y[:20], X[20:], y[20:], error=0.1)


def test_diagnose_network_bad_input(rng):
    X = rng.standard_normal((10, 2))
    y = rng.integers(0, 2, size=10)
    net = pydl.Network([2, 1], seed=0)
    with pytest.raises(TypeError, match="net"):
        diagnose_network("net", X, y, X, y)
    with pytest.raises(ValueError, match="X_dev"):
        diagnose_network(net, X, y, X[:, :1], y)
    with pytest.raises(ValueError, match="y_train"):
        diagnose_network(net, X, y[:5], X, y)
    with pytest.raises(ValueError, match="y_dev"):
        diagnose_network(net, X, y, X, y + 2)
    with pytest.raises(ValueError, match="bayes_error"):
        diagnose_network(net, X, y, X, y, bayes_error=2.0)


def test_network_with_a_normalizer_scores_raw_inputs(rng):
    from pydl.preprocessing import Normalizer

    X = rng.standard_normal((60, 2)) * [1e4, 1e-3] + [3e5, 1.0]
    y = (X[:, 0] > 3e5).astype(int)
    net = pydl.Network([2, 3, 1], seed=0, normalizer=Normalizer().fit(X[:40]))
    net.fit(X[:40], y[:40], epochs=50, learning_rate=0.5)
    d = diagnose_network(net, X[:40], y[:40], X[40:], y[40:])
    assert d.train_error == 1 - net.score(X[:40], y[:40])
    assert d.dev_error == 1 - net.score(X[40:], y[40:])
