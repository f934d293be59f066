"""
The seed's backprop pass, step by step
======================================

xpnet began as a notebook that trains a 4-3-2-1 network (sigmoid hidden layers, a
linear output, no biases) by hand for one step. :func:`xpnet.walkthrough.run` replays
that pass through the library's own forward and backward and returns every quantity the
notebook names, so you can check each one against a hand calculation.
"""

# %%
# Run the pass
# ------------
# ``out=None`` keeps it quiet; ``xpnet walkthrough`` on the command line prints the
# same values with their shapes.
import matplotlib.pyplot as plt
import numpy as np

from xpnet import walkthrough

result = walkthrough.run(out=None)
values = result.values
for name in ("h1_output", "h2_output", "final_output", "target"):
    print(f"{name:13s} {values[name].shape}  {np.round(values[name], 8)}")

# %%
# The backward pass by hand
# -------------------------
# The notebook's sign convention: ``error = y - y_hat``, the error term is the error
# times the activation's derivative (``s * (1 - s)`` for a sigmoid output ``s``), and
# each weight change is the layer's input (transposed) times the error term above it.
# The same three lines, in NumPy, give the library's numbers:
W2 = values["w_h1_h2"]
W3 = values["w_h2_out"]
et_output = values["target"] - values["final_output"]  # linear output: derivative 1
et_h2 = (et_output @ W3.T) * values["h2_output"] * (1 - values["h2_output"])
et_h1 = (et_h2 @ W2.T) * values["h1_output"] * (1 - values["h1_output"])
np.testing.assert_allclose(et_h2, values["et_h2"], rtol=1e-12)
np.testing.assert_allclose(et_h1, values["et_h1"], rtol=1e-12)
print("error terms agree with xpnet's backward pass:", et_h1.round(8))

# %%
# Where the notebook went wrong
# -----------------------------
# At step 3c the notebook sent ``error_h2`` back through ``W2`` instead of the error
# term ``et_h2``, skipping the sigmoid's derivative. The walkthrough computes both and
# says by how much they differ:
print(result.notes[0])

# %%
# The prediction before and after one step, and the size of each weight change:
fig, (ax_pred, ax_delta) = plt.subplots(1, 2, figsize=(9, 3.5))
ax_pred.bar(
    ["before", "after", "target"],
    [
        values["prediction_prior"].item(),
        values["prediction_new"].item(),
        values["target"].item(),
    ],
    color=["tab:gray", "tab:blue", "tab:green"],
)
ax_pred.set_title("prediction for x = [0.5, -0.2, 0.1, 0.3]")
deltas = {
    name: np.abs(values[name]).ravel() for name in ("del_h1", "del_h2", "del_output")
}
ax_delta.boxplot(list(deltas.values()), tick_labels=list(deltas))
ax_delta.set_yscale("log")
ax_delta.set_title("|weight change| per layer, one step")
fig.tight_layout()
plt.show()
