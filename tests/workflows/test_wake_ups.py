"""What a ticket's wake-ups look like in its real history: a wake-up of its own (an SLA warning,
a breach) is one workflow task that schedules its effects as a regular activity and arms the
next timer at once, whatever the channels do; a ticket opened by the client starts with its
attributes.

Deliveries go to real receivers on loopback, as in ``test_notifications`` and
``test_deliveries``; every wait is for an eventual condition.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from tests.activities.servers import BlackHole, HttpRecorder, SmtpCapture
from tests.waiting import eventually
from tierflow.activities import Settings, TierflowActivities
from tierflow.client import workflow_id_for
from tierflow.workflows import TicketWorkflow
from tierflow.workflows import search_attributes as sa
from tierflow.workflows.messages import OpenTicket
from tierflow.workflows.state import TicketRun
from tierflow.workflows.visibility import START_SLA_TOLERANCE, settle_sla_due

from .support import fast_policy, running_worker, ticket, wait_for
from .test_deliveries import Outage, activities_for, chat_requests, has_entry

E = EventType
LOCAL_ACTIVITY_MARKER = "core_local_activity"
PATCH_MARKER = "core_patch"
CHANGE_VERSION = "TemporalChangeVersion"
# Events that come from outside the workflow and open a new stretch of its history.
_FROM_OUTSIDE = {
    E.EVENT_TYPE_TIMER_FIRED,
    E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    E.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
}


async def history(client: Client, ticket_id: str) -> list[HistoryEvent]:
    handle = client.get_workflow_handle(workflow_id_for(ticket_id))
    return [e async for e in handle.fetch_history_events()]


def _summary(e: HistoryEvent) -> str:
    data = e.user_metadata.summary.data
    value = json.loads(data) if data else ""
    return value if isinstance(value, str) else ""


def wake_ups(events: Sequence[HistoryEvent], timer: str) -> list[list[HistoryEvent]]:
    """For each firing of a timer whose summary starts with ``timer``, the events from it up
    to the next event that came from outside the workflow."""
    summaries = {
        e.event_id: _summary(e) for e in events if e.event_type == E.EVENT_TYPE_TIMER_STARTED
    }
    stretches: list[list[HistoryEvent]] = []
    current: list[HistoryEvent] | None = None
    for e in events:
        if e.event_type in _FROM_OUTSIDE:
            current = None
            if e.event_type == E.EVENT_TYPE_TIMER_FIRED:
                started = e.timer_fired_event_attributes.started_event_id
                if summaries[started].startswith(timer):
                    current = []
                    stretches.append(current)
        if current is not None:
            current.append(e)
    return stretches


def count(events: Sequence[HistoryEvent], kind: int) -> int:
    return sum(1 for e in events if e.event_type == kind)


def local_activity_markers(events: Sequence[HistoryEvent]) -> int:
    return sum(
        1
        for e in events
        if e.event_type == E.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    )


def business_upserts(events: Sequence[HistoryEvent]) -> list[set[str]]:
    """The attributes of every upsert other than ``workflow.patched``'s own bookkeeping."""
    found = []
    for e in events:
        if e.event_type == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = set(
                e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            )
            if fields != {CHANGE_VERSION}:
                found.append(fields)
    return found


