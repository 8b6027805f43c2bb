"""The session's replay net (docs/changing-the-workflow.md): at the end of the session every
ticket history on the shared dev server is replayed with the production worker's configuration
(:func:`tierflow.replay.replay_all`), and nondeterminism fails the run.

A test whose workflow must not be replayed as a ticket says so here, by workflow id:

- :func:`not_a_ticket` — its own workflow registered under a Tierflow type name on purpose
  (a host's "Ticket", an impostor that checks the net itself);
- :func:`decoded_by` — a ticket whose payloads only its encrypting client's converter decodes.

Other replay failures (a ticket a test wedges on purpose) are listed in the summary, not
judged: only nondeterminism fails the run.
"""

from __future__ import annotations

import pytest
from temporalio.converter import DataConverter

from tierflow.replay import ReplayReport

_not_tickets: dict[str, str] = {}
_converters: dict[str, DataConverter] = {}

REPORT = pytest.StashKey[ReplayReport]()


def not_a_ticket(workflow_id: str, reason: str) -> str:
    """Leave ``workflow_id`` out of the replay net, for ``reason``; returns the id."""
    if not reason.strip():
        raise ValueError("say why the workflow is left out of the replay net")
    _not_tickets[workflow_id] = reason
    return workflow_id


def decoded_by(workflow_id: str, converter: DataConverter) -> str:
    """Replay ``workflow_id`` with ``converter`` (its client's); returns the id."""
    _converters[workflow_id] = converter
    return workflow_id


def left_out() -> frozenset[str]:
    return frozenset(_not_tickets)


def converters() -> dict[str, DataConverter]:
    return dict(_converters)


def summary_lines(report: ReplayReport) -> list[str]:
    """The terminal summary of the net: totals, then each failure on a line of its own."""
    lines = report.describe().splitlines()
    if report.nondeterminism:
        lines.append(
            "replay net: nondeterminism — a ticket with such a history wedges on its next "
            "replay (a worker restart, a cache eviction); fix the workflow or guard the "
            "change with workflow.patched (docs/changing-the-workflow.md)"
        )
    return lines


def exit_status(report: ReplayReport | None, status: int) -> int:
    """The session's exit status once the net has spoken: a passing run with nondeterminism
    fails; any other status stands."""
    if report is not None and report.nondeterminism and status == pytest.ExitCode.OK:
        return pytest.ExitCode.TESTS_FAILED
    return status
