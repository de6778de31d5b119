"""pydl.Network: a dense L-layer network whose parameters live in one flat vector.

The course's notation throughout: ``layer_dims = [n_x, n_1, ..., n_L]``, ``W[l]`` of shape
``(n[l], n[l-1])``, ``b[l]`` of shape ``(n[l], 1)``. The public API takes X of shape
``(n_samples, n_features)``; read column-major, that buffer *is* the course's ``X`` of shape
``(n_x, m)``, so the C core runs the course's equations without copying.
"""
from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Mapping

import numpy as np

from pydl import _core, model_file
from pydl._checks import as_float_matrix, as_targets, check_param
from pydl.augmentation import Augmentation
from pydl.checkpoint import Checkpoint
from pydl.early_stopping import EarlyStopping
from pydl._threads import resolve_n_threads, sequential_blas
from pydl.random_state import check_seed, init_weights
from pydl.history import History
from pydl.optimizers import GradientDescent, Optimizer
from pydl.schedules import Constant, Schedule, ewa

INITIALIZERS = ("zeros", "random", "xavier", "xavier_avg", "he")
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# forward/cost work on chunks of at most this many workspace elements (bounded memory)
_CHUNK_ELEMENTS = 1 << 23
# fit hands the C loop at most this many epochs at once (bounded per-epoch arrays)
_MAX_EPOCHS_PER_CALL = 1 << 16


def _init_std(init, n_prev, n_cur, scale):
    """Standard deviation of W[l] for each initializer (the course's formulas)."""
    return {
        "zeros": 0.0,
        "random": scale,                               # randn * 0.01
        "xavier": np.sqrt(1.0 / n_prev),               # tanh
        "xavier_avg": np.sqrt(2.0 / (n_prev + n_cur)),
        "he": np.sqrt(2.0 / n_prev),                   # relu
    }[init]


