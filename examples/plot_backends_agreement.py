"""
The same fit on every backend
=============================

One seed draws the same starting weights on every backend (on the host, in float64,
then cast and moved), so the same fit on NumPy, array-api-strict, torch, JAX or CuPy
should end at the same numbers, up to each library's rounding. This example fits one
regressor on every backend installed here, in float64 and in float32, and plots how far
each one's final weights are from NumPy's float64 fit: in float64 they agree to the
last bits (about 1e-16 when this page was built), in float32 to float32's precision
(about 1e-7). ``xpnet check-backends`` does the same from
the command line.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

import xpnet

# 20 epochs are enough to compare backends; the fit has not converged, and says so.
warnings.filterwarnings("ignore", category=xpnet.ConvergenceWarning)

rng = np.random.default_rng(0)
X = rng.normal(size=(256, 6))
y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]

CANDIDATES = ["numpy", "array_api_strict", "torch", "jax", "gpu", "torch:cuda"]
backends = []
for spec in CANDIDATES:
    try:
        xpnet.get_backend(spec)
    except xpnet.BackendError as error:
        print(f"{spec}: not here ({str(error).splitlines()[0][:70]}...)")
    else:
        backends.append(spec)
print("backends here:", backends)


def fit(backend, dtype):
    model = xpnet.MLPRegressor(
        hidden_layer_sizes=(16,),
        solver="adam",
        learning_rate_init=1e-2,
        batch_size=64,  # 4 equal batches an epoch: JAX compiles the step once
        max_iter=20,
        random_state=0,
        backend=backend,
        dtype=dtype,
    )
    return model.fit(X, y)


def largest_relative_difference(model, reference):
    return max(
        float(np.max(np.abs(a - b) / (1 + np.abs(b))))
        for a, b in zip(model.coefs_, reference.coefs_, strict=True)
    )


reference = fit("numpy", "float64")
differences = {
    dtype: [largest_relative_difference(fit(b, dtype), reference) for b in backends]
    for dtype in ("float64", "float32")
}
for dtype, values in differences.items():
    for backend, value in zip(backends, values, strict=True):
        print(
            f"{dtype} {backend:17s} largest |difference| / (1 + |NumPy|): {value:.1e}"
        )

# %%
# Zero differences (NumPy itself in float64, and array-api-strict, which wraps NumPy)
# are drawn at the bottom of the axis.
fig, ax = plt.subplots(figsize=(7, 4))
positions = np.arange(len(backends))
floor = 1e-17
for offset, (dtype, values) in zip((-0.2, 0.2), differences.items(), strict=True):
    ax.bar(positions + offset, np.maximum(values, floor), width=0.4, label=dtype)
ax.axhline(1e-10, color="tab:blue", linestyle=":", label="float64 tolerance")
ax.axhline(1e-5, color="tab:orange", linestyle=":", label="float32 tolerance")
ax.set_xticks(positions, backends)
ax.set_yscale("log")
ax.set_ylim(floor / 2, 1e-2)
ax.set_ylabel("final weights vs NumPy float64")
ax.set_title("one seed, 20 epochs of Adam, every backend")
ax.legend(loc="upper left", fontsize="small")
fig.tight_layout()
plt.show()
