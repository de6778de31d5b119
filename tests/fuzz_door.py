"""Fuzz pydl's door: every public entry point and every function of pydl._core, called
with random and hostile arrays and arguments.

Each call must succeed or raise ValueError/TypeError (pydl's own exceptions subclass them;
`fit` and `_core.train` may also raise the FloatingPointError they document for a diverging
run). A crash, a hang, any other exception (MemoryError, AttributeError, IndexError,
RuntimeError, OverflowError, ...) or absurd memory is a failure.

The calls run in a child process, so a crash is seen as one; the child writes the number of
each call before making it, so the parent can name the call that crashed. Every call is
generated from numpy.random.default_rng([seed, i]) alone: `--seed S --first i --runs 1`
replays call i exactly.

This is structure-aware random testing, not coverage-guided fuzzing: each generator builds
a *valid* call first (so that the C paths behind the checks are reached) and then spoils
zero to three of its arguments. The summary counts, per entry point, the calls that
succeeded and the distinct error messages, which shows what the run reached.

    python tests/fuzz_door.py --runs 100000          # the long run (README: "Reliability")
    python tests/fuzz_door.py --runs 1 --first 4711  # replay one call
"""
from __future__ import annotations

import argparse
import collections
import faulthandler
import io
import json
import os
import pickle
import re
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

EXPECTED = (ValueError, TypeError)
# Documented outcomes of training that are not bad input: a run that diverges.
EXPECTED_BY_TARGET = {"Network.fit": (FloatingPointError,), "_core.train": (FloatingPointError,)}
PER_CALL_TIMEOUT_S = 60      # a call that takes longer is a hang
MEMORY_LIMIT_MB = 6144       # address space of the child: an absurd allocation fails loudly
HUGE = 2**40                 # rows of a "huge claimed size" (zero-stride views)


# ---- random values ----------------------------------------------------------------------

class Gen:
    """Random arguments, plausible or hostile, from one numpy Generator."""

    def __init__(self, rng):
        self.rng = rng

    def chance(self, p):
        return self.rng.random() < p

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def junk(self):
        """A value of a wrong type for almost any parameter."""
        return self.pick([None, "3", b"\x00", object(), [1, 2], {"a": 1}, (), 1j, sum,
                          np.float64("nan"), float("inf"), 2**70, -(2**70), True,
                          np.array([1.0, 2.0]), np.array("x"), slice(1)])

    def n_threads(self):
        return self.pick([None, 1, 2, 3, -1, -2, 0, 1024, 1025, 2**31 - 1, -(2**31),
                          2**31, 2**63, 2**64, 1.5, "2", True, np.int64(2), np.int32(-1)])

    def count(self, low=0, high=6, large=True):
        """An integer argument: usually small, sometimes at or past the edges. large=False
        for a count that sizes an output: 2**31 - 1 would be a legitimate request for
        gigabytes, which the fuzz leaves out (2**63 and more must still be refused)."""
        if self.chance(0.75):
            return int(self.rng.integers(low, high + 1))
        return self.pick([-1, 0, 2**31 - 1 if large else 7, 2**31 if large else -7,
                          -(2**31) - 1, 2**63, 2**64, -(2**63), np.int64(3),
                          np.uint64(2**64 - 1), 2.0, 2.5, True, None, "4"])

    def real(self, low=0.0, high=1.0):
        if self.chance(0.75):
            return float(self.rng.uniform(low, high))
        return self.pick([0.0, -0.0, -1.0, 1.0, 1e-300, 5e-324, 1e308, -1e308, float("nan"),
                          float("inf"), -float("inf"), 10**400, np.float32(0.5),
                          np.float16(0.1), 1, True, None, "0.1", 1j])

    def seed(self):
        return self.pick([0, 1, 42, 2**32 - 1, 2**63, 2**64 - 1, 2**64, -1, None, 1.5,
                          np.random.default_rng(1), np.random.RandomState(2), "seed"])

    def values(self, shape, dtype):
        """Data of `shape`: normal numbers, now and then NaN, inf, huge or subnormal."""
        a = self.rng.standard_normal(shape)
        if a.size and self.chance(0.15):
            bad = self.pick([np.nan, np.inf, -np.inf, 1e300, 3e38, 5e-324, -0.0])
            a.flat[int(self.rng.integers(a.size))] = bad
        with np.errstate(over="ignore", invalid="ignore"):
            return a.astype(dtype)

    def clean(self, shape, dtype):
        """Finite data of `shape` (for a valid setup)."""
        return self.rng.standard_normal(shape).astype(dtype)

    def mask(self, shape, p_bad=0.0):
        """A 0/1 uint8 dropout mask, or with probability p_bad a spoiled one."""
        if self.chance(p_bad):
            return self.spoil(shape, np.uint8)
        return self.rng.integers(0, 2, shape).astype(np.uint8)

    def array(self, shape, dtype, p_bad=0.0):
        """An array of `shape` and `dtype`; with probability p_bad, spoiled in one way."""
        if not self.chance(p_bad):
            return self.values(shape, dtype)
        return self.spoil(shape, dtype)

    def spoil(self, shape, dtype):
        shape = tuple(shape)
        if shape and np.prod(shape, dtype=float) > 2**22:  # spoiling a huge view again
            shape = (8,) + shape[1:]
        how = int(self.rng.integers(17))
        if how == 0:      # another dtype
            other = self.pick([np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8,
                               np.bool_, np.complex128, object, ">f8", "<U3", "M8[s]"])
            try:
                return self.values(shape, np.float64).astype(other)
            except (TypeError, ValueError):
                return self.junk()
        if how == 1:      # Fortran order
            return np.asfortranarray(self.values(shape, dtype))
        if how == 2:      # every other row (a strided view)
            return self.values((2 * shape[0],) + shape[1:], dtype)[::2] if shape else \
                self.values(shape, dtype)
        if how == 3:      # reversed (a negative stride)
            return self.values(shape, dtype)[::-1] if shape else self.values(shape, dtype)
        if how == 4:      # read-only
            a = self.values(shape, dtype)
            a.flags.writeable = False
            return a
        if how == 5:      # misaligned, still C-contiguous
            n = int(np.prod(shape)) * np.dtype(dtype).itemsize
            buf = np.zeros(n + 1, dtype=np.uint8)
            return buf[1:].view(dtype).reshape(shape)
        if how == 6:      # a huge claimed size: zero-stride rows
            rows = self.pick([HUGE, 10**6])
            row = self.values((1,) + shape[1:], dtype)
            return np.broadcast_to(row, (rows,) + shape[1:])
        if how == 7:      # zero-size
            return np.zeros((0,) + shape[1:], dtype=dtype)
        if how == 8:      # one axis more or less
            return self.values(shape[1:] if len(shape) > 1 else shape + (1,), dtype)
        if how == 9:      # one row more (a wrong size)
            return self.values(((shape[0] + 1) if shape else 1,) + shape[1:], dtype)
        if how == 10:     # nested lists
            return self.values(shape, dtype).tolist()
        if how == 11:     # all NaN
            return np.full(shape, np.nan, dtype=dtype)
        if how == 12:     # a 0-d array or a scalar
            return self.pick([np.float64(1.0), np.array(1, dtype=np.float32), 1.0])
        if how == 13:     # a transposed square-ish view
            return self.values(shape[::-1], dtype).T
        if how == 14:     # a subclass
            return self.values(shape, dtype).view(np.ma.MaskedArray)
        if how == 15:     # a zero-stride broadcast of the right shape
            return np.broadcast_to(self.values((1,) * len(shape), dtype), shape)
        return self.junk()


