"""Hyperparameter search the course's way: random, each hyperparameter on its own scale,
coarse to fine, judged on an explicit dev set.

    space = {"learning_rate": loguniform(1e-3, 1), "beta": one_minus_loguniform(0.9, 0.999),
             "hidden": integers(2, 20), "activation": choice(["tanh", "relu"])}
    result = random_search(build, space, (X, y), (X_dev, y_dev), n_trials=32)

Trials run concurrently: on threads of this process by default (pydl releases the GIL while
it trains, so many small networks train at once on all cores) or on a Dask cluster
(``client=``). Every trial's hyperparameters and seed are drawn here, in order, before it
runs, and pydl's training does not depend on the number of threads: the results are the
same whether the trials run one after the other, on threads or on Dask workers.
Dask and pandas are optional: ``pip install "pydl[distributed]"``.
"""
from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from pydl._checks import check_param, check_scalar
from pydl.random_state import as_generator

__all__ = ["Choice", "Integers", "LogUniform", "OneMinusLogUniform", "SearchResult", "Uniform",
           "choice", "integers", "loguniform", "one_minus_loguniform", "random_search",
           "uniform"]


# ---- distributions: each hyperparameter on its own scale ---------------------------------

class _Scaled:
    """A real hyperparameter drawn uniformly on a scale: x = inverse(u), u uniform in
    [forward(low), forward(high)]. Coarse to fine narrows [low, high] on that scale."""

    def __init__(self, low, high):
        low = check_scalar(low, "low")
        high = check_scalar(high, "high")
        if not low < high:
            raise ValueError(f"{type(self).__name__} needs low < high, got {low}, {high}")
        self._check_range(low, high)
        self.low, self.high = low, high

    def _check_range(self, low, high):
        pass

    def _forward(self, x):
        return x

    def _inverse(self, u):
        return u

    def sample(self, rng):
        """One value, drawn with the numpy Generator `rng`."""
        a, b = sorted((self._forward(self.low), self._forward(self.high)))
        return float(min(max(self._inverse(rng.uniform(a, b)), self.low), self.high))

    def narrow(self, values):
        """The same distribution over the span of `values` on its scale (the best trials'),
        within [low, high]; a tenth of the original span around a single value."""
        u = sorted(self._forward(float(v)) for v in values)
        a, b = sorted((self._forward(self.low), self._forward(self.high)))
        lo, hi = u[0], u[-1]
        if hi - lo < (b - a) / 10:
            mid = (lo + hi) / 2
            lo, hi = mid - (b - a) / 20, mid + (b - a) / 20
        lo, hi = sorted((self._inverse(max(lo, a)), self._inverse(min(hi, b))))
        return type(self)(max(lo, self.low), min(hi, self.high))

    def __repr__(self):
        return f"{type(self).__name__}({self.low!r}, {self.high!r})"


class Uniform(_Scaled):
    """Uniform in [low, high]: for hyperparameters whose scale is linear (keep_prob)."""


class LogUniform(_Scaled):
    """Uniform in log10 between low and high (> 0): the learning rate, the L2 strength --
    a sample between 0.0001 and 1 is as likely in [0.0001, 0.001] as in [0.1, 1]."""

    def _check_range(self, low, high):
        if low <= 0:
            raise ValueError(f"LogUniform needs low > 0, got {low}")

    def _forward(self, x):
        return math.log10(x)

    def _inverse(self, u):
        return 10.0 ** u


class OneMinusLogUniform(_Scaled):
    """1 - LogUniform(1 - high, 1 - low), for averaging betas near 1: beta in [0.9, 0.999]
    spends as many samples on [0.9, 0.99] (averages over 10-100 steps) as on [0.99, 0.999]
    (100-1000 steps), where the result is most sensitive."""

    def _check_range(self, low, high):
        if high >= 1:
            raise ValueError(f"OneMinusLogUniform needs high < 1, got {high}")

    def _forward(self, x):
        return math.log10(1.0 - x)

    def _inverse(self, u):
        return 1.0 - 10.0 ** u


