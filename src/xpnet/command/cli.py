"""The ``xpnet`` command: train, predict, check-backends, walkthrough.

Exit codes: 0 success; 1 a check or a training run failed; 2 bad usage or bad input
(the message names the problem); 3 this machine cannot run what was asked: the
backend (no GPU, library not installed, unknown name) or an optional package
(scikit-learn for the bundled datasets, matplotlib for ``--plot``); the message says
what to install; 130 interrupted.
Errors are one line on stderr, ``xpnet: error: ...``, without a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, NoReturn

from .._version import __version__
from ..backend import BackendError
from ..files.messages import cap
from ..memory import DeviceMemoryError
from ..training.distributed import DistributedError
from .commands import run_export, run_prediction, run_training
from .datasets import BUNDLED, TASKS, DataError, MissingExtraError
from .fitting import TrainingError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
EXIT_INTERRUPTED = 130

EXIT_CODES = (
    "exit codes:\n"
    "  0  success\n"
    "  1  a check failed (check-backends), training failed (e.g. diverged) or\n"
    "     the device ran out of memory\n"
    "  2  bad usage or bad input: unknown option, missing file, malformed data\n"
    "  3  cannot run here: the backend asked for (no GPU, library not installed,\n"
    "     unknown name) or an optional package is missing; the message says\n"
    "     what to install; --distributed outside torchrun\n"
    "  130 interrupted (Ctrl-C)"
)
BACKEND_HELP = (
    "where the maths runs: numpy|cpu, cupy|gpu|cuda[:N], auto (GPU if present, "
    "else CPU), torch, torch:cuda[:N], jax, array_api_strict (default: "
    "$XPNET_BACKEND, else numpy)"
)


class UsageError(Exception):
    """A command line that does not parse; the message names the option."""


class _Parser(argparse.ArgumentParser):
    """Bad usage raises :class:`UsageError`, which :func:`main` reports on one line
    (argparse's own way prints the usage block and exits)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see: {self.prog} --help)")


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps prose paragraphs, keeps indented blocks (examples, exit codes) as
    written, and appends each option's default to its help."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            if "\n" in paragraph:  # a laid-out block
                paragraphs.append(textwrap.indent(paragraph, indent))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(paragraphs)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        if isinstance(default, (list, tuple)):
            default = " ".join(str(item) for item in default)
        return f"{text} (default: {default})"


def _parsed(text: str, kind: type, accept: Any, expected: str) -> Any:
    """``kind(text)`` if ``accept`` takes it; else argparse's error naming
    ``expected``."""
    try:
        value = kind(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {noun}; got {text!r}") from None
    if not accept(value):
        raise argparse.ArgumentTypeError(f"expected {expected}; got {text}")
    return value


def _positive_int(text: str) -> int:
    return _parsed(text, int, lambda v: v >= 1, "an integer >= 1")


def _positive_float(text: str) -> float:
    return _parsed(text, float, lambda v: 0 < v < math.inf, "a finite number > 0")


def _non_negative_float(text: str) -> float:
    return _parsed(text, float, lambda v: 0 <= v < math.inf, "a finite number >= 0")


def _seed(text: str) -> int:
    return _parsed(
        text, int, lambda v: 0 <= v < 2**32, "an integer from 0 to 2**32 - 1"
    )


def _fraction(text: str) -> float:
    return _parsed(text, float, lambda v: 0 <= v < 1, "a fraction in [0, 1)")


def _batch_size(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default=None, help=BACKEND_HELP)


def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", metavar="MODEL", help="a model file (safetensors, from --save)"
    )


def _add_dtype(parser: argparse.ArgumentParser, default: str, help: str) -> None:
    parser.add_argument(
        "--dtype", choices=["float32", "float64"], default=default, help=help
    )


def _add_parser(
    commands: argparse._SubParsersAction, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=EXIT_CODES,
        formatter_class=_HelpFormatter,
    )


def _add_train(commands: argparse._SubParsersAction) -> None:
    parser = _add_parser(
        commands,
        "train",
        "train a network on a dataset, print its metrics, save it",
        "Train an MLP classifier or regressor on a bundled dataset, a CSV or an .npz "
        "file. The data is split into train and test sets (stratified for "
        "classification), features are standardized in float64 (the scaling is saved "
        "with the network, so it takes raw data), a progress bar shows the epoch, loss "
        "and samples/s, and a summary names the backend, device, dtype, time and the "
        "train and test metrics (accuracy for classification, R^2 for regression).\n\n"
        "example:\n  xpnet train --data digits --hidden 64 32 --epochs 30 "
        "--save digits.safetensors\n  xpnet train --data digits --backend gpu",
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="DATA",
        help=f"{'|'.join(BUNDLED)} (scikit-learn's bundled copies, nothing is "
        "downloaded), PATH.csv (header row optional; --target picks the target "
        "column) or PATH.npz (arrays X and y); larger than memory, opened lazily "
        "with Dask (xpnet[dask,dask-files]): a directory of Parquet files, a Zarr "
        "store (arrays X and y, or one 2-D array) or PATH.npy (a 2-D array, "
        "memory-mapped) (required)",
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="COLUMN",
        help="target column: a header name (CSV, Parquet) or a 0-based index "
        "(CSV, .npy, a 2-D Zarr array), -1 for the last (default: the last column)",
    )
    parser.add_argument(
        "--block-rows",
        type=_positive_int,
        default=None,
        metavar="N",
        help="rows per block of lazily opened data (default: the Zarr chunks or "
        "Parquet partitions; blocks of about 32 MiB for .npy)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of a running dask.distributed scheduler (e.g. "
        "tcp://10.0.0.5:8786) to compute the blocks of lazily opened data on "
        "(default: dask's local scheduler in this process)",
    )
    parser.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="default: from the target: decimal numbers mean regression; integer "
        "or text labels mean classification",
    )
    parser.add_argument(
        "--hidden",
        type=_positive_int,
        nargs="+",
        default=[100],
        metavar="N",
        help="hidden layer widths, e.g. 64 32",
    )
    parser.add_argument(
        "--activation",
        choices=["relu", "tanh", "logistic", "identity"],
        default="relu",
        help="hidden activation",
    )
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        default=50,
        help="passes over the training data, at most: training stops earlier when "
        "the loss improves by less than 1e-4 for 10 epochs (scikit-learn's "
        "max_iter, tol and n_iter_no_change)",
    )
    parser.add_argument(
        "--solver",
        choices=["adam", "sgd", "lbfgs"],
        default="adam",
        help="optimizer (lbfgs: full-batch L-BFGS, --epochs its iterations)",
    )
    parser.add_argument(
        "--lr", type=_positive_float, default=1e-3, help="learning rate (initial)"
    )
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default="auto",
        metavar="N",
        help="minibatch size; auto means min(200, n_train)",
    )
    parser.add_argument(
        "--alpha",
        type=_non_negative_float,
        default=1e-4,
        help="L2 penalty, as in scikit-learn",
    )
    parser.add_argument(
        "--test-size",
        type=_fraction,
        default=0.2,
        metavar="F",
        help="fraction of rows held out for the test metrics (of whole blocks, "
        "for data opened lazily); 0 for none",
    )
    parser.add_argument(
        "--scale",
        choices=["standard", "none"],
        default="standard",
        help="standardize features (and regression targets) with train-set mean "
        "and std, in float64 before the cast; saved with the network",
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of the split, the initial weights and the shuffles; the same seed "
        "gives the same metrics on every backend",
    )
    _add_dtype(
        parser, "float32", "floating-point precision of the network and the maths"
    )
    _add_backend(parser)
    parser.add_argument(
        "--save",
        metavar="PATH",
        default=None,
        help="write the trained model to PATH (safetensors, no pickle; default: not "
        "saved)",
    )
    parser.add_argument(
        "--plot",
        metavar="PNG",
        default=None,
        help="write the loss curve to this image; needs matplotlib: pip install "
        '"xpnet[plot]" (default: no plot)',
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (the summary still prints)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="run each epoch compiled where the backend has a compiler (jax: one XLA "
        "program per epoch, torch: torch.compile, cupy: a CUDA graph; elsewhere "
        "eagerly); the summary's backend line says which ran",
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel training over the processes torchrun starts (one model, "
        "each process a share of every batch; torch.distributed: gloo on the CPU, "
        "NCCL on GPUs, a GPU per local rank); rank 0 prints and saves. Run as: "
        "torchrun --nproc-per-node N -m xpnet train ... --distributed; needs "
        'pip install "xpnet[torch]"',
    )
    parser.set_defaults(run=run_training)


def _add_predict(commands: argparse._SubParsersAction) -> None:
    parser = _add_parser(
        commands,
        "predict",
        "predict with a saved model",
        "Load a model saved by `xpnet train --save` (or xpnet.save) and predict for "
        "every row of DATA: one prediction a line on stdout, or a CSV file with "
        "--output. When DATA has a target (bundled datasets, y in an .npz, --target "
        "for a CSV), the score is reported too.\n\n"
        "example:\n  xpnet predict digits.safetensors new_digits.csv "
        "--output predictions.csv",
    )
    _add_model(parser)
    parser.add_argument(
        "data",
        metavar="DATA",
        help="PATH.csv (every column a feature unless --target names one), PATH.npz "
        f"(array X, optional y) or {'|'.join(BUNDLED)}",
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="COLUMN",
        help="CSV column holding true targets, left out of the features and used "
        "for the score (default: none; every column is a feature)",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        default=None,
        help="write predictions to this CSV file (default: print them)",
    )
    parser.add_argument(
        "--proba",
        action="store_true",
        help="classifiers: class probabilities, one column per class",
    )
    _add_backend(parser)
    parser.set_defaults(run=run_prediction)


def _add_export(commands: argparse._SubParsersAction) -> None:
    parser = _add_parser(
        commands,
        "export",
        "export a saved model to ONNX, to run it without Python or xpnet",
        "Convert a model saved by `xpnet train --save` (or xpnet.save) into an ONNX "
        "graph (opset 17) that onnxruntime and other ONNX runtimes run: input X, "
        "outputs label and probabilities (classifiers) or predictions (regressors); "
        "the saved standardization is part of the graph. Needs the onnx extra: "
        'pip install "xpnet[onnx]".\n\n'
        "example:\n  xpnet export digits.safetensors --onnx digits.onnx",
    )
    _add_model(parser)
    parser.add_argument(
        "--onnx", metavar="OUT", required=True, help="the ONNX file to write (required)"
    )
    parser.set_defaults(run=run_export)


def _add_check_backends(commands: argparse._SubParsersAction) -> None:
    from ..check import DEFAULT_BACKENDS, STEPS

    parser = _add_parser(
        commands,
        "check-backends",
        "prove every backend here computes what NumPy does",
        "Train the same small network from the same seed with plain SGD on each "
        "backend, then compare the loss and gradients at every step and the final "
        "weights with a NumPy float64 run. Each backend passes when every number is "
        "within the test suite's tolerance (float64: 1e-10, float32: 1e-5, relative "
        "and absolute). Backends that cannot run here are listed with the reason; "
        "exit code 1 if any backend fails, 3 if a backend named with --backends "
        "cannot run here.",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        metavar="NAME",
        default=None,
        help=f"backends to check (default: {' '.join(DEFAULT_BACKENDS)}; those that "
        "cannot run here are listed, and only named ones make the exit code 3)",
    )
    _add_dtype(
        parser,
        "float64",
        "precision of the checked runs (the reference is always float64)",
    )
    parser.add_argument(
        "--steps", type=_positive_int, default=STEPS, help="SGD steps to take"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and data")
    parser.set_defaults(run=_run_check_backends)


def _add_walkthrough(commands: argparse._SubParsersAction) -> None:
    parser = _add_parser(
        commands,
        "walkthrough",
        "one forward and backward pass, every step printed with its shape",
        "Replay the seed notebook's single backprop pass (4-3-2-1 network, "
        "sigmoid hidden layers, linear output, no biases) through xpnet's own "
        "forward and backward, printing every quantity with its shape. The "
        "notebook's step 3c skips the sigmoid derivative; by default the correct "
        "values are shown and the difference explained.",
    )
    parser.add_argument(
        "--as-printed",
        action="store_true",
        help="reproduce the notebook's own numbers, its step 3c included",
    )
    parser.add_argument(
        "--layers",
        type=_positive_int,
        nargs="+",
        metavar="N",
        help="widths from inputs to outputs, e.g. 4 8 3 1 (default: the seed's "
        "4 3 2 1)",
    )
    parser.add_argument(
        "--activation",
        default="sigmoid",
        choices=["sigmoid", "tanh", "relu", "identity"],
        help="hidden activation",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for a network other than the seed's"
    )
    _add_dtype(parser, "float64", "floating-point precision")
    _add_backend(parser)
    parser.set_defaults(run=_run_walkthrough)


def _run_check_backends(args: argparse.Namespace) -> int:
    from ..check import DEFAULT_BACKENDS, TOLERANCES, format_report, run_checks

    specs = args.backends or DEFAULT_BACKENDS
    results = run_checks(specs, args.dtype, args.seed, args.steps)
    print(format_report(results, args.dtype, args.seed, args.steps))
    if any(r.available and not r.passed(TOLERANCES[args.dtype]) for r in results):
        return EXIT_FAILED
    if args.backends and any(not r.available for r in results):
        return EXIT_UNAVAILABLE
    return EXIT_OK


def _run_walkthrough(args: argparse.Namespace) -> int:
    from ..walkthrough import run

    run(
        args.backend,
        as_printed=args.as_printed,
        layers=args.layers,
        activation=args.activation,
        seed=args.seed,
        dtype=args.dtype,
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``xpnet`` command and its subcommands."""
    parser = _Parser(
        prog="xpnet",
        description="Train multi-layer perceptrons on NumPy (CPU) or CuPy (GPU) with "
        "one flag. `xpnet COMMAND --help` documents each command.",
        epilog=EXIT_CODES,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_train(commands)
    _add_predict(commands)
    _add_export(commands)
    _add_check_backends(commands)
    _add_walkthrough(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (see the module docstring)."""
    # The xpnet program owns its process: JAX's float64 is on for it unless
    # JAX_ENABLE_X64 says otherwise (read when JAX is first imported; a library
    # user's process keeps its own setting).
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail(exc, EXIT_USAGE)
    try:
        return args.run(args)
    except (TrainingError, DeviceMemoryError) as exc:
        return _fail(exc, EXIT_FAILED)
    except (BackendError, MissingExtraError, DistributedError) as exc:
        return _fail(exc, EXIT_UNAVAILABLE)
    except FileNotFoundError as exc:
        return _fail(f"{exc.strerror}: {exc.filename!r}", EXIT_USAGE)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep interpreter exit quiet
        return EXIT_OK
    except (DataError, ValueError, TypeError, OSError) as exc:
        return _fail(exc, EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)


def _fail(message: object, code: int) -> int:
    """Print ``message`` as one line (capped: it may quote a file's contents)."""
    text = cap(" ".join(str(message).splitlines()))
    print(f"xpnet: error: {text}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
