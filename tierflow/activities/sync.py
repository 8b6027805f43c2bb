"""Pushing the ticket's state to the host help desk or CRM over the signed sync webhook."""

from __future__ import annotations

import httpx
from structlog.typing import FilteringBoundLogger
from temporalio.exceptions import ApplicationError

from tierflow.activities.channels.webhook import post_signed_json
from tierflow.activities.log import SkipNotices
from tierflow.activities.metrics import count_failure, count_sent, count_skipped
from tierflow.activities.redact import redactor_for
from tierflow.activities.settings import Settings
from tierflow.contracts import DeliveryResult, NotifyChannel, TicketSync

__all__ = ["push_ticket_sync"]


async def push_ticket_sync(
    settings: Settings,
    client: httpx.AsyncClient,
    s: TicketSync,
    log: FilteringBoundLogger,
    skips: SkipNotices,
) -> DeliveryResult:
    """POST `{"type": "ticket.sync", "sync": {...}}` to `sync_url`, or skip if unset."""
    log = log.bind(ticket_event=s.event, state=s.state, idempotency_key=s.idempotency_key)
    if settings.sync_url is None or settings.sync_secret is None:
        skips.skipped(log, "sync_skipped", "sync", "sync not configured")
        count_skipped("sync")
        return DeliveryResult(
            idempotency_key=s.idempotency_key,
            channel=NotifyChannel.webhook,
            status="skipped",
            detail="sync not configured",
        )
    try:
        response = await post_signed_json(
            client,
            settings.sync_url,
            settings.sync_secret,
            {"type": "ticket.sync", "sync": s.model_dump(mode="json")},
            idempotency_key=s.idempotency_key,
            what="sync webhook",
            redactor=redactor_for(settings),
        )
    except ApplicationError as exc:
        log.warning(
            "sync_failed", error_type=exc.type, retryable=not exc.non_retryable, error=exc.message
        )
        count_failure("sync", exc)
        raise
    except Exception as exc:  # unclassified: Temporal retries it
        count_failure("sync", exc)
        raise
    detail = f"sync {response.status_code}"
    log.info("sync_sent", detail=detail)
    count_sent("sync")
    return DeliveryResult(
        idempotency_key=s.idempotency_key,
        channel=NotifyChannel.webhook,
        status="sent",
        detail=detail,
    )