# ---- pydl: valid calls first, then spoiled -----------------------------------------------

def _pydl():
    import pydl
    from pydl import _core
    return pydl, _core


def random_network(g, n_in=None):
    pydl, _ = _pydl()
    n_in = n_in or int(g.rng.integers(1, 6))
    dims = [n_in] + [int(g.rng.integers(1, 6)) for _ in range(int(g.rng.integers(0, 3)))]
    out = g.pick(["sigmoid", "softmax", "linear"])
    dims.append(int(g.rng.integers(2 if out == "softmax" else 1, 4)))
    hidden = g.pick(["relu", "leaky_relu", "tanh", "sigmoid", "linear"])
    keep = 0.8 if len(dims) > 2 and g.chance(0.2) else None
    return pydl.Network(dims, hidden, out, dtype=g.pick(["float32", "float64"]),
                        seed=int(g.rng.integers(100)), keep_probs=keep)


def targets(g, net, m):
    n_out, out = net.layer_dims[-1], net.output_activation
    if out == "softmax":
        return g.rng.integers(0, n_out, size=m)
    if out == "sigmoid":
        y = g.rng.integers(0, 2, size=(m, n_out)).astype(float)
    else:
        y = g.rng.standard_normal((m, n_out))
    return y[:, 0] if n_out == 1 and g.chance(0.5) else y


def spoil_some(g, args, names, p=0.5):
    """args with 0..3 of the named entries replaced by hostile values (with probability p)."""
    if not g.chance(p):
        return args
    for _ in range(int(g.rng.integers(1, 4))):
        name = g.pick(names)
        value = args.get(name)
        if isinstance(value, np.ndarray) and g.chance(0.8):
            args[name] = g.spoil(value.shape, value.dtype)
        elif name == "n_threads":
            args[name] = g.n_threads()
        elif isinstance(value, float):
            args[name] = g.real(-1, 2)
        elif isinstance(value, int) and not isinstance(value, bool):
            args[name] = g.count(-2, 8)
        else:
            args[name] = g.junk()
    return args


