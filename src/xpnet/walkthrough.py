"""The seed notebook's single backprop pass, step by step, each quantity with its shape.

``run()`` replays the notebook's 4-3-2-1 network (sigmoid hidden layers, linear output,
no biases) from its own printed weights, through the library's own forward and
backward. ``run(layers=[4, 8, 3, 1], activation="tanh", seed=0)`` does the same for any
network. Names follow the notebook: ``h1_input``, ``h1_output``, ``error_h1``,
``et_h1`` (error term), ``del_h1`` (weight delta), ... with the notebook's sign
convention ``error = y - y_hat`` and ``w_new = w + del``, which is ``w -= lr * grad``
with ``lr = 1``.

The notebook's step 3c propagates ``error_h2`` instead of the error term ``et_h2``,
skipping the sigmoid derivative. By default the walkthrough prints the correct values
and says what the notebook did; ``as_printed=True`` reproduces the notebook's numbers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from .backend import Backend
from .data.checks import check_layer_sizes
from .mlp import MLP

# The notebook's initial weights, as it printed them (cells 4 to 6).
SEED_WEIGHTS = [
    np.array(
        [
            [0.48933789, -0.72347172, 0.08183022],
            [-0.23113807, 0.23997173, -0.21066809],
            [0.29863268, -0.23236267, -0.41801194],
            [-0.20281991, -1.07067008, 0.10292864],
        ]
    ),
    np.array(
        [[1.16625098, 0.5995312], [0.9691656, 0.49771763], [-0.48026261, -0.69073575]]
    ),
    np.array([[-0.54822941], [-0.82546952]]),
]
SEED_X = np.array([0.5, -0.2, 0.1, 0.3])
SEED_Y = np.array([0.4])


@dataclass
class Walkthrough:
    """Every named quantity of one pass, as host arrays, in the order printed."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]


def _layer_names(n_layers: int) -> list[str]:
    """``["h1", ..., "output"]``: the notebook's name for each layer's nodes."""
    return [f"h{i}" for i in range(1, n_layers)] + ["output"]


def _weight_names(names: list[str]) -> list[str]:
    """``["w_input_h1", "w_h1_h2", ..., "w_hK_out"]`` as the notebook names them."""
    sources = ["input"] + names[:-1]
    return [
        f"w_{src}_{'out' if dst == 'output' else dst}"
        for src, dst in zip(sources, names, strict=True)
    ]


def run(
    backend: str | Backend | None = None,
    *,
    as_printed: bool = False,
    layers: list[int] | None = None,
    activation: str = "sigmoid",
    seed: int | None = 0,
    dtype: str = "float64",
    out: TextIO | None = sys.stdout,
) -> Walkthrough:
    """Replay one forward and backward pass, printing each step to ``out``.

    Parameters
    ----------
    backend : str or Backend, optional
        Where the maths runs; the printed numbers are the same on every backend.
    as_printed : bool
        Reproduce the notebook's own numbers, including its step 3c.
    layers : list of int, optional
        Widths from inputs to outputs; default the seed's ``[4, 3, 2, 1]`` with the
        notebook's weights, x and y. Other networks draw weights (``normal(0,
        fan_in**-0.5)``, the seed's rule), x and y from ``seed``.
    activation : str
        Hidden activation (the output is linear, with the squared error loss).
    seed : int or None
        Seed for the weights, x and y of a network other than the seed's.
    dtype : str
        ``float64`` (default) or ``float32``.
    out : text stream or None
        Where to print; None prints nothing.
    """
    is_seed = layers is None or (
        list(layers) == [4, 3, 2, 1] and activation == "sigmoid"
    )
    if is_seed:
        layers, activation = [4, 3, 2, 1], "sigmoid"
        weights, x, y = SEED_WEIGHTS, SEED_X, SEED_Y
    else:
        layers = check_layer_sizes(layers, "layers")
        weights, x, y = _random_problem(layers, seed)
    if as_printed and not is_seed:
        raise ValueError(
            "as_printed reproduces the seed notebook's own 4-3-2-1 sigmoid network; "
            f"got layers={layers}, activation={activation!r}"
        )
    net = MLP.from_weights(
        weights, hidden_activation=activation, dtype=dtype, backend=backend
    )
    with net.backend.context():
        result = _trace(net, x, y, as_printed, is_seed)
    if out is not None:
        _print(result, net, layers, out)
    return result


def _random_problem(layers: list[int], seed: int | None):
    rng = np.random.default_rng(seed)
    weights = [
        rng.normal(0.0, fan_in**-0.5, size=(fan_in, fan_out))
        for fan_in, fan_out in zip(layers[:-1], layers[1:], strict=True)
    ]
    return weights, rng.uniform(-1, 1, layers[0]), rng.uniform(-1, 1, layers[-1])


