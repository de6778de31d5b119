"""Data-parallel synchronous training over MPI: ``net.fit(X_local, y_local, comm=comm)``.

Every process (an MPI rank) holds its own slice of the training set; together they train
one network in lockstep, as PyTorch's DistributedDataParallel and Horovod do. The global
training set is the ranks' slices one after the other (rank 0's first); every rank draws
the same permutation of it each epoch and so the same global mini-batches; each computes
the gradient of the examples of the batch it holds, divided by the size of the *global*
batch (the regularization term added by the one rank that holds the batch's first example),
and one ``Allreduce`` of the flat gradient buffer (in place, no pickling) sums them: every
rank then applies the same update to the same parameters. Mathematically that is
``fit`` on one process with the concatenated data, whatever the number of ranks and however
the data are split; dropout and augmentation are keyed by an example's place in the global
batch, so they are the same too. What depends on the number of ranks is the rounding:
the order in which MPI adds the ranks' partial sums.

mpi4py is an optional dependency: ``pip install "pydl[mpi]"`` (mpi4py and Open MPI from
PyPI). ``import pydl`` never imports it.
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["shard"]

_INSTALL = ('data-parallel training needs mpi4py and an MPI library: '
            'pip install "pydl[mpi]" (mpi4py and Open MPI)')


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"{_INSTALL} ({exc})") from None
    return MPI


def _check_comm(comm):
    MPI = _mpi()
    if not isinstance(comm, MPI.Intracomm) or comm == MPI.COMM_NULL:
        raise TypeError(f"comm must be an mpi4py intra-communicator such as MPI.COMM_WORLD, "
                        f"got {type(comm).__name__}")
    return MPI


def shard(n_samples, comm):
    """The rows of an ``n_samples`` data set that this rank holds: a slice, the ranks' slices
    consecutive and within one example of each other in size (rank 0's first).

    Parameters
    ----------
    n_samples : int
        Examples in the whole training set (every rank must hold at least one).
    comm : mpi4py.MPI.Intracomm
        Usually ``MPI.COMM_WORLD``.

    Returns
    -------
    slice
        ``X[shard(len(X), comm)]`` is this rank's part. Reading only those rows from a file
        is the point on a real cluster.
    """
    _check_comm(comm)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise TypeError(f"n_samples must be an int, got {n_samples!r}")
    size, rank = comm.Get_size(), comm.Get_rank()
    if n_samples < size:
        raise ValueError(f"n_samples ({n_samples}) must be at least the number of ranks "
                         f"({size}): every rank needs an example")
    return slice(rank * n_samples // size, (rank + 1) * n_samples // size)


class _Group:
    """The ranks training one network: who holds which examples, the gradient reducer and
    the reductions of the dev scores (used by Network.fit)."""

    def __init__(self, comm, m_local, settings):
        MPI = _check_comm(comm)
        self._MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        everyone = comm.allgather((int(m_local), settings))  # once per fit: pickling is fine
        for name in settings:
            values = [s[name] for _, s in everyone]
            if any(v != values[0] for v in values):
                shown = ", ".join(f"rank {r}: {v!r}" for r, v in enumerate(values))
                raise ValueError(f"every rank must call fit with the same {name}; got {shown}")
        sizes = [m for m, _ in everyone]
        self.first = sum(sizes[:self.rank])
        self.m_global = sum(sizes)
        # what the C loop calls between backward propagation and every update: MPI's
        # in-place sum, the same bits on every rank; compiled, so no Python code (and no
        # signal handler) runs between the loss's sum and the gradient's
        self.sum_in_place = functools.partial(comm.Allreduce, MPI.IN_PLACE, op=MPI.SUM)
        self.seconds = np.zeros(1)  # spent summing

    @property
    def reduce_time(self):
        return float(self.seconds[0])

    def broadcast(self, net, optimizer):
        """Rank 0's parameters, optimizer state and training seed on every rank (as
        Horovod's broadcast_parameters / DDP's construction do)."""
        for a in (net._theta, optimizer.v, optimizer.s):
            if a is not None:
                self.comm.Bcast(a, root=0)
        net._train_seed = self.comm.bcast(net._train_seed, root=0)
        net._theta_changed()

    def mean(self, m_local, *values):
        """The example-weighted means over the ranks of per-rank means (None stays None):
        the dev cost and accuracy of the whole dev set, the same bits on every rank."""
        present = [v for v in values if v is not None]
        buf = np.array([m_local] + [m_local * v for v in present], dtype=np.float64)
        self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)
        means = iter(buf[1:] / buf[0])
        return tuple(None if v is None else float(next(means)) for v in values)
