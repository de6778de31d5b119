"""`python -m pydl demo`: train on the data sets shipped inside the package (no network).

1. The course's planar "flower" (400 points): a 2-layer network, 4 tanh hidden units and a
   sigmoid output, batch gradient descent with alpha = 1.2 for 10000 iterations, as in the
   course (which reports about 90% train accuracy).
2. The UCI 8x8 handwritten digits (1797 images, CC BY 4.0): a 64-64-10 ReLU/softmax network
   trained with mini-batch Adam on 80% of the images, test accuracy on the other 20%.

With `--plot DIR` (matplotlib: ``pip install "pydl[plot]"``) it also writes the flower's
decision boundary (planar_decision_boundary.png) and the digits' learning curves, with the
test images as the dev set (digits_learning_curves.png).
"""
from __future__ import annotations

import os

import numpy as np

import pydl


def flower(print_every=1000, plot_dir=None):
    X, y = pydl.datasets.load_planar()
    net = pydl.Network([2, 4, 1], hidden_activation="tanh", init="random", seed=2)
    print("planar flower: 400 points, network [2, 4, 1] tanh/sigmoid, batch gradient descent")
    for start in range(0, 10000, print_every):
        history = net.fit(X, y, epochs=print_every, learning_rate=1.2)
        print(f"  cost after iteration {start + print_every:5d}: {history.cost[-1]:.6f}")
    acc = net.score(X, y)
    print(f"planar flower, train accuracy: {100 * acc:.1f}%")
    if plot_dir is not None:
        path = plot_decision_boundary(net, X, y, os.path.join(plot_dir,
                                                              "planar_decision_boundary.png"))
        print(f"  wrote {path}")
    return acc


def plot_decision_boundary(net, X, y, path):
    """The course's picture: the network's decision regions over the plane, the points on
    top. Returns the path written."""
    import matplotlib.pyplot as plt

    x0, x1 = X[:, 0].min() - 1, X[:, 0].max() + 1
    y0, y1 = X[:, 1].min() - 1, X[:, 1].max() + 1
    gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    regions = net.predict(np.c_[gx.ravel(), gy.ravel()]).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(gx, gy, regions, cmap="Spectral", alpha=0.8)
    ax.scatter(X[:, 0], X[:, 1], c=np.ravel(y), cmap="Spectral", s=12, edgecolors="k",
               linewidths=0.3)
    ax.set_title(f"decision boundary, network {net.layer_dims}")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def digits(seed=0, plot_dir=None):
    X, y = pydl.datasets.load_digits()
    X = X / 16.0  # pixels 0..16 -> [0, 1]
    order = np.random.default_rng(seed).permutation(len(y))
    n_train = int(0.8 * len(y))
    train, test = order[:n_train], order[n_train:]
    net = pydl.Network([64, 64, 10], hidden_activation="relu", output_activation="softmax",
                       seed=seed)
    print(f"digits: {n_train} train / {len(test)} test images, network [64, 64, 10] "
          "relu/softmax, Adam, mini-batches of 64")
    # the dev set is evaluated after each epoch only when the curves are drawn
    dev = (X[test], y[test]) if plot_dir is not None else None
    history = net.fit(X[train], y[train], epochs=60, batch_size=64,
                      optimizer=pydl.Adam(learning_rate=0.005), validation_data=dev)
    print(f"  cost after epoch 1: {history.cost[0]:.4f}, after epoch {len(history)}: "
          f"{history.cost[-1]:.4f} ({history.wall_time:.2f}s)")
    acc = net.score(X[test], y[test])
    print(f"digits, test accuracy: {100 * acc:.1f}%")
    if plot_dir is not None:
        import matplotlib.pyplot as plt

        ax = history.plot()
        ax.set_title("digits: [64, 64, 10], Adam, mini-batches of 64")
        ax.figure.tight_layout()
        path = os.path.join(plot_dir, "digits_learning_curves.png")
        ax.figure.savefig(path, dpi=100)
        plt.close(ax.figure)
        print(f"  wrote {path}")
    return acc


def main(plot_dir=None):
    if plot_dir is not None:  # fail before training, not after
        try:
            import matplotlib
        except ImportError:
            raise ImportError('pydl demo --plot needs matplotlib: pip install "pydl[plot]"') \
                from None
        matplotlib.use("Agg")  # files only: no window, no display needed
        os.makedirs(plot_dir, exist_ok=True)
    print(f"pydl {pydl.__version__} (OpenMP: {'on' if pydl.openmp_enabled() else 'off'})\n")
    flower(plot_dir=plot_dir)
    print()
    digits(plot_dir=plot_dir)