def _trace(
    net: MLP, x: np.ndarray, y: np.ndarray, as_printed: bool, is_seed: bool
) -> Walkthrough:
    """Run the library's backprop on one sample and name what it computed."""
    X, Y = x[None, :], y[None, :]
    _, grads, fwd = net.backprop(X, Y, "squared_error", keep_all=True)
    assert grads.output_errors is not None and grads.error_terms is not None
    assert fwd.inputs is not None
    host = net.backend.to_numpy
    names = _layer_names(len(net.weights))
    w_names = _weight_names(names)
    # The notebook's signs: error = -dL/da, error term = -dL/dz, delta = -dL/dW.
    table = {
        "error": [-host(e) for e in grads.output_errors],
        "et": [-host(t) for t in grads.error_terms],
        "del": [-host(g) for g in grads.weights],
    }
    result = Walkthrough()
    if is_seed:
        notebook = _notebook_step_3c(net, fwd, grads.output_errors[1])
        correct = [table[kind][0] for kind in ("error", "et", "del")]
        if as_printed:
            for kind, value in zip(("error", "et", "del"), notebook, strict=True):
                table[kind][0] = value
        predictions = {
            "notebook": _new_prediction(net, X, table["del"][1:], notebook[2]),
            "correct": _new_prediction(net, X, table["del"][1:], correct[2]),
        }
        result.notes.append(_step_3c_note(notebook, correct, predictions, as_printed))
    for name, W in zip(w_names, net.weights, strict=True):
        result.values[name] = host(W)
    for name, z, a in zip(names, fwd.inputs, fwd.outputs[1:], strict=True):
        prefix = "final" if name == "output" else name
        result.values[f"{prefix}_input"] = host(z)
        result.values[f"{prefix}_output"] = host(a)
    for kind in ("error", "et", "del"):
        for layer in reversed(range(len(names))):
            result.values[f"{kind}_{names[layer]}"] = table[kind][layer]
    for name, delta in zip(w_names, table["del"], strict=True):
        result.values[f"{name}_new"] = result.values[name] + delta
    result.values["prediction_prior"] = result.values["final_output"]
    result.values["prediction_new"] = _new_prediction(
        net, X, table["del"][1:], table["del"][0]
    )
    result.values["target"] = Y
    return result


def _notebook_step_3c(net: MLP, fwd: Any, output_error_h2) -> tuple:
    """The notebook's own step 3c: ``error_h1 = error_h2 @ W2.T``, no derivative.

    Only the walkthrough computes this, to show the notebook's numbers. Returns host
    (error_h1, et_h1, del_h1) with the notebook's signs.
    """
    xp = net.xp
    error_h1 = -output_error_h2 @ net.weights[1].T
    outputs, z = fwd.outputs, fwd.inputs[0]
    et_h1 = net.activations[0].backprop(
        xp, z, outputs[1], xp.asarray(error_h1, copy=True)
    )
    del_h1 = outputs[0].T @ et_h1
    return tuple(net.backend.to_numpy(a) for a in (error_h1, et_h1, del_h1))


def _new_prediction(
    net: MLP, X: np.ndarray, upper_deltas: list, first_delta
) -> np.ndarray:
    """The library's forward pass with ``w + del`` for every layer."""
    deltas = [first_delta, *upper_deltas]
    new_weights = [
        net.backend.to_numpy(W) + d for W, d in zip(net.weights, deltas, strict=True)
    ]
    new_net = MLP.from_weights(
        new_weights,
        hidden_activation=net.activations[0].name,
        dtype=net.dtype,
        backend=net.backend,
    )
    return net.backend.to_numpy(new_net.forward(X))


def _step_3c_note(notebook, correct, predictions, as_printed: bool) -> str:
    shown = (
        "the notebook's numbers (--as-printed)" if as_printed else "the correct values"
    )
    gap = np.max(np.abs(notebook[2] - correct[2]))
    return (
        "Step 3c, where the notebook goes wrong: it computes "
        "error_h1 = error_h2 . W2^T, sending the error back\nbefore h2's sigmoid "
        "derivative. The chain rule propagates the error term instead:\n"
        "error_h1 = et_h2 . W2^T. "
        f"Shown here: {shown}.\n"
        f"  error_h1  notebook {_fmt(notebook[0])}   correct {_fmt(correct[0])}\n"
        f"  del_h1[0] notebook {_fmt(notebook[2][0])}   correct {_fmt(correct[2][0])}\n"
        f"  largest |difference| in del_h1: {gap:.8f}\n"
        f"  new prediction: notebook {_fmt(predictions['notebook'])}, "
        f"correct {_fmt(predictions['correct'])}"
    )


def _fmt(array: np.ndarray) -> str:
    return np.array2string(np.asarray(array), precision=8, max_line_width=200)


_STEPS = [
    ("Step 1: initial weights, (fan_in, fan_out)", "w_"),
    ("Step 2: forward pass (input = previous output . w; output = activation)", "io"),
    ("Step 3: errors, sent backwards through the transposed weights", "error_"),
    ("Step 4: error terms (error times the activation's slope at the output)", "et_"),
    ("Step 5: weight deltas (layer input^T . error term; = -gradient)", "del_"),
    ("Step 6: adjusted weights, w + del (that is, w -= 1.0 * gradient)", "_new"),
    ("Final: a new forward pass with the adjusted weights", "prediction"),
]


def _step_of(name: str) -> int:
    if name.endswith("_new") and name.startswith("w_"):
        return 5
    if name.startswith(("prediction", "target")):
        return 6
    for index, (_, key) in enumerate(_STEPS):
        if key != "io" and name.startswith(key):
            return index
    return 1


def _print(result: Walkthrough, net: MLP, layers: list[int], out: TextIO) -> None:
    acts = net.activations[0].name
    print(
        f"xpnet walkthrough: one forward and backward pass of a "
        f"{'-'.join(map(str, layers))} network ({acts} hidden layers, identity "
        f"output, no biases, squared error)\non backend {net.backend.name}, "
        f"{net.dtype}. One sample is a batch of one row: a vector of n values "
        "(n,) in the notebook is (1, n) here.",
        file=out,
    )
    for index, (title, _) in enumerate(_STEPS):
        print(f"\n== {title}", file=out)
        for name, value in result.values.items():
            if _step_of(name) == index:
                print(f"{name} {value.shape}:\n{_fmt(value)}", file=out)
        if index == 2:
            for note in result.notes:
                print(f"\n{note}", file=out)
