"""Learning-rate decay, the course's formulas. `epoch` is the 0-based index of the epoch,
counted over every `fit` of the network; `t` the 1-based count of mini-batch updates."""
from __future__ import annotations

import abc
import math

import numpy as np

from pydl import _core
from pydl._checks import _as_array, check_param


class Schedule(abc.ABC):
    """Base class: the learning rate of each epoch from the initial one, alpha0."""

    step_k = 0.0  # > 0: the C loop also scales each step by k / sqrt(t)

    @abc.abstractmethod
    def learning_rate(self, lr0: float, epoch: int) -> float:
        """The learning rate of epoch `epoch` (0-based) for initial rate lr0."""

    def _params(self) -> dict:
        """The constructor's arguments (what a model file stores)."""
        return {}

    def rates(self, lr0: float, first_epoch: int, n_epochs: int) -> np.ndarray:
        """The learning rates of epochs first_epoch .. first_epoch + n_epochs - 1."""
        check_param("lr0", lr0)
        check_param("epoch", first_epoch, name="first_epoch")
        check_param("epochs", n_epochs, name="n_epochs")  # as fit's
        return self._rates(lr0, first_epoch, n_epochs)

    def _rates(self, lr0, first_epoch, n_epochs):
        """rates() after its checks: one learning_rate call per epoch, unless a schedule
        knows better (fit asks for every epoch of a call, 10000 for the planar network)."""
        return np.array([self.learning_rate(lr0, e) for e in range(first_epoch, first_epoch + n_epochs)],
                        dtype=np.float64)


class Constant(Schedule):
    """alpha = alpha0."""

    def learning_rate(self, lr0, epoch):
        return lr0

    def _rates(self, lr0, first_epoch, n_epochs):
        return np.full(n_epochs, lr0, dtype=np.float64)

    def __repr__(self):
        return "Constant()"


class InverseDecay(Schedule):
    """alpha = alpha0 / (1 + decay_rate * epoch)."""

    def __init__(self, decay_rate):
        self.decay_rate = check_param("decay_rate", decay_rate)

    def learning_rate(self, lr0, epoch):
        return lr0 / (1.0 + self.decay_rate * epoch)

    def _params(self):
        return {"decay_rate": self.decay_rate}

    def __repr__(self):
        return f"InverseDecay(decay_rate={self.decay_rate!r})"


class StaircaseDecay(Schedule):
    """alpha = alpha0 / (1 + decay_rate * floor(epoch / time_interval)): the inverse decay
    applied once every `time_interval` epochs (the course's "fixed interval")."""

    def __init__(self, decay_rate, time_interval=1000):
        self.decay_rate = check_param("decay_rate", decay_rate)
        self.time_interval = check_param("time_interval", time_interval)

    def learning_rate(self, lr0, epoch):
        return lr0 / (1.0 + self.decay_rate * (epoch // self.time_interval))

    def _params(self):
        return {"decay_rate": self.decay_rate, "time_interval": self.time_interval}

    def __repr__(self):
        return f"StaircaseDecay(decay_rate={self.decay_rate!r}, time_interval={self.time_interval!r})"


class ExponentialDecay(Schedule):
    """alpha = alpha0 * rate**epoch (e.g. rate = 0.95)."""

    def __init__(self, rate):
        self.rate = check_param("rate", rate)

    def learning_rate(self, lr0, epoch):
        return lr0 * self.rate**epoch

    def _params(self):
        return {"rate": self.rate}

    def __repr__(self):
        return f"ExponentialDecay(rate={self.rate!r})"


class SqrtEpochDecay(Schedule):
    """alpha = k / sqrt(epoch_num) * alpha0 with epoch_num = epoch + 1 (the first epoch is 1)."""

    def __init__(self, k=1.0):
        self.k = check_param("k", k)

    def learning_rate(self, lr0, epoch):
        return self.k / math.sqrt(epoch + 1) * lr0

    def _params(self):
        return {"k": self.k}

    def __repr__(self):
        return f"SqrtEpochDecay(k={self.k!r})"


class SqrtStepDecay(Schedule):
    """alpha = k / sqrt(t) * alpha0 with t the number of the mini-batch update (from 1),
    evaluated per step inside the C loop. The history records alpha0 for each epoch."""

    def __init__(self, k=1.0):
        self.k = check_param("k", k)
        self.step_k = self.k

    def learning_rate(self, lr0, epoch):
        return lr0

    def _params(self):
        return {"k": self.k}

    def __repr__(self):
        return f"SqrtStepDecay(k={self.k!r})"


def ewa(values, beta=0.9, bias_correction=False):
    """Exponentially weighted averages of a sequence: v_0 = 0,
    v_t = beta * v_{t-1} + (1 - beta) * theta_t, and with bias correction v_t / (1 - beta**t).

    Parameters
    ----------
    values : array-like of shape (T,) or (T, ...)
    beta : float in [0, 1)
    bias_correction : bool

    Returns
    -------
    ndarray of float64 with the shape of `values`
    """
    beta = check_param("beta", beta)
    theta = _as_array(values, "values")
    _core.check_fits_memory(theta.size * 8, "values as float64")  # a huge zero-stride view
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim == 0:
        raise ValueError("values must be a sequence, got a scalar")
    out = np.empty_like(theta)
    v = np.zeros(theta.shape[1:])
    for i in range(theta.shape[0]):
        v = beta * v + (1.0 - beta) * theta[i]
        out[i] = v / (1.0 - beta ** (i + 1)) if bias_correction else v
    return out
