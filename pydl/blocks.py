"""The course's building blocks, in the course's notation, computed by pydl's C core.

The functions of the course's "deep neural network step by step" exercise, with its shapes
(examples in columns: ``A_prev`` is ``(n[l-1], m)``, ``W`` is ``(n[l], n[l-1])``, ``b`` is
``(n[l], 1)``), its caches and its dictionary keys (``W1``, ``b1``, ``dW1``, ``db1``,
``dA0``, ...). Each layer runs in pydl's C kernels -- the same bias, activation, ``g'(Z)``
and softmax loops a network's training step runs, products through the BLAS -- so the
blocks are the way to learn the algorithm, check one layer against your own NumPy code,
and compose things `Network` does not do. For speed, use `Network`.

Inputs may be float32 (all of them) or anything NumPy converts to float64; outputs have
that dtype. Outputs of course shape ``(n, m)`` are transposed views of pydl's row-major
buffers (Fortran-ordered arrays): their values are what the course computes.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pydl import _core
from pydl._checks import check_param

__all__ = ["linear_forward", "linear_activation_forward", "L_model_forward",
           "linear_backward", "linear_activation_backward", "L_model_backward",
           "update_parameters"]

_HIDDEN = ("relu", "leaky_relu", "tanh", "sigmoid", "linear")


def _dtype(*arrays):
    return (np.dtype(np.float32) if all(a.dtype == np.float32 for a in arrays)
            else np.dtype(np.float64))


def _real(a, name):
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    return a


def _matrix(a, name, rows=None):
    a = _real(a, name)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    if rows is not None and a.shape[0] != rows:
        raise ValueError(f"{name} must have {rows} rows, got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    return a


def _rows(a, dtype):
    """A course matrix (n, m) as pydl's C-contiguous (m, n) (examples in rows)."""
    return np.ascontiguousarray(a.T, dtype=dtype)


def _layer_args(A_prev, W, b):
    W = _matrix(W, "W")
    A_prev = _matrix(A_prev, "A_prev", rows=W.shape[1])
    b = _real(b, "b")
    if b.shape not in ((W.shape[0], 1), (W.shape[0],)):
        raise ValueError(f"b must have shape ({W.shape[0]}, 1), got {b.shape}")
    dtype = _dtype(A_prev, W, b)
    return (A_prev, W, b, dtype, np.ascontiguousarray(W, dtype=dtype),
            np.ascontiguousarray(b.reshape(-1), dtype=dtype))


def _activation(activation, allowed, name="activation"):
    if activation not in allowed:
        raise ValueError(f"unknown {name} {activation!r}; expected one of {allowed}")
    return activation


def linear_forward(A_prev, W, b):
    """``Z = W A_prev + b``.

    Returns
    -------
    Z : ndarray of shape (n[l], m)
    cache : tuple (A_prev, W, b), as the course's ``linear_cache``
    """
    A_prev, W, b, dtype, Wc, bc = _layer_args(A_prev, W, b)
    Z = np.empty((A_prev.shape[1], W.shape[0]), dtype=dtype)
    _core.layer_forward("linear", 0.0, Wc, bc, _rows(A_prev, dtype), Z, None)
    return Z.T, (A_prev, W, b)


def linear_activation_forward(A_prev, W, b, activation, leaky_slope=0.01):
    """``Z = W A_prev + b``, ``A = g(Z)``.

    Parameters
    ----------
    A_prev : array-like of shape (n[l-1], m)
    W : array-like of shape (n[l], n[l-1])
    b : array-like of shape (n[l], 1)
    activation : {"relu", "leaky_relu", "tanh", "sigmoid", "linear", "softmax"}
    leaky_slope : float, default 0.01

    Returns
    -------
    A : ndarray of shape (n[l], m)
    cache : tuple ((A_prev, W, b), Z), as the course's ``(linear_cache, activation_cache)``
    """
    _activation(activation, _HIDDEN + ("softmax",))
    leaky_slope = check_param("leaky_slope", leaky_slope)
    A_prev, W, b, dtype, Wc, bc = _layer_args(A_prev, W, b)
    m, n = A_prev.shape[1], W.shape[0]
    if activation == "softmax" and n < 2:
        raise ValueError("softmax needs at least 2 units")
    Z = np.empty((m, n), dtype=dtype)
    A = np.empty((m, n), dtype=dtype)
    _core.layer_forward(activation, leaky_slope, Wc, bc, _rows(A_prev, dtype), Z, A)
    return A.T, ((A_prev, W, b), Z.T)


