"""A ticket that lives long and talks a lot stays within its payload budget.

Driven through maximal notes (the longest note a caller may send, in 4-byte characters) and
maximal customer replies, a ticket must keep continuing as new, carry a bounded input into
every run, answer its queries far below Temporal's 2 MB, and lose none of its timeline: older
entries stay readable in the earlier runs. ``TIERFLOW_TEST_SCALE=full`` (``make bench``) drives
it through thousands of notes; ``make test`` through a few dozen.
"""

from __future__ import annotations

import asyncio
from functools import partial

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError

from tests.scale import scaled
from tests.waiting import eventually, resent_while_busy
from tierflow.statemachine.text import DESCRIPTION_MAX, NOTE_MAX
from tierflow.workflows.messages import CustomerReply, TimelineEntry, TimelinePage, TimelineQuery

from .support import running_worker, ticket, wait_for, wait_for_timeline

# What docs/limits.md promises: every continue-as-new input of a ticket stays under this size.
CARRIED_INPUT_MAX = 512 * 1024
QUERY_RESULT_MAX = 1024 * 1024
WIDE = "\U0001f600"  # four bytes in UTF-8: the largest text per character a caller can send

ROUNDS, PER_ROUND = scaled(12, 500), 4


async def _runs(client: Client, workflow_id: str) -> list[tuple[str, WorkflowExecutionStatus]]:
    """Every run of the workflow, oldest first, with its status."""
    found = [
        (e.run_id, e.status)
        async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")
        if e.status is not None
    ]
    return list(reversed(found))


class TestLongLivedTicket:
    async def test_maximal_notes_and_replies_stay_within_budget(
        self, client: Client, task_queue: str
    ) -> None:
        """Thousands of maximal notes and replies: continued as new, bounded, nothing lost."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Very chatty ticket", description=WIDE * DESCRIPTION_MAX)
            opened = await tickets.open(t)
            note = WIDE * (NOTE_MAX - 12)  # and a label of up to 12 characters in front

            async def add_note(label: str) -> None:
                text = {"actor": "Jo Park", "text": f"{label} {note}"}
                await resent_while_busy(lambda: tickets.act(t.id, "note", text))

            async def reply(label: str) -> None:
                message = CustomerReply(message=f"{label} {note}")
                await resent_while_busy(lambda: tickets.customer_reply(t.id, message))

            # As a host does, each is sent again while the ticket answers TicketBusy (handing
            # over to its next run: nothing written).
            for r in range(ROUNDS):
                await asyncio.gather(
                    *(add_note(f"{r}.{n}") for n in range(PER_ROUND)),
                    *(reply(f"{r}.{n}") for n in range(PER_ROUND)),
                )
            expected = ROUNDS * PER_ROUND
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")

            handle = client.get_workflow_handle(opened.workflow_id)
            # Follow the timeline back through every run from the one current now (named, so a
            # run that hands over meanwhile, its deliveries done, cannot shift the walk); each
            # answer stays small.
            notes: set[str] = set()
            replies = 0
            seqs: set[int] = set()
            run_id: str | None = (await handle.describe()).run_id
            chain = [run_id]
            before: int | None = None
            while True:
                page_handle = client.get_workflow_handle(opened.workflow_id, run_id=run_id)
                page = await page_handle.query(
                    "timeline_page", TimelineQuery(before=before), result_type=TimelinePage
                )
                assert len(page.model_dump_json().encode()) < QUERY_RESULT_MAX
                for e in page.entries:
                    if e.seq in seqs:
                        continue  # the recent past a run carried from the one before
                    seqs.add(e.seq)
                    if e.kind == "note":
                        notes.add(e.summary.split(" ", 1)[0])
                    elif e.kind == "customer" and e.summary == "the customer replied":
                        replies += 1
                if page.entries:
                    before = page.entries[0].seq
                if page.more_here:
                    continue
                if page.earlier_run_id is None:
                    break
                run_id = page.earlier_run_id
                chain.append(run_id)
            assert len(notes) == expected
            assert replies == expected
            assert seqs == set(range(1, max(seqs) + 1))  # no entry missing anywhere

            # The walk passed through every run up to the one it started from, oldest first
            # (visibility may list a later run once the ticket hands over again).
            chain.reverse()

            async def listed() -> bool:
                ids = [r for r, _ in await _runs(client, opened.workflow_id)]
                return ids[: len(chain)] == chain

            await eventually(listed)
            runs = (await _runs(client, opened.workflow_id))[: len(chain)]
            # 40 KB notes and replies fill a run's timeline budget every dozen or so; what
            # arrives while a run waits for its deliveries before continuing is taken in by
            # that run (on a loaded machine, several rounds), then carried on in a small input.
            assert len(runs) >= 2
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            for run, _ in runs[1:]:
                history = await client.get_workflow_handle(
                    opened.workflow_id, run_id=run
                ).fetch_history()
                started = history.events[0].workflow_execution_started_event_attributes
                size = sum(len(p.data) for p in started.input.payloads)
                assert size < CARRIED_INPUT_MAX, f"run {run} started with {size} bytes"

            status = await handle.query("status")
            assert status["state"] == "tier1"


def _ticket_events(entries: list[TimelineEntry]) -> list[str]:
    return [e.summary for e in entries if e.kind not in ("notification", "delivery_failure")]


class TestReplyStream:
    async def test_a_stream_of_maximal_replies_keeps_continuing_as_new(
        self, client: Client, task_queue: str
    ) -> None:
        """Replies sent one after another as fast as the server takes them (each planning a
        delivery) never keep a run from continuing as new: every run stays small."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Customer who never stops writing", channel="chat")
            opened = await tickets.open(t)
            message = WIDE * (NOTE_MAX - 12)
            count = scaled(120, 1500)
            for n in range(count):
                reply = CustomerReply(message=f"{n:05d} {message}")
                await resent_while_busy(partial(tickets.customer_reply, t.id, reply))
            last = f"{count - 1:05d} "
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 120
            while not any(
                str(e.data.get("message", "")).startswith(last)
                for e in await tickets.timeline(t.id, limit=10)
            ):
                assert loop.time() < deadline, "the last reply never reached the timeline"
                await asyncio.sleep(0.2)
            runs = await _runs(client, opened.workflow_id)
            current = client.get_workflow_handle(opened.workflow_id)
            assert (await current.describe()).status == WorkflowExecutionStatus.RUNNING
            assert len(runs) >= 2
            for run, _ in runs:
                history = await client.get_workflow_handle(
                    opened.workflow_id, run_id=run
                ).fetch_history()
                size = sum(e.ByteSize() for e in history.events)
                # Far from Temporal's 50 MB (before the fix, one run grew until terminated).
                assert size < 10 * 1024 * 1024, f"run {run} has {size} bytes of history"


