"""SLA timers that escalate on their own, against the real dev server with SLAs of seconds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client

from tierflow.statemachine import EscalationType
from tierflow.workflows.messages import CustomerReply, Respond, TimelineEntry, WaitCustomer

from .support import fast_policy, quiet_activities, running_worker, ticket, wait_for


def entries(timeline: list[TimelineEntry], text: str) -> list[TimelineEntry]:
    return [e for e in timeline if text in e.summary]


class TestBreach:
    @pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsandboxed"])
    async def test_breach_escalates_to_the_next_tier_with_no_one_acting(
        self, client: Client, task_queue: str, sandboxed: bool
    ) -> None:
        """Unresolved past its resolution target, a tier-1 ticket moves to tier 2 by itself,
        in either workflow runner the worker offers."""
        async with running_worker(client, task_queue, sandboxed=sandboxed) as tickets:
            t = ticket("Sync keeps failing")
            await tickets.open(t, fast_policy(resolution="3s"))
            status = await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=20)
            assert status.last_escalation is not None
            assert status.last_escalation.type == EscalationType.AUTOMATIC
            assert status.last_escalation.reasons == ["sla_breach"]
            assert status.last_escalation.actor == "tierflow"
            assert status.escalation_level == 1
            # The new tier's targets start afresh.
            resolution = next(v for v in status.sla if v.target == "resolution")
            assert not resolution.breached
            assert resolution.due is not None

    async def test_warning_comes_before_the_breach(self, client: Client, task_queue: str) -> None:
        """At the warning fraction the owner is warned; the breach comes after."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Slow exports")
            await tickets.open(t, fast_policy(resolution="4s", warning_fraction=0.5))
            await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=20)
            timeline = await tickets.timeline(t.id)
            warning = entries(timeline, "resolution due soon")[0]
            breach = entries(timeline, "resolution breached")[0]
            assert warning.at < breach.at
            assert breach.data["due"] is not None

    async def test_escalation_fires_at_the_deadline(self, client: Client, task_queue: str) -> None:
        """The escalation happens at its deadline, not at the next poll minutes later."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Cannot export")
            await tickets.open(t, fast_policy(resolution="3s"))
            await wait_for(tickets, t.id, lambda s: s.escalations == 1, timeout=20)
            level = entries(await tickets.timeline(t.id), "escalation level 1")[0]
            due = datetime.fromisoformat(str(level.data["due"]))
            assert level.at >= due
            # A generous bound: polling help desks are minutes late; this is a durable timer.
            assert level.at - due < timedelta(seconds=3)

    async def test_responding_meets_the_first_response_target(
        self, client: Client, task_queue: str
    ) -> None:
        """A reply to the customer stops the first-response clock before it breaches."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Where is my parcel")
            await tickets.open(t, fast_policy(resolution="60s", first_response="3s"))
            status = await tickets.respond(t.id, Respond(actor="Jo Park"))
            first = next(v for v in status.sla if v.target == "first_response")
            assert first.met
            assert not first.breached
            await asyncio.sleep(3.5)
            status = await tickets.status(t.id)
            assert status.tier == "tier1"
            assert not status.breached


class TestPause:
    async def test_waiting_on_the_customer_pauses_and_resuming_keeps_the_remaining_time(
        self, client: Client, task_queue: str
    ) -> None:
        """While waiting on the customer no breach happens; after the reply the clock resumes."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Need more details")
            await tickets.open(t, fast_policy(resolution="4s"))
            await asyncio.sleep(1)
            status = await tickets.wait_customer(t.id, WaitCustomer(actor="Jo Park"))
            paused = next(v for v in status.sla if v.target == "resolution")
            assert paused.paused
            assert paused.due is None
            assert paused.remaining is not None
            left = paused.remaining
            await asyncio.sleep(5)  # longer than the whole budget
            status = await tickets.status(t.id)
            assert status.state == "waiting"
            assert not status.breached
            await tickets.customer_reply(t.id, CustomerReply(message="here you go"))
            status = await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            resumed = next(v for v in status.sla if v.target == "resolution")
            assert resumed.remaining is not None
            assert resumed.remaining <= left
            assert resumed.remaining > left - timedelta(seconds=1)
            await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=20)


class TestBusinessHours:
    async def test_deadline_lands_in_the_next_open_window(
        self, client: Client, task_queue: str
    ) -> None:
        """Outside business hours the clock does not run: the due time is in the next window."""
        tomorrow = (datetime.now(UTC) + timedelta(days=2)).date()
        weekday = tomorrow.strftime("%A").lower()
        calendar = {
            "timezone": "UTC",
            "always_open": False,
            "hours": {weekday: ["09:00-17:00"]},
            "holidays": [],
        }
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Question about plans")
            await tickets.open(t, fast_policy(resolution="2h", calendar=calendar))
            status = await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            due = next(v.due for v in status.sla if v.target == "resolution")
            assert due is not None
            assert due.astimezone(UTC).strftime("%A").lower() == weekday
            assert (due.hour, due.minute) == (11, 0)


class TestDurability:
    async def test_worker_restart_mid_ticket_still_escalates(
        self, client: Client, task_queue: str
    ) -> None:
        """A worker stopped mid-ticket and started again carries on; the escalation fires."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Server room is warm")
            await tickets.open(t, fast_policy(resolution="5s"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        # No worker at all for a while: nothing runs, but the server keeps the timer.
        await asyncio.sleep(2)
        async with running_worker(client, task_queue, quiet_activities()) as tickets:
            status = await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=20)
            assert status.escalations == 1
            level = entries(await tickets.timeline(t.id), "escalation level 1")[0]
            # The server hands the first task after a worker loss to the new worker once the
            # old worker's sticky queue times out (seconds), never minutes later.
            late = level.at - datetime.fromisoformat(str(level.data["due"]))
            assert timedelta(0) <= late < timedelta(seconds=15)

    async def test_continue_as_new_keeps_the_state(self, client: Client, task_queue: str) -> None:
        """A long-lived ticket continues as new with its state, timeline and timers intact."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Very chatty ticket")
            opened = await tickets.open(t, fast_policy(resolution="6s"), history_limit=40)
            for n in range(12):
                await tickets.act(t.id, "note", {"actor": "Jo Park", "text": f"note {n}"})
            status = await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=25)
            desc = await client.get_workflow_handle(opened.workflow_id).describe()
            assert desc.run_id != opened.run_id  # a later run
            timeline = await tickets.timeline(t.id)
            assert [e.summary for e in timeline if e.kind == "note"] == [
                f"note {n}" for n in range(12)
            ]
            assert status.escalations == 1
