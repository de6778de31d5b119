"""pydl.search: random search on each hyperparameter's scale, coarse to fine, on a dev set;
the same results one trial after another, on threads and on a Dask cluster."""
import math
import sys

import numpy as np
import pytest

import pydl
from pydl.search import (Choice, Integers, choice, integers, loguniform, one_minus_loguniform,
                         random_search, uniform)

X, Y = pydl.datasets.load_planar(m=200, seed=1)
X_DEV, Y_DEV = pydl.datasets.load_planar(m=100, seed=2)
SPACE = {"learning_rate": loguniform(1e-2, 10.0), "beta": one_minus_loguniform(0.5, 0.99),
         "hidden": integers(2, 8), "activation": choice(["tanh", "relu"]), "epochs": 300}


def build(p):
    net = pydl.Network([2, p["hidden"], 1], hidden_activation=p["activation"],
                       dtype="float64", seed=p["seed"])
    return net, dict(epochs=p["epochs"], optimizer=pydl.Momentum(p["learning_rate"],
                                                                    beta=p["beta"]))


def without_times(rows):
    return [{k: v for k, v in r.items() if k != "fit_seconds"} for r in rows]


def same_rows(a, b):
    """Row for row equal, NaN equal to NaN."""
    assert len(a) == len(b)
    for ra, rb in zip(without_times(a), without_times(b)):
        assert ra.keys() == rb.keys()
        for k in ra:
            both_nan = isinstance(ra[k], float) and math.isnan(ra[k]) and math.isnan(rb[k])
            assert both_nan or ra[k] == rb[k], (k, ra[k], rb[k])


# ---- distributions ----------------------------------------------------------------------

def test_loguniform_spends_as_much_on_each_decade():
    rng = np.random.default_rng(0)
    d = loguniform(1e-4, 1.0)
    x = np.array([d.sample(rng) for _ in range(8000)])
    assert x.min() >= 1e-4 and x.max() <= 1.0
    per_decade = np.histogram(np.log10(x), bins=[-4, -3, -2, -1, 0])[0] / len(x)
    np.testing.assert_allclose(per_decade, 0.25, atol=0.025)  # a uniform draw: ~0.005 sd


def test_one_minus_loguniform_for_betas_near_one():
    rng = np.random.default_rng(1)
    d = one_minus_loguniform(0.9, 0.999)
    x = np.array([d.sample(rng) for _ in range(6000)])
    assert x.min() >= 0.9 and x.max() <= 0.999
    # as many in [0.9, 0.99] as in [0.99, 0.999]: 1 - beta uniform on the log scale
    assert abs(np.mean(x < 0.99) - 0.5) < 0.03


def test_integers_include_both_ends_and_choice_every_option():
    rng = np.random.default_rng(2)
    assert {integers(2, 5).sample(rng) for _ in range(200)} == {2, 3, 4, 5}
    assert {choice(["a", "b", "c"]).sample(rng) for _ in range(200)} == {"a", "b", "c"}
    x = [uniform(-1, 1).sample(rng) for _ in range(2000)]
    assert -1 <= min(x) and max(x) <= 1 and abs(np.mean(x)) < 0.05


def test_narrowing_stays_on_each_scale():
    lr = loguniform(1e-4, 1.0).narrow([1e-3, 1e-2])
    assert (lr.low, lr.high) == pytest.approx((1e-3, 1e-2))
    one = loguniform(1e-4, 1.0).narrow([1e-2])  # a tenth of the 4 decades around it
    assert (one.low, one.high) == pytest.approx((10 ** -2.2, 10 ** -1.8))
    beta = one_minus_loguniform(0.9, 0.999).narrow([0.99, 0.995])
    assert (beta.low, beta.high) == pytest.approx((0.99, 0.995))
    assert isinstance(integers(1, 100).narrow([40, 45]), Integers)
    assert (integers(1, 100).narrow([40, 45]).low, integers(1, 100).narrow([40, 45]).high) \
        == (31, 54)
    assert choice(["relu", "tanh", "sigmoid"]).narrow(["tanh", "relu"]).options == \
        ["relu", "tanh"]


@pytest.mark.parametrize("make, error", [
    (lambda: loguniform(0, 1), ValueError), (lambda: loguniform(1, 1), ValueError),
    (lambda: one_minus_loguniform(0.9, 1.0), ValueError), (lambda: integers(3, 2), ValueError),
    (lambda: integers(1.5, 2), TypeError), (lambda: Choice([]), ValueError),
    (lambda: Choice("relu"), TypeError), (lambda: uniform(0, float("nan")), ValueError)])
def test_bad_distributions(make, error):
    with pytest.raises(error):
        make()


# ---- the search ---------------------------------------------------------------------------

def test_threads_give_the_sequential_results_and_the_best_network():
    seq = random_search(build, SPACE, (X, Y), (X_DEV, Y_DEV), n_trials=6, rounds=2,
                        seed=3, n_jobs=1)
    thr = random_search(build, SPACE, (X, Y), (X_DEV, Y_DEV), n_trials=6, rounds=2,
                        seed=3, n_jobs=3)
    same_rows(seq.trials, thr.trials)
    assert seq.best_network.theta.tobytes() == thr.best_network.theta.tobytes()
    rows = seq.trials
    assert len(rows) == 12 and [r["dev_cost"] for r in rows] == \
        sorted(r["dev_cost"] for r in rows)
    # each row is what a plain fit of build(params) gives, scored on the dev set
    for row in rows[:3]:
        params = {k: row[k] for k in list(SPACE) + ["seed"]}
        net, fit_args = build(params)
        net.fit(X, Y, **fit_args)
        assert row["dev_cost"] == net.cost(X_DEV, Y_DEV)
        assert row["dev_accuracy"] == net.score(X_DEV, Y_DEV)
    best = {k: rows[0][k] for k in list(SPACE) + ["seed"]}
    assert seq.best_params == best
    assert seq.best_network.n_threads is None  # the trial's one thread is not kept


