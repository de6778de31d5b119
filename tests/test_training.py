"""Training against the NumPy oracle (tests/reference.py): the C epoch loop with every
optimizer, batch size and dtype; the optimizers' state, `step` and Adam's bias correction;
learning-rate schedules over several `fit` calls; exponentially weighted averages;
mini-batch semantics; determinism across runs, threads and processes; Ctrl-C; two networks
trained at once; the progress line and the History record."""
import hashlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import pydl
import reference as R
from pydl import _core
from conftest import (DTYPE_KERNELS, DTYPES, RTOL, RUNNABLE_KERNELS, assert_close,
                      make_targets, needs_controlled_blas, needs_openmp, ref_params,
                      ref_targets, subprocess_env)

OPTIMIZERS = ["gd", "momentum", "rmsprop", "adam"]

# Hyperparameters exactly representable in float32 (powers of two and 1 - 2^-k): a float32
# network rounds its constants to float32 (so 1 - 0.999 becomes 0.00099998713, 1.3e-5 away),
# the float64 oracle does not; with these values both use the very same numbers and only
# the arithmetic's rounding is compared.
HYPER = {
    "gd": {},
    "momentum": {"beta": 0.875},
    "rmsprop": {"beta": 0.875, "epsilon": 2.0**-26},
    "adam": {"beta1": 0.875, "beta2": 1 - 2.0**-10, "epsilon": 2.0**-26},
}
LR = {"gd": 0.25, "momentum": 0.25, "rmsprop": 2.0**-9, "adam": 2.0**-7}


def make_optimizer(kind, lr=None):
    """(pydl optimizer, the oracle's `state` dict with the same hyperparameters)."""
    lr = LR[kind] if lr is None else lr
    h = HYPER[kind]
    opt = {"gd": lambda: pydl.GradientDescent(lr),
           "momentum": lambda: pydl.Momentum(lr, beta=h["beta"]),
           "rmsprop": lambda: pydl.RMSprop(lr, beta=h["beta"], epsilon=h["epsilon"]),
           "adam": lambda: pydl.Adam(lr, beta1=h["beta1"], beta2=h["beta2"],
                                     epsilon=h["epsilon"])}[kind]()
    return opt, dict(h)


def small_case(rng, dtype, output="softmax", dims=(5, 7, 6, 3), m=23, hidden="tanh"):
    """A small network (tanh: no kink whose side float32 rounding could flip), non-zero
    biases, X and y in pydl's layout."""
    acts = [hidden] * (len(dims) - 2) + [output]
    net = pydl.Network(list(dims), activations=acts, init="xavier", dtype=dtype,
                       seed=int(rng.integers(2**31)))
    net.set_parameters({f"b{l}": rng.standard_normal((dims[l], 1)) * 0.3
                        for l in range(1, len(dims))})
    X = rng.standard_normal((m, dims[0]))
    y = make_targets(rng, m, dims[-1], output)
    return net, acts, X, y


def oracle_data(net, X, y):
    """The oracle's X (n_x, m) -- X rounded to the network's dtype, in float64 -- and Y."""
    return (np.asarray(X).astype(net.dtype).astype(np.float64).T,
            ref_targets(y, net.output_activation))


def epoch_permutation(net, epoch, m, batch_size, shuffle=True):
    """The order of the examples in epoch `epoch` (absolute): pydl's seeded permutation when
    batches are smaller than the data, else the examples in order."""
    if shuffle and batch_size < m:
        return pydl._core.permutation(net._train_seed, epoch, m)
    return np.arange(m)


def flat(d, L):
    """An oracle dict (dW1, db1, ...) as one vector in theta's layout."""
    return R.gradients_to_vector(d, L)


def as_grad_dict(vector, dims):
    """A flat vector in theta's layout as an oracle dict dW1, db1, ..."""
    return {"d" + k: v for k, v in R.vector_to_parameters(vector, dims).items()}


def theta_hash(theta):
    return hashlib.sha256(theta.tobytes()).hexdigest()


# ---- 1. the epoch loop against the oracle ----------------------------------------------