def first_task(events: Sequence[HistoryEvent]) -> list[HistoryEvent]:
    """The first workflow task's completion and the commands it recorded."""
    start = next(
        i for i, e in enumerate(events) if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    rest = events[start:]
    end = next(
        (i for i, e in enumerate(rest) if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
        len(rest),
    )
    return list(rest[:end])


class TestWakeUps:
    async def test_a_wake_up_arms_its_next_timer_without_waiting_for_a_hung_channel(
        self, client: Client, task_queue: str
    ) -> None:
        """The mail server hangs. The warning and the breach each complete their workflow
        task with their activity scheduled and the next timer started (no local activity
        holds the task for a channel), and their chat messages still arrive."""
        with BlackHole() as mail, HttpRecorder() as http:
            acts = TierflowActivities(
                Settings(
                    smtp_host=mail.host,
                    smtp_port=mail.port,
                    chat_webhook_url=f"{http.url}/chat",
                    delivery_item_timeout=2,
                )
            )
            async with running_worker(client, task_queue, acts) as tickets:
                t = ticket("Invoices do not load")
                # Deadlines seconds apart, so that a slow first task (a loaded machine, the
                # sandbox's first load) cannot run past both before the warning.
                await tickets.open(t, fast_policy(resolution="8s"))

                def chatted(text: str) -> bool:
                    return any(text in r.json()["text"] for r in chat_requests(http))

                await eventually(lambda: chatted("SLA due") and chatted("SLA breached"), within=30)
                await eventually(lambda: has_entry(tickets, t.id, "no answer within 2s"))
                events = await history(client, t.id)

        assert local_activity_markers(events) == 0
        for kind in ("warning", "breach"):
            (stretch,) = wake_ups(events, f"SLA resolution {kind} (tier1)")
            done = next(
                i
                for i, e in enumerate(stretch)
                if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            )
            commands = stretch[done + 1 :]
            assert count(commands, E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 1, kind
            assert count(commands, E.EVENT_TYPE_TIMER_STARTED) == 1, kind
            assert count(stretch, E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1, kind

    async def test_a_blip_is_retried_by_the_second_attempt_and_sent_once(
        self, client: Client, task_queue: str
    ) -> None:
        """An HTTP receiver that fails once gets the message on the activity's quick second
        attempt: no outage, no retry round, nothing it accepted sent twice."""
        with SmtpCapture() as smtp, HttpRecorder() as http:
            http.script(503)
            async with running_worker(client, task_queue, activities_for(smtp, http)) as tickets:
                t = ticket("Dashboard is blank")
                await tickets.open(t, fast_policy(resolution="60s"))

                async def both_through() -> bool:
                    paths = [r.path for r in http.effects]
                    return "/chat" in paths and "/sync" in paths

                await eventually(both_through, within=30)
                assert not await has_entry(tickets, t.id, "deliveries failing")
                assert not await tickets.deliveries(t.id)
        assert [r.status for r in http.requests].count(503) == 1
        keys = [r.header("Idempotency-Key") for r in http.effects]
        assert len(keys) == len(set(keys))
        accepted = [r.header("Idempotency-Key") for r in http.requests if r.status == 200]
        assert len(accepted) == len(set(accepted))

    async def test_a_channel_down_at_a_wake_up_goes_through_the_outbox(
        self, client: Client, task_queue: str
    ) -> None:
        """Chat down at the breach: the activity hands the chat message back, the ticket
        retries it in rounds, and once chat is back it arrives exactly once; the owner is
        told once, by email."""
        with SmtpCapture() as smtp, Outage() as http:
            async with running_worker(client, task_queue, activities_for(smtp, http)) as tickets:
                t = ticket("Chat goes down at the breach")
                await tickets.open(t, fast_policy(resolution="6s"))
                await eventually(lambda: has_entry(tickets, t.id, "now in tier1"))
                http.down.add("/chat")
                await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=30)
                await eventually(lambda: has_entry(tickets, t.id, "deliveries failing"))
                http.down.clear()

                async def recovered() -> bool:
                    return not await tickets.deliveries(t.id)

                await eventually(recovered, within=150)
                await eventually(lambda: has_entry(tickets, t.id, "deliveries recovered"))
                events = await history(client, t.id)

        rounds = [
            e
            for e in events
            if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and _summary(e).startswith("retry ")
        ]
        assert rounds
        delivered = [r.header("Idempotency-Key") for r in chat_requests(http) if r.status == 200]
        assert any("SLA breached" in r.json()["text"] for r in chat_requests(http))
        assert len(delivered) == len(set(delivered))
        told = [e for e in smtp.received if "deliveries failing" in str(e.message["Subject"])]
        assert told
        assert len({e.rcpt_tos[0] for e in told}) == len(told)


class TestStartAttributes:
    async def test_a_ticket_opened_by_the_client_starts_with_its_attributes(
        self, client: Client, task_queue: str
    ) -> None:
        """The start request carries the ticket's tier, team, state and SLA due, and its
        first workflow task upserts nothing (no billable upsert)."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Reports page times out")
            await tickets.open(t, fast_policy(resolution="60s"))
            status = await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            events = await history(client, t.id)
            desc = await client.get_workflow_handle(workflow_id_for(t.id)).describe()
        started = events[0].workflow_execution_started_event_attributes
        assert {
            sa.TICKET_STATE.name,
            sa.TICKET_TIER.name,
            sa.TICKET_TEAM.name,
            sa.TICKET_SLA_DUE.name,
        } <= set(started.search_attributes.indexed_fields)
        assert business_upserts(events) == []
        attrs = desc.typed_search_attributes
        assert attrs.get(sa.TICKET_TIER) == status.tier
        assert attrs.get(sa.TICKET_STATE) == "tier1"
        due = attrs.get(sa.TICKET_SLA_DUE)
        assert due is not None
        ours = min(v.due for v in status.sla if v.due is not None)
        assert abs(due - ours) <= START_SLA_TOLERANCE

    async def test_a_ticket_started_without_attributes_still_gets_them(
        self, client: Client, task_queue: str
    ) -> None:
        """A caller that starts the workflow by hand, with no attributes, gets them from the
        ticket's first task."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Started by hand")
            await client.start_workflow(
                TicketWorkflow.run,
                TicketRun(
                    open=OpenTicket(
                        ticket=t, policy=fast_policy(resolution="60s"), opened_by="Morgan Lee"
                    )
                ),
                id=workflow_id_for(t.id),
                task_queue=task_queue,
            )
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            handle = client.get_workflow_handle(workflow_id_for(t.id))

            async def indexed() -> bool:
                attrs = (await handle.describe()).typed_search_attributes
                return (
                    attrs.get(sa.TICKET_TIER) == "tier1"
                    and attrs.get(sa.TICKET_SLA_DUE) is not None
                )

            await eventually(indexed)
            upserts = business_upserts(await history(client, t.id))
        assert upserts
        assert sa.TICKET_TIER.name in upserts[0]


class TestSlaDueTolerance:
    DUE = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)

    def values(self, due: datetime | None) -> dict[str, Any]:
        return {sa.TICKET_SLA_DUE.name: due, sa.TICKET_TIER.name: "tier1"}

    def test_the_clients_value_stands_within_the_tolerance(self) -> None:
        """A due time a few milliseconds off the client's keeps the client's (no upsert)."""
        ours = self.values(self.DUE + timedelta(milliseconds=40))
        assert settle_sla_due(ours, self.DUE) == self.values(self.DUE)

    def test_a_real_difference_is_the_workflows(self) -> None:
        """Beyond the tolerance (a calendar boundary crossed, a skewed clock), the workflow's
        own due time is the one indexed."""
        ours = self.values(self.DUE + START_SLA_TOLERANCE + timedelta(seconds=1))
        assert settle_sla_due(ours, self.DUE) == ours
        assert settle_sla_due(self.values(None), self.DUE) == self.values(None)
