"""resume_from refuses other data: the fingerprint covers X, y and the sample
weights (none, a constant and reversed weights all differ), in memory and on Dask;
on Dask it hashes each block's bytes as the block is computed and checks them on
resume, so a store rewritten in place (same name, same chunks) is refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from xpnet import MLPRegressor

COMMON = dict(hidden_layer_sizes=(5,), batch_size=10, max_iter=2, random_state=0)
WEIGHTS = {
    "none": lambda n: None,
    "constant": lambda n: np.full(n, 2.0),
    "ramp": lambda n: np.linspace(0.5, 2.0, n),
    "reversed": lambda n: np.linspace(0.5, 2.0, n)[::-1].copy(),
}


def _data(n_samples=40):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_samples, 3))
    return X, X @ np.array([1.0, -1.0, 0.5])


def _fit(X, y, weights, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPRegressor(**COMMON).fit(X, y, sample_weight=weights, **options)


def _dask(X, y, weights):
    da = pytest.importorskip("dask.array", reason="dask is the optional xpnet[dask]")
    return (
        da.from_array(X, chunks=(10, 3)),
        da.from_array(y, chunks=10),
        None if weights is None else da.from_array(weights, chunks=10),
    )


@pytest.mark.parametrize("on_dask", [False, True], ids=["in memory", "dask"])
@pytest.mark.parametrize("written", ["none", "ramp"])
@pytest.mark.parametrize("resumed", list(WEIGHTS))
def test_resume_with_other_weights_is_refused(tmp_path, on_dask, written, resumed):
    X, y = _data()
    n = len(y)
    make = _dask if on_dask else (lambda *a: a)
    path = tmp_path / "run.safetensors"
    _fit(*make(X, y, WEIGHTS[written](n)), checkpoint=path)
    args = make(X, y, WEIGHTS[resumed](n))
    model = MLPRegressor(**{**COMMON, "max_iter": 3})
    if resumed == written:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(args[0], args[1], sample_weight=args[2], resume_from=path)
        assert len(model.loss_curve_) == 3
    else:
        with pytest.raises(ValueError, match="other data"):
            model.fit(args[0], args[1], sample_weight=args[2], resume_from=path)
        assert not hasattr(model, "coefs_")


def test_a_dask_resume_on_a_store_rewritten_in_place_is_refused(tmp_path):
    """The same Dask array name (same store, same chunks), rows reversed."""
    pytest.importorskip("zarr", reason="zarr is the optional xpnet[dask]")
    da = pytest.importorskip("dask.array", reason="dask is the optional xpnet[dask]")
    X, y = _data()
    store = str(tmp_path / "X.zarr")
    da.from_array(X, chunks=(10, 3)).to_zarr(store)
    y_dask = da.from_array(y, chunks=10)
    path = tmp_path / "run.safetensors"
    written = da.from_zarr(store)
    _fit(written, y_dask, None, checkpoint=path)
    da.from_array(X[::-1].copy(), chunks=(10, 3)).to_zarr(store, overwrite=True)
    rewritten = da.from_zarr(store)
    assert rewritten.name == written.name  # Dask cannot tell
    model = MLPRegressor(**{**COMMON, "max_iter": 3})
    with pytest.raises(ValueError, match=r"other data: block \d+: rows"):
        model.fit(rewritten, y_dask, resume_from=path)
    assert not hasattr(model, "coefs_")
    with warnings.catch_warnings():  # told to: it goes on
        warnings.simplefilter("ignore")
        model.fit(rewritten, y_dask, resume_from=path, resume_on_other_data=True)
    assert len(model.loss_curve_) == 3
