"""Gradient checking: compare backpropagation's gradient with a numerical approximation.

The course's two-sided difference, for every parameter theta_i::

    dtheta_approx[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)

    difference = ||dtheta_approx - dtheta||_2 / (||dtheta_approx||_2 + ||dtheta||_2)

    < 1e-7  great;   > 1e-5  maybe a bug somewhere

Implementation notes from the course: use it only to debug, never in training; when the
check fails, look at the components (`GradientCheck.per_parameter`) to locate the bug;
remember the regularization terms (pass the same l2 / l1); it does not work with dropout
(pydl's `cost` and `gradients` never apply dropout, so the check is of the dropout-free
network); run it at random initialization, and perhaps again after some training.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pydl._checks import as_float_matrix, as_targets, check_param
from pydl.random_state import as_generator

__all__ = ["GradientCheck", "gradient_check", "check_function", "GREAT", "BUG"]

GREAT = 1e-7    # difference below this: great
BUG = 1e-5      # difference above this: likely a bug


def _verdict(difference):
    if difference < GREAT:
        return "great"
    if difference > BUG:
        return "likely bug"
    return "suspicious"


def _relative_difference(approx, grad):
    """||approx - grad||_2 / (||approx||_2 + ||grad||_2), 0.0 when both are zero."""
    denominator = np.linalg.norm(approx) + np.linalg.norm(grad)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(approx - grad) / denominator)


@dataclass(frozen=True)
class GradientCheck:
    """The result of `gradient_check`.

    Attributes
    ----------
    difference : float
        ``||grad_approx - grad||_2 / (||grad_approx||_2 + ||grad||_2)`` (0.0 if both are
        zero; `note` says so).
    verdict : str
        "great" (difference < 1e-7), "likely bug" (> 1e-5), else "suspicious".
    per_parameter : dict of str to float
        The same relative difference restricted to each of W1, b1, ..., WL, bL: the largest
        one points at the layer whose backward pass is wrong. Rounding noise is relative to
        each block's own gradient, so a block with small gradients reads higher than
        `difference` on a correct network (up to ~1e-7 rather than ~1e-9). With
        ``n_samples`` only the parameters with at least one sampled coordinate appear; with
        ``directions`` it is empty (a direction mixes all parameters).
    grad : ndarray, float64
        Backpropagation's gradient, flattened in `theta`'s order (W1 row-major, b1, W2, ...);
        with ``n_samples``, its checked coordinates (`indices`); with ``directions``, the
        directional derivatives ``grad . u_j``.
    grad_approx : ndarray, float64
        The numerical approximations of the same quantities.
    method : str
        "full", "sampled" or "directional".
    indices : ndarray of int or None
        The coordinates of `theta` that were checked (all of them for "full"); None for
        "directional".
    note : str
        Caveats: dropout turned off for the check, all-zero gradients; "" when none.
    """
    difference: float
    verdict: str
    per_parameter: dict
    grad: np.ndarray = field(repr=False)
    grad_approx: np.ndarray = field(repr=False)
    method: str = "full"
    indices: np.ndarray | None = field(default=None, repr=False)
    note: str = ""

    def __str__(self):
        lines = [f"gradient check ({self.method}): difference {self.difference:.3g}: "
                 f"{self.verdict}"]
        lines += [f"  {name}: {d:.3g}" for name, d in self.per_parameter.items()]
        if self.note:
            lines.append(f"  note: {self.note}")
        return "\n".join(lines)


def _float64_network(net):
    """`net` itself if it is float64, else a float64 copy with the same parameters."""
    if net.dtype == np.float64:
        return net
    from pydl.network import Network

    copy = Network(net.layer_dims, activations=net.activations, dtype="float64",
                   leaky_slope=net.leaky_slope, n_threads=net.n_threads)
    copy.theta = net.theta.astype(np.float64)
    normalizer = getattr(net, "normalizer", None)
    if normalizer is not None:               # the same inputs as the network sees
        copy.normalizer = normalizer
    return copy


def _blocks(layer_dims):
    """(name, start, stop) of W1, b1, ..., WL, bL in theta."""
    out, off = [], 0
    for l in range(1, len(layer_dims)):
        n, n_prev = layer_dims[l], layer_dims[l - 1]
        out.append((f"W{l}", off, off + n * n_prev))
        off += n * n_prev
        out.append((f"b{l}", off, off + n))
        off += n
    return out


def gradient_check(net, *args, **kwargs):
    """Check a gradient against the course's two-sided differences, in float64.

    Two forms::

        gradient_check(net, X, y, epsilon=1e-7, l2=0.0, l1=0.0, *, n_samples=None,
                       directions=None, seed=None)     # a pydl.Network's backpropagation
        gradient_check(fun, theta, grad=None, epsilon=1e-7)   # any function J(theta)

    The function form checks ``grad`` against ``(fun(theta + eps e_i) - fun(theta - eps
    e_i)) / (2 eps)`` for every coordinate i, with the same relative difference and
    verdict (see `check_function`). The network form is described below.
    """
    from pydl.network import Network

    if not isinstance(net, Network) and callable(net):
        return check_function(net, *args, **kwargs)
    return _check_network(net, *args, **kwargs)


def check_function(fun, theta, grad=None, epsilon=1e-7):
    """Gradient check of a function: the course's first exercise, ``J(theta) = theta x``.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> J`` (a real number); or, with ``grad=None``, ``-> (J, dtheta)``.
    theta : float or array-like
        Where to check. `fun` receives a float64 copy: a float if theta is a scalar, else an
        array of theta's shape.
    grad : callable, array-like or None
        ``grad(theta) -> dtheta`` (theta's shape), or dtheta itself, or None when `fun`
        returns both.
    epsilon : float, default 1e-7

    Returns
    -------
    GradientCheck
        ``difference = ||dtheta_approx - dtheta||_2 / (||dtheta_approx||_2 +
        ||dtheta||_2)`` with the course's verdict; `per_parameter` is empty.

    Examples
    --------
    >>> x = 2.0
    >>> pydl.gradient_check(lambda t: t * x, 4.0, grad=lambda t: x).difference
    2.919335883291695e-10
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    epsilon = check_param("gradient_check.epsilon", epsilon)
    scalar = np.ndim(theta) == 0
    t0 = np.asarray(theta)
    if t0.dtype.kind not in "biuf" or t0.size == 0 or not np.isfinite(t0).all():
        raise ValueError(f"theta must be a finite real number or a non-empty array of "
                         f"them, got {theta!r}")
    t0 = t0.astype(np.float64).reshape(-1)

    def arg(t):
        return float(t[0]) if scalar else t.reshape(np.shape(theta)).copy()

    def J(t):
        value = fun(arg(t))
        if grad is None:
            try:
                value, _ = value
            except (TypeError, ValueError):
                raise TypeError("with grad=None, fun must return (J, dtheta)") from None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise TypeError(f"fun must return a real number, got {value!r}") from None

    if grad is None:
        out = fun(arg(t0))
        try:
            _, g = out
        except (TypeError, ValueError):
            raise TypeError("with grad=None, fun must return (J, dtheta)") from None
    else:
        g = grad(arg(t0)) if callable(grad) else grad
    g = np.asarray(g, dtype=np.float64)
    if g.size != t0.size:
        raise ValueError(f"the gradient must have theta's {t0.size} value(s), got shape "
                         f"{g.shape}")
    g = g.reshape(-1)
    approx = np.empty_like(t0)
    for i in range(t0.size):
        plus, minus = t0.copy(), t0.copy()
        plus[i] += epsilon
        minus[i] -= epsilon
        approx[i] = (J(plus) - J(minus)) / (2 * epsilon)
    difference = _relative_difference(approx, g)
    note = ("" if np.linalg.norm(approx) + np.linalg.norm(g) else
            "both gradients are zero, so the difference is set to 0.0 and the check "
            "proves nothing")
    return GradientCheck(difference=difference, verdict=_verdict(difference),
                         per_parameter={}, grad=g, grad_approx=approx, method="full",
                         indices=np.arange(t0.size), note=note)


def _check_network(net, X, y, epsilon=1e-7, l2=0.0, l1=0.0, *, n_samples=None,
                   directions=None, seed=None):
    """Check ``net.gradients`` against two-sided differences of ``net.cost``, in float64.

    Full check (default), for every coordinate i of theta::

        dtheta_approx[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)
        difference = ||dtheta_approx - dtheta||_2 / (||dtheta_approx||_2 + ||dtheta||_2)

    with ``J = net.cost(X, y, l2=l2, l1=l1)`` (regularization included) and ``dtheta`` from
    ``net.gradients(X, y, l2=l2, l1=l1)`` flattened in theta's order. The verdict follows
    the course: "great" below 1e-7, "likely bug" above 1e-5, "suspicious" in between.

    The full check costs ``2 * n_params`` evaluations of J. For large networks:

    * ``n_samples=k``: the same on k coordinates drawn at random without replacement
      (seeded); the differences are computed on those coordinates only.
    * ``directions=k``: a directional check. For k random unit vectors u_j (isotropic,
      seeded), compare ``(J(theta + eps u_j) - J(theta - eps u_j)) / (2 eps)`` with
      ``dtheta . u_j``; `difference` is the relative difference of the two k-vectors.
      Costs 2k evaluations whatever the size of the network, but cannot say which
      parameter is wrong.

    Parameters
    ----------
    net : pydl.Network
        Checked as it is (run at random initialization, perhaps again after training).
        A float32 network is checked on a float64 copy with the same parameters and input
        normalizer (float32 rounding would swamp the differences); a float64 network is checked itself: its
        theta is perturbed in place during the check and restored bit for bit afterwards
        (also after an error). Either way the caller's network ends unchanged.
    X : array-like of shape (n_samples, n_x)
        A few examples suffice.
    y : array-like
        Targets as for ``net.cost``.
    epsilon : float, default 1e-7
        The step, in (0, 1].
    l2, l1 : float, default 0
        Regularization strengths: check with the ones you train with.
    n_samples : int, optional
        Check this many random coordinates (1 .. n_params) instead of all.
    directions : int, optional
        Do a directional check with this many random directions (>= 1). Not together with
        `n_samples`.
    seed : int, numpy.random.Generator or numpy.random.RandomState, optional
        Seeds the choice of coordinates or directions.

    Returns
    -------
    GradientCheck

    Notes
    -----
    Dropout makes J random, so gradient checking does not work with it. pydl applies
    dropout only inside ``fit``: ``cost`` and ``gradients`` are always those of the
    dropout-free network, which is what is checked; when the network has ``keep_probs``
    below 1, `GradientCheck.note` says that dropout was turned off for the check.

    Kinks give false alarms: relu / leaky relu at ``z = 0`` and the l1 term at ``w = 0``
    are not differentiable, and a difference straddling such a point is wrong by
    construction. With zero biases this happens at initialization: an example whose relu
    units in one layer are all off gives the next layer ``z = b = 0`` exactly. When a
    relu network fails only on ``b`` parameters, check again with small random biases.

    Examples
    --------
    >>> net = pydl.Network([4, 5, 3, 1], dtype="float64", seed=0)
    >>> check = gradient_check(net, X[:20], y[:20], l2=0.1)
    >>> check.verdict
    'great'
    """
    from pydl.network import Network

    if not isinstance(net, Network):
        raise TypeError(f"net must be a pydl.Network, got {type(net).__name__}")
    epsilon = check_param("gradient_check.epsilon", epsilon)
    l2 = check_param("l2", l2)
    l1 = check_param("l1", l1)
    n_params = net.theta.shape[0]
    if n_samples is not None and directions is not None:
        raise ValueError("give n_samples (a sampled check) or directions (a directional "
                         "check), not both")
    if n_samples is not None:
        n_samples = check_param("n_samples", n_samples, high=n_params)
    if directions is not None:
        directions = check_param("directions", directions)
    rng = as_generator(seed)

    # float64 data, validated and converted once (each J evaluation reuses it)
    X = as_float_matrix(X, "X", net.layer_dims[0], np.float64)
    Y, labels = as_targets(y, "y", X.shape[0], net.output_activation, net.layer_dims[-1],
                           np.float64)
    y = Y if labels is None else labels

    notes = []
    keep_probs = getattr(net, "keep_probs", None)
    if keep_probs is not None and any(k < 1 for k in keep_probs):
        notes.append(f"dropout was turned off for the check (keep_probs={list(keep_probs)}): "
                     "cost and gradients are those of the dropout-free network; dropout "
                     "only acts during fit")

    work = _float64_network(net)
    theta = work._theta                     # the array itself: perturbed in place (J and
                                            # the gradients read theta, not the pack)
    theta0 = theta.copy()

    def J():
        return work.cost(X, y, l2=l2, l1=l1)

    try:
        grads = work.gradients(X, y, l2=l2, l1=l1)
        grad_full = np.concatenate([np.asarray(grads[f"d{name}"], dtype=np.float64).ravel()
                                    for name, _, _ in _blocks(work.layer_dims)])
        if grad_full.shape != (n_params,):
            raise ValueError(f"net.gradients returned {grad_full.shape[0]} values for "
                             f"{n_params} parameters")
        if directions is not None:
            method, indices = "directional", None
            U = rng.standard_normal((directions, n_params))
            U /= np.linalg.norm(U, axis=1, keepdims=True)
            approx = np.empty(directions)
            for j, u in enumerate(U):
                theta[...] = theta0 + epsilon * u
                j_plus = J()
                theta[...] = theta0 - epsilon * u
                j_minus = J()
                approx[j] = (j_plus - j_minus) / (2 * epsilon)
            grad = U @ grad_full
        else:
            if n_samples is None:
                method, indices = "full", np.arange(n_params)
            else:
                method = "sampled"
                indices = np.sort(rng.choice(n_params, size=n_samples, replace=False))
            approx = np.empty(indices.shape[0])
            for j, i in enumerate(indices):
                theta[i] = theta0[i] + epsilon
                j_plus = J()
                theta[i] = theta0[i] - epsilon
                j_minus = J()
                theta[i] = theta0[i]
                approx[j] = (j_plus - j_minus) / (2 * epsilon)
            grad = grad_full[indices]
    finally:
        theta[...] = theta0                 # bit for bit

    per_parameter = {}
    if indices is not None:
        for name, start, stop in _blocks(work.layer_dims):
            sel = (indices >= start) & (indices < stop)
            if sel.any():
                per_parameter[name] = _relative_difference(approx[sel], grad[sel])
    difference = _relative_difference(approx, grad)
    if not (np.linalg.norm(approx) + np.linalg.norm(grad)):
        notes.append("both gradients are zero on the checked values, so the difference is "
                     "set to 0.0 and the check proves nothing (try other parameters or data)")
    return GradientCheck(difference=difference, verdict=_verdict(difference),
                         per_parameter=per_parameter, grad=grad, grad_approx=approx,
                         method=method, indices=indices, note="; ".join(notes))
