"""The host-data checks of :mod:`xpnet.data.checks`."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet.data import checks


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("shape", [(3000, 7), (40, 30, 9)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None])
def test_large_host_data_is_checked_entry_by_entry(dtype, shape, bad):
    """Large data takes the fast path (BLAS row sums for a float32/float64 matrix,
    else one sum); it must agree with the plain check, and huge finite values whose
    sums overflow must not be taken for inf."""
    big = np.finfo(dtype).max
    data = np.full(shape, big / 2, dtype=dtype)
    data.reshape(-1)[1::2] = big  # every row sum overflows to inf
    if bad is not None:
        data.reshape(-1)[-5] = bad
    expected = bad is None
    assert checks._all_finite(data) is expected
    if bad is not None and len(shape) == 2:
        with pytest.raises(ValueError, match=r"X must be finite.*row 2999, column 2"):
            checks.host_matrix(data, "X")


def test_check_all_runs_in_order_and_hands_back_the_results():
    """The first failure raises; else each check's result, in order (the
    estimators keep the checked hidden widths from it)."""
    results = checks.check_all(
        [
            (checks.check_hidden_sizes, 5),
            (checks.check_choice, "relu", "activation", ("relu",)),
            (checks.check_real, 0.5, "alpha", {"low": 0.0}),
        ]
    )
    assert results == [[5], "relu", None]
    with pytest.raises(TypeError, match="hidden_layer_sizes must hold ints"):
        checks.check_all(
            [
                (checks.check_hidden_sizes, ["a"]),
                (checks.check_choice, "x", "activation", ("relu",)),
            ]
        )