def net_call(g):
    """A Network method with a valid or spoiled X, y and options."""
    pydl, _ = _pydl()
    net = random_network(g)
    m = int(g.rng.integers(1, 9))
    a = {"X": g.values((m, net.layer_dims[0]), net.dtype if g.chance(0.7) else np.float64),
         "y": targets(g, net, m), "n_threads": g.pick([None, 1, 2]), "l2": 0.0, "l1": 0.0}
    method = g.pick(["predict", "predict_proba", "forward", "score", "cost", "gradients",
                     "backward", "fit", "dropout_masks", "mini_batches", "save_load",
                     "theta", "keep_probs", "normalizer", "parameters", "set_parameters",
                     "pickle"])
    a = spoil_some(g, a, list(a))
    X, y, nt = a["X"], a["y"], a["n_threads"]
    if method in ("predict", "predict_proba"):
        return f"Network.{method}", lambda: getattr(net, method)(X)
    if method == "forward":
        if net.keep_probs is not None and len(net.layer_dims) > 2 and g.chance(0.3):
            masks = [g.mask((m, d), 0.3) if g.chance(0.9) else None
                     for d in net.layer_dims[1:-1]]
            return "Network.forward", lambda: net.forward(X, masks=masks)
        return "Network.forward", lambda: net.forward(X, nt)
    if method == "score":
        return "Network.score", lambda: net.score(X, y)
    if method == "cost":
        return "Network.cost", lambda: net.cost(X, y, a["l2"], a["l1"])
    if method == "gradients":
        if len(net.layer_dims) > 2 and g.chance(0.4):
            keep = g.pick([0.5, 1.0, [0.5] * (len(net.layer_dims) - 2), 0.0, 1.5, "x"])
            masks = [g.mask((m, d), 0.3) if g.chance(0.9) else None
                     for d in net.layer_dims[1:-1]]
            return "Network.gradients", lambda: net.gradients(X, y, masks=masks,
                                                              keep_probs=keep)
        return "Network.gradients", lambda: net.gradients(X, y, a["l2"], a["l1"])
    if method == "backward":
        dA = g.array((m, net.layer_dims[-1]), net.dtype, 0.3)
        return "Network.backward", lambda: net.backward(X, dA, a["l2"], a["l1"])
    if method == "fit":
        kw = dict(epochs=g.count(0, 3, large=False), learning_rate=g.pick([None, 0.01, 0.1, 10.0, 0.0, -1.0,
                                                               float("nan"), 1e30]),
                  batch_size=g.pick([None, 1, 2, m, m + 1, 0, -1, 2**31, 2.5]),
                  optimizer=g.pick([None, "adam", "momentum", "rmsprop", "gd", "sgd",
                                    pydl.Adam(), pydl.Momentum(0.9), 3]),
                  l2=a["l2"], l1=a["l1"], shuffle=g.pick([True, False]), n_threads=nt,
                  record_steps=g.pick([False, True]))
        if g.chance(0.2):
            kw["validation_data"] = g.pick([(X, y), (X,), None, "dev"])
        if g.chance(0.1):
            kw["early_stopping"] = pydl.EarlyStopping(patience=1)
        if g.chance(0.1):
            kw["lr_schedule"] = g.pick([pydl.InverseDecay(1.0), "exp", pydl.Constant()])
        return "Network.fit", lambda: net.fit(X, y, **kw)
    if method == "dropout_masks":
        args = (g.count(0, 5, large=False), g.count(0, 3), g.count(0, 3))
        return "Network.dropout_masks", lambda: net.dropout_masks(*args)
    if method == "mini_batches":
        bs, ep = g.pick([None, 1, 2, 0, -1, 2**31, "2"]), g.count(0, 3)
        return "Network.mini_batches", lambda: list(net.mini_batches(X, y, bs, ep))
    if method == "save_load":
        def run():
            f = io.BytesIO()
            net.save(f, training_state=g.pick([True, False]))
            return pydl.load(io.BytesIO(f.getvalue()))
        return "Network.save/load", run
    if method == "theta":
        theta = g.array(net.theta.shape, net.dtype, 0.6)
        return "Network.theta=", lambda: setattr(net, "theta", theta)
    if method == "keep_probs":
        value = g.pick([None, 0.5, 1.0, 0.0, -1.0, 2.0, [0.5], [1.0] * net.n_layers, "x",
                        float("nan")])
        return "Network.keep_probs=", lambda: setattr(net, "keep_probs", value)
    if method == "normalizer":
        norm = pydl.Normalizer()
        if g.chance(0.7):
            norm.fit(g.clean((3, g.pick([net.layer_dims[0], net.layer_dims[0] + 1])),
                             np.float64))
        value = g.pick([norm, norm, None, "norm", 3])
        return "Network.normalizer=", lambda: setattr(net, "normalizer", value)
    if method == "parameters":
        return "Network.parameters", lambda: net.parameters
    if method == "set_parameters":
        values = {k: g.array(v.shape, net.dtype, 0.6) for k, v in net.parameters.items()
                  if g.chance(0.5)}
        if g.chance(0.2):
            values[g.pick(["W0", "b9", "x", 3])] = np.zeros(2)
        return "Network.set_parameters", lambda: net.set_parameters(
            values if g.chance(0.9) else list(values.items()))
    return "Network.pickle", lambda: pickle.loads(pickle.dumps(net))


def network_ctor(g):
    pydl, _ = _pydl()
    dims = g.pick([[2, 3, 1], [1, 1], [2, 0, 1], [2, -1], [2], [], "23", [2.0, 1], [True, 1],
                   [2**31, 1], [2**30, 2**30], [10**6, 10**6], [2, 2**31 - 1], None,
                   np.array([3, 2]), [3, np.int64(2), 1]])
    kw = {"hidden_activation": g.pick(["relu", "tanh", "softmax", "nope", None, 3]),
          "output_activation": g.pick(["sigmoid", "softmax", "linear", "relu", None]),
          "init": g.pick(["he", "xavier", "random", "zeros", "bad", None]),
          "dtype": g.pick(["float32", "float64", np.float32, "int32", None, "f2", object]),
          "seed": g.seed(), "leaky_slope": g.real(0, 1), "init_scale": g.real(0, 1),
          "n_threads": g.n_threads(), "keep_probs": g.pick([None, 0.5, 1.0, 0.0, [0.5, 1.0],
                                                            "x", float("nan")])}
    for k in list(kw):
        if g.chance(0.5):
            del kw[k]
    return "Network()", lambda: pydl.Network(dims, **kw)


def model_file(g):
    """pydl.load on a valid model file with bytes flipped, cut or appended."""
    pydl, _ = _pydl()
    net = random_network(g)
    f = io.BytesIO()
    net.save(f)
    blob = bytearray(f.getvalue())
    for _ in range(int(g.rng.integers(0, 4))):
        how = int(g.rng.integers(4))
        if how == 0 and blob:
            blob[int(g.rng.integers(len(blob)))] = int(g.rng.integers(256))
        elif how == 1:
            blob = blob[:int(g.rng.integers(len(blob) + 1))]
        elif how == 2:
            blob += bytes(g.rng.integers(0, 256, int(g.rng.integers(1, 16)), dtype=np.uint8))
        elif blob:  # a size field made huge: 8 bytes of 0xff somewhere
            at = int(g.rng.integers(len(blob)))
            blob[at:at + 8] = b"\xff" * 8
    data = bytes(blob)
    return "pydl.load", lambda: pydl.load(io.BytesIO(data))


def normalizer(g):
    pydl, _ = _pydl()
    norm = pydl.Normalizer(g.rng.uniform(0, 1e-3)) if g.chance(0.9) else None
    X = g.array((int(g.rng.integers(1, 6)), int(g.rng.integers(1, 4))),
                g.pick([np.float32, np.float64, np.int64]), 0.3)
    what = g.pick(["fit", "transform", "inverse_transform", "fit_transform", "from_state",
                   "unfitted"])
    if what == "from_state":
        state = g.pick([{"epsilon": np.array(1e-8), "mean": np.zeros(2), "var": np.ones(2)},
                        {"epsilon": np.array(1e-8), "mean": np.zeros(2), "var": -np.ones(2)},
                        {"mean": np.zeros(2)}, None, {"epsilon": "x", "mean": 1, "var": 2},
                        {"epsilon": np.array(1e-8), "mean": np.zeros(3), "var": np.ones(2)}])
        return "Normalizer.from_state", lambda: pydl.Normalizer.from_state(state)
    if norm is None:
        return "Normalizer()", lambda: pydl.Normalizer(g.junk())
    if what == "unfitted":
        return "Normalizer.transform (unfitted)", lambda: norm.transform(X)
    if what in ("transform", "inverse_transform"):
        norm.fit(g.clean((4, np.shape(X)[1] if np.ndim(X) == 2 else 2), np.float64))
    return f"Normalizer.{what}", lambda: getattr(norm, what)(X)


