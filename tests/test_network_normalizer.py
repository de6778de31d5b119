"""A Normalizer stored with the network: raw inputs give the answers normalized ones would."""
import numpy as np
import pytest

import pydl
from pydl.preprocessing import Normalizer


def test_stored_normalizer_equals_normalizing_by_hand(rng):
    X = rng.standard_normal((80, 3)) * [1.0, 50.0, 0.01] + [5.0, -300.0, 2.0]
    y = (X[:, 0] - 5 + (X[:, 1] + 300) / 50 > 0).astype(int)
    X_dev = rng.standard_normal((20, 3)) * [1.0, 50.0, 0.01] + [5.0, -300.0, 2.0]
    y_dev = (X_dev[:, 0] - 5 > 0).astype(int)
    norm = Normalizer().fit(X)
    stored = pydl.Network([3, 5, 1], seed=1, dtype="float64", normalizer=norm)
    by_hand = pydl.Network([3, 5, 1], seed=1, dtype="float64")
    h1 = stored.fit(X, y, epochs=20, learning_rate=0.5, validation_data=(X_dev, y_dev))
    h2 = by_hand.fit(norm.transform(X), y, epochs=20, learning_rate=0.5,
                     validation_data=(norm.transform(X_dev), y_dev))
    np.testing.assert_array_equal(stored.theta, by_hand.theta)
    assert h1.dev_cost == h2.dev_cost
    np.testing.assert_array_equal(stored.predict(X_dev), by_hand.predict(norm.transform(X_dev)))
    assert stored.cost(X, y) == by_hand.cost(norm.transform(X), y)
    assert stored.score(X_dev, y_dev) == by_hand.score(norm.transform(X_dev), y_dev)


def test_normalizer_checks():
    with pytest.raises(ValueError, match="fitted"):
        pydl.Network([3, 1], normalizer=Normalizer())
    with pytest.raises(ValueError, match="features"):
        pydl.Network([3, 1], normalizer=Normalizer().fit(np.ones((4, 2))))
    with pytest.raises(TypeError, match="normalizer"):
        pydl.Network([3, 1], normalizer="standard")
    net = pydl.Network([2, 1])
    net.normalizer = Normalizer().fit(np.arange(8.0).reshape(4, 2))
    assert net.normalizer.n_features_ == 2
    net.normalizer = None
    assert net.normalizer is None
