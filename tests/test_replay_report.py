"""The replay net's verdict: failures told apart and named, and what it does to a pytest run."""

from __future__ import annotations

import pytest
from temporalio.workflow import NondeterminismError

from tests import replaynet
from tierflow.replay import ReplayFailure, ReplayReport, headline, is_nondeterminism

CORE = (
    "Workflow activation completion failed: Failure { failure: Some(Failure { message: "
    '"[TMPRL1100] Nondeterminism error: No command scheduled for event HistoryEvent(id: 21, '
    'UpsertWorkflowSearchAttributes)", source: "", stack_trace: "  File \\"x.py\\"\\n", '
    "encoded_attributes: None }) }"
)


def report(*, nondeterministic: int = 0, other: int = 0) -> ReplayReport:
    def failure(n: int, nondeterminism: bool) -> ReplayFailure:
        message = "[TMPRL1100] Nondeterminism error: …" if nondeterminism else "Failed decoding"
        return ReplayFailure(
            f"ticket-T-{n}", f"run-{n}", "tierflow.Ticket", nondeterminism, message
        )

    return ReplayReport(
        replayed=10,
        nondeterminism=[failure(n, True) for n in range(nondeterministic)],
        other_failures=[failure(n, False) for n in range(other)],
        seconds=1.25,
    )


class TestFailures:
    def test_headline_is_cores_message_without_the_dump(self) -> None:
        """Core's completion dump is cut down to the failure's own message, one line."""
        assert headline(RuntimeError(CORE)) == (
            "[TMPRL1100] Nondeterminism error: No command scheduled for event "
            "HistoryEvent(id: 21, UpsertWorkflowSearchAttributes)"
        )
        assert headline(RuntimeError("plain\nsecond line")) == "plain"
        assert headline(RuntimeError()) == "RuntimeError"

    def test_nondeterminism_is_told_from_other_failures(self) -> None:
        """The SDK's NondeterminismError or core's [TMPRL1100] code is nondeterminism; a
        task that failed otherwise (a payload it cannot decode) is not."""
        assert is_nondeterminism(NondeterminismError("evicted"))
        assert is_nondeterminism(RuntimeError(CORE))
        assert not is_nondeterminism(RuntimeError("4: Failed decoding arguments"))

    def test_the_description_names_each_run(self) -> None:
        """Totals first, then one line per failure with its workflow id and run id,
        nondeterminism first."""
        lines = report(nondeterministic=1, other=1).describe().splitlines()
        assert lines[0].startswith("replayed 10 ticket histories in 1.2 s: 1 nondeterministic")
        assert lines[1].startswith("  NONDETERMINISM workflow ticket-T-0 run run-0")
        assert lines[2].startswith("  other failure workflow ticket-T-0 run run-0")

    def test_the_figures_for_a_json_document(self) -> None:
        r = report(nondeterministic=2).as_dict()
        assert (r["replayed"], r["nondeterminism"], r["other_failures"]) == (10, 2, 0)
        assert r["nondeterministic_runs"][1]["run_id"] == "run-1"


class TestSession:
    def test_nondeterminism_fails_a_passing_run(self) -> None:
        """Tests that passed with a nondeterministic history make a failed run."""
        found = report(nondeterministic=1)
        assert replaynet.exit_status(found, pytest.ExitCode.OK) == pytest.ExitCode.TESTS_FAILED
        assert replaynet.exit_status(found, pytest.ExitCode.INTERRUPTED) == 2

    def test_other_failures_and_no_net_leave_the_status(self) -> None:
        """A wedged ticket is reported, not judged; without the net (no integration test
        ran, or ``--no-replay-net``) nothing changes."""
        assert replaynet.exit_status(report(other=3), pytest.ExitCode.OK) == 0
        assert replaynet.exit_status(None, pytest.ExitCode.OK) == 0
        assert replaynet.exit_status(None, pytest.ExitCode.TESTS_FAILED) == 1

    def test_the_summary_says_what_to_do(self) -> None:
        lines = replaynet.summary_lines(report(nondeterministic=1))
        assert "ticket-T-0" in lines[1]
        assert "workflow.patched" in lines[-1]
        assert len(replaynet.summary_lines(report())) == 1

    def test_leaving_a_workflow_out_needs_a_reason(self) -> None:
        with pytest.raises(ValueError, match="say why"):
            replaynet.not_a_ticket("host-1", " ")

    def test_workers_reports_cross_the_wire_and_add_up(self) -> None:
        """Under xdist each worker replays its own server's histories: the controller gets
        each report back whole, and one worker's nondeterminism fails the whole run."""
        calm, found = report(other=1), report(nondeterministic=1)
        assert replaynet.from_wire(replaynet.to_wire(found)) == found
        total = replaynet.merged(
            replaynet.from_wire(replaynet.to_wire(r)) for r in (calm, found, ReplayReport())
        )
        assert (total.replayed, total.skipped, total.seconds) == (20, 0, 1.25)
        assert total.nondeterminism == found.nondeterminism
        assert total.other_failures == calm.other_failures
        assert replaynet.exit_status(total, pytest.ExitCode.OK) == pytest.ExitCode.TESTS_FAILED
