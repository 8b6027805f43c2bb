"""The ticket client's errors, and the one place that turns Temporal's and pydantic's
exceptions into them.

Every public call of :class:`~tierflow.client.TicketClient` (and of the sync client) raises only
:class:`TicketError` subclasses, whose ``str()`` is one short line fit for an agent or a host:
it never carries Temporal's raw gRPC text, and never repeats the caller's input (which may be
customer data, and may be megabytes).

=========================  =====================================================  ==========
error                      when                                                   HTTP API
=========================  =====================================================  ==========
:class:`InvalidInput`      a value was refused before anything was sent           400 / 422
:class:`TicketNotFound`    no ticket with that id was ever opened                 404
:class:`ActionRejected`    the ticket's state does not allow the action           409
:class:`TicketClosed`      the ticket is closed (an ``ActionRejected``)           409
:class:`ActionForbidden`   the policy does not let this caller do it (an          403
                           ``ActionRejected``)
:class:`TemporalUnavailable` Temporal, or a worker, did not answer in time        503
:class:`TicketNotReady`    the ticket's workflow cannot answer now: its workflow  503
                           task is failing, or a worker cannot replay it (a
                           ``TemporalUnavailable``: retry later; nothing written)
:class:`UnexpectedError`   anything else (a bug): details are logged, not shown   500
=========================  =====================================================  ==========
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from temporalio.api.errordetails.v1 import WorkflowNotReadyFailure
from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError, RPCStatusCode

# Field errors named in one InvalidInput message, and the length of each error's text.
_ERRORS_SHOWN = 3
_TEXT_MAX = 120


class TicketError(Exception):
    """Base of the client's errors; ``str()`` is a message fit for an agent."""


class InvalidInput(TicketError):  # noqa: N818 (public name other modules code against)
    """The input was refused by the models before anything reached Temporal."""


class TicketNotFound(TicketError):  # noqa: N818 (public name other modules code against)
    """No ticket with that id was ever opened (or its history is past retention)."""


class ActionRejected(TicketError):  # noqa: N818 (public name other modules code against)
    """The ticket refused the action (invalid in its state, unknown tier/team/assignee)."""


class TicketClosed(ActionRejected):
    """The ticket is closed: it takes no more actions or events, and its id is not reused."""


class ActionForbidden(ActionRejected):
    """The ticket's policy does not let this caller (or the person it acts for) do that."""


class TemporalUnavailable(TicketError):  # noqa: N818 (public name other modules code against)
    """Temporal could not be reached, or no worker answered in time; worth retrying."""


class TicketNotReady(TemporalUnavailable):
    """The ticket's workflow cannot answer now, though Temporal and a worker do: its workflow
    task is failing (retried by Temporal: code that no longer replays its history after a
    deploy, a payload no key decodes), or a worker failed replaying it to answer a query (a
    closed ticket's query replays its history). Nothing was written. Retry later; when it
    persists, an operator must fix the worker (docs/operations.md, "A ticket that cannot be read").

    ``reason`` says why in one line, without customer data: it never repeats the workflow's
    own error text, only its kind (e.g. "its workflow task is failing (nondeterminism error,
    attempt 7, since 2026-01-05 10:02:11 UTC)").
    """

    def __init__(self, message: str, *, ticket_id: str, reason: str) -> None:
        super().__init__(message)
        self.ticket_id = ticket_id
        self.reason = reason


class TicketBusy(TemporalUnavailable):
    """The ticket refused a customer event for a moment, before writing anything: its run is
    full and is handing over to a new one. Send the event again after ``retry_after`` seconds
    (HTTP 429 with ``Retry-After``)."""

    retry_after = 1


class UnexpectedError(TicketError):
    """Something Tierflow did not expect; the cause is chained for the logs."""


