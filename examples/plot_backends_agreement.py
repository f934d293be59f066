"""
The same training on every backend
==================================

One seed draws the same starting weights on every backend (on the host, in float64,
then cast and moved), and the maths is the same code written against the array API
standard, so the same training on NumPy, array-api-strict, torch, JAX or CuPy should
end at the same numbers, up to each library's rounding. This example trains one small
network for 50 steps of gradient descent on every backend installed here, in float64
and in float32, and compares each with NumPy's float64 run: in float64 they agree to
the last bits, in float32 to float32's precision. ``xpnet check-backends`` does the
same from the command line, and xpnet's test suite does it for every function.
"""

import importlib.util

import matplotlib.pyplot as plt
import numpy as np

import xpnet

if importlib.util.find_spec("jax") is not None:
    # JAX computes float64 only in its 64-bit mode, a process-wide switch that
    # xpnet leaves to its users: turn it on before any JAX array is made.
    import jax

    jax.config.update("jax_enable_x64", True)

rng = np.random.default_rng(0)
X = rng.normal(size=(256, 6))
y = np.sin(X[:, :1]) + X[:, 1:2] * X[:, 2:3]

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


def train(backend, dtype, steps=50):
    """Plain gradient descent with the research API; returns losses and weights."""
    net = xpnet.MLP(
        [6, 16, 1], hidden_activation="tanh", dtype=dtype, backend=backend, seed=0
    )
    losses = []
    for _ in range(steps):
        loss, weight_grads, bias_grads = net.loss_and_gradients(X, y)
        net.sgd_step(weight_grads, bias_grads, lr=0.05)
        losses.append(loss)
    return np.array(losses), net.get_weights()


def largest_relative_difference(weights, reference):
    return max(
        float(np.max(np.abs(a - b) / (1 + np.abs(b))))
        for a, b in zip(weights, reference, strict=True)
    )


reference_losses, reference_weights = train("numpy", "float64")
runs = {
    (backend, dtype): train(backend, dtype)
    for dtype in ("float64", "float32")
    for backend in backends
}
differences = {
    dtype: [
        largest_relative_difference(runs[b, dtype][1], reference_weights)
        for b in backends
    ]
    for dtype in ("float64", "float32")
}
for (backend, dtype), (losses, _) in runs.items():
    value = differences[dtype][backends.index(backend)]
    print(
        f"{dtype} {backend:17s} final loss {losses[-1]:.10f}, "
        f"weights vs NumPy float64: {value:.1e}"
    )

# %%
# Left: the loss of every run, step by step (the curves lie on top of each other).
# Right: how far each run's final weights are from NumPy's float64 run; zero
# differences (NumPy itself, and array-api-strict, which wraps NumPy) are drawn at the
# bottom of the axis.
fig, (ax_loss, ax_diff) = plt.subplots(1, 2, figsize=(11, 4))
for (backend, dtype), (losses, _) in runs.items():
    style = "-" if dtype == "float64" else "--"
    ax_loss.plot(losses, style, label=f"{backend} {dtype}", alpha=0.7)
ax_loss.set_xlabel("step")
ax_loss.set_ylabel("squared-error loss")
ax_loss.legend(fontsize="small", ncol=2)
ax_loss.set_title("the same 50 steps on every backend")

positions = np.arange(len(backends))
floor = 1e-17
for offset, dtype in zip((-0.2, 0.2), ("float64", "float32"), strict=True):
    ax_diff.bar(
        positions + offset,
        np.maximum(differences[dtype], floor),
        width=0.4,
        label=dtype,
    )
ax_diff.axhline(1e-10, color="tab:blue", linestyle=":", label="float64 tolerance")
ax_diff.axhline(1e-5, color="tab:orange", linestyle=":", label="float32 tolerance")
ax_diff.set_xticks(positions, backends)
ax_diff.set_yscale("log")
ax_diff.set_ylim(floor / 2, 1e-2)
ax_diff.set_ylabel("final weights vs NumPy float64")
ax_diff.legend(loc="upper left", fontsize="small")
fig.tight_layout()
plt.show()