def _layers(parameters):
    """L, the number of layers of a course parameters dict (W1, b1, ..., WL, bL)."""
    if not isinstance(parameters, Mapping):
        raise TypeError(f"parameters must be a dict with keys W1, b1, ..., got "
                        f"{type(parameters).__name__}")
    L = len(parameters) // 2
    missing = [k for l in range(1, L + 1) for k in (f"W{l}", f"b{l}") if k not in parameters]
    if L < 1 or missing or len(parameters) != 2 * L:
        raise ValueError(f"parameters must hold exactly W1, b1, ..., WL, bL; got keys "
                         f"{sorted(parameters)}")
    return L


def L_model_forward(X, parameters, hidden_activation="relu", output_activation="sigmoid",
                    leaky_slope=0.01):
    """``[LINEAR -> hidden_activation] * (L-1) -> LINEAR -> output_activation``.

    Parameters
    ----------
    X : array-like of shape (n_x, m)
        Examples in columns, as the course (``pydl`` networks take ``X.T``).
    parameters : dict
        ``W1, b1, ..., WL, bL`` with the course's shapes (e.g. ``net.parameters``).
    hidden_activation : {"relu", "leaky_relu", "tanh", "sigmoid", "linear"}, default "relu"
    output_activation : {"sigmoid", "softmax", "linear"}, default "sigmoid"

    Returns
    -------
    AL : ndarray of shape (n[L], m)
    caches : list of the L caches of `linear_activation_forward`
    """
    L = _layers(parameters)
    _activation(hidden_activation, _HIDDEN, "hidden_activation")
    _activation(output_activation, ("sigmoid", "softmax", "linear"), "output_activation")
    A, caches = X, []
    for l in range(1, L + 1):
        act = output_activation if l == L else hidden_activation
        A, cache = linear_activation_forward(A, parameters[f"W{l}"], parameters[f"b{l}"],
                                             act, leaky_slope)
        caches.append(cache)
    return A, caches


def _cache(cache):
    try:
        (A_prev, W, b), Z = cache
    except (TypeError, ValueError):
        raise TypeError("cache must be ((A_prev, W, b), Z), as linear_activation_forward "
                        "returns") from None
    return A_prev, W, b, Z


def _backward(dA, A_prev, W, b, Z, activation, leaky_slope):
    A_prev, W, b, dtype, Wc, _ = _layer_args(A_prev, W, b)
    m, n = A_prev.shape[1], W.shape[0]
    dA = _real(dA, "dA")
    if dA.shape != (n, m):
        raise ValueError(f"dA must have shape ({n}, {m}) (n[l], m), got {dA.shape}")
    Zr = None
    if Z is not None:
        Z = _real(Z, "Z")
        if Z.shape != (n, m):
            raise ValueError(f"Z must have shape ({n}, {m}) (n[l], m), got {Z.shape}")
        Zr = _rows(Z, dtype)
    dZ = np.empty((m, n), dtype=dtype)
    dW = np.empty((n, W.shape[1]), dtype=dtype)
    db = np.empty(n, dtype=dtype)
    dA_prev = np.empty((m, W.shape[1]), dtype=dtype)
    _core.layer_backward(activation, leaky_slope, Wc, _rows(A_prev, dtype), Zr,
                         _rows(dA, dtype), dZ, dW, db, dA_prev)
    return dA_prev.T, dW, db.reshape(n, 1)


def linear_backward(dZ, cache):
    """``dW = (1/m) dZ A_prev^T``, ``db = (1/m) sum_i dZ``, ``dA_prev = W^T dZ``.

    Parameters
    ----------
    dZ : array-like of shape (n[l], m)
    cache : tuple (A_prev, W, b) from `linear_forward`

    Returns
    -------
    dA_prev, dW, db : ndarrays with the shapes of A_prev, W and b
    """
    try:
        A_prev, W, b = cache
    except (TypeError, ValueError):
        raise TypeError("cache must be (A_prev, W, b), as linear_forward returns") from None
    return _backward(dZ, A_prev, W, b, None, "linear", 0.0)


