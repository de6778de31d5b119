"""`python -m pydl demo`: train on the data sets shipped inside the package (no network).

1. The course's planar "flower" (400 points): a 2-layer network, 4 tanh hidden units and a
   sigmoid output, batch gradient descent with alpha = 1.2 for 10000 iterations, as in the
   course (which reports about 90% train accuracy).
2. The UCI 8x8 handwritten digits (1797 images, CC BY 4.0): a 64-64-10 ReLU/softmax network
   trained with mini-batch Adam on 80% of the images, test accuracy on the other 20%.
"""
from __future__ import annotations

import numpy as np

import pydl


def flower(print_every=1000):
    X, y = pydl.datasets.load_planar()
    net = pydl.Network([2, 4, 1], hidden_activation="tanh", init="random", seed=2)
    print("planar flower: 400 points, network [2, 4, 1] tanh/sigmoid, batch gradient descent")
    for start in range(0, 10000, print_every):
        history = net.fit(X, y, epochs=print_every, learning_rate=1.2)
        print(f"  cost after iteration {start + print_every:5d}: {history.cost[-1]:.6f}")
    acc = net.score(X, y)
    print(f"planar flower, train accuracy: {100 * acc:.1f}%")
    return acc


def digits(seed=0):
    X, y = pydl.datasets.load_digits()
    X = X / 16.0  # pixels 0..16 -> [0, 1]
    order = np.random.default_rng(seed).permutation(len(y))
    n_train = int(0.8 * len(y))
    train, test = order[:n_train], order[n_train:]
    net = pydl.Network([64, 64, 10], hidden_activation="relu", output_activation="softmax",
                       seed=seed)
    print(f"digits: {n_train} train / {len(test)} test images, network [64, 64, 10] "
          "relu/softmax, Adam, mini-batches of 64")
    history = net.fit(X[train], y[train], epochs=60, batch_size=64,
                      optimizer=pydl.Adam(learning_rate=0.005))
    print(f"  cost after epoch 1: {history.cost[0]:.4f}, after epoch {len(history)}: "
          f"{history.cost[-1]:.4f} ({history.wall_time:.2f}s)")
    acc = net.score(X[test], y[test])
    print(f"digits, test accuracy: {100 * acc:.1f}%")
    return acc


def main():
    print(f"pydl {pydl.__version__} (OpenMP: {'on' if pydl.openmp_enabled() else 'off'})\n")
    flower()
    print()
    digits()
