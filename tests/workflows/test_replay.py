"""Tickets already in flight must survive code changes: recorded histories replay cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tierflow.workflows import LegacyTicketWorkflow, TicketWorkflow

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))


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

    def test_recordings_cover_tickets_before_and_after_local_effects(self) -> None:
        """Tickets recorded before effects ran as local activities (v5) and after (the
        unprefixed recordings) are both replayed: the older have no local-activity marker."""
        by_name = {p.stem: p.read_text() for p in HISTORIES}
        assert "core_local_activity" in by_name["breach_and_follow_up"]
        assert "core_local_activity" not in by_name["v5-breach_and_follow_up"]
