"""pydl.preprocessing: Normalizer (the course's "Normalizing inputs", checked literally against
NumPy) and train_dev_test_split (proportions, rounding, alignment, stratification, seeds)."""
import io
import pickle
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest

from pydl.preprocessing import Normalizer, NotFittedError, Split, train_dev_test_split


def features(rng, m=200):
    """Features on very different scales and offsets."""
    return rng.standard_normal((m, 4)) * [1.0, 100.0, 1e-3, 5.0] + [0.0, -50.0, 7.0, 1e4]


# ---- Normalizer --------------------------------------------------------------------------

def test_statistics_and_transform_are_the_course_formulas(rng):
    X = features(rng)
    norm = Normalizer(epsilon=1e-8)
    assert norm.fit(X) is norm
    mu = (1 / X.shape[0]) * X.sum(axis=0)
    var = (1 / X.shape[0]) * ((X - mu) ** 2).sum(axis=0)
    np.testing.assert_allclose(norm.mean_, mu, rtol=1e-12)
    np.testing.assert_allclose(norm.var_, var, rtol=1e-12)
    np.testing.assert_allclose(norm.scale_, np.sqrt(var + 1e-8), rtol=1e-12)
    assert norm.n_features_ == 4
    assert norm.mean_.dtype == norm.var_.dtype == norm.scale_.dtype == np.float64
    Xn = norm.transform(X)
    np.testing.assert_allclose(Xn, (X - mu) / np.sqrt(var + 1e-8), rtol=1e-12, atol=1e-12)
    # zero mean, unit variance on the training set (up to epsilon's share)
    np.testing.assert_allclose(Xn.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(Xn.var(axis=0), var / (var + 1e-8), rtol=1e-12)
    np.testing.assert_array_equal(norm.fit_transform(X), Xn)


def test_epsilon_is_used(rng):
    X = rng.standard_normal((50, 2)) * 1e-3
    norm = Normalizer(epsilon=1e-4).fit(X)
    np.testing.assert_allclose(norm.scale_, np.sqrt(X.var(axis=0) + 1e-4), rtol=1e-12)
    assert Normalizer(epsilon=0).fit(X).scale_ == pytest.approx(X.std(axis=0), rel=1e-12)


def test_dev_and_test_use_the_training_statistics(rng):
    X_train, X_dev, X_test = features(rng), features(rng, 30) + 3.0, features(rng, 20) * 2
    norm = Normalizer().fit(X_train)
    mu, var = X_train.mean(axis=0), X_train.var(axis=0)
    for X in (X_dev, X_test):
        np.testing.assert_allclose(norm.transform(X), (X - mu) / np.sqrt(var + 1e-8),
                                   rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(norm.mean_, mu)        # transform learns nothing
    # the dev set's own statistics would give something else
    assert not np.allclose(norm.transform(X_dev), Normalizer().fit_transform(X_dev))


def test_zero_variance_feature_is_only_centred(rng):
    X = rng.standard_normal((30, 3))
    X[:, 1] = 0.1          # 0.1 * 30 / 30 is not 0.1 in floating point: set exactly
    norm = Normalizer().fit(X)
    assert norm.mean_[1] == 0.1 and norm.var_[1] == 0.0 and norm.scale_[1] == 1.0
    Xn = norm.transform(X)
    np.testing.assert_array_equal(Xn[:, 1], 0.0)
    X_dev = rng.standard_normal((5, 3))
    np.testing.assert_allclose(norm.transform(X_dev)[:, 1], X_dev[:, 1] - 0.1, rtol=1e-15)
    np.testing.assert_array_equal(norm.inverse_transform(Xn)[:, 1], 0.1)
    # a tiny but nonzero variance is divided by sqrt(var + epsilon) as usual
    X[:, 2] = 1.0 + 1e-9 * np.arange(30)
    norm = Normalizer().fit(X)
    assert 0 < norm.var_[2] < 1e-16
    assert norm.scale_[2] == pytest.approx(np.sqrt(norm.var_[2] + 1e-8), rel=1e-12)
    # one example: every feature is constant
    one = Normalizer().fit([[1.0, 2.0]])
    np.testing.assert_array_equal(one.scale_, [1.0, 1.0])
    np.testing.assert_array_equal(one.transform([[1.0, 2.0]]), [[0.0, 0.0]])


def test_dtypes(rng):
    X = features(rng)
    X32 = X.astype(np.float32)
    norm = Normalizer().fit(X32)
    assert norm.mean_.dtype == np.float64
    np.testing.assert_allclose(norm.mean_, X32.astype(np.float64).mean(axis=0), rtol=1e-12)
    out = norm.transform(X32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(
        out, ((X32.astype(np.float64) - norm.mean_) / norm.scale_).astype(np.float32))
    assert norm.transform(X).dtype == np.float64             # float64 input, float64 output
    assert norm.inverse_transform(out).dtype == np.float32
    ints = np.arange(12).reshape(6, 2)
    assert Normalizer().fit_transform(ints).dtype == np.float64
    assert Normalizer().fit_transform(ints.astype(np.float16)).dtype == np.float64
    assert Normalizer().fit_transform(ints.tolist()).dtype == np.float64


def test_inverse_transform_round_trip(rng):
    X = features(rng)
    norm = Normalizer().fit(X)
    np.testing.assert_allclose(norm.inverse_transform(norm.transform(X)), X, rtol=1e-12,
                               atol=1e-12 * np.abs(X).max())


def test_not_fitted():
    norm = Normalizer()
    assert norm.mean_ is None and norm.n_features_ is None
    for method in (norm.transform, norm.inverse_transform):
        with pytest.raises(NotFittedError, match=r"fit"):
            method([[1.0]])
    with pytest.raises(NotFittedError, match=r"fit"):
        norm.get_state()


def test_one_way_to_transform():
    assert not callable(Normalizer())


@pytest.mark.parametrize("bad,exc", [
    ([1.0, 2.0], ValueError),                      # 1-D
    (np.zeros((0, 2)), ValueError),                # no example
    (np.zeros((3, 0)), ValueError),                # no feature
    ([["a", "b"]], TypeError),
    ([[1.0, np.nan]], ValueError),
    ([[1.0, np.inf]], ValueError),
    ([[1.0], [2.0, 3.0]], ValueError),             # ragged
])
def test_bad_X_in_fit(bad, exc):
    with pytest.raises(exc, match="X"):
        Normalizer().fit(bad)


def test_bad_X_in_transform(rng):
    norm = Normalizer().fit(rng.standard_normal((10, 3)))
    with pytest.raises(ValueError, match="3 features"):
        norm.transform(rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        norm.transform([[0.0, np.nan, 1.0]])
    with pytest.raises(ValueError, match="X"):
        norm.inverse_transform([[0.0, np.inf, 1.0]])


@pytest.mark.parametrize("eps,exc", [(-1e-8, ValueError), (float("nan"), ValueError),
                                     ("1e-8", TypeError), (None, TypeError)])
def test_bad_epsilon(eps, exc):
    with pytest.raises(exc, match="epsilon"):
        Normalizer(epsilon=eps)


def test_pickle(rng):
    X = features(rng)
    norm = Normalizer(epsilon=1e-6).fit(X)
    back = pickle.loads(pickle.dumps(norm))
    assert back.epsilon == 1e-6 and back.n_features_ == 4
    np.testing.assert_array_equal(back.transform(X), norm.transform(X))
    assert pickle.loads(pickle.dumps(Normalizer())).mean_ is None
    assert "n_features_=4" in repr(back)


def test_state_round_trip(rng):
    X = features(rng)
    norm = Normalizer(epsilon=1e-6).fit(X)
    state = norm.get_state()
    assert set(state) == {"epsilon", "mean", "var"}
    assert all(isinstance(v, np.ndarray) for v in state.values())
    back = Normalizer.from_state(state)
    np.testing.assert_array_equal(back.transform(X), norm.transform(X))
    np.testing.assert_array_equal(back.scale_, norm.scale_)
    state["mean"][:] = 0                                  # copies both ways
    np.testing.assert_array_equal(back.mean_, norm.mean_)
    # through an .npz file, as stored next to a network's theta
    buf = io.BytesIO()
    np.savez(buf, **norm.get_state())
    buf.seek(0)
    with np.load(buf) as npz:
        loaded = Normalizer.from_state(npz)
    np.testing.assert_array_equal(loaded.transform(X), norm.transform(X))
    assert loaded.epsilon == 1e-6
    # zero-variance features survive the trip
    X[:, 0] = 3.0
    z = Normalizer.from_state(Normalizer().fit(X).get_state())
    assert z.scale_[0] == 1.0


@pytest.mark.parametrize("change,exc,match", [
    (lambda s: s.pop("var"), ValueError, "missing"),
    (lambda s: s.update(extra=1), ValueError, "unexpected"),
    (lambda s: s.update(var=-s["var"]), ValueError, "var"),
    (lambda s: s.update(var=s["var"][:2]), ValueError, "same shape"),
    (lambda s: s.update(mean=np.full(4, np.nan)), ValueError, "mean"),
    (lambda s: s.update(mean=np.zeros((2, 2))), ValueError, "mean"),
    (lambda s: s.update(mean=np.array(["a"] * 4)), TypeError, "mean"),
    (lambda s: s.update(epsilon=-1.0), ValueError, "epsilon"),
    (lambda s: s.update(epsilon=np.zeros(2)), TypeError, "epsilon"),
])
def test_bad_state(rng, change, exc, match):
    state = Normalizer().fit(features(rng)).get_state()
    change(state)
    with pytest.raises(exc, match=match):
        Normalizer.from_state(state)
    with pytest.raises(TypeError, match="state"):
        Normalizer.from_state([1, 2])


# ---- train_dev_test_split ----------------------------------------------------------------

def indexed(n, n_features=3):
    """X whose first column is the row's index, y = 10 * index: alignment is checkable."""
    X = np.zeros((n, n_features))
    X[:, 0] = np.arange(n)
    return X, 10 * np.arange(n)


def ids_of(split):
    """Per part, the original row indices; checks X and y rows stayed together."""
    out = []
    for Xp, yp in ((split.X_train, split.y_train), (split.X_dev, split.y_dev),
                   (split.X_test, split.y_test)):
        ids = Xp[:, 0].astype(int)
        np.testing.assert_array_equal(yp[:, 0] if yp.ndim == 2 else yp, 10 * ids)
        out.append(ids)
    return out


def test_every_example_in_exactly_one_part():
    X, y = indexed(1000)
    split = train_dev_test_split(X, y, seed=0)
    assert isinstance(split, Split)
    train, dev, test = ids_of(split)
    assert (len(train), len(dev), len(test)) == (980, 10, 10)      # the 98/1/1 default
    np.testing.assert_array_equal(np.sort(np.concatenate([train, dev, test])), np.arange(1000))
    assert not np.array_equal(train[:50], np.arange(50))            # shuffled
    X_train, y_train, X_dev, y_dev, X_test, y_test = split          # unpacks
    assert Split._fields == ("X_train", "y_train", "X_dev", "y_dev", "X_test", "y_test")
    assert X_train.dtype == X.dtype and y_test.dtype == y.dtype
    assert not np.shares_memory(X_train, X)


@pytest.mark.parametrize("n,sizes,expected", [
    (10, (0.7, 0.2, 0.1), (7, 2, 1)),
    (7, (0.5, 0.25, 0.25), (3, 2, 2)),        # 3.5, 1.75, 1.75: leftovers to the largest rests
    (50, (0.98, 0.01, 0.01), (49, 1, 0)),     # 49, .5, .5: a tie goes to the earlier part
    (100, (0.29, 0.71, 0.0), (29, 71, 0)),    # 0.29 * 100 = 28.999999999999996
    (10, (0.6, 0.2, 0.2), (6, 2, 2)),
    (3, (1 / 3, 1 / 3, 1 / 3), (1, 1, 1)),
    (5, (1.0, 0, 0), (5, 0, 0)),
    (10, (0.8, 0.15, 0.05), (8, 2, 0)),       # 8, 1.5, 0.5 as written: a tie
    (1000, (800, 150, 50), (800, 150, 50)),   # integer counts
    (10, (10, 0, 0), (10, 0, 0)),
])
def test_part_sizes(n, sizes, expected):
    X, y = indexed(n)
    assert tuple(map(len, ids_of(train_dev_test_split(X, y, sizes, seed=1)))) == expected


def test_fraction_rounding_property(rng):
    """Largest remainder: sizes sum to n, each its exact share rounded down or up."""
    for _ in range(200):
        n = int(rng.integers(1, 60))
        f = rng.dirichlet([1, 1, 1])
        f = (float(f[0]), float(f[1]), 1.0 - float(f[0]) - float(f[1]))
        X, y = indexed(n)
        counts = list(map(len, ids_of(train_dev_test_split(X, y, f, seed=0))))
        assert sum(counts) == n
        for c, share in zip(counts, f):
            assert np.floor(share * n) - 1e-9 <= c <= np.ceil(share * n) + 1e-9


def test_empty_parts_keep_their_shapes():
    X, y = indexed(20)
    split = train_dev_test_split(X, np.stack([y, y], axis=1), (0.75, 0.25, 0), seed=0)
    assert split.X_test.shape == (0, 3) and split.y_test.shape == (0, 2)
    split = train_dev_test_split(X, y, (0.7, 0.0, 0.3), seed=0)
    assert split.X_dev.shape == (0, 3) and split.y_dev.shape == (0,)


def test_seeds(rng):
    X, y = indexed(100)
    a = train_dev_test_split(X, y, (0.6, 0.2, 0.2), seed=5)
    b = train_dev_test_split(X, y, (0.6, 0.2, 0.2), seed=5)
    c = train_dev_test_split(X, y, (0.6, 0.2, 0.2), seed=6)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(a.X_train, c.X_train)
    state = np.random.get_state()
    d = train_dev_test_split(X, y, (0.6, 0.2, 0.2))                 # fresh entropy
    assert sum(map(len, ids_of(d))) == 100
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1])  # global RNG untouched


def test_stratified_exact_proportions(rng):
    y = np.repeat([0, 1, 2], [500, 300, 200])
    X, _ = indexed(1000)
    split = train_dev_test_split(X, y, (0.6, 0.2, 0.2), stratify=True, seed=0)
    assert Counter(split.y_train.tolist()) == {0: 300, 1: 180, 2: 120}
    assert Counter(split.y_dev.tolist()) == {0: 100, 1: 60, 2: 40}
    assert Counter(split.y_test.tolist()) == {0: 100, 1: 60, 2: 40}
    ids = np.concatenate([split.X_train[:, 0], split.X_dev[:, 0], split.X_test[:, 0]])
    np.testing.assert_array_equal(np.sort(ids), np.arange(1000))
    np.testing.assert_array_equal(y[ids.astype(int)],
                                  np.concatenate([split.y_train, split.y_dev, split.y_test]))
    assert not (np.diff(split.y_train) >= 0).all()          # parts are shuffled, not by class


def test_stratified_rounding_property(rng):
    """Part sizes as without stratification; every class-by-part count its exact share
    n_class * size / n rounded down or up."""
    for _ in range(150):
        n_classes = int(rng.integers(1, 7))
        n_per = rng.integers(1, 25, size=n_classes)
        y = np.repeat(np.arange(n_classes), n_per)
        rng.shuffle(y)
        n = y.size
        f = rng.dirichlet([1, 1, 1])
        sizes = (float(f[0]), float(f[1]), 1.0 - float(f[0]) - float(f[1]))
        X, _ = indexed(n)
        seed = int(rng.integers(0, 1000))
        plain = train_dev_test_split(X, y, sizes, seed=seed)
        strat = train_dev_test_split(X, y, sizes, stratify=True, seed=seed)
        parts = (strat.y_train, strat.y_dev, strat.y_test)
        assert tuple(map(len, parts)) == (len(plain.y_train), len(plain.y_dev),
                                          len(plain.y_test))
        for k in range(n_classes):
            for part in parts:
                share = Fraction(int(n_per[k]) * len(part), n)
                count = int((part == k).sum())
                assert share.__floor__() <= count <= share.__ceil__()
        ids = np.concatenate([strat.X_train[:, 0], strat.X_dev[:, 0], strat.X_test[:, 0]])
        np.testing.assert_array_equal(np.sort(ids), np.arange(n))


def test_stratified_two_dimensional_targets():
    labels = np.repeat([0, 1, 2, 3], [40, 30, 20, 10])
    Y = np.eye(4)[labels]                                  # one-hot rows are the classes
    X, _ = indexed(100)
    split = train_dev_test_split(X, Y, (0.5, 0.3, 0.2), stratify=True, seed=3)
    assert split.y_train.shape == (50, 4)
    assert split.y_train.sum(axis=0).tolist() == [20, 15, 10, 5]
    assert split.y_dev.sum(axis=0).tolist() == [12, 9, 6, 3]
    np.testing.assert_array_equal(Y[split.X_dev[:, 0].astype(int)], split.y_dev)


def test_stratified_with_counts_and_float_labels():
    y = np.array([0.0, 1.0] * 10)
    X, _ = indexed(20)
    split = train_dev_test_split(X, y, (10, 6, 4), stratify=True, seed=0)
    assert Counter(split.y_dev.tolist()) == {0.0: 3, 1.0: 3}
    assert Counter(split.y_test.tolist()) == {0.0: 2, 1.0: 2}


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"sizes": (0.8, 0.2)}, ValueError, "3 entries"),
    ({"sizes": (0.5, 0.2, 0.2, 0.1)}, ValueError, "3 entries"),
    ({"sizes": (0.8, 0.2, 0.1)}, ValueError, "sum to 1"),
    ({"sizes": (1.0 + 1e-8, 0.0, 0.0)}, ValueError, "sizes"),
    ({"sizes": (1.2, -0.2, 0.0)}, ValueError, "sizes"),
    ({"sizes": (0.5, float("nan"), 0.5)}, ValueError, "sizes"),
    ({"sizes": (5, 3, 1)}, ValueError, "sum to the number of examples"),
    ({"sizes": (12, -1, -1)}, ValueError, ">= 0"),
    ({"sizes": (1, 0, 0)}, ValueError, "floats"),
    ({"sizes": (True, False, False)}, TypeError, "sizes"),
    ({"sizes": ("0.8", "0.1", "0.1")}, TypeError, "sizes"),
    ({"sizes": "abc"}, TypeError, "sizes"),
    ({"sizes": 0.8}, TypeError, "sizes"),
    ({"stratify": "yes"}, TypeError, "stratify"),
    ({"stratify": 1}, TypeError, "stratify"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, TypeError, "seed"),
])
def test_bad_arguments(kwargs, exc, match):
    X, y = indexed(10)
    with pytest.raises(exc, match=match):
        train_dev_test_split(X, y, **kwargs)


