"""A retried activity sends the same idempotency key, so receivers apply the effect once."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.activities import factories
from tests.activities.servers import HttpRecorder, SmtpCapture
from tierflow.activities import NotifyChannel, TierflowActivities
from tierflow.contracts import EffectBatch


class TestSameKeyOnRetry:
    """Calling an activity twice with the same input repeats the key, never a new one."""

    @pytest.mark.parametrize(
        "channel", [NotifyChannel.chat, NotifyChannel.sms, NotifyChannel.webhook]
    )
    async def test_http_channels_repeat_the_key(
        self, activities: TierflowActivities, http: HttpRecorder, channel: NotifyChannel
    ) -> None:
        """Both requests carry the workflow's key; the receiver applies one of them."""
        address = "+447700900123" if channel is NotifyChannel.sms else ""
        n = factories.notification(channel=channel, address=address)

        await activities.send_notification(n)
        await activities.send_notification(n)

        keys = [r.header("Idempotency-Key") for r in http.requests]
        assert keys == [n.idempotency_key, n.idempotency_key]
        assert len(http.effects) == 1

    async def test_email_repeats_the_message_id(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """Both emails carry the same Message-ID; a mailbox deduplicating on it shows one."""
        n = factories.notification()

        await activities.send_notification(n)
        await activities.send_notification(n)

        assert [e.message_id for e in smtp.received] == [f"<{n.idempotency_key}@tierflow>"] * 2
        assert len(smtp.delivered) == 1

    async def test_sync_repeats_the_key(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """A retried sync carries the same key; the host system applies it once."""
        s = factories.ticket_sync()

        await activities.sync_ticket(s)
        await activities.sync_ticket(s)

        assert {r.header("Idempotency-Key") for r in http.requests} == {s.idempotency_key}
        assert len(http.effects) == 1


class TestDispatchRetry:
    """A batch retried after a transient failure does not resend what was delivered."""

    async def test_retry_skips_items_delivered_by_the_failed_attempt(
        self, activities: TierflowActivities, http: HttpRecorder, smtp: SmtpCapture
    ) -> None:
        """The email goes out once; the SMS that failed with 503 goes out on the retry."""
        batch = EffectBatch(
            batch_id="ticket-T-100.7",
            ticket_id="T-100",
            workflow_id="ticket-T-100",
            summary="landed on tier 2",
            notifications=[
                factories.notification(idempotency_key="k-email"),
                factories.notification(
                    idempotency_key="k-sms", channel=NotifyChannel.sms, address="+447700900123"
                ),
            ],
        )
        heartbeats: list[Any] = []
        env = ActivityEnvironment()
        env.on_heartbeat = lambda *details: heartbeats.append(details)
        http.script(503)

        with pytest.raises(ApplicationError) as caught:
            await env.run(activities.dispatch_effects, batch)
        assert not caught.value.non_retryable

        env.info = dataclasses.replace(env.info, attempt=2, heartbeat_details=heartbeats[-1])
        notes = await env.run(activities.dispatch_effects, batch)

        assert isinstance(notes, list)  # no hand_back_after: the notes alone
        assert len(smtp.received) == 1
        assert [r.status for r in http.requests] == [503, 200]
        assert [note.data["key"] for note in notes] == ["k-email", "k-sms"]

    async def test_a_batch_that_succeeds_sends_no_heartbeat(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """Heartbeats are billable: only a failing attempt leaves a record for the next."""
        batch = EffectBatch(
            batch_id="b0",
            ticket_id="T-100",
            workflow_id="ticket-T-100",
            summary="landed",
            notifications=[factories.notification(idempotency_key="k-only")],
        )
        heartbeats: list[Any] = []
        env = ActivityEnvironment()
        env.on_heartbeat = lambda *details: heartbeats.append(details)
        await env.run(activities.dispatch_effects, batch)
        assert len(smtp.received) == 1
        assert heartbeats == []

    async def test_permanent_failures_become_timeline_notes(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """A rejected recipient is noted on the timeline and the rest of the batch is sent."""
        smtp.reject.add("gone@example.com")
        batch = EffectBatch(
            batch_id="b1",
            ticket_id="T-100",
            workflow_id="ticket-T-100",
            summary="breach",
            notifications=[
                factories.notification(idempotency_key="k1", address="gone@example.com"),
                factories.notification(idempotency_key="k2"),
            ],
        )

        notes = await ActivityEnvironment().run(activities.dispatch_effects, batch)

        assert isinstance(notes, list)  # no hand_back_after: the notes alone
        assert [n.kind for n in notes] == ["delivery_failure", "notification"]
        assert notes[0].data["error"] == "PermanentDeliveryError"
        assert len(smtp.received) == 1
