"""A structlog logger bound with what identifies one activity attempt.

structlog is never configured here: the worker does that. Outside an activity (a plain unit
test, a script) the Temporal fields are simply absent.
"""

from __future__ import annotations

from typing import cast

import structlog
from structlog.typing import FilteringBoundLogger
from temporalio import activity

__all__ = ["activity_logger"]


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
