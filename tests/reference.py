"""Pure-NumPy test oracle for pydl, written in the course's notation.

Conventions (as in the course notes):
  * X has the examples in COLUMNS: shape (n_x, m); A[0] = X.
  * Y has shape (n_y, m) for the "sigmoid" and "linear" outputs; for the
    "softmax" output Y is a 1-D array of INTEGER class labels, shape (m,).
  * W[l] has shape (n[l], n[l-1]); b[l] has shape (n[l], 1).
  * parameters = {"W1": ..., "b1": ..., ..., "WL": ..., "bL": ...}
  * grads      = {"dW1": ..., "db1": ..., ..., "dWL": ..., "dbL": ...}
  * activations is a list of L names, one per layer (the last one is the
    output activation and must equal the `output` kind of the cost).

Dtype policy: every computation stays in the floating dtype of its inputs
(float32 in -> float32 out, float64 in -> float64 out).  Python / NumPy scalar
hyperparameters are converted to that dtype before use (helper `_c`).

Mutation policy: no function modifies its array / dict arguments, except
`train_epoch`, which updates its `state` dict in place (documented there).
Optimizer updates return NEW dicts.

This module must not import pydl.
"""

import math

import numpy as np

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")
OUTPUTS = ("sigmoid", "softmax", "linear")


def _c(value, dtype):
    """Constant `value` as a scalar of `dtype` (avoids silent float64 upcasts)."""
    return np.dtype(dtype).type(value)


def _float_dtype(*arrays):
    """Floating dtype of the first floating array given (float64 if none is)."""
    for a in arrays:
        a = np.asarray(a)
        if np.issubdtype(a.dtype, np.floating):
            return a.dtype
    return np.dtype(np.float64)


def _num_layers(parameters):
    """L = number of (W, b) pairs in the parameters dict."""
    return len(parameters) // 2


def layer_dims_of(parameters):
    """layer_dims = [n[0], n[1], ..., n[L]] read off the W[l] shapes."""
    L = _num_layers(parameters)
    return [parameters["W1"].shape[1]] + [parameters["W" + str(l)].shape[0] for l in range(1, L + 1)]


# --------------------------------------------------------------------------
# Activations g(Z) and their derivatives g'(Z)
# --------------------------------------------------------------------------

def sigmoid(Z):
    """sigmoid(Z) = 1 / (1 + exp(-Z))  (evaluated as exp(-|Z|) branches, so no overflow)."""
    Z = np.asarray(Z)
    one = _c(1, Z.dtype)
    e = np.exp(-np.abs(Z))  # in (0, 1]; never overflows
    return np.where(Z >= 0, one / (one + e), e / (one + e))


def tanh(Z):
    """tanh(Z) = (exp(Z) - exp(-Z)) / (exp(Z) + exp(-Z))."""
    return np.tanh(Z)


def relu(Z):
    """relu(Z) = max(0, Z)."""
    Z = np.asarray(Z)
    return np.maximum(_c(0, Z.dtype), Z)


def leaky_relu(Z, slope=0.01):
    """leaky_relu(Z) = Z if Z > 0 else slope * Z."""
    Z = np.asarray(Z)
    return np.where(Z > 0, Z, _c(slope, Z.dtype) * Z)


def linear(Z):
    """linear(Z) = Z."""
    return np.asarray(Z).copy()


def softmax(Z):
    """softmax(Z)[k, i] = exp(Z[k, i] - max_k Z[:, i]) / sum_k exp(Z[k, i] - max_k Z[:, i])  (column-wise)."""
    Z = np.asarray(Z)
    T = np.exp(Z - np.max(Z, axis=0, keepdims=True))
    return T / np.sum(T, axis=0, keepdims=True)


def activation(name, Z, slope=0.01):
    """A = g(Z) for the activation called `name`."""
    if name == "linear":
        return linear(Z)
    if name == "sigmoid":
        return sigmoid(Z)
    if name == "tanh":
        return tanh(Z)
    if name == "relu":
        return relu(Z)
    if name == "leaky_relu":
        return leaky_relu(Z, slope)
    if name == "softmax":
        return softmax(Z)
    raise ValueError("unknown activation: %r" % (name,))