class Network:
    """A dense feed-forward network, trained in compiled code.

    Parameters
    ----------
    layer_dims : sequence of int
        ``[n_x, n_1, ..., n_L]``: input size, hidden sizes, output size. Logistic regression
        is ``[n_x, 1]``.
    hidden_activation : {"relu", "leaky_relu", "tanh", "sigmoid", "linear"}, default "relu"
    output_activation : {"sigmoid", "softmax", "linear", "exp"}, default "sigmoid"
        Decides the cost: binary cross-entropy (0/1 labels, one or several independent
        outputs), categorical cross-entropy (integer class labels), squared error
        ``J = 1/(2m) sum (a - y)^2`` or, for ``exp`` (Poisson regression of counts y >= 0,
        ``a = e^z``), half the Poisson deviance ``J = 1/m sum (a - y z + y log y - y)``. In
        all four ``dZ[L] = A[L] - Y``.
    activations : sequence of str, optional
        One activation per layer ``1..L``; overrides the two arguments above.
    init : {"zeros", "random", "xavier", "xavier_avg", "he"}, default "he"
        Weights ``~ N(0, std^2)`` with std ``init_scale`` (random, 0.01 as the course),
        ``sqrt(1/n[l-1])`` (xavier), ``sqrt(2/(n[l-1]+n[l]))`` (xavier_avg) or
        ``sqrt(2/n[l-1])`` (he); biases start at zero.
    dtype : {"float32", "float64"}, default "float32"
    seed : int, numpy.random.Generator or numpy.random.RandomState, optional
        Seeds the initialization and the training randomness (shuffling, dropout): the same
        seed gives bitwise-identical training, whatever the number of threads. A
        ``RandomState`` draws the weights as the course does (``randn(n[l], n[l-1]) * std``
        per layer, in order), so ``seed=np.random.RandomState(3)`` reproduces the course's
        ``np.random.seed(3)`` initializations exactly; a Generator is used like an int's
        generator. Either then gives one draw that keys pydl's own training streams
        (counter-based Philox, thread-independent). `seed` keeps an int; it is None for a
        Generator or RandomState.
    leaky_slope : float, default 0.01
        Slope of leaky relu for z <= 0.
    init_scale : float, default 0.01
        Standard deviation of the "random" initializer.
    n_threads : int, optional
        Threads for this network's C calls; None means all usable cores (OpenMP's default,
        which honours OMP_NUM_THREADS and threadpoolctl), -1 all, -2 all but one.
    keep_probs : float or sequence of float, optional
        Inverted dropout during `fit` (never in forward/predict/cost/gradients): the
        probability of keeping each unit of a hidden layer, ``A[l] = A[l] * D[l] / keep_prob``
        with the same mask in backward propagation. One value per layer 1..L (the output's
        must be 1.0), one per hidden layer, or one float for every hidden layer; 1.0 = no
        dropout. Masks come from Philox4x32-10 keyed by seed, epoch, mini-batch, layer and
        unit, so they do not depend on the number of threads.
    normalizer : pydl.Normalizer, optional
        Stored with the network and applied to every X it is given (fit, the dev set,
        forward, predict, score, cost, gradients), so that raw inputs give the right
        answer. Fit it on the training set first.
    """

    def __init__(self, layer_dims, hidden_activation="relu", output_activation="sigmoid",
                 activations=None, init="he", dtype="float32", seed=None, *,
                 leaky_slope=0.01, init_scale=0.01, n_threads=None, keep_probs=None,
                 normalizer=None):
        try:
            dims = [d for d in layer_dims]
        except TypeError:
            raise TypeError(f"layer_dims must be a sequence of ints, got {layer_dims!r}") from None
        for name, value in (("hidden_activation", hidden_activation),
                            ("output_activation", output_activation)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be an activation name (str), got {value!r}")
        if activations is None:
            activations = [hidden_activation] * (len(dims) - 2) + [output_activation]
        elif isinstance(activations, str) or not hasattr(activations, "__iter__"):
            raise TypeError(f"activations must be a sequence of names, one per layer, "
                            f"got {activations!r}")
        else:
            activations = list(activations)
            for a in activations:
                if not isinstance(a, str):
                    raise TypeError(f"activations must hold activation names (str), got {a!r}")
        leaky_slope = check_param("leaky_slope", leaky_slope)
        self._setup(dims, activations, leaky_slope, _keep_list(keep_probs, len(dims) - 1),
                    dtype, init, n_threads)
        init_scale = check_param("init_scale", init_scale)
        seed = check_seed(seed)
        self.normalizer = normalizer
        self.seed = seed if isinstance(seed, int) else None  # a Generator is not kept
        self._train_seed = init_weights(
            [(self._params[f"W{l}"], _init_std(init, dims[l - 1], dims[l], init_scale))
             for l in range(1, self.n_layers + 1)], seed)
        self._theta_changed()
        if init == "zeros" and self.n_layers > 1:
            warnings.warn("init='zeros': every hidden unit of a layer computes the same "
                          "function and gets the same gradient, so they stay symmetric; "
                          "use a random initializer ('he', 'xavier', 'random')",
                          RuntimeWarning, stacklevel=2)

    def _setup(self, dims, activations, leaky_slope, keep_probs, dtype, init, n_threads):
        """The architecture checked, zero parameters, no training state yet."""
        self._arch = _core.Architecture(dims, activations, leaky_slope, keep_probs)
        # read on every predict: a plain attribute is ~100 ns cheaper than the property
        self._values_out = self._arch.activations[-1] in ("linear", "exp")
        try:  # None would mean float64 to NumPy: not a choice here
            dtype_ok = dtype is not None and np.dtype(dtype) in DTYPES
        except TypeError:
            dtype_ok = False
        if not dtype_ok:
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        if init not in INITIALIZERS:
            raise ValueError(f"unknown init {init!r}; expected one of {INITIALIZERS}")
        resolve_n_threads(n_threads)  # validate now, resolve at each call
        self.n_threads = n_threads
        self.init = init
        self._normalizer = None
        _core.check_fits_memory(self._arch.n_params * np.dtype(dtype).itemsize,
                                f"the {self._arch.n_params} parameters of layer_dims {dims}")
        self._theta = _core.aligned_empty(self._arch.n_params, dtype, zero=True)
        self._params = self._views(self._theta, "")  # writable: pydl's own writers
        # what users see: read-only, since predict reads the pack, which every write of
        # theta must rebuild (theta's setter and set_parameters do)
        self._theta_view = self._theta.view()
        self._theta_view.flags.writeable = False
        self._params_view = self._views(self._theta_view, "")
        pack_size = _core.pack_size(self._arch, dtype)
        _core.check_fits_memory(pack_size * np.dtype(dtype).itemsize,
                                f"the packed copy of the weights that predict reads ({pack_size} "
                                f"values: each layer's units padded to multiples of "
                                f"{64 // np.dtype(dtype).itemsize})")
        self._pack = _core.aligned_empty(pack_size, dtype)
        self._theta_changed()
        self.epochs_trained = 0
        self.optimizer = None
        self.lr_schedule = None
        self.early_stopping = None
        self.history = History()

    @classmethod
    def _from_parts(cls, dims, activations, leaky_slope, keep_probs, dtype, init, seed,
                    train_seed, n_threads):
        """A network with zero parameters from a model file's parts (checked here)."""
        net = cls.__new__(cls)
        net._setup(dims, activations, leaky_slope, keep_probs, dtype, init, n_threads)
        net.seed = seed
        net._train_seed = train_seed
        return net

    # ---- the model file, pickle and copies --------------------------------------------

    def save(self, file, training_state=True):
        """Write the network to a model file (see the README's "The model file").

        Parameters
        ----------
        file : str, os.PathLike or binary file-like object
            A path is written atomically: a temporary file in the same directory, flushed,
            fsync'ed and renamed over it, so the path always holds a complete file.
        training_state : bool, default True
            Also store what continuing training needs: the optimizer (kind, hyperparameters,
            t, v, s), the learning-rate schedule, `epochs_trained` (the position of the
            shuffle, dropout and augmentation streams), the early-stopping state and the
            history. Without it the file holds what predicting needs: the architecture, the
            normalizer, theta and the seeds.
        """
        if not isinstance(training_state, bool):
            raise TypeError(f"training_state must be a bool, got {training_state!r}")
        model_file.save(self, file, training_state)

    def __reduce__(self):
        # pickle goes through the model file: nothing is pickled that a file could not hold
        return model_file.from_bytes, (model_file.to_bytes(self),)

    def __copy__(self):
        return model_file.from_bytes(model_file.to_bytes(self))

    def __deepcopy__(self, memo):
        return self.__copy__()

    # ---- description ----------------------------------------------------------------

    @property
    def layer_dims(self):
        """``[n_x, n_1, ..., n_L]``"""
        return [int(d) for d in self._arch.dims]

    @property
    def activations(self):
        """The activation of each layer 1..L."""
        return list(self._arch.activations)

    @property
    def n_layers(self):
        """L, the number of layers with parameters."""
        return len(self._arch.dims) - 1

    @property
    def output_activation(self):
        return self._arch.activations[-1]

    @property
    def leaky_slope(self):
        return self._arch.leaky_slope

    @property
    def normalizer(self):
        """The input normalizer applied to every X (None: inputs are used as given)."""
        return self._normalizer

    @normalizer.setter
    def normalizer(self, value):
        if value is not None:
            if not callable(getattr(value, "transform", None)):
                raise TypeError(f"normalizer must be a fitted pydl.Normalizer (with transform), "
                                f"got {type(value).__name__}")
            n = getattr(value, "n_features_", None)
            if n is None:
                raise ValueError("normalizer must be fitted on the training set first")
            if n != self.layer_dims[0]:
                raise ValueError(f"normalizer was fitted on {n} features; the network "
                                 f"takes {self.layer_dims[0]}")
        self._normalizer = value

    def _input(self, X, name="X", scan=False, n_threads=1):
        """X as the C core takes it: normalized if the network has a normalizer, then a
        C-contiguous (n_samples, n_x) array of the network's dtype, converted once. Not
        scanned for NaN/inf unless asked: the door scans what reaches C, once per call."""
        n_x = self.layer_dims[0]
        if self._normalizer is not None:
            X = self._normalizer._apply(as_float_matrix(X, name, n_x, np.float64, scan=False))
        return as_float_matrix(X, name, n_x, self.dtype, n_threads, scan)

    @property
    def keep_probs(self):
        """Dropout keep_prob of each layer 1..L during fit (1.0: no dropout)."""
        return [float(k) for k in self._arch.keep_probs]

    @keep_probs.setter
    def keep_probs(self, value):
        self._arch = _core.Architecture(self._arch.dims, self._arch.activations,
                                        self._arch.leaky_slope,
                                        _keep_list(value, self.n_layers))

    @property
    def dtype(self):
        return self._theta.dtype

    def __repr__(self):
        return (f"Network(layer_dims={self.layer_dims}, activations={self.activations}, "
                f"dtype='{self.dtype.name}')")

    # ---- parameters -----------------------------------------------------------------

    def _views(self, flat, prefix):
        """Dict of (n[l], n[l-1]) and (n[l], 1) views into a flat vector laid out like theta."""
        views, off, dims = {}, 0, self.layer_dims
        for l in range(1, len(dims)):
            n, n_prev = dims[l], dims[l - 1]
            views[f"{prefix}W{l}"] = flat[off:off + n * n_prev].reshape(n, n_prev)
            off += n * n_prev
            views[f"{prefix}b{l}"] = flat[off:off + n].reshape(n, 1)
            off += n
        return views

    def _theta_changed(self):
        """Rebuild the inference copy that predict reads (each layer's W^T in 64-byte panels
        and its bias: _core.pack) from theta: after every write of theta."""
        _core.pack(self._arch, self._theta, self._pack)

    @property
    def theta(self):
        """All parameters as one flat vector: for l = 1..L, W[l] (row-major) then b[l]. A
        read-only view: set it whole (``net.theta = values``) or in parts
        (`set_parameters`)."""
        return self._theta_view

    @theta.setter
    def theta(self, value):
        value = np.asarray(value)
        if value.shape != self._theta.shape:
            raise ValueError(f"theta must have shape {self._theta.shape}, got {value.shape}")
        if value.dtype.kind not in "biuf":
            raise TypeError(f"theta must hold real numbers, got dtype {value.dtype}")
        with np.errstate(over="ignore"):
            value = value.astype(self.dtype)
        if not np.isfinite(value).all():
            raise ValueError(f"theta must hold finite {self.dtype.name} numbers")
        self._theta[...] = value  # in place: the views in `parameters` stay valid
        self._theta_changed()

    @property
    def parameters(self):
        """``{"W1": ..., "b1": ..., ..., "WL": ..., "bL": ...}``: read-only views into
        `theta` (they follow every change; write with `set_parameters`)."""
        return dict(self._params_view)

    def set_parameters(self, values):
        """Write some or all of W1, b1, ..., WL, bL: ``values`` maps those names to arrays
        of their shapes (b[l]: (n[l], 1) or (n[l],)), real and finite once converted to the
        network's dtype. All are checked before any is written. Returns the network."""
        if not isinstance(values, Mapping):
            raise TypeError(f"values must be a dict like net.parameters, got "
                            f"{type(values).__name__}")
        checked = {}
        for key, value in values.items():
            if key not in self._params:
                raise ValueError(f"unknown parameter {key!r}; expected some of "
                                 f"{list(self._params)}")
            view = self._params[key]
            a = np.asarray(value)
            if a.dtype.kind not in "biuf":
                raise TypeError(f"{key} must hold real numbers, got dtype {a.dtype}")
            if a.shape != view.shape and not (key[0] == "b" and a.shape == view.shape[:1]):
                raise ValueError(f"{key} must have shape {view.shape}, got {a.shape}")
            with np.errstate(over="ignore"):
                a = a.astype(self.dtype).reshape(view.shape)
            if not np.isfinite(a).all():
                raise ValueError(f"{key} must hold finite {self.dtype.name} numbers")
            checked[key] = a
        for key, a in checked.items():
            self._params[key][...] = a
        self._theta_changed()
        return self

    def _flatten_gradients(self, grads):
        """The flat vector (theta's layout) of a dict with keys dW1, db1, ..., dWL, dbL."""
        if not isinstance(grads, Mapping):
            raise TypeError(f"grads must be a dict like net.gradients() returns, "
                            f"got {type(grads).__name__}")
        flat = np.empty_like(self._theta)
        for key, view in self._views(flat, "d").items():
            if key not in grads:
                raise ValueError(f"grads is missing {key!r}")
            g = np.asarray(grads[key])
            if g.dtype.kind not in "biuf":
                raise TypeError(f"grads[{key!r}] must hold real numbers, got dtype {g.dtype}")
            if g.shape != view.shape:
                raise ValueError(f"grads[{key!r}] must have shape {view.shape}, got {g.shape}")
            view[...] = g
        if not np.isfinite(flat).all():
            raise ValueError("grads contain NaN or infinity")
        return flat

    # ---- inference ------------------------------------------------------------------

    def _threads(self, n_threads):
        n = self.n_threads if n_threads is None else n_threads
        # 1 needs no resolving: 0.2 us of a 1.4 us predict on a small network
        return n if type(n) is int and n == 1 else resolve_n_threads(n)

    def _chunk_rows(self):
        per_row = self._arch.workspace(self.dtype, 1).shape[0] - self._arch.n_params
        return max(1, _CHUNK_ELEMENTS // per_row)

    def forward(self, X, n_threads=None, *, masks=None, keep_probs=None, out=None):
        """A[L] for every example: forward propagation ``Z[l] = W[l] A[l-1] + b[l]``,
        ``A[l] = g[l](Z[l])``.

        The inference path: it changes no thread pool's limits, writes no global state and
        allocates nothing but the returned array (nothing at all with `out`) when X is a
        2-D array of the network's dtype with contiguous rows and the network has no
        normalizer; otherwise X is converted (normalized) first, once. One network may
        predict from many threads at once. Each output is computed in a fixed order: the
        same bits whatever `n_threads` and whichever other rows share the call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_x)
        n_threads : int, optional
            Overrides the network's `n_threads`; calls below a few million multiply-adds
            (a few examples of a mid-sized network) run on the calling thread anyway.
        masks, keep_probs : optional
            Inverted dropout with given masks, ``A[l] = A[l] * D[l] / keep_prob``: see
            `gradients`. Without masks there is no dropout (as in predict); with them the
            training step's kernels compute it (not the inference path).
        out : ndarray of shape (n_samples, n_L), optional
            Of the network's dtype, C-contiguous: written in place and returned (without
            masks).

        Returns
        -------
        ndarray of shape (n_samples, n_L), of the network's dtype
        """
        if masks is not None or keep_probs is not None:
            if out is not None:
                raise ValueError("out is for the inference path: forward without masks")
            return self._propagate(X, masks=masks, keep_probs=keep_probs, out=True)[0]
        return self._predict(X, _core.PREDICT_OUTPUTS, n_threads, out)

    def _predict(self, X, kind, n_threads, out):
        """The door's predict, with X converted unless it can be read as it is."""
        if self._normalizer is not None or not _core.reads_in_place(self._arch, self._theta, X):
            X = self._input(X)  # converted (normalized), once
        return _core.predict(self._arch, self._pack, X, out, kind, self._threads(n_threads))

    def _forward_array(self, X, n_threads=None):
        """forward for an X already converted to the network's dtype."""
        return _core.predict(self._arch, self._pack, X, None, _core.PREDICT_OUTPUTS,
                             self._threads(n_threads))

    def predict_proba(self, X, n_threads=None, *, out=None):
        """Output probabilities A[L], shape (n_samples, n_L): P(y_k = 1 | x) for sigmoid
        outputs, the class distribution for softmax. `n_threads` and `out` as in
        `forward`."""
        if self._values_out:
            raise ValueError("predict_proba needs a sigmoid or softmax output; this network's "
                             f"output is {self.output_activation} (use predict)")
        return self._predict(X, _core.PREDICT_OUTPUTS, n_threads, out)

    def predict(self, X, n_threads=None, *, out=None):
        """Class labels (0/1 per output for sigmoid, the argmax for softmax) or, for a linear
        output, the values. Shape (n_samples,) for one output or softmax, else
        (n_samples, n_L); labels are int64. `n_threads` and `out` (of that shape and
        dtype) as in `forward`: labels are decided in C, with no array but the answer."""
        if not self._values_out:  # (exp: Poisson regression)
            return self._predict(X, _core.PREDICT_LABELS, n_threads, out)
        if self.layer_dims[-1] > 1:
            return self._predict(X, _core.PREDICT_OUTPUTS, n_threads, out)
        # one linear (or exp) output: (n_samples,) values, written through an (n_samples, 1) view
        column = out.reshape(-1, 1) if isinstance(out, np.ndarray) and out.ndim == 1 else out
        values = self._predict(X, _core.PREDICT_OUTPUTS, n_threads, column)
        return out if column is not None else values[:, 0]

    def to_onnx(self, file=None, opset=17):
        """The network as an ONNX model (onnx.ModelProto), also written to `file` if given:
        the normalizer, every layer (Gemm and its activation) in the network's dtype, input
        ``X`` (N, n_x) with a dynamic batch N, outputs ``probabilities`` (or ``values`` for
        a linear output) and, for classifiers, ``label`` as `predict` gives it. Needs
        ``pip install "pydl[onnx]"``; `opset` from 13 up. See pydl.onnx."""
        from pydl.onnx import to_onnx

        return to_onnx(self, file, opset)

    def _decide(self, A):
        """predict's answer from the output activations A[L]."""
        if self.output_activation == "softmax":
            return A.argmax(axis=1)
        if self.output_activation == "sigmoid":
            A = (A > 0.5).astype(np.int64)
        return A[:, 0] if A.shape[1] == 1 else A

    def score(self, X, y):
        """Accuracy for classifiers (fraction of examples whose every output is right), R^2
        for a linear output."""
        pred = self.predict(X)
        Y, labels = self._targets(y, pred.shape[0])
        return self._score_arrays(pred, Y, labels)

    def _score_arrays(self, pred, Y, labels):
        """score from predictions and converted targets."""
        y = labels if labels is not None else Y
        if self.output_activation in ("linear", "exp"):  # regression: R^2
            y = y.reshape(pred.shape).astype(np.float64)
            ss_res = ((y - pred) ** 2).sum()
            ss_tot = ((y - y.mean(axis=0)) ** 2).sum()
            return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else float(ss_res == 0)
        y = y.reshape(pred.shape)
        right = pred == y
        return float(right.all(axis=1).mean() if right.ndim == 2 else right.mean())

    # ---- cost and gradients ---------------------------------------------------------

    def _targets(self, y, m):
        return as_targets(y, "y", m, self.output_activation, self.layer_dims[-1], self.dtype)

    def cost(self, X, y, l2=0.0, l1=0.0):
        """The cost J on (X, y), with the regularization terms
        ``l2/(2m) sum ||W[l]||_F^2 + l1/m sum |W[l]|`` (weights only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_x)
        y : array-like
            0/1 labels of shape (n_samples,) or (n_samples, n_L) for a sigmoid output;
            integer classes 0..n_L-1 of shape (n_samples,) for softmax; values for linear.
        l2, l1 : float, default 0
            Regularization strengths (the course's lambda).
        """
        l2 = check_param("l2", l2)
        l1 = check_param("l1", l1)
        X = self._input(X)
        Y, labels = self._targets(y, X.shape[0])
        return self._cost_arrays(X, Y, labels, l2, l1)

    def _cost_arrays(self, X, Y, labels, l2=0.0, l1=0.0):
        """cost for X and targets already converted."""
        m, rows = X.shape[0], min(X.shape[0], self._chunk_rows())
        nt = self._threads(None)
        work = self._arch.workspace(self.dtype, rows)
        total = 0.0
        with sequential_blas() as products:
            for lo in range(0, m, rows):
                hi = min(m, lo + rows)
                # J_chunk = (loss_chunk + R)/m_chunk; R (regularization) enters once
                first = lo == 0
                total += (hi - lo) * _core.cost_grad(
                    self._arch, self._theta, X[lo:hi],
                    None if Y is None else Y[lo:hi], None if labels is None else labels[lo:hi],
                    l2 if first else 0.0, l1 if first else 0.0, None, work, nt,
                    products=products)
        return total / m

    def gradients(self, X, y, l2=0.0, l1=0.0, *, masks=None, keep_probs=None):
        """Backward propagation on the whole of (X, y): ``dW[l] = (1/m) dZ[l] A[l-1]^T
        + (l2/m) W[l] + (l1/m) sign(W[l])``, ``db[l] = (1/m) sum_i dZ[l]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_x)
        y : array-like
            Targets as for `cost`.
        l2, l1 : float, default 0
        masks : sequence of array-like, optional
            Inverted dropout with these masks, as the course's
            ``forward/backward_propagation_with_dropout``: one 0/1 (or bool) array of shape
            (n_samples, n[l]) per hidden layer l = 1..L-1 -- the course's ``D[l].T`` -- or
            None for a layer without dropout. ``A[l] = A[l] * D[l] / keep_prob`` forward,
            ``dA[l] = dA[l] * D[l] / keep_prob`` backward. `dropout_masks` gives the masks
            `fit` draws in a given epoch and mini-batch.
        keep_probs : float or sequence of float, optional
            The keep probabilities the masks were drawn with (forms as for the
            constructor); default: the network's `keep_probs`.

        Returns
        -------
        dict with keys dW1, db1, ..., dWL, dbL, each of its parameter's shape (views into
        one flat vector laid out like `theta`)
        """
        if masks is not None or keep_probs is not None:
            return self._propagate(X, y, masks=masks, keep_probs=keep_probs, l2=l2, l1=l1,
                                   grad=True)[1]
        l2 = check_param("l2", l2)
        l1 = check_param("l1", l1)
        X = self._input(X)
        Y, labels = self._targets(y, X.shape[0])
        nt = self._threads(None)
        grad = np.empty_like(self._theta)
        work = self._arch.workspace(self.dtype, X.shape[0])
        with sequential_blas() as products:
            _core.cost_grad(self._arch, self._theta, X, Y, labels, l2, l1, grad, work, nt,
                            products=products)
        return self._views(grad, "d")

    # ---- training -------------------------------------------------------------------

    def fit(self, X, y, epochs=100, learning_rate=None, *, batch_size=None, optimizer=None,
            lr_schedule=None, l2=0.0, l1=0.0, shuffle=True, verbose=False, n_threads=None,
            record_steps=False, augment=None, validation_data=None, early_stopping=None,
            checkpoint=None, comm=None):
        """Train with (mini-)batch gradient descent; the whole loop runs in C.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_x)
        y : array-like
            Targets as for `cost`.
        epochs : int, default 100
            Passes over the training set. ``fit`` can be called again to continue.
        learning_rate : float, optional
            Plain gradient descent with this rate (the course's ``alpha``). Give either this
            or `optimizer`; with neither, the network's last optimizer continues (or plain
            gradient descent with 0.01 the first time).
        batch_size : int, optional
            None (or n_samples) is batch gradient descent, 1 stochastic, else mini-batches
            of this size (the last smaller one kept). Examples are reshuffled (seeded) each
            epoch when batches are smaller than the data.
        optimizer : pydl.GradientDescent, Momentum, RMSprop or Adam, optional
            Its state persists across calls.
        lr_schedule : a pydl schedule, optional
            Learning-rate decay (InverseDecay, StaircaseDecay, ExponentialDecay,
            SqrtEpochDecay, SqrtStepDecay). None: the network's last schedule continues
            (constant the first time).
        l2, l1 : float, default 0
            Regularization strengths.
        shuffle : bool, default True
        verbose : bool, default False
            Show a progress line (epoch, smoothed cost, elapsed time) on stderr.
        n_threads : int, optional
            Overrides the network's `n_threads` for this call.
        record_steps : bool, default False
            Also record the cost and learning rate of every mini-batch step.
        augment : pydl.Augmentation, optional
            Random flips and shifts of image inputs, per mini-batch, inside the C loop.
        validation_data : (X_dev, y_dev), optional
            A dev set evaluated after every epoch: its cost J (without the regularization
            terms) and, for classifiers, its accuracy go to the history.
        early_stopping : pydl.EarlyStopping, optional
            Stop when the dev cost stops improving (needs `validation_data`). None: the
            network's last one continues when `validation_data` is given.
        checkpoint : pydl.Checkpoint, optional
            Save the network (with its training state) every `checkpoint.every` epochs, and
            the best dev epoch when asked, atomically. With `comm`, rank 0 writes.
        comm : mpi4py.MPI.Intracomm, optional
            Data-parallel training (needs ``pip install "pydl[mpi]"``): every rank of `comm`
            calls fit with the same arguments and its own slice (X, y) of the training set
            (see `pydl.distributed.shard`), and they train one network in lockstep, exactly
            as one process would on the slices concatenated in rank order: `batch_size` is
            the global batch size, rank 0's parameters, optimizer state and seed are
            broadcast first, and every rank ends with the same parameters. With
            `validation_data`, each rank gives its slice of the dev set (or all of it) and
            the scores are the example-weighted means over the ranks.

        Returns
        -------
        History
            Cost and learning rate per epoch of this call (dev cost and accuracy with a dev
            set), wall time. ``net.history`` holds every epoch the network has trained.

        Raises
        ------
        KeyboardInterrupt, FloatingPointError
            On Ctrl-C, or when the cost becomes NaN or infinite. The network keeps its last
            completed update; the exception's ``history`` attribute (and ``net.history``)
            holds the epochs completed. A call that raises before its first update leaves the
            network exactly as it was.
        """
        epochs = check_param("epochs", epochs)
        l2 = check_param("l2", l2)
        l1 = check_param("l1", l1)
        optimizer = self._resolve_optimizer(optimizer, learning_rate)
        schedule = lr_schedule if lr_schedule is not None else self.lr_schedule or Constant()
        if not isinstance(schedule, Schedule):
            raise TypeError(f"lr_schedule must be a pydl schedule, got {type(schedule).__name__}")
        if augment is not None and not isinstance(augment, Augmentation):
            raise TypeError(f"augment must be a pydl.Augmentation, got {type(augment).__name__}")
        if augment is not None and np.prod(augment.image_shape) != self.layer_dims[0]:
            raise ValueError(f"augment's image_shape {augment.image_shape} does not hold the "
                             f"network's {self.layer_dims[0]} inputs")
        if checkpoint is not None and not isinstance(checkpoint, Checkpoint):
            raise TypeError(f"checkpoint must be a pydl.Checkpoint, got {type(checkpoint).__name__}")
        nt = self._threads(n_threads)
        X = self._input(X)  # train() scans it
        m = X.shape[0]
        Y, labels = self._targets(y, m)
        group = None  # the ranks of a data-parallel fit
        if comm is not None:
            from pydl import distributed
            group = distributed._Group(comm, m, self._fit_settings(
                epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                learning_rate=learning_rate, lr_schedule=lr_schedule, l2=l2, l1=l1,
                shuffle=shuffle, record_steps=record_steps, augment=augment,
                validation_data=validation_data is not None, early_stopping=early_stopping))
        m_epoch = m if group is None else group.m_global  # examples in an epoch
        batch_size = m_epoch if batch_size is None else check_param("batch_size", batch_size,
                                                                    high=m_epoch)
        dev = self._dev_set(validation_data)
        if early_stopping is None and dev is not None:
            early_stopping = self.early_stopping
        if early_stopping is not None:
            if not isinstance(early_stopping, EarlyStopping):
                raise TypeError(f"early_stopping must be a pydl.EarlyStopping, "
                                f"got {type(early_stopping).__name__}")
            if dev is None:
                raise ValueError("early_stopping needs validation_data=(X_dev, y_dev)")
        if checkpoint is not None and checkpoint.keep_best and dev is None:
            raise ValueError("Checkpoint(keep_best=True) needs validation_data=(X_dev, y_dev)")
        optimizer._check_learning_rate()
        self._check_rates(schedule, optimizer, min(epochs, 1))  # before anything changes

        # from here on the network changes; a call that fails before its first update puts
        # all of it back (the C loop checks its buffers before it starts)
        before = (self.optimizer, self.lr_schedule, self.early_stopping,
                  optimizer.v, optimizer.s, optimizer._owner, optimizer.t,
                  None if early_stopping is None else dict(vars(early_stopping)))
        optimizer._bind(self)
        if group is not None:
            group.broadcast(self, optimizer)
        self.optimizer, self.lr_schedule, self.early_stopping = optimizer, schedule, early_stopping
        if early_stopping is not None and early_stopping.stopped_epoch is not None:
            early_stopping.reset()  # it stopped the last fit: a new watch
        history = History()
        histories = (history, self.history)
        work = self._arch.workspace(self.dtype, min(batch_size, m))
        perm = np.empty(m if group is None else 2 * m_epoch, dtype=np.int32)
        data_parallel = None if group is None else (group.sum_in_place, group.m_global,
                                                    group.first, group.seconds)
        progress = np.array([optimizer.t, 0], dtype=np.int64)
        b1, b2, eps = optimizer._hyper()
        start = time.perf_counter()
        done = 0
        chunk = 1 if verbose or dev is not None else _MAX_EPOCHS_PER_CALL
        undone = False
        try:
            with sequential_blas() as products:
                while done < epochs:
                    n = min(chunk, epochs - done)
                    if checkpoint is not None:  # end the call on the next checkpoint epoch
                        n = min(n, checkpoint.every - self.epochs_trained % checkpoint.every)
                    lrs = self._check_rates(schedule, optimizer, n)
                    costs = np.empty(n)
                    steps_per_epoch = -(-m_epoch // batch_size)
                    step_costs = np.empty(n * steps_per_epoch) if record_steps else None
                    step_lrs = np.empty(n * steps_per_epoch) if record_steps else None
                    t0 = time.perf_counter()
                    try:
                        _core.train(self._arch, self._theta, optimizer.v, optimizer.s, X, Y,
                                    labels, optimizer=optimizer._kind, beta1=b1, beta2=b2,
                                    epsilon=eps, progress=progress, lrs=lrs, costs=costs,
                                    epoch0=self.epochs_trained, batch_size=batch_size,
                                    shuffle=shuffle, seed=self._train_seed, l2=l2, l1=l1,
                                    lr_step_k=schedule.step_k, n_threads=nt, work=work,
                                    perm=perm, step_costs=step_costs, step_lrs=step_lrs,
                                    augment=None if augment is None else augment._spec(),
                                    data_parallel=data_parallel, products=products)
                    finally:
                        self._theta_changed()  # before anything predicts (dev metrics)
                        k = int(progress[1])
                        steps = int(progress[0]) - optimizer.t  # completed, even if interrupted
                        optimizer.t = int(progress[0])
                        for h in histories:
                            h._extend(range(self.epochs_trained, self.epochs_trained + k),
                                      costs[:k], lrs[:k],
                                      () if step_costs is None else step_costs[:steps],
                                      () if step_lrs is None else step_lrs[:steps])
                        self.epochs_trained += k
                        done += k
                    stop = dev is not None and self._evaluate_dev(dev, histories,
                                                                  early_stopping, checkpoint,
                                                                  group)
                    if checkpoint is not None and self.epochs_trained % checkpoint.every == 0 \
                            and (group is None or group.rank == 0):
                        self._record_stops(histories, early_stopping)
                        checkpoint._save(self)
                    if stop:
                        break
                    if verbose:
                        _print_progress(history, done, epochs, time.perf_counter() - start)
                        # aim at a progress line every ~0.2 s
                        per_epoch = (time.perf_counter() - t0) / max(n, 1)
                        chunk = max(1, int(0.2 / max(per_epoch, 1e-9)))
        except BaseException as exc:
            if optimizer.t == before[6] and not history.epochs:  # nothing trained: undo
                undone = True
                (self.optimizer, self.lr_schedule, self.early_stopping,
                 optimizer.v, optimizer.s, optimizer._owner) = before[:6]
                if early_stopping is not None:
                    vars(early_stopping).update(before[7])
            if isinstance(exc, FloatingPointError):
                advised = FloatingPointError(
                    f"{exc}. Try a lower learning rate, normalizing the inputs "
                    "(zero mean, unit variance) or a smaller initialization")
                advised.layer = getattr(exc, "layer", 0)
                advised.history = history
                raise advised from None
            exc.history = history  # the epochs completed are not lost
            raise
        else:  # ended normally (all epochs, or stopped early): put the best epoch back
            if early_stopping is not None:
                early_stopping._restore(self._theta)
                self._theta_changed()
        finally:  # an interrupted or diverged fit keeps its last completed update
            history.wall_time = time.perf_counter() - start
            if group is not None:
                history.reduce_time = group.reduce_time
            if not undone:
                self._record_stops(histories, early_stopping)
                self.history.wall_time += history.wall_time
            if verbose:
                print(file=sys.stderr)
        return history

    def _fit_settings(self, **arguments):
        """What every rank of a data-parallel fit must agree on, as comparable values."""
        settings = {k: repr(v) for k, v in arguments.items()}
        settings.update(layer_dims=self.layer_dims, activations=self.activations,
                        dtype=self.dtype.name, keep_probs=self.keep_probs,
                        epochs_trained=self.epochs_trained,
                        optimizer_steps=None if self.optimizer is None else self.optimizer.t)
        return settings

    @staticmethod
    def _record_stops(histories, early_stopping):
        if early_stopping is not None:
            for h in histories:
                h.best_epoch = early_stopping.best_epoch
                h.stopped_epoch = early_stopping.stopped_epoch

    def _dev_set(self, validation_data):
        """(X_dev, Y_dev, labels_dev) converted once, or None."""
        if validation_data is None:
            return None
        try:
            X_dev, y_dev = validation_data
        except (TypeError, ValueError):
            raise TypeError("validation_data must be a pair (X_dev, y_dev)") from None
        X_dev = self._input(X_dev, "X_dev", scan=True)  # once, not at every epoch's door
        Y_dev, labels_dev = as_targets(y_dev, "y_dev", X_dev.shape[0], self.output_activation,
                                       self.layer_dims[-1], self.dtype)
        return X_dev, Y_dev, labels_dev

    def _evaluate_dev(self, dev, histories, early_stopping, checkpoint, group=None):
        """Record the dev cost (and accuracy) of the last epoch, save the best epoch if the
        checkpoint keeps it; True to stop training. With a data-parallel group, the scores
        are the means over every rank's dev examples, and rank 0 saves."""
        X_dev, Y_dev, labels_dev = dev
        with np.errstate(all="ignore"):
            cost = self._cost_arrays(X_dev, Y_dev, labels_dev)
        best = min(self.history.dev_cost, default=np.inf)  # over every fit of the network
        accuracy = None
        if self.output_activation not in ("linear", "exp"):
            pred = self._decide(self._forward_array(X_dev))
            accuracy = self._score_arrays(pred, Y_dev, labels_dev)
        if group is not None:
            cost, accuracy = group.mean(X_dev.shape[0], cost, accuracy)
        for h in histories:
            h.dev_cost.append(cost)
            if accuracy is not None:
                h.dev_accuracy.append(accuracy)
        epoch = self.epochs_trained - 1
        stop = early_stopping is not None and early_stopping._should_stop(epoch, cost,
                                                                          self._theta)
        if checkpoint is not None and checkpoint.keep_best and cost < best \
                and (group is None or group.rank == 0):
            self._record_stops(histories, early_stopping)
            checkpoint._save_best(self)
        return stop

    def _check_rates(self, schedule, optimizer, n):
        """The learning rates of the next n epochs, checked."""
        lrs = schedule.rates(optimizer.learning_rate, self.epochs_trained, n)
        bad = ~(np.isfinite(lrs) & (lrs > 0))
        if bad.any():
            epoch = self.epochs_trained + int(np.argmax(bad))
            raise ValueError(f"lr_schedule gives the learning rate {lrs[bad][0]!r} for epoch "
                             f"{epoch}; it must be finite and > 0")
        return lrs

    def _resolve_optimizer(self, optimizer, learning_rate):
        if optimizer is not None:
            if learning_rate is not None:
                raise ValueError("give either learning_rate or optimizer (set the optimizer's "
                                 "learning_rate), not both")
            if not isinstance(optimizer, Optimizer):
                raise TypeError(f"optimizer must be a pydl optimizer, got {type(optimizer).__name__}")
            return optimizer
        if learning_rate is not None:
            return GradientDescent(learning_rate)
        return self.optimizer if self.optimizer is not None else GradientDescent(0.01)

    # ---- the course's pieces: external gradients, given dropout masks, fit's batches ------

    def backward(self, X, dA, l2=0.0, l1=0.0, *, masks=None, keep_probs=None):
        """Back-propagate a loss pydl does not have: ``dA = dL/dA[L]`` per example.

        Forward propagation on X, then ``dZ[L] = dA * g[L]'(Z[L])`` (for softmax the
        Jacobian product ``a * (dA - sum_k a_k dA_k)``) and the course's backward pass. The
        gradients are those of the mean loss ``J = (1/m) sum_i L(a[i])`` (the course's
        ``1/m`` in ``dW``), plus the l2/l1 terms, so ``optimizer.step(net, grads)``
        trains on any differentiable loss.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_x)
        dA : array-like of shape (n_samples, n_L)
            Row i is ``dL(a[i])/da[i]`` at ``a[i] = net.forward(X)[i]`` (with the same
            masks): the course's ``dAL`` transposed.
        l2, l1 : float, default 0
        masks, keep_probs : optional
            Dropout with given masks, as for `gradients`.

        Returns
        -------
        dict with keys dW1, db1, ..., dWL, dbL, as `gradients`.

        Examples
        --------
        >>> A = net.forward(X)
        >>> r = A - Y
        >>> dA = np.where(abs(r) <= 1, r, np.sign(r))      # Huber loss, delta = 1
        >>> pydl.GradientDescent(0.1).step(net, net.backward(X, dA))
        """
        return self._propagate(X, dA=dA, masks=masks, keep_probs=keep_probs, l2=l2, l1=l1,
                               grad=True)[1]

    def dropout_masks(self, n_samples, epoch=0, step=0, keep_probs=None):
        """The dropout masks `fit` draws for mini-batch `step` of epoch `epoch`, to pass as
        ``masks=`` to `forward`, `gradients` or `backward`.

        Parameters
        ----------
        n_samples : int
            Examples in that mini-batch (see `mini_batches`).
        epoch : int, default 0
            The epoch as `fit` counts it (``net.epochs_trained`` before a `fit` call is the
            number of its first epoch).
        step : int, default 0
            The mini-batch's number within the epoch, from 0.
        keep_probs : optional
            Default: the network's `keep_probs`.

        Returns
        -------
        list of uint8 ndarray of shape (n_samples, n[l]), one per hidden layer (all ones
        where keep_prob is 1).
        """
        n_samples = check_param("n_samples", n_samples, high=2**31 - 1)
        epoch = check_param("epoch", epoch)
        step = check_param("step", step)
        keep = self._keep_array(keep_probs)
        return [_core.dropout_mask(self._train_seed, epoch, step, l, self.layer_dims[l],
                                   n_samples, float(keep[l - 1]))
                for l in range(1, self.n_layers)]

    def mini_batches(self, X, y, batch_size=None, epoch=0, shuffle=True):
        """The mini-batches `fit` trains on in epoch `epoch`, in order: the rows of X and y
        at the epoch's seeded permutation, full batches then one smaller last batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_x)
        y : array-like with n_samples rows
        batch_size, shuffle : as for `fit`
        epoch : int, default 0
            The epoch as `fit` counts it (``net.epochs_trained`` before a `fit` call is the
            number of its first epoch).

        Returns
        -------
        list of (X_batch, y_batch): copies of rows of X and y as given (`fit` normalizes
        them with the network's normalizer; `gradients` does too).
        """
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim != 2 or y.ndim == 0 or y.shape[0] != X.shape[0] or X.shape[0] < 1:
            raise ValueError(f"X must be 2-D with one row per example and y as many rows, got "
                             f"shapes {X.shape} and {y.shape}")
        m = X.shape[0]
        batch_size = m if batch_size is None else check_param("batch_size", batch_size, high=m)
        epoch = check_param("epoch", epoch)
        order = (_core.permutation(self._train_seed, epoch, m) if shuffle and batch_size < m
                 else np.arange(m))
        return [(X[order[k:k + batch_size]], y[order[k:k + batch_size]])
                for k in range(0, m, batch_size)]

    def _keep_array(self, keep_probs):
        """keep_probs (None: the network's) as validated float64, one per layer."""
        if keep_probs is None:
            return self._arch.keep_probs
        return _core.Architecture(self._arch.dims, self._arch.activations,
                                  self._arch.leaky_slope,
                                  _keep_list(keep_probs, self.n_layers)).keep_probs

    def _masks(self, masks, keep, m):
        """The door's uint8 (m, n[l]) masks, one per hidden layer (None: all kept)."""
        if isinstance(masks, np.ndarray) or not hasattr(masks, "__len__"):
            raise TypeError("masks must be a list of arrays, one per hidden layer")
        if len(masks) != self.n_layers - 1:
            raise ValueError(f"masks must hold one mask per hidden layer "
                             f"({self.n_layers - 1}), got {len(masks)}")
        out = []
        for i, mask in enumerate(masks):
            n = self.layer_dims[i + 1]
            if mask is None:
                out.append(np.ones((m, n), dtype=np.uint8))
                continue
            mask = np.asarray(mask)
            if mask.shape != (m, n):
                raise ValueError(f"masks[{i}] (hidden layer {i + 1}) must have shape "
                                 f"({m}, {n}) (n_samples, n[{i + 1}]), got {mask.shape}")
            if mask.dtype.kind not in "biuf" or not ((mask == 0) | (mask == 1)).all():
                raise ValueError(f"masks[{i}] must hold only 0 and 1 (or booleans)")
            out.append(np.ascontiguousarray(mask, dtype=np.uint8))
        return out

    def _propagate(self, X, y=None, *, dA=None, masks=None, keep_probs=None, l2=0.0, l1=0.0,
                   out=False, grad=False):
        """(A[L] or None, gradient dict or None) through the door's propagate."""
        l2 = check_param("l2", l2)
        l1 = check_param("l1", l1)
        X = self._input(X)
        m = X.shape[0]
        Y = labels = None
        if y is not None:
            Y, labels = self._targets(y, m)
        if dA is not None:
            dA = as_float_matrix(dA, "dA", self.layer_dims[-1], self.dtype)
            if dA.shape[0] != m:
                raise ValueError(f"dA must have one row per example ({m}), got shape "
                                 f"{dA.shape}")
        keep = None
        if masks is not None or keep_probs is not None:
            if masks is None:
                raise ValueError("keep_probs without masks: pass masks=net.dropout_masks("
                                 "n_samples, epoch, step) for the masks fit would draw, or "
                                 "your own")
            keep = self._keep_array(keep_probs)
            if (keep == 1).all():
                raise ValueError("masks were given but every keep_prob is 1.0: give "
                                 "keep_probs (or set net.keep_probs)")
            masks = self._masks(masks, keep, m)
        A = np.empty((m, self.layer_dims[-1]), dtype=self.dtype) if out else None
        g = np.empty_like(self._theta) if grad else None
        work = self._arch.workspace(self.dtype, m)
        with sequential_blas() as products:
            _core.propagate(self._arch, self._theta, X, Y, labels, dA, keep, masks, l2, l1,
                            A, g, work, self._threads(None), products=products)
        return A, None if g is None else self._views(g, "d")


def _keep_list(keep_probs, L):
    """keep_probs as one value per layer 1..L: None (no dropout), a float for every hidden
    layer, one value per hidden layer, or one per layer."""
    if keep_probs is None:
        return None
    if isinstance(keep_probs, (int, float, np.integer, np.floating)) \
            and not isinstance(keep_probs, bool):
        return [float(keep_probs)] * (L - 1) + [1.0]
    if isinstance(keep_probs, (str, bytes)) or not hasattr(keep_probs, "__iter__"):
        raise TypeError(f"keep_probs must be a number or a sequence, got {keep_probs!r}")
    keep = list(keep_probs)
    return keep + [1.0] if len(keep) == L - 1 else keep


def _print_progress(history, done, total, elapsed):
    width = 24
    filled = int(width * done / total) if total else width
    smooth = ewa(history.cost, beta=0.9, bias_correction=True)[-1] if history.cost else float("nan")
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] epoch {done}/{total}  "
          f"cost {smooth:.6g}  {elapsed:.1f}s", end="", file=sys.stderr, flush=True)
