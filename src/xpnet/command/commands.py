"""What ``xpnet train`` and ``xpnet predict`` do, once their arguments are parsed.

Training is the estimators' own ``fit`` (``--epochs`` is ``max_iter``, so training
stops earlier when the loss stops improving, as in scikit-learn); the progress bar
hangs on its epoch callback.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import warnings
from typing import Any, TextIO

import numpy as np

from ..backend import Backend, get_backend
from ..check import device_label
from ..files.atomic import NotRegularFileError, check_target
from ..training.distributed import GradientReducer, torchrun_group
from .datasets import (
    DataError,
    Dataset,
    MissingExtraError,
    lazy_kind,
    load_dataset,
    split_indices,
)
from .fitting import Fitted, estimator_for, fit_with_progress

PLOT_HINT = 'pip install "xpnet[plot]"'


def run_training(args: argparse.Namespace) -> int:
    """``xpnet train``: load, split, scale, fit with a progress bar, report, save;
    with ``--distributed``, one rank of torchrun's data-parallel group."""
    if not args.distributed:  # the backend first: a missing GPU fails in a second
        return _train(args, get_backend(args.backend), None)
    with torchrun_group(args.backend) as reducer:
        return _train(args, reducer.backend, reducer)


def _train(
    args: argparse.Namespace, backend: Backend, reducer: GradientReducer | None
) -> int:
    lead = reducer is None or reducer.rank == 0  # the rank that prints and saves
    figure_class = _figure_class() if args.plot else None
    _check_writable("--save", args.save, replaced=True)
    _check_writable("--plot", args.plot)
    kind = lazy_kind(args.data)
    data: Any  # a Dataset, or for data opened lazily a LazyDataset
    if kind is not None or args.scheduler is not None:
        try:
            from .lazy_data import train_lazy
        except ImportError as exc:
            raise MissingExtraError(
                f"{args.data!r} is opened lazily with Dask, which is not installed "
                f'({exc}); install it with: pip install "xpnet[dask,dask-files]"'
            ) from None
        model, data, task, fitted, scores, split = train_lazy(
            args, backend, kind, reducer
        )
        n_test = 0
    else:
        split = None
        data = load_dataset(args.data, args.target)
        task = args.task or data.task
        assert task is not None  # training data always has a target
        y = _targets(data, task)
        train_rows, test_rows = split_indices(
            y, args.test_size, args.seed, stratify=task == "classification"
        )
        X_train, y_train = data.X[train_rows], y[train_rows]
        X_test, y_test = data.X[test_rows], y[test_rows]
        model = estimator_for(task, args, backend)
        if args.scale == "standard":  # exact: applied in float64 before the cast
            from ..estimators.scaling import Standardization

            model.standardization_ = Standardization.fit(
                X_train, y_train[:, None] if task == "regression" else None
            )
        fitted = fit_with_progress(
            model,
            X_train,
            y_train,
            quiet=args.quiet or not lead,
            distributed=reducer is not None,
        )
        n_test = len(test_rows)
        scores = _scores(model, data, (X_train, y_train), (X_test, y_test))
    if not lead:
        return 0
    if args.save:
        from ..files.model_file import save

        _write("--save", args.save, save, model)
    if figure_class is not None:
        scaled_y = task == "regression" and args.scale == "standard"
        _plot(figure_class, model.loss_curve_, args.plot, data.name, scaled_y)
    summary = _summary(args, data, task, backend, fitted, n_test, scores, split)
    print(summary + ("" if reducer is None else "\n" + _parallel_line(reducer)))
    return 0


def _scores(
    model: Any, data: Dataset, train: tuple[Any, Any], test: tuple[Any, Any]
) -> dict[str, float]:
    """The fitted model's train (and, with test rows, test) score; then a CSV
    header's feature names go on the model (the scores take arrays): the model
    file keeps them and ``predict`` matches columns by them."""
    scores = {"train": model.score(*train)}
    if len(test[0]):
        scores["test"] = model.score(*test)
    if data.named:
        model.feature_names_in_ = np.asarray(data.feature_names, dtype=object)
    return scores


def _parallel_line(reducer: GradientReducer) -> str:
    return (
        f"parallel: world size {reducer.world_size}, torch.distributed "
        f"{reducer.torch_backend}, data-parallel (this summary is rank 0's)"
    )