def activation_derivative(name, Z, slope=0.01):
    """g'(Z): sigmoid s(1-s), tanh 1-tanh^2, relu 1[Z>0], leaky_relu 1 if Z>0 else slope, linear 1."""
    Z = np.asarray(Z)
    one = _c(1, Z.dtype)
    zero = _c(0, Z.dtype)
    if name == "sigmoid":
        s = sigmoid(Z)
        return s * (one - s)
    if name == "tanh":
        t = np.tanh(Z)
        return one - t * t
    if name == "relu":
        return np.where(Z > 0, one, zero)
    if name == "leaky_relu":
        return np.where(Z > 0, one, _c(slope, Z.dtype))
    if name == "linear":
        return np.ones_like(Z)
    if name == "softmax":
        raise ValueError("softmax has no element-wise derivative; it is only used as the output "
                         "layer, where dZ[L] = A[L] - Y")
    raise ValueError("unknown activation: %r" % (name,))


# --------------------------------------------------------------------------
# Initialization
# --------------------------------------------------------------------------

def init_std(method, n_prev, n_cur, scale=0.01):
    """std of W[l] ~ N(0, std^2): zeros 0, random scale, xavier sqrt(1/n_prev), xavier_avg sqrt(2/(n_prev+n_cur)), he sqrt(2/n_prev)."""
    if method == "zeros":
        return 0.0
    if method == "random":
        return float(scale)
    if method == "xavier":
        return math.sqrt(1.0 / n_prev)
    if method == "xavier_avg":
        return math.sqrt(2.0 / (n_prev + n_cur))
    if method == "he":
        return math.sqrt(2.0 / n_prev)
    raise ValueError("unknown initialization: %r" % (method,))


def initialize_parameters(layer_dims, method, rng, scale=0.01, dtype=np.float64):
    """W[l] = init_std(method, n[l-1], n[l]) * rng.standard_normal((n[l], n[l-1])), b[l] = 0.

    Test helper only: the draw order here (W1, W2, ... from one Generator) is
    the oracle's own and is NOT claimed to match pydl's random stream.
    """
    parameters = {}
    for l in range(1, len(layer_dims)):
        std = init_std(method, layer_dims[l - 1], layer_dims[l], scale)
        W = std * rng.standard_normal((layer_dims[l], layer_dims[l - 1]))
        parameters["W" + str(l)] = W.astype(dtype)
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1), dtype=dtype)
    return parameters


# --------------------------------------------------------------------------
# Forward propagation
# --------------------------------------------------------------------------

def _dropout_on(l, L, keep_probs):
    """True if inverted dropout is applied to hidden layer l (1 <= l < L) with keep_prob < 1."""
    return keep_probs is not None and l < L and keep_probs[l - 1] < 1.0


def forward(X, parameters, activations, slope=0.01, keep_probs=None, masks=None):
    """Z[l] = W[l] . A[l-1] + b[l];  A[l] = g[l](Z[l]);  dropout: A[l] = A[l] * D[l] / keep_prob[l].

    keep_probs: list of L floats (keep_probs[l-1] belongs to layer l; the
    output layer is never dropped).  masks: dict l -> 0/1 array D[l] with
    A[l]'s shape (needed for every hidden layer whose keep_prob < 1).
    Returns (AL, caches); caches[l-1] is a dict with A_prev, W, b, Z, A, D, keep_prob of layer l.
    """
    L = _num_layers(parameters)
    assert len(activations) == L, "need one activation per layer"
    A = np.asarray(X)
    caches = []
    for l in range(1, L + 1):
        A_prev = A
        W = parameters["W" + str(l)]
        b = parameters["b" + str(l)]
        Z = np.dot(W, A_prev) + b
        A = activation(activations[l - 1], Z, slope)
        D = None
        keep_prob = 1.0
        if _dropout_on(l, L, keep_probs):
            keep_prob = keep_probs[l - 1]
            D = np.asarray(masks[l]).astype(A.dtype)
            assert D.shape == A.shape, "mask D[%d] must have A[%d]'s shape" % (l, l)
            A = A * D / _c(keep_prob, A.dtype)
        caches.append({"A_prev": A_prev, "W": W, "b": b, "Z": Z, "A": A, "D": D, "keep_prob": keep_prob})
    return A, caches


