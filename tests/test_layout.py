"""The repository's shape: one import name, no links, the pure core free of Temporal and I/O."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tierflow"
# What the pure core may import beyond the standard library and itself.
CORE_ALLOWED = {"pydantic", "transitions", "tierflow"}
CORE_FORBIDDEN_STDLIB = {"asyncio", "socket", "subprocess", "urllib", "http", "os", "random"}


def test_the_repository_holds_no_symbolic_links() -> None:
    """A checkout without symlinks (Windows, some CI caches) gets the same tree."""
    listing = subprocess.run(
        ["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    links = [line.split("\t", 1)[1] for line in listing.splitlines() if line.startswith("120000")]
    assert links == []


def test_the_design_cards_parts_are_subpackages_of_tierflow() -> None:
    for part in ("statemachine", "workflows", "activities"):
        assert (PACKAGE / part / "__init__.py").is_file(), part
        assert not (ROOT / part).exists(), f"{part}/ at the top would be a second import name"
    assert (PACKAGE / "worker.py").is_file()


def test_the_pure_core_imports_neither_temporal_nor_io() -> None:
    """statemachine/ runs inside the workflow and in microsecond unit tests: nothing from the
    SDK, the network or the clock's side effects."""
    offenders: list[str] = []
    for path in sorted((PACKAGE / "statemachine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "temporalio" or top in CORE_FORBIDDEN_STDLIB:
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
                if name.startswith("tierflow.") and not name.startswith("tierflow.statemachine"):
                    offenders.append(f"{path.relative_to(ROOT)}: {name} (points outward)")
    assert offenders == []
