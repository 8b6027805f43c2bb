"""Deliveries that outlast outages, end to end: a ticket on the real dev server delivering to
real receivers on loopback while one channel is down, then back.

No test races two clocks: each waits for an eventual condition (the ticket escalated, the
search attribute set, the timeline entry written), never for a moment on the retry clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client

from tests.activities.servers import HttpRecorder, RecordedRequest, Reply, SmtpCapture
from tests.waiting import eventually
from tierflow.activities import Settings, TierflowActivities
from tierflow.client import TicketClient, workflow_id_for
from tierflow.errors import ActionRejected
from tierflow.workflows import search_attributes as sa
from tierflow.workflows.messages import Assign
from tierflow.workflows.outbox.failing import DropDelivery, RetryDeliveries

from .support import fast_policy, running_worker, ticket, wait_for

pytestmark = pytest.mark.integration


class Outage(HttpRecorder):
    """An HTTP receiver whose paths in ``down`` answer 503 (recorded like any request)."""

    def __init__(self) -> None:
        super().__init__()
        self.down: set[str] = set()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if path in self.down:
            with self._lock:
                self._requests.append(RecordedRequest(method, path, headers, body, 503))
            return Reply(503, body=b'{"ok":false}')
        return super().answer(method, path, headers, body)


def activities_for(
    smtp: SmtpCapture, http: HttpRecorder, horizon: timedelta | None = None, **settings: Any
) -> TierflowActivities:
    """Activities delivering to ``smtp`` and ``http`` (chat and sync); ``settings`` override."""
    extra: dict[str, Any] = {"delivery_horizon": horizon} if horizon else {}
    extra.update(settings)
    return TierflowActivities(
        Settings(
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            chat_webhook_url=f"{http.url}/chat",
            sync_url=f"{http.url}/sync",
            sync_secret="s3cret",
            **extra,
        )
    )


async def failing_attribute(client: Client, ticket_id: str) -> bool | None:
    desc = await client.get_workflow_handle(workflow_id_for(ticket_id)).describe()
    return desc.typed_search_attributes.get(sa.TICKET_DELIVERY_FAILING)


async def has_entry(tickets: TicketClient, ticket_id: str, text: str) -> bool:
    return any(text in e.summary for e in await tickets.timeline(ticket_id))


def chat_requests(http: HttpRecorder) -> list[RecordedRequest]:
    return [r for r in http.requests if r.path == "/chat"]


class TestOutage:
    async def test_a_chat_outage_delays_chat_only_and_everything_arrives_once_in_order(
        self, client: Client, task_queue: str
    ) -> None:
        """Chat down: the ticket escalates anyway, shows the failure (search attribute,
        timeline, its owner told once by email); chat back: every message arrives once, in
        order per channel, and the ticket shows the recovery."""
        with SmtpCapture() as smtp, Outage() as http:
            http.down.add("/chat")
            async with running_worker(client, task_queue, activities_for(smtp, http)) as tickets:
                t = ticket("Chat is down")
                await tickets.open(t, fast_policy(resolution="2s"))
                await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=30)
                await eventually(lambda: has_entry(tickets, t.id, "deliveries failing"))

                async def flagged() -> bool:
                    return await failing_attribute(client, t.id) is True

                await eventually(flagged)
                assert await tickets.deliveries(t.id)
                # The owner hears of it by email (the failing channel is chat), once each.
                told = [
                    e.rcpt_tos[0]
                    for e in smtp.received
                    if "deliveries failing" in str(e.message["Subject"])
                ]
                assert told
                assert len(told) == len(set(told))
                assert all(a.endswith("@example.com") for a in told)

                http.down.clear()

                async def recovered() -> bool:
                    return not await tickets.deliveries(t.id)

                await eventually(recovered, within=150)
                await eventually(lambda: has_entry(tickets, t.id, "deliveries recovered"))

                async def cleared() -> bool:
                    return await failing_attribute(client, t.id) is False

                await eventually(cleared)

            chats = chat_requests(http)
            delivered = [r for r in chats if r.status == 200]
            keys = [r.header("Idempotency-Key") for r in delivered]
            # Every chat message went through, and none was sent again after it did.
            assert {r.header("Idempotency-Key") for r in chats} == set(keys)
            assert len(keys) == len(set(keys))
            # In order per channel: a channel's messages arrived in the order they were made.
            by_channel: dict[str, list[str]] = {}
            for r in delivered:
                by_channel.setdefault(r.json().get("channel", ""), []).append(
                    str(r.header("Idempotency-Key"))
                )
            for channel_keys in by_channel.values():
                order = [k.split("/")[1] for k in channel_keys]
                assert order == sorted(order)
            # The owner was told once in all: the outage was one.
            assert len(told) == len(
                [e for e in smtp.received if "deliveries failing" in str(e.message["Subject"])]
            )

    async def test_past_the_horizon_the_failure_is_final(
        self, client: Client, task_queue: str
    ) -> None:
        """With a 5 s horizon and chat down for good, the items are given up: a final
        failure on the timeline, nothing left failing, the attribute false again."""
        with SmtpCapture() as smtp, Outage() as http:
            http.down.add("/chat")
            acts = activities_for(smtp, http, horizon=timedelta(seconds=5))
            async with running_worker(client, task_queue, acts) as tickets:
                t = ticket("Chat is gone")
                await tickets.open(t, fast_policy(resolution="600s"))
                await eventually(lambda: has_entry(tickets, t.id, "not delivered (still failing"))

                async def nothing_left() -> bool:
                    return not await tickets.deliveries(t.id)

                await eventually(nothing_left)
                finals = [
                    e
                    for e in await tickets.timeline(t.id)
                    if e.kind == "delivery_failure" and e.data.get("final") is True
                ]
                assert finals
                assert all(e.data["channel"] == "chat" for e in finals)

                async def cleared() -> bool:
                    return await failing_attribute(client, t.id) is False

                await eventually(cleared)
                assert (await tickets.status(t.id)).state == "tier1"


class TestOperator:
    async def test_an_operator_drops_one_delivery_and_retries_the_rest_now(
        self, client: Client, task_queue: str
    ) -> None:
        """``drop_delivery`` gives one item up (final, by the operator); ``retry_deliveries``
        sends the rest at once once the channel is back; with nothing failing, it is refused."""
        with SmtpCapture() as smtp, Outage() as http:
            http.down.add("/chat")
            async with running_worker(client, task_queue, activities_for(smtp, http)) as tickets:
                t = ticket("Operator steps in")
                await tickets.open(t, fast_policy(resolution="600s"))
                # The queue hears of the landing and Alex of the assignment, both by chat.
                await tickets.assign(t.id, Assign(actor="Jordan Diaz", assignee="Alex Kim"))

                async def failing() -> bool:
                    return len(await tickets.deliveries(t.id)) >= 2

                await eventually(failing)
                first = (await tickets.deliveries(t.id))[0]
                rest = await tickets.drop_delivery(
                    t.id, DropDelivery(actor="Jordan Diaz", key=first.key)
                )
                assert first.key not in [d.key for d in rest]
                assert await has_entry(tickets, t.id, "dropped by Jordan Diaz")

                http.down.clear()
                await tickets.retry_deliveries(t.id, RetryDeliveries(actor="Jordan Diaz"))

                async def through() -> bool:
                    return not await tickets.deliveries(t.id)

                await eventually(through)
                with pytest.raises(ActionRejected):
                    await tickets.retry_deliveries(t.id, RetryDeliveries(actor="Jordan Diaz"))
            delivered = {
                r.header("Idempotency-Key") for r in chat_requests(http) if r.status == 200
            }
            assert first.key not in delivered
            assert {d.key for d in rest} <= delivered
