"""The workflow's orchestration logic without a server: long real-world timers, in microseconds.

``TicketOperations`` is what the workflow runs between timers; stepping it through its own
deadlines shows what the durable timers will do over hours and days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tierflow.statemachine import EscalationReason, Forbidden, InvalidAction, default_policy
from tierflow.statemachine.sla import SlaTarget
from tierflow.workflows.messages import (
    AddNote,
    CustomerReply,
    Decide,
    Escalate,
    OpenTicket,
    RequestEscalation,
    Resolve,
    WaitCustomer,
)
from tierflow.workflows.operations import TicketOperations
from tierflow.workflows.state import TicketState

from .support import fast_policy, ticket

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


class TestTriageEscalations:
    def test_a_rule_past_the_default_tier_is_an_automatic_escalation(self) -> None:
        """A security breach goes straight past tier 1: counted as an escalation by rule."""
        ops = opened("Security breach: account compromised")
        assert ops.state.tier not in ("tier0", "tier1")
        [record] = ops.state.escalations
        assert record.reasons == ["rule"]

    def test_a_rule_below_the_default_tier_is_routing_not_an_escalation(self) -> None:
        """Password resets go to self-service (tier 0), below the default tier 1: no
        escalation is counted."""
        ops = opened("Password reset please")
        assert ops.state.tier == "tier0"
        assert ops.state.escalations == []


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
            Resolve(actor="Jo Park", resolution="ok"),
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


class TestLadderEdges:
    def test_breach_while_awaiting_approval_notifies_without_moving(self) -> None:
        """A reassigning level cannot move a ticket that awaits a supervisor; it still fires."""
        ops = opened()
        ops.request_escalation(
            RequestEscalation(actor="Jo Park", reasons=[EscalationReason.LIMITED_KNOWLEDGE]), T0
        )
        run_until(ops, T0 + timedelta(hours=5))
        assert ops.state.machine.state == "approval"
        assert ops.state.level_index >= 1
        assert any("escalation level 1" in e.summary for e in ops.state.timeline)

    def test_waiting_pauses_the_ladder_and_the_reply_resumes_it(self) -> None:
        """After a breach, waiting on the customer holds the next level until they reply."""
        levels_due = T0 + timedelta(hours=4)
        ops = opened()
        ops.request_escalation(
            RequestEscalation(actor="Jo Park", reasons=[EscalationReason.LIMITED_KNOWLEDGE]), T0
        )
        ops.reject(Decide(actor="Alex Kim"), T0)
        run_until(ops, levels_due)  # breach → level 1 reassigns to tier 2
        assert ops.state.tier == "tier2"
        since = levels_due
        run_until(ops, levels_due + timedelta(days=2), since)  # tier 2 breaches too
        assert ops.state.breach_at is not None
        later = levels_due + timedelta(days=2)
        index = ops.state.level_index
        ops.wait_customer(WaitCustomer(actor="Robin Ortiz"), later)
        run_until(ops, later + timedelta(days=5), later)
        assert ops.state.level_index == index  # nothing fired while waiting
        ops.customer_reply(CustomerReply(message="here"), later + timedelta(days=5))
        run_until(ops, later + timedelta(days=6), later + timedelta(days=5))
        assert ops.state.level_index > index

    def test_a_breach_with_no_level_due_still_tells_the_owner(self) -> None:
        """When the ladder has nothing at the breach moment, the breach itself is notified."""
        ops = opened()
        run_until(ops, T0 + timedelta(hours=4))  # level 1: tier 2; tier 2's breach comes later
        ops.take_effects()
        tier2_due = ops.state.clock.due(SlaTarget.RESOLUTION, ops.state.policy.calendar)
        assert tier2_due is not None
        run_until(ops, tier2_due, T0 + timedelta(hours=4))
        events = {n.event for b in ops.take_effects() for n in b.notifications}
        assert "breach" in events


class TestApprovalGate:
    """Tier 2 needs a supervisor's approval to escalate out of: no path goes around it."""

    def test_tier1_straight_to_tier3_passes_tier2_and_needs_approval(self) -> None:
        ops = opened()
        with pytest.raises(InvalidAction, match="past tier2 needs a supervisor's approval"):
            ops.check_escalate(
                Escalate(actor="Jo Park", tier="tier3", reasons=[EscalationReason.LIMITED_ACCESS])
            )

    def test_stepping_down_to_tier1_does_not_skip_the_approval(self) -> None:
        ops = opened()
        reasons = [EscalationReason.LIMITED_KNOWLEDGE]
        ops.escalate(Escalate(actor="Jo Park", tier="tier2", reasons=reasons), T0)
        ops.escalate(Escalate(actor="Robin Ortiz", tier="tier1", reasons=reasons), T0)
        assert ops.state.tier == "tier1"
        with pytest.raises(InvalidAction, match="needs a supervisor's approval"):
            ops.check_escalate(Escalate(actor="Jo Park", tier="tier3", reasons=reasons))
        # One tier up, to tier2 itself, needs none.
        ops.check_escalate(Escalate(actor="Jo Park", tier="tier2", reasons=reasons))


