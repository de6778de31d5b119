"""Checkpoints during `fit`: the network saved to a model file as it trains, atomically."""
from __future__ import annotations

import os

from pydl import model_file
from pydl._checks import check_param


class Checkpoint:
    """Save the network with its whole training state while `fit` runs.

    Every save writes a temporary file in the same directory, flushes and fsyncs it, and
    renames it over the old file: a process killed at any instant leaves either the old
    complete file or the new complete one, never a torn one. ``pydl.load(path)`` and a
    `fit` with the same arguments then continue bitwise as if training had not stopped.

    Parameters
    ----------
    path : str or os.PathLike
        Where the latest checkpoint goes (overwritten each time).
    every : int, default 1
        Save after every epoch whose count ``net.epochs_trained`` is a multiple of `every`
        (counted over every fit of the network, so a resumed run keeps the rhythm).
    keep_best : bool, default False
        Also save the network to `best_path` after each epoch whose dev cost is the lowest
        the network has had (needs ``fit(..., validation_data=...)``).
    best_path : str or os.PathLike, optional
        Default: `path` with ``.best`` before its suffix (``model.pydl`` ->
        ``model.best.pydl``).

    Examples
    --------
    >>> net.fit(X, y, epochs=100, optimizer=pydl.Adam(),
    ...         checkpoint=pydl.Checkpoint("run.pydl", every=5))
    >>> net = pydl.load("run.pydl")           # after a crash: continue where it stopped
    """

    def __init__(self, path, every=1, keep_best=False, best_path=None):
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}") \
                from None
        self.every = check_param("every", every)
        if not isinstance(keep_best, bool):
            raise TypeError(f"keep_best must be a bool, got {keep_best!r}")
        self.keep_best = keep_best
        if best_path is None:
            stem, suffix = os.path.splitext(self.path)
            best_path = f"{stem}.best{suffix}"
        try:
            self.best_path = os.fspath(best_path)
        except TypeError:
            raise TypeError(f"best_path must be a str or os.PathLike, "
                            f"got {type(best_path).__name__}") from None
        if os.path.abspath(self.best_path) == os.path.abspath(self.path):
            raise ValueError("best_path must differ from path")

    def _save(self, net):
        model_file.save(net, self.path)

    def _save_best(self, net):
        model_file.save(net, self.best_path)

    def __repr__(self):
        return (f"Checkpoint({self.path!r}, every={self.every}, keep_best={self.keep_best}, "
                f"best_path={self.best_path!r})")
