"""A short pydl session for valgrind's memcheck (tests/test_memory.py): training, inference,
cost, gradients, the model file, a refused input, the building blocks."""
import io

import numpy as np

import pydl

rng = np.random.default_rng(0)
X = rng.standard_normal((32, 4)).astype(np.float32)
y = (X[:, 0] > 0).astype(np.int64)
net = pydl.Network([4, 5, 1], seed=0, n_threads=2, keep_probs=0.9)
for _ in range(3):
    net.fit(X, y, epochs=2, batch_size=8, optimizer=pydl.Adam(0.01))
    net.predict(X)
    net.cost(X, y)
    net.gradients(X, y)
    net.backward(X, np.ones((32, 1), np.float32))
    f = io.BytesIO()
    net.save(f)
    pydl.load(io.BytesIO(f.getvalue()))
AL, caches = pydl.blocks.L_model_forward(X.T.astype(np.float64), net.parameters)
try:
    net.predict(np.full((2, 4), np.nan))
except ValueError:
    pass
