"""scikit-learn estimators trained by pydl's compiled loop: `MLPClassifier`, `MLPRegressor`.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``: the same
constructor parameters, attributes and methods, so pipelines, grid searches, cross-validation,
``clone``, pickling and displays work as before; the training runs in pydl's C loop (one call
per epoch, the GIL released), ``lbfgs`` minimizes pydl's compiled full-batch cost and gradient
with ``scipy.optimize`` as scikit-learn does with its NumPy ones.

scikit-learn is an optional extra: ``pip install "pydl[sklearn]"``. ``import pydl`` never
imports this module.

How pydl's numbers relate to scikit-learn's for the same parameters
-------------------------------------------------------------------
- Initialization: scikit-learn's scheme by default (``init="glorot_uniform"``: W and b uniform
  in ``+-sqrt(6 / (fan_in + fan_out))``, factor 2 for logistic), drawn from NumPy's
  ``default_rng`` seeded by ``random_state``, not from scikit-learn's ``RandomState``
  sequence: the same distribution, other draws. Shuffling comes from pydl's counter-based
  stream (Philox), so the mini-batches differ from scikit-learn's too.
- ``solver="adam"`` is pydl's Adam, the course's form
  ``W -= lr * v_hat / (sqrt(s_hat) + epsilon)``; scikit-learn adds epsilon to the uncorrected
  ``sqrt(s)``: pydl with ``epsilon`` equals scikit-learn with ``epsilon * sqrt(1 - beta_2**t)``.
- ``solver="sgd"`` with ``momentum > 0`` is scikit-learn's form, computed in C:
  ``v = momentum * v - lr * g``, ``W += v`` (Nesterov: ``W += momentum * v - lr * g``). With a
  constant learning rate it equals the course's ``v = beta v + (1 - beta) dW``,
  ``W -= alpha v`` (``pydl.Momentum``) for ``beta = momentum`` and
  ``alpha = lr / (1 - momentum)``; when the rate changes (invscaling, adaptive) the velocity
  keeps the old rate's steps, which the course's form does not.
- The cost is scikit-learn's: cross-entropy (summed over the outputs of a multi-label or
  binary problem) or half the squared error, plus ``alpha / (2 n) * sum ||W||^2``; with
  ``sample_weight`` the weighted mean with ``alpha / (2 sum(w))``. One difference: for a
  multi-output regression ``loss_`` is the squared error summed over the outputs, the cost
  whose gradient both libraries follow (scikit-learn reports its mean over the outputs).
- The network computes in float32 by default (``dtype``; predictions are returned as
  float64); ``dtype=None`` computes in the input's dtype as scikit-learn does (float64
  unless X is float32), e.g. where float32 rounding matters.
- ``warm_start=True`` continues from the fitted weights *and* the optimizer's state (Adam's
  moments and step count, the momentum velocity); scikit-learn restarts its optimizer on
  every ``fit`` (scikit-learn#6091). ``partial_fit`` continues both in both libraries.
- Sparse X (CSR/CSC) is accepted as scikit-learn's MLP accepts it and converted to a dense
  array of ``dtype`` (the C loop reads dense rows): it costs ``n_samples * n_features``
  values of memory.
"""
from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("pydl.sklearn needs scikit-learn: pip install \"pydl[sklearn]\"") from exc
import scipy.optimize
import scipy.sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                      validate_data)

from pydl import _core
from pydl._checks import as_float_matrix
from pydl._threads import resolve_n_threads, sequential_blas
from pydl.network import Network
from pydl.schedules import Schedule

__all__ = ["MLPClassifier", "MLPRegressor"]

# scikit-learn's activation names -> pydl's (leaky_relu is pydl's own)
_ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
                "leaky_relu": "leaky_relu"}
