"""Preparing data: normalizing the inputs and splitting a data set into train / dev / test.

The course's "Normalizing inputs" (subtract the mean, normalize the variance, with the
*training* set's statistics applied to the dev and test sets as well) and "Train / Dev /
Test sets" (98/1/1 in the big-data era, 60/20/20 or 70/30 with small data, a test set is
optional; dev and test sets must come from the same distribution).
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from pydl._checks import _as_array, as_float_matrix, check_param
from pydl.random_state import as_generator

__all__ = ["Normalizer", "Split", "train_dev_test_split"]


# ---- input normalization ----------------------------------------------------------------

def _matrix(X, name, n_features=None):
    """X as a finite 2-D float64 array (statistics are always float64), plus the output
    dtype: float32 for float32 input, float64 otherwise."""
    X = _as_array(X, name)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, n_features), "
                         f"got shape {X.shape}")
    if n_features is None:
        if X.shape[1] == 0:
            raise ValueError(f"{name} must have at least one feature (column), "
                             f"got shape {X.shape}")
        n_features = X.shape[1]
    out_dtype = np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)
    return as_float_matrix(X, name, n_features, np.float64), out_dtype


class Normalizer:
    r"""Normalize the inputs: zero mean and unit variance per feature, with the statistics of
    the training set.

    The course's two steps, with ``m`` training examples ``x^(i)`` (rows of `X`)::

        mu      = (1/m) sum_i x^(i)                      # 1. subtract out the mean
        sigma^2 = (1/m) sum_i (x^(i) - mu)^2             # 2. normalize the variances
        x_norm  = (x - mu) / sqrt(sigma^2 + epsilon)

    all element-wise per feature. `fit` learns ``mu`` and ``sigma^2`` on the training set
    only; `transform` then applies *the same* ``mu`` and ``sigma^2`` to the training, dev and
    test sets (and to any new example), so that all of them go through the same mapping.

    Parameters
    ----------
    epsilon : float, default 1e-8
        Added to the variance before the square root, so that nearly constant features do
        not blow up. Must be >= 0.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,), float64
        ``mu``, the per-feature mean of the training set; None before `fit`.
    var_ : ndarray of shape (n_features,), float64
        ``sigma^2``, the per-feature (population, ``1/m``) variance of the training set.
    scale_ : ndarray of shape (n_features,), float64
        The divisor: ``sqrt(sigma^2 + epsilon)``, or exactly 1 for a zero-variance feature.
    n_features_ : int
        Number of features seen by `fit`.

    Notes
    -----
    **Zero-variance features.** A feature whose training values are all equal has
    ``sigma^2 = 0`` (set exactly: ``mean_`` is that value and ``var_`` is 0, whatever the
    rounding of the sums). Such a feature carries no information; it is only *centred*
    (divided by 1, ``scale_ = 1``) instead of divided by ``sqrt(epsilon)``, which would turn
    a tiny dev/test deviation into a huge input. Features with a small but nonzero variance
    are divided by ``sqrt(sigma^2 + epsilon)`` as usual.

    **Dtypes.** Statistics are computed and stored in float64. The output of `transform`
    and `inverse_transform` is float32 if the input is float32, float64 otherwise (integer
    input included). NaN or infinity in the input raises ValueError.

    **Storage.** A Normalizer pickles, and `get_state` / `from_state` turn it into a dict of
    plain NumPy arrays and back (e.g. for ``np.savez`` next to a network's ``theta``).

    Examples
    --------
    >>> norm = Normalizer()
    >>> X_train_n = norm.fit_transform(X_train)     # learns mu, sigma^2 on train only
    >>> X_dev_n, X_test_n = norm.transform(X_dev), norm.transform(X_test)
    """

    def __init__(self, epsilon=1e-8):
        self.epsilon = check_param("Normalizer.epsilon", epsilon)
        self.mean_ = None
        self.var_ = None
        self.scale_ = None
        self.n_features_ = None

    def __repr__(self):
        fitted = "" if self.mean_ is None else f", n_features_={self.n_features_}"
        return f"Normalizer(epsilon={self.epsilon!r}{fitted})"

    def _set(self, mean, var):
        """Store the statistics and derive the divisor (1 for zero-variance features)."""
        self.mean_ = mean
        self.var_ = var
        self.scale_ = np.where(var == 0, 1.0, np.sqrt(var + self.epsilon))
        self.n_features_ = int(mean.shape[0])

    def fit(self, X):
        """Learn ``mu = (1/m) sum_i x^(i)`` and ``sigma^2 = (1/m) sum_i (x^(i) - mu)^2`` per
        feature from the training set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training set (never the dev or test set).

        Returns
        -------
        self
        """
        X, _ = _matrix(X, "X")
        mean = X.mean(axis=0)
        var = ((X - mean) ** 2).mean(axis=0)
        constant = (X == X[0]).all(axis=0)      # sigma^2 = 0 exactly, not a rounding residue
        mean[constant] = X[0, constant]
        var[constant] = 0.0
        self._set(mean, var)
        return self

    def _check_fitted(self, method):
        if self.mean_ is None:
            raise RuntimeError(f"this Normalizer is not fitted yet: call fit(X_train) "
                               f"before {method}")

    def transform(self, X):
        """``(X - mu) / sqrt(sigma^2 + epsilon)`` with the statistics learned by `fit`
        (zero-variance features: ``X - mu``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_)
            Training, dev, test or new examples.

        Returns
        -------
        ndarray of shape (n_samples, n_features_)
            float32 for float32 input, else float64.
        """
        self._check_fitted("transform")
        X, dtype = _matrix(X, "X", self.n_features_)
        return self._apply(X).astype(dtype, copy=False)

    def _apply(self, X):
        """(X - mu) / scale on a float64 (n_samples, n_features_) array, unchecked (the
        network's door checks what it is given)."""
        self._check_fitted("transform")
        return (X - self.mean_) / self.scale_

    def fit_transform(self, X):
        """``fit(X)`` then ``transform(X)``: normalize the training set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """Undo `transform`: ``X_norm * sqrt(sigma^2 + epsilon) + mu``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_)
            Normalized examples.

        Returns
        -------
        ndarray of shape (n_samples, n_features_)
            float32 for float32 input, else float64.
        """
        self._check_fitted("inverse_transform")
        X, dtype = _matrix(X, "X", self.n_features_)
        return (X * self.scale_ + self.mean_).astype(dtype, copy=False)

    # ---- storage ----------------------------------------------------------------------

    def get_state(self):
        """The fitted normalizer as plain arrays.

        Returns
        -------
        dict
            ``{"epsilon": 0-d float64 array, "mean": (n_features,) float64,
            "var": (n_features,) float64}``: copies, safe to store with ``np.savez``.
        """
        self._check_fitted("get_state")
        return {"epsilon": np.array(self.epsilon, dtype=np.float64),
                "mean": self.mean_.copy(), "var": self.var_.copy()}

    @classmethod
    def from_state(cls, state):
        """A fitted Normalizer from what `get_state` returned (or a loaded ``.npz``).

        Parameters
        ----------
        state : mapping
            With keys ``"epsilon"`` (a real >= 0, or a 0-d array), ``"mean"`` and ``"var"``
            (1-D real arrays of one length, finite, ``var >= 0``).

        Returns
        -------
        Normalizer
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict like Normalizer.get_state() returns, "
                            f"got {type(state).__name__}")
        keys = {"epsilon", "mean", "var"}
        missing, extra = keys - set(state), set(state) - keys
        if missing or extra:
            raise ValueError(f"state must have exactly the keys {sorted(keys)}; "
                             f"missing {sorted(missing)}, unexpected {sorted(extra)}")
        eps = np.asarray(state["epsilon"])
        if eps.ndim != 0 or eps.dtype.kind not in "iuf":
            raise TypeError(f"state['epsilon'] must be a real number, got {state['epsilon']!r}")
        norm = cls(epsilon=float(eps))
        arrays = {}
        for key in ("mean", "var"):
            a = _as_array(state[key], f"state[{key!r}]")
            if a.dtype.kind not in "biuf":
                raise TypeError(f"state[{key!r}] must hold real numbers, got dtype {a.dtype}")
            if a.ndim != 1 or a.shape[0] == 0:
                raise ValueError(f"state[{key!r}] must be a non-empty 1-D array, "
                                 f"got shape {a.shape}")
            a = np.array(a, dtype=np.float64)
            if not np.isfinite(a).all():
                raise ValueError(f"state[{key!r}] contains NaN or infinity")
            arrays[key] = a
        if arrays["mean"].shape != arrays["var"].shape:
            raise ValueError(f"state['mean'] and state['var'] must have the same shape, got "
                             f"{arrays['mean'].shape} and {arrays['var'].shape}")
        if (arrays["var"] < 0).any():
            raise ValueError("state['var'] must be >= 0")
        norm._set(arrays["mean"], arrays["var"])
        return norm


