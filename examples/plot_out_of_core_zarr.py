"""
Out-of-core training on a Zarr store
====================================

Hand the estimators Dask arrays and they train block by block: each epoch computes one
row block at a time (here, read from a Zarr store on disk), trains shuffled
minibatches from it while the next block is read, and never holds all of X in memory.
``predict`` returns a Dask array and ``score`` reduces over the blocks. Install with
``pip install "xpnet[dask,dask-files]"``.

The store here is small, so that the page builds in seconds; the same code trains on
stores far larger than memory (the :doc:`../user_guide/scaling_out` page has the
measured figures: 4 GiB of features in a process of 238 MiB).
"""

import tempfile
import warnings
from pathlib import Path

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np

import xpnet

warnings.filterwarnings("ignore", category=xpnet.ConvergenceWarning)

# %%
# A Zarr store of 40,000 rows in blocks of 4,000 rows: a group with arrays ``X`` and
# ``y``, as ``xpnet train --data STORE.zarr`` also reads.
rng = np.random.default_rng(0)
n_samples, n_features = 40_000, 20
teacher = rng.normal(size=(n_features, 3))
X_host = rng.normal(size=(n_samples, n_features)).astype("float32")
y_host = np.argmax(
    np.tanh(X_host @ teacher) + 0.3 * rng.normal(size=(n_samples, 3)), axis=1
)

store = Path(tempfile.mkdtemp()) / "train.zarr"
da.from_array(X_host, chunks=(4_000, n_features)).to_zarr(store, component="X")
da.from_array(y_host, chunks=4_000).to_zarr(store, component="y")
del X_host, y_host  # from here on the data lives on disk only

# %%
# Open the store lazily and fit. Nothing is read until ``fit`` asks for a block.
X = da.from_zarr(store, component="X")
y = da.from_zarr(store, component="y")
print(X, f"{X.numblocks[0]} row blocks", sep="\n")

clf = xpnet.MLPClassifier(
    hidden_layer_sizes=(32,), max_iter=8, random_state=0, batch_size=200
)
clf.fit(X, y)
predicted = clf.predict(X)  # a Dask array, one block per row block of X
print(type(predicted).__name__, predicted.chunks[0][:3], "...")
print(f"accuracy over the blocks: {clf.score(X, y):.3f}")

# %%
# The same fit on the same numbers held in memory. Minibatches stay within a block
# on the out-of-core path, so the shuffles differ and the curves are close, not equal
# (with a single block they are equal bit for bit).
in_memory = xpnet.MLPClassifier(
    hidden_layer_sizes=(32,), max_iter=8, random_state=0, batch_size=200
)
in_memory.fit(X.compute(), y.compute())

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(range(1, 9), clf.loss_curve_, "o-", label="Dask, block by block from Zarr")
ax.plot(range(1, 9), in_memory.loss_curve_, "s--", label="NumPy, in memory")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.legend()
ax.set_title("out of core: the same training, one block at a time")
fig.tight_layout()
plt.show()