def linear_activation_backward(dA, cache, activation, leaky_slope=0.01):
    """``dZ = dA * g'(Z)``, then `linear_backward`.

    Parameters
    ----------
    dA : array-like of shape (n[l], m)
    cache : tuple ((A_prev, W, b), Z) from `linear_activation_forward`
    activation : {"relu", "leaky_relu", "tanh", "sigmoid", "linear", "softmax"}
        relu's derivative is 0 where ``Z <= 0`` (the course's ``relu_backward``); softmax's
        is its Jacobian, ``dZ = A * (dA - sum_k A_k dA_k)`` per example.

    Returns
    -------
    dA_prev, dW, db : ndarrays with the shapes of A_prev, W and b
    """
    _activation(activation, _HIDDEN + ("softmax",))
    leaky_slope = check_param("leaky_slope", leaky_slope)
    A_prev, W, b, Z = _cache(cache)
    return _backward(dA, A_prev, W, b, Z, activation, leaky_slope)


def L_model_backward(AL, Y, caches, hidden_activation="relu", output_activation="sigmoid",
                     leaky_slope=0.01):
    """Backward propagation from the cost's ``dAL`` through every cache.

    ``dAL`` is the derivative of the loss the output decides: sigmoid, the course's
    ``-(Y/AL - (1-Y)/(1-AL))``; softmax (one-hot Y), ``-Y/AL``; linear (squared error),
    ``AL - Y``.

    Parameters
    ----------
    AL : array-like of shape (n[L], m)
    Y : array-like of shape (n[L], m)
    caches : list of the caches of `L_model_forward` (or the course's own)

    Returns
    -------
    grads : dict
        ``dA0 .. dA{L-1}``, ``dW1 .. dWL``, ``db1 .. dbL``: ``grads["dA" + str(l)]`` is the
        gradient of A[l] (``dA0`` that of X), as in the course.
    """
    _activation(hidden_activation, _HIDDEN, "hidden_activation")
    _activation(output_activation, ("sigmoid", "softmax", "linear"), "output_activation")
    leaky_slope = check_param("leaky_slope", leaky_slope)
    AL = _matrix(AL, "AL")
    Y = _real(Y, "Y")
    if Y.size != AL.size:
        raise ValueError(f"Y must have the shape of AL {AL.shape}, got {Y.shape}")
    if not isinstance(caches, (list, tuple)) or not caches:
        raise TypeError("caches must be the list L_model_forward returns")
    dtype = _dtype(AL, Y)
    dAL = np.empty(AL.shape, dtype=dtype)
    _core.loss_grad(output_activation, np.ascontiguousarray(AL, dtype=dtype),
                    np.ascontiguousarray(Y.reshape(AL.shape), dtype=dtype), dAL)
    grads, dA, L = {}, dAL, len(caches)
    for l in range(L, 0, -1):
        act = output_activation if l == L else hidden_activation
        A_prev, W, b, Z = _cache(caches[l - 1])
        dA, grads[f"dW{l}"], grads[f"db{l}"] = _backward(dA, A_prev, W, b, Z, act,
                                                         leaky_slope)
        grads[f"dA{l - 1}"] = dA
    return grads


def update_parameters(parameters, grads, learning_rate):
    """Gradient descent, ``W[l] = W[l] - learning_rate * dW[l]`` (and b), in pydl's C update.

    Returns
    -------
    dict
        New arrays ``W1, b1, ...`` (the inputs are not modified).
    """
    L = _layers(parameters)
    learning_rate = check_param("learning_rate", learning_rate)
    keys = [k for l in range(1, L + 1) for k in (f"W{l}", f"b{l}")]
    params = {k: _real(parameters[k], k) for k in keys}
    if not isinstance(grads, Mapping):
        raise TypeError(f"grads must be a dict with keys dW1, db1, ..., got "
                        f"{type(grads).__name__}")
    for k in keys:
        if "d" + k not in grads:
            raise ValueError(f"grads is missing {'d' + k!r}")
        if np.shape(grads["d" + k]) != params[k].shape:
            raise ValueError(f"grads[{'d' + k!r}] must have the shape of {k} "
                             f"{params[k].shape}, got {np.shape(grads['d' + k])}")
    dtype = _dtype(*params.values())
    theta = np.concatenate([params[k].astype(dtype).ravel() for k in keys])
    grad = np.concatenate([np.asarray(grads["d" + k], dtype=dtype).ravel() for k in keys])
    _core.check_finite(theta, "parameters")
    _core.update("gd", 0.0, 0.0, 1.0, 1, learning_rate, theta, grad, None, None, 1)
    out, off = {}, 0
    for k in keys:
        size = params[k].size
        out[k] = theta[off:off + size].reshape(params[k].shape)
        off += size
    return out
