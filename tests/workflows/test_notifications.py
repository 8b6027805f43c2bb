"""Who is told what, end to end: a ticket workflow on the real dev server delivering to a real
SMTP server and real HTTP receivers on loopback."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr
from temporalio.client import Client

from tests.activities.servers import HttpRecorder, SmtpCapture, free_port
from tests.waiting import eventually
from tierflow.activities import Settings, TierflowActivities, verify_signature
from tierflow.workflows.messages import Resolve

from .support import fast_policy, running_worker, ticket, wait_for

SECRET = "s3cret"


def activities_for(smtp_port: int, recorder: HttpRecorder) -> TierflowActivities:
    return TierflowActivities(
        Settings(
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            chat_webhook_url=f"{recorder.url}/chat",
            sync_url=f"{recorder.url}/sync",
            sync_secret=SecretStr(SECRET),
            webhook_url=f"{recorder.url}/webhook",
            webhook_secret=SecretStr(SECRET),
        )
    )


class TestDelivery:
    async def test_landing_breach_and_resolution_reach_the_right_people(
        self, client: Client, task_queue: str
    ) -> None:
        """The queue hears of the landing, the owner of the breach, the customer of both."""
        with SmtpCapture() as smtp, HttpRecorder() as http:
            async with running_worker(
                client, task_queue, activities_for(smtp.port, http)
            ) as tickets:
                t = ticket("Sync keeps failing")
                await tickets.open(t, fast_policy(resolution="3s"))
                await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=20)
                await tickets.resolve(t.id, Resolve(actor="Robin Ortiz", resolution="fixed"))

                def addressed(to: str, subject: str) -> list[str]:
                    return [
                        str(e.message["Subject"])
                        for e in smtp.delivered
                        if to in e.rcpt_tos and subject in str(e.message["Subject"])
                    ]

                await eventually(lambda: bool(addressed("ana@example.com", "resolved")))
                # The host hears of the resolution in the same batch, maybe a moment later.
                await eventually(
                    lambda: any(
                        r.path == "/sync" and r.json()["sync"]["state"] == "resolved"
                        for r in http.effects
                    )
                )
                assert addressed("frontline@example.com", "new ticket for tier1/frontline")
                assert addressed("frontline@example.com", "resolution SLA due")
                assert addressed("frontline@example.com", "SLA breached")
                assert addressed("technical@example.com", "new ticket for tier2/technical")
                customer = [e for e in smtp.delivered if "ana@example.com" in e.rcpt_tos]
                assert len(customer) == 3  # received, transferred, resolved
                # Batches are delivered concurrently: find the transfer notice by its key.
                transferred = next(e for e in customer if "customer-transferred" in e.message_id)
                assert "Technical" in transferred.body
                assert "expect" in transferred.body
                # Every email's Message-ID carries its idempotency key.
                assert all("@tierflow>" in e.message_id for e in smtp.received)

                # Batches are delivered concurrently: order the host's view by event time.
                syncs = sorted(
                    (r for r in http.effects if r.path == "/sync"),
                    key=lambda r: str(r.json()["sync"]["at"]),
                )
                states = [r.json()["sync"]["state"] for r in syncs]
                assert states[0] == "tier1"
                assert "tier2" in states
                assert states[-1] == "resolved"
                for r in syncs:
                    assert verify_signature(
                        SECRET,
                        r.header("X-Tierflow-Timestamp") or "",
                        r.body.decode(),
                        r.header("X-Tierflow-Signature") or "",
                    )
                chat = [r.json()["text"] for r in http.effects if r.path == "/chat"]
                assert any("SLA breached" in text for text in chat)

    async def test_a_dead_channel_does_not_stop_the_escalation(
        self, client: Client, task_queue: str
    ) -> None:
        """With the mail server down and the host answering 500, the ticket still escalates."""
        with HttpRecorder() as http:
            http.script(*([500] * 50))
            acts = activities_for(free_port(), http)  # nothing listens on that SMTP port
            async with running_worker(client, task_queue, acts) as tickets:
                t = ticket("Nothing gets through")
                await tickets.open(t, fast_policy(resolution="2s"))
                status = await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=20)
                assert status.escalations == 1

                def sync_keys() -> list[str | None]:
                    return [r.header("Idempotency-Key") for r in http.requests if r.path == "/sync"]

                # Meanwhile (on the retry clock, not the escalation's) the failed deliveries
                # are retried, with the same keys.
                await eventually(lambda: len(set(sync_keys())) < len(sync_keys()))

    async def test_permanent_failures_are_recorded_on_the_timeline(
        self, client: Client, task_queue: str
    ) -> None:
        """A 4xx from the host is not retried; the ticket's timeline says what failed."""
        with SmtpCapture() as smtp, HttpRecorder() as http:
            http.script(*([400] * 50))
            async with running_worker(
                client, task_queue, activities_for(smtp.port, http)
            ) as tickets:
                t = ticket("Host rejects our sync")
                await tickets.open(t, fast_policy(resolution="60s"))

                async def failures() -> list[str]:
                    return [
                        e.summary
                        for e in await tickets.timeline(t.id)
                        if e.kind == "delivery_failure"
                    ]

                for _ in range(100):
                    if await failures():
                        break
                    await asyncio.sleep(0.2)
                found = await failures()
                assert any("host sync" in f for f in found)
                assert (await tickets.status(t.id)).state == "tier1"
                assert smtp.delivered  # the emails still went out