# ---- train / dev / test split -----------------------------------------------------------

class Split(NamedTuple):
    """What `train_dev_test_split` returns; unpacks as
    ``X_train, y_train, X_dev, y_dev, X_test, y_test``."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_dev: np.ndarray
    y_dev: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _apportion(weights, total):
    """Integer counts summing to `total`, proportional to `weights` (Fractions summing to 1):
    the largest-remainder method, ties to the earlier part."""
    exact = [w * total for w in weights]
    counts = [int(e) for e in exact]    # floor: the exact shares are >= 0
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:total - sum(counts)]:
        counts[i] += 1
    return counts


def _controlled_round(table):
    """Round a matrix of Fractions whose row and column sums are integers to an integer
    matrix with the same row and column sums, each entry its floor or its ceiling.

    Fractional entries form a bipartite graph (rows, columns) in which every vertex has 0 or
    >= 2 fractional edges (its sum is an integer); walk it until a vertex repeats, then shift
    the cycle's entries by +d, -d, +d, ... until one becomes an integer. Every step makes at
    least one entry integral and never leaves any entry's [floor, ceil]."""
    table = [row[:] for row in table]
    n_rows, n_cols = len(table), len(table[0])

    def fractional(r, c):
        return table[r][c].denominator != 1

    while True:
        start = next(((r, c) for r in range(n_rows) for c in range(n_cols)
                      if fractional(r, c)), None)
        if start is None:
            return [[int(v) for v in row] for row in table]
        # path of cells; vertices alternate row, column, row, ...
        path = [start]
        seen = {("r", start[0]): 0}
        vertex, prev = ("c", start[1]), start
        while vertex not in seen:
            seen[vertex] = len(path)
            kind, k = vertex
            if kind == "c":
                cell = next((r, k) for r in range(n_rows) if (r, k) != prev and fractional(r, k))
                vertex = ("r", cell[0])
            else:
                cell = next((k, c) for c in range(n_cols) if (k, c) != prev and fractional(k, c))
                vertex = ("c", cell[1])
            path.append(cell)
            prev = cell
        cycle = path[seen[vertex]:]      # an even-length cycle of cells
        plus, minus = cycle[0::2], cycle[1::2]
        up = min([_ceil(table[r][c]) - table[r][c] for r, c in plus]
                 + [table[r][c] - _floor(table[r][c]) for r, c in minus])
        down = min([table[r][c] - _floor(table[r][c]) for r, c in plus]
                   + [_ceil(table[r][c]) - table[r][c] for r, c in minus])
        d = up if up <= down else -down
        for r, c in plus:
            table[r][c] += d
        for r, c in minus:
            table[r][c] -= d


