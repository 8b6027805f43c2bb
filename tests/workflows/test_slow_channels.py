"""A slow channel never touches a ticket: a mail relay that sits on ``DATA``, an HTTP receiver
that trickles its answer, a worker restarted in the middle of it.

The ticket's deadlines, warnings and escalations happen as with healthy channels (every effect
is a regular activity: no workflow task waits for a channel); what a receiver accepted is not
sent again; everything arrives once the channel recovers; and the history replays with the
production worker's configuration. Every wait is for an eventual condition.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from tests.activities.servers import HttpRecorder, SmtpCapture
from tests.waiting import eventually, resent_while_busy
from tierflow.activities import TierflowActivities
from tierflow.client import workflow_id_for
from tierflow.plugin import TierflowPlugin
from tierflow.workflows.state import TicketRun

from .support import fast_policy, running_worker, ticket, wait_for
from .test_deliveries import activities_for, has_entry
from .test_wake_ups import LOCAL_ACTIVITY_MARKER, history

E = EventType
# An item is given up after this long (the deployment's TIERFLOW_DELIVERY_ITEM_TIMEOUT),
# well before the slow relay answers.
ITEM_TIMEOUT = 1.5
SLOW = 12.0
# Assignments made at once while a run waits to hand over (about 75 items planned).
ASSIGNMENTS = 30


def slow_activities(
    smtp: SmtpCapture, http: HttpRecorder, item_timeout: float = ITEM_TIMEOUT
) -> TierflowActivities:
    return activities_for(smtp, http, delivery_item_timeout=item_timeout)


async def handed_over(client: Client, workflow_id: str, run_id: str) -> WorkflowHandle[Any, Any]:
    """The ticket's run ``run_id``, once it has closed (handed over to the next run)."""
    run = client.get_workflow_handle(workflow_id, run_id=run_id)

    async def closed() -> bool:
        return (await run.describe()).close_time is not None

    await eventually(closed, within=120)
    return run


async def replays_in_production_shape(client: Client, ticket_id: str) -> None:
    """The ticket's history replays on Tierflow's plugin, sandboxed, as the worker runs it."""
    handle = client.get_workflow_handle(workflow_id_for(ticket_id))
    replayer = Replayer(workflows=[], plugins=[TierflowPlugin(activities=TierflowActivities())])
    await replayer.replay_workflow(await handle.fetch_history())


class TestSlowChannel:
    async def test_a_slow_relay_and_a_restart_leave_the_ticket_on_time_and_replayable(
        self, client: Client, task_queue: str
    ) -> None:
        """The relay answers DATA seconds after the item's timeout and chat trickles its
        answer; the worker is restarted after the warning (a fresh worker replays the ticket).
        The ticket still warns, escalates and keeps answering; no workflow task fails or
        times out; no local activity holds a task; chat and sync items are not resent; the
        emails all arrive once the relay is fast again; the history replays."""
        with SmtpCapture() as smtp, HttpRecorder() as http:
            smtp.data_delay = SLOW
            http.trickle["/chat"] = 0.5
            acts = slow_activities(smtp, http)
            t = ticket("Relay is slow")
            async with running_worker(client, task_queue, acts) as tickets:
                await tickets.open(t, fast_policy(resolution="14s"))
                await eventually(lambda: has_entry(tickets, t.id, "due soon"), within=30)
            # An ordinary restart: a new worker, with nothing of the ticket in its cache.
            async with running_worker(client, task_queue, acts) as tickets:
                status = await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=40)
                assert status.escalations >= 1
                smtp.data_delay = 0.0
                http.trickle.clear()

                async def all_delivered() -> bool:
                    return not await tickets.deliveries(t.id)

                await eventually(all_delivered, within=150)
                events = await history(client, t.id)
                timeline = [e.summary for e in await tickets.timeline(t.id)]

        kinds = Counter(e.event_type for e in events)
        assert kinds[E.EVENT_TYPE_WORKFLOW_TASK_FAILED] == 0
        assert kinds[E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT] == 0
        assert not any(
            e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
            for e in events
            if e.event_type == E.EVENT_TYPE_MARKER_RECORDED
        )
        assert any("due soon (tier1)" in s for s in timeline)
        await replays_in_production_shape(client, t.id)

        # What a receiver accepted and confirmed is never sent again.
        keys = Counter(r.header("Idempotency-Key") for r in http.requests if r.path == "/sync")
        assert keys
        assert max(keys.values()) == 1, keys
        # Every email arrived; a copy comes twice only where the relay held the first one
        # past the item's timeout (its send was never confirmed).
        copies: dict[str, list[bool]] = {}
        for email in smtp.received:
            copies.setdefault(email.message_id, []).append(email.held)
        subjects = " ".join(str(e.message["Subject"]) for e in smtp.delivered)
        assert "SLA due" in subjects
        assert "breached" in subjects
        for message_id, held in copies.items():
            assert len(held) == 1 or any(held), (message_id, held)