def splits(g):
    pydl, _ = _pydl()
    m = int(g.rng.integers(1, 12))
    X = g.array((m, 2), np.float64, 0.3)
    y = g.array((m,), np.int64, 0.2)
    if g.chance(0.5):
        sizes = g.pick([(0.6, 0.2, 0.2), (0.5, 0.5), (1.0,), (-0.1, 1.1), (m, 0, 0), "abc",
                        (float("nan"), 0.5, 0.5), (2**70, 1, 1)])
        strat = g.pick([False, True, "yes"])
        return "train_dev_test_split", lambda: pydl.train_dev_test_split(
            X, y, sizes, stratify=strat, seed=g.seed())
    bs = g.pick([1, 2, 64, 0, -1, 2**31, 2**63, 2.5, None])
    seed = g.seed()
    return "random_mini_batches", lambda: pydl.random_mini_batches(X, y, bs, seed)


def blocks_call(g):
    pydl, _ = _pydl()
    b = pydl.blocks
    n_prev, n, m = (int(g.rng.integers(1, 5)) for _ in range(3))
    dtype = g.pick([np.float32, np.float64])
    a = {"A_prev": g.values((n_prev, m), dtype), "W": g.values((n, n_prev), dtype),
         "b": g.values((n, 1), dtype), "activation": g.pick(["relu", "leaky_relu", "tanh",
                                                            "sigmoid", "linear", "softmax"]),
         "leaky_slope": 0.01}
    a = spoil_some(g, a, list(a), p=0.4)
    what = g.pick(["linear_forward", "linear_activation_forward", "L_model_forward",
                   "linear_backward", "linear_activation_backward", "L_model_backward",
                   "update_parameters"])
    if what == "linear_forward":
        return "blocks.linear_forward", lambda: b.linear_forward(a["A_prev"], a["W"], a["b"])
    if what == "linear_activation_forward":
        return "blocks.linear_activation_forward", lambda: b.linear_activation_forward(
            a["A_prev"], a["W"], a["b"], a["activation"], a["leaky_slope"])
    net = random_network(g)
    params = dict(net.parameters)
    if g.chance(0.3):
        key = g.pick(sorted(params))
        params[key] = g.spoil(params[key].shape, params[key].dtype)
    mm = int(g.rng.integers(1, 5))
    X = g.array((net.layer_dims[0], mm), net.dtype, 0.2)
    out = net.output_activation
    hidden = net.activations[0] if net.n_layers > 1 else "relu"
    if what == "L_model_forward":
        return "blocks.L_model_forward", lambda: b.L_model_forward(X, params, hidden, out)
    if what == "update_parameters":
        grads = {"d" + k: np.zeros_like(v) for k, v in net.parameters.items()}
        if g.chance(0.4):
            key = g.pick(sorted(grads))
            grads[key] = g.spoil(grads[key].shape, grads[key].dtype)
        lr = g.real(0, 1)
        return "blocks.update_parameters", lambda: b.update_parameters(params, grads, lr)

    def backward():
        AL, caches = b.L_model_forward(X, params, hidden, out)
        Y = np.zeros_like(AL) if g.chance(0.8) else g.spoil(AL.shape, AL.dtype)
        if out == "sigmoid":
            Y = (AL > 0.5).astype(AL.dtype) if g.chance(0.8) else Y
        if what == "L_model_backward":
            return b.L_model_backward(AL, Y, caches, hidden, out)
        dA = g.array(AL.shape, AL.dtype, 0.3)
        if what == "linear_backward":
            cache = caches[-1][0] if g.chance(0.8) else g.junk()
            return b.linear_backward(dA, cache)
        cache = caches[-1] if g.chance(0.8) else g.pick([caches[0], (), None, (1, 2)])
        return b.linear_activation_backward(dA, cache, g.pick([out, "relu", "bad"]))
    return f"blocks.{what}", backward


