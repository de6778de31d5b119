"""Checks of user intent: hyperparameters and data, each error naming what was wrong.

Array-level checks (dtype, shape, contiguity, finiteness) happen again at the Cython door;
here the job is to turn what the user passed into what the door expects, or say why not.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from pydl import _core


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


def as_float_matrix(X, name, n_features, dtype, n_threads=1, scan_unconverted=True):
    """X as a C-contiguous (n_samples, n_features) array of `dtype`, converted once (and
    checked finite without a temporary, by up to n_threads threads). scan_unconverted=False
    leaves an X taken as it is to the door's identical check (one pass over a large X, not
    two); a converted X is always scanned here, where "too large for float32" can be told."""
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
    with np.errstate(over="ignore"):
        converted = np.ascontiguousarray(X, dtype=dtype)
    if (scan_unconverted or converted is not X) and not _core.all_finite(converted, n_threads):
        if np.isfinite(X).all():
            raise ValueError(f"{name} has values too large for {np.dtype(dtype).name}")
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
    return Y, None
