"""Bias / variance diagnosis and the course's basic recipe for machine learning.

Compare the training error with the optimal (Bayes) error to measure the *avoidable bias*
(under-fitting), and the dev error with the training error to measure the *variance*
(over-fitting); then follow the recipe: fix high bias first (bigger network, train longer),
then high variance (more data, regularization).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from pydl._checks import as_float_matrix, as_targets, check_param

__all__ = ["Diagnosis", "diagnose", "diagnose_network", "VERDICTS", "RECIPE"]

VERDICTS = ("fine", "high bias", "high variance", "high bias and high variance")

# The course's basic recipe, step by step.
RECIPE = {
    "high bias": (
        "bigger network: more hidden units or more layers (almost always helps)",
        "train longer: more epochs or a better optimizer such as Adam (never hurts)",
        "(try another neural network architecture)",
    ),
    "high variance": (
        "more training data (the best cure, when you can get it)",
        "regularization: L2 (l2=lambda), dropout, data augmentation, early stopping",
        "(try another neural network architecture)",
    ),
}

# Differences are compared with the thresholds up to this slack, so that decimal inputs
# behave as written: 0.07 - 0.05 is 0.020000000000000004 in binary, yet "equal to 0.02".
_SLACK = 1e-12


@dataclass(frozen=True)
class Diagnosis:
    """The result of `diagnose`.

    Attributes
    ----------
    avoidable_bias : float
        ``train_error - bayes_error``. Negative when the training set is fit better than the
        optimal error (memorized noise).
    variance : float
        ``dev_error - train_error``. Negative when the dev set happens to be easier.
    verdict : str
        "high bias", "high variance", "high bias and high variance" or "fine".
    recommendations : tuple of str
        What to try, in the recipe's order: bias first, then variance; empty when "fine".
    train_error, dev_error, bayes_error : float
        The inputs, for reference.
    """
    avoidable_bias: float
    variance: float
    verdict: str
    recommendations: tuple
    train_error: float
    dev_error: float
    bayes_error: float

    @property
    def high_bias(self):
        """True if the verdict includes high bias."""
        return "high bias" in self.verdict

    @property
    def high_variance(self):
        """True if the verdict includes high variance."""
        return "high variance" in self.verdict

    def __str__(self):
        lines = [f"train error {self.train_error:.4g}, dev error {self.dev_error:.4g}, "
                 f"Bayes error {self.bayes_error:.4g}",
                 f"avoidable bias {self.avoidable_bias:+.4g}, variance {self.variance:+.4g}: "
                 f"{self.verdict}"]
        lines += [f"  - {r}" for r in self.recommendations]
        return "\n".join(lines)


def diagnose(train_error, dev_error, bayes_error=0.0, *, bias_threshold=0.02,
             variance_threshold=0.02):
    """Diagnose bias and variance from the training and dev errors.

    The course's analysis::

        avoidable_bias = train_error - bayes_error     # how well the training set is fit
        variance       = dev_error  - train_error      # how badly it generalizes

        high bias      if avoidable_bias > bias_threshold
        high variance  if variance       > variance_threshold

    Both comparisons are strict: a difference equal to its threshold is acceptable (up to
    1e-12, so that e.g. ``0.07 - 0.05`` counts as equal to 0.02).

    Basic recipe: with high bias try a bigger network, training longer (or another
    architecture) until the training set is fit well; then, with high variance, get more
    data or regularize (or try another architecture). Getting more data does not help a
    high bias problem.

    Parameters
    ----------
    train_error, dev_error : float
        Error rates as fractions in [0, 1] (e.g. ``1 - accuracy``). `dev_error` may be below
        `train_error` (negative variance, never "high variance").
    bayes_error : float, default 0.0
        The optimal error, or a proxy such as human-level error, in [0, 1]. `train_error`
        may be below it (negative avoidable bias, never "high bias").
    bias_threshold, variance_threshold : float, default 0.02
        Largest acceptable avoidable bias and variance, in [0, 1].

    Returns
    -------
    Diagnosis

    Examples
    --------
    >>> diagnose(0.15, 0.16).verdict           # far from 0 % error on train
    'high bias'
    >>> diagnose(0.01, 0.11).verdict           # fits train, fails dev
    'high variance'
    >>> diagnose(0.15, 0.16, bayes_error=0.14).verdict
    'fine'
    """
    train_error = check_param("train_error", train_error)
    dev_error = check_param("dev_error", dev_error)
    bayes_error = check_param("bayes_error", bayes_error)
    bias_threshold = check_param("bias_threshold", bias_threshold)
    variance_threshold = check_param("variance_threshold", variance_threshold)

    avoidable_bias = train_error - bayes_error
    variance = dev_error - train_error
    high_bias = avoidable_bias > bias_threshold + _SLACK
    high_variance = variance > variance_threshold + _SLACK
    if high_bias and high_variance:
        verdict = "high bias and high variance"
        recs = RECIPE["high bias"] + RECIPE["high variance"][:-1]  # architecture once
    elif high_bias:
        verdict, recs = "high bias", RECIPE["high bias"]
    elif high_variance:
        verdict, recs = "high variance", RECIPE["high variance"]
    else:
        verdict, recs = "fine", ()
    return Diagnosis(avoidable_bias, variance, verdict, tuple(recs), train_error, dev_error,
                     bayes_error)


def _error_of(net, X, y, error, which):
    # validated here so that messages name X_train / y_dev / ...; float64, as the network
    # itself takes raw inputs before its normalizer
    X = as_float_matrix(X, f"X_{which}", net.layer_dims[0], np.float64)
    Y, labels = as_targets(y, f"y_{which}", X.shape[0], net.output_activation,
                           net.layer_dims[-1], np.float64)
    if error is None:
        return 1.0 - net.score(X, Y if labels is None else labels)
    value = error(y, net.predict(X))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"error(y_{which}, net.predict(X_{which})) must return a real number, "
                        f"got {value!r}")
    return check_param("error", value, name=f"error(y_{which}, net.predict(X_{which}))")


def diagnose_network(net, X_train, y_train, X_dev, y_dev, bayes_error=0.0, *, error=None,
                     bias_threshold=0.02, variance_threshold=0.02):
    """`diagnose` a trained network from its errors on the training and dev sets.

    For a classifier (sigmoid or softmax output) the error is the misclassification rate
    ``1 - net.score(X, y)`` (an example counts as right when every output is right).

    A linear output has no error rate: ``1 - R^2`` is not a fraction in [0, 1] that can be
    compared with a Bayes error, so linear outputs need an explicit `error` (otherwise
    ValueError).

    Parameters
    ----------
    net : pydl.Network
        A trained network.
    X_train, y_train : array-like
        The training set it was trained on.
    X_dev, y_dev : array-like
        The dev set.
    bayes_error : float, default 0.0
        See `diagnose`.
    error : callable, optional
        ``error(y_true, y_pred) -> float in [0, 1]``, called with the targets as given and
        ``net.predict(X)``; replaces ``1 - score``. Required for a linear output (e.g. the
        fraction of predictions off by more than a tolerance).
    bias_threshold, variance_threshold : float, default 0.02
        See `diagnose`.

    Returns
    -------
    Diagnosis
    """
    from pydl.network import Network

    if not isinstance(net, Network):
        raise TypeError(f"net must be a pydl.Network, got {type(net).__name__}")
    if error is not None and not callable(error):
        raise TypeError(f"error must be a callable error(y_true, y_pred), got {error!r}")
    if error is None and net.output_activation == "linear":
        raise ValueError("net has a linear output, which has no error rate; pass "
                         "error=callable(y_true, y_pred) returning a fraction in [0, 1]")
    train_error = _error_of(net, X_train, y_train, error, "train")
    dev_error = _error_of(net, X_dev, y_dev, error, "dev")
    return diagnose(train_error, dev_error, bayes_error, bias_threshold=bias_threshold,
                    variance_threshold=variance_threshold)
