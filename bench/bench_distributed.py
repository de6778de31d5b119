"""Data-parallel training over MPI: samples/s for 1, 2 and 4 ranks, the allreduce's share,
and the ring-allreduce model of where the exchange starts to dominate on a real cluster.

    python bench/bench_distributed.py          # launches mpiexec -n 1, 2, 4 itself

Each rank runs one OpenMP thread (OMP_NUM_THREADS=1) and holds 1/p of 16384 examples of 256
features; the network is 256 -> 512 -> 512 -> 10 (softmax, float32, 399k parameters),
trained with Adam in global batches of 512 for a few epochs. For comparison, one process
without MPI on 1 and on 2 OpenMP threads trains the same network. Four ranks on two cores
are oversubscribed: that row shows the cost of more ranks than cores, not scaling.
"""
import json
import os
import shutil
import subprocess
import sys
import time

M, N_X, HIDDEN, N_OUT, BATCH, EPOCHS = 16384, 256, [512, 512], 10, 512, 3


def data():
    import numpy as np
    rng = np.random.default_rng(0)
    X = rng.standard_normal((M, N_X)).astype(np.float32)
    y = (X[:, :N_OUT] @ rng.standard_normal((N_OUT, N_OUT))).argmax(axis=1)
    return X, y


def network():
    import pydl
    return pydl.Network([N_X] + HIDDEN + [N_OUT], output_activation="softmax", seed=0)


def rank_main():
    """One rank (under mpiexec): train, report samples/s and the allreduce's share."""
    from mpi4py import MPI
    import numpy as np
    import pydl
    comm = MPI.COMM_WORLD
    X, y = data()
    mine = pydl.distributed.shard(M, comm)
    net = network()
    net.fit(X[mine], y[mine], epochs=1, batch_size=BATCH, optimizer=pydl.Adam(1e-3),
            comm=comm)  # warm-up
    comm.Barrier()
    t0 = time.perf_counter()
    h = net.fit(X[mine], y[mine], epochs=EPOCHS, batch_size=BATCH, comm=comm)
    wall = time.perf_counter() - t0
    # the bare Allreduce of a gradient-sized float32 buffer, for the model's calibration
    buf = np.zeros(net.theta.size, dtype=np.float32)
    comm.Barrier()
    t1 = time.perf_counter()
    for _ in range(50):
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    bare = (time.perf_counter() - t1) / 50
    shares = comm.gather((wall, h.reduce_time, bare), root=0)
    if comm.rank == 0:
        wall = max(s[0] for s in shares)
        print(json.dumps({"ranks": comm.size, "samples_per_s": EPOCHS * M / wall,
                          "reduce_share": sum(s[1] / s[0] for s in shares) / len(shares),
                          "bare_allreduce_s": max(s[2] for s in shares),
                          "steps": EPOCHS * -(-M // BATCH), "params": int(net.theta.size)}))


def single_main(n_threads):
    """One process, no MPI: the same training on n_threads OpenMP threads."""
    import pydl
    X, y = data()
    net = network()
    net.fit(X, y, epochs=1, batch_size=BATCH, optimizer=pydl.Adam(1e-3), n_threads=n_threads)
    t0 = time.perf_counter()
    net.fit(X, y, epochs=EPOCHS, batch_size=BATCH, n_threads=n_threads)
    print(json.dumps({"samples_per_s": EPOCHS * M / (time.perf_counter() - t0)}))


def ring_allreduce_seconds(n_params, p, bandwidth, latency, bytes_per_value=4):
    """Ring allreduce: 2 (p - 1) messages of bytes/p each way: 2 (p-1)/p * bytes / bandwidth
    + 2 (p - 1) * latency."""
    return 2 * (p - 1) / p * n_params * bytes_per_value / bandwidth + 2 * (p - 1) * latency


def step_seconds(n_params, global_batch, p, flops):
    """A dense network's step on one rank: ~6 flops per parameter and example (forward 2,
    backward 4) over its global_batch / p examples."""
    return 6 * n_params * global_batch / p / flops


def model_table():
    """Where the exchange starts to dominate on a realistic cluster."""
    bw, lat, flops = 25e9 / 8 * 0.8, 10e-6, 1e12  # 25 GbE at 80%; 10 us; 1 TFLOP/s/node
    lines = ["| parameters | global batch | p=2 | p=8 | p=32 | p=128 |",
             "|---|---|---|---|---|---|"]
    for n_params in (1e5, 1e7, 1e9):
        for batch in (256, 4096):
            cells = []
            for p in (2, 8, 32, 128):
                c = step_seconds(n_params, batch, p, flops)
                r = ring_allreduce_seconds(n_params, p, bw, lat)
                cells.append(f"{r / (r + c):.0%}")
            lines.append(f"| {n_params:.0e} | {batch} | " + " | ".join(cells) + " |")
    return ("allreduce share of a step, model: 25 Gb/s Ethernet at 80% (2.5 GB/s), 10 us "
            "latency, 1 TFLOP/s per node, float32 gradients\n" + "\n".join(lines))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--rank":
        rank_main()
        return
    if len(sys.argv) > 2 and sys.argv[1] == "--single":
        single_main(int(sys.argv[2]))
        return
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = local if os.path.exists(local) else shutil.which("mpiexec")
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    rows = []
    for n in (1, 2):
        out = subprocess.run([sys.executable, __file__, "--single", str(n)], check=True,
                             capture_output=True, text=True, env=dict(os.environ)).stdout
        rows.append((f"one process, {n} OpenMP thread{'s' * (n > 1)}, no MPI",
                     json.loads(out.splitlines()[-1])))
    for p in (1, 2, 4):
        out = subprocess.run([mpiexec, "-n", str(p), "--oversubscribe", "--bind-to", "none",
                              sys.executable, "-m", "mpi4py", __file__, "--rank"], check=True,
                             capture_output=True, text=True, env=env, timeout=600).stdout
        rows.append((f"mpiexec -n {p}, 1 thread per rank", json.loads(out.splitlines()[-1])))
    base = rows[0][1]["samples_per_s"]
    info = rows[-1][1]
    print(f"{info['params']} parameters, global batch {BATCH}, {EPOCHS} epochs of {M} "
          f"examples; {len(os.sched_getaffinity(0))} usable cores; load average "
          f"{os.getloadavg()[0]:.2f}")
    print("| run | samples/s | vs 1 process, 1 thread | allreduce share | bare Allreduce |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        share = f"{r['reduce_share']:.1%}" if "reduce_share" in r else "-"
        bare = f"{r['bare_allreduce_s'] * 1e3:.2f} ms" if "bare_allreduce_s" in r else "-"
        print(f"| {name} | {r['samples_per_s']:.0f} | {r['samples_per_s'] / base:.2f}x | "
              f"{share} | {bare} |")
    print()
    print(model_table())


if __name__ == "__main__":
    main()
