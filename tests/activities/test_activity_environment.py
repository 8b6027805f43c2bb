"""The activities run under Temporal's ActivityEnvironment and log what identifies them."""

from __future__ import annotations

import dataclasses

import structlog
from temporalio.testing import ActivityEnvironment

from tests.activities import factories
from tests.activities.conftest import ActivitiesFactory
from tests.activities.servers import SmtpCapture
from tierflow.activities import DeliveryResult, NotifyChannel, TierflowActivities


class TestActivityLogging:
    """Log lines carry ticket id, workflow id, activity name and attempt."""

    async def test_sent_line_is_bound_with_attempt_and_ids(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """Inside an activity the attempt and the running workflow's id are bound."""
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, attempt=3, workflow_id="ticket-T-100")

        with structlog.testing.capture_logs() as logs:
            result = await env.run(activities.send_notification, factories.notification())

        assert result.status == "sent"
        [line] = [entry for entry in logs if entry["event"] == "delivery_sent"]
        assert line["activity"] == "send_notification"
        assert line["attempt"] == 3
        assert line["workflow_id"] == "ticket-T-100"
        assert line["ticket_id"] == "T-100"
        assert line["channel"] == "email"
        assert line["idempotency_key"] == "ticket-T-100.7"

    async def test_logging_works_outside_an_activity(
        self, activities: TierflowActivities, smtp: SmtpCapture
    ) -> None:
        """Called directly, the activity logs without Temporal's fields."""
        with structlog.testing.capture_logs() as logs:
            await activities.send_notification(factories.notification())

        [line] = [entry for entry in logs if entry["event"] == "delivery_sent"]
        assert "attempt" not in line
        assert line["workflow_id"] == "ticket-T-100"


class TestNotConfigured:
    """A channel without settings is skipped with a log line, not failed."""

    async def test_every_channel_is_skipped(self, make_activities: ActivitiesFactory) -> None:
        """With no settings at all, each channel returns `skipped` and logs why."""
        acts = make_activities()
        env = ActivityEnvironment()

        results: list[DeliveryResult] = []
        with structlog.testing.capture_logs() as logs:
            for channel in NotifyChannel:
                n = factories.notification(channel=channel)
                results.append(await env.run(acts.send_notification, n))
            results.append(await env.run(acts.notify_customer, factories.customer_update()))
            results.append(await env.run(acts.sync_ticket, factories.ticket_sync()))

        assert [r.status for r in results] == ["skipped"] * 6
        skips = [e for e in logs if e["event"] in {"delivery_skipped", "sync_skipped"}]
        assert len(skips) == 6
        # Once per channel as a warning (email twice: staff and customer), then at debug.
        assert [e["log_level"] for e in skips] == ["warning"] * 4 + ["debug", "warning"]

    def test_all_lists_the_registered_activities(self, make_activities: ActivitiesFactory) -> None:
        """`all()` hands the worker every activity method, bound to the instance."""
        names = [fn.__name__ for fn in make_activities().all()]

        assert {"send_notification", "notify_customer", "sync_ticket"} <= set(names)