# --------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------

def one_hot(y, n_classes, dtype=np.float64):
    """Y[k, i] = 1 if y[i] == k else 0, shape (n_classes, m)."""
    y = np.asarray(y).astype(np.int64)
    Y = np.zeros((n_classes, y.shape[0]), dtype=dtype)
    Y[y, np.arange(y.shape[0])] = 1
    return Y


def compute_cost(AL, Y, output):
    """sigmoid: -(1/m) sum_k sum_i [y log a + (1-y) log(1-a)];  softmax: -(1/m) sum_i log A[y_i, i];  linear: (1/(2m)) sum_k sum_i (a-y)^2."""
    AL = np.asarray(AL)
    dt = AL.dtype
    m = AL.shape[1]
    one = _c(1, dt)
    if output == "sigmoid":
        Y = np.asarray(Y).astype(dt)
        return -(one / _c(m, dt)) * np.sum(Y * np.log(AL) + (one - Y) * np.log(one - AL))
    if output == "softmax":
        y = np.asarray(Y).astype(np.int64)
        return -(one / _c(m, dt)) * np.sum(np.log(AL[y, np.arange(m)]))
    if output == "linear":
        Y = np.asarray(Y).astype(dt)
        return (one / _c(2 * m, dt)) * np.sum((AL - Y) ** 2)
    raise ValueError("unknown output: %r" % (output,))


def regularization_cost(parameters, m, lambd=0.0, l1=0.0, dtype=None):
    """lambd/(2m) sum_l ||W[l]||_F^2 + (l1/m) sum_l sum |W[l]|  (weights only, never biases)."""
    if dtype is None:
        dtype = parameters["W1"].dtype
    L = _num_layers(parameters)
    m = _c(m, dtype)
    l2_sum = _c(0, dtype)
    l1_sum = _c(0, dtype)
    for l in range(1, L + 1):
        W = parameters["W" + str(l)]
        l2_sum = l2_sum + np.sum(np.square(W))
        l1_sum = l1_sum + np.sum(np.abs(W))
    return _c(lambd, dtype) / (_c(2, dtype) * m) * l2_sum + _c(l1, dtype) / m * l1_sum


def compute_cost_with_regularization(AL, Y, parameters, output, lambd=0.0, l1=0.0):
    """J = compute_cost(AL, Y, output) + lambd/(2m) sum_l ||W[l]||_F^2 + (l1/m) sum_l sum |W[l]|."""
    AL = np.asarray(AL)
    m = AL.shape[1]
    return compute_cost(AL, Y, output) + regularization_cost(parameters, m, lambd, l1, AL.dtype)


# --------------------------------------------------------------------------
# Backward propagation
# --------------------------------------------------------------------------

