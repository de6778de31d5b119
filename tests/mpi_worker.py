"""One rank of the data-parallel tests (tests/test_distributed.py runs it under mpiexec).

    mpiexec -n R python -m mpi4py tests/mpi_worker.py CASE.json OUT_DIR

CASE.json says what to train; each rank writes OUT_DIR/rank{r}.npz with its parameters and
history, and checks after every step, before the gradient exchange, that every rank holds
the same bits of theta (the count of those checks is written too).
"""
import hashlib
import json
import os
import signal
import sys
import threading

import numpy as np
from mpi4py import MPI

import pydl
from pydl import distributed

sys.path.insert(0, os.path.dirname(__file__))
from distributed_case import make_case  # noqa: E402


def main():
    case = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    net, X, y, fit_args, dev = make_case(case)
    if rank == 1 and "l2_rank1" in case:  # a rank called with other arguments
        fit_args["l2"] = case["l2_rank1"]
    bounds = case["bounds"]
    assert len(bounds) == comm.Get_size() + 1, "bounds must give one slice per rank"
    mine = slice(bounds[rank], bounds[rank + 1])
    if dev is not None:  # each rank its slice of the dev set
        X_dev, y_dev = dev
        dev_bounds = np.linspace(0, len(X_dev), comm.Get_size() + 1).astype(int)
        fit_args["validation_data"] = (X_dev[dev_bounds[rank]:dev_bounds[rank + 1]],
                                       y_dev[dev_bounds[rank]:dev_bounds[rank + 1]])
    if case.get("checkpoint"):
        fit_args["checkpoint"] = pydl.Checkpoint(os.path.join(out, f"ckpt-rank{rank}.pydl"),
                                                 every=1)

    checks = [0]
    group_init = distributed._Group.__init__

    def checked_group(group, *args):  # theta's bits on every rank, before every step
        group_init(group, *args)
        summed = group.sum_in_place

        def sum_in_place(a):
            if a.shape == (2,):  # [loss, stop]: the first sum of a step
                digest = hashlib.sha256(net.theta.tobytes()).hexdigest()
                if len(set(group.comm.allgather(digest))) != 1:
                    raise AssertionError(f"ranks hold different parameters before step "
                                         f"{checks[0]}")
                checks[0] += 1
            summed(a)
        group.sum_in_place = sum_in_place

    if "interrupt_rank" not in case:  # (Python code in the sum could take the signal)
        distributed._Group.__init__ = checked_group

    if case.get("interrupt_rank") == rank:  # Ctrl-C on one rank, mid-training
        threading.Timer(case["interrupt_after"], os.kill, (os.getpid(), signal.SIGINT)).start()
    interrupted = ""
    try:
        for _ in range(case["calls"]):
            net.fit(X[mine], y[mine], comm=comm, **fit_args)
    except KeyboardInterrupt as exc:
        interrupted = str(exc) or "KeyboardInterrupt"
    h = net.history
    np.savez(os.path.join(out, f"rank{rank}.npz"), theta=net.theta, cost=np.array(h.cost),
             dev_cost=np.array(h.dev_cost), dev_accuracy=np.array(h.dev_accuracy),
             best_epoch=-1 if h.best_epoch is None else h.best_epoch,
             stopped_epoch=-1 if h.stopped_epoch is None else h.stopped_epoch,
             step_cost=np.array(h.step_cost), checks=checks[0],
             epochs_trained=net.epochs_trained, interrupted=interrupted)


if __name__ == "__main__":
    main()
