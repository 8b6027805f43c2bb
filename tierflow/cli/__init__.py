"""The ``tierflow`` command line: ``app`` (typer; tests invoke it in-process) and the console
script ``tierflow = "tierflow.cli.entry:main"``, which runs it and hard-exits (see entry)."""

from tierflow.cli.main import app

__all__ = ["app"]