def _floor(q):
    return Fraction(q.numerator // q.denominator)


def _ceil(q):
    return Fraction(-(-q.numerator // q.denominator))


def _part_sizes(sizes, n):
    """The three part sizes as integers summing to n."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a sequence of 3 numbers (train, dev, test), "
                        f"got {sizes!r}")
    sizes = list(sizes)
    if len(sizes) != 3:
        raise ValueError(f"sizes must have 3 entries (train, dev, test), got {len(sizes)}: "
                         f"{sizes!r}; for a two-way split put 0 in the part you do not want, "
                         f"e.g. (0.7, 0.3, 0) for train/dev without a test set")
    for s in sizes:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Real):
            raise TypeError(f"sizes must hold numbers (fractions or counts), got {s!r}")
    if all(isinstance(s, numbers.Integral) for s in sizes):
        counts = [int(s) for s in sizes]
        if min(counts) < 0:
            raise ValueError(f"sizes must be >= 0, got {sizes!r}")
        if sum(counts) != n:
            raise ValueError(f"sizes given as integer counts must sum to the number of "
                             f"examples, {n}; got {sizes!r} (sum {sum(counts)}); for fractions "
                             f"write floats, e.g. (0.98, 0.01, 0.01)")
        return counts
    fracs = [check_param("sizes entries", s) for s in sizes]
    if abs(sum(fracs) - 1.0) > 1e-9:
        raise ValueError(f"sizes given as fractions must sum to 1 (within 1e-9), got "
                         f"{sizes!r} (sum {sum(fracs)!r})")
    # the fractions as written in decimal (0.15 is 15/100, not the binary float just below),
    # so that ties are ties
    weights = [Fraction(repr(f)) for f in fracs]
    total = sum(weights)
    return _apportion([w / total for w in weights], n)


def train_dev_test_split(X, y, sizes=(0.98, 0.01, 0.01), *, stratify=False, seed=None):
    """Shuffle the examples and split them into a training, a dev and a test set.

    Every example lands in exactly one part; the rows of `X` and `y` stay aligned.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    sizes : sequence of 3 numbers, default (0.98, 0.01, 0.01)
        ``(train, dev, test)``, either

        * fractions in [0, 1] summing to 1 (within 1e-9), at least one of them a float:
          the counts are ``n_samples * fraction`` rounded by the largest-remainder method
          (floor every share, then give the examples left over, one each, to the parts with
          the largest fractional remainders, ties to the earlier part), so they sum to
          ``n_samples`` and each is its exact share rounded down or up. The fractions are
          taken as written in decimal (``0.15`` is exactly 15/100), so that e.g.
          ``(0.8, 0.15, 0.05)`` of 10 examples is 8 / 2 / 0 (tie at 1.5 / 0.5); or
        * integer counts summing to ``n_samples``.

        The course's splits: ``(0.98, 0.01, 0.01)`` or ``(0.995, 0.0025, 0.0025)`` for
        big data, ``(0.6, 0.2, 0.2)`` for small data. A 0 entry gives an empty part:
        ``(0.7, 0.3, 0)`` is train/dev without a test set ("it might be okay to not have a
        test set"), ``(0.7, 0, 0.3)`` the older 70/30 train/test split. Exactly three
        entries are required, so which part is missing is always explicit.
    stratify : bool, default False
        Split every class in the same proportions. The classes are the distinct values of
        `y` (1-D) or its distinct rows (2-D, e.g. one-hot or multi-label targets). The part
        sizes are the ones above, exactly; each class's count in each part is its exact share
        ``n_class * size / n_samples`` rounded down or up (a controlled rounding of the
        class-by-part table that keeps both the class totals and the part sizes).
    seed : int, numpy.random.Generator or numpy.random.RandomState, optional
        Seeds the shuffle (an int: a ``numpy.random.default_rng(seed)`` Generator; a
        Generator or RandomState is used as given); None draws fresh
        entropy. The caller's global NumPy random state is not used.

    Returns
    -------
    Split
        The named tuple ``(X_train, y_train, X_dev, y_dev, X_test, y_test)``: new arrays
        (copies) with the input's dtypes, in shuffled order; an empty part has 0 rows.

    Examples
    --------
    >>> X_train, y_train, X_dev, y_dev, X_test, y_test = train_dev_test_split(
    ...     X, y, sizes=(0.6, 0.2, 0.2), stratify=True, seed=0)
    >>> split = train_dev_test_split(X, y, sizes=(800, 200, 0), seed=0)  # no test set
    >>> split.X_dev.shape
    (200, 2)
    """
    X = _as_array(X, "X")
    y = _as_array(y, "y")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must hold real numbers or integer labels, got dtype {y.dtype}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D of shape (n_samples, n_features), got shape {X.shape}")
    n = X.shape[0]
    if n == 0:
        raise ValueError("X is empty: it must hold at least one example")
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) or ({n}, n_outputs), one row per example "
                         f"of X, got shape {y.shape}")
    if not isinstance(stratify, (bool, np.bool_)):
        raise TypeError(f"stratify must be True or False, got {stratify!r}")
    rng = as_generator(seed)
    counts = _part_sizes(sizes, n)

    if not stratify:
        order = rng.permutation(n)
        bounds = np.cumsum([0] + counts)
        parts = [order[bounds[k]:bounds[k + 1]] for k in range(3)]
    else:
        _, cls = np.unique(y.reshape(n, -1), axis=0, return_inverse=True)
        cls = cls.reshape(n)
        n_class = np.bincount(cls)
        shares = [[Fraction(int(nc) * c, n) for c in counts] for nc in n_class]
        table = _controlled_round(shares)
        pieces = [[], [], []]
        for k, per_part in enumerate(table):
            members = rng.permutation(np.flatnonzero(cls == k))
            bounds = np.cumsum([0] + per_part)
            for p in range(3):
                pieces[p].append(members[bounds[p]:bounds[p + 1]])
        parts = [rng.permutation(np.concatenate(p)).astype(np.intp) for p in pieces]

    (tr, dv, te) = parts
    return Split(X[tr], y[tr], X[dv], y[dv], X[te], y[te])