# scikit-learn's names of the output activations (out_activation_) -> pydl's
_OUTPUTS = {"logistic": "sigmoid", "softmax": "softmax", "identity": "linear", "exp": "exp"}
_INITS = ("glorot_uniform", "he", "xavier", "xavier_avg", "random")


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, training, attributes."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"}), Schedule],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        # [0, 1): scikit-learn also takes 1, a velocity that never decays
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        # pydl's own
        "dtype": [StrOptions({"float32", "float64"}), None],
        "n_threads": [Integral, None],
        "keep_probs": [Interval(Real, 0, 1, closed="right"), "array-like", None],
        "l1": [Interval(Real, 0, None, closed="left")],
        "leaky_slope": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions(set(_INITS))],
    }

    def __init__(self, hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
                 learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose,
                 warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction,
                 beta_1, beta_2, epsilon, n_iter_no_change, max_fun, dtype, n_threads,
                 keep_probs, l1, leaky_slope, init):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.n_threads = n_threads
        self.keep_probs = keep_probs
        self.l1 = l1
        self.leaky_slope = leaky_slope
        self.init = init

    # ---- attributes in scikit-learn's orientation (views into network_.theta) ----------

    @property
    def coefs_(self):
        """Weights of each layer, shape ``(n_in, n_out)`` (pydl's ``W[l].T``: read-only
        views; assign a whole list to change them)."""
        net = self._fitted_network()
        p = net.parameters
        return [p[f"W{l}"].T for l in range(1, net.n_layers + 1)]

    @coefs_.setter
    def coefs_(self, coefs):
        net = self._fitted_network()
        net.set_parameters({f"W{l}": np.asarray(value).T for l, value
                            in zip(range(1, net.n_layers + 1), coefs, strict=True)})

    @property
    def intercepts_(self):
        """Biases of each layer, shape ``(n_out,)`` (read-only views; assign a whole list)."""
        net = self._fitted_network()
        p = net.parameters
        return [p[f"b{l}"][:, 0] for l in range(1, net.n_layers + 1)]

    @intercepts_.setter
    def intercepts_(self, intercepts):
        net = self._fitted_network()
        net.set_parameters({f"b{l}": value for l, value
                            in zip(range(1, net.n_layers + 1), intercepts, strict=True)})

    def _fitted_network(self):
        try:
            return self.__dict__["network_"]
        except KeyError:
            raise AttributeError(f"this {type(self).__name__} is not fitted yet") from None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ---- input ----------------------------------------------------------------------

    def _dense(self, X, dtype):
        """X (validated) as a C-contiguous array of `dtype` (a float64 value too large for
        float32 is an error that says so)."""
        if scipy.sparse.issparse(X):
            X = X.toarray()
        return as_float_matrix(X, "X", X.shape[1], dtype, resolve_n_threads(self.n_threads))

    def _forward(self, X):
        """A[L] for X: validated, densified, float64."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
                          reset=False)
        return self._forward_dense(self._dense(X, self.network_.dtype))

    def _forward_dense(self, X):
        with np.errstate(over="ignore"):
            return self.network_.forward(X).astype(np.float64)

    # ---- fitting --------------------------------------------------------------------

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, Integral) or s <= 0:
                raise ValueError(f"hidden_layer_sizes must hold integers > 0, got {sizes}")
        return [int(s) for s in sizes]

    def _fit(self, X, y, sample_weight=None, incremental=False):
        self._validate_params()
        hidden = self._hidden_sizes()
        first = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first)
        # the network's precision: dtype, else the input's (as scikit-learn computes)
        dtype = np.dtype(self.dtype or X.dtype) if first else self.network_.dtype
        X = self._dense(X, dtype)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
            if (sample_weight < 0).any() or not sample_weight.sum() > 0:
                raise ValueError("sample_weight must hold weights >= 0 with a sum > 0")
            sample_weight = sample_weight.astype(dtype)
        Y, labels = self._network_targets(y, dtype)
        n_outputs = self._n_outputs_of(Y, labels)
        self._random_state = check_random_state(self.random_state)
        if first:
            self._initialize(X.shape[1], hidden, n_outputs, dtype)
        elif self.network_.layer_dims[1:-1] != hidden or self.n_outputs_ != n_outputs:
            raise ValueError(
                f"warm_start/partial_fit continue the network {self.network_.layer_dims}; "
                f"this fit asks for hidden_layer_sizes={hidden} and {n_outputs} outputs")
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, labels, sample_weight)
        else:
            self._fit_stochastic(X, y, Y, labels, sample_weight, incremental)
        if not np.isfinite(self.network_.theta).all():  # (the C loop keeps theta finite)
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")
        return self

    def _initialize(self, n_features, hidden, n_outputs, dtype):
        """A new network (scikit-learn's _initialize): attributes and optimizer reset."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(hidden) + 2
        self.out_activation_ = self._out_activation()
        seed = int(self._random_state.randint(np.iinfo(np.int32).max))
        dims = [n_features, *hidden, n_outputs]
        acts = [_ACTIVATIONS[self.activation]] * len(hidden) + [_OUTPUTS[self.out_activation_]]
        net = Network(dims, activations=acts, init="he" if self.init == "glorot_uniform"
                      else self.init, dtype=dtype, seed=seed, leaky_slope=self.leaky_slope,
                      n_threads=self.n_threads, keep_probs=self.keep_probs)
        if self.init == "glorot_uniform":  # scikit-learn's scheme (its _init_coef)
            rng = np.random.default_rng(seed)
            factor = 2.0 if self.activation == "logistic" else 6.0
            params = {}
            for l in range(1, len(dims)):
                bound = np.sqrt(factor / (dims[l - 1] + dims[l]))
                params[f"W{l}"] = rng.uniform(-bound, bound, (dims[l], dims[l - 1]))
                params[f"b{l}"] = rng.uniform(-bound, bound, (dims[l], 1))
            net.set_parameters(params)
        self.network_ = net
        self._best_theta = net.theta.copy()
        self._opt_state = None
        if self.solver != "lbfgs":
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _fit_lbfgs(self, X, Y, labels, sample_weight):
        net = self.network_
        theta = net._theta  # written by every evaluation: the pack is rebuilt at the end
        grad = np.empty_like(theta)
        arch = net._arch
        work = arch.workspace(net.dtype, X.shape[0])
        nt = resolve_n_threads(self.n_threads)
        last = {"cost": np.nan, "iteration": 0}

        def cost_and_gradient(x):
            theta[...] = x
            cost = _core.cost_grad(arch, theta, X, Y, labels, self.alpha, self.l1, grad, work,
                                   nt, sample_weight=sample_weight, products=products)
            last["cost"] = cost
            return cost, grad.astype(np.float64)

        def report(*_):  # after each iteration (whatever scipy's callback signature)
            last["iteration"] += 1
            print(f"Iteration {last['iteration']}, loss = {last['cost']:.8f}")

        x0 = theta.astype(np.float64)
        # (every evaluation runs the path decided here: cost_and_gradient reads `products`)
        with sequential_blas(any_path=True) as products, \
                np.errstate(over="ignore", invalid="ignore"):
            res = scipy.optimize.minimize(
                cost_and_gradient, x0, method="L-BFGS-B", jac=True,
                callback=report if self.verbose else None,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        if res.status != 0:
            warnings.warn(f"lbfgs failed to converge after {res.nit} iteration(s) "
                          f"(status={res.status}): {res.message}. Increase max_iter (or "
                          "max_fun), or scale the data (StandardScaler).", ConvergenceWarning)
        theta[...] = res.x
        net._theta_changed()
        self.n_iter_ = int(res.nit)
        self.loss_ = float(res.fun)

    def _optimizer_kind(self):
        if self.solver == "adam":
            return "adam"
        if self.momentum == 0:
            return "gd"
        return "nesterov" if self.nesterovs_momentum else "sgd_momentum"

    def _fit_stochastic(self, X, y, Y, labels, sample_weight, incremental):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if not hasattr(self, "loss_curve_"):  # warm start from an lbfgs fit
            self.loss_curve_, self._no_improvement_count = [], 0
            self.best_loss_ = None if self.early_stopping else np.inf
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -np.inf if self.early_stopping else None
        net = self.network_
        kind = self._optimizer_kind()
        state = self._opt_state
        if state is None or state["kind"] != kind:
            P = net.theta.shape[0]
            state = self._opt_state = {
                "kind": kind, "t": 0,
                "v": np.zeros(P, net.dtype) if kind != "gd" else None,
                "s": np.zeros(P, net.dtype) if kind == "adam" else None}
        # the learning rate: fit starts at learning_rate_init, partial_fit continues
        if not incremental or "lr" not in state:
            state["lr"] = float(self.learning_rate_init)

        X_val = y_val = sw_val = None
        sw = sample_weight
        if self.early_stopping:
            stratify = y if is_classifier(self) and self.n_outputs_ == 1 else None
            train, val = train_test_split(np.arange(X.shape[0]), random_state=self._random_state,
                                          test_size=self.validation_fraction, stratify=stratify)
            if val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            X_val, y_val = X[val], self._score_targets(y[val])
            sw_val = None if sw is None else sw[val].astype(np.float64)
            X, sw = X[train], None if sw is None else np.ascontiguousarray(sw[train])
            Y = None if Y is None else np.ascontiguousarray(Y[train])
            labels = None if labels is None else np.ascontiguousarray(labels[train])
            if sw is not None and not sw.sum() > 0:
                raise ValueError("the sample weights of the training part (after the "
                                 "early-stopping split) sum to 0")
        m = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, m)
        else:
            if self.batch_size > m:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, m))

        arch = net._arch
        work = arch.workspace(net.dtype, batch_size)
        perm = np.empty(m, dtype=np.int32)
        progress = np.zeros(2, dtype=np.int64)
        nt = resolve_n_threads(self.n_threads)
        b1, b2, eps = (self.beta_1, self.beta_2, self.epsilon) if kind == "adam" else \
            (self.momentum, 0.0, 1.0)
        left = 1 if incremental else self.max_iter
        self.n_iter_ = 0  # as scikit-learn's: the epochs of this call (t_ counts them all)
        with sequential_blas() as products:
            try:
                while left > 0:
                    # One C call trains every epoch after which training cannot stop nor
                    # change its learning rate (the no-improvement count cannot pass
                    # n_iter_no_change sooner); their bookkeeping follows, epoch by epoch.
                    # Early stopping looks at the dev set after each epoch: one at a time.
                    n = 1 if self.early_stopping else int(min(
                        left, self.n_iter_no_change + 1 - self._no_improvement_count))
                    n = max(n, 1)
                    lrs, step_k = self._learning_rates(n, m, state)
                    costs = np.empty(n)
                    progress[:] = state["t"], 0
                    try:
                        _core.train(arch, net._theta, state["v"], state["s"], X, Y, labels,
                                    optimizer=kind, beta1=b1, beta2=b2, epsilon=eps,
                                    progress=progress, lrs=lrs, costs=costs,
                                    epoch0=net.epochs_trained, batch_size=batch_size,
                                    shuffle=self.shuffle, seed=net._train_seed, l2=self.alpha,
                                    l1=self.l1, lr_step_k=step_k, n_threads=nt, work=work,
                                    perm=perm, sample_weight=sw, products=products)
                    except FloatingPointError as exc:
                        raise ValueError(
                            f"{exc}. Try a lower learning_rate_init or scaling the inputs "
                            "(StandardScaler)") from None
                    finally:  # the completed epochs count, however the call ended
                        net._theta_changed()  # before the validation score predicts
                        done = int(progress[1])
                        state["t"] = int(progress[0])
                        net.epochs_trained += done
                        stop = any([self._end_epoch(float(c), m, X_val, y_val, sw_val, state)
                                    for c in costs[:done]])
                    left -= n
                    if stop:
                        break
                if not incremental and left == 0 and not stop:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter})"
                                  " reached and the optimization hasn't converged yet.",
                                  ConvergenceWarning)
            except KeyboardInterrupt:
                warnings.warn("Training interrupted by user.")
        if self.early_stopping:  # the best epoch's weights
            net.theta = self._best_theta

    def _learning_rates(self, n, m, state):
        """The learning rates of the next n epochs and the per-step k (SqrtStepDecay)."""
        if isinstance(self.learning_rate, Schedule):
            first = self.network_.epochs_trained
            return (self.learning_rate.rates(self.learning_rate_init, first, n),
                    self.learning_rate.step_k)
        lrs = np.full(n, state["lr"])
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            # after each epoch: learning_rate_init / (t_ + 1) ** power_t, t_ = samples seen
            t = self.t_ + m * np.arange(1, n)
            lrs[1:] = self.learning_rate_init / (t + 1.0) ** self.power_t
        return lrs, 0.0

    def _end_epoch(self, loss, m, X_val, y_val, sw_val, state):
        """scikit-learn's bookkeeping after an epoch; True to stop."""
        self.n_iter_ += 1
        self.loss_ = loss
        self.t_ += m
        self.loss_curve_.append(loss)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
        theta = self.network_.theta
        if self.early_stopping:
            score = self._score_dense(X_val, y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_theta = theta.copy()
        else:
            if loss > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if loss < self.best_loss_:
                self.best_loss_ = loss
        adaptive = self.solver == "sgd" and self.learning_rate == "adaptive"
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            state["lr"] = self.learning_rate_init / (self.t_ + 1) ** self.power_t
        if self._no_improvement_count > self.n_iter_no_change:
            what = "Validation score" if self.early_stopping else "Training loss"
            msg = (f"{what} did not improve more than tol={self.tol:f} for "
                   f"{self.n_iter_no_change} consecutive epochs.")
            if adaptive and state["lr"] > 1e-6:
                state["lr"] /= 5.0
                self._no_improvement_count = 0
                if self.verbose:
                    print(f"{msg} Setting learning rate to {state['lr']:f}")
                return False
            if self.verbose:
                print(msg + (" Learning rate too small. Stopping." if adaptive else
                             " Stopping."))
            return True
        return False

    def _score_dense(self, X, y, sample_weight):
        pred = self._predict_from(self._forward_dense(X))
        if np.issubdtype(pred.dtype, np.floating) and not np.isfinite(pred).all():
            return np.nan
        return float(self._score_function(y, pred, sample_weight=sample_weight))

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or values (regressor).
        sample_weight : array-like of shape (n_samples,), optional
            Weights >= 0: the cost of each mini-batch becomes
            ``(sum_i w_i loss_i + alpha/2 sum ||W||^2) / sum_i w_i``, as scikit-learn's.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, trained by pydl's compiled loop.

    A drop-in replacement for ``sklearn.neural_network.MLPClassifier``: the same parameters
    (below, scikit-learn's meanings), attributes and methods. See the module docstring for
    where pydl's numbers differ from scikit-learn's.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
    activation : {"identity", "logistic", "tanh", "relu", "leaky_relu"}, default="relu"
        Of the hidden layers; ``"leaky_relu"`` (slope `leaky_slope` for z <= 0) is pydl's.
    solver : {"lbfgs", "sgd", "adam"}, default="adam"
    alpha : float, default=1e-4
        L2 strength: ``alpha / (2 n) * sum ||W||^2`` joins the cost (the course's lambda).
    batch_size : int or "auto", default="auto"
        ``min(200, n_samples)`` for "auto".
    learning_rate : {"constant", "invscaling", "adaptive"} or pydl schedule, default="constant"
        As scikit-learn's for ``solver="sgd"``; a pydl schedule (``pydl.InverseDecay``,
        ``pydl.ExponentialDecay``, ``pydl.SqrtStepDecay``...) applies the course's decay from
        `learning_rate_init` to either stochastic solver.
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
    max_iter : int, default=200
        Epochs (stochastic solvers) or iterations (lbfgs).
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
    tol : float, default=1e-4
    verbose : bool, default=False
    warm_start : bool, default=False
        Continue from the fitted network and its optimizer's state.
    momentum : float in [0, 1), default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    beta_1, beta_2 : float in [0, 1), default=0.9, 0.999
    epsilon : float, default=1e-8
    n_iter_no_change : int, default=10
    max_fun : int, default=15000
    dtype : {"float32", "float64"} or None, default="float32"
        pydl's: the network's precision. float32 (pydl's default) trains fastest, on
        pydl's own product kernels; None computes in the input's dtype, as scikit-learn
        does (float64 unless X is float32), and reproduces its arithmetic most closely.
    n_threads : int or None, default=None
        pydl's: threads of the C loop (None: all usable cores; -1 all, -2 all but one).
    keep_probs : float or sequence of float, optional
        pydl's: inverted dropout on the hidden layers during training.
    l1 : float, default=0.0
        pydl's: L1 strength, ``l1 / n * sum |W|`` joins the cost.
    leaky_slope : float, default=0.01
    init : {"glorot_uniform", "he", "xavier", "xavier_avg", "random"}, default="glorot_uniform"
        pydl's: scikit-learn's scheme, or one of the course's initializers.

    Attributes
    ----------
    classes_ : ndarray
    network_ : pydl.Network
        The fitted network (``network_.save(path)`` keeps it).
    coefs_, intercepts_ : list of ndarray
        ``(n_in, n_out)`` and ``(n_out,)`` per layer, views into ``network_.theta``.
    loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_ :
        As scikit-learn's.
    n_iter_, t_, n_layers_, n_outputs_, out_activation_, n_features_in_, feature_names_in_ :
        As scikit-learn's.
    """

    _score_function = staticmethod(accuracy_score)

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype="float32", n_threads=None, keep_probs=None, l1=0.0, leaky_slope=0.01,
                 init="glorot_uniform"):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, dtype=dtype, n_threads=n_threads, keep_probs=keep_probs, l1=l1,
            leaky_slope=leaky_slope, init=init)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        # as scikit-learn's: (re)define classes_ on a new fit, else check them
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        return X, y

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _network_targets(self, y, dtype):
        """(Y, labels) for the network: integer class indices for a softmax output, the 0/1
        indicator matrix for a sigmoid one."""
        Yb = self._label_binarizer.transform(y)
        if self._label_binarizer.y_type_ == "multiclass":
            return None, np.ascontiguousarray(Yb.argmax(axis=1), dtype=np.int32)
        return np.ascontiguousarray(Yb, dtype=dtype), None

    def _n_outputs_of(self, Y, labels):
        return len(self.classes_) if labels is not None else Y.shape[1]

    def _score_targets(self, y):
        return y

    def _predict_from(self, A):
        if self.n_outputs_ == 1:
            A = A.ravel()
        return self._label_binarizer.inverse_transform(A)

    def predict(self, X):
        """Class labels, shape (n_samples,) or (n_samples, n_classes) for multi-label y."""
        return self._predict_from(self._forward(X))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing the network and its optimizer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
        classes : array of shape (n_classes,), optional
            Every class, needed on the first call (not for multi-label y).

        Returns
        -------
        self
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes) (two columns for a binary y)."""
        A = self._forward(X)
        if self.n_outputs_ == 1:
            return np.hstack([1 - A, A])
        return A

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        P = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(P, out=P)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, trained by pydl's compiled loop.

    A drop-in replacement for ``sklearn.neural_network.MLPRegressor``; the parameters are
    `MLPClassifier`'s (see there and the module docstring), with

    loss : {"squared_error", "poisson"}, default="squared_error"
        Half the squared error ``1/(2n) sum (a - y)^2`` with an identity output, or (as
        scikit-learn >= 1.7) half the Poisson deviance
        ``1/n sum (a - y log a + y log y - y)`` with an exp output ``a = e^z`` for counts
        ``y >= 0``; plus the L2 term.
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }
    _score_function = staticmethod(r2_score)

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype="float32", n_threads=None, keep_probs=None, l1=0.0, leaky_slope=0.01,
                 init="glorot_uniform"):
        self.loss = loss
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, dtype=dtype, n_threads=n_threads, keep_probs=keep_probs, l1=l1,
            leaky_slope=leaky_slope, init=init)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _network_targets(self, y, dtype):
        Y = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
        with np.errstate(over="ignore"):
            Y = np.ascontiguousarray(Y, dtype=dtype)
        if not np.isfinite(Y).all():
            raise ValueError(f"y has values too large for {dtype}")
        if self.loss == "poisson" and (Y < 0).any():
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson "
                             "regression.")
        return Y, None

    def _n_outputs_of(self, Y, labels):
        return Y.shape[1]

    def _score_targets(self, y):
        return y

    def _predict_from(self, A):
        return A.ravel() if A.shape[1] == 1 else A

    def predict(self, X):
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        return self._predict_from(self._forward(X))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing the network and its optimizer.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