def short(text: str, limit: int = _TEXT_MAX) -> str:
    """``text`` cut to ``limit`` characters, with anything that is not valid Unicode escaped."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def invalid_input(err: ValidationError, what: str) -> InvalidInput:
    """A one-line InvalidInput naming the first few offending fields, never their values."""
    errors = err.errors(include_url=False, include_input=False, include_context=False)
    parts = [
        f"{'.'.join(short(str(p), 40) for p in e['loc']) or what}: {short(e['msg'])}"
        for e in errors[:_ERRORS_SHOWN]
    ]
    more = len(errors) - _ERRORS_SHOWN
    if more > 0:
        parts.append(f"and {more} more")
    return InvalidInput(f"invalid {what}: {'; '.join(parts)}")


def not_ready(ticket_id: str, reason: str, action: str | None = None) -> TicketNotReady:
    """The one-line TicketNotReady for a read (``action`` None) or an action of the ticket."""
    if action is None:
        message = f"ticket {ticket_id!r} cannot be read now: {reason}; retry later"
    else:
        message = (
            f"ticket {ticket_id!r} cannot take {action!r} now: {reason}; nothing was written; "
            "retry later"
        )
    return TicketNotReady(message, ticket_id=ticket_id, reason=reason)


# What a worker's failed answer to a query says when the ticket's history does not replay on
# its code (Temporal's nondeterminism error code and words).
_NONDETERMINISM = ("TMPRL1100", "nondetermin")
TASK_FAILING = "its workflow task is failing"


def replay_failure_reason(err: WorkflowQueryFailedError) -> str:
    """Why a worker could not answer a query, by kind only (its text may quote anything)."""
    text = err.message.lower()
    if any(mark.lower() in text for mark in _NONDETERMINISM):
        return "a worker cannot replay its history (nondeterminism error)"
    return "a worker failed replaying it or answering the query"


def workflow_not_ready(err: RPCError) -> bool:
    """The server's "workflow task in failed state": an update (or a query) dropped because
    the ticket's workflow task failed; nothing was written."""
    return err.status == RPCStatusCode.FAILED_PRECONDITION and any(
        d.Is(WorkflowNotReadyFailure.DESCRIPTOR) for d in err.grpc_status.details
    )


def update_aborted(err: RPCError) -> bool:
    """The server dropped an update before acceptance because the run it was sent to closed
    (it continued as new meanwhile): nothing was written, and the newest run takes it."""
    return err.status == RPCStatusCode.UNAVAILABLE and "update was aborted" in err.message


# What reads are called in messages (anything else is an action or an event).
_READS = {"status", "timeline", "deliveries", "description", "listing"}

# Statuses that mean "Temporal (or a worker behind it) is not answering now": retry later.
_UNAVAILABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.UNAUTHENTICATED,
    RPCStatusCode.PERMISSION_DENIED,
}


def rpc_error(ticket_id: str, what: str, err: RPCError) -> TicketError:
    """A TicketError for a failed Temporal call, in Tierflow's words (not gRPC's)."""
    status = err.status
    if workflow_not_ready(err):
        return not_ready(ticket_id, TASK_FAILING, None if what in _READS else what)
    if status == RPCStatusCode.NOT_FOUND:
        return TicketNotFound(f"no ticket {ticket_id!r}")
    if status == RPCStatusCode.RESOURCE_EXHAUSTED and "in-flight updates" in err.message:
        # The server takes a few updates per ticket at a time (10 by default): a burst beyond
        # that is refused before anything is written.
        return TicketBusy(
            f"ticket {ticket_id!r} is busy: too many actions and events at once; "
            "send it again in a second"
        )
    if status == RPCStatusCode.RESOURCE_EXHAUSTED and "workflow is closing" in err.message:
        # An update that reaches a run while it hands over (continue-as-new): refused by the
        # server before anything is written; the next run takes it.
        return TicketBusy(
            f"ticket {ticket_id!r} is busy: it is handing over to a new run; "
            "send it again in a second"
        )
    if status in _UNAVAILABLE:
        name = status.name.lower() if status is not None else "unknown"
        return TemporalUnavailable(
            f"Temporal did not answer the {what} of ticket {ticket_id!r} ({name}); try again"
        )
    if status == RPCStatusCode.INVALID_ARGUMENT and "history" in err.message.lower():
        # The run's history, not the request: the request itself is fine.
        return TemporalUnavailable(
            f"ticket {ticket_id!r} cannot take the {what} now: its history is full; try again"
        )
    if status == RPCStatusCode.INVALID_ARGUMENT and "size" in err.message.lower():
        return InvalidInput(f"the {what} of ticket {ticket_id!r} is too large for Temporal")
    return UnexpectedError(f"Temporal refused the {what} of ticket {ticket_id!r}")


@contextmanager
def translated(ticket_id: str, what: str) -> Iterator[None]:
    """Turn whatever a Temporal call raises into a TicketError about ``what`` of the ticket."""
    try:
        yield
    except TicketError:
        raise
    except ValidationError as err:
        raise invalid_input(err, what) from None
    except (PydanticSerializationError, UnicodeError):
        raise InvalidInput(
            f"the {what} of ticket {ticket_id!r} holds text that is not valid Unicode"
        ) from None
    except RPCError as err:
        raise rpc_error(ticket_id, what, err) from err
    except RPCTimeoutOrCancelledError as err:
        raise TemporalUnavailable(
            f"no worker took the {what} of ticket {ticket_id!r} in time; try again"
        ) from err
    except WorkflowQueryFailedError as err:
        raise not_ready(ticket_id, replay_failure_reason(err)) from err
    except WorkflowQueryRejectedError as err:
        raise UnexpectedError(f"the worker could not answer the {what} of {ticket_id!r}") from err
    except Exception as err:
        raise UnexpectedError(
            f"the {what} of ticket {ticket_id!r} failed unexpectedly ({type(err).__name__})"
        ) from err
