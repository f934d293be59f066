"""``xpnet check-backends``: every backend against NumPy float64, with the suite's
tolerances; failures and unavailable backends reported, exit codes set."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import RTOL

from xpnet import check
from xpnet.command import cli
from xpnet.testing import require_backend


def test_the_test_suite_uses_the_library_tolerances():
    assert RTOL is check.TOLERANCES
    assert check.TOLERANCES == {"float64": 1e-10, "float32": 1e-5}


def test_difference_is_allclose_with_rtol_equal_atol():
    # |a - b| / (1 + |b|), worked by hand: 2 / (1 + 1) and 0.5 / (1 + 0).
    assert check.difference(np.array([1.0, 3.0]), np.array([1.0, 1.0])) == 1.0
    assert check.difference(np.array([0.5]), np.array([0.0])) == 0.5
    rng = np.random.default_rng(0)
    expected = rng.normal(size=50)
    actual = expected + rng.uniform(-1, 1, size=50) * 1e-6
    tol = check.difference(actual, expected)
    np.testing.assert_allclose(actual, expected, rtol=tol * 1.0001, atol=tol * 1.0001)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(actual, expected, rtol=tol * 0.99, atol=tol * 0.99)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_available_backend_passes(backend, dtype):
    [result] = check.run_checks([backend.name], dtype, steps=5)
    assert result.available and not result.error, result.error
    assert set(result.differences) == {"loss", "gradients", "weights"}
    assert result.passed(check.TOLERANCES[dtype]), result.differences
    if dtype == "float32":  # float32 really ran: it is not float64 to the last bit
        assert result.differences["weights"] > 0


def test_the_reference_is_an_independent_numpy_float64_run():
    # Training changes the weights; the reference trace is what numpy computed.
    trace = check.train(check.get_backend("numpy"), "float64", seed=0, steps=3)
    assert len(trace.loss) == 3 and trace.loss[2] < trace.loss[0]
    start = check.MLP(
        check.LAYER_SIZES,
        hidden_activation="tanh",
        output_activation="softmax",
        dtype="float64",
        backend="numpy",
        seed=0,
    )
    initial = np.concatenate(
        [w.ravel() for w in start.get_weights() + start.get_biases()]
    )
    assert check.difference(trace.weights[0], initial) > 1e-4


def test_unavailable_backends_are_listed_with_the_reason():
    results = check.run_checks(["numpy", "cupy:99", "tensorflow"], steps=2)
    assert [r.available for r in results] == [True, False, False]
    report = check.format_report(results, "float64", steps=2)
    assert "not available here:" in report
    assert "cupy:99: backend 'cupy:99'" in report
    assert "tensorflow: unknown backend" in report


def _perturbed_train(name_to_break, error=None):
    real_train = check.train

    def train(backend, dtype, seed, steps=check.STEPS):
        if backend.name != name_to_break:
            return real_train(backend, dtype, seed, steps)
        if error is not None:
            raise error
        trace = real_train(backend, dtype, seed, steps)
        trace.weights[0] = trace.weights[0] + 1e-6
        return trace

    return train


def test_a_backend_that_disagrees_fails_with_exit_code_1(monkeypatch, capsys):
    require_backend("array_api_strict")
    monkeypatch.setattr(check, "train", _perturbed_train("array_api_strict"))
    code = cli.main(["check-backends", "--backends", "numpy", "array_api_strict"])
    out = capsys.readouterr().out
    assert code == cli.EXIT_FAILED
    row = next(line for line in out.splitlines() if line.startswith("array_api"))
    assert row.split()[-1] == "FAIL"
    assert float(row.split()[-2]) > check.TOLERANCES["float64"]  # the weights
    numpy_row = next(line for line in out.splitlines() if line.startswith("numpy "))
    assert numpy_row.split()[-1] == "pass"


def test_a_backend_that_crashes_is_reported_and_the_rest_still_run(monkeypatch):
    require_backend("array_api_strict")
    error = RuntimeError("driver fell over")
    monkeypatch.setattr(check, "train", _perturbed_train("array_api_strict", error))
    results = check.run_checks(["array_api_strict", "numpy"], steps=2)
    assert results[0].error == "RuntimeError: driver fell over"
    assert not results[0].passed(1.0)
    assert results[1].passed(check.TOLERANCES["float64"])
    report = check.format_report(results, "float64", steps=2)
    assert "array_api_strict: RuntimeError: driver fell over" in report


def test_exit_codes_for_unavailable_backends(capsys):
    # Named and unavailable: 3. The default list only lists what cannot run.
    assert cli.main(["check-backends", "--backends", "numpy", "cupy:99"]) == 3
    assert "not available here" in capsys.readouterr().out
    assert cli.main(["check-backends", "--backends", "numpy", "--steps", "2"]) == 0
    assert cli.main(["check-backends", "--dtype", "float32", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "float32" in out and "FAIL" not in out