def small_api(g):
    """Optimizers, schedules, early stopping, augmentation, diagnostics, datasets,
    gradient_check: constructors and calls with random arguments."""
    pydl, _ = _pydl()
    what = int(g.rng.integers(9))
    if what == 0:
        cls = g.pick([pydl.Adam, pydl.Momentum, pydl.RMSprop, pydl.GradientDescent])
        args = [g.real(0, 1) for _ in range(int(g.rng.integers(1, 4)))]
        return f"{cls.__name__}()", lambda: cls(*args)
    if what == 1:
        net = random_network(g)
        opt = g.pick([pydl.Adam(), pydl.Momentum(0.01), pydl.RMSprop(0.01),
                      pydl.GradientDescent(0.1)])
        grads = {"d" + k: g.array(v.shape, v.dtype, 0.2) for k, v in net.parameters.items()}
        if g.chance(0.2):
            grads = g.pick([{}, None, {"dW1": 1.0}])
        nt = g.n_threads() if g.chance(0.3) else None
        return f"{type(opt).__name__}.step", lambda: opt.step(net, grads, nt)
    if what == 2:
        cls = g.pick([pydl.Constant, pydl.InverseDecay, pydl.StaircaseDecay,
                      pydl.ExponentialDecay, pydl.SqrtEpochDecay, pydl.SqrtStepDecay])
        args = [g.real(0, 2) if g.chance(0.7) else g.count(0, 5)
                for _ in range(int(g.rng.integers(0, 3)))]
        lr0, epoch, n = g.real(0, 1), g.count(0, 5), g.count(0, 5, large=False)

        def run():
            return cls(*args).rates(lr0, epoch, n)
        return f"{cls.__name__}.rates", run
    if what == 3:
        values = g.array((int(g.rng.integers(0, 6)),), np.float64, 0.3)
        beta, bc = g.real(0, 1), g.pick([False, True, "x"])
        return "ewa", lambda: pydl.ewa(values, beta, bc)
    if what == 4:
        kw = {"patience": g.count(0, 5), "min_delta": g.real(0, 1),
              "restore_best": g.pick([True, False, 1])}
        return "EarlyStopping()", lambda: pydl.EarlyStopping(**kw)
    if what == 5:
        shape = g.pick([(4, 4), (4, 4, 1), (2, 3, 2), (0, 4), (-1, 4), (2**31, 2**31), None,
                        "4x4", (4,), (4, 4, 1, 1)])
        kw = {"flip": g.pick([True, False, "y"]), "max_shift": g.count(0, 3)}
        return "Augmentation()", lambda: pydl.Augmentation(shape, **kw)
    if what == 6:
        args = [g.real(0, 1) for _ in range(3)]
        return "diagnose", lambda: pydl.diagnose(*args)
    if what == 7:
        m = g.pick([1, 2, 10, 0, -1, 2**40, 10**12, 2**64, 2.5, None])
        noise, seed = g.real(0, 1), g.seed()
        return "datasets.load_planar", lambda: pydl.datasets.load_planar(m, noise, seed)
    net = random_network(g)
    if net.dtype != np.float64 and g.chance(0.5):
        net = pydl.Network(net.layer_dims, activations=net.activations, dtype="float64",
                           seed=0)
    m = int(g.rng.integers(1, 4))
    X = g.array((m, net.layer_dims[0]), np.float64, 0.2)
    y = targets(g, net, m)
    kw = {"epsilon": g.real(1e-9, 1e-5)} if g.chance(0.3) else {}
    if g.chance(0.3):
        kw["n_samples"] = g.count(0, 4)
    return "gradient_check", lambda: pydl.gradient_check(net, X, y, **kw)


# ---- pydl._core directly ------------------------------------------------------------------

def core_arch(g):
    _, core = _pydl()
    L = int(g.rng.integers(1, 4))
    dims = [int(g.rng.integers(1, 6)) for _ in range(L + 1)]
    out = g.pick(["sigmoid", "softmax", "linear"])
    if out == "softmax":
        dims[-1] = max(2, dims[-1])
    acts = [g.pick(["relu", "leaky_relu", "tanh", "sigmoid", "linear"]) for _ in range(L - 1)]
    keep = [g.pick([1.0, 0.5]) for _ in range(L - 1)] + [1.0]
    return core.Architecture(dims, acts + [out], 0.01, keep), out


