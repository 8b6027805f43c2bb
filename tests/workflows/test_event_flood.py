"""A flood of customer replies never breaks a ticket: the ticket refuses an event for a moment
(``TicketBusy``, nothing written) while its run hands over to a new one, so its history stays
bounded, the run does hand over, and every reply it accepted is on its timeline.

Small in ``make test``; thousands of maximal replies at full scale (``make bench``).
"""

from __future__ import annotations

import asyncio

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from tests.interfaces.http_support import SERVICE_AUTH, listing_the_service, serving
from tests.scale import scaled
from tests.waiting import resent_while_busy
from tierflow.client import TicketClient, workflow_id_for
from tierflow.workflows.messages import CustomerReply

from .support import fast_policy, running_worker, ticket

# A maximal reply: 10,000 characters of 4-byte UTF-8, about 40 KB on the wire.
FILLER = "\U0001f600" * 9_980


async def all_replies(tickets: TicketClient, ticket_id: str) -> set[int]:
    """The reply numbers on the ticket's whole timeline, every run read back."""
    found: set[int] = set()
    before: int | None = None
    while True:
        page = await tickets.timeline(ticket_id, before=before)
        if not page:
            return found
        for entry in page:
            message = str(entry.data.get("message", ""))
            if entry.summary == "the customer replied" and message.startswith("#"):
                found.add(int(message[1:].split("#", 1)[0]))
        before = page[0].seq
        if before <= 1:
            return found


class TestReplyFlood:
    async def test_a_flood_of_maximal_replies_is_absorbed_and_the_ticket_runs_on(
        self, client: Client, task_queue: str
    ) -> None:
        """Maximal replies at the concurrency the API accepts: each is accepted (maybe after
        a TicketBusy), the ticket keeps running across several runs, none of its runs' history
        nears Temporal's limit, and every reply is on the timeline exactly once."""
        count = scaled(160, 3_000)
        concurrency = scaled(32, 48)
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Customer writes a lot")
            await tickets.open(t, fast_policy(resolution="1h"))
            gate = asyncio.Semaphore(concurrency)

            async def one(n: int) -> None:
                async with gate:
                    message = CustomerReply(message=f"#{n}# {FILLER}")
                    await resent_while_busy(lambda: tickets.customer_reply(t.id, message))

            await asyncio.gather(*(one(n) for n in range(count)))
            handle = client.get_workflow_handle(workflow_id_for(t.id))
            desc = await handle.describe()
            replies = await all_replies(tickets, t.id)
            runs = [
                w async for w in client.list_workflows(f"WorkflowId = '{workflow_id_for(t.id)}'")
            ]
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert replies == set(range(count))
        assert len(runs) >= 2, "the run handed over at least once"
        for run in runs:
            run_handle = client.get_workflow_handle(run.id, run_id=run.run_id)
            info = (await run_handle.describe()).raw_description.workflow_execution_info
            # Far below Temporal's 50 MB history limit, whatever the rate of replies.
            assert info.history_size_bytes < 20 * 1024 * 1024, info.history_size_bytes
            # Handing over never fails for events arriving meanwhile (a signal would).
            failed = [
                e
                async for e in run_handle.fetch_history_events()
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            ]
            assert not failed, run.run_id


class TestReplyFloodThroughTheApi:
    async def test_the_api_answers_a_flood_with_202_or_429_and_retry_after(
        self, client: Client, task_queue: str
    ) -> None:
        """Maximal replies from a host system at 32 in flight: every answer is 202 or 429 with
        Retry-After (never 400 or 5xx), and each reply sent again after a 429 is accepted."""
        count = scaled(48, 1_500)
        async with running_worker(client, task_queue) as tickets, serving(tickets) as url:
            t = ticket("Customer writes a lot, through the host")
            # The host system relays customer words: the ticket's policy lists it.
            await tickets.open(t, listing_the_service(fast_policy(resolution="1h")))
            statuses: list[int] = []
            gate = asyncio.Semaphore(32)
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:

                async def one(n: int) -> None:
                    body = {"type": "reply", "message": f"#{n}# {FILLER}"}
                    async with gate:
                        while True:
                            r = await http.post(
                                f"/tickets/{t.id}/events", json=body, headers=SERVICE_AUTH
                            )
                            statuses.append(r.status_code)
                            if r.status_code != 429:
                                return
                            assert r.headers["Retry-After"].isdigit()
                            await asyncio.sleep(int(r.headers["Retry-After"]) / 10)

                await asyncio.gather(*(one(n) for n in range(count)))
            replies = await all_replies(tickets, t.id)
        assert set(statuses) <= {202, 429}, sorted(set(statuses))
        assert replies == set(range(count))
