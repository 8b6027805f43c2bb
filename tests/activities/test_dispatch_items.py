"""Delivery per item: concurrent per recipient, each with its own timeout, progress kept for
the next attempt, and what still fails handed back to the ticket."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from tests.activities import factories
from tests.activities.conftest import ActivitiesFactory
from tests.activities.servers import BlackHole, HttpRecorder, SmtpCapture
from tests.waiting import eventually
from tierflow.activities import NotifyChannel, Settings, TierflowActivities
from tierflow.contracts import DispatchOutcome, EffectBatch


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    """A mail server that accepts connections and never answers."""
    with BlackHole() as server:
        yield server


def hung_mail(
    make_activities: ActivitiesFactory, black_hole: BlackHole, http: HttpRecorder, timeout: float
) -> TierflowActivities:
    """Email into the black hole, chat to the recorder; one item may take ``timeout``."""
    return make_activities(
        Settings(
            smtp_host=black_hole.host,
            smtp_port=black_hole.port,
            chat_webhook_url=f"{http.url}/chat",
            delivery_item_timeout=timeout,
            smtp_timeout=60,
        )
    )


def unlimited() -> ActivityEnvironment:
    """An activity environment whose attempt has no start-to-close (the item timeout rules)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, start_to_close_timeout=None)
    return env


def email_and_chat(**batch: Any) -> EffectBatch:
    return EffectBatch(
        batch_id="b1",
        ticket_id="T-100",
        workflow_id="ticket-T-100",
        summary="landed",
        notifications=[
            factories.notification(idempotency_key="k-email"),
            factories.notification(
                idempotency_key="k-chat", channel=NotifyChannel.chat, address="#tier1"
            ),
        ],
        **batch,
    )