def backward(AL, Y, caches, activations, output, lambd=0.0, l1=0.0, slope=0.01, keep_probs=None, masks=None):
    """dZ[L] = AL - Y;  dW[l] = (1/m) dZ[l].A[l-1]^T + (lambd/m) W[l] + (l1/m) sign(W[l]);  db[l] = (1/m) sum_cols dZ[l];  dA[l-1] = W[l]^T.dZ[l] (* D[l-1]/keep_prob);  dZ[l-1] = dA[l-1] * g'(Z[l-1]).

    For the softmax output Y holds integer labels (m,) and is one-hot encoded
    here.  The dropout masks are taken from the caches (forward stored them);
    keep_probs / masks are accepted for symmetry with forward and, when given,
    override the cached ones.  Returns grads with dW{l}, db{l}, dZ{l}, and
    dA{l-1} (for l >= 2).
    """
    AL = np.asarray(AL)
    dt = AL.dtype
    L = len(caches)
    assert activations[L - 1] == output, "output layer activation must equal the output kind"
    m = AL.shape[1]
    one_over_m = _c(1, dt) / _c(m, dt)
    if output == "softmax":
        Y = one_hot(Y, AL.shape[0], dt)
    else:
        Y = np.asarray(Y).astype(dt).reshape(AL.shape)

    grads = {}
    dZ = AL - Y
    for l in range(L, 0, -1):
        cache = caches[l - 1]
        A_prev, W = cache["A_prev"], cache["W"]
        grads["dZ" + str(l)] = dZ
        grads["dW" + str(l)] = (one_over_m * np.dot(dZ, A_prev.T)
                                + _c(lambd, dt) * one_over_m * W
                                + _c(l1, dt) * one_over_m * np.sign(W))
        grads["db" + str(l)] = one_over_m * np.sum(dZ, axis=1, keepdims=True)
        if l > 1:
            dA_prev = np.dot(W.T, dZ)
            prev = caches[l - 2]
            if keep_probs is not None and masks is not None and _dropout_on(l - 1, L, keep_probs):
                D, keep_prob = np.asarray(masks[l - 1]).astype(dt), keep_probs[l - 2]
            else:
                D, keep_prob = prev["D"], prev["keep_prob"]
            if D is not None:
                dA_prev = dA_prev * D / _c(keep_prob, dt)
            grads["dA" + str(l - 1)] = dA_prev
            dZ = dA_prev * activation_derivative(activations[l - 2], prev["Z"], slope)
    return grads


# --------------------------------------------------------------------------
# Parameters <-> one vector theta, gradient checking
# --------------------------------------------------------------------------

def parameters_to_vector(parameters, L):
    """theta = concat_{l=1..L} [W[l].ravel(order='C'), b[l].ravel()]."""
    pieces = []
    for l in range(1, L + 1):
        pieces.append(np.ravel(parameters["W" + str(l)], order="C"))
        pieces.append(np.ravel(parameters["b" + str(l)], order="C"))
    return np.concatenate(pieces)


def vector_to_parameters(theta, layer_dims):
    """Inverse of parameters_to_vector: W[l] = next n[l]*n[l-1] values reshaped (n[l], n[l-1]) C order, b[l] = next n[l] values as (n[l], 1)."""
    theta = np.asarray(theta)
    parameters = {}
    pos = 0
    for l in range(1, len(layer_dims)):
        n_cur, n_prev = layer_dims[l], layer_dims[l - 1]
        parameters["W" + str(l)] = theta[pos:pos + n_cur * n_prev].reshape((n_cur, n_prev), order="C").copy()
        pos += n_cur * n_prev
        parameters["b" + str(l)] = theta[pos:pos + n_cur].reshape((n_cur, 1)).copy()
        pos += n_cur
    assert pos == theta.shape[0], "theta has %d values, layer_dims need %d" % (theta.shape[0], pos)
    return parameters


def gradients_to_vector(grads, L):
    """dtheta = concat_{l=1..L} [dW[l].ravel(order='C'), db[l].ravel()]."""
    pieces = []
    for l in range(1, L + 1):
        pieces.append(np.ravel(grads["dW" + str(l)], order="C"))
        pieces.append(np.ravel(grads["db" + str(l)], order="C"))
    return np.concatenate(pieces)


