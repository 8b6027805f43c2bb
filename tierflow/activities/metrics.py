"""Delivery counters on the running activity's meter (``activity.metric_meter()``).

They come out wherever the worker's runtime sends metrics (Tierflow's Prometheus endpoint,
or a host's OpenTelemetry pipeline), with the SDK's activity labels (namespace, task queue,
activity type) and Tierflow's: the channel (``email``, ``sms``, ``chat``, ``webhook``,
``sync``) and, for failures, their kind. Never a recipient, an address or a ticket id.
Outside an activity (unit tests calling the adapters directly) nothing is recorded.
"""

from __future__ import annotations

from typing import Literal

from temporalio import activity
from temporalio.exceptions import ApplicationError

__all__ = [
    "DELIVERIES_SENT",
    "DELIVERIES_SKIPPED",
    "DELIVERY_FAILURES",
    "count_failure",
    "count_sent",
    "count_skipped",
    "failure_kind",
]

DELIVERIES_SENT = "tierflow_deliveries_sent"
DELIVERIES_SKIPPED = "tierflow_deliveries_skipped"
DELIVERY_FAILURES = "tierflow_delivery_failures"

FailureKind = Literal["transient", "permanent"]


def failure_kind(err: BaseException) -> FailureKind:
    """Permanent for a non-retryable error (Temporal gives up on it), else transient."""
    if isinstance(err, ApplicationError) and err.non_retryable:
        return "permanent"
    return "transient"


def _add(name: str, description: str, attributes: dict[str, str]) -> None:
    if not activity.in_activity():
        return
    activity.metric_meter().create_counter(name, description).add(1, attributes)


def count_sent(channel: str) -> None:
    """One item delivered on ``channel``."""
    _add(DELIVERIES_SENT, "items delivered, by channel", {"channel": channel})


def count_skipped(channel: str) -> None:
    """One item not sent because ``channel`` is not configured."""
    _add(DELIVERIES_SKIPPED, "items skipped: channel not configured", {"channel": channel})


def count_failure(channel: str, err: BaseException) -> None:
    """One failed delivery attempt on ``channel`` (each retry of a transient one counts)."""
    _add(
        DELIVERY_FAILURES,
        "failed delivery attempts, by channel and kind (transient or permanent)",
        {"channel": channel, "kind": failure_kind(err)},
    )