def core_call(g):
    """One function of pydl._core: a valid call, then 0-3 arguments spoiled."""
    _, core = _pydl()
    arch, out = core_arch(g)
    dtype = np.dtype(g.pick([np.float32, np.float64]))
    dims = [int(d) for d in arch.dims]
    m = int(g.rng.integers(1, 7))
    # large enough for the parallel paths now and then
    if g.chance(0.05):
        m = int(g.rng.integers(2000, 5000))
    P = arch.n_params
    a = {"theta": g.values((P,), dtype) * 0.3, "X": g.values((m, dims[0]), dtype),
         "Y": None if out == "softmax" else
         (g.rng.integers(0, 2, (m, dims[-1])) if out == "sigmoid"
          else g.rng.standard_normal((m, dims[-1]))).astype(dtype),
         "labels": g.rng.integers(0, dims[-1], m).astype(np.int32) if out == "softmax" else None,
         "work": arch.workspace(dtype, m), "out": np.empty((m, dims[-1]), dtype),
         "grad": np.empty(P, dtype), "n_threads": g.pick([1, 2, 3])}
    names = list(a)
    what = g.pick(["forward", "predict", "pack", "cost_grad", "propagate", "update", "train", "all_finite",
                   "check_finite", "check_array", "check_disjoint", "Architecture",
                   "workspace", "effective_threads", "product", "_unit_strides",
                   "augment_batch", "philox4x32", "dropout_mask", "permutation",
                   "layer_forward", "layer_backward", "loss_grad", "dropout_bits",
                   "batch_spans", "misc"])
    if what == "predict":  # the inference door: rows read in place, out= or not, labels
        X = a["X"] if g.chance(0.8) else a["X"][::-1]
        kind = g.pick([core.PREDICT_OUTPUTS, core.PREDICT_LABELS, 7, -1])
        pack = core.pack(arch, a["theta"], core.aligned_empty(core.pack_size(arch, dtype),
                                                              dtype))
        p = {"pack": pack, "X": X, "out": g.pick([None, a["out"]]),
             "n_threads": a["n_threads"]}
        p = spoil_some(g, p, list(p))
        return "_core.predict", lambda: core.predict(arch, p["pack"], p["X"], p["out"], kind,
                                                     p["n_threads"])
    if what == "pack":  # theta's inference copy: any spoiled theta or out is refused
        p = {"theta": a["theta"], "out": core.aligned_empty(core.pack_size(arch, dtype), dtype)}
        p = spoil_some(g, p, list(p))
        return "_core.pack", lambda: core.pack(arch, p["theta"], p["out"])
    if what == "dropout_bits":
        b = {"seed": g.pick([g.count(0, 2**62), 2**64 - 1]), "epoch": g.count(0, 5), "batch": g.count(0, 5),
             "layer": g.count(1, 3), "keep": g.real(0.01, 1), "first": g.count(0, 2**40),
             "count": g.count(0, 300)}
        b = spoil_some(g, b, list(b))
        return "_core.dropout_bits", lambda: core.dropout_bits(*b.values())
    if what == "batch_spans":
        mm, bs = g.count(1, 2**31 - 1), g.count(1, 2**31 - 1)
        return "_core.batch_spans", lambda: core.batch_spans(
            g.pick([mm, -1, 2**40, None]) if g.chance(0.2) else mm,
            g.pick([bs, 0, 2**40]) if g.chance(0.2) else bs)
    if what in ("forward", "cost_grad", "propagate"):
        if g.chance(0.1):  # aliasing: an output that is an input
            a["out"] = a["work"][:m * dims[-1]].reshape(m, dims[-1])
            a["grad"] = g.pick([a["theta"], a["grad"]])
        a = spoil_some(g, a, names)
        if what == "forward":
            return "_core.forward", lambda: core.forward(arch, a["theta"], a["X"], a["out"],
                                                         a["work"], a["n_threads"])
        if what == "cost_grad":
            l2, l1 = g.real(0, 1), g.real(0, 1)
            return "_core.cost_grad", lambda: core.cost_grad(
                arch, a["theta"], a["X"], a["Y"], a["labels"], l2, l1, a["grad"], a["work"],
                a["n_threads"])
        dA = g.array((m, dims[-1]), dtype, 0.3) if g.chance(0.4) else None
        keep = masks = None
        if (arch.keep_probs < 1).any() and g.chance(0.7):
            keep = arch.keep_probs.copy() if g.chance(0.8) else g.spoil((len(dims) - 1,),
                                                                          np.float64)
            masks = [g.mask((m, d), 0.2) for d in dims[1:-1]]
        Y, labels = (None, None) if dA is not None else (a["Y"], a["labels"])
        return "_core.propagate", lambda: core.propagate(
            arch, a["theta"], a["X"], Y, labels, dA, keep, masks, 0.0, 0.0,
            a["out"] if g.chance(0.8) else None, a["grad"] if g.chance(0.8) else None,
            a["work"], a["n_threads"])
    if what == "update":
        n = g.pick([P, 5000, 200000])  # large: the threaded update loop
        u = {"theta": g.values((n,), dtype), "grad": g.values((n,), dtype),
             "v": np.zeros(n, dtype), "s": np.zeros(n, dtype),
             "n_threads": g.pick([1, 2]), "t": 1, "lr": 0.01}
        u = spoil_some(g, u, list(u))
        kind = g.pick(["gd", "momentum", "rmsprop", "adam", "bad", None])
        b1, b2, eps = g.real(0, 1), g.real(0, 1), g.real(1e-9, 1e-6)
        return "_core.update", lambda: core.update(kind, b1, b2, eps, u["t"], u["lr"],
                                                   u["theta"], u["grad"], u["v"], u["s"],
                                                   u["n_threads"])
    if what == "train":
        epochs = int(g.rng.integers(0, 3))
        opt = g.pick(["gd", "momentum", "rmsprop", "adam", "sgd_momentum", "nesterov"])
        t = {"theta": a["theta"], "v": np.zeros(P, dtype), "s": np.zeros(P, dtype),
             "X": a["X"], "progress": np.zeros(2, np.int64),
             "lrs": np.full(epochs, 0.01), "costs": np.zeros(epochs),
             "batch_size": int(g.rng.integers(1, m + 1)), "seed": 1, "epoch0": 0,
             "n_threads": a["n_threads"], "work": a["work"], "perm": np.zeros(m, np.int32),
             "l2": 0.0, "l1": 0.0, "lr_step_k": 0.0,
             "sample_weight": g.pick([None, None, g.rng.random(m).astype(dtype),
                                      np.zeros(m, dtype)])}
        t = spoil_some(g, t, list(t))
        augment = g.pick([None, None, (1, dims[0], 1, True, 0), (dims[0], 1, 1, False, 0),
                          (2, 2, 2, 1, 5), (0, 0, 0, 0, 0), "x"])

        def run():
            return core.train(arch, t["theta"], t["v"], t["s"], t["X"], a["Y"], a["labels"],
                              optimizer=opt, beta1=0.9, beta2=0.999, epsilon=1e-8,
                              progress=t["progress"], lrs=t["lrs"], costs=t["costs"],
                              epoch0=t["epoch0"], batch_size=t["batch_size"],
                              shuffle=g.pick([True, False]), seed=t["seed"], l2=t["l2"],
                              l1=t["l1"], lr_step_k=t["lr_step_k"], n_threads=t["n_threads"],
                              work=t["work"], perm=t["perm"], augment=augment,
                              sample_weight=t["sample_weight"])
        return "_core.train", run
    if what in ("all_finite", "check_finite"):
        n = g.pick([0, 1, 7, 100000, 300000])  # large: the threaded scan
        arr = g.array((n,), dtype, 0.4)
        nt = g.n_threads()
        if what == "all_finite":
            return "_core.all_finite", lambda: core.all_finite(arr, nt)
        return "_core.check_finite", lambda: core.check_finite(arr, "x", nt)
    if what == "check_array":
        arr = g.array((m, 2), dtype, 0.6)
        shape = g.pick([(None, 2), (m, 2), (None,), (), None, "x", (None, None, None)])
        dt = g.pick([dtype, np.float32, None, "x"])
        w = g.pick([True, False])
        return "_core.check_array", lambda: core.check_array(arr, "a", dt, shape, w)
    if what == "check_disjoint":
        x = a["X"]
        pairs = g.pick([[("a", x), ("b", x[:1])], [("a", x)], [("a", None)], [("a", 3)],
                        [("a",)], None, [("a", x), ("b", x.copy())]])
        ro = g.pick([(), [("c", x)], None, [("c", "x")]])
        return "_core.check_disjoint", lambda: core.check_disjoint(pairs, ro)
    if what == "Architecture":
        dims2 = g.pick([[2, 1], [2, 3, 1], [0, 1], [2], [2**31, 1], [2**31 - 1, 2**31 - 1],
                        [True, 1], [1.0, 1], None, "ab", [np.int64(3), 1]])
        acts = g.pick([["sigmoid"], ["relu", "softmax"], ["softmax", "sigmoid"], [], None,
                       ["bad"], "sigmoid", [1]])
        slope, keep = g.real(0, 1), g.pick([None, [1.0], [0.5, 1.0], [0.0], [float("nan")],
                                            "x", [True]])
        return "_core.Architecture", lambda: core.Architecture(dims2, acts, slope, keep)
    if what == "workspace":
        mb, dt = g.count(0, 8), g.pick([dtype, np.float32, "x", None, np.int8])
        return "Architecture.workspace", lambda: arch.workspace(dt, mb)
    if what == "effective_threads":
        nt, batch = g.n_threads(), g.count(0, 10000)
        return "Architecture.effective_threads", lambda: arch.effective_threads(nt, batch)
    if what in ("product", "_unit_strides"):
        M, K, N = (int(g.rng.integers(0, 5)) for _ in range(3))
        A = np.asfortranarray(g.values((M, K), dtype)) if g.chance(0.7) else \
            g.array((M, K), dtype, 0.5)
        B = g.values((K, N), dtype) if g.chance(0.5) else g.array((K, N), dtype, 0.5)
        if g.chance(0.1):
            A = np.broadcast_to(g.values((1, 1), dtype), g.pick([(HUGE, 3), (3, HUGE)]))
        if what == "_unit_strides":
            return "_core._unit_strides", lambda: core._unit_strides(
                g.pick([A, B, g.junk(), g.spoil((3, 3), dtype)]), "a")
        alpha = g.real(-2, 2)
        return "_core.product", lambda: core.product(A, B, alpha)
    if what == "augment_batch":
        X = g.array((m, 4), dtype, 0.3)
        spec = g.pick([(2, 2, 1, True, 1), (2, 2, 1, False, 0), (4, 1, 1, True, 0),
                       (2, 2, 1, True, 2), (1, 1, 4, 1, 0), (2, 2, 2, 0, 0), None, "x",
                       (2**31, 2**31, 1, 0, 0), (-2, -2, 1, 0, 0)])
        args = (g.seed(), g.count(0, 3), g.count(0, 3))
        return "_core.augment_batch", lambda: core.augment_batch(X, *args, spec)
    if what == "philox4x32":
        c = g.pick([[0, 1, 2, 3], [2**32 - 1] * 4, [0, 1, 2], [-1, 0, 0, 0], [2**32, 0, 0, 0],
                    None, "abcd", [0.5, 0, 0, 0]])
        k = g.pick([[0, 1], [2**32 - 1, 0], [0], [-1, 1], None])
        return "_core.philox4x32", lambda: core.philox4x32(c, k)
    if what == "dropout_mask":
        args = (g.seed(), g.count(0, 3), g.count(0, 3), g.count(1, 3), g.count(1, 8, large=False),
                g.count(1, 8, large=False), g.real(0, 1))
        return "_core.dropout_mask", lambda: core.dropout_mask(*args)
    if what == "permutation":
        args = (g.seed(), g.count(0, 3), g.count(0, 50, large=False))
        return "_core.permutation", lambda: core.permutation(*args)
    if what == "layer_forward":
        n, n_prev = int(g.rng.integers(1, 5)), int(g.rng.integers(1, 5))
        lf = {"W": g.values((n, n_prev), dtype), "b": g.values((n,), dtype),
              "A_prev": g.values((m, n_prev), dtype), "Z": np.empty((m, n), dtype),
              "A": np.empty((m, n), dtype), "leaky_slope": 0.01}
        if g.chance(0.1):
            lf["A"] = lf["Z"]
        lf = spoil_some(g, lf, list(lf))
        act = g.pick(list(core.ACTIVATIONS) + ["bad", None])
        return "_core.layer_forward", lambda: core.layer_forward(
            act, lf["leaky_slope"], lf["W"], lf["b"], lf["A_prev"], lf["Z"], lf["A"])
    if what == "layer_backward":
        n, n_prev = int(g.rng.integers(1, 5)), int(g.rng.integers(1, 5))
        lb = {"W": g.values((n, n_prev), dtype), "A_prev": g.values((m, n_prev), dtype),
              "Z": g.values((m, n), dtype), "dA": g.values((m, n), dtype),
              "dZ": np.empty((m, n), dtype), "dW": np.empty((n, n_prev), dtype),
              "db": np.empty(n, dtype), "dA_prev": np.empty((m, n_prev), dtype),
              "leaky_slope": 0.01}
        if g.chance(0.1):
            lb["dZ"] = lb["dA"]
        lb = spoil_some(g, lb, list(lb))
        act = g.pick(list(core.ACTIVATIONS) + ["bad"])
        return "_core.layer_backward", lambda: core.layer_backward(
            act, lb["leaky_slope"], lb["W"], lb["A_prev"], lb["Z"], lb["dA"], lb["dZ"],
            lb["dW"], lb["db"], lb["dA_prev"])
    if what == "loss_grad":
        shape = (m, int(g.rng.integers(1, 4)))
        lg = {"A": np.clip(g.values(shape, dtype), 0.01, 0.99), "Y": g.values(shape, dtype),
              "dA": np.empty(shape, dtype)}
        if g.chance(0.1):
            lg["dA"] = lg["A"]
        lg = spoil_some(g, lg, list(lg))
        kind = g.pick(["sigmoid", "softmax", "linear", "relu", None])
        return "_core.loss_grad", lambda: core.loss_grad(kind, lg["A"], lg["Y"], lg["dA"])
    fn = g.pick(["openmp_enabled", "simd_level", "float_products", "max_threads",
                 "set_float_products", "inference_kernel"])
    if fn == "set_float_products":
        k = g.pick(list(core.FLOAT_PRODUCTS) + ["bad", None, 3])

        def run():  # leave the choice as it was: later calls compare nothing across it
            before = core.float_products()
            try:
                return core.set_float_products(k)
            finally:
                core.set_float_products(before)
        return "_core.set_float_products", run
    return f"_core.{fn}", getattr(core, fn)


