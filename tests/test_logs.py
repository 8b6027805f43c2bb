"""A JSON log stream holds nothing but JSON lines, even what CPython writes on its own."""

from __future__ import annotations

import json
import subprocess
import sys

PROGRAM = """
import gc, warnings
from tierflow.logs import configure_logging

configure_logging(json=True)

class Interrupted:
    def __del__(self):
        raise KeyboardInterrupt  # Ctrl-C landing in a finalizer at shutdown

warnings.warn("a library's warning")
Interrupted()
gc.collect()
"""


def test_warnings_and_unraisable_exceptions_are_json_lines() -> None:
    """A warning and an exception raised in a finalizer (printed by CPython as "Exception
    ignored in: …" plus a traceback) each become one JSON line, and nothing else is written."""
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["level"] for line in lines] == ["warning", "warning"], done.stderr
    assert "a library's warning" in lines[0]["event"]
    assert "Interrupted.__del__: KeyboardInterrupt" in lines[1]["event"]
