"""Tickets already in flight must survive code changes: recorded histories replay cleanly."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
from functools import cache
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import tierflow.workflows
from tierflow.workflows import TicketWorkflow

HISTORY_DIR = Path(__file__).parent.parent / "histories"
HISTORIES = sorted(HISTORY_DIR.glob("*.json"))


def patch_ids_in(source: str, constants: dict[str, object]) -> set[str]:
    """The ids ``source`` passes to ``workflow.patched`` (or ``deprecate_patch``): a literal or
    a module constant (looked up in ``constants``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("patched", "deprecate_patch")
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "workflow"
        ):
            continue
        [arg] = node.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.add(arg.value)
        elif isinstance(arg, ast.Name) and isinstance(constants.get(arg.id), str):
            found.add(str(constants[arg.id]))
        else:
            raise AssertionError(f"a patch id that is not a constant: {ast.dump(arg)}")
    return found


@cache
def patch_ids() -> frozenset[str]:
    """Every patch id of the workflow package, read from its source."""
    found: set[str] = set()
    package = tierflow.workflows
    for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        module = importlib.import_module(info.name)
        source = Path(str(module.__file__)).read_text(encoding="utf-8")
        found |= patch_ids_in(source, vars(module))
    return frozenset(found)


def ledger() -> dict[str, str]:
    """PATCHES.md's live patches: id -> the recording named in its row."""
    text = (Path(__file__).parents[2] / "PATCHES.md").read_text(encoding="utf-8")
    live = text.split("## Live patches", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in live.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[2].strip("`")
    return rows


def recorded_patches(path: Path) -> set[str]:
    """The patch ids whose marker (``core_patch``) the recording holds: the branches its
    ticket took."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    ids = set()
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and marker.marker_name == (
            "core_patch"
        ):
            ids.add(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
    return ids


class TestReplay:
    def test_there_are_recordings(self) -> None:
        """The recordings exist (an empty folder would make the replay test vacuous)."""
        assert len(HISTORIES) >= 3

    @pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
    @pytest.mark.parametrize("runner", [SandboxedWorkflowRunner, UnsandboxedWorkflowRunner])
    async def test_recorded_history_replays_with_current_code(
        self, path: Path, runner: type[WorkflowRunner]
    ) -> None:
        """Replaying a recorded ticket with today's workflow code hits no nondeterminism,
        in or out of the sandbox."""
        history = WorkflowHistory.from_json(f"ticket-{path.stem}", path.read_text())
        replayer = Replayer(
            workflows=[TicketWorkflow],
            data_converter=pydantic_data_converter,
            workflow_runner=runner(),
        )
        await replayer.replay_workflow(history)


class TestPatchLedger:
    def test_the_reader_finds_literal_and_constant_ids(self) -> None:
        """The reader the next two tests rest on (with no live patch, they would pass on a
        reader that found nothing)."""
        source = (
            "HOTFIX = 'fix-1'\n"
            "def run():\n"
            "    if workflow.patched(HOTFIX): pass\n"
            "    workflow.deprecate_patch('fix-0')\n"
            "    other.patched('not-ours')\n"
        )
        assert patch_ids_in(source, {"HOTFIX": "fix-1"}) == {"fix-1", "fix-0"}
        with pytest.raises(AssertionError, match="not a constant"):
            patch_ids_in("workflow.patched(make_id())", {})

    def test_the_ledger_lists_exactly_the_live_patches(self) -> None:
        """Every patch id in the workflow code has its row in PATCHES.md, and no row names a
        patch the code no longer has."""
        assert set(ledger()) == set(patch_ids())

    def test_every_patch_takes_its_new_branch_in_its_recording(self) -> None:
        """Each live patch's recording (named in its ledger row) exists and holds the patch's
        marker, so the code behind the new branch is replayed against a real history."""
        for patch, recording in ledger().items():
            path = HISTORY_DIR / recording
            assert path.is_file(), f"{patch}: no recording {recording} in tests/histories"
            assert patch in recorded_patches(path), f"{patch}: {recording} does not take it"

    def test_the_baseline_recordings_take_no_patch(self) -> None:
        """1.0's recordings are made by the baseline: a patch marker in one would mean a
        recording older than the baseline, or a patch missing from the ledger."""
        for path in HISTORIES:
            assert recorded_patches(path) <= set(ledger()), path.name
