"""Who may act on a ticket, enforced by the workflow's update validators on the real dev server:
a refusal is one line naming who may, raised before anything reaches the ticket's history."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from tierflow.client import TicketClient, workflow_id_for
from tierflow.statemachine import EscalationReason, EscalationRecord, Policy
from tierflow.workflows import FORBIDDEN, REJECTED
from tierflow.workflows.messages import (
    AddNote,
    Decide,
    OpenTicket,
    RequestEscalation,
    Resolve,
    TicketStatus,
)
from tierflow.workflows.operations import TicketOperations
from tierflow.workflows.state import TicketState

from .support import fast_policy, running_worker, ticket, wait_for

LIMITED_ACCESS = [EscalationReason.LIMITED_ACCESS]
WHO_MAY = "only a supervisor or above of tier2/technical other than the requester"
DECIDERS = ("Riley Chen", "Morgan Lee", "Dana Fox")
NOT_OF_TECHNICAL = "is not a supervisor or above of tier2/technical"


def with_crm(**extra: Any) -> Policy:
    """The test policy, with a CRM that may act for agents."""
    return fast_policy(
        resolution="1h",
        permissions={"services": [{"name": "crm", "may_act_for": ["agent"]}]},
        **extra,
    )


async def awaiting_approval(tickets: TicketClient, requester: str = "Robin Ortiz") -> str:
    """A VIP ticket in tier2/technical whose agent asked to escalate it to tier 3."""
    t = ticket("Dashboard totals are wrong", customer={"status": "vip"})
    await tickets.open(t, with_crm())
    await wait_for(tickets, t.id, lambda s: s.state == "tier2")
    await tickets.request_escalation(
        t.id, RequestEscalation(actor=requester, reasons=LIMITED_ACCESS, note="needs a DB fix")
    )
    return t.id


async def quiet_length(client: Client, ticket_id: str) -> int:
    """The history's length once nothing is pending on the ticket."""
    handle = client.get_workflow_handle(workflow_id_for(ticket_id))
    for _ in range(150):
        raw = (await handle.describe()).raw_description
        before = len((await handle.fetch_history()).events)
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            after = len((await handle.fetch_history()).events)
            if before == after:
                return after
        await asyncio.sleep(0.2)
    raise AssertionError("the ticket never went quiet")


async def refused(client: Client, ticket_id: str, action: str, body: dict[str, Any]) -> str:
    """Send an update as a raw Temporal caller would; return the refusal's type and message."""
    handle = client.get_workflow_handle(workflow_id_for(ticket_id))
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(action, body, result_type=TicketStatus)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    return f"{cause.type}: {cause.message}"


