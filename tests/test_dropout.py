"""Inverted dropout (masks from Philox4x32-10) against the oracle fed the same masks, and the
counter-based generator itself (Random123's known-answer vectors, the seeded shuffle)."""
import numpy as np
import pytest

import pydl
import reference as R
from conftest import DTYPES, RTOL, needs_openmp, make_targets, ref_params, ref_targets
from pydl import _core


# ---- Philox4x32-10 and the shuffle ----------------------------------------------------------

@pytest.mark.parametrize("counter,key,expected", [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
])
def test_philox_known_answers(counter, key, expected):
    """Random123's published known-answer vectors for Philox4x32-10."""
    np.testing.assert_array_equal(_core.philox4x32(counter, key), expected)


def test_permutation_is_seeded_and_per_epoch():
    p = _core.permutation(7, 0, 1000)
    np.testing.assert_array_equal(np.sort(p), np.arange(1000))
    np.testing.assert_array_equal(p, _core.permutation(7, 0, 1000))
    assert not np.array_equal(p, _core.permutation(7, 1, 1000))
    assert not np.array_equal(p, _core.permutation(8, 0, 1000))
    # roughly uniform: each position sees every value about equally often over many epochs
    counts = np.zeros((5, 5))
    for e in range(4000):
        counts[np.arange(5), _core.permutation(3, e, 5)] += 1
    assert np.abs(counts - 800).max() < 5 * np.sqrt(800)


# ---- masks ------------------------------------------------------------------------------------

def test_masks_keep_the_right_fraction_and_are_reproducible():
    mask = _core.dropout_mask(11, 3, 5, 2, 300, 200, 0.8)
    assert mask.shape == (200, 300) and set(np.unique(mask)) <= {0, 1}
    n = mask.size
    assert abs(mask.mean() - 0.8) < 5 * np.sqrt(0.8 * 0.2 / n)
    np.testing.assert_array_equal(mask, _core.dropout_mask(11, 3, 5, 2, 300, 200, 0.8))
    for other in [(12, 3, 5, 2), (11, 4, 5, 2), (11, 3, 6, 2), (11, 3, 5, 1)]:
        assert not np.array_equal(mask, _core.dropout_mask(*other, 300, 200, 0.8))
    assert _core.dropout_mask(11, 3, 5, 2, 30, 20, 1.0).all()
    # element e = j * n + i: a narrower batch is a prefix of the same stream
    np.testing.assert_array_equal(_core.dropout_mask(11, 3, 5, 2, 300, 7, 0.8), mask[:7])


# ---- training with dropout against the oracle ----------------------------------------------

def reference_epoch(net, X, y, output, acts, lr, batch_size, epoch, keep):
    """One epoch of plain gradient descent in the oracle, with pydl's permutation and masks."""
    P = ref_params(net)
    m = X.shape[0]
    perm = _core.permutation(net._train_seed, epoch, m) if batch_size < m else np.arange(m)
    Xr, Y = X.astype(net.dtype).astype(np.float64).T, ref_targets(y, output)
    total = 0.0
    for k, first in enumerate(range(0, m, batch_size)):
        idx = perm[first:first + batch_size]
        Xb = Xr[:, idx]
        Yb = Y[idx] if output == "softmax" else Y[:, idx]
        masks = {l: _core.dropout_mask(net._train_seed, epoch, k, l, net.layer_dims[l],
                                       len(idx), keep[l - 1]).T.astype(np.float64)
                 for l in range(1, net.n_layers)}
        AL, caches = R.forward(Xb, P, acts, keep_probs=keep, masks=masks)
        total += len(idx) * R.compute_cost(AL, Yb, output)
        grads = R.backward(AL, Yb, caches, acts, output, keep_probs=keep, masks=masks)
        P = R.update_parameters_with_gd(P, grads, lr)
    return P, total / m


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden,output", [("relu", "softmax"), ("tanh", "sigmoid"),
                                           ("sigmoid", "linear"), ("leaky_relu", "sigmoid")])
