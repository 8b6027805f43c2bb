"""The benchmarks' command line, run in process at a smoke size (``make bench`` runs it full)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import main

RunBenchmark = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def run_benchmark(temporal_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> RunBenchmark:
    """``python -m benchmarks <args> --json <file>`` on the benchmark's own dev server; the
    figures as written to its JSON file. Tests using it are in the ``benchmark`` lane."""

    def run(*args: str) -> dict[str, Any]:
        out = tmp_path_factory.mktemp("bench") / "figures.json"
        main([*args, "--json", str(out)])
        written: dict[str, Any] = json.loads(out.read_text())
        return written

    return run