class Integers:
    """A uniform integer in [low, high] (both included): the number of hidden units or
    layers, the mini-batch size."""

    def __init__(self, low, high):
        self.low = check_scalar(low, "low", integer=True)
        self.high = check_scalar(high, "high", integer=True)
        if not self.low <= self.high:
            raise ValueError(f"Integers needs low <= high, got {low}, {high}")

    def sample(self, rng):
        return _integer(rng, self.low, self.high + 1)

    def narrow(self, values):
        """The range spanned by `values`, widened to a quarter of the original range."""
        lo, hi = min(values), max(values)
        pad = max(0, (self.high - self.low) // 4 - (hi - lo)) // 2
        return Integers(max(self.low, lo - pad), min(self.high, hi + pad))

    def __repr__(self):
        return f"Integers({self.low}, {self.high})"


class Choice:
    """One of a few options (activations, optimizers), each equally likely."""

    def __init__(self, options):
        if isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
            raise TypeError(f"Choice needs a sequence of options, got {options!r}")
        self.options = list(options)
        if not self.options:
            raise ValueError("Choice needs at least one option")

    def sample(self, rng):
        return self.options[_integer(rng, 0, len(self.options))]

    def narrow(self, values):
        """The options the best trials used, in their original order."""
        return Choice([o for o in self.options if any(o == v for v in values)])

    def __repr__(self):
        return f"Choice({self.options!r})"


def uniform(low, high):
    """Uniform in [low, high]."""
    return Uniform(low, high)


def loguniform(low, high):
    """Uniform on a log scale in [low, high] (learning rate, L2)."""
    return LogUniform(low, high)


def one_minus_loguniform(low, high):
    """beta in [low, high] with 1 - beta uniform on a log scale (momentum / Adam betas)."""
    return OneMinusLogUniform(low, high)


def integers(low, high):
    """A uniform integer in [low, high], both included (layer sizes)."""
    return Integers(low, high)


def choice(options):
    """One of `options` (activations)."""
    return Choice(options)


_DISTRIBUTIONS = (_Scaled, Integers, Choice)


def _integer(rng, low, high):
    """An int in [low, high) from a Generator or a RandomState."""
    draw = rng.integers if isinstance(rng, np.random.Generator) else rng.randint
    return int(draw(low, high))


# ---- one trial -------------------------------------------------------------------------

def _run_trial(build, params, data, dev):
    """Builds and trains the trial's network (one thread), then scores it on the dev set.
    A trial that diverges (FloatingPointError) scores inf and keeps its message."""
    from pydl.network import Network

    built = build(dict(params))
    if not (isinstance(built, tuple) and len(built) == 2 and isinstance(built[0], Network)
            and isinstance(built[1], dict)):
        raise TypeError("build(params) must return (pydl.Network, dict of fit arguments), "
                        f"got {type(built).__name__}")
    net, fit_args = built
    X, y = data
    start = time.perf_counter()
    row = dict(params)
    # one thread per trial, fit and scores alike: trials run side by side
    n_threads, net.n_threads = net.n_threads, 1
    try:
        history = net.fit(X, y, **fit_args)
    except FloatingPointError as exc:
        row.update(dev_cost=math.inf, dev_accuracy=math.nan, train_cost=math.nan,
                   error=str(exc))
    else:  # (still one thread)
        X_dev, y_dev = dev
        classifier = net.output_activation != "linear"
        row.update(dev_cost=float(net.cost(X_dev, y_dev)),
                   dev_accuracy=float(net.score(X_dev, y_dev)) if classifier else math.nan,
                   train_cost=float(history.cost[-1]) if history.cost else math.nan,
                   error="")
    finally:
        net.n_threads = n_threads
    row["fit_seconds"] = time.perf_counter() - start
    return row, net


# ---- the search --------------------------------------------------------------------------

class SearchResult:
    """What `random_search` found.

    Attributes
    ----------
    trials : list of dict
        One row per trial, sorted by dev cost (best first): the hyperparameters, the trial's
        ``seed``, ``round`` (0 coarse, 1.. finer) and ``trial`` numbers, ``dev_cost``,
        ``dev_accuracy`` (NaN for a linear output), ``train_cost`` (the last epoch's),
        ``error`` (why a diverged trial failed, else "") and ``fit_seconds``.
    best_params : dict
        The best trial's hyperparameters (with its seed).
    best_network : pydl.Network
        The best trial's trained network.
    spaces : list of dict
        The space each round sampled from (the later ones narrowed around the best).
    """

    def __init__(self, trials, best_network, spaces):
        self.trials = trials
        self.best_network = best_network
        self.spaces = spaces
        names = [k for k in trials[0] if k not in _RESULT_COLUMNS]
        self.best_params = {k: trials[0][k] for k in names}

    @property
    def table(self):
        """The trials as a pandas DataFrame when pandas is installed, else the list."""
        try:
            import pandas as pd
        except ImportError:
            return self.trials
        return pd.DataFrame(self.trials)

    def __repr__(self):
        best = self.trials[0]
        return (f"SearchResult({len(self.trials)} trials, best dev_cost "
                f"{best['dev_cost']:.6g} with {self.best_params})")


_RESULT_COLUMNS = ("round", "trial", "dev_cost", "dev_accuracy", "train_cost", "error",
                   "fit_seconds")


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def random_search(build, space, train, dev, *, n_trials=32, rounds=2, top=0.25, seed=0,
                  n_jobs=None, client=None):
    """Random search, coarse to fine, on a dev set.

    Parameters
    ----------
    build : callable
        ``build(params) -> (net, fit_arguments)``: a new `pydl.Network` and the keyword
        arguments of its `fit` for a dict of hyperparameters (the space's names, plus
        ``seed``, an int to seed the network with). With `client`, it must pickle
        (a module-level function; Dask also ships lambdas and closures).
    space : dict
        Name -> distribution (`loguniform`, `one_minus_loguniform`, `integers`, `choice`,
        `uniform`) or a fixed value.
    train, dev : (X, y) pairs
        Each trial fits on `train` and is scored on `dev` (its cost J, and accuracy).
    n_trials : int, default 32
        Trials per round.
    rounds : int, default 2
        1 is a plain random search; each further round samples `n_trials` more from the
        ranges spanned (on each hyperparameter's scale) by the best `top` fraction of the
        trials so far.
    top : float, default 0.25
    seed : int, numpy.random.Generator or numpy.random.RandomState, default 0
        Draws every trial's hyperparameters and seed, in order: the same seed, the same
        trials (None: different ones each time).
    n_jobs : int, optional
        Threads running trials at once (None: the usable cores; 1: one after the other).
        Each trial trains on one thread.
    client : dask.distributed.Client, optional
        Run the trials on this Dask cluster instead (the data are scattered once).

    Returns
    -------
    SearchResult
    """
    if not callable(build):
        raise TypeError(f"build must be callable, got {type(build).__name__}")
    if not isinstance(space, dict) or not space:
        raise TypeError("space must be a non-empty dict of name -> distribution or value")
    for name in space:
        if not isinstance(name, str) or name in _RESULT_COLUMNS or name == "seed":
            raise ValueError(f"hyperparameter names must be strings other than "
                             f"{('seed',) + _RESULT_COLUMNS}, got {name!r}")
    train, dev = _pair(train, "train"), _pair(dev, "dev")
    n_trials = check_param("n_trials", n_trials)
    rounds = check_param("rounds", rounds)
    top = check_param("top", top)
    rng = as_generator(seed)
    if n_jobs is not None:
        n_jobs = check_param("n_jobs", n_jobs)
    if client is not None and not callable(getattr(client, "submit", None)):
        raise TypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")

    run = _runner(build, train, dev, n_jobs, client)
    rows, nets, spaces = [], [], []
    current = dict(space)
    for r in range(rounds):
        if r:
            best = sorted(range(len(rows)), key=lambda i: _rank_key(rows[i]))
            best = [rows[i] for i in best[:max(1, int(round(top * len(rows))))]]
            current = {k: d.narrow([row[k] for row in best])
                       if isinstance(d, _DISTRIBUTIONS) else d for k, d in space.items()}
        spaces.append(current)
        trials = []
        for t in range(n_trials):
            params = {k: d.sample(rng) if isinstance(d, _DISTRIBUTIONS) else d
                      for k, d in current.items()}
            params["seed"] = _integer(rng, 0, 2**31)
            trials.append(params)
        for t, (row, net) in enumerate(run(trials)):
            rows.append(dict(row, round=r, trial=t))
            nets.append(net)
    order = sorted(range(len(rows)), key=lambda i: _rank_key(rows[i]))
    return SearchResult([rows[i] for i in order], nets[order[0]], spaces)


def _rank_key(row):
    cost = row["dev_cost"]
    return (math.isnan(cost), cost, row["round"], row["trial"])


def _pair(value, name):
    try:
        X, y = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (X, y)") from None
    return X, y


def _runner(build, train, dev, n_jobs, client):
    """A function running a list of trials, returning their (row, net) in order."""
    if client is not None:
        data = client.scatter([train, dev], broadcast=True)  # once, for every round

        def on_dask(trials):
            futures = [client.submit(_run_trial, build, p, data[0], data[1], pure=False)
                       for p in trials]
            return client.gather(futures)
        return on_dask
    workers = _usable_cpus() if n_jobs is None else n_jobs
    if workers == 1:
        return lambda trials: [_run_trial(build, p, train, dev) for p in trials]

    def on_threads(trials):
        with ThreadPoolExecutor(max_workers=min(workers, len(trials))) as pool:
            return list(pool.map(lambda p: _run_trial(build, p, train, dev), trials))
    return on_threads
