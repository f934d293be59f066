"""Run scikit-learn's own MLP test file against xpnet's estimators.

Reads ``sklearn/neural_network/tests/test_mlp.py`` from the installed scikit-learn,
swaps its one import of ``MLPClassifier, MLPRegressor`` for xpnet's (their
defaults: the dtype follows X, as scikit-learn's; ``--dtype`` binds one), writes
the result to a temporary folder and runs pytest on it. Nothing of scikit-learn's
file is kept in this repository. Usage::

    python ci/sklearn_mlp_tests.py [--dtype float32|float64] [pytest arguments ...]

The last line printed is ``passed P of N``; the exit code is pytest's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pytest

IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
SWAP = "from xpnet import MLPClassifier, MLPRegressor"
SWAP_DTYPE = """\
import functools as _functools
import xpnet as _xpnet
MLPClassifier = _functools.partial(_xpnet.MLPClassifier, dtype={dtype!r})
MLPRegressor = _functools.partial(_xpnet.MLPRegressor, dtype={dtype!r})"""
# scikit-learn's conftest gives its tests this fixture (42 unless the environment
# variable SKLEARN_TESTS_GLOBAL_RANDOM_SEED says otherwise).
CONFTEST = """import pytest

@pytest.fixture
def global_random_seed():
    return 42
"""


class _Count:
    """A pytest plugin counting the outcomes of the tests' calls."""

    def __init__(self) -> None:
        self.passed = self.total = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.total += 1
            self.passed += report.passed and report.when == "call"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default=None, choices=["float32", "float64"])
    args, pytest_args = parser.parse_known_args(argv)
    import sklearn.neural_network

    source_path = Path(sklearn.neural_network.__file__).parent / "tests/test_mlp.py"
    source = source_path.read_text()
    if source.count(IMPORT) != 1:
        raise SystemExit(f"{source_path} no longer imports the MLPs as {IMPORT!r}")
    swap = SWAP if args.dtype is None else SWAP_DTYPE.format(dtype=args.dtype)
    swapped = source.replace(IMPORT, swap)
    count = _Count()
    with tempfile.TemporaryDirectory() as folder:
        test_file = Path(folder) / "test_mlp_on_xpnet.py"
        test_file.write_text(swapped)
        (Path(folder) / "conftest.py").write_text(CONFTEST)
        code = pytest.main(
            [str(test_file), "-q", "-p", "no:cacheprovider", "--rootdir", folder]
            + ["-W", "ignore::DeprecationWarning", *pytest_args],
            plugins=[count],
        )
    print(f"passed {count.passed} of {count.total}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
