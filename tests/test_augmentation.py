"""Data augmentation (flips, shifts) inside the C loop, against a NumPy re-implementation
that draws its decisions from the documented Philox counter."""
import numpy as np
import pytest

import pydl
import reference as R
from conftest import needs_openmp, ref_params
from pydl import _core

AUGMENT_STREAM = 0x41550000


def numpy_augment(X, seed, epoch, batch, shape, flip, max_shift):
    """out[h, w] = flipped[h - dy, w - dx], decisions from Philox(j, epoch, batch, AUGMENT)."""
    H, W, C = shape
    out = np.zeros_like(X)
    key = [seed & 0xFFFFFFFF, seed >> 32]
    for j, row in enumerate(X):
        r = _core.philox4x32([j, epoch, batch, AUGMENT_STREAM], key)
        img = row.reshape(H, W, C)
        if flip and r[0] & 1:
            img = img[:, ::-1]
        span = 2 * max_shift + 1
        dy, dx = int(r[1] % span) - max_shift, int(r[2] % span) - max_shift
        shifted = np.zeros_like(img)
        hs, ws = slice(max(dy, 0), H + min(dy, 0)), slice(max(dx, 0), W + min(dx, 0))
        shifted[hs, ws] = img[max(-dy, 0):H - max(dy, 0), max(-dx, 0):W - max(dx, 0)]
        out[j] = shifted.reshape(-1)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,flip,shift", [((5, 4, 1), True, 1), ((6, 6, 3), True, 2),
                                              ((4, 7, 2), False, 1), ((3, 3, 1), True, 0)])
def test_augment_matches_numpy(rng, dtype, shape, flip, shift):
    X = rng.standard_normal((40, int(np.prod(shape)))).astype(dtype)
    got = _core.augment_batch(X, 12345678901, 3, 2, (*shape, flip, shift))
    np.testing.assert_array_equal(got, numpy_augment(X, 12345678901, 3, 2, shape, flip, shift))


def test_augment_draws_flips_and_all_shifts(rng):
    X = np.arange(2000 * 25, dtype=np.float64).reshape(2000, 25)
    out = _core.augment_batch(X, 1, 0, 0, (5, 5, 1, True, 2))
    centre = out[:, 12]  # the centre pixel comes from the original's (2 - dy, 2 -/+ dx)
    src = centre - X[:, 0]
    assert len(np.unique(src)) == 25  # every (dy, dx) in [-2, 2]^2 happened
    out = _core.augment_batch(X[:200], 1, 0, 0, (5, 5, 1, True, 0))
    mirrored = X[:200].reshape(200, 5, 5)[:, :, ::-1].reshape(200, 25)
    flipped = int((out == mirrored).all(axis=1).sum())
    assert ((out == mirrored).all(axis=1) | (out == X[:200]).all(axis=1)).all()
    assert 60 < flipped < 140  # about half of them


def test_identity_without_flip_or_shift(rng):
    X = rng.standard_normal((10, 12))
    np.testing.assert_array_equal(_core.augment_batch(X, 5, 0, 0, (3, 4, 1, False, 0)), X)


@pytest.mark.parametrize("batch_size", [None, 8])
def test_training_with_augmentation_matches_reference(rng, batch_size):
    shape = (4, 4, 1)
    net = pydl.Network([16, 6, 3], output_activation="softmax", dtype="float64", seed=9)
    X = rng.standard_normal((20, 16))
    y = rng.integers(0, 3, 20)
    aug = pydl.Augmentation((4, 4), flip=True, max_shift=1)
    P = ref_params(net)
    m, bs = 20, batch_size or 20
    perm = _core.permutation(net._train_seed, 0, m) if bs < m else np.arange(m)
    for k, first in enumerate(range(0, m, bs)):
        idx = perm[first:first + bs]
        Xb = _core.augment_batch(np.ascontiguousarray(X[idx]), net._train_seed, 0, k,
                                 (*shape, True, 1))
        AL, caches = R.forward(Xb.T, P, ["relu", "softmax"])
        grads = R.backward(AL, y[idx], caches, ["relu", "softmax"], "softmax")
        P = R.update_parameters_with_gd(P, grads, 0.05)
    net.fit(X, y, epochs=1, learning_rate=0.05, batch_size=batch_size, augment=aug)
    for key, v in net.parameters.items():
        np.testing.assert_allclose(v, P[key], rtol=1e-10, atol=1e-12)


@needs_openmp
def test_augmentation_does_not_depend_on_threads(rng):
    X = rng.random((256, 28 * 28)).astype(np.float32)
    y = rng.integers(0, 10, 256)
    nets = [pydl.Network([784, 256, 10], output_activation="softmax", seed=2, n_threads=nt)
            for nt in (1, 2)]
    for net in nets:
        net.fit(X, y, epochs=2, batch_size=128, optimizer=pydl.Adam(0.001),
                augment=pydl.Augmentation((28, 28), max_shift=2))
    np.testing.assert_array_equal(nets[0].theta, nets[1].theta)


def test_augmentation_arguments():
    with pytest.raises(ValueError, match="image_shape"):
        pydl.Augmentation((4,))
    with pytest.raises(ValueError, match="max_shift"):
        pydl.Augmentation((4, 4), max_shift=4)
    with pytest.raises(TypeError, match="flip"):
        pydl.Augmentation((4, 4), flip="yes")
    net = pydl.Network([16, 2, 1])
    with pytest.raises(ValueError, match="image_shape"):
        net.fit(np.zeros((4, 16)), [0, 1, 0, 1], epochs=1, augment=pydl.Augmentation((5, 3)))
    with pytest.raises(TypeError, match="augment"):
        net.fit(np.zeros((4, 16)), [0, 1, 0, 1], epochs=1, augment=(4, 4))
    assert pydl.Augmentation((4, 4)).image_shape == (4, 4, 1)