@pytest.mark.parametrize("batch_size", [None, 7])
def test_dropout_training_matches_reference(rng, dtype, hidden, output, batch_size):
    dims = [5, 9, 6, 3]
    acts = [hidden, hidden, output]
    keep = [0.7, 0.85, 1.0]
    net = pydl.Network(dims, activations=acts, keep_probs=keep, dtype=dtype,
                       seed=int(rng.integers(2**31)), init="xavier")
    m = 23
    X = rng.standard_normal((m, 5))
    y = make_targets(rng, m, dims[-1], output)
    bs = m if batch_size is None else batch_size
    expected, cost = reference_epoch(net, X, y, output, acts, 0.1, bs, 0, keep)
    history = net.fit(X, y, epochs=1, learning_rate=0.1, batch_size=batch_size)
    rtol = RTOL[np.dtype(dtype)] * (10 if dtype == np.float32 else 1)
    assert history.cost[0] == pytest.approx(cost, rel=rtol)
    for k, v in net.parameters.items():
        np.testing.assert_allclose(v, expected[k], rtol=rtol, atol=rtol * np.abs(expected[k]).max())


def test_dropout_changes_training_but_not_inference(rng):
    X = rng.standard_normal((40, 4))
    y = (X[:, 0] > 0).astype(int)
    plain = pydl.Network([4, 16, 1], seed=3, dtype="float64")
    dropped = pydl.Network([4, 16, 1], seed=3, dtype="float64", keep_probs=0.5)
    assert dropped.keep_probs == [0.5, 1.0]
    # forward, cost and gradients never apply dropout
    np.testing.assert_array_equal(plain.forward(X), dropped.forward(X))
    assert plain.cost(X, y) == dropped.cost(X, y)
    # fit does
    plain.fit(X, y, epochs=2, learning_rate=0.1)
    dropped.fit(X, y, epochs=2, learning_rate=0.1)
    assert not np.array_equal(plain.theta, dropped.theta)
    # turning it off makes the two trainings identical again
    a = pydl.Network([4, 16, 1], seed=3, dtype="float64", keep_probs=0.5)
    a.keep_probs = None
    b = pydl.Network([4, 16, 1], seed=3, dtype="float64")
    a.fit(X, y, epochs=2, learning_rate=0.1)
    b.fit(X, y, epochs=2, learning_rate=0.1)
    np.testing.assert_array_equal(a.theta, b.theta)


@needs_openmp
def test_dropout_does_not_depend_on_threads(rng):
    X = rng.standard_normal((512, 200)).astype(np.float32)
    y = rng.integers(0, 10, 512)
    nets = [pydl.Network([200, 256, 160, 10], output_activation="softmax", seed=5,
                         keep_probs=[0.8, 0.9, 1.0], n_threads=nt) for nt in (1, 2)]
    assert nets[1]._arch.effective_threads(2, 128) == 2
    for net in nets:
        net.fit(X, y, epochs=2, batch_size=128, optimizer=pydl.Adam(0.001))
    np.testing.assert_array_equal(nets[0].theta, nets[1].theta)


@pytest.mark.parametrize("keep", [0.0, -0.1, 1.5, float("nan"), [0.8], [0.5, 0.5, 0.9]])
def test_bad_keep_probs(keep):
    with pytest.raises(ValueError, match="keep_probs"):
        pydl.Network([3, 4, 4, 1], keep_probs=keep)


def test_keep_probs_forms():
    assert pydl.Network([3, 4, 4, 1], keep_probs=0.8).keep_probs == [0.8, 0.8, 1.0]
    assert pydl.Network([3, 4, 4, 1], keep_probs=[0.7, 0.9]).keep_probs == [0.7, 0.9, 1.0]
    assert pydl.Network([3, 4, 4, 1], keep_probs=[0.7, 0.9, 1]).keep_probs == [0.7, 0.9, 1.0]
    assert pydl.Network([3, 4, 1]).keep_probs == [1.0, 1.0]
    with pytest.raises(TypeError, match="keep_probs"):
        pydl.Network([3, 4, 1], keep_probs="high")
