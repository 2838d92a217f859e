"""The `hwnas` command line, one module per command group; `app` is the entry point (`nas.cli:app`).

Nothing else in the project imports from here: the commands are thin wrappers over the library's public API.
"""
from nas.cli import export, hardware, predictor, search, simulate, supernet  # noqa: F401 - registers the commands
from nas.cli.base import app

__all__ = ["app"]