def generic_core(g):
    """Any function of pydl._core with random arguments (also new ones this file does not
    know yet): positional junk, arrays and numbers."""
    _, core = _pydl()
    names = sorted(n for n in dir(core) if callable(getattr(core, n))
                   and not n.startswith("__") and n not in ("set_float_products",
                                                            "set_inference_kernel"))
    name = g.pick(names)
    fn = getattr(core, name)
    args = []
    for _ in range(int(g.rng.integers(0, 8))):
        args.append(g.pick([g.junk(), g.count(), g.real(), g.array((3, 2), np.float64, 0.5),
                            g.n_threads(), "sigmoid", "x"]))
    return f"_core.{name} (random args)", lambda: fn(*args)


GENERATORS = [(net_call, 26), (network_ctor, 5), (model_file, 6), (normalizer, 5),
              (splits, 4), (blocks_call, 8), (small_api, 8), (core_call, 32),
              (generic_core, 6)]


# ---- the child: make the calls -----------------------------------------------------------

def _short(exc):
    """An error message with its numbers blanked: one entry per kind of message."""
    return re.sub(r"[-+]?\d[\d.e+-]*", "#", str(exc))[:90]


def child(seed, first, runs, progress_fd):
    faulthandler.enable()
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    _pydl()  # import before the clock starts
    weights = np.array([w for _, w in GENERATORS], dtype=float)
    weights /= weights.sum()
    ok = collections.Counter()
    errors = collections.defaultdict(collections.Counter)
    failures = []
    t0 = time.perf_counter()
    for i in range(first, first + runs):
        g = Gen(np.random.default_rng([seed, i]))
        gen = GENERATORS[int(g.rng.choice(len(GENERATORS), p=weights))][0]
        try:
            name, call = gen(g)
        except Exception as exc:  # the harness's own valid setup must not fail
            failures.append({"i": i, "target": gen.__name__, "setup": True,
                             "error": f"{type(exc).__name__}: {exc}"})
            continue
        os.write(progress_fd, f"{i} {name}\n".encode())
        faulthandler.dump_traceback_later(PER_CALL_TIMEOUT_S, exit=True)
        try:
            call()
            ok[name] += 1
        except EXPECTED + EXPECTED_BY_TARGET.get(name, ()) as exc:
            errors[name][f"{type(exc).__name__}: {_short(exc)}"] += 1
        except BaseException as exc:  # noqa: BLE001 -- this is what the fuzz looks for
            failures.append({"i": i, "target": name,
                             "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
        finally:
            faulthandler.cancel_dump_traceback_later()
    return {"runs": runs, "seconds": time.perf_counter() - t0, "ok": dict(ok),
            "errors": {k: dict(v) for k, v in errors.items()}, "failures": failures,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# ---- the parent: run the child, judge ------------------------------------------------------

def run(seed=0, first=0, runs=10000, memory_limit_mb=MEMORY_LIMIT_MB, timeout=None,
        env=None, script=None):
    """Run calls first..first+runs-1 of `seed` in a child process. Returns the child's
    summary plus "crash": None, or what killed the child and the last call it began.
    (script: another child, for the harness's own test.)"""
    r, w = os.pipe()
    cmd = [sys.executable, script or os.path.abspath(__file__), "--child", "--seed", str(seed),
           "--first", str(first), "--runs", str(runs), "--progress-fd", str(w),
           "--memory-limit-mb", str(memory_limit_mb)]
    # One pipe carries everything: a line per call, then the summary (JSON). stderr (where
    # faulthandler writes a crash's traceback) goes to a file, so that no pipe fills up.
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                pass_fds=(w,), env=env)
        os.close(w)
        last, summary = b"", {}
        with os.fdopen(r, "rb") as progress:
            for line in progress:  # until the child exits (the pipe closes)
                if line.startswith(b"{"):
                    summary = json.loads(line)
                else:
                    last = line
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    summary.setdefault("failures", [])
    summary["crash"] = None
    if proc.returncode != 0 or not summary.get("runs"):
        summary["crash"] = {"returncode": proc.returncode,
                            "last_call": last.decode(errors="replace").strip(),
                            "stderr": stderr[-3000:]}
    return summary


def report(summary):
    lines = []
    ok = summary.get("ok", {})
    errors = summary.get("errors", {})
    for name in sorted(set(ok) | set(errors)):
        kinds = errors.get(name, {})
        lines.append(f"  {name:<40} {ok.get(name, 0):>7} ok  {sum(kinds.values()):>7} "
                     f"refused ({len(kinds)} distinct messages)")
    for f in summary["failures"][:30]:
        lines.append(f"FAILURE call {f['i']} {f['target']}: {f['error']}")
    if summary["crash"]:
        c = summary["crash"]
        lines.append(f"CRASH (exit status {c['returncode']}) in call: {c['last_call']}\n"
                     f"{c['stderr']}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--memory-limit-mb", type=int, default=MEMORY_LIMIT_MB,
                   help="the child's address-space limit (0: none, e.g. under ASan)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--progress-fd", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        if args.memory_limit_mb:
            limit = args.memory_limit_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        summary = child(args.seed, args.first, args.runs, args.progress_fd)
        with os.fdopen(args.progress_fd, "wb") as progress:
            progress.write(json.dumps(summary).encode() + b"\n")
        return 0
    t0 = time.perf_counter()
    summary = run(args.seed, args.first, args.runs, args.memory_limit_mb)
    print(report(summary))
    n_fail = len(summary["failures"]) + bool(summary["crash"])
    print(f"{summary.get('runs', 0)} calls (seed {args.seed}, first {args.first}) in "
          f"{time.perf_counter() - t0:.0f} s, peak RSS {summary.get('max_rss_mb', 0):.0f} MB: "
          f"{sum(summary.get('ok', {}).values())} succeeded, "
          f"{sum(sum(v.values()) for v in summary.get('errors', {}).values())} refused with "
          f"ValueError/TypeError, {n_fail} failures")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