def gradient_check(parameters, X, Y, activations, output, epsilon=1e-7, lambd=0.0, l1=0.0, slope=0.01,
                   keep_probs=None, masks=None):
    """dtheta_approx[i] = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps);  difference = ||approx - grad||_2 / (||approx||_2 + ||grad||_2).

    Returns (difference, grad_approx_vector, grad_vector).  J includes the
    regularization terms.  keep_probs / masks (optional, an extension) FIX the
    dropout masks so that J is a deterministic function of theta.
    """
    L = _num_layers(parameters)
    layer_dims = layer_dims_of(parameters)
    theta = parameters_to_vector(parameters, L)
    dt = theta.dtype
    eps = _c(epsilon, dt)

    def J(th):
        p = vector_to_parameters(th, layer_dims)
        AL, _ = forward(X, p, activations, slope, keep_probs, masks)
        return compute_cost_with_regularization(AL, Y, p, output, lambd, l1)

    AL, caches = forward(X, parameters, activations, slope, keep_probs, masks)
    grad = gradients_to_vector(backward(AL, Y, caches, activations, output, lambd, l1, slope, keep_probs, masks), L)

    grad_approx = np.zeros_like(theta)
    for i in range(theta.shape[0]):
        theta_plus = theta.copy()
        theta_plus[i] = theta_plus[i] + eps
        theta_minus = theta.copy()
        theta_minus[i] = theta_minus[i] - eps
        grad_approx[i] = (J(theta_plus) - J(theta_minus)) / (_c(2, dt) * eps)

    numerator = np.linalg.norm(grad_approx - grad)
    denominator = np.linalg.norm(grad_approx) + np.linalg.norm(grad)
    difference = numerator / denominator
    return difference, grad_approx, grad


# --------------------------------------------------------------------------
# Optimizers (all return NEW dicts; inputs are left untouched)
# --------------------------------------------------------------------------

def _keys(parameters):
    """Yield ("W1", "dW1"), ("b1", "db1"), ..., ("bL", "dbL")."""
    for l in range(1, _num_layers(parameters) + 1):
        for p in ("W", "b"):
            yield p + str(l), "d" + p + str(l)


def update_parameters_with_gd(parameters, grads, learning_rate):
    """W[l] = W[l] - alpha dW[l];  b[l] = b[l] - alpha db[l].  Returns a new parameters dict."""
    new_parameters = {}
    for k, dk in _keys(parameters):
        P = parameters[k]
        new_parameters[k] = P - _c(learning_rate, P.dtype) * grads[dk]
    return new_parameters


def initialize_velocity(parameters):
    """v["dW{l}"] = zeros_like(W[l]);  v["db{l}"] = zeros_like(b[l])."""
    return {dk: np.zeros_like(parameters[k]) for k, dk in _keys(parameters)}


def update_parameters_with_momentum(parameters, grads, v, beta, learning_rate):
    """v = beta v + (1 - beta) dW;  W = W - alpha v  (same for b).  Returns (new parameters, new v)."""
    new_parameters, new_v = {}, {}
    for k, dk in _keys(parameters):
        P = parameters[k]
        dt = P.dtype
        b_ = _c(beta, dt)
        new_v[dk] = b_ * v[dk] + (_c(1, dt) - b_) * grads[dk]
        new_parameters[k] = P - _c(learning_rate, dt) * new_v[dk]
    return new_parameters, new_v


def initialize_rmsprop(parameters):
    """s["dW{l}"] = zeros_like(W[l]);  s["db{l}"] = zeros_like(b[l])."""
    return {dk: np.zeros_like(parameters[k]) for k, dk in _keys(parameters)}


def update_parameters_with_rmsprop(parameters, grads, s, beta, learning_rate, epsilon):
    """s = beta s + (1 - beta) dW^2;  W = W - alpha dW / (sqrt(s) + epsilon)  (same for b).  Returns (new parameters, new s)."""
    new_parameters, new_s = {}, {}
    for k, dk in _keys(parameters):
        P = parameters[k]
        dt = P.dtype
        b_ = _c(beta, dt)
        g = grads[dk]
        new_s[dk] = b_ * s[dk] + (_c(1, dt) - b_) * (g * g)
        new_parameters[k] = P - _c(learning_rate, dt) * g / (np.sqrt(new_s[dk]) + _c(epsilon, dt))
    return new_parameters, new_s