@pytest.mark.parametrize("dtype,kernel", DTYPE_KERNELS)
@pytest.mark.parametrize("batch", ["full", "mini", "sgd"])
@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_two_epochs_match_reference(rng, kernel_of, kernel, kind, batch, dtype):
    kernel_of(kernel)
    output = "softmax" if kind in ("gd", "adam") else "sigmoid"
    l2 = 0.25 if kind in ("gd", "rmsprop", "adam") else 0.0
    net, acts, X, y = small_case(rng, dtype, output)
    m = X.shape[0]
    bs = {"full": m, "mini": 5, "sgd": 1}[batch]  # 23 = 4 * 5 + 3: a smaller last batch
    opt, state = make_optimizer(kind)
    P, (Xr, Y) = ref_params(net), oracle_data(net, X, y)
    L = net.n_layers

    history = net.fit(X, y, epochs=2, optimizer=opt, batch_size=bs, l2=l2)

    costs = []
    for epoch in range(2):
        perm = epoch_permutation(net, epoch, m, bs)
        P, cost = R.train_epoch(Xr, Y, P, acts, output, perm, bs, kind, state, LR[kind],
                                lambd=l2)
        costs.append(cost)
    n_updates = 2 * -(-m // bs)
    assert opt.t == state["t"] == n_updates
    # float32: each of the (up to 46) steps adds its own rounding to parameters that the
    # next steps read, so the error grows with the number of steps (and RMSprop/Adam divide
    # by sqrt(s), amplifying it where s is small): 10x the one-step tolerance (seen: up to
    # ~0.5x over 30 seeds). float64 stays at rounding level.
    rtol = RTOL[np.dtype(dtype)] * (10 if dtype == np.float32 else 1)
    np.testing.assert_allclose(history.cost, costs, rtol=rtol)
    theta_ref = R.parameters_to_vector(P, L)
    np.testing.assert_allclose(net.theta, theta_ref, rtol=rtol,
                               atol=rtol * np.abs(theta_ref).max())
    for name in ("v", "s"):
        mine = getattr(opt, name)
        if name not in state:
            assert mine is None
            continue
        expected = flat(state[name], L)
        assert mine.dtype == dtype and mine.shape == net.theta.shape
        np.testing.assert_allclose(mine, expected, rtol=rtol,
                                   atol=rtol * np.abs(expected).max())
    assert history.epochs == [0, 1] and net.epochs_trained == 2
    assert history.learning_rate == [LR[kind]] * 2


@pytest.mark.parametrize("dtype,kernel", DTYPE_KERNELS)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_layers_of_multiples_of_32_units_match_reference(rng, kernel_of, kernel, n_threads,
                                                          dtype):
    """Layers of 64 and 32 units, whose copy of W for the forward product is kept with a
    padded leading dimension, and mini-batches of 16 (so that every step after the first
    reads the copy that the previous step's update wrote): two epochs of Adam match the
    oracle."""
    kernel_of(kernel)
    net, acts, X, y = small_case(rng, dtype, "softmax", dims=(37, 64, 32, 4), m=70)
    opt, state = make_optimizer("adam")
    P, (Xr, Y) = ref_params(net), oracle_data(net, X, y)
    history = net.fit(X, y, epochs=2, optimizer=opt, batch_size=16, n_threads=n_threads)
    costs = []
    for epoch in range(2):
        perm = epoch_permutation(net, epoch, 70, 16)
        P, cost = R.train_epoch(Xr, Y, P, acts, "softmax", perm, 16, "adam", state,
                                LR["adam"])
        costs.append(cost)
    rtol = RTOL[np.dtype(dtype)] * (10 if dtype == np.float32 else 1)  # as above
    np.testing.assert_allclose(history.cost, costs, rtol=rtol)
    theta_ref = R.parameters_to_vector(P, net.n_layers)
    np.testing.assert_allclose(net.theta, theta_ref, rtol=rtol,
                               atol=rtol * np.abs(theta_ref).max())


# ---- 2. Adam's bias correction -----------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("t0", [0, 10**6])
def test_adam_bias_correction(rng, dtype, t0):
    """Update number t0 + 1 with the course's v_hat = v/(1 - beta1^t), s_hat = s/(1 - beta2^t):
    at t = 1 the first step is ~alpha * sign(dW); at t ~ 1e6 the correction is 1."""
    net, _, X, y = small_case(rng, dtype)
    dims, L, P_count = net.layer_dims, net.n_layers, net.theta.size
    lr = 2.0**-7
    b1, b2, eps = HYPER["adam"]["beta1"], HYPER["adam"]["beta2"], HYPER["adam"]["epsilon"]
    opt = pydl.Adam(lr, beta1=b1, beta2=b2, epsilon=eps)
    if t0:
        opt.t = t0
        opt.v = (rng.standard_normal(P_count) * 0.1).astype(dtype)
        opt.s = (rng.random(P_count) * 0.01 + 1e-3).astype(dtype)
    v0 = np.zeros(P_count) if opt.v is None else opt.v.astype(np.float64)
    s0 = np.zeros(P_count) if opt.s is None else opt.s.astype(np.float64)
    theta0 = net.theta.astype(np.float64)
    grads = net.gradients(X, y)
    g = {k: a.astype(np.float64) for k, a in grads.items()}
    expected, v, s = R.update_parameters_with_adam(
        ref_params(net), g, as_grad_dict(v0, dims), as_grad_dict(s0, dims), t0 + 1, lr,
        b1, b2, eps)

    assert opt.step(net, grads) == t0 + 1 == opt.t
    expected = R.parameters_to_vector(expected, L)
    assert_close(net.theta, expected, dtype)
    assert_close(opt.v, flat(v, L), dtype)
    assert_close(opt.s, flat(s, L), dtype)
    step = np.abs(net.theta.astype(np.float64) - theta0)
    gflat = np.abs(flat(g, L))
    if t0 == 0:
        # v_hat = dW, s_hat = dW^2: every step is alpha * |dW| / (|dW| + eps) ~ alpha
        # (uncorrected it would be alpha * (1 - b1) / sqrt(1 - b2) ~ 3.9 alpha)
        big = gflat > 1e-3
        assert big.sum() > P_count // 2
        np.testing.assert_allclose(step[big], lr * gflat[big] / (gflat[big] + eps),
                                   rtol=RTOL[np.dtype(dtype)] * 10)
        assert np.abs(step[big] - lr).max() < 1e-4 * lr
    else:
        # the correction factors are 1 to double precision: the uncorrected formula holds
        # (the step is read off theta, so it is known to theta's rounding, not its own)
        v1, s1 = flat(v, L), flat(s, L)
        np.testing.assert_allclose(step, lr * np.abs(v1) / (np.sqrt(s1) + eps),
                                   rtol=RTOL[np.dtype(dtype)] * 10,
                                   atol=RTOL[np.dtype(dtype)] * np.abs(theta0).max())


def test_adam_default_hyperparameters_at_t1_and_large_t(rng):
    """The defaults (0.9, 0.999, 1e-8) in float64, over three steps starting at t = 1 and
    three starting at t = 10**6 + 1."""
    for t0 in (0, 10**6):
        net, _, X, y = small_case(rng, np.float64)
        dims, L = net.layer_dims, net.n_layers
        opt = pydl.Adam(0.01)
        P = ref_params(net)
        v = R.initialize_velocity(P)
        s = R.initialize_rmsprop(P)
        if t0:
            opt.t = t0
            opt.v = rng.standard_normal(net.theta.size) * 0.1
            opt.s = rng.random(net.theta.size) * 0.01
            v, s = as_grad_dict(opt.v.copy(), dims), as_grad_dict(opt.s.copy(), dims)
        for k in range(1, 4):
            grads = net.gradients(X, y)
            P, v, s = R.update_parameters_with_adam(P, grads, v, s, t0 + k, 0.01)
            opt.step(net, grads)
            assert_close(net.theta, R.parameters_to_vector(P, L), np.float64)
        assert opt.t == t0 + 3
        assert_close(opt.v, flat(v, L), np.float64)
        assert_close(opt.s, flat(s, L), np.float64)


# ---- 3. step, and the state carried across fit calls -------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_step_matches_reference_update(rng, kind, dtype):
    net, _, X, y = small_case(rng, dtype, "sigmoid", dims=(4, 6, 2))
    L = net.n_layers
    opt, state = make_optimizer(kind)
    lr = LR[kind]
    P = ref_params(net)
    v, s = R.initialize_velocity(P), R.initialize_rmsprop(P)
    for t in range(1, 4):
        grads = net.gradients(X, y, l2=0.25)
        g = {k: a.astype(np.float64) for k, a in grads.items()}  # the very same gradients
        if kind == "gd":
            P = R.update_parameters_with_gd(P, g, lr)
        elif kind == "momentum":
            P, v = R.update_parameters_with_momentum(P, g, v, state["beta"], lr)
        elif kind == "rmsprop":
            P, s = R.update_parameters_with_rmsprop(P, g, s, state["beta"], lr,
                                                    state["epsilon"])
        else:
            P, v, s = R.update_parameters_with_adam(P, g, v, s, t, lr, state["beta1"],
                                                    state["beta2"], state["epsilon"])
        assert opt.step(net, grads) == t == opt.t
        assert_close(net.theta, R.parameters_to_vector(P, L), dtype)
        # each step is compared from the same point: the oracle continues from the
        # network's parameters (v and s carry their own three steps)
        P = ref_params(net)
    if kind in ("momentum", "adam"):
        assert_close(opt.v, flat(v, L), dtype, scale=np.abs(flat(v, L)).max())
    else:
        assert opt.v is None
    if kind in ("rmsprop", "adam"):
        assert_close(opt.s, flat(s, L), dtype)
    else:
        assert opt.s is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_full_batch_fit_epoch_is_gradients_then_step(rng, kind, dtype):
    """One full-batch epoch of fit and net.gradients + opt.step are the same computation."""
    a, _, X, y = small_case(rng, dtype, "softmax")
    b = pydl.Network(a.layer_dims, activations=a.activations, dtype=dtype)
    b.theta = a.theta
    opt_a, _ = make_optimizer(kind)
    opt_b, _ = make_optimizer(kind)
    for _ in range(3):
        a.fit(X, y, epochs=1, optimizer=opt_a, l2=0.25)
        opt_b.step(b, b.gradients(X, y, l2=0.25))
    np.testing.assert_array_equal(a.theta, b.theta)
    assert opt_a.t == opt_b.t == 3
    for name in ("v", "s"):
        if getattr(opt_a, name) is not None:
            np.testing.assert_array_equal(getattr(opt_a, name), getattr(opt_b, name))


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_continues_optimizer_state(rng, dtype):
    """fit 3 epochs + fit 2 epochs == fit 5 epochs, bitwise: Adam's v, s, t and the absolute
    epoch index of the shuffles carry over."""
    net_a, _, X, y = small_case(rng, dtype, "softmax", m=37)
    net_b = pydl.Network(net_a.layer_dims, activations=net_a.activations, dtype=dtype,
                         seed=0)
    net_b.theta = net_a.theta
    net_b._train_seed = net_a._train_seed
    opt_a, _ = make_optimizer("adam")
    opt_b, _ = make_optimizer("adam")
    h = net_a.fit(X, y, epochs=5, optimizer=opt_a, batch_size=8, l2=0.25)
    h1 = net_b.fit(X, y, epochs=3, optimizer=opt_b, batch_size=8, l2=0.25)
    h2 = net_b.fit(X, y, epochs=2, batch_size=8, l2=0.25)  # no optimizer: the last continues
    assert net_b.optimizer is opt_b
    np.testing.assert_array_equal(net_a.theta, net_b.theta)
    np.testing.assert_array_equal(opt_a.v, opt_b.v)
    np.testing.assert_array_equal(opt_a.s, opt_b.s)
    assert opt_a.t == opt_b.t == 5 * 5
    assert h.cost == h1.cost + h2.cost
    assert h2.epochs == [3, 4] and net_b.epochs_trained == 5


def test_fit_reference_across_two_calls(rng):
    """The oracle fed the permutations of absolute epochs 0, 1, 2 matches fit(2) + fit(1)."""
    net, acts, X, y = small_case(rng, np.float64, "sigmoid", m=19)
    opt, state = make_optimizer("momentum")
    P, (Xr, Y) = ref_params(net), oracle_data(net, X, y)
    net.fit(X, y, epochs=2, optimizer=opt, batch_size=4)
    net.fit(X, y, epochs=1, batch_size=4)
    for epoch in range(3):
        P, _ = R.train_epoch(Xr, Y, P, acts, "sigmoid", epoch_permutation(net, epoch, 19, 4),
                             4, "momentum", state, LR["momentum"])
    assert_close(net.theta, R.parameters_to_vector(P, net.n_layers), np.float64)
    assert opt.t == state["t"] == 15


# ---- 4. learning-rate schedules ------------------------------------------------------------

SCHEDULES = [
    (pydl.InverseDecay(0.5), lambda lr0, e: R.lr_inverse_decay(lr0, e, 0.5)),
    (pydl.StaircaseDecay(1.0, time_interval=2), lambda lr0, e: R.lr_staircase(lr0, e, 1.0, 2)),
    (pydl.ExponentialDecay(0.75), lambda lr0, e: R.lr_exponential(lr0, e, 0.75)),
    (pydl.SqrtEpochDecay(1.5), lambda lr0, e: R.lr_sqrt_epoch(lr0, e + 1, 1.5)),
]


@pytest.mark.parametrize("schedule,ref_lr", SCHEDULES,
                         ids=lambda s: type(s).__name__ if isinstance(s, pydl.Schedule) else "")
def test_epoch_schedules_match_reference(rng, schedule, ref_lr):
    """history.learning_rate over fit(3) + fit(4) follows the absolute epoch, and the
    parameters match the oracle trained with those rates."""
    net, acts, X, y = small_case(rng, np.float64, "softmax", m=17)
    opt, state = make_optimizer("gd", lr=0.5)
    P, (Xr, Y) = ref_params(net), oracle_data(net, X, y)
    h1 = net.fit(X, y, epochs=3, optimizer=opt, batch_size=6, lr_schedule=schedule)
    h2 = net.fit(X, y, epochs=4, batch_size=6, lr_schedule=schedule)
    rates = [ref_lr(0.5, e) for e in range(7)]
    assert h1.learning_rate + h2.learning_rate == pytest.approx(rates, rel=1e-15)
    assert h1.epochs + h2.epochs == list(range(7))
    assert opt.learning_rate == 0.5  # the schedule does not change alpha0
    for e in range(7):
        P, _ = R.train_epoch(Xr, Y, P, acts, "softmax", epoch_permutation(net, e, 17, 6), 6,
                             "gd", state, rates[e])
    assert_close(net.theta, R.parameters_to_vector(P, net.n_layers), np.float64)


def test_staircase_steps_every_interval():
    s = pydl.StaircaseDecay(1.0, time_interval=3)
    assert [s.learning_rate(0.6, e) for e in range(7)] == pytest.approx(
        [0.6, 0.6, 0.6, 0.3, 0.3, 0.3, 0.2], rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["gd", "adam"])
def test_sqrt_step_decay_matches_reference(rng, kind, dtype):
    """alpha_t = k / sqrt(t) * alpha0 per update, t continuing across fit calls."""
    net, acts, X, y = small_case(rng, dtype, "softmax", m=23)
    opt, state = make_optimizer(kind)
    P, (Xr, Y) = ref_params(net), oracle_data(net, X, y)
    sched = pydl.SqrtStepDecay(0.75)
    h1 = net.fit(X, y, epochs=1, optimizer=opt, batch_size=5, lr_schedule=sched)
    h2 = net.fit(X, y, epochs=1, batch_size=5, lr_schedule=sched)
    costs = []
    for e in range(2):
        P, c = R.train_epoch(Xr, Y, P, acts, "softmax", epoch_permutation(net, e, 23, 5), 5,
                             kind, state, LR[kind], lr_step_k=0.75)
        costs.append(c)
    assert opt.t == state["t"] == 10
    # float32: ten steps of accumulated rounding, 10x the one-step tolerance
    rtol = RTOL[np.dtype(dtype)] * (10 if dtype == np.float32 else 1)
    np.testing.assert_allclose(h1.cost + h2.cost, costs, rtol=rtol)
    expected = R.parameters_to_vector(P, net.n_layers)
    np.testing.assert_allclose(net.theta, expected, rtol=rtol,
                               atol=rtol * np.abs(expected).max())
    assert h1.learning_rate + h2.learning_rate == [LR[kind]] * 2  # alpha0 is recorded


def test_sqrt_step_decay_differs_from_constant(rng):
    """The per-step decay really reaches the update (k = 1 still scales by 1/sqrt(t))."""
    net_a, _, X, y = small_case(rng, np.float64, "softmax")
    net_b = pydl.Network(net_a.layer_dims, activations=net_a.activations, dtype=np.float64)
    net_b.theta = net_a.theta
    net_b._train_seed = net_a._train_seed
    net_a.fit(X, y, epochs=1, learning_rate=0.1, batch_size=5,
              lr_schedule=pydl.SqrtStepDecay(1.0))
    net_b.fit(X, y, epochs=1, learning_rate=0.1, batch_size=5)
    assert not np.array_equal(net_a.theta, net_b.theta)


# ---- 5. exponentially weighted averages --------------------------------------------------

@pytest.mark.parametrize("bias_correction", [False, True])
@pytest.mark.parametrize("shape", [(50,), (40, 3), (1,), (7, 2, 2)])
def test_ewa_matches_reference(rng, shape, bias_correction):
    values = rng.standard_normal(shape) * 5 + 10
    for beta in (0.0, 0.5, 0.9, 0.98):
        got = pydl.ewa(values, beta=beta, bias_correction=bias_correction)
        assert got.dtype == np.float64 and got.shape == values.shape
        np.testing.assert_allclose(got, R.ewa(values, beta, bias_correction), rtol=1e-13)
    # lists work too, and beta = 0 is the identity
    np.testing.assert_array_equal(pydl.ewa(values.tolist(), beta=0.0), values)


def test_ewa_bias_correction_removes_the_start_bias():
    constant = np.full(20, 3.0)
    corrected = pydl.ewa(constant, beta=0.9, bias_correction=True)
    np.testing.assert_allclose(corrected, 3.0, rtol=1e-14)
    plain = pydl.ewa(constant, beta=0.9)
    assert plain[0] == pytest.approx(0.3) and plain[-1] < 3.0


# ---- 6. mini-batch semantics ----------------------------------------------------------------

@pytest.mark.parametrize("batch_size,m,per_epoch", [(1, 13, 13), (None, 13, 1), (13, 13, 1),
                                                    (4, 10, 3), (5, 10, 2), (9, 10, 2)])
def test_updates_per_epoch(rng, batch_size, m, per_epoch):
    net, _, X, y = small_case(rng, np.float64, "sigmoid", m=m)
    opt = pydl.GradientDescent(0.1)
    net.fit(X, y, epochs=3, optimizer=opt, batch_size=batch_size)
    assert opt.t == 3 * per_epoch
    net.fit(X, y, epochs=2, batch_size=batch_size)
    assert opt.t == 5 * per_epoch and net.epochs_trained == 5


def test_last_smaller_batch_is_kept(rng):
    """m = 10, batch 4: batches of 4, 4 and 2 examples of the epoch's permutation; the
    oracle with exactly those batches agrees, one without the last batch does not."""
    net, acts, X, y = small_case(rng, np.float64, "sigmoid", m=10)
    P0, (Xr, Y) = ref_params(net), oracle_data(net, X, y)
    net.fit(X, y, epochs=1, learning_rate=0.5, batch_size=4)
    perm = epoch_permutation(net, 0, 10, 4)
    P, _ = R.train_epoch(Xr, Y, P0, acts, "sigmoid", perm, 4, "gd", {}, 0.5)
    assert_close(net.theta, R.parameters_to_vector(P, net.n_layers), np.float64)
    P_drop = P0
    for X_t, Y_t in R.random_mini_batches(Xr, Y, 4, perm)[:2]:
        P_drop, _ = R.train_epoch(X_t, Y_t, P_drop, acts, "sigmoid", np.arange(4), 4, "gd",
                                  {}, 0.5)
    assert not np.allclose(net.theta, R.parameters_to_vector(P_drop, net.n_layers))


def test_permutations_are_seeded_per_epoch(rng):
    net = pydl.Network([3, 2], seed=9)
    p0 = pydl._core.permutation(net._train_seed, 0, 50)
    p1 = pydl._core.permutation(net._train_seed, 1, 50)
    np.testing.assert_array_equal(np.sort(p0), np.arange(50))
    np.testing.assert_array_equal(np.sort(p1), np.arange(50))
    assert not np.array_equal(p0, p1)
    np.testing.assert_array_equal(p0, pydl._core.permutation(net._train_seed, 0, 50))
    assert pydl.Network([3, 2], seed=9)._train_seed == net._train_seed


def test_shuffle_false_takes_examples_in_order(rng):
    net, acts, X, y = small_case(rng, np.float64, "softmax", m=23)
    opt, state = make_optimizer("adam")
    P, (Xr, Y) = ref_params(net), oracle_data(net, X, y)
    net.fit(X, y, epochs=2, optimizer=opt, batch_size=5, shuffle=False)
    for _ in range(2):
        P, _ = R.train_epoch(Xr, Y, P, acts, "softmax", np.arange(23), 5, "adam", state,
                             LR["adam"])
    assert_close(net.theta, R.parameters_to_vector(P, net.n_layers), np.float64)


@pytest.mark.parametrize("output, n_out", [("sigmoid", 1), ("sigmoid", 3), ("sigmoid", 300),
                                           ("linear", 2), ("exp", 1)])
def test_shuffled_batches_are_the_permuted_data_in_order(rng, output, n_out):
    """A shuffled epoch computes exactly what the same data, permuted the same way, gives in
    order: the targets of picked examples are read right (copied together a chunk of 256
    values at a time for the output layer, or row by row past 256 outputs)."""
    m, bs = 37, 8
    X = rng.standard_normal((m, 4))
    Y = rng.random((m, n_out)) if output != "exp" else rng.poisson(2.0, (m, 1)).astype(float)
    if output == "sigmoid":
        Y = (Y > 0.5).astype(float)
    a = pydl.Network([4, 5, n_out], output_activation=output, seed=2)
    b = pydl.Network([4, 5, n_out], output_activation=output, seed=2)
    p = epoch_permutation(a, 0, m, bs)
    ha = a.fit(X, Y, epochs=1, learning_rate=0.05, batch_size=bs, shuffle=True)
    hb = b.fit(X[p], Y[p], epochs=1, learning_rate=0.05, batch_size=bs, shuffle=False)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert ha.cost == hb.cost


def test_full_batch_is_not_shuffled(rng):
    """batch_size = m with shuffle=True is the same computation as shuffle=False, bitwise
    (a permuted batch would sum the examples in another order)."""
    a, _, X, y = small_case(rng, np.float32, "softmax", m=29)
    b = pydl.Network(a.layer_dims, activations=a.activations, dtype=np.float32, seed=1)
    b.theta = a.theta
    a.fit(X, y, epochs=3, learning_rate=0.1, batch_size=29, shuffle=True)
    b.fit(X, y, epochs=3, learning_rate=0.1, batch_size=None, shuffle=False)
    np.testing.assert_array_equal(a.theta, b.theta)


# ---- 7. determinism ---------------------------------------------------------------------

def _det_data(dtype=np.float32, m=600):
    gen = np.random.default_rng(1234)
    X = gen.standard_normal((m, 50)).astype(dtype)
    y = gen.integers(0, 10, size=m)
    return X, y


def _det_train(dtype, n_threads, seed=7, epochs=2):
    X, y = _det_data(dtype)
    net = pydl.Network([50, 256, 128, 10], output_activation="softmax", dtype=dtype, seed=seed)
    h = net.fit(X, y, epochs=epochs, optimizer=pydl.Adam(0.001), batch_size=128, l2=0.1,
                n_threads=n_threads)
    return net, h


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_seed_is_bitwise_reproducible(dtype):
    a, ha = _det_train(dtype, None)
    b, hb = _det_train(dtype, None)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert ha.cost == hb.cost
    c, _ = _det_train(dtype, None, seed=8)
    assert not np.array_equal(a.theta, c.theta)


@needs_openmp
@pytest.mark.parametrize("dtype,kernel", DTYPE_KERNELS)
def test_thread_count_does_not_change_training(kernel_of, dtype, kernel):
    kernel_of(kernel)
    net = pydl.Network([50, 256, 128, 10], output_activation="softmax")
    assert net._arch.effective_threads(2, 128) == 2  # the threaded path runs (with OpenMP)
    one, _ = _det_train(dtype, 1)
    two, _ = _det_train(dtype, 2)
    np.testing.assert_array_equal(one.theta, two.theta)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", ["relu", "leaky_relu", "tanh"])
def test_own_product_paths_train_to_the_same_bits(kernel_of, dtype, hidden):
    """pydl's own paths (AVX-512, AVX2+FMA, generic C) keep one contract (products.h): the
    same FMA chain and epilogue per element, so training on any of them gives the same bits
    -- shuffled batches read in place, dropout, a smaller last batch, 2 threads."""
    own = [k for k in RUNNABLE_KERNELS if k != "blas"]
    if len(own) < 2:
        pytest.skip(f"this host runs {len(own)} of pydl's own product paths: nothing to "
                    f"compare")
    X, y = _det_data(dtype, m=300)
    thetas = []
    for kernel in own:
        kernel_of(kernel)
        net = pydl.Network([50, 70, 33, 10], hidden_activation=hidden,
                           output_activation="softmax", dtype=dtype, seed=3,
                           keep_probs=[0.8, 1.0])
        net.fit(X, y, epochs=2, optimizer=pydl.Adam(0.003), batch_size=64, n_threads=2)
        thetas.append(net.theta)
    for kernel, theta in zip(own[1:], thetas[1:]):
        np.testing.assert_array_equal(theta, thetas[0], err_msg=f"{own[0]} vs {kernel}")


@pytest.mark.skipif(not pydl.openmp_enabled(), reason="built without OpenMP")
def test_thread_count_does_not_change_the_cost():
    X, y = _det_data(np.float64)
    one, h1 = _det_train(np.float64, 1)
    two, h2 = _det_train(np.float64, 2)
    np.testing.assert_array_equal(one.theta, two.theta)
    assert h1.cost == h2.cost
    one.n_threads, two.n_threads = 1, 2
    two.theta = one.theta
    assert one.cost(X, y) == two.cost(X, y)


_DET_SCRIPT = """
import hashlib, sys
import numpy as np
import pydl
gen = np.random.default_rng(1234)
X = gen.standard_normal((600, 50)).astype(np.float32)
y = gen.integers(0, 10, size=600)
net = pydl.Network([50, 256, 128, 10], output_activation="softmax", dtype="float32", seed=7)
net.fit(X, y, epochs=2, optimizer=pydl.Adam(0.001), batch_size=128, l2=0.1)
print(pydl._core.max_threads(), hashlib.sha256(net.theta.tobytes()).hexdigest())
"""


@pytest.mark.skipif(not pydl.openmp_enabled(), reason="built without OpenMP")
def test_omp_num_threads_does_not_change_training(tmp_path):
    """Two processes with OMP_NUM_THREADS=1 and 2 (n_threads=None follows it) train to the
    same bits, and to the same bits as this process."""
    results = {}
    for n in ("1", "2"):
        proc = subprocess.run([sys.executable, "-c", _DET_SCRIPT], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path,
                              env=subprocess_env(OMP_NUM_THREADS=n))
        assert proc.returncode == 0, proc.stderr
        threads, digest = proc.stdout.split()
        assert threads == n
        results[n] = digest
    assert results["1"] == results["2"]
    mine, _ = _det_train(np.float32, 1)
    assert results["1"] == theta_hash(mine.theta)


# ---- 8. Ctrl-C ------------------------------------------------------------------------------

_CTRL_C_SCRIPT = """
import sys
import numpy as np
import pydl
gen = np.random.default_rng(0)
X = gen.standard_normal((20000, 100)).astype(np.float32)
y = gen.integers(0, 10, size=20000)
net = pydl.Network([100, 256, 256, 10], output_activation="softmax", seed=0)
opt = pydl.Adam(0.001)
net.cost(X[:64], y[:64])  # warm up (threadpoolctl) so that fit starts training at once
print("started", flush=True)
try:
    net.fit(X, y, epochs=100000, optimizer=opt, batch_size=64)
except KeyboardInterrupt:
    print("interrupted", flush=True)
else:
    print("finished", flush=True)
    sys.exit(3)
t, done = opt.t, net.epochs_trained
per_epoch = -(-20000 // 64)
assert net.optimizer is opt
assert np.isfinite(net.theta).all()
assert t > 0
# completed epochs only (an interrupt right after an epoch's last update leaves it undone)
assert done == t // per_epoch or (t % per_epoch == 0 and done == t // per_epoch - 1), (t, done)
assert net.predict(X[:100]).shape == (100,)
assert net.history.epochs == list(range(done))  # the completed epochs are not lost
h = net.fit(X[:128], y[:128], epochs=1, batch_size=64)
assert h.epochs == [done] and net.epochs_trained == done + 1 and opt.t == t + 2
assert np.isfinite(h.cost[0]) and np.isfinite(net.theta).all()
print("ok", t, done, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_training(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _CTRL_C_SCRIPT], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                            env=subprocess_env())
    lines = queue.Queue()

    def reader():
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    seen = []

    def wait_for(word, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if line is None:
                return False
            seen.append(line)
            if line.split()[:1] == [word]:
                return True

    try:
        assert wait_for("started", 60), seen
        time.sleep(0.5)
        assert proc.poll() is None, seen
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert wait_for("interrupted", 10), seen
        interrupted = time.monotonic() - sent
        proc.wait(timeout=30)
        exited = time.monotonic() - sent
        while wait_for("ok", 1):
            pass
        assert proc.returncode == 0, seen
        assert any(line.startswith("ok ") for line in seen), seen
        assert interrupted < 2.0, f"KeyboardInterrupt came {interrupted:.2f}s after SIGINT"
        assert exited < 3.0, f"the process exited {exited:.2f}s after SIGINT"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- 9. two networks at once ------------------------------------------------------------

@needs_controlled_blas
def test_blas_is_sequential_in_any_python_thread():
    """The one-pool rule (pydl/_threads.py) holds in a worker thread too, after the main
    thread has used pydl."""
    from threadpoolctl import threadpool_info

    from pydl._threads import sequential_blas

    pydl.Network([3, 4, 1], seed=0).forward(np.zeros((2, 3)))  # the main thread uses pydl
    seen = []

    def worker():
        with sequential_blas():
            seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    previous = _core.set_float_products("blas")  # the path that calls the BLAS
    try:
        th = threading.Thread(target=worker)
        th.start()
        th.join()
    finally:
        _core.set_float_products(previous)
    assert seen and all(n == 1 for n in seen), seen


@needs_controlled_blas
@pytest.mark.parametrize("kernel", RUNNABLE_KERNELS)
def test_only_the_blas_path_limits_the_blas(kernel, kernel_of, monkeypatch, rng):
    """fit, cost and gradients hold the BLAS at one thread on the "blas" path only: pydl's own
    kernels never call it, and a limit changed and put back wakes OpenBLAS's threads."""
    from pydl import _threads

    kernel_of(kernel)
    changes = []
    monkeypatch.setattr(_threads, "_set_blas_threads", changes.append)
    net = pydl.Network([6, 5, 3], output_activation="softmax", seed=0)
    X, y = rng.standard_normal((40, 6)), rng.integers(0, 3, 40)
    net.fit(X, y, epochs=2, batch_size=8, learning_rate=0.1, n_threads=2)
    net.cost(X, y), net.gradients(X, y)
    if kernel == "blas":
        assert len(changes) == 6 and all(n == 1 for _, n in changes[0]), changes
    else:
        assert changes == []


def test_two_networks_in_two_python_threads(rng):
    """Concurrent fits (GIL released, one OpenMP team each, a shared BLAS limit) train each
    network exactly as alone."""
    data = [(rng.standard_normal((400, 50)).astype(np.float32), rng.integers(0, 10, 400))
            for _ in range(2)]

    def make(i):
        return pydl.Network([50, 256, 128, 10], output_activation="softmax", seed=100 + i)

    def train(net, i, errors):
        try:
            X, y = data[i]
            net.fit(X, y, epochs=3, optimizer=pydl.Adam(0.001), batch_size=64, n_threads=2)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    alone = [make(i) for i in range(2)]
    for i, net in enumerate(alone):
        train(net, i, [])
    together = [make(i) for i in range(2)]
    errors = []
    threads = [threading.Thread(target=train, args=(net, i, errors))
               for i, net in enumerate(together)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    assert not any(th.is_alive() for th in threads)
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.theta, b.theta)
        assert b.optimizer.t == 3 * 7
    assert not np.array_equal(together[0].theta, together[1].theta)


# ---- 10. progress line and History --------------------------------------------------------

def test_verbose_progress_line(rng, capsys):
    net, _, X, y = small_case(rng, np.float32, "softmax")
    net.fit(X, y, epochs=5, learning_rate=0.1, verbose=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "epoch" in captured.err and "cost" in captured.err
    assert "epoch 5/5" in captured.err
    net.fit(X, y, epochs=5, learning_rate=0.1, verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_verbose_gives_the_same_training(rng, capsys):
    """verbose runs the epochs in chunks; the result must not change."""
    a, _, X, y = small_case(rng, np.float64, "softmax")
    b = pydl.Network(a.layer_dims, activations=a.activations, dtype=np.float64)
    b.theta = a.theta
    b._train_seed = a._train_seed
    ha = a.fit(X, y, epochs=6, optimizer=pydl.Adam(0.01), batch_size=5, verbose=True)
    hb = b.fit(X, y, epochs=6, optimizer=pydl.Adam(0.01), batch_size=5)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert ha.cost == hb.cost and ha.epochs == hb.epochs


def test_history_fields(rng):
    net, _, X, y = small_case(rng, np.float64, "sigmoid")
    h = net.fit(X, y, epochs=4, learning_rate=0.2, lr_schedule=pydl.ExponentialDecay(0.5))
    assert isinstance(h, pydl.History)
    assert len(h) == 4
    assert h.epochs == [0, 1, 2, 3]
    assert all(isinstance(c, float) and np.isfinite(c) for c in h.cost)
    assert h.cost[-1] < h.cost[0]
    assert h.learning_rate == pytest.approx([0.2, 0.1, 0.05, 0.025], rel=1e-15)
    assert h.wall_time > 0
    epochs, cost, lr = h.as_arrays()
    assert epochs.dtype == np.int64 and list(epochs) == h.epochs
    np.testing.assert_array_equal(cost, h.cost)
    np.testing.assert_array_equal(lr, h.learning_rate)
    assert "4 epochs" in repr(h)
    # the epoch cost of batch gradient descent is J before that epoch's update
    net2, _, X2, y2 = small_case(rng, np.float64, "sigmoid")
    before = net2.cost(X2, y2, l2=0.5)
    h2 = net2.fit(X2, y2, epochs=1, learning_rate=0.2, l2=0.5)
    assert h2.cost[0] == pytest.approx(before, rel=1e-12)
    h3 = net2.fit(X2, y2, epochs=0)
    assert len(h3) == 0 and h3.epochs == [] and net2.epochs_trained == 1
