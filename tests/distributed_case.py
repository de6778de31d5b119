"""The problems of the data-parallel tests, built the same way by the MPI ranks
(tests/mpi_worker.py) and by the single-process references (tests/test_distributed.py)."""
import numpy as np

import pydl

OPTIMIZERS = {"adam": lambda: pydl.Adam(0.01), "momentum": lambda: pydl.Momentum(0.05, beta=0.9),
              "gd": lambda: pydl.GradientDescent(0.1)}


def make_case(case):
    """(net, X, y, fit arguments, (X_dev, y_dev) or None) for a case dict: m examples of a
    two-class (or 3-class softmax) problem, a fresh network seeded by case["seed"]."""
    rng = np.random.default_rng(case["seed"])
    m, n_x = case["m"], case["n_x"]
    X = rng.standard_normal((m + case.get("m_dev", 0), n_x))
    softmax = case.get("softmax", False)
    score = X[:, 0] + X[:, 1] ** 2 - X[:, 2] * X[:, 0]
    y = np.digitize(score, [-0.5, 1.0]) if softmax else (score > 0.5).astype(np.int64)
    dims = [n_x] + case["hidden"] + [3 if softmax else 1]
    net = pydl.Network(dims, output_activation="softmax" if softmax else "sigmoid",
                       dtype=case["dtype"], seed=case["seed"], keep_probs=case.get("keep"))
    fit_args = dict(epochs=case["epochs"], batch_size=case["batch_size"],
                    optimizer=OPTIMIZERS[case["optimizer"]](), l2=case.get("l2", 0.0),
                    l1=case.get("l1", 0.0), record_steps=True)
    if case.get("early_stopping"):
        fit_args["early_stopping"] = pydl.EarlyStopping(patience=case["early_stopping"])
    dev = None
    if case.get("m_dev"):
        dev = X[m:], y[m:]
    return net, X[:m], y[:m], fit_args, dev
