"""
The benchmark figures
=====================

How fast xpnet trains next to a hand-written NumPy loop, scikit-learn and PyTorch on
the CPU. These figures are **not measured when this page is built**: they are drawn
from a committed record of one run, ``benchmarks/published/2026-11-28.json``,
transcribed from ``benchmarks/README.md`` (2 cores of an AMD EPYC, NumPy 2.4.6 with
OpenBLAS, torch 2.13.0 CPU, scikit-learn 1.9.1). Reproduce them with
``python benchmarks/run.py`` (about 6 minutes on 2 cores); the
:doc:`../user_guide/performance` page has the method and the tables.
"""

import json
from pathlib import Path

import matplotlib.pyplot as plt

# The examples folder sits beside benchmarks/ in the repository.
try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run by sphinx-gallery, whose working folder is examples/
    HERE = Path.cwd()
record = json.loads((HERE.parent / "benchmarks/published/2026-11-28.json").read_text())
print(record["source"])
print(record["machine"])
print(record["problem"])

# %%
# Seconds per training epoch
# --------------------------
# One epoch of 60,000 x 784 through 784-256-128-10, plain SGD, batch 256. The "GEMMs
# alone" bar replays just the epoch's matrix products: the floor for any loop.
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, (dtype, times) in zip(
    axes, record["training_s_per_epoch"].items(), strict=True
):
    names = list(times)
    colors = ["tab:blue" if name.startswith("xpnet") else "tab:gray" for name in names]
    ax.barh(names, list(times.values()), color=colors)
    ax.set_title(dtype)
    ax.set_xlabel("seconds per epoch (lower is faster)")
axes[0].invert_yaxis()  # the axes share y: invert once, xpnet on top
fig.tight_layout()

# %%
# Scaling with batch size and width
# ---------------------------------
# Small batches pay a fixed cost per step; from batch 256 up, and from width 1024 up,
# xpnet's loop runs at the hand-written loop's rate.
fig, (ax_batch, ax_width) = plt.subplots(1, 2, figsize=(10, 4))
batch = record["scaling_batch_samples_per_s"]
for name in ("xpnet network loop", "hand-written NumPy", "PyTorch CPU"):
    ax_batch.plot(batch["batch"], batch[name], "o-", label=name)
ax_batch.set_xscale("log", base=2)
ax_batch.set_yscale("log")
ax_batch.set_xlabel("batch size")
ax_batch.set_ylabel("samples per second")
ax_batch.legend()
width = record["scaling_width_gemm_gflops"]
for name in (
    "xpnet network loop",
    "hand-written NumPy",
    "PyTorch CPU",
    "GEMMs alone (replay)",
):
    ax_width.plot(width["width"], width[name], "o-", label=name)
ax_width.set_xscale("log", base=2)
ax_width.set_xlabel("hidden width w (784-w-w-10)")
ax_width.set_ylabel("GEMM GFLOP/s achieved")
ax_width.legend()
fig.tight_layout()

# %%
# Cost of one step on the seed's 4-3-2-1 network
# ----------------------------------------------
# With almost no arithmetic, a step's time is its overhead: xpnet's step is 1.8x a
# raw NumPy step, PyTorch's autograd 14x.
overhead = {k: v for k, v in record["step_overhead_us"].items() if k != "note"}
fig, ax = plt.subplots(figsize=(7, 3))
ax.barh(list(overhead), list(overhead.values()), color="tab:blue")
ax.set_xscale("log")
ax.set_xlabel("microseconds per step (one sample, float64)")
ax.invert_yaxis()
fig.tight_layout()
plt.show()
