"""Telling a ticket whose workflow task is failing from a slow one, in one line.

A ticket's workflow task can fail again and again: code deployed since that no longer replays
its history (a nondeterminism error), a payload no key decodes, a bug. Temporal retries the
task for ever, with a growing backoff. Meanwhile an update is refused at once ("workflow task
in failed state") and a query of the running ticket waits for a task that will not complete,
until it times out. :func:`answer_or_diagnose` runs a read; when it has not answered within
:data:`DIAGNOSE_AFTER`, it asks the server whether the ticket's workflow task is failing
(:func:`task_failure`) and, if so, gives up on the read at once with that reason.

The reason names the failure's kind (Temporal's cause), the attempt and since when: never the
failure's text, which may quote anything the workflow held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC
from typing import TypeVar

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError

from .errors import TASK_FAILING, not_ready, workflow_not_ready

T = TypeVar("T")

# A read that has not answered within this is checked: is the ticket's workflow task failing?
# (A healthy ticket answers a query in milliseconds; the check costs one describe.)
DIAGNOSE_AFTER = 1.0
# Checked again this often while the read still waits (a task may start failing meanwhile).
DIAGNOSE_EVERY = 5.0
# The newest events read, newest first, looking for the failure that started the retries.
_EVENTS_READ = 200

_CAUSE_PREFIX = "WORKFLOW_TASK_FAILED_CAUSE_"
_CAUSES = {
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR: (
        "nondeterminism error"
    ),
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE: (
        "the workflow code raised an error"
    ),
}


def cause_name(cause: int) -> str:
    """Temporal's workflow-task failure cause in words (``nondeterminism error``)."""
    known = _CAUSES.get(cause)  # type: ignore[call-overload]
    if known is not None:
        return str(known)
    try:
        name = WorkflowTaskFailedCause.Name(cause)  # type: ignore[arg-type]
    except ValueError:
        return "failure"
    return name.removeprefix(_CAUSE_PREFIX).lower().replace("_", " ") or "failure"


def _failure_of(event: HistoryEvent) -> str | None:
    """The kind of a workflow-task failure or timeout event, else None."""
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        return cause_name(event.workflow_task_failed_event_attributes.cause)
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        return "timed out"
    return None


async def task_failure(
    client: Client, workflow_id: str, desc: WorkflowExecutionDescription | None = None
) -> str | None:
    """Why the ticket's workflow task keeps failing (one line), or None when it is not (or
    the server cannot say): the newest run is running and its pending workflow task is past
    its first attempt. Two calls: a describe (unless ``desc`` is given), and (only when
    failing) the newest events."""
    try:
        if desc is None:
            desc = await client.get_workflow_handle(workflow_id).describe()
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return None
        raw = desc.raw_description
        if not raw.HasField("pending_workflow_task"):
            return None
        attempt = raw.pending_workflow_task.attempt
        if attempt < 2:  # the first attempt has not failed yet
            return None
        page = await client.workflow_service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=desc.run_id),
                maximum_page_size=_EVENTS_READ,
            )
        )
    except RPCError:
        return None
    for event in page.history.events:
        kind = _failure_of(event)
        if kind is not None:
            since = f"{event.event_time.ToDatetime(tzinfo=UTC):%Y-%m-%d %H:%M:%S} UTC"
            if kind == "timed out":
                # Not a failure of the ticket's code: no worker finished its task in time (none
                # polls the task queue, or the one that had it died or was overloaded).
                return (
                    f"no worker has completed its workflow task (timed out, attempt {attempt}, "
                    f"since {since}): is a worker running on its task queue?"
                )
            return f"{TASK_FAILING} ({kind}, attempt {attempt}, since {since})"
    return f"{TASK_FAILING} (attempt {attempt})"


async def answer_or_diagnose(
    client: Client, ticket_id: str, workflow_id: str, read: Awaitable[T], action: str | None = None
) -> T:
    """``read``'s answer; but :class:`~tierflow.errors.TicketNotReady` with the reason when
    the ticket's workflow task is failing: once the server refuses the read for it (from the
    task's third attempt on), or once the read has waited :data:`DIAGNOSE_AFTER` while it is
    (the read is cancelled then). ``action`` names an update (None: a read)."""
    pending = asyncio.ensure_future(read)
    try:
        wait = DIAGNOSE_AFTER
        while True:
            done, _ = await asyncio.wait({pending}, timeout=wait)
            if done:
                break
            reason = await task_failure(client, workflow_id)
            if reason is not None:
                raise not_ready(ticket_id, reason, action)
            wait = DIAGNOSE_EVERY
        try:
            return pending.result()
        except RPCError as err:
            if not workflow_not_ready(err):
                raise
        reason = await task_failure(client, workflow_id)
        raise not_ready(ticket_id, reason or TASK_FAILING, action) from None
    finally:
        if not pending.done():
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
