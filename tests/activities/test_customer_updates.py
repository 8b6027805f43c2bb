"""`notify_customer` renders the template and delivers on the customer's channel."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from tests.activities import factories
from tests.activities.conftest import WEBHOOK_SECRET, ActivitiesFactory
from tests.activities.servers import HttpRecorder, SmtpCapture
from tierflow.activities import TEMPLATE_ERROR, NotifyChannel, TierflowActivities, verify_signature


class TestNotifyCustomer:
    """Each customer channel gets the rendered message."""

    async def test_email_customer_gets_the_rendered_email(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """The email goes to the customer, with the template's subject and body."""
        u = factories.customer_update()

        result = await activities.notify_customer(u)

        assert result.status == "sent"
        [email] = smtp.received
        assert email.rcpt_tos == ["ana@example.com"]
        assert (
            email.message["Subject"] == 'Your request "Cannot pay invoice" is with our Billing team'
        )
        assert "You can expect an answer by Tue 24 Nov, 15:00 UTC." in email.body
        assert email.message_id == f"<{u.idempotency_key}@tierflow>"
        assert email.message["Auto-Submitted"] is None

    async def test_sms_customer_gets_a_text(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """The text carries subject and body."""
        u = factories.customer_update(channel=NotifyChannel.sms, address="+447700900123")

        await activities.notify_customer(u)

        form = http.requests[0].form()
        assert form["To"] == "+447700900123"
        assert form["Body"].startswith(
            'Your request "Cannot pay invoice" is with our Billing team: Hi Ana'
        )

    async def test_webhook_customer_goes_to_the_host_system(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """Phone/social/web customers: the host gets the rendered words and the raw facts."""
        u = factories.customer_update(channel=NotifyChannel.webhook, address="social:@ana")

        await activities.notify_customer(u)

        [request] = http.requests
        sent = request.json()["notification"]
        assert sent["audience"] == "customer"
        assert sent["event"] == "customer.transferred"
        assert sent["address"] == "social:@ana"
        assert sent["metadata"]["team_label"] == "Billing"
        assert sent["metadata"]["estimate"] == "2026-11-24T15:00:00+00:00"
        assert "Hi Ana" in sent["body"]
        assert verify_signature(
            WEBHOOK_SECRET,
            request.header("X-Tierflow-Timestamp") or "",
            request.body,
            request.header("X-Tierflow-Signature") or "",
        )

    async def test_template_problem_is_permanent(self, activities: TierflowActivities) -> None:
        """A survey without its link fails for good with type TemplateError."""
        with pytest.raises(ApplicationError) as caught:
            await activities.notify_customer(factories.customer_update(kind="survey"))

        assert caught.value.type == TEMPLATE_ERROR
        assert caught.value.non_retryable

    async def test_override_from_settings_is_used(
        self, make_activities: ActivitiesFactory, smtp: SmtpCapture, tmp_path: Path
    ) -> None:
        """`templates_dir` in the settings changes the words the customer reads."""
        (tmp_path / "transferred.txt").write_text("Subject: Moved\nNow with $team.\n")
        acts = make_activities(smtp_host=smtp.host, smtp_port=smtp.port, templates_dir=tmp_path)

        await acts.notify_customer(factories.customer_update())

        assert smtp.received[0].message["Subject"] == "Moved"
        assert smtp.received[0].body == "Now with Billing team.\n"