class TestApprovalIsEnforced:
    @pytest.mark.parametrize(
        ("requester", "actor", "why"),
        [
            ("Robin Ortiz", "random-bob-123", "'random-bob-123' is not one of the policy's people"),
            ("Riley Chen", "Riley Chen", "'Riley Chen' asked for this escalation (four eyes)"),
            ("Robin Ortiz", "Jo Park", "'Jo Park' is an agent"),
            ("Robin Ortiz", "Casey Brown", f"'Casey Brown' {NOT_OF_TECHNICAL}"),
            ("Robin Ortiz", "Alex Kim", f"'Alex Kim' {NOT_OF_TECHNICAL}"),
            ("Robin Ortiz", "tierflow", "'tierflow' is reserved for Tierflow itself and no caller "
                                        "may act as it"),
        ],
    )  # fmt: skip
    async def test_the_wrong_people_are_refused_before_history(
        self, client: Client, task_queue: str, requester: str, actor: str, why: str
    ) -> None:
        """A stranger, the requester, an agent, a supervisor of another team or tier and the
        system actor are refused with one line naming who may; the history does not grow."""
        async with running_worker(client, task_queue) as tickets:
            tid = await awaiting_approval(tickets, requester)
            length = await quiet_length(client, tid)
            message = await refused(client, tid, "approve", {"actor": actor})
            deciders = ", ".join(p for p in DECIDERS if p != requester)
            assert message == f"{FORBIDDEN}: {WHO_MAY} — {deciders} — may approve; {why}"
            assert await quiet_length(client, tid) == length
            assert (await tickets.status(tid)).state == "approval"

    async def test_the_teams_supervisor_approves(self, client: Client, task_queue: str) -> None:
        """Riley Chen supervises tier2/technical: the ticket moves up, and the record keeps the
        requester, the requester's note and the approver."""
        async with running_worker(client, task_queue) as tickets:
            tid = await awaiting_approval(tickets)
            status = await tickets.approve(tid, Decide(actor="Riley Chen", note="go ahead"))
            assert (status.state, status.tier) == ("tier3", "tier3")
            record = status.last_escalation
            assert record is not None
            assert (record.actor, record.note) == ("Robin Ortiz", "needs a DB fix")
            assert (record.approved_by, record.approval_note) == ("Riley Chen", "go ahead")

    async def test_the_requester_may_not_reject_either(
        self, client: Client, task_queue: str
    ) -> None:
        """Four eyes holds for rejecting: the requester withdraws nothing by deciding."""
        async with running_worker(client, task_queue) as tickets:
            tid = await awaiting_approval(tickets, requester="Riley Chen")
            message = await refused(client, tid, "reject", {"actor": "Riley Chen"})
            assert message.startswith(f"{FORBIDDEN}: only a supervisor or above of tier2/tech")
            assert "— Morgan Lee, Dana Fox —" in message
            status = await tickets.reject(tid, Decide(actor="Morgan Lee"))
            assert status.state == "tier2"

    async def test_a_state_error_stays_a_rejection(self, client: Client, task_queue: str) -> None:
        """A supervisor approving where nothing awaits approval is told about the state."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket()
            await tickets.open(t, fast_policy(resolution="1h"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            message = await refused(client, t.id, "approve", {"actor": "Alex Kim"})
            assert message.startswith(f"{REJECTED}: cannot 'approve' a ticket in state 'tier1'")


class TestOtherActions:
    async def test_a_stranger_may_not_even_take_a_note(
        self, client: Client, task_queue: str
    ) -> None:
        """Every action is checked, not only decisions."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket()
            await tickets.open(t, fast_policy(resolution="1h"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            message = await refused(client, t.id, "note", {"actor": "nobody", "text": "hi"})
            assert message == (
                f"{FORBIDDEN}: only an agent, supervisor, manager or director the policy names "
                "may note; 'nobody' is not one of the policy's people"
            )
            status = await tickets.note(t.id, AddNote(actor="Jo Park", text="checked"))
            assert status.state == "tier1"


class TestOnBehalfOf:
    async def test_a_listed_service_acts_for_an_agent(
        self, client: Client, task_queue: str
    ) -> None:
        """The CRM resolves for Jo Park: the timeline names Jo as actor and the CRM beside."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket()
            await tickets.open(t, with_crm())
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            await tickets.resolve(
                t.id, Resolve(actor="crm", on_behalf_of="Jo Park", resolution="reset it")
            )
            entry = next(e for e in await tickets.timeline(t.id) if "resolved" in e.summary)
            assert (entry.actor, entry.via) == ("Jo Park", "crm")

    async def test_the_escalation_record_names_both(self, client: Client, task_queue: str) -> None:
        """A request made by the CRM for an agent keeps both names on the escalation."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Dashboard totals are wrong", customer={"status": "vip"})
            await tickets.open(t, with_crm())
            await wait_for(tickets, t.id, lambda s: s.state == "tier2")
            request = RequestEscalation(
                actor="crm", on_behalf_of="Robin Ortiz", reasons=LIMITED_ACCESS
            )
            await tickets.request_escalation(t.id, request)
            await tickets.approve(t.id, Decide(actor="Riley Chen"))
            handle = client.get_workflow_handle(workflow_id_for(t.id))
            records = await handle.query("escalations", result_type=list[EscalationRecord])
            assert (records[-1].actor, records[-1].via) == ("Robin Ortiz", "crm")

    async def test_without_the_permission_nothing_happens(
        self, client: Client, task_queue: str
    ) -> None:
        """An unlisted service, or a listed one acting for a supervisor, is refused."""
        async with running_worker(client, task_queue) as tickets:
            tid = await awaiting_approval(tickets)
            length = await quiet_length(client, tid)
            not_listed = await refused(
                client, tid, "note", {"actor": "helpdesk-bot", "on_behalf_of": "Jo Park",
                                      "text": "x"}
            )  # fmt: skip
            assert not_listed.endswith("'helpdesk-bot' is not a service the policy lets act on "
                                       "behalf of others")  # fmt: skip
            for_supervisor = await refused(
                client, tid, "approve", {"actor": "crm", "on_behalf_of": "Riley Chen"}
            )
            assert for_supervisor.startswith(f"{FORBIDDEN}: ")
            assert for_supervisor.endswith(
                "service 'crm' may act for agent only, and 'Riley Chen' is a supervisor"
            )
            assert await quiet_length(client, tid) == length


class TestTheApproverHearsTheNote:
    def test_the_request_notification_quotes_the_requesters_note(self) -> None:
        """The approval request reaches the tier's deciders (not the requester) with the note."""
        policy = fast_policy(resolution="1h")
        start = OpenTicket(ticket=ticket(customer={"status": "vip"}), policy=policy)
        state = TicketState.opening(start, start.ticket.created_at)
        ops = TicketOperations(state, "wf")
        ops.open(start.ticket.created_at)
        ops.take_effects()
        ask = RequestEscalation(actor="Riley Chen", reasons=LIMITED_ACCESS, note="DB is locked")
        ops.request_escalation(ask, start.ticket.created_at)
        (batch,) = ops.take_effects()
        asked = [n for n in batch.notifications if n.event == "approval_requested"]
        # Riley supervises the team and asked: the tier's other deciders hear of it instead.
        assert {n.recipient for n in asked} == {"Morgan Lee", "Dana Fox"}
        assert all("Their note:\nDB is locked" in n.body for n in asked)
