"""The ``tierflow`` console script: runs :data:`tierflow.cli.app`, then ends the process at once.

The Temporal SDK's Rust runtime keeps native threads that can outlive interpreter shutdown
and abort it (``Fatal Python error: PyGILState_Release``, exit code 134; temporalio/sdk-python
issue 300) after the command's work is done. So once the command has returned, its output is
flushed and the process ends with ``os._exit`` and the command's own exit code: interpreter
finalisation, where that crash happens, never runs. Long-running commands (server, worker,
api) have shut down their servers and workers before they return. Tests invoke ``app``
in-process instead, which this module leaves untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from typing import NoReturn

from tierflow.cli._common import DEBUG_VARIABLE
from tierflow.cli.main import app


def run(argv: list[str] | None = None) -> int:
    """Run the app as the console script does and return its exit code (never raises)."""
    try:
        app(args=argv, prog_name="tierflow")
    except SystemExit as done:
        return exit_code(done.code)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # the app reports its own errors; this is the last resort
        if os.environ.get(DEBUG_VARIABLE):
            traceback.print_exception(err)
        name = type(err).__name__
        print(
            f"error: internal error ({name}); run with {DEBUG_VARIABLE}=1 for details",
            file=sys.stderr,
        )
        return 1
    return 0


def exit_code(code: object) -> int:
    """``SystemExit.code`` as a process exit code (a message is printed, as Python does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code if 0 <= code <= 255 else 1
    print(code, file=sys.stderr)
    return 1


def flush() -> None:
    """Write out everything buffered: log handlers, then stdout and stderr."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (`tierflow … | head`) or stream has nothing more to take.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the ``tierflow`` console script (``argv``: instead of ``sys.argv``)."""
    code = run(argv)
    flush()
    os._exit(code)
