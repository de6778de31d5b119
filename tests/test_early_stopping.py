"""Dev-set evaluation, early stopping and the non-finite training guard."""
import numpy as np
import pytest

import pydl


def noisy_planar(rng, n_train=40, flip=0.25):
    X, y = pydl.datasets.load_planar()
    idx = rng.permutation(len(y))
    tr, dev = idx[:n_train], idx[n_train:]
    y_tr = y[tr].copy()
    noise = rng.random(n_train) < flip
    y_tr[noise] = 1 - y_tr[noise]
    return X[tr], y_tr, X[dev], y[dev]


def test_dev_cost_and_accuracy_are_recorded_per_epoch(rng):
    X, y, Xd, yd = noisy_planar(rng)
    a = pydl.Network([2, 8, 1], hidden_activation="tanh", seed=1, dtype="float64")
    b = pydl.Network([2, 8, 1], hidden_activation="tanh", seed=1, dtype="float64")
    h = a.fit(X, y, epochs=5, learning_rate=0.5, l2=0.1, validation_data=(Xd, yd))
    expected_cost, expected_acc = [], []
    for _ in range(5):
        b.fit(X, y, epochs=1, learning_rate=0.5, l2=0.1)
        expected_cost.append(b.cost(Xd, yd))  # the dev cost carries no regularization term
        expected_acc.append(b.score(Xd, yd))
    np.testing.assert_allclose(h.dev_cost, expected_cost, rtol=1e-12)
    assert h.dev_accuracy == expected_acc
    np.testing.assert_array_equal(a.theta, b.theta)


def test_linear_output_records_dev_cost_only(rng):
    X = rng.standard_normal((30, 3))
    y = X @ [1.0, -2.0, 0.5]
    net = pydl.Network([3, 1], output_activation="linear", dtype="float64")
    h = net.fit(X, y, epochs=4, learning_rate=0.1, validation_data=(X[:10], y[:10]))
    assert len(h.dev_cost) == 4 and h.dev_accuracy == []
    assert h.dev_cost[-1] < h.dev_cost[0]


def test_early_stopping_stops_and_restores_the_best_epoch(rng):
    X, y, Xd, yd = noisy_planar(rng)
    kwargs = dict(hidden_activation="relu", seed=4, dtype="float64")
    net = pydl.Network([2, 64, 64, 1], **kwargs)
    stop = pydl.EarlyStopping(patience=20, min_delta=1e-4, restore_best=True)
    h = net.fit(X, y, epochs=3000, optimizer=pydl.Adam(0.01), validation_data=(Xd, yd),
                early_stopping=stop)
    assert h.stopped_epoch is not None and len(h) < 3000  # over-fitting is caught
    assert h.stopped_epoch == len(h) - 1 and h.best_epoch == stop.best_epoch
    assert h.best_epoch == int(np.argmin(h.dev_cost))
    assert h.stopped_epoch - h.best_epoch >= 20
    # the parameters are those after the best epoch: replay training up to it
    twin = pydl.Network([2, 64, 64, 1], **kwargs)
    twin.fit(X, y, epochs=h.best_epoch + 1, optimizer=pydl.Adam(0.01))
    np.testing.assert_array_equal(net.theta, twin.theta)
    assert net.cost(Xd, yd) == pytest.approx(min(h.dev_cost), rel=1e-12)


def test_without_restore_the_last_parameters_stay(rng):
    X, y, Xd, yd = noisy_planar(rng)
    net = pydl.Network([2, 64, 64, 1], seed=4, dtype="float64")
    h = net.fit(X, y, epochs=3000, optimizer=pydl.Adam(0.01), validation_data=(Xd, yd),
                early_stopping=pydl.EarlyStopping(patience=20, restore_best=False))
    assert h.stopped_epoch is not None
    assert net.cost(Xd, yd) == pytest.approx(h.dev_cost[-1], rel=1e-12)


def test_early_stopping_arguments():
    X, y = np.zeros((4, 2)), [0, 1, 0, 1]
    net = pydl.Network([2, 1])
    with pytest.raises(ValueError, match="validation_data"):
        net.fit(X, y, epochs=1, early_stopping=pydl.EarlyStopping())
    with pytest.raises(TypeError, match="early_stopping"):
        net.fit(X, y, epochs=1, validation_data=(X, y), early_stopping=5)
    with pytest.raises(TypeError, match="validation_data"):
        net.fit(X, y, epochs=1, validation_data=X)
    with pytest.raises(ValueError, match="X_dev"):
        net.fit(X, y, epochs=1, validation_data=(np.zeros((4, 3)), y))
    with pytest.raises(ValueError, match="y_dev"):
        net.fit(X, y, epochs=1, validation_data=(X, [0, 1, 2, 1]))
    with pytest.raises(ValueError, match="patience"):
        pydl.EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="min_delta"):
        pydl.EarlyStopping(min_delta=-1)
    assert net.epochs_trained == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_stops_before_the_bad_update_and_names_a_layer(rng, dtype):
    X = rng.standard_normal((64, 5)) * 10
    y = X @ rng.standard_normal(5) * 100
    net = pydl.Network([5, 16, 16, 1], output_activation="linear", seed=0, dtype=dtype)
    with pytest.raises(FloatingPointError, match="learning rate") as info:
        net.fit(X, y, epochs=200, learning_rate=10.0)
    assert np.isfinite(net.theta).all()  # the last finite parameters are kept
    assert net.epochs_trained < 200
    layer = info.value.layer  # the first layer whose activations overflowed, 0: the cost
    assert 0 <= layer <= net.n_layers
    assert (f"layer {layer}" if layer else "cost") in str(info.value)
    assert net.forward(X).shape == (64, 1)  # still a working network object
