"""The float32 element functions (csrc/fastmath.h: exp, tanh, log1p) against float64 NumPy,
seen through float32 networks whose weights make them compute g(x) exactly: W = 1, b = 0."""
import numpy as np
import pytest

import pydl


def unit_network(activations, dims):
    net = pydl.Network(dims, activations=activations, dtype="float32", init="random")
    # biases start at zero
    return net.set_parameters({f"W{l}": np.ones((dims[l], dims[l - 1]))
                               for l in range(1, len(dims))})


def test_tanh():
    x = np.linspace(-12, 12, 200001).astype(np.float32)
    got = unit_network(["tanh", "linear"], [1, 1, 1]).forward(x[:, None])[:, 0]
    want = np.tanh(x.astype(np.float64))
    assert np.abs(got - want).max() < 4e-7          # Eigen's rational approximation
    assert np.abs(got[x != 0] / want[x != 0] - 1).max() < 1e-6


def test_exp_through_sigmoid():
    x = np.linspace(-87, 87, 200001).astype(np.float32)
    got = unit_network(["sigmoid"], [1, 1]).forward(x[:, None])[:, 0]
    want = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert np.abs(got / want - 1).max() < 5e-7


@pytest.mark.parametrize("scale", [1e-6, 1.0, 40.0])
def test_log1p_through_the_binary_cross_entropy(scale):
    """The loss of one example with y = 0 is softplus(z) = max(z, 0) + log1p(e^-|z|)."""
    net = unit_network(["sigmoid"], [1, 1])
    for z in np.linspace(-scale, scale, 41).astype(np.float32):
        got = net.cost(np.array([[z]], dtype=np.float32), np.array([0]))
        want = np.logaddexp(0.0, np.float64(z))
        assert got == pytest.approx(want, rel=1e-6, abs=1e-12)
