"""``python -m xpnet``: the ``xpnet`` command."""

import sys

from .command.cli import main

sys.exit(main())