class TestRawCaller:
    """Whoever can reach the namespace can send Temporal messages without Tierflow's client:
    what the models refuse there must leave the ticket as it was."""

    async def test_malformed_and_oversize_messages_change_nothing(
        self, client: Client, task_queue: str
    ) -> None:
        """Bad updates are rejected before history; bad signals are dropped; queries fail."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Raw caller")
            opened = await tickets.open(t)
            handle = client.get_workflow_handle(opened.workflow_id)
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            before = await tickets.timeline(t.id)
            huge = "x" * 300_000  # over every field limit, under the server's blob limit
            for name, arg in (
                ("note", {"actor": "Jo Park", "text": huge}),
                ("note", "bob"),
                ("assign", {"actor": "Jo Park", "assignee": huge}),
                ("resolve", {"actor": "Jo Park", "resolution": huge}),
                ("escalate", {"actor": "Jo Park", "reasons": ["rule"] * 1000}),
            ):
                with pytest.raises(WorkflowUpdateFailedError):
                    await handle.execute_update(name, arg)
            for name, payload in (
                ("customer_reply", {"message": huge}),
                ("customer_reply", "bob"),
                ("customer_reply", {"message": "m", "SECRET-key": "SECRET-value"}),
                ("customer_feedback", {"score": 99}),
            ):
                await handle.signal(name, payload)
            # The wrong number of payloads: none, or two.
            await handle.signal("customer_reply")
            await handle.signal("customer_feedback", args=[{"score": 3}, {"score": 3}])
            # A good message after the bad ones: once it shows, the bad ones were handled.
            await handle.signal("customer_reply", {"message": "still here"})
            await wait_for_timeline(tickets, t.id, "the customer replied")
            after = await tickets.timeline(t.id)
            replies = [e for e in after if e.summary == "the customer replied"]
            assert [e.data["message"] for e in replies] == ["still here"]
            # Delivery notes of the opening may land meanwhile; nothing else may.
            assert _ticket_events(after) == [*_ticket_events(before), "the customer replied"]
            history = await handle.fetch_history()
            assert not any(
                e.HasField("workflow_execution_update_accepted_event_attributes")
                for e in history.events
            )
            status = await tickets.status(t.id)
            assert status.state == "tier1"
            assert status.feedback_score is None
