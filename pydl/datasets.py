"""Small demo data sets embedded in pydl.

All loaders return ``(X, y)`` in pydl's layout: ``X`` has shape
``(n_samples, n_features)`` and ``y`` has shape ``(n_samples,)``.

This module only depends on NumPy and the standard library; it does not
import any other part of pydl.

Functions
---------
load_planar
    The two-class planar "flower" data set of the deep-learning course.
load_digits
    The UCI 8x8 optical handwritten digits (1797 images, 10 classes).
"""

import io
import math
import numbers
import pathlib
from importlib import resources

import numpy as np

__all__ = ["load_planar", "load_digits"]

# Package that owns the ``data/`` directory.  ``__package__`` is "pydl" when
# this module is imported normally (it is only empty if the file is loaded
# stand-alone, outside the package, in which case we fall back to the file
# system path next to this file).
_PACKAGE = __package__ or None
_DIGITS_FILE = "digits.npz"


def _check_int(value, name, minimum):
    """Return ``value`` as a Python int, or raise ValueError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got {value!r} "
            f"of type {type(value).__name__}"
        )
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def load_planar(m=400, noise=0.2, seed=1):
    """Load the planar two-class "flower" data set.

    Two interleaved petal-shaped point clouds in the plane (class 0 and
    class 1), the classic data set on which a logistic regression fails and
    a one-hidden-layer network succeeds.

    With the default arguments the result reproduces exactly the course's
    ``load_planar_dataset()`` (which called ``np.random.seed(1)``), only
    transposed to pydl's ``(n_samples, n_features)`` / ``(n_samples,)``
    layout.  Random numbers are drawn from a private
    :class:`numpy.random.RandomState`, so the global NumPy random state is
    neither used nor modified.

    Parameters
    ----------
    m : int, default=400
        Total number of points, ``m >= 2``.  Class 0 gets ``ceil(m / 2)``
        points and class 1 gets ``floor(m / 2)`` points (``m // 2`` each
        when ``m`` is even, as in the course).
    noise : float, default=0.2
        Standard deviation of the Gaussian noise added both to the angle
        ``t`` and to the radius ``r`` of every point.  Must be finite and
        ``>= 0``; ``noise=0`` gives the noiseless curves.
    seed : int, None, numpy.random.RandomState or numpy.random.Generator, default=1
        Seed of the ``RandomState`` (an integer in ``[0, 2**32 - 1]``), or the
        ``RandomState`` to draw from (as the course's ``np.random.seed``), or a
        ``Generator`` (its ``standard_normal`` replaces ``randn``).  ``None``
        seeds from fresh operating-system entropy, so the data are then not
        reproducible.

    Returns
    -------
    X : ndarray of shape (m, 2), dtype float64
        Point coordinates.
    y : ndarray of shape (m,), dtype int64
        Class labels, 0 or 1.  The first ``ceil(m / 2)`` rows are class 0,
        the rest class 1.

    Raises
    ------
    ValueError
        If ``m``, ``noise`` or ``seed`` is invalid; the message names the
        argument.

    Notes
    -----
    For class ``j`` in ``{0, 1}`` with ``N_j`` points and ray ``a = 4``::

        t = linspace(3.12 j, 3.12 (j + 1), N_j) + noise * randn(N_j)
        r = a sin(4 t) + noise * randn(N_j)
        X = [r sin(t), r cos(t)]

    Examples
    --------
    >>> X, y = load_planar()
    >>> X.shape, y.shape
    ((400, 2), (400,))
    >>> sorted(set(y.tolist()))
    [0, 1]
    """
    m = _check_int(m, "m", 2)

    if isinstance(noise, (bool, np.bool_)) or not isinstance(noise, numbers.Real):
        raise ValueError(
            f"noise must be a finite real number >= 0, got {noise!r} "
            f"of type {type(noise).__name__}"
        )
    noise = float(noise)
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite real number >= 0, got {noise}")

    if isinstance(seed, np.random.Generator):
        randn = seed.standard_normal
    elif isinstance(seed, np.random.RandomState):
        randn = seed.randn
    else:
        if seed is not None:
            seed = _check_int(seed, "seed", 0)
            if seed > 2**32 - 1:
                raise ValueError(f"seed must be None, a RandomState, a Generator or an "
                                 f"integer in [0, 2**32 - 1], got {seed}")
        randn = np.random.RandomState(seed).randn

    a = 4.0  # maximum ray of the flower
    sizes = ((m + 1) // 2, m // 2)  # (N, N) for even m, as in the course
    X = np.zeros((m, 2), dtype=np.float64)
    y = np.zeros(m, dtype=np.int64)
    start = 0
    for j, n in enumerate(sizes):
        ix = slice(start, start + n)
        t = np.linspace(j * 3.12, (j + 1) * 3.12, n) + randn(n) * noise
        r = a * np.sin(4 * t) + randn(n) * noise
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
        start += n
    return X, y


def _read_data_file(name):
    """Return the bytes of ``data/<name>`` shipped inside the package."""
    if _PACKAGE:
        # Works from a source tree, an installed wheel and a zip import.
        return (resources.files(_PACKAGE) / "data" / name).read_bytes()
    return (pathlib.Path(__file__).resolve().parent / "data" / name).read_bytes()


def load_digits():
    """Load the UCI optical handwritten digits data set (8x8 images).

    1797 grey-level images of handwritten digits 0-9, each 8x8 pixels with
    integer intensities 0..16, flattened row by row into 64 features.  This
    is the same array scikit-learn ships as ``sklearn.datasets.load_digits``
    (the test part of the UCI "Optical Recognition of Handwritten Digits"
    data set by E. Alpaydin and C. Kaynak, licensed CC BY 4.0; see
    ``pydl/data/README.md``).  scikit-learn is not needed to load it.

    Returns
    -------
    X : ndarray of shape (1797, 64), dtype float64
        Pixel intensities, integer-valued in ``[0, 16]``.  Use
        ``X.reshape(-1, 8, 8)`` to get the images.
    y : ndarray of shape (1797,), dtype int64
        Digit labels 0..9 (about 180 images per digit).

    Examples
    --------
    >>> X, y = load_digits()
    >>> X.shape, y.shape
    ((1797, 64), (1797,))
    >>> float(X.max()), int(y.max())
    (16.0, 9)
    """
    raw = _read_data_file(_DIGITS_FILE)
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        X = data["X"].astype(np.float64)
        y = data["y"].astype(np.int64)
    return X, y
