"""History.plot and `pydl demo --plot DIR` (matplotlib, Agg backend): the files are written
and the plotted data are the history's."""
import subprocess
import sys

import numpy as np
import pytest

import pydl

matplotlib = pytest.importorskip("matplotlib", reason="pydl[plot] (matplotlib) is not installed")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def lines_by_label(ax):
    return {line.get_label(): line for a in ax.figure.axes for line in a.get_lines()}


def test_plot_draws_the_history(tmp_path):
    X, y = pydl.datasets.load_digits()
    X = X / 16.0
    net = pydl.Network([64, 16, 10], output_activation="softmax", seed=0)
    history = net.fit(X[:1200], y[:1200], epochs=8, batch_size=64,
                      optimizer=pydl.Adam(0.01), lr_schedule=pydl.ExponentialDecay(0.8),
                      validation_data=(X[1200:], y[1200:]))
    ax = history.plot()
    lines = lines_by_label(ax)
    assert set(lines) == {"cost", "dev cost", "learning rate", "dev accuracy"}
    for label, values in [("cost", history.cost), ("dev cost", history.dev_cost),
                          ("learning rate", history.learning_rate),
                          ("dev accuracy", history.dev_accuracy)]:
        np.testing.assert_array_equal(lines[label].get_xdata(), history.epochs)
        np.testing.assert_array_equal(lines[label].get_ydata(), values)
    assert lines["learning rate"].axes is not ax  # a second axis
    assert lines["learning rate"].axes.get_yscale() == "log"  # a decaying rate
    path = tmp_path / "curves.png"
    ax.figure.savefig(path)
    assert path.stat().st_size > 1000
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    plt.close("all")


def test_plot_on_given_axes_without_dev_set():
    net = pydl.Network([2, 3, 1], seed=0)
    X, y = pydl.datasets.load_planar()
    history = net.fit(X, y, epochs=5, learning_rate=0.5)
    fig, ax = plt.subplots()
    assert history.plot(ax=ax) is ax
    assert set(lines_by_label(ax)) == {"cost", "learning rate"}
    np.testing.assert_array_equal(lines_by_label(ax)["cost"].get_ydata(), history.cost)
    plt.close(fig)


def test_plot_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=r'pip install "pydl\[plot\]"'):
        pydl.History().plot()


def test_demo_plot_writes_both_pictures(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pydl", "demo", "--plot", str(tmp_path / "p")],
                         capture_output=True, text=True, timeout=300, check=True,
                         cwd=tmp_path).stdout
    for name in ("planar_decision_boundary.png", "digits_learning_curves.png"):
        path = tmp_path / "p" / name
        assert path.stat().st_size > 10_000, out
        assert f"wrote {path}" in out
