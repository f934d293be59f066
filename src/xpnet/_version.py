"""The one place xpnet's version is written (read by pyproject.toml and the package)."""

__version__ = "0.3.0"
