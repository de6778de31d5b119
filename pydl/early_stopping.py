"""Early stopping on an explicit dev set (the course's "other regularization methods")."""
from __future__ import annotations

import numpy as np

from pydl._checks import check_param


class EarlyStopping:
    """Stop `fit` when the dev cost has not improved for `patience` epochs.

    An epoch improves when its dev cost is below the best so far by more than `min_delta`.
    With ``restore_best=True`` the parameters of the best epoch are put back when `fit`
    ends normally (stopped early or not; not after Ctrl-C or a divergence); the optimizer's
    state is left as it is.

    Its state (the best cost and epoch, the epochs waited) carries over from one `fit` to
    the next, like an optimizer's, and is saved with the network: fitting 10 epochs, saving,
    loading and fitting 10 more stops where one 20-epoch fit would (with ``restore_best=True``
    the first fit ends on the best epoch's parameters, so continue from a `Checkpoint` for
    bitwise the same run). Once it has stopped a fit, the next fit starts a new watch;
    `reset()` starts one at any time.

    Parameters
    ----------
    patience : int, default 10
        Epochs without improvement before stopping (>= 1).
    min_delta : float, default 0.0
    restore_best : bool, default True

    Attributes (after fit)
    ----------------------
    best_epoch : int or None
        The epoch (counted over every fit of the network) with the lowest dev cost.
    best_cost : float
    stopped_epoch : int or None
        The epoch after which training stopped early, None if it ran all its epochs.
    """

    def __init__(self, patience=10, min_delta=0.0, restore_best=True):
        self.patience = check_param("patience", patience)
        self.min_delta = check_param("min_delta", min_delta)
        if not isinstance(restore_best, bool):
            raise TypeError(f"restore_best must be a bool, got {restore_best!r}")
        self.restore_best = restore_best
        self.reset()

    def reset(self):
        """Forget the best cost and epoch and the epochs waited."""
        self.best_epoch = None
        self.best_cost = np.inf
        self.stopped_epoch = None
        self._best_theta = None
        self._waited = 0

    def _should_stop(self, epoch, dev_cost, theta):
        """Record one epoch's dev cost; True when training should stop after it."""
        if dev_cost < self.best_cost - self.min_delta:
            self.best_cost, self.best_epoch, self._waited = dev_cost, epoch, 0
            if self.restore_best:
                self._best_theta = theta.copy()
            return False
        self._waited += 1
        if self._waited >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def _restore(self, theta):
        if self.restore_best and self._best_theta is not None:
            theta[...] = self._best_theta

    def _params(self):
        return {"patience": self.patience, "min_delta": self.min_delta,
                "restore_best": self.restore_best}

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, "
                f"restore_best={self.restore_best})")
