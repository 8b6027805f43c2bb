"""Email delivery against a real SMTP server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from tests.activities import factories
from tests.activities.conftest import ActivitiesFactory
from tests.activities.servers import SmtpCapture, free_port, make_self_signed_cert
from tierflow.activities import (
    PERMANENT_DELIVERY_ERROR,
    TRANSIENT_DELIVERY_ERROR,
    Settings,
    TierflowActivities,
)
from tierflow.activities.channels.email import message_id_for


class TestEmailDelivery:
    """A notification on the email channel arrives as a plain-text email."""

    async def test_arrives_with_headers_and_body(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """To, Subject, Message-ID and body are those of the notification."""
        n = factories.notification()

        result = await activities.send_notification(n)

        assert result.status == "sent"
        assert result.idempotency_key == n.idempotency_key
        [email] = smtp.received
        assert email.rcpt_tos == ["bea@example.com"]
        assert email.message["To"] == "Bea Agent <bea@example.com>"
        assert email.message["Subject"] == n.subject
        assert email.message_id == f"<{n.idempotency_key}@tierflow>"
        assert email.message["X-Tierflow-Idempotency-Key"] == n.idempotency_key
        assert email.message.get_content_type() == "text/plain"
        assert email.body.strip() == n.body
        assert email.mail_from == "tierflow@example.com"

    async def test_staff_alerts_are_marked_auto_generated(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """Staff alerts carry Auto-Submitted so that out-of-office replies are not sent."""
        await activities.send_notification(factories.notification())

        assert smtp.received[0].message["Auto-Submitted"] == "auto-generated"

    def test_message_id_escapes_what_a_message_id_cannot_hold(self) -> None:
        """A key with a colon or space still gives a valid, stable Message-ID."""
        assert message_id_for("wf:1 2") == "<wf%3A1%202@tierflow>"
        assert message_id_for("wf-1.2") == "<wf-1.2@tierflow>"


class TestEmailFailures:
    """SMTP refusals are permanent, deferrals and outages are retried."""

    async def test_rejected_recipient_is_permanent(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """A 550 for the recipient raises a non-retryable PermanentDeliveryError."""
        smtp.reject.add("bea@example.com")

        with pytest.raises(ApplicationError) as caught:
            await activities.send_notification(factories.notification())

        assert caught.value.type == PERMANENT_DELIVERY_ERROR
        assert caught.value.non_retryable
        assert "550" in caught.value.message
        assert smtp.received == []

    async def test_deferred_recipient_is_retried(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """A 450 for the recipient raises a retryable error."""
        smtp.defer.add("bea@example.com")

        with pytest.raises(ApplicationError) as caught:
            await activities.send_notification(factories.notification())

        assert caught.value.type == TRANSIENT_DELIVERY_ERROR
        assert not caught.value.non_retryable

    async def test_server_down_is_retried(self, make_activities: ActivitiesFactory) -> None:
        """A refused connection raises a retryable error."""
        acts = make_activities(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=2)

        with pytest.raises(ApplicationError) as caught:
            await acts.send_notification(factories.notification())

        assert caught.value.type == TRANSIENT_DELIVERY_ERROR
        assert not caught.value.non_retryable

    @pytest.mark.parametrize("address", ["", "not-an-address", "a@b@c.com", "x y@example.com"])
    async def test_invalid_address_is_permanent(
        self, activities: TierflowActivities, smtp: SmtpCapture, address: str
    ) -> None:
        """An address that cannot be an email address fails at once, without connecting."""
        with pytest.raises(ApplicationError) as caught:
            await activities.send_notification(factories.notification(address=address))

        assert caught.value.non_retryable
        assert smtp.received == []


class TestEmailAuthAndTls:
    """SMTP AUTH, STARTTLS and implicit TLS follow the settings."""

    async def test_auth_logs_in_with_configured_credentials(
        self, make_activities: ActivitiesFactory, tmp_path: Path
    ) -> None:
        """The server sees the configured username."""
        cert = make_self_signed_cert(tmp_path)
        with SmtpCapture(
            credentials=("tierflow", "s3cret"), tls_context=cert.server_context()
        ) as server:
            acts = make_activities(
                smtp_host=server.host,
                smtp_port=server.port,
                smtp_tls="starttls",
                smtp_ca_file=cert.cert_file,
                smtp_username="tierflow",
                smtp_password="s3cret",
            )
            await acts.send_notification(factories.notification())

        assert [e.authenticated_as for e in server.received] == ["tierflow"]

    async def test_wrong_password_is_permanent(
        self, make_activities: ActivitiesFactory, tmp_path: Path
    ) -> None:
        """A 535 authentication failure will not fix itself by retrying."""
        cert = make_self_signed_cert(tmp_path)
        with SmtpCapture(
            credentials=("tierflow", "s3cret"), tls_context=cert.server_context()
        ) as server:
            acts = make_activities(
                smtp_host=server.host,
                smtp_port=server.port,
                smtp_tls="starttls",
                smtp_ca_file=cert.cert_file,
                smtp_username="tierflow",
                smtp_password="wrong",
            )
            with pytest.raises(ApplicationError) as caught:
                await acts.send_notification(factories.notification())

        assert caught.value.non_retryable
        assert "535" in caught.value.message

    def test_credentials_without_tls_are_refused(self) -> None:
        """A password would cross the network in clear: the settings refuse it, by name."""
        with pytest.raises(ValueError, match="SMTP credentials need TIERFLOW_SMTP_TLS") as caught:
            Settings(smtp_host="mail.example", smtp_username="tierflow", smtp_password="s3cret")
        assert "s3cret" not in str(caught.value)

    @pytest.mark.parametrize("mode", ["starttls", "tls"])
    async def test_tls_modes_deliver_with_a_private_ca(
        self, make_activities: ActivitiesFactory, tmp_path: Path, mode: str
    ) -> None:
        """STARTTLS and implicit TLS both deliver, trusting `smtp_ca_file`."""
        cert = make_self_signed_cert(tmp_path)
        with SmtpCapture(
            credentials=("tierflow", "s3cret"),
            tls_context=cert.server_context(),
            implicit_tls=mode == "tls",
        ) as server:
            acts = make_activities(
                smtp_host=server.host,
                smtp_port=server.port,
                smtp_tls=mode,
                smtp_ca_file=cert.cert_file,
                smtp_username="tierflow",
                smtp_password="s3cret",
            )
            await acts.send_notification(factories.notification())

        assert [e.authenticated_as for e in server.received] == ["tierflow"]
