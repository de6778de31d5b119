"""What a `fit` call returns: the cost and learning rate of every epoch."""
from __future__ import annotations

import numpy as np


class History:
    """Per-epoch record of one `fit` call.

    Attributes
    ----------
    epochs : list of int
        Index of each epoch trained, counted over every `fit` of the network.
    cost : list of float
        The epoch's cost: sum over its mini-batches of ``m_t * J{t}`` divided by m (the
        course's ``cost_total / m``; the full-batch cost J for batch gradient descent).
    learning_rate : list of float
        The learning rate of each epoch (alpha0 for per-step decay).
    wall_time : float
        Seconds spent in `fit`.
    reduce_time : float
        With ``fit(..., comm=...)``: seconds of `wall_time` spent summing gradients over
        the ranks (0 otherwise; not saved in model files).
    step_cost, step_learning_rate : list of float
        With ``fit(..., record_steps=True)``: the cost J{t} of every mini-batch (at the
        parameters before its update) and the learning rate of its update; else empty.
    dev_cost, dev_accuracy : list of float
        With ``fit(..., validation_data=...)``: the dev set's cost J (no regularization term)
        and, for classifiers, its accuracy after each epoch; else empty.
    best_epoch, stopped_epoch : int or None
        With early stopping: the epoch of the lowest dev cost, and the epoch after which
        training stopped early (None if it did not).
    """

    def __init__(self):
        self.epochs = []
        self.cost = []
        self.learning_rate = []
        self.step_cost = []
        self.step_learning_rate = []
        self.dev_cost = []
        self.dev_accuracy = []
        self.best_epoch = None
        self.stopped_epoch = None
        self.wall_time = 0.0
        self.reduce_time = 0.0

    def _extend(self, epochs, costs, lrs, step_costs=(), step_lrs=()):
        self.epochs.extend(int(e) for e in epochs)
        self.cost.extend(float(c) for c in costs)
        self.learning_rate.extend(float(r) for r in lrs)
        self.step_cost.extend(float(c) for c in step_costs)
        self.step_learning_rate.extend(float(r) for r in step_lrs)

    def __len__(self):
        return len(self.cost)

    def as_arrays(self):
        """(epochs, cost, learning_rate) as NumPy arrays."""
        return (np.array(self.epochs, dtype=np.int64), np.array(self.cost),
                np.array(self.learning_rate))

    def __repr__(self):
        last = f", last cost {self.cost[-1]:.6g}" if self.cost else ""
        return f"History({len(self)} epochs{last}, {self.wall_time:.3f}s)"