def test_fraction_tolerance():
    X, y = indexed(10)
    split = train_dev_test_split(X, y, (0.7 + 5e-10, 0.2, 0.1), seed=0)
    assert len(split.y_train) == 7


@pytest.mark.parametrize("X,y,exc,match", [
    (np.arange(10.0), np.arange(10), ValueError, "X must be 2-D"),
    (np.zeros((0, 2)), np.zeros(0), ValueError, "X is empty"),
    (np.array([["a"]] * 10), np.arange(10), TypeError, "X"),
    (np.zeros((10, 2)), np.arange(9), ValueError, "y"),
    (np.zeros((10, 2)), np.zeros((10, 2, 2)), ValueError, "y"),
    (np.zeros((10, 2)), np.array(["a"] * 10), TypeError, "y"),
    (np.zeros((10, 2)), 3, ValueError, "y"),
    ([[1.0], [2.0, 3.0]], [0, 1], ValueError, "X"),
])
def test_bad_data(X, y, exc, match):
    with pytest.raises(exc, match=match):
        train_dev_test_split(X, y, (0.5, 0.25, 0.25))


def test_lists_are_accepted():
    split = train_dev_test_split([[0.0], [1.0], [2.0], [3.0]], [0, 1, 0, 1], (2, 1, 1), seed=0)
    assert split.X_train.shape == (2, 1) and split.y_train.shape == (2,)
