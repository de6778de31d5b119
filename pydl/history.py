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
        # Python ints and floats, through NumPy's tolist (a generator per list was 5% of a
        # planar network's iteration)
        self.epochs.extend(np.asarray(epochs, dtype=np.int64).tolist())
        self.cost.extend(np.asarray(costs, dtype=np.float64).tolist())
        self.learning_rate.extend(np.asarray(lrs, dtype=np.float64).tolist())
        self.step_cost.extend(np.asarray(step_costs, dtype=np.float64).tolist())
        self.step_learning_rate.extend(np.asarray(step_lrs, dtype=np.float64).tolist())

    def __len__(self):
        return len(self.cost)

    def as_arrays(self):
        """(epochs, cost, learning_rate) as NumPy arrays."""
        return (np.array(self.epochs, dtype=np.int64), np.array(self.cost),
                np.array(self.learning_rate))

    def plot(self, ax=None):
        """Draw the learning curves: the cost of every epoch, the dev set's cost and
        accuracy when there is one, and the learning rate on a second axis.

        Needs matplotlib (``pip install "pydl[plot]"``).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw the costs; by default a new figure's. The learning rate (and the
            dev accuracy) get axes of their own sharing its x axis (``ax.figure.axes``).

        Returns
        -------
        matplotlib.axes.Axes
            The axes of the costs, epochs on x.
        """
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ImportError('History.plot needs matplotlib: pip install "pydl[plot]"') \
                from None
        if ax is None:
            import matplotlib.pyplot as plt

            ax = plt.figure(figsize=(8, 4.5)).add_subplot()
        epochs = np.asarray(self.epochs)
        lines = ax.plot(epochs, self.cost, color="C0", label="cost")
        if self.dev_cost:
            lines += ax.plot(epochs[:len(self.dev_cost)], self.dev_cost, color="C1",
                             label="dev cost")
        ax.set_xlabel("epoch")
        ax.set_ylabel("cost J")
        lr_ax = ax.twinx()
        lines += lr_ax.plot(epochs, self.learning_rate, color="0.5", linestyle=":",
                            label="learning rate")
        lr_ax.set_ylabel("learning rate")
        if len(set(self.learning_rate)) > 1:  # decay: a log scale shows it
            lr_ax.set_yscale("log")
        elif self.learning_rate:  # constant: a flat line mid-height
            lr_ax.set_ylim(0, 2 * self.learning_rate[0])
        if self.dev_accuracy:
            acc_ax = ax.twinx()
            acc_ax.spines["right"].set_position(("axes", 1.2))
            lines += acc_ax.plot(epochs[:len(self.dev_accuracy)], self.dev_accuracy,
                                 color="C2", label="dev accuracy")
            acc_ax.set_ylabel("dev accuracy")
        ax.legend(lines, [line.get_label() for line in lines], loc="center right")
        ax.figure.tight_layout()
        return ax

    def __repr__(self):
        last = f", last cost {self.cost[-1]:.6g}" if self.cost else ""
        return f"History({len(self)} epochs{last}, {self.wall_time:.3f}s)"