def initialize_adam(parameters):
    """(v, s) with v["dW{l}"] = s["dW{l}"] = zeros_like(W[l]) and likewise for b."""
    return initialize_velocity(parameters), initialize_rmsprop(parameters)


def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """v = b1 v + (1-b1) dW;  s = b2 s + (1-b2) dW^2;  v_hat = v/(1-b1^t);  s_hat = s/(1-b2^t);  W = W - alpha v_hat/(sqrt(s_hat) + eps).

    t >= 1 is the number of updates so far INCLUDING this one (the caller
    increments t before calling).  Returns (new parameters, new v, new s);
    v_hat / s_hat are not returned.
    """
    assert t >= 1, "t counts updates from 1"
    new_parameters, new_v, new_s = {}, {}, {}
    for k, dk in _keys(parameters):
        P = parameters[k]
        dt = P.dtype
        one = _c(1, dt)
        b1, b2 = _c(beta1, dt), _c(beta2, dt)
        g = grads[dk]
        new_v[dk] = b1 * v[dk] + (one - b1) * g
        new_s[dk] = b2 * s[dk] + (one - b2) * (g * g)
        v_hat = new_v[dk] / (one - b1 ** t)
        s_hat = new_s[dk] / (one - b2 ** t)
        new_parameters[k] = P - _c(learning_rate, dt) * v_hat / (np.sqrt(s_hat) + _c(epsilon, dt))
    return new_parameters, new_v, new_s


# --------------------------------------------------------------------------
# Learning-rate decay (plain Python floats)
# --------------------------------------------------------------------------

def lr_inverse_decay(lr0, epoch, decay_rate):
    """alpha = alpha0 / (1 + decay_rate * epoch)."""
    return lr0 / (1.0 + decay_rate * epoch)


def lr_staircase(lr0, epoch, decay_rate, time_interval):
    """alpha = alpha0 / (1 + decay_rate * floor(epoch / time_interval))."""
    return lr0 / (1.0 + decay_rate * math.floor(epoch / time_interval))


def lr_exponential(lr0, epoch, rate):
    """alpha = alpha0 * rate^epoch."""
    return lr0 * rate ** epoch


def lr_sqrt_epoch(lr0, epoch, k):
    """alpha = k / sqrt(epoch) * alpha0   (the caller passes epoch_num starting at 1)."""
    assert epoch >= 1, "epoch_num starts at 1 for this schedule"
    return k / math.sqrt(epoch) * lr0


def lr_sqrt_step(lr0, t, k):
    """alpha = k / sqrt(t) * alpha0   (t = 1-based count of mini-batch updates)."""
    assert t >= 1, "t counts mini-batch updates from 1"
    return k / math.sqrt(t) * lr0


# --------------------------------------------------------------------------
# Exponentially weighted averages
# --------------------------------------------------------------------------

def ewa(thetas, beta, bias_correction=False):
    """v_0 = 0;  v_t = beta v_{t-1} + (1 - beta) theta_t;  bias-corrected: v_t / (1 - beta^t);  returns [v_1, ..., v_T]."""
    thetas = np.asarray(thetas)
    dt = _float_dtype(thetas)
    thetas = thetas.astype(dt)
    one = _c(1, dt)
    b_ = _c(beta, dt)
    out = np.empty_like(thetas)
    v = np.zeros_like(thetas[0])
    for t in range(1, thetas.shape[0] + 1):
        v = b_ * v + (one - b_) * thetas[t - 1]
        out[t - 1] = v / (one - b_ ** t) if bias_correction else v
    return out


# --------------------------------------------------------------------------
# Mini-batches and one training epoch
# --------------------------------------------------------------------------

