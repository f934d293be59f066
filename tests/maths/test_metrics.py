"""maths/metrics: R² per output against scikit-learn's, constant targets included."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet.maths.metrics import r2_per_output


@pytest.mark.parametrize("weighted", [False, True])
def test_r2_per_output_is_scikit_learns_with_its_constant_target_rules(weighted):
    """Columns: varied targets, a constant one predicted exactly (1) and a constant
    one predicted wrongly (0), each scored on its own."""
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    Y = np.column_stack([rng.normal(size=6), np.full(6, 2.0), np.full(6, -1.0)])
    out = Y + rng.normal(scale=0.3, size=(6, 3))
    out[:, 1] = 2.0
    w = rng.uniform(0.5, 3.0, size=6) if weighted else None
    got = r2_per_output(np, out, Y, None if w is None else w[:, None])
    want = metrics.r2_score(Y, out, sample_weight=w, multioutput="raw_values")
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got.shape == (3,) and list(got[1:]) == [1.0, 0.0]
