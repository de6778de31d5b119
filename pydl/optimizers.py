"""Optimizers in the course's form, applied by one fused C loop over the flat parameters.

Each optimizer owns its state as flat arrays the length of `net.theta` (`v`, `s`) and the
number of updates applied so far (`t`); the state is created on first use and persists
across `fit` calls, so training continues where it stopped. An optimizer's state belongs
to one network: use a new optimizer (or `reset()`) for another.
"""
from __future__ import annotations

import numpy as np

from pydl import _core
from pydl._checks import check_param
from pydl._threads import resolve_n_threads


class Optimizer:
    """Base class: the learning rate, the state and `step`."""

    _kind = "gd"
    _uses_v = False
    _uses_s = False

    def __init__(self, learning_rate):
        self.learning_rate = check_param("learning_rate", learning_rate)
        self.v = None
        self.s = None
        self.t = 0
        self._owner = None

    def _check_learning_rate(self):
        """learning_rate is a plain attribute: check it again when it is used."""
        check_param("learning_rate", self.learning_rate)

    def reset(self):
        """Forget the state (v, s, t): the next update starts from scratch."""
        self.v = self.s = None
        self.t = 0
        self._owner = None

    def _hyper(self):
        """(beta1, beta2, epsilon) as the C core reads them."""
        return 0.0, 0.0, 1.0

    def _bind(self, net):
        """Create the state for `net` (zeros), or check it still fits `net`."""
        if self._owner is not None and self._owner is not net:
            raise ValueError(
                f"this {type(self).__name__} holds the state of another network; "
                "use a new optimizer or call reset()")
        P, dtype = net.theta.shape[0], net.theta.dtype
        if self._uses_v and self.v is None:
            self.v = _core.aligned_empty(P, dtype, zero=True)
        if self._uses_s and self.s is None:
            self.s = _core.aligned_empty(P, dtype, zero=True)
        self._owner = net

    def step(self, net, grads, n_threads=None):
        """Apply one update to `net` from `grads`, a dict like `net.gradients` returns
        (e.g. averaged across processes). Returns the new update count `t`."""
        g = net._flatten_gradients(grads)
        n_threads = resolve_n_threads(n_threads)
        self._check_learning_rate()
        self._bind(net)
        b1, b2, eps = self._hyper()
        _core.update(self._kind, b1, b2, eps, self.t + 1, self.learning_rate, net._theta, g,
                     self.v, self.s, n_threads)
        net._theta_changed()
        self.t += 1
        return self.t

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def _params(self):
        return {"learning_rate": self.learning_rate}


class GradientDescent(Optimizer):
    """Plain gradient descent: ``W := W - alpha * dW`` (and the same for b)."""

    _kind = "gd"


class Momentum(Optimizer):
    """Gradient descent with momentum, the course's form:
    ``v := beta * v + (1 - beta) * dW``, ``W := W - alpha * v``.

    PyTorch's SGD momentum is ``v := mu * v + g`` (no ``1 - beta``): it equals this one with
    ``lr_torch = alpha * (1 - beta)``.
    """

    _kind = "momentum"
    _uses_v = True

    def __init__(self, learning_rate, beta=0.9):
        super().__init__(learning_rate)
        self.beta = check_param("beta", beta)

    def _hyper(self):
        return self.beta, 0.0, 1.0

    def _params(self):
        return {"learning_rate": self.learning_rate, "beta": self.beta}


class RMSprop(Optimizer):
    """RMSprop, the course's form: ``s := beta * s + (1 - beta) * dW**2``,
    ``W := W - alpha * dW / (sqrt(s) + epsilon)``.

    PyTorch's RMSprop has the same form (its ``alpha`` is this ``beta``, default 0.99);
    implementations that put epsilon inside the root (``sqrt(s + eps)``) differ only in how
    small gradients are damped.
    """

    _kind = "rmsprop"
    _uses_s = True

    def __init__(self, learning_rate, beta=0.999, epsilon=1e-8):
        super().__init__(learning_rate)
        self.beta = check_param("beta", beta)
        self.epsilon = check_param("epsilon", epsilon)

    def _hyper(self):
        return 0.0, self.beta, self.epsilon

    def _params(self):
        return {"learning_rate": self.learning_rate, "beta": self.beta, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Adam, the course's form, with t counting updates from 1:
    ``v := beta1 v + (1 - beta1) dW``, ``s := beta2 s + (1 - beta2) dW**2``,
    ``v_hat = v / (1 - beta1**t)``, ``s_hat = s / (1 - beta2**t)``,
    ``W := W - alpha * v_hat / (sqrt(s_hat) + epsilon)``.

    PyTorch's Adam is the same formula. scikit-learn folds the corrections into the step,
    ``alpha_t = alpha * sqrt(1 - beta2**t) / (1 - beta1**t)`` with epsilon added to the
    uncorrected ``sqrt(s)``: equal to this one with ``epsilon * sqrt(1 - beta2**t)``.
    """

    _kind = "adam"
    _uses_v = True
    _uses_s = True

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
        super().__init__(learning_rate)
        self.beta1 = check_param("beta1", beta1)
        self.beta2 = check_param("beta2", beta2)
        self.epsilon = check_param("epsilon", epsilon)

    def _hyper(self):
        return self.beta1, self.beta2, self.epsilon

    def _params(self):
        return {"learning_rate": self.learning_rate, "beta1": self.beta1,
                "beta2": self.beta2, "epsilon": self.epsilon}
