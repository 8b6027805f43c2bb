"""The workflow's orchestration logic without a server: long real-world timers, in microseconds.

``TicketOperations`` is what the workflow runs between timers; stepping it through its own
deadlines shows what the durable timers will do over hours and days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from statemachine import default_policy
from workflows.messages import OpenTicket, Resolve
from workflows.operations import TicketOperations
from workflows.state import TicketState

from .support import ticket

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def opened(subject: str = "Cannot sync calendar", **overrides: object) -> TicketOperations:
    start = OpenTicket(ticket=ticket(subject, **overrides), policy=default_policy())
    ops = TicketOperations(TicketState.opening(start, T0), "ticket-test")
    ops.open(T0)
    return ops


def run_until(ops: TicketOperations, until: datetime, since: datetime = T0) -> None:
    """Fire every deadline from ``since`` up to ``until``, as the workflow's timer would: the
    workflow asks for the next deadline at the current time and sleeps until it."""
    now = since
    while (deadline := ops.next_deadline(now)) is not None and deadline.at <= until:
        now = max(now, deadline.at)
        ops.on_deadline(deadline, now)


class TestDefaultPolicyOverHours:
    def test_unresolved_for_four_hours_a_senior_takes_over(self) -> None:
        """The default policy: a normal ticket unresolved 4 h in tier 1 goes to tier 2."""
        ops = opened()
        assert ops.state.tier == "tier1"
        run_until(ops, T0 + timedelta(hours=3, minutes=59))
        assert ops.state.tier == "tier1"
        run_until(ops, T0 + timedelta(hours=4))
        assert ops.state.tier == "tier2"
        record = ops.state.escalations[-1]
        assert record.at == T0 + timedelta(hours=4)
        assert record.reasons == ["sla_breach"]
        assert record.from_tier == "tier1"

    def test_warning_at_three_quarters_of_the_target(self) -> None:
        """At 75 % of the 4 h target (3 h) the owner is warned, once."""
        ops = opened()
        run_until(ops, T0 + timedelta(hours=3))
        warnings = [e for e in ops.state.timeline if "resolution due soon" in e.summary]
        assert [e.at for e in warnings] == [T0 + timedelta(hours=3)]

    def test_follow_up_survey_after_three_days_then_close(self) -> None:
        """Resolved tickets get the survey after the follow-up delay and close later."""
        ops = opened()
        ops.resolve(
            Resolve(actor="a", resolution="ok"),
            T0,
        )
        run_until(ops, T0 + timedelta(days=3))
        assert ops.state.survey_sent_at == T0 + timedelta(days=3)
        run_until(ops, T0 + timedelta(days=6))
        assert ops.state.machine.state == "closed"

    def test_every_deadline_plans_its_notifications(self) -> None:
        """A breach plans messages to the owner's queue and the host sync, batched once."""
        ops = opened()
        ops.take_effects()
        run_until(ops, T0 + timedelta(hours=4))
        batches = ops.take_effects()
        assert len(batches) == 1
        batch = batches[0]
        assert {n.event for n in batch.notifications} >= {"breach_warning", "breach", "landed"}
        assert len({n.idempotency_key for n in batch.notifications}) == len(batch.notifications)
        assert batch.syncs
