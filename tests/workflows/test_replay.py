"""Tickets already in flight must survive code changes: recorded histories replay cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tierflow.workflows import LegacyTicketWorkflow, TicketWorkflow

HISTORY_DIR = Path(__file__).parent.parent / "histories"
HISTORIES = sorted(HISTORY_DIR.glob("*.json"))


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
