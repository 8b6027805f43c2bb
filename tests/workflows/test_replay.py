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
from tierflow.workflows import LegacyTicketWorkflow, TicketWorkflow

HISTORY_DIR = Path(__file__).parent.parent / "histories"
HISTORIES = sorted(HISTORY_DIR.glob("*.json"))
# Patch ids whose new branch no recording takes yet, each with the reason. Strict: once a
# recording takes one, the coverage test fails until it is taken off this list.
UNRECORDED_PATCHES: dict[str, str] = {}


@cache
def patch_ids() -> frozenset[str]:
    """Every id the workflow package passes to ``workflow.patched`` (or ``deprecate_patch``),
    read from its source: a constant of the module or a literal."""
    found: set[str] = set()
    package = tierflow.workflows
    for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        module = importlib.import_module(info.name)
        tree = ast.parse(Path(str(module.__file__)).read_text())
        for node in ast.walk(tree):
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
            elif isinstance(arg, ast.Name) and isinstance(getattr(module, arg.id, None), str):
                found.add(getattr(module, arg.id))
            else:
                raise AssertionError(f"{info.name}: a patch id that is not a constant: {arg}")
    return frozenset(found)


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
            workflows=[TicketWorkflow, LegacyTicketWorkflow],
            data_converter=pydantic_data_converter,
            workflow_runner=runner(),
        )
        await replayer.replay_workflow(history)

    def test_recordings_cover_tickets_before_during_and_after_local_effects(self) -> None:
        """Tickets recorded before effects ran as local activities (v5), while they did (v6)
        and since they are regular activities again (the unprefixed recordings) are all
        replayed."""
        by_name = {p.stem: p.read_text() for p in HISTORIES}
        assert "core_local_activity" not in by_name["v5-breach_and_follow_up"]
        assert "core_local_activity" in by_name["v6-breach_and_follow_up"]
        assert "core_local_activity" not in by_name["breach_and_follow_up"]

    def test_a_local_activity_that_timed_out_is_among_the_recordings(self) -> None:
        """The shape that froze tickets (issue 19): a wake-up's local activity timed out on a
        slow mail relay; its marker holds a bare timeout, which the SDK replays as
        TimeoutError rather than ActivityError. Its replay above must pass."""
        events = json.loads((HISTORY_DIR / "v6-local_effects_timed_out.json").read_text())
        timed_out = [
            e
            for e in events["events"]
            if e.get("markerRecordedEventAttributes", {}).get("markerName") == "core_local_activity"
            and "timeoutFailureInfo" in e["markerRecordedEventAttributes"].get("failure", {})
        ]
        assert timed_out


class TestPatchCoverage:
    def test_the_patch_ids_are_read_from_the_workflow(self) -> None:
        """The ids come from the workflow's own ``workflow.patched`` calls (a reader that
        found none would make the coverage test vacuous)."""
        assert {
            "closed-ticket-continues-as-new",
            "deliveries-outlast-outages",
            "effects-as-local-activities",
        } <= patch_ids()

    def test_every_patch_takes_its_new_branch_in_a_recording(self) -> None:
        """Each ``workflow.patched`` id appears as a patch marker in some recording, so the
        code behind it is replayed against a real history (see UNRECORDED_PATCHES)."""
        recorded = set().union(*(recorded_patches(p) for p in HISTORIES))
        missing = sorted(patch_ids() - recorded - set(UNRECORDED_PATCHES))
        assert not missing, (
            f"no recording in tests/histories takes the new branch of {missing}: add a "
            "scenario to tests/workflows/record_histories.py that does and record it "
            "(docs/changing-the-workflow.md)"
        )
        stale = sorted(set(UNRECORDED_PATCHES) & recorded)
        assert not stale, f"recorded now, take them off UNRECORDED_PATCHES: {stale}"
        assert set(UNRECORDED_PATCHES) <= patch_ids()
