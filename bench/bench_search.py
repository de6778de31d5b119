"""Many small models at once: 64 random-search trials of the course's planar network,
on threads (pydl.search's default) vs one after the other.

    python bench/bench_search.py            # both, each in its own process, 3 repeats

The course's planar model: 2 -> n_h -> 1 (tanh, sigmoid), batch gradient descent on the 400
"flower" points for 10000 iterations; the search draws the learning rate (log scale in
[0.1, 3]) and n_h (1..20). Each variant runs in a fresh process; the script reports the
best wall time of each, their ratio, and checks that both found the same trials.
"""
import json
import os
import subprocess
import sys
import time

N_TRIALS, EPOCHS, REPEATS = 64, 10000, 3


def build(p):
    import pydl
    net = pydl.Network([2, p["n_h"], 1], hidden_activation="tanh", init="random",
                       seed=p["seed"])
    return net, dict(epochs=EPOCHS, learning_rate=p["learning_rate"])


def run(n_jobs):
    import pydl
    from pydl.search import integers, loguniform, random_search
    X, y = pydl.datasets.load_planar()
    X_dev, y_dev = pydl.datasets.load_planar(seed=2)
    space = {"learning_rate": loguniform(0.1, 3.0), "n_h": integers(1, 20)}
    times, cpus = [], []
    for _ in range(REPEATS):
        t0, c0 = time.perf_counter(), time.process_time()
        res = random_search(build, space, (X, y), (X_dev, y_dev), n_trials=N_TRIALS,
                            rounds=1, seed=0, n_jobs=n_jobs)
        times.append(time.perf_counter() - t0)
        cpus.append((time.process_time() - c0) / times[-1])
    best = res.trials[0]
    print(json.dumps({"seconds": min(times), "cpu_per_wall": cpus[times.index(min(times))],
                      "best": [best["learning_rate"], best["n_h"],
                                                       best["dev_cost"]],
                      "costs": [r["dev_cost"] for r in res.trials]}))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--run":
        run(None if sys.argv[2] == "threads" else 1)
        return
    import pydl
    cores = len(os.sched_getaffinity(0))
    out = {}
    for variant in ("sequential", "threads"):
        proc = subprocess.run([sys.executable, __file__, "--run", variant], check=True,
                              capture_output=True, text=True)
        out[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["sequential"]["costs"] == out["threads"]["costs"], "the trials differ"
    seq, thr = out["sequential"]["seconds"], out["threads"]["seconds"]
    print(f"pydl {pydl.__version__}, {cores} usable cores, {N_TRIALS} trials x {EPOCHS} "
          f"epochs of the planar network (best of {REPEATS})")
    load = os.getloadavg()[0]
    print(f"| trials run | wall time (s) | trials/s | CPU s per wall s |")
    print(f"|---|---|---|---|")
    print(f"| one after the other (n_jobs=1) | {seq:.2f} | {N_TRIALS / seq:.1f} | "
          f"{out['sequential']['cpu_per_wall']:.2f} |")
    print(f"| on {cores} threads (default) | {thr:.2f} | {N_TRIALS / thr:.1f} | "
          f"{out['threads']['cpu_per_wall']:.2f} |")
    print(f"load average at the end: {load:.2f} (other processes share these cores)")
    print(f"speed-up: {seq / thr:.2f}x (target >= 1.8x on 2 cores); same trials: yes; "
          f"best lr={out['threads']['best'][0]:.3g} n_h={out['threads']['best'][1]} "
          f"dev cost {out['threads']['best'][2]:.4f}")


if __name__ == "__main__":
    main()
