"""The ``tierflow`` command line (``tierflow = "tierflow.cli:app"``)."""

from tierflow.cli.main import app

__all__ = ["app"]
