"""The seed notebook reproduced: its printed numbers, its step 3c bug, any network."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from helpers import central_differences

import xpnet
from xpnet import walkthrough

# Numbers as the notebook prints them (8 decimals, from unrounded weights).
NOTEBOOK = {
    "h1_input": [0.25991385, -0.7541675, 0.07212613],
    "h1_output": [0.56461512, 0.3199139, 0.51802372],
    "h2_input": [0.71974506, 0.13991366],
    "h2_output": [0.67255087, 0.53492147],
    "final_input": [-0.81027353],
    "final_output": [-0.81027353],
    "error_output": [1.21027353],
    "error_h2": [-0.66350754, -0.99904391],
    "error_h1": [-1.37277432, -1.14029045, 1.00873321],
    "et_output": [1.21027353],
    "et_h2": [-0.14612174, -0.24854263],
    "et_h1": [-0.33746209, -0.24809185, 0.25185561],
    "del_output": [[0.81397052], [0.64740129]],
    "del_h2": [
        [-0.08250254, -0.14033093],
        [-0.04674638, -0.07951224],
        [-0.07569453, -0.12875098],
    ],
    "del_h1": [
        [-0.16873105, -0.12404592, 0.12592781],
        [0.06749242, 0.04961837, -0.05037112],
        [-0.03374621, -0.02480918, 0.02518556],
        [-0.10123863, -0.07442755, 0.07555668],
    ],
    "w_input_h1_new": [
        [0.32060684, -0.84751765, 0.20775803],
        [-0.16364565, 0.2895901, -0.26103922],
        [0.26488647, -0.25717185, -0.39282638],
        [-0.30405853, -1.14509764, 0.17848533],
    ],
    "w_h1_h2_new": [
        [1.08374844, 0.45920027],
        [0.92241922, 0.41820538],
        [-0.55595714, -0.81948673],
    ],
    "w_h2_out_new": [[0.26574111], [-0.17806822]],
    "prediction_new": [0.08288627],
}
# What step 3c changes (the finite-difference-checked values).
CORRECT_DEL_H1_ROW0 = [-0.03926115, -0.02886273, 0.03019248]
CORRECT_PREDICTION = 0.08458829
AFFECTED_BY_3C = {"error_h1", "et_h1", "del_h1", "w_input_h1_new", "prediction_new"}
# The notebook printed its weights rounded to 8 decimals and computed from the
# unrounded ones, so a last printed digit can differ by one: 8 decimals, +-1.5e-8.
DIGITS = 1.5e-8


def _check(values, name, expected):
    got = values[name]
    want = np.asarray(expected, dtype=float).reshape(got.shape)
    np.testing.assert_allclose(got, want, rtol=0, atol=DIGITS, err_msg=name)


def test_as_printed_reproduces_every_notebook_number(backend):
    result = walkthrough.run(backend, as_printed=True, out=None)
    for name, expected in NOTEBOOK.items():
        _check(result.values, name, expected)


def test_default_is_correct_and_differs_only_from_step_3c(backend):
    result = walkthrough.run(backend, out=None)
    for name, expected in NOTEBOOK.items():
        if name not in AFFECTED_BY_3C:
            _check(result.values, name, expected)
    np.testing.assert_allclose(result["del_h1"][0], CORRECT_DEL_H1_ROW0, atol=DIGITS)
    assert result["prediction_new"].item() == pytest.approx(
        CORRECT_PREDICTION, abs=DIGITS
    )
    assert abs(result["del_h1"][0, 0] - NOTEBOOK["del_h1"][0][0]) > 0.1


def test_default_deltas_are_minus_finite_difference_gradients():
    """del = -dL/dW for L = (y - y_hat)^2 / 2, checked by central differences."""
    result = walkthrough.run(out=None)
    weights = [w.copy() for w in walkthrough.SEED_WEIGHTS]
    x, y = walkthrough.SEED_X, walkthrough.SEED_Y

    def loss():
        a = x
        for W in weights[:-1]:
            a = 1 / (1 + np.exp(-(a @ W)))
        return 0.5 * ((a @ weights[-1] - y) ** 2).sum()

    fd = central_differences(loss, weights)
    for grad, name in zip(fd, ["del_h1", "del_h2", "del_output"], strict=True):
        np.testing.assert_allclose(result[name], -grad, rtol=1e-7, atol=1e-10)


def test_printout_names_every_quantity_with_shape_and_explains_3c():
    buffer = io.StringIO()
    result = walkthrough.run(out=buffer)
    text = buffer.getvalue()
    for name, value in result.values.items():
        assert f"{name} {value.shape}:" in text
    assert "error_h1 = error_h2 . W2^T" in text
    assert "error_h1 = et_h2 . W2^T" in text
    assert "[-0.16873105 -0.12404593  0.12592781]" in text  # notebook's del_h1[0]
    assert "[-0.03926115 -0.02886273  0.03019248]" in text  # the correct one
    assert "0.08288627" in text and "0.08458829" in text


def test_library_backward_stays_correct_in_as_printed_mode():
    walkthrough.run(as_printed=True, out=None)
    net = xpnet.MLP.from_weights(
        walkthrough.SEED_WEIGHTS, hidden_activation="sigmoid", dtype="float64"
    )
    _, w_grads, _ = net.loss_and_gradients(
        walkthrough.SEED_X[None], walkthrough.SEED_Y[None]
    )
    np.testing.assert_allclose(-w_grads[0][0], CORRECT_DEL_H1_ROW0, atol=DIGITS)


def test_any_network_names_every_layer(backend):
    result = walkthrough.run(
        backend, layers=[4, 8, 3, 5, 1], activation="tanh", seed=0, out=None
    )
    for layer in ("h1", "h2", "h3"):
        for kind in ("input", "output"):
            assert f"{layer}_{kind}" in result.values
        for kind in ("error", "et", "del"):
            assert f"{kind}_{layer}" in result.values
    assert result["w_h3_out"].shape == (5, 1)
    assert result["del_h1"].shape == (4, 8)
    assert result["h2_output"].shape == (1, 3)
    np.testing.assert_allclose(result["h1_output"], np.tanh(result["h1_input"]))
    assert result.notes == []  # step 3c note is about the seed's network only
    reference = walkthrough.run(
        layers=[4, 8, 3, 5, 1], activation="tanh", seed=0, out=None
    )
    for name, value in reference.values.items():
        np.testing.assert_allclose(result[name], value, rtol=1e-12, atol=1e-15)


def test_as_printed_only_for_the_seed_network():
    with pytest.raises(ValueError, match=r"as_printed reproduces the seed notebook"):
        walkthrough.run(as_printed=True, layers=[4, 8, 1], out=None)


def test_walkthrough_command_runs():
    done = subprocess.run(
        [sys.executable, "-m", "xpnet.command.cli", "walkthrough", "--as-printed"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "del_h1 (4, 3):" in done.stdout
    assert "Shown here: the notebook's numbers (--as-printed)" in done.stdout
