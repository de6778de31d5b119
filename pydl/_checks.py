"""Checks of user intent: hyperparameters and data, each error naming what was wrong.

Every scalar parameter's constraint is stated once, in `PARAMETERS` (the way scikit-learn's
``_parameter_constraints`` does it), and checked by `check_param` wherever the parameter
enters the public API, with one message. Arrays are turned into what the Cython door expects
here; the door checks them (dtype, shape, contiguity, finiteness) once, before any pointer
reaches C. The door's own checks of scalars guard direct callers of the private `_core`.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from pydl import _core


class Interval:
    """The values a scalar parameter may take: a real (or integer) in [low, high], each end
    closed unless open, None for no bound."""

    def __init__(self, low=None, high=None, *, integer=False, low_open=False,
                 high_open=False):
        self.low, self.high, self.integer = low, high, integer
        self.low_open, self.high_open = low_open, high_open

    def check(self, value, name, high=None):
        """`value` as int/float if it is in the interval (high, if given, replaces the upper
        bound: a limit that depends on the data), else TypeError/ValueError."""
        return check_scalar(value, name, integer=self.integer, low=self.low,
                            high=self.high if high is None else high,
                            low_open=self.low_open, high_open=self.high_open and high is None)


_POSITIVE = Interval(0, low_open=True)
_NON_NEGATIVE = Interval(0)
_PROBABILITY = Interval(0, 1)
_DECAY = Interval(0, 1, high_open=True)          # betas: [0, 1)
_COUNT = Interval(1, integer=True)

# name -> constraint; "Owner.name" where one name means different ranges in two places
PARAMETERS = {
    # the network and its training
    "leaky_slope": _NON_NEGATIVE,
    "init_scale": _POSITIVE,
    "l2": _NON_NEGATIVE,
    "l1": _NON_NEGATIVE,
    "epochs": Interval(0, 2**31 - 1, integer=True),
    "batch_size": _COUNT,
    "epoch": Interval(0, integer=True),
    "step": Interval(0, integer=True),
    "n_samples": _COUNT,
    # optimizers (the course's forms)
    "learning_rate": _POSITIVE,
    "lr0": _NON_NEGATIVE,
    "beta": _DECAY,
    "beta1": _DECAY,
    "beta2": _DECAY,
    "epsilon": _POSITIVE,
    # learning-rate decay
    "decay_rate": _NON_NEGATIVE,
    "time_interval": _COUNT,
    "rate": Interval(0, 1, low_open=True),
    "k": _POSITIVE,
    # training controls
    "patience": _COUNT,
    "min_delta": _NON_NEGATIVE,
    "every": _COUNT,
    "image_shape": _COUNT,
    "max_shift": Interval(0, integer=True),
    # the practical-aspects toolkit
    "Normalizer.epsilon": _NON_NEGATIVE,
    "sizes entries": _PROBABILITY,
    "gradient_check.epsilon": Interval(0, 1, low_open=True),
    "directions": _COUNT,
    "train_error": _PROBABILITY,
    "dev_error": _PROBABILITY,
    "bayes_error": _PROBABILITY,
    "bias_threshold": _PROBABILITY,
    "variance_threshold": _PROBABILITY,
    "error": _PROBABILITY,
    # pydl.search
    "n_trials": _COUNT,
    "rounds": _COUNT,
    "top": Interval(0, 1, low_open=True),
    "n_jobs": _COUNT,
}


def check_param(key, value, *, high=None, name=None):
    """`value` checked against PARAMETERS[key] (its name in messages: `name`, else the key
    without its "Owner." prefix); `high` replaces the upper bound where the data set it."""
    return PARAMETERS[key].check(value, name or key.rpartition(".")[2], high=high)


def check_scalar(value, name, *, integer=False, low=None, high=None, low_open=False,
                 high_open=False, allow_none=False):
    """Return `value` if it is a real (or integer) number in the range, else raise."""
    if value is None and allow_none:
        return None
    wanted = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, wanted):
        kind = "an integer" if integer else "a real number"
        raise TypeError(f"{name} must be {kind}, got {value!r}")
    if not integer and not math.isfinite(value if isinstance(value, float) else
                                         _as_float(value, name)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lo = "-inf" if low is None else repr(low)
        hi = "inf" if high is None else repr(high)
        interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return int(value) if integer else float(value)


def _as_float(value, name):
    try:
        return float(value)
    except OverflowError:  # an int beyond a double's range
        raise ValueError(f"{name} must be finite, got {value!r}") from None


def _as_array(a, name):
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} must be convertible to a rectangular array: {exc}") from None


def as_float_matrix(X, name, n_features, dtype, n_threads=1, scan=True):
    """X as a C-contiguous (n_samples, n_features) array of `dtype`, converted once (a value
    too large for `dtype` is caught by the conversion itself). scan: also check it finite
    here (without a temporary, by up to n_threads threads); False where the array goes to a
    door that scans it anyway, so that a call scans its input once."""
    X = _as_array(X, name)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, {n_features}), got shape {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features (columns), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it must hold at least one example")
    if not (X.flags.c_contiguous and X.dtype == dtype):  # a copy: can it exist?
        _core.check_fits_memory(X.size * np.dtype(dtype).itemsize, name)
    try:
        with np.errstate(over="raise"):
            converted = np.ascontiguousarray(X, dtype=dtype)
    except FloatingPointError:
        raise ValueError(f"{name} has values too large for {np.dtype(dtype).name}") from None
    if scan and not _core.all_finite(converted, n_threads):
        raise ValueError(f"{name} contains NaN or infinity")
    return converted


def as_targets(y, name, n_samples, output, n_outputs, dtype):
    """Targets as the door expects them: (Y, None) for sigmoid/linear outputs with Y of shape
    (n_samples, n_outputs), (None, labels) with int32 labels for softmax."""
    y = _as_array(y, name)
    if y.ndim == 0 or y.shape[0] != n_samples:
        raise ValueError(f"{name} must have one row per example ({n_samples}), got shape {y.shape}")
    if output == "softmax":
        if y.ndim != 1:
            raise ValueError(f"{name} must be 1-D integer class labels for a softmax output, "
                             f"got shape {y.shape}")
        if y.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
        if y.min() < 0 or y.max() >= n_outputs:
            raise ValueError(f"{name} must hold class labels in [0, {n_outputs - 1}], "
                             f"got values in [{y.min()}, {y.max()}]")
        return None, np.ascontiguousarray(y, dtype=np.int32)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {y.dtype}")
    if y.ndim == 1 and n_outputs == 1:
        y = y.reshape(-1, 1)
    if y.shape != (n_samples, n_outputs):
        raise ValueError(f"{name} must have shape ({n_samples},) or ({n_samples}, {n_outputs}) "
                         f"for {n_outputs} output(s), got {y.shape}")
    Y = np.ascontiguousarray(y, dtype=dtype)
    if not np.isfinite(Y).all():
        raise ValueError(f"{name} contains NaN or infinity")
    if output == "sigmoid" and not ((Y == 0) | (Y == 1)).all():
        raise ValueError(f"{name} must hold 0/1 labels for a sigmoid output")
    if output == "exp" and (Y < 0).any():
        raise ValueError(f"{name} must hold counts >= 0 for an exp (Poisson) output")
    return Y, None
