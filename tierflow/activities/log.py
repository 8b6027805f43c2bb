"""A structlog logger bound with what identifies one activity attempt.

structlog is never configured here: the worker does that. Outside an activity (a plain unit
test, a script) the Temporal fields are simply absent.
"""

from __future__ import annotations

from typing import cast

import structlog
from structlog.typing import FilteringBoundLogger
from temporalio import activity

__all__ = ["SkipNotices", "activity_logger"]


def activity_logger(name: str, *, ticket_id: str, workflow_id: str) -> FilteringBoundLogger:
    """A logger for activity `name` bound with ticket, workflow, activity id and attempt.

    The workflow id of the running activity wins over the one in the input, since that is
    the one the operator will look for in the Temporal UI.
    """
    fields: dict[str, object] = {
        "activity": name,
        "ticket_id": ticket_id,
        "workflow_id": workflow_id,
    }
    if activity.in_activity():
        info = activity.info()
        fields["attempt"] = info.attempt
        fields["activity_id"] = info.activity_id
        if info.workflow_id:
            fields["workflow_id"] = info.workflow_id
    logger = cast(FilteringBoundLogger, structlog.get_logger("tierflow.activities"))
    return logger.bind(**fields)


class SkipNotices:
    """Says once, as a warning, that a channel is not configured; later skips log at debug.

    A worker without, say, SMS skips every SMS; one warning tells the operator, and a warning
    per message would only bury the other logs (and cost time on a busy worker).
    """

    def __init__(self) -> None:
        self._told: set[str] = set()

    def skipped(self, log: FilteringBoundLogger, event: str, channel: str, reason: str) -> None:
        """Log that a delivery on ``channel`` was skipped, and why."""
        if channel in self._told:
            log.debug(event, reason=reason)
            return
        self._told.add(channel)
        log.warning(event, reason=reason, note="further skips on this channel log at debug")
