"""The course's ``random_mini_batches``: a seeded partition of the examples into batches."""
from __future__ import annotations

import numpy as np

from pydl._checks import check_param
from pydl.random_state import check_seed

__all__ = ["random_mini_batches"]


def random_mini_batches(X, y, batch_size=64, seed=0):
    """Shuffle (X, y) with one seeded permutation and cut it into mini-batches: full batches
    of `batch_size`, then one smaller last batch with the rest (the course's partition).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Examples in rows (the course's ``X.T``).
    y : array-like with n_samples rows
    batch_size : int, default 64
    seed : int, numpy.random.RandomState or numpy.random.Generator, default 0
        The permutation is ``seed.permutation(n_samples)``; an int means
        ``numpy.random.RandomState(seed)``, which is what the course's
        ``np.random.seed(seed); np.random.permutation(m)`` draws, so the batches are the
        course's exactly. (`Network.mini_batches` gives the batches `fit` uses, which come
        from pydl's own stream.)

    Returns
    -------
    list of (X_batch, y_batch), copies of rows of X and y.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"X must be 2-D (n_samples, n_features) with at least one example, "
                         f"got shape {X.shape}")
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have one row per example ({X.shape[0]}), got shape "
                         f"{y.shape}")
    batch_size = check_param("batch_size", batch_size)
    seed = check_seed(seed)
    rng = np.random.RandomState(seed) if seed is None or isinstance(seed, int) else seed
    order = rng.permutation(X.shape[0])
    return [(X[order[k:k + batch_size]], y[order[k:k + batch_size]])
            for k in range(0, X.shape[0], batch_size)]