def _targets(data: Dataset, task: str) -> np.ndarray:
    y = data.y
    assert y is not None  # load_dataset for training always reads a target
    if task == "regression":
        if y.dtype.kind not in "biuf":
            raise DataError(
                f"task regression needs numeric targets; the target of {data.name!r} "
                f"holds text such as {y[0]!r}"
            )
        return y.astype(np.float64)
    n_classes = len(np.unique(y))
    if n_classes < 2:
        raise DataError(
            f"classification needs at least 2 classes; the target of {data.name!r} "
            f"holds only {y[0]!r}"
        )
    if y.dtype.kind in "iu" and n_classes > max(20, len(y) // 4):
        print(
            f"note: the integer target has {n_classes} distinct values and is "
            "treated as class labels; use --task regression to fit the values",
            file=sys.stderr,
        )
    return y


def _check_writable(option: str, path: str | None, replaced: bool = False) -> None:
    """Refuse, before any work, an output in no directory, a directory, and where
    the file is ``replaced`` (written atomically) anything but a regular file."""
    if path is None:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise DataError(f"cannot write {option} {path!r}: no directory {directory!r}")
    if os.path.isdir(path):
        raise DataError(f"cannot write {option} {path!r}: it is a directory")
    if replaced:
        try:
            check_target(path)
        except NotRegularFileError as exc:
            raise DataError(
                f"cannot write {option} {path!r}: it is {exc.kind}, not a regular "
                "file; xpnet replaces only regular files"
            ) from None


def _write(option: str, path: str, writer: Any, model: Any) -> None:
    """``writer(model, path)``; an OSError (a full disk) names the option and path."""
    try:
        writer(model, path)
    except NotRegularFileError:
        raise
    except OSError as exc:
        raise DataError(
            f"cannot write {option} {path!r}: {exc.strerror or exc}; nothing was "
            "written there (a file already there is unchanged)"
        ) from None


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError(
            f"--plot needs matplotlib, which is not installed; install it with: "
            f"{PLOT_HINT}"
        ) from None
    return Figure


def _plot(
    figure_class: Any,
    losses: list[float],
    path: str,
    title: str,
    scaled_y: bool,
) -> None:
    figure = figure_class(figsize=(6, 4), layout="tight")
    axes = figure.subplots()
    axes.plot(np.arange(1, len(losses) + 1), losses)
    axes.set_xlabel("epoch")
    axes.set_ylabel("training loss" + (" (standardized target)" if scaled_y else ""))
    axes.set_title(f"xpnet: {title}")
    axes.set_yscale("log" if min(losses) > 0 else "linear")
    figure.savefig(path)


def _stopped_early(model: Any, args: argparse.Namespace, epochs: int) -> str:
    """Why training ended before ``--epochs``, for the summary; empty if it did not."""
    if epochs >= args.epochs:
        return ""
    if args.solver == "lbfgs":
        return f" (L-BFGS converged: gradient or loss change below {model.tol:g})"
    return (
        f" (stopped early: the loss improved by less than {model.tol:g} for "
        f"{model.n_iter_no_change} epochs)"
    )


def _metric(task: str) -> str:
    return "accuracy" if task == "classification" else "R^2"


def _summary(
    args: argparse.Namespace,
    data: Any,
    task: str,
    backend: Backend,
    fitted: Fitted,
    n_test: int,
    scores: dict[str, float],
    split_line: str | None = None,
) -> str:
    model = fitted.model
    n_samples, n_features = data.X.shape
    kind = (
        f"classification, {len(model.classes_)} classes"
        if task == "classification"
        else "regression"
    )
    sizes = [c.shape[0] for c in model.coefs_] + [model.coefs_[-1].shape[1]]
    split = split_line or (
        f"{fitted.n_train} train, {n_test} test "
        f"({'stratified, ' if task == 'classification' else ''}seed {args.seed})"
        if n_test
        else f"{fitted.n_train} train, no test set"
    )
    rate = fitted.n_train * fitted.epochs / max(fitted.seconds, 1e-9)
    lines = [
        f"data:     {data.name}: {n_samples} samples, {n_features} features; {kind}",
        f"split:    {split}; features "
        + ("standardized" if args.scale == "standard" else "as given"),
        f"network:  {' -> '.join(map(str, sizes))}, {args.activation}, "
        f"{model.out_activation_} output; "
        + (
            f"lbfgs (full batch), alpha {args.alpha:g}"
            if args.solver == "lbfgs"
            else f"{args.solver}, lr {args.lr:g}, batch {args.batch_size}, "
            f"alpha {args.alpha:g}"
        ),
        f"backend:  {backend.name}, device {device_label(backend)}, {args.dtype}"
        + (f", {model.compiled_}" if getattr(args, "compile", False) else ""),
        f"time:     {fitted.seconds:.2f} s for {fitted.epochs} "
        f"{'iterations' if args.solver == 'lbfgs' else 'epochs'} "
        f"({rate:,.0f} samples/s); final loss {model.loss_curve_[-1]:.4g}"
        + _stopped_early(model, args, fitted.epochs),
    ]
    lines += [
        f"{part} {_metric(task)}:".ljust(16) + f"{score:.4f}"
        for part, score in scores.items()
    ]
    if args.save:
        lines.append(f"saved:    {args.save}")
    if args.plot:
        lines.append(f"plot:     {args.plot}")
    return "\n".join(lines)


def run_prediction(args: argparse.Namespace) -> int:
    """``xpnet predict``: load a model, predict for DATA, print or write a CSV."""
    from ..files.model_file import load

    get_backend(args.backend)  # a missing GPU fails before anything is read
    model = load(args.model, backend=args.backend)
    if not hasattr(model, "predict"):
        raise DataError(
            f"{args.model!r} holds an xpnet.{type(model).__name__} network, not a "
            "trained MLPClassifier or MLPRegressor (from `xpnet train --save` or "
            "xpnet.save of an estimator); use its forward() in Python instead"
        )
    data = load_dataset(args.data, args.target, need_target=False)
    X = _columns_by_name(model, data)
    n_features = model.n_features_in_
    if X.shape[1] != n_features:
        hint = (
            "; if one column is the target, name it with --target"
            if data.X.shape[1] == n_features + 1
            else ""
        )
        raise DataError(
            f"{data.name!r} has {data.X.shape[1]} feature columns but the model "
            f"takes {n_features}{hint}"
        )
    is_classifier = hasattr(model, "classes_")
    if args.proba and not is_classifier:
        raise DataError("--proba needs a classifier; this model is a regressor")
    if args.proba:
        values = _unnamed(model.predict_proba, X)
        header = [f"proba_{label}" for label in model.classes_]
    else:
        values = _unnamed(model.predict, X)
        header = (
            ["prediction"]
            if values.ndim == 1
            else [f"prediction_{i}" for i in range(values.shape[1])]
        )
    if values.dtype.kind == "f":  # the shortest digits that give the model's numbers
        values = values.astype(model.dtype_)
    report = sys.stdout
    if args.output:
        with open(args.output, "w", newline="", encoding="utf-8") as fh:
            _write_csv(fh, header, values)
        print(f"wrote {len(values)} predictions to {args.output}")
    else:
        _write_csv(sys.stdout, header, values)
        report = sys.stderr
    if data.y is not None:
        metric = _metric("classification" if is_classifier else "regression")
        score = _unnamed(model.score, X, data.y)
        print(f"{metric} against {data.target_name}: {score:.4f}", file=report)
    return 0


def _columns_by_name(model: Any, data: Dataset) -> np.ndarray:
    """``data.X`` with its columns in the order of the model's feature names, when
    both have names (a CSV header row, a model trained on one); refuses a file
    that lacks some of them or holds others. Without names: X as it is."""
    names = getattr(model, "feature_names_in_", None)
    if names is None or not data.named:
        return data.X
    given = list(data.feature_names)
    missing = [name for name in names if name not in given]
    extra = [name for name in given if name not in set(names)]
    if missing or extra or len(set(given)) != len(given):
        hint = "; if one column is the target, name it with --target" if extra else ""
        raise DataError(
            f"{data.name!r} must hold the model's feature columns {list(names)[:20]} "
            f"(matched by header name); missing {missing[:20]}, not the model's "
            f"{extra[:20]}{hint}"
        )
    return data.X[:, [given.index(name) for name in names]]


def _unnamed(method: Any, X: np.ndarray, *args: Any) -> Any:
    """``method(X, ...)`` for X whose columns are already in the model's order
    (:func:`_columns_by_name`): the estimator's "no feature names" warning is
    moot."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return method(X, *args)


def run_export(args: argparse.Namespace) -> int:
    """``xpnet export MODEL --onnx OUT``: the saved model as an ONNX graph."""
    from ..files.model_file import load
    from ..files.onnx_export import export_onnx

    try:
        import onnx  # noqa: F401 - checked before the model is read
    except ImportError:
        raise MissingExtraError(
            "ONNX export needs the onnx package; install it with: "
            'pip install "xpnet[onnx]"'
        ) from None
    _check_writable("--onnx", args.onnx, replaced=True)
    model = load(args.model, backend="numpy")
    _write("--onnx", args.onnx, export_onnx, model)
    print(f"wrote {args.onnx}: {type(model).__name__}, ONNX opset 17")
    return 0


def _write_csv(stream: TextIO, header: list[str], values: np.ndarray) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    rows = values.reshape(len(values), -1)
    writer.writerows([[str(item) for item in row] for row in rows])