def test_second_round_samples_inside_the_best_ranges():
    res = random_search(build, SPACE, (X, Y), (X_DEV, Y_DEV), n_trials=8, rounds=2, seed=4,
                        top=0.25)
    first = sorted((r for r in res.trials if r["round"] == 0), key=lambda r: r["dev_cost"])
    best = first[:2]
    fine = res.spaces[1]
    for name in ("learning_rate", "beta", "hidden"):
        assert fine[name].low >= SPACE[name].low and fine[name].high <= SPACE[name].high
        lo, hi = min(r[name] for r in best), max(r[name] for r in best)
        assert fine[name].low <= lo * (1 + 1e-12) and hi <= fine[name].high * (1 + 1e-12)
    for r in res.trials:
        if r["round"] == 1:
            assert fine["learning_rate"].low <= r["learning_rate"] <= fine["learning_rate"].high
            assert r["activation"] in fine["activation"].options
            assert r["epochs"] == 300


def test_diverging_trials_are_recorded_last():
    space = dict(SPACE, learning_rate=loguniform(1e6, 1e8), activation="relu")
    res = random_search(lambda p: (pydl.Network([2, p["hidden"], 1], seed=p["seed"],
                                                init_scale=10.0, init="random"),
                                   dict(epochs=50, learning_rate=p["learning_rate"])),
                        space, (X * 1e3, Y), (X_DEV, Y_DEV), n_trials=3, rounds=1)
    assert all(r["dev_cost"] == math.inf and "NaN or infinite" in r["error"]
               for r in res.trials)


def test_table_is_a_dataframe_with_pandas_else_the_rows(monkeypatch):
    res = random_search(build, dict(SPACE, epochs=20), (X, Y), (X_DEV, Y_DEV), n_trials=3,
                        rounds=1)
    pd = pytest.importorskip("pandas", reason="needs pandas: pip install 'pydl[distributed]'")
    table = res.table
    assert isinstance(table, pd.DataFrame) and len(table) == 3
    assert list(table["dev_cost"]) == [r["dev_cost"] for r in res.trials]
    monkeypatch.setitem(sys.modules, "pandas", None)
    assert res.table is res.trials


def test_seed_may_be_a_generator_or_a_random_state():
    small = dict(SPACE, epochs=5)
    by_int = random_search(build, small, (X, Y), (X_DEV, Y_DEV), n_trials=4, rounds=2, seed=9)
    by_gen = random_search(build, small, (X, Y), (X_DEV, Y_DEV), n_trials=4, rounds=2,
                           seed=np.random.default_rng(9))
    same_rows(by_int.trials, by_gen.trials)  # an int seeds default_rng
    by_rs = random_search(build, small, (X, Y), (X_DEV, Y_DEV), n_trials=4, rounds=2,
                          seed=np.random.RandomState(9))
    again = random_search(build, small, (X, Y), (X_DEV, Y_DEV), n_trials=4, rounds=2,
                          seed=np.random.RandomState(9))
    same_rows(by_rs.trials, again.trials)
    with pytest.raises(TypeError, match="seed must be None, an integer"):
        random_search(build, small, (X, Y), (X_DEV, Y_DEV), seed=1.5)


def test_bad_arguments():
    good = dict(n_trials=2, rounds=1)
    with pytest.raises(TypeError, match="build must be callable"):
        random_search(None, SPACE, (X, Y), (X_DEV, Y_DEV), **good)
    with pytest.raises(TypeError, match="space must be a non-empty dict"):
        random_search(build, {}, (X, Y), (X_DEV, Y_DEV), **good)
    with pytest.raises(ValueError, match="hyperparameter names"):
        random_search(build, {"seed": 1}, (X, Y), (X_DEV, Y_DEV), **good)
    with pytest.raises(TypeError, match="dev must be a pair"):
        random_search(build, SPACE, (X, Y), X_DEV, **good)
    with pytest.raises(ValueError, match="n_trials"):
        random_search(build, SPACE, (X, Y), (X_DEV, Y_DEV), n_trials=0)
    with pytest.raises(TypeError, match="client must be a dask"):
        random_search(build, SPACE, (X, Y), (X_DEV, Y_DEV), client="tcp://x", **good)
    with pytest.raises(TypeError, match=r"build\(params\) must return"):
        random_search(lambda p: pydl.Network([2, 1]), SPACE, (X, Y), (X_DEV, Y_DEV), **good)


def test_import_pydl_imports_neither_dask_nor_pandas():
    import subprocess
    code = ("import sys, pydl, pydl.search; "
            "sys.exit(bool({'dask', 'distributed', 'pandas'} & set(sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_dask_cluster_gives_the_sequential_results():
    distributed = pytest.importorskip(
        "distributed", reason="needs dask.distributed: pip install 'pydl[distributed]'")

    def build_here(p):  # a closure: Dask ships it by value
        return build(p)

    kwargs = dict(n_trials=5, rounds=2, seed=7)
    seq = random_search(build_here, SPACE, (X, Y), (X_DEV, Y_DEV), n_jobs=1, **kwargs)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = random_search(build_here, SPACE, (X, Y), (X_DEV, Y_DEV), client=client,
                                **kwargs)
        workers = {w for w in client.run(lambda: __import__("os").getpid()).values()}
    assert len(workers) == 2
    same_rows(seq.trials, on_dask.trials)
    assert seq.best_network.theta.tobytes() == on_dask.best_network.theta.tobytes()
