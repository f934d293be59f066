"""
Checkpoint and resume
=====================

``fit(X, y, checkpoint=path)`` writes the whole state of the fit (weights, optimizer
state, random-number state, history, a fingerprint of the data) atomically after every
epoch. ``fit(X, y, resume_from=path)`` continues from it to the very numbers an
uninterrupted fit reaches. Here a fit is stopped half-way, as a crash or a pre-empted
job would stop it, and resumed in a fresh estimator.
"""

import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import xpnet

warnings.filterwarnings("ignore", category=xpnet.ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X = X / 16
settings = dict(
    hidden_layer_sizes=(32,),
    max_iter=40,
    random_state=0,
    solver="sgd",
    learning_rate_init=0.05,
)

# %%
# The whole fit, for reference:
whole = xpnet.MLPClassifier(**settings).fit(X, y)

# %%
# The same fit, stopped after 15 epochs. A callback returning True stops training (a
# crash would stop it too: the checkpoint holds the last completed epoch).
folder = Path(tempfile.mkdtemp())
checkpoint = folder / "run.safetensors"


def stop_after_15(model, history):
    return len(history.loss_curve) >= 15


first = xpnet.MLPClassifier(**settings)
first.fit(X, y, checkpoint=checkpoint, callbacks=[stop_after_15])
print(
    f"stopped after {len(first.loss_curve_)} epochs; "
    f"checkpoint of {checkpoint.stat().st_size} bytes"
)

# %%
# A new estimator, the same settings, resumed from the checkpoint:
resumed = xpnet.MLPClassifier(**settings)
resumed.fit(X, y, resume_from=checkpoint)
same = all(
    np.array_equal(a, b) for a, b in zip(whole.coefs_, resumed.coefs_, strict=True)
)
print(f"resumed to epoch {resumed.n_iter_}; weights identical to the whole fit: {same}")

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(whole.loss_curve_, linewidth=4, alpha=0.35, label="uninterrupted fit")
ax.plot(first.loss_curve_, "o-", markersize=3, label="first run, stopped at 15")
epochs = np.arange(len(first.loss_curve_), len(resumed.loss_curve_))
ax.plot(
    epochs,
    resumed.loss_curve_[len(first.loss_curve_) :],
    "s-",
    markersize=3,
    label="resumed from the checkpoint",
)
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_yscale("log")
ax.legend()
ax.set_title("checkpoint, stop, resume: the same curve")
fig.tight_layout()
plt.show()
