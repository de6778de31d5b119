"""Seeds as scikit-learn's ``random_state``: an int, None, a ``numpy.random.Generator`` or a
legacy ``numpy.random.RandomState``.

What a seed drives in pydl:

* NumPy-side draws (initial weights, splits, sampled gradient checks, the mini-batches of
  `random_mini_batches`) use the object given, or a generator made from the int.
* The training streams (shuffling, dropout masks, augmentation) are pydl's own
  counter-based Philox4x32-10, keyed by one integer: results do not depend on the number of
  threads. A Generator or RandomState given as a network's seed supplies that integer with
  one draw (after the weights, for a RandomState).
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_seed", "as_generator", "init_weights"]

_RNG_TYPES = (np.random.Generator, np.random.RandomState)


def check_seed(seed, name="seed"):
    """`seed` if it is None, an integer >= 0 (returned as int), a numpy Generator or a
    RandomState; else TypeError/ValueError naming `name`."""
    if seed is None or isinstance(seed, _RNG_TYPES):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be None, an integer >= 0, a numpy.random.Generator or "
                        f"a numpy.random.RandomState, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {seed!r}")
    return int(seed)


def as_generator(seed, name="seed"):
    """A random source with NumPy's common methods (permutation, choice, standard_normal):
    the Generator or RandomState given, else ``numpy.random.default_rng(seed)``."""
    seed = check_seed(seed, name)
    return seed if isinstance(seed, _RNG_TYPES) else np.random.default_rng(seed)


def init_weights(weights, seed):
    """Fill each (W, std) of `weights`, in layer order, with N(0, std^2) draws (std 0: left
    at zero) and return the integer that keys the network's training streams.

    An int or None seeds a Generator, which draws the training key first, then
    ``standard_normal(W.shape) * std`` per layer; a Generator given is used the same way.
    A RandomState draws as the course does -- ``randn(n[l], n[l-1]) * std`` per layer, in
    order -- and then the training key (``randint(0, 2**63)``), so the weights equal the
    course's ``np.random.seed(s)`` initializations exactly.
    """
    seed = check_seed(seed)
    if isinstance(seed, np.random.RandomState):
        for W, std in weights:
            if std:
                W[...] = seed.randn(*W.shape) * std
        return int(seed.randint(0, 2**63 - 1, dtype=np.int64))
    rng = np.random.default_rng(seed)
    key = int(rng.integers(0, 2**63))
    for W, std in weights:
        if std:
            W[...] = rng.standard_normal(W.shape) * std
    return key
