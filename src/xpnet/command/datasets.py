"""Data for the ``xpnet`` command: scikit-learn's bundled datasets, CSV, ``.npz``.

Everything comes back as host NumPy arrays in a :class:`Dataset`: features ``X``
(n_samples, n_features) as float64 and, where there is one, the target ``y``
(n_samples,). The task follows from the target's type: floating targets mean
regression; integer, boolean and string labels mean classification.

- ``digits``, ``iris``, ``wine``, ``breast_cancer`` (classification) and ``diabetes``
  (regression) come from scikit-learn's bundled loaders, so nothing is downloaded;
  scikit-learn is the optional extra ``xpnet[sklearn]``.
- ``PATH.csv``: comma-separated, an optional header row (detected: a first row with
  text where the next row has a number), one target column picked by name or index.
  A target whose cells all read as integers holds class labels, one with decimals or
  exponents holds regression values, and one with text holds class labels.
- ``PATH.npz``: arrays ``X`` (2-D) and, for training, ``y`` (1-D), read with
  ``allow_pickle=False``.

Data larger than memory (a directory of Parquet files, a Zarr store, ``PATH.npy``) is
opened lazily with Dask by :mod:`xpnet.command.lazy_data`; :func:`lazy_kind` tells it
apart without importing Dask.
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass

import numpy as np

BUNDLED = ("digits", "iris", "wine", "breast_cancer", "diabetes")
TASKS = ("classification", "regression")
SKLEARN_HINT = 'pip install "xpnet[sklearn]"'


class DataError(ValueError):
    """Data that cannot be used; the message names the source and the problem."""


class MissingExtraError(ImportError):
    """An optional package is missing; the message says what to install."""


@dataclass(frozen=True)
class Dataset:
    """Host data ready for an estimator.

    Attributes
    ----------
    X : numpy.ndarray, float64 (n_samples, n_features)
    y : numpy.ndarray (n_samples,) or None
        Class labels (integers, booleans or strings) or float64 regression targets.
    name : str
        The bundled name or the path, for messages and summaries.
    feature_names : list of str
    target_name : str or None
    named : bool
        Whether ``feature_names`` come from the file (a CSV header row): a model
        trained on it records them, and predicting matches columns by them.
    """

    X: np.ndarray
    y: np.ndarray | None
    name: str
    feature_names: list[str]
    target_name: str | None = None
    named: bool = False

    @property
    def task(self) -> str | None:
        """``"classification"``, ``"regression"``, or None without a target."""
        return None if self.y is None else infer_task(self.y)


def infer_task(y: np.ndarray) -> str:
    """``"regression"`` for floating targets, ``"classification"`` for labels."""
    return "regression" if np.asarray(y).dtype.kind == "f" else "classification"


def load_dataset(
    source: str, target: str | int | None = None, *, need_target: bool = True
) -> Dataset:
    """Load a bundled dataset, a CSV file or an ``.npz`` file.

    Parameters
    ----------
    source : str
        One of :data:`BUNDLED`, or a path ending in ``.csv`` or ``.npz``.
    target : str, int or None
        CSV only: the target column, by header name or by index (negative counts
        from the end; a string of digits is an index unless the header has such a
        name). None: the last column when ``need_target``, else no target column.
    need_target : bool
        Whether the data must have a target (training) or may lack one (predicting).

    Raises
    ------
    DataError
        Unknown source, unreadable or malformed file, bad target column, non-numeric
        feature cells, empty data.
    FileNotFoundError
        No file at the path.
    MissingExtraError
        A bundled dataset was asked for and scikit-learn is not installed.
    """
    if not isinstance(source, str) or not source:
        raise DataError(f"data must be a dataset name or a path; got {source!r}")
    if lazy_kind(source) is not None:
        raise DataError(
            f"{source!r} is data opened lazily with Dask, which only `xpnet train` "
            "reads; give a bundled name, a .csv or an .npz file here"
        )
    kind = _kind(source)
    if kind != "csv" and target is not None:
        raise DataError(
            f"a target column can be chosen for CSV files only; got target "
            f"{target!r} for {source!r}"
        )
    if kind == "bundled":
        return _bundled(source)
    if not os.path.isfile(source):
        if os.path.exists(source):
            raise DataError(f"data {source!r} is not a file")
        raise FileNotFoundError(2, "no data file at this path", source)
    if kind == "npz":
        return _npz(source, need_target)
    return _csv(source, target, need_target)


def lazy_kind(source: str) -> str | None:
    """``"parquet"``, ``"zarr"`` or ``"npy"`` for data opened lazily, else None."""
    if source.lower().endswith(".npy"):
        return "npy"
    if not os.path.isdir(source):
        return None
    names = os.listdir(source)
    if {"zarr.json", ".zarray", ".zgroup"} & set(names) or source.endswith(".zarr"):
        return "zarr"
    if any(name.endswith(".parquet") for name in names):
        return "parquet"
    return None


def _kind(source: str) -> str:
    if source in BUNDLED:
        return "bundled"
    suffix = os.path.splitext(source)[1].lower()
    if suffix in (".csv", ".npz"):
        return suffix[1:]
    raise DataError(
        f"data must be one of {', '.join(BUNDLED)}, a path ending in .csv, .npz or "
        f".npy, a Zarr store or a directory of Parquet files; got {source!r}"
    )


def _bundled(name: str) -> Dataset:
    try:
        from sklearn import datasets
    except ImportError:
        raise MissingExtraError(
            f"the bundled dataset {name!r} comes from scikit-learn, which is not "
            f"installed; install it with: {SKLEARN_HINT}"
        ) from None
    bunch = getattr(datasets, f"load_{name}")()
    target = np.asarray(bunch.target)
    if name != "diabetes":
        target = target.astype(np.int64)
    return Dataset(
        np.asarray(bunch.data, dtype=np.float64),
        target,
        name,
        [str(f) for f in bunch.feature_names],
        "target",
    )


def _npz(path: str, need_target: bool) -> Dataset:
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"{path!r} is not a readable .npz file (a ZIP of .npy arrays, as "
            "numpy.savez writes)"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as exc:  # object arrays, which would need pickle
        raise DataError(f"{path!r}: cannot read without pickle ({exc})") from None
    except Exception as exc:  # truncated or damaged members
        raise DataError(
            f"{path!r} is not a readable .npz file ({type(exc).__name__}: {exc})"
        ) from None
    if "X" not in arrays:
        raise DataError(
            f"{path!r} must hold an array named 'X'; it holds {list(arrays)}"
        )
    X = _npz_features(arrays["X"], path)
    y = arrays.get("y")
    if y is None:
        if need_target:
            raise DataError(
                f"{path!r} must hold the target as an array named 'y'; it holds "
                f"{list(arrays)}"
            )
    else:
        y = _npz_target(y, path, X.shape[0])
    names = [f"x{i}" for i in range(X.shape[1])]
    return Dataset(X, y, path, names, None if y is None else "y")


def _npz_features(X: np.ndarray, path: str) -> np.ndarray:
    if X.ndim != 2 or 0 in X.shape:
        raise DataError(
            f"{path!r}: X must be a non-empty 2-D array (n_samples, n_features); got "
            f"shape {X.shape}"
        )
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path!r}: X must be numeric; got dtype {X.dtype}")
    X = X.astype(np.float64)
    if not np.isfinite(X).all():
        row, col = np.argwhere(~np.isfinite(X))[0]
        raise DataError(
            f"{path!r}: X must be finite; found {X[row, col]} at row {row}, "
            f"column {col}"
        )
    return X


def _npz_target(y: np.ndarray, path: str, n_samples: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n_samples,):
        raise DataError(
            f"{path!r}: y must be 1-D with one value per row of X ({n_samples}); got "
            f"shape {y.shape}"
        )
    if y.dtype.kind not in "biufUS":
        raise DataError(f"{path!r}: y must hold numbers or text; got dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise DataError(f"{path!r}: y must be finite; it contains NaN or inf")
    return y.astype(str) if y.dtype.kind == "S" else y


def _csv(path: str, target: str | int | None, need_target: bool) -> Dataset:
    rows = _read_rows(path)
    header = _has_header(rows)
    names = (
        [cell.strip() for cell in rows[0][1]]
        if header
        else [f"column {i}" for i in range(len(rows[0][1]))]
    )
    body = rows[1:] if header else rows
    if not body:
        raise DataError(
            f"{path!r} has no data rows, only a header row; it must hold at least one"
        )
    n_columns = len(names)
    for line, cells in body:
        if len(cells) != n_columns:
            raise DataError(
                f"{path!r} line {line}: {len(cells)} cells where the first row has "
                f"{n_columns}"
            )
    if target is None and need_target:
        target = -1
    column = None if target is None else _column_index(target, names, header, path)
    features = [i for i in range(n_columns) if i != column]
    if not features:
        raise DataError(
            f"{path!r} has no feature columns besides the target column "
            f"{names[column or 0]!r}"
        )
    X = np.array(
        [
            [_number(cells[i], line, names[i], path) for i in features]
            for line, cells in body
        ]
    )
    y = None if column is None else _labels_or_values(body, column, names[column], path)
    return Dataset(
        X,
        y,
        path,
        [names[i] for i in features],
        None if column is None else names[column],
        named=header,
    )


def _read_rows(path: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank row."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            rows = [
                (reader.line_num, row)
                for row in reader
                if any(cell.strip() for cell in row)
            ]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path!r} is not UTF-8 text ({exc})") from None
    except csv.Error as exc:
        raise DataError(f"{path!r} is not a valid CSV file ({exc})") from None
    if not rows:
        raise DataError(f"{path!r} is empty; it must hold at least one data row")
    if len(rows[0][1]) == 1 and ";" in rows[0][1][0]:
        raise DataError(
            f"{path!r} looks semicolon-separated (first row {rows[0][1][0]!r}); xpnet "
            "reads comma-separated CSV: save it with ',' as the separator (and '.' "
            "as the decimal mark)"
        )
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _has_header(rows: list[tuple[int, list[str]]]) -> bool:
    """A first row with text in a column where the next row has a number."""
    first = rows[0][1]
    if len(rows) == 1:
        return not all(_is_number(cell) for cell in first)
    second = rows[1][1]
    return any(
        not _is_number(a) and _is_number(b) for a, b in zip(first, second, strict=False)
    )


def _column_index(target: str | int, names: list[str], header: bool, path: str) -> int:
    if isinstance(target, str) and target.strip() in names and header:
        return names.index(target.strip())
    try:
        index = int(target)
    except ValueError:
        known = f"its columns are {names}" if header else "it has no header row"
        raise DataError(
            f"target column {target!r} is not in {path!r}; {known}; or give the "
            "column's index (0-based, -1 for the last)"
        ) from None
    if not -len(names) <= index < len(names):
        raise DataError(
            f"target column index {index} is out of range for {path!r}, which has "
            f"{len(names)} columns (indices 0 to {len(names) - 1}, or -1 for the last)"
        )
    return index % len(names)


def _number(cell: str, line: int, column: str, path: str) -> float:
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        what = "an empty cell" if not text else f"the non-numeric cell {text!r}"
        raise DataError(
            f"{path!r} line {line}, column {column!r}: {what}; feature columns "
            "must hold numbers (xpnet does not impute or encode)"
        ) from None
    if not np.isfinite(value):
        raise DataError(
            f"{path!r} line {line}, column {column!r}: {text!r} is not a finite number"
        )
    return value


def _labels_or_values(
    body: list[tuple[int, list[str]]], column: int, name: str, path: str
) -> np.ndarray:
    cells = [(line, cells[column].strip()) for line, cells in body]
    for line, text in cells:
        if not text:
            raise DataError(
                f"{path!r} line {line}: the target column {name!r} is empty"
            )
    texts = [text for _, text in cells]
    try:
        return np.array([int(text) for text in texts], dtype=np.int64)
    except ValueError:
        pass
    if all(_is_number(text) for text in texts):
        return np.array([_number(text, line, name, path) for line, text in cells])
    return np.array(texts)


def split_indices(
    y: np.ndarray, test_size: float, seed: int, *, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices, each sorted, drawn with ``default_rng(seed)``.

    ``test_size`` is the fraction held out, in [0, 1). Stratified, each class gives
    ``round(test_size * its count)`` rows to the test set, so class proportions are
    kept; otherwise ``round(test_size * n_samples)`` rows are drawn at random. A
    non-zero ``test_size`` holds out at least one row.
    """
    if not 0 <= test_size < 1:
        raise DataError(f"test size must be a fraction in [0, 1); got {test_size!r}")
    n_samples = len(y)
    if test_size == 0:
        return np.arange(n_samples), np.arange(0)
    rng = np.random.default_rng(seed)
    groups = (
        [np.flatnonzero(y == label) for label in np.unique(y)]
        if stratify
        else [np.arange(n_samples)]
    )
    test = []
    for group in groups:
        picked = rng.permutation(group)
        test.append(picked[: int(np.floor(test_size * len(group) + 0.5))])
    test_rows = np.sort(np.concatenate(test))
    if test_rows.size == 0:
        test_rows = np.sort(rng.permutation(n_samples)[:1])
    train_rows = np.setdiff1d(np.arange(n_samples), test_rows)
    if train_rows.size == 0:
        raise DataError(
            f"test size {test_size} leaves no rows to train on ({n_samples} samples)"
        )
    return train_rows, test_rows