class TestContinueAsNew:
    async def test_a_deadline_falling_while_a_run_waits_to_hand_over_is_acted_on_first(
        self, client: Client, task_queue: str
    ) -> None:
        """The run wants to continue as new from its first task (a tiny history limit) while
        its host sync hangs; the warning and the breach fall while it waits for that delivery,
        and the escalation happens in that run, before it hands over."""
        with SmtpCapture() as smtp, HttpRecorder() as http:
            http.delay["/sync"] = 60.0
            # Each attempt waits 8 s for the sync: the run's wait to hand over spans the
            # warning (3 s) and the breach (6 s).
            acts = slow_activities(smtp, http, item_timeout=8)
            async with running_worker(client, task_queue, acts) as tickets:
                t = ticket("Host system hangs")
                opened = await tickets.open(t, fast_policy(resolution="6s"), history_limit=20)
                status = await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=40)
                assert status.escalations == 1
                http.delay.clear()
                first = await handed_over(client, opened.workflow_id, opened.run_id)
                closed = (await first.describe()).close_time
                timeline = await tickets.timeline(t.id)
        assert closed is not None
        level = next(e for e in timeline if e.summary.startswith("escalation level 1"))
        assert level.at <= closed

    async def test_actions_while_a_run_waits_to_hand_over_are_paced_not_piled_up(
        self, client: Client, task_queue: str
    ) -> None:
        """The run waits to hand over (its host sync hangs) while agents make 30 assignments
        at once, each telling the assignee: what they plan travels in the next run's input, so
        once 40 items wait the ticket asks for a moment (TicketBusy, retried by the client)
        instead of piling them up. Every assignment is on the timeline, the run hands over,
        and the next run's input carries at most that many planned items."""
        with SmtpCapture() as smtp, HttpRecorder() as http:
            http.delay["/sync"] = 60.0
            acts = slow_activities(smtp, http, item_timeout=8)
            async with running_worker(client, task_queue, acts) as tickets:
                t = ticket("Assignments while handing over")
                opened = await tickets.open(t, fast_policy(resolution="1h"), history_limit=20)
                people = ("Alex Kim", "Jordan Diaz")

                async def assign(n: int) -> None:
                    action = {"actor": "Jo Park", "assignee": people[n % 2]}
                    await resent_while_busy(lambda: tickets.assign(t.id, action))

                await asyncio.gather(*(assign(n) for n in range(ASSIGNMENTS)))
                http.delay.clear()
                first = await handed_over(client, opened.workflow_id, opened.run_id)
                history = await first.fetch_history()
                handover = history.events[-1].workflow_execution_continued_as_new_event_attributes
                [run] = await client.data_converter.decode(handover.input.payloads, [TicketRun])
                assigned: dict[int, str] = {}
                before: int | None = None
                while page := await tickets.timeline(t.id, before=before):
                    assigned |= {e.seq: e.summary for e in page if e.kind == "assignment"}
                    before = page[0].seq
                    if before <= 1:
                        break
        assert isinstance(run, TicketRun)
        assert run.carried is not None
        carried = sum(
            len(b.notifications) + len(b.customer_updates) + len(b.syncs)
            for b in run.carried.undelivered
        )
        assert 0 < carried <= 40 + 4, carried  # MAX_PLANNED_WHILE_FULL, and one action's
        assert len(assigned) == ASSIGNMENTS, sorted(set(assigned.values()))
