"""The ``xpnet`` command.

Exit codes: 0 success; 1 a check or a training run failed; 2 bad usage or bad input
(the message names the problem); 3 the backend asked for cannot run here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .backend import BackendError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BACKEND = 0, 1, 2, 3


def _add_walkthrough(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "walkthrough",
        help="one forward and backward pass, every step printed with its shape",
        description=(
            "Replay the seed notebook's single backprop pass (4-3-2-1 network, "
            "sigmoid hidden layers, linear output, no biases) through xpnet's own "
            "forward and backward, printing every quantity with its shape. The "
            "notebook's step 3c skips the sigmoid derivative; by default the correct "
            "values are shown and the difference explained."
        ),
    )
    parser.add_argument(
        "--as-printed",
        action="store_true",
        help="reproduce the notebook's own numbers, its step 3c included",
    )
    parser.add_argument(
        "--layers",
        type=int,
        nargs="+",
        metavar="N",
        help="widths from inputs to outputs, e.g. 4 8 3 1 (default: the seed's "
        "4 3 2 1)",
    )
    parser.add_argument(
        "--activation",
        default="sigmoid",
        choices=["sigmoid", "tanh", "relu", "identity"],
        help="hidden activation (default: sigmoid)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for a network other than the seed's"
    )
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    _add_backend(parser)
    parser.set_defaults(run=_run_walkthrough)


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        default=None,
        help="numpy|cpu, cupy|gpu|cuda[:N], auto, torch, torch:cuda, jax, "
        "array_api_strict (default: $XPNET_BACKEND or numpy)",
    )


def _run_walkthrough(args: argparse.Namespace) -> int:
    from .walkthrough import run

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
    parser = argparse.ArgumentParser(
        prog="xpnet",
        description="Train multi-layer perceptrons on NumPy (CPU) or CuPy (GPU) with "
        "one flag.",
        epilog="Exit codes: 0 success, 1 a check or training failed, 2 bad usage or "
        "input, 3 the backend cannot run here.",
    )
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_walkthrough(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (see the module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BackendError as exc:
        print(f"xpnet: error: {exc}", file=sys.stderr)
        return EXIT_BACKEND
    except (ValueError, TypeError) as exc:
        print(f"xpnet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep interpreter exit quiet
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
