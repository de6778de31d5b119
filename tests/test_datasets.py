"""Tests for pydl.datasets (embedded demo data sets)."""

import importlib.util
import pathlib

import numpy as np
import pytest

try:
    from pydl import datasets
except Exception:  # pydl not importable (e.g. extension not built yet)
    # Fall back to loading the pure-Python module straight from its file.
    _path = pathlib.Path(__file__).resolve().parents[1] / "pydl" / "datasets.py"
    _spec = importlib.util.spec_from_file_location("_pydl_datasets_by_path", _path)
    datasets = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(datasets)


def _course_load_planar_dataset():
    """The course's ``load_planar_dataset()``, with a private RandomState(1)
    instead of ``np.random.seed(1)``; returns the course's (2, m) / (1, m)."""
    rng = np.random.RandomState(1)
    m = 400
    N = int(m / 2)
    D = 2
    X = np.zeros((m, D))
    Y = np.zeros((m, 1), dtype="uint8")
    a = 4
    for j in range(2):
        ix = range(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rng.randn(N) * 0.2
        r = a * np.sin(4 * t) + rng.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


# --------------------------------------------------------------- load_planar


def test_planar_shapes_dtypes_labels():
    X, y = datasets.load_planar()
    assert X.shape == (400, 2) and X.dtype == np.float64
    assert y.shape == (400,) and y.dtype == np.int64
    assert set(np.unique(y).tolist()) == {0, 1}
    assert np.bincount(y).tolist() == [200, 200]
    assert np.all(y[:200] == 0) and np.all(y[200:] == 1)
    assert np.all(np.isfinite(X))
    # Radius is a*|sin(4t)| + noise, so points stay near the disc of radius 4.
    assert np.max(np.hypot(X[:, 0], X[:, 1])) < 5.5


def test_planar_reproduces_course_exactly():
    Xc, Yc = _course_load_planar_dataset()
    X, y = datasets.load_planar()
    np.testing.assert_array_equal(X, Xc.T)
    np.testing.assert_array_equal(y, Yc.ravel().astype(np.int64))
    # Explicit defaults give the same thing.
    X2, y2 = datasets.load_planar(m=400, noise=0.2, seed=1)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_planar_matches_global_seed_course_snippet():
    # The course used np.random.seed(1): same numbers as RandomState(1).
    state = np.random.get_state()
    try:
        np.random.seed(1)
        expected = np.random.randn(5)
    finally:
        np.random.set_state(state)
    np.testing.assert_array_equal(np.random.RandomState(1).randn(5), expected)


def test_planar_does_not_touch_global_random_state():
    state = np.random.get_state()
    before = np.random.random_sample(3)
    np.random.set_state(state)
    datasets.load_planar(seed=7)
    after = np.random.random_sample(3)
    np.random.set_state(state)
    np.testing.assert_array_equal(before, after)


def test_planar_deterministic_and_seed_dependent():
    X1, y1 = datasets.load_planar(seed=3)
    X2, y2 = datasets.load_planar(seed=3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, y3 = datasets.load_planar(seed=4)
    assert not np.array_equal(X1, X3)
    np.testing.assert_array_equal(y1, y3)  # labels depend only on m
    X4, _ = datasets.load_planar(seed=np.int64(3))
    np.testing.assert_array_equal(X4, X1)


def test_planar_seed_none_runs():
    X, y = datasets.load_planar(m=10, seed=None)
    assert X.shape == (10, 2) and y.shape == (10,)


@pytest.mark.parametrize("m", [2, 3, 10, 101, 1000])
def test_planar_sizes(m):
    X, y = datasets.load_planar(m=m)
    assert X.shape == (m, 2) and y.shape == (m,)
    assert np.bincount(y, minlength=2).tolist() == [(m + 1) // 2, m // 2]


def test_planar_zero_noise_is_the_exact_curve():
    X, y = datasets.load_planar(m=20, noise=0.0, seed=0)
    for j in (0, 1):
        t = np.linspace(j * 3.12, (j + 1) * 3.12, 10)
        r = 4 * np.sin(4 * t)
        np.testing.assert_allclose(X[y == j], np.c_[r * np.sin(t), r * np.cos(t)])


def test_planar_noise_changes_spread():
    X0, _ = datasets.load_planar(noise=0.0)
    X1, _ = datasets.load_planar(noise=0.2)
    assert not np.array_equal(X0, X1)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"m": 0}, "m"),
        ({"m": 1}, "m"),
        ({"m": -4}, "m"),
        ({"m": 10.0}, "m"),
        ({"m": "400"}, "m"),
        ({"m": True}, "m"),
        ({"m": None}, "m"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"noise": float("inf")}, "noise"),
        ({"noise": "0.2"}, "noise"),
        ({"noise": None}, "noise"),
        ({"noise": True}, "noise"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": "1"}, "seed"),
    ],
)
def test_planar_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        datasets.load_planar(**kwargs)


# --------------------------------------------------------------- load_digits


def test_digits_shapes_dtypes():
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64


def test_digits_pixel_range_and_integrality():
    X, _ = datasets.load_digits()
    assert X.min() == 0.0 and X.max() == 16.0
    np.testing.assert_array_equal(X, np.round(X))


def test_digits_labels_and_class_counts():
    _, y = datasets.load_digits()
    assert set(np.unique(y).tolist()) == set(range(10))
    counts = np.bincount(y, minlength=10)
    assert counts.sum() == 1797
    assert np.all((counts >= 170) & (counts <= 190))
    # Exact counts of the scikit-learn / UCI optdigits test set.
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_content_fingerprint():
    X, y = datasets.load_digits()
    assert int(X.sum()) == 561718
    assert int(y.sum()) == 8070
    # First image is a "0" (as in scikit-learn's load_digits()).
    assert y[0] == 0
    np.testing.assert_array_equal(
        X[0].reshape(8, 8)[0], [0, 0, 5, 13, 9, 1, 0, 0]
    )


def test_digits_returns_fresh_arrays():
    X1, y1 = datasets.load_digits()
    X1[0, 0] = 99.0
    y1[0] = 7
    X2, y2 = datasets.load_digits()
    assert X2[0, 0] == 0.0 and y2[0] == 0


def test_digits_file_is_uint8_npz():
    path = pathlib.Path(datasets.__file__).resolve().parent / "data" / "digits.npz"
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == ["X", "y"]
        assert f["X"].dtype == np.uint8 and f["X"].shape == (1797, 64)
        assert f["y"].dtype == np.uint8 and f["y"].shape == (1797,)


def test_digits_identical_to_scikit_learn():
    # Dev-time check only; skipped where scikit-learn is not installed.
    sk_datasets = pytest.importorskip("sklearn.datasets")
    ref = sk_datasets.load_digits()
    X, y = datasets.load_digits()
    np.testing.assert_array_equal(X, ref.data)
    np.testing.assert_array_equal(y, ref.target)


def test_planar_takes_a_random_state_or_a_generator():
    """A RandomState is drawn from as the int seeds one; a Generator gives its own draws."""
    X1, _ = datasets.load_planar(seed=3)
    rs = np.random.RandomState(3)
    X2, _ = datasets.load_planar(seed=rs)
    np.testing.assert_array_equal(X2, X1)
    X3, _ = datasets.load_planar(seed=rs)  # the state moved on
    assert not np.array_equal(X3, X1)
    G1, _ = datasets.load_planar(seed=np.random.default_rng(3))
    G2, _ = datasets.load_planar(seed=np.random.default_rng(3))
    np.testing.assert_array_equal(G1, G2)
    assert not np.array_equal(G1, X1)
