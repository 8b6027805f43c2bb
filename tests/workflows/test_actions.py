"""Agent and supervisor actions as validated updates, against the real dev server."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client

from tierflow.client import ActionRejected, TicketClient, workflow_id_for
from tierflow.statemachine import EscalationReason, EscalationRecord, EscalationType
from tierflow.workflows.messages import (
    Assign,
    Close,
    Decide,
    Escalate,
    RequestEscalation,
    Resolve,
    SetPriority,
)

from .support import fast_policy, running_worker, ticket, wait_for

KNOWLEDGE = [EscalationReason.LIMITED_KNOWLEDGE]


async def history_length(client: Client, ticket_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id_for(ticket_id)).fetch_history()
    return len(history.events)


async def settled_history_length(client: Client, ticket_id: str) -> int:
    """The history's length once the ticket's opening effects have finished writing to it."""
    previous = -1
    while True:
        length = await history_length(client, ticket_id)
        if length == previous:
            return length
        previous = length
        await asyncio.sleep(0.5)


async def opened_in_tier2(tickets: TicketClient) -> str:
    t = ticket("Dashboard totals are wrong", customer={"status": "vip"})
    await tickets.open(t, fast_policy(resolution="120s"))
    await wait_for(tickets, t.id, lambda s: s.state == "tier2")
    return t.id


class TestApprovalFlow:
    async def test_escalating_out_of_tier2_needs_approval(
        self, client: Client, task_queue: str
    ) -> None:
        """Tier 2 requires a supervisor's approval: a direct escalation is refused."""
        async with running_worker(client, task_queue) as tickets:
            tid = await opened_in_tier2(tickets)
            with pytest.raises(ActionRejected, match="needs a supervisor's approval"):
                await tickets.escalate(tid, Escalate(actor="Robin Ortiz", reasons=KNOWLEDGE))

    async def test_request_then_approve_moves_the_ticket_up(
        self, client: Client, task_queue: str
    ) -> None:
        """A request waits in ``approval``; approval lands the ticket in the requested tier."""
        async with running_worker(client, task_queue) as tickets:
            tid = await opened_in_tier2(tickets)
            status = await tickets.request_escalation(
                tid,
                RequestEscalation(actor="Robin Ortiz", reasons=[EscalationReason.LIMITED_ACCESS]),
            )
            assert status.state == "approval"
            assert status.pending_escalation == "tier3"
            status = await tickets.approve(tid, Decide(actor="Morgan Lee", note="go"))
            assert (status.state, status.tier, status.team) == ("tier3", "tier3", "engineering")
            assert status.last_escalation is not None
            assert status.last_escalation.type == EscalationType.HIERARCHICAL
            assert status.last_escalation.reasons == ["limited_access"]
            assert "Robin Ortiz" in status.followers
            records = await client.get_workflow_handle(workflow_id_for(tid)).query(
                "escalations", result_type=list[EscalationRecord]
            )
            assert [r.type for r in records] == ["automatic", "hierarchical"]
            timeline = await tickets.timeline(tid)
            assert [e.data["type"] for e in timeline if e.kind == "escalation"] == [
                "automatic",
                "hierarchical",
            ]

    async def test_rejection_returns_to_the_tier(self, client: Client, task_queue: str) -> None:
        """A rejected request sends the ticket back to the tier it asked to leave."""
        async with running_worker(client, task_queue) as tickets:
            tid = await opened_in_tier2(tickets)
            await tickets.request_escalation(
                tid, RequestEscalation(actor="Robin Ortiz", reasons=KNOWLEDGE)
            )
            status = await tickets.reject(tid, Decide(actor="Morgan Lee", note="try again"))
            assert (status.state, status.tier, status.pending_escalation) == (
                "tier2",
                "tier2",
                None,
            )


class TestEscalation:
    async def test_hierarchical_escalation_records_reasons_and_follower(
        self, client: Client, task_queue: str
    ) -> None:
        """Up a tier by hand: the record keeps reasons and actor; the agent follows the ticket."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Feature: export to XLSX")
            await tickets.open(t, fast_policy(resolution="120s"))
            await tickets.assign(t.id, Assign(actor="Jo Park", assignee="Alex Kim"))
            status = await tickets.escalate(
                t.id,
                Escalate(
                    actor="Jo Park", reasons=[EscalationReason.FEATURE_REQUEST], note="dev work"
                ),
            )
            assert status.tier == "tier2"
            assert status.assignee is None
            record = status.last_escalation
            assert record is not None
            assert (record.from_tier, record.to_tier, record.from_assignee) == (
                "tier1",
                "tier2",
                "Alex Kim",
            )
            assert record.reasons == ["feature_request"]
            assert record.actor == "Jo Park"
            assert status.followers == ["Jo Park"]

    async def test_functional_escalation_moves_sideways_to_a_team(
        self, client: Client, task_queue: str
    ) -> None:
        """A functional escalation names the team that owns the issue."""
        async with running_worker(client, task_queue) as tickets:
            tid = await opened_in_tier2(tickets)
            status = await tickets.escalate(
                tid,
                Escalate(
                    actor="Robin Ortiz",
                    type=EscalationType.FUNCTIONAL,
                    team="billing",
                    reasons=[EscalationReason.LIMITED_AUTHORITY],
                ),
            )
            assert (status.tier, status.team) == ("tier2", "billing")
            assert status.last_escalation is not None
            assert status.last_escalation.type == EscalationType.FUNCTIONAL


class TestRejections:
    @pytest.mark.parametrize(
        ("action", "payload", "message"),
        [
            ("approve", {"actor": "Alex Kim"}, "cannot 'approve' a ticket in state 'tier1'"),
            ("reopen", {"actor": "Jo Park", "reason": "y"}, "cannot 'reopen'"),
            ("close", {"actor": "Jo Park"}, "cannot 'close'"),
            ("assign", {"actor": "Jo Park", "assignee": "Nobody Known"}, "unknown recipient"),
            (
                "escalate",
                {"actor": "Jo Park", "tier": "tier9", "reasons": ["rule"]},
                "unknown tier",
            ),
            (
                "escalate",
                {"actor": "Jo Park", "team": "hr", "type": "functional", "reasons": ["rule"]},
                "unknown team",
            ),
            ("set_priority", {"actor": "Jo Park", "priority": "normal"}, "already normal"),
        ],
    )
    async def test_invalid_actions_leave_the_history_untouched(
        self, client: Client, task_queue: str, action: str, payload: dict[str, object], message: str
    ) -> None:
        """The validator refuses with the domain's message and nothing is written."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Cannot print")
            await tickets.open(t, fast_policy(resolution="120s"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            before = await settled_history_length(client, t.id)
            with pytest.raises(ActionRejected, match=message):
                await tickets.act(t.id, action, payload)
            assert await history_length(client, t.id) == before
            assert (await tickets.status(t.id)).state == "tier1"

    async def test_actions_on_a_closed_ticket_are_refused(
        self, client: Client, task_queue: str
    ) -> None:
        """Once closed, a ticket accepts nothing more, with a clear message."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Done soon")
            await tickets.open(t, fast_policy(resolution="120s"))
            await tickets.resolve(t.id, Resolve(actor="Jo Park", resolution="ok"))
            await tickets.close(t.id, Close(actor="Jo Park"))
            with pytest.raises(ActionRejected, match="closed"):
                await tickets.set_priority(t.id, SetPriority(actor="Jo Park", priority="high"))
