"""Chat, SMS and webhook delivery against a real HTTP server on loopback."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from tests.activities import factories
from tests.activities.conftest import (
    SMS_ACCOUNT,
    SMS_FROM,
    SMS_TOKEN,
    WEBHOOK_SECRET,
    ActivitiesFactory,
)
from tests.activities.servers import HttpRecorder, Reply
from tierflow.activities import (
    PERMANENT_DELIVERY_ERROR,
    TRANSIENT_DELIVERY_ERROR,
    NotifyChannel,
    TierflowActivities,
    verify_signature,
)


class TestChat:
    """Chat notifications go to a Slack-compatible incoming webhook."""

    async def test_posts_slack_payload(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """The JSON has the text (subject in bold, then body) and the channel."""
        http.script(Reply(200, b"ok", "text/plain"))
        n = factories.notification(channel=NotifyChannel.chat, address="#tier2-billing")

        result = await activities.send_notification(n)

        [request] = http.requests
        assert request.path == "/chat"
        assert request.header("Content-Type") == "application/json"
        assert request.header("Idempotency-Key") == n.idempotency_key
        assert request.json() == {"text": f"*{n.subject}*\n{n.body}", "channel": "#tier2-billing"}
        assert result.status == "sent"
        assert result.detail == "chat 200 ok"

    async def test_omits_channel_when_no_address(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """Without an address the webhook's default channel applies."""
        await activities.send_notification(
            factories.notification(channel=NotifyChannel.chat, address="")
        )

        assert "channel" not in http.requests[0].json()


class TestSms:
    """SMS notifications go to a Twilio-style gateway."""

    async def test_posts_twilio_form_with_basic_auth(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """The form has To, From and Body; the account and token are the basic auth."""
        http.script(Reply(201, b'{"sid": "SM0001", "status": "queued"}'))
        n = factories.notification(channel=NotifyChannel.sms, address="+447700900123")

        result = await activities.send_notification(n)

        [request] = http.requests
        assert request.path == f"/sms/2010-04-01/Accounts/{SMS_ACCOUNT}/Messages.json"
        assert request.header("Content-Type") == "application/x-www-form-urlencoded"
        assert request.form() == {
            "To": "+447700900123",
            "From": SMS_FROM,
            "Body": f"{n.subject}: {n.body}",
        }
        assert request.basic_auth() == (SMS_ACCOUNT, SMS_TOKEN)
        assert request.header("Idempotency-Key") == n.idempotency_key
        assert result.detail == "sms SM0001"

    @pytest.mark.parametrize("number", ["07700900123", "+0447700900123", "+44 7700 900123", ""])
    async def test_rejects_numbers_that_are_not_e164(
        self, activities: TierflowActivities, http: HttpRecorder, number: str
    ) -> None:
        """A number that is not E.164 fails for good, before calling the gateway."""
        with pytest.raises(ApplicationError) as caught:
            await activities.send_notification(
                factories.notification(channel=NotifyChannel.sms, address=number)
            )

        assert caught.value.non_retryable
        assert http.requests == []


class TestWebhook:
    """Webhook notifications are signed JSON posts to the host system."""

    async def test_posts_signed_notification(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """The body is the notification; the signature verifies with the shared secret."""
        n = factories.notification(channel=NotifyChannel.webhook, address="")

        await activities.send_notification(n)

        [request] = http.requests
        assert request.path == "/webhook"
        assert request.json() == {"type": "notification", "notification": n.model_dump(mode="json")}
        assert request.header("Idempotency-Key") == n.idempotency_key
        timestamp = request.header("X-Tierflow-Timestamp")
        signature = request.header("X-Tierflow-Signature")
        assert timestamp is not None
        assert signature is not None
        assert signature.startswith("sha256=")
        assert verify_signature(WEBHOOK_SECRET, timestamp, request.body, signature, 60)
        assert not verify_signature("other-secret", timestamp, request.body, signature, 60)
        assert not verify_signature(WEBHOOK_SECRET, timestamp, request.body + b" ", signature, 60)


class TestHttpFailureClassification:
    """HTTP answers and outages map to retryable or non-retryable errors."""

    @pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
    async def test_server_trouble_is_retryable(
        self, activities: TierflowActivities, http: HttpRecorder, status: int
    ) -> None:
        """5xx, 408 and 429 raise a retryable TransientDeliveryError."""
        http.script(status)

        with pytest.raises(ApplicationError) as caught:
            await activities.send_notification(factories.notification(channel=NotifyChannel.chat))

        assert caught.value.type == TRANSIENT_DELIVERY_ERROR
        assert not caught.value.non_retryable
        assert str(status) in caught.value.message

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
    async def test_refusals_are_permanent(
        self, activities: TierflowActivities, http: HttpRecorder, status: int
    ) -> None:
        """Other 4xx raise a non-retryable PermanentDeliveryError quoting the answer."""
        http.script(Reply(status, b'{"error": "invalid_channel"}'))

        with pytest.raises(ApplicationError) as caught:
            await activities.send_notification(factories.notification(channel=NotifyChannel.chat))

        assert caught.value.type == PERMANENT_DELIVERY_ERROR
        assert caught.value.non_retryable
        assert "invalid_channel" in caught.value.message

    async def test_retry_after_is_passed_to_temporal(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """A 429 with Retry-After asks Temporal to wait that long before the next attempt."""
        http.script(Reply(429, b"slow down", headers={"Retry-After": "7"}))

        with pytest.raises(ApplicationError) as caught:
            await activities.send_notification(
                factories.notification(channel=NotifyChannel.sms, address="+447700900123")
            )

        assert caught.value.next_retry_delay is not None
        assert caught.value.next_retry_delay.total_seconds() == 7

    async def test_500_then_200_delivers_on_the_retry(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """After a 5xx, the retried attempt succeeds and the effect happens once."""
        http.script(503, 200)
        n = factories.notification(channel=NotifyChannel.webhook)

        with pytest.raises(ApplicationError):
            await activities.send_notification(n)
        result = await activities.send_notification(n)

        assert result.status == "sent"
        assert [r.status for r in http.requests] == [503, 200]
        assert len(http.effects) == 1

    async def test_connection_refused_is_retryable(
        self, make_activities: ActivitiesFactory, http: HttpRecorder
    ) -> None:
        """Nobody listening raises a retryable error."""
        url = http.url
        http.stop()
        acts = make_activities(chat_webhook_url=f"{url}/chat", http_timeout=2)

        with pytest.raises(ApplicationError) as caught:
            await acts.send_notification(factories.notification(channel=NotifyChannel.chat))

        assert caught.value.type == TRANSIENT_DELIVERY_ERROR
        assert not caught.value.non_retryable
        assert "unreachable" in caught.value.message