def random_mini_batches(X, Y, mini_batch_size, permutation):
    """shuffled_X = X[:, permutation], shuffled_Y likewise; batches of mini_batch_size consecutive columns, last smaller batch kept.

    Y may be (n_y, m) or integer labels (m,).  Returns a list of (X_t, Y_t).
    """
    X = np.asarray(X)
    Y = np.asarray(Y)
    permutation = np.asarray(permutation)
    m = X.shape[1]
    assert permutation.shape == (m,) and np.array_equal(np.sort(permutation), np.arange(m)), \
        "permutation must be a permutation of range(m)"
    shuffled_X = X[:, permutation]
    shuffled_Y = Y[permutation] if Y.ndim == 1 else Y[:, permutation]
    mini_batches = []
    num_complete = m // mini_batch_size
    for k in range(num_complete):
        cols = slice(k * mini_batch_size, (k + 1) * mini_batch_size)
        mini_batches.append((shuffled_X[:, cols], shuffled_Y[cols] if Y.ndim == 1 else shuffled_Y[:, cols]))
    if m % mini_batch_size != 0:
        cols = slice(num_complete * mini_batch_size, m)
        mini_batches.append((shuffled_X[:, cols], shuffled_Y[cols] if Y.ndim == 1 else shuffled_Y[:, cols]))
    return mini_batches


def train_epoch(X, Y, parameters, activations, output, permutation, mini_batch_size, optimizer, state,
                learning_rate, lambd=0.0, l1=0.0, slope=0.01, lr_step_k=None):
    """Per mini-batch: J_t = cost with regularization (before the update), backprop, t += 1, update;  epoch_cost = sum_t m_t J_t / m.

    optimizer: "gd" | "momentum" | "rmsprop" | "adam".  `state` is UPDATED IN
    PLACE and holds the hyperparameters and moments:
      momentum: "beta", "v";  rmsprop: "beta", "epsilon", "s";
      adam: "beta1", "beta2", "epsilon", "v", "s";  all: "t" (updates so far).
    Missing "v" / "s" are initialized to zeros and a missing "t" to 0.
    If lr_step_k is given the rate of the update is lr_sqrt_step(learning_rate, t, lr_step_k).
    Returns (new parameters, epoch_cost).
    """
    if optimizer not in ("gd", "momentum", "rmsprop", "adam"):
        raise ValueError("unknown optimizer: %r" % (optimizer,))
    X = np.asarray(X)
    dt = X.dtype
    m = X.shape[1]
    state.setdefault("t", 0)
    if optimizer in ("momentum", "adam") and "v" not in state:
        state["v"] = initialize_velocity(parameters)
    if optimizer in ("rmsprop", "adam") and "s" not in state:
        state["s"] = initialize_rmsprop(parameters)

    cost_total = _c(0, dt)
    for X_t, Y_t in random_mini_batches(X, Y, mini_batch_size, permutation):
        m_t = X_t.shape[1]
        AL, caches = forward(X_t, parameters, activations, slope)
        J_t = compute_cost_with_regularization(AL, Y_t, parameters, output, lambd, l1)
        cost_total = cost_total + _c(m_t, dt) * J_t
        grads = backward(AL, Y_t, caches, activations, output, lambd, l1, slope)
        state["t"] += 1
        t = state["t"]
        lr = learning_rate if lr_step_k is None else lr_sqrt_step(learning_rate, t, lr_step_k)
        if optimizer == "gd":
            parameters = update_parameters_with_gd(parameters, grads, lr)
        elif optimizer == "momentum":
            parameters, state["v"] = update_parameters_with_momentum(parameters, grads, state["v"],
                                                                     state["beta"], lr)
        elif optimizer == "rmsprop":
            parameters, state["s"] = update_parameters_with_rmsprop(parameters, grads, state["s"],
                                                                    state["beta"], lr, state["epsilon"])
        else:
            parameters, state["v"], state["s"] = update_parameters_with_adam(
                parameters, grads, state["v"], state["s"], t, lr,
                state["beta1"], state["beta2"], state["epsilon"])
    epoch_cost = cost_total / _c(m, dt)
    return parameters, epoch_cost