class TestDescent:
    """An escalation goes up a tier or sideways to a team: a tier below is a de-escalation,
    refused before anything changes, never counted as an escalation."""

    def test_escalating_down_to_self_service_is_refused(self) -> None:
        ops = opened()
        reasons = [EscalationReason.LIMITED_KNOWLEDGE]
        with pytest.raises(InvalidAction, match="tier0 is below tier1: a de-escalation"):
            ops.check_escalate(Escalate(actor="Jo Park", tier="tier0", reasons=reasons))
        assert ops.state.escalation_count == 0

    def test_down_to_a_lower_tier_s_team_or_by_request_is_refused_too(self) -> None:
        ops = opened()
        reasons = [EscalationReason.LIMITED_KNOWLEDGE]
        ops.escalate(Escalate(actor="Jo Park", tier="tier2", reasons=reasons), T0)
        functional = Escalate(
            actor="Robin Ortiz", type="functional", team="frontline", reasons=reasons
        )
        with pytest.raises(InvalidAction, match="tier1 is below tier2"):
            ops.check_escalate(functional)
        with pytest.raises(InvalidAction, match="tier0 is below tier2"):
            ops.check_request_escalation(
                RequestEscalation(actor="Robin Ortiz", tier="tier0", reasons=reasons)
            )
        assert (ops.state.tier, ops.state.escalation_count) == ("tier2", 1)


class TestActingScope:
    """The validators hold every caller to their act scope: their teams, and their own."""

    def test_an_agent_acts_on_their_team_s_ticket_and_on_the_one_they_escalated(self) -> None:
        ops = opened()
        ops.check_action("note", AddNote(actor="Jo Park", text="mine"))
        with pytest.raises(Forbidden, match="'Sky Adams' \\(agent\\) acts on tickets of billing"):
            ops.check_action("resolve", Resolve(actor="Sky Adams", resolution="not mine"))
        reasons = [EscalationReason.LIMITED_KNOWLEDGE]
        ops.escalate(Escalate(actor="Jo Park", tier="tier2", reasons=reasons), T0)
        assert (ops.state.tier, ops.state.team) == ("tier2", "technical")
        ops.check_action("note", AddNote(actor="Jo Park", text="chasing it"))  # follows it
        ops.check_action("note", AddNote(actor="Robin Ortiz", text="technical's now"))
        with pytest.raises(Forbidden):
            ops.check_action("note", AddNote(actor="Sky Adams", text="billing's not"))


class TestLiveWarnings:
    """A warning is given only while its target still applies (issue 19): a warning falling
    in the same moment as an escalation away from its tier warns nobody."""

    def coinciding(self) -> TicketOperations:
        """First response due at 4 s, resolution at 8 s warned at half: the resolution warning
        falls at the first response's breach, which escalates at once (level after 0 s)."""
        policy = fast_policy(resolution="8s", first_response="4s", warning_fraction=0.5)
        ops = TicketOperations(
            TicketState.opening(OpenTicket(ticket=ticket(), policy=policy), T0), "ticket-test"
        )
        ops.open(T0)
        run_until(ops, T0 + timedelta(seconds=3))  # the first response's own warning at 2 s
        ops.take_effects()
        return ops

    def warned(self, ops: TicketOperations) -> list[str]:
        return [
            n.subject
            for batch in ops.take_effects()
            for n in batch.notifications
            if n.event == "breach_warning"
        ]

    def fire(self, ops: TicketOperations) -> None:
        due = ops.next_deadline(T0 + timedelta(seconds=3))
        assert due is not None
        assert due.at == T0 + timedelta(seconds=4)
        ops.on_deadline(due, due.at)

    def test_a_warning_due_alone_is_given(self) -> None:
        """The first response's warning at 2 s goes out, naming its deadline."""
        policy = fast_policy(resolution="8s", first_response="4s", warning_fraction=0.5)
        ops = TicketOperations(
            TicketState.opening(OpenTicket(ticket=ticket(), policy=policy), T0), "ticket-test"
        )
        ops.open(T0)
        ops.take_effects()
        warn = ops.next_deadline(T0)
        assert warn is not None
        assert warn.kind == "warning"
        ops.on_deadline(warn, warn.at)
        assert self.warned(ops)
        assert any("first_response due soon (tier1)" in e.summary for e in ops.state.timeline)

    def test_a_warning_in_the_moment_its_tier_is_left_is_not_given(self) -> None:
        """At 4 s the ticket escalates to tier 2; tier 1 is not warned of the resolution
        deadline it no longer has."""
        ops = self.coinciding()
        self.fire(ops)
        assert ops.state.tier == "tier2"
        assert not self.warned(ops)
        assert not any("resolution due soon" in e.summary for e in ops.state.timeline)