class TestPerItem:
    async def test_a_black_holed_mail_server_does_not_delay_chat(
        self, make_activities: ActivitiesFactory, black_hole: BlackHole, http: HttpRecorder
    ) -> None:
        """The chat item of the batch is delivered while the email (listed first) hangs."""
        acts = hung_mail(make_activities, black_hole, http, timeout=30)
        running = asyncio.create_task(
            unlimited().run(acts.dispatch_effects, email_and_chat(hand_back_after=1))
        )
        await eventually(lambda: len(http.requests) == 1 and black_hole.connections == 1)
        assert not running.done()  # the email still hangs, the chat is through
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    async def test_an_item_that_never_answers_is_handed_back_after_its_timeout(
        self, make_activities: ActivitiesFactory, black_hole: BlackHole, http: HttpRecorder
    ) -> None:
        """The hung email is handed back as undelivered; the chat is on the timeline."""
        acts = hung_mail(make_activities, black_hole, http, timeout=0.5)
        outcome = await ActivityEnvironment().run(
            acts.dispatch_effects, email_and_chat(hand_back_after=1)
        )
        assert isinstance(outcome, DispatchOutcome)
        assert [u.item.idempotency_key for u in outcome.undelivered] == ["k-email"]
        assert "no answer within" in outcome.undelivered[0].error
        assert [n.data["key"] for n in outcome.notes] == ["k-chat"]
        assert outcome.horizon_seconds == 86_400

    async def test_a_slow_relay_is_given_up_at_the_item_timeout_whatever_its_client_does(
        self, make_activities: ActivitiesFactory, http: HttpRecorder
    ) -> None:
        """aiosmtplib, cancelled while a relay sits on DATA, waits for the relay under its own
        timeout; the item is given up at its own timeout all the same (the attempt ends in
        a fraction of the relay's delay), and the chat item still goes through."""
        with SmtpCapture() as smtp:
            smtp.data_delay = 30.0
            acts = make_activities(
                Settings(
                    smtp_host=smtp.host,
                    smtp_port=smtp.port,
                    chat_webhook_url=f"{http.url}/chat",
                    delivery_item_timeout=0.5,
                )
            )
            loop = asyncio.get_running_loop()
            started = loop.time()
            outcome = await ActivityEnvironment().run(
                acts.dispatch_effects, email_and_chat(hand_back_after=1)
            )
            took = loop.time() - started
        assert isinstance(outcome, DispatchOutcome)
        assert [u.item.idempotency_key for u in outcome.undelivered] == ["k-email"]
        assert [n.data["key"] for n in outcome.notes] == ["k-chat"]
        assert took < 10.0, took  # aiosmtplib alone would hold it past its 10 s timeout

    async def test_a_trickling_receiver_is_given_up_at_the_item_timeout(
        self, make_activities: ActivitiesFactory, http: HttpRecorder
    ) -> None:
        """A receiver that answers one byte a second (httpx's read timeout restarts with each
        byte) is given up at the item's timeout."""
        http.trickle["/chat"] = 1.0
        acts = make_activities(
            Settings(chat_webhook_url=f"{http.url}/chat", delivery_item_timeout=0.5)
        )
        batch = EffectBatch(
            batch_id="b3",
            ticket_id="T-100",
            workflow_id="ticket-T-100",
            summary="trickle",
            hand_back_after=1,
            notifications=[
                factories.notification(
                    idempotency_key="k-chat", channel=NotifyChannel.chat, address="#tier1"
                )
            ],
        )
        outcome = await ActivityEnvironment().run(acts.dispatch_effects, batch)
        assert isinstance(outcome, DispatchOutcome)
        assert [u.item.idempotency_key for u in outcome.undelivered] == ["k-chat"]
        assert "no answer within" in outcome.undelivered[0].error

    async def test_a_later_message_to_the_same_recipient_waits_behind_a_failing_one(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """Two chat messages to one channel: the first fails, the second is not attempted."""
        http.script(503)
        batch = EffectBatch(
            batch_id="b2",
            ticket_id="T-100",
            workflow_id="ticket-T-100",
            summary="two",
            hand_back_after=1,
            notifications=[
                factories.notification(
                    idempotency_key=f"k-{n}", channel=NotifyChannel.chat, address="#tier1"
                )
                for n in (1, 2)
            ],
        )
        outcome = await ActivityEnvironment().run(activities.dispatch_effects, batch)
        assert isinstance(outcome, DispatchOutcome)
        assert len(http.requests) == 1
        assert [(u.item.idempotency_key, u.attempted) for u in outcome.undelivered] == [
            ("k-1", True),
            ("k-2", False),
        ]


def local(seconds: float) -> ActivityEnvironment:
    """An environment running the activity as a local one with this start-to-close."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, is_local=True, start_to_close_timeout=timedelta(seconds=seconds)
    )
    return env


def two_chats() -> EffectBatch:
    return EffectBatch(
        batch_id="b3",
        ticket_id="T-100",
        workflow_id="ticket-T-100",
        summary="two",
        notifications=[
            factories.notification(
                idempotency_key=f"k-{n}", channel=NotifyChannel.chat, address="#tier1"
            )
            for n in (1, 2)
        ],
    )


class TestLocalBudget:
    """A local attempt never times out as a whole (it would be retried in full and resend what
    it delivered): what does not fit in its start-to-close less a second is handed back."""

    async def test_a_blip_is_tried_again_when_the_retry_fits(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        http.script(503)
        outcome = await local(9).run(activities.dispatch_effects, two_chats())
        assert isinstance(outcome, DispatchOutcome)
        assert len(http.requests) == 3  # the blip, its retry, then the second message
        assert not outcome.undelivered

    async def test_no_retry_when_it_would_not_fit(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """3 s attempt: 2 s for items of 1 s each; the blip's retry (1 s pause + 1 s) does not
        fit, so the first is handed back as tried and the second as not tried."""
        http.script(503)
        outcome = await local(3).run(activities.dispatch_effects, two_chats())
        assert isinstance(outcome, DispatchOutcome)
        assert len(http.requests) == 1
        assert [(u.item.idempotency_key, u.attempted) for u in outcome.undelivered] == [
            ("k-1", True),
            ("k-2", False),
        ]


class TestProgress:
    async def test_a_slow_attempt_keeps_its_progress_and_the_next_does_not_resend(
        self, make_activities: ActivitiesFactory, black_hole: BlackHole, http: HttpRecorder
    ) -> None:
        """An attempt cut short (as a start-to-close timeout would) after the chat went out
        leaves a heartbeat naming it; the next attempt sends only the email again."""
        acts = hung_mail(make_activities, black_hole, http, timeout=30)
        heartbeats: list[Any] = []
        env = unlimited()
        env.on_heartbeat = lambda *details: heartbeats.append(details)
        running = asyncio.create_task(env.run(acts.dispatch_effects, email_and_chat()))
        # Slow (still at work after 2 s) with the chat delivered: the progress is heartbeated.
        await eventually(lambda: bool(heartbeats))
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert "k-chat" in heartbeats[-1][0]

        env.info = dataclasses.replace(env.info, attempt=2, heartbeat_details=heartbeats[-1])
        retry = hung_mail(make_activities, black_hole, http, timeout=0.5)
        outcome = await env.run(retry.dispatch_effects, email_and_chat(hand_back_after=2))
        assert isinstance(outcome, DispatchOutcome)
        assert [r.header("Idempotency-Key") for r in http.requests] == ["k-chat"]
        assert black_hole.connections == 2  # the email was tried again, the chat was not
        assert [u.item.idempotency_key for u in outcome.undelivered] == ["k-email"]

    async def test_a_quick_successful_batch_heartbeats_nothing(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """Heartbeats are billable: a batch that goes through at once sends none."""
        heartbeats: list[Any] = []
        env = ActivityEnvironment()
        env.on_heartbeat = lambda *details: heartbeats.append(details)
        batch = EffectBatch(
            batch_id="b3",
            ticket_id="T-100",
            workflow_id="ticket-T-100",
            summary="one",
            hand_back_after=2,
            notifications=[factories.notification(channel=NotifyChannel.chat, address="#t")],
        )
        outcome = await env.run(activities.dispatch_effects, batch)
        assert isinstance(outcome, DispatchOutcome)
        assert outcome.undelivered == []
        assert heartbeats == []
