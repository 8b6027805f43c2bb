"""Delivering notifications: to staff as written by the workflow, to customers from templates."""

from __future__ import annotations

from collections.abc import Mapping

from structlog.typing import FilteringBoundLogger
from temporalio.exceptions import ApplicationError

from tierflow.activities.channels import ChannelAdapter
from tierflow.activities.errors import TEMPLATE_ERROR, permanent
from tierflow.activities.log import SkipNotices
from tierflow.activities.metrics import count_failure, count_sent, count_skipped
from tierflow.activities.templates import RenderedMessage, TemplateError, TemplateSet
from tierflow.contracts import CustomerUpdate, DeliveryResult, Notification, NotifyChannel

__all__ = ["customer_notification", "deliver", "render_customer_update"]


async def deliver(
    adapters: Mapping[NotifyChannel, ChannelAdapter],
    n: Notification,
    log: FilteringBoundLogger,
    skips: SkipNotices,
) -> DeliveryResult:
    """Send `n` over its channel, or skip it if that channel is not configured.

    Classified errors from the adapter are logged and re-raised for Temporal to retry (or
    not); anything unexpected propagates too and is retried, which is the safe default.
    """
    log = log.bind(
        channel=n.channel.value,
        ticket_event=n.event,
        audience=n.audience,
        idempotency_key=n.idempotency_key,
    )
    adapter = adapters[n.channel]
    if not adapter.configured:
        skips.skipped(log, "delivery_skipped", n.channel.value, "channel not configured")
        count_skipped(n.channel.value)
        return DeliveryResult(
            idempotency_key=n.idempotency_key,
            channel=n.channel,
            status="skipped",
            detail=f"{n.channel.value} channel not configured",
        )
    try:
        detail = await adapter.send(n)
    except ApplicationError as exc:
        log.warning(
            "delivery_failed",
            error_type=exc.type,
            retryable=not exc.non_retryable,
            error=exc.message,
        )
        count_failure(n.channel.value, exc)
        raise
    except Exception as exc:  # unclassified: Temporal retries it
        count_failure(n.channel.value, exc)
        raise
    log.info("delivery_sent", detail=detail)
    count_sent(n.channel.value)
    return DeliveryResult(
        idempotency_key=n.idempotency_key, channel=n.channel, status="sent", detail=detail
    )


def render_customer_update(templates: TemplateSet, u: CustomerUpdate) -> RenderedMessage:
    """Render `u`; a template problem is permanent, since retrying renders it the same way."""
    try:
        return templates.render(u)
    except TemplateError as exc:
        raise permanent(str(exc), error_type=TEMPLATE_ERROR) from exc


def customer_notification(u: CustomerUpdate, rendered: RenderedMessage) -> Notification:
    """The notification that carries a rendered customer update over the customer's channel.

    The update's own fields ride along in `metadata` so that a host system receiving it on
    the webhook can render its own message instead.
    """
    metadata = {"kind": u.kind, "customer_name": u.customer_name, "ticket_subject": u.subject}
    if u.team_label:
        metadata["team_label"] = u.team_label
    if u.estimate:
        metadata["estimate"] = u.estimate.isoformat()
    if u.survey_url:
        metadata["survey_url"] = u.survey_url
    return Notification(
        idempotency_key=u.idempotency_key,
        ticket_id=u.ticket_id,
        workflow_id=u.workflow_id,
        event=f"customer.{u.kind}",
        channel=u.channel,
        recipient=u.customer_name,
        address=u.address,
        subject=rendered.subject,
        body=rendered.body,
        audience="customer",
        metadata=metadata,
    )
