"""Acting on tickets: the actions of the registry (``workflows/actions.py``) and customer
events, sent as the ticket workflow's updates, with the workflow's refusals turned into the
client's errors. :class:`tierflow.client.TicketClient` is this plus opening, reading and
listing; use that.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from tierflow.statemachine import Ticket
from tierflow.workflows import BUSY, FORBIDDEN, REJECTED
from tierflow.workflows.actions import ACTION_SPECS, TICKET_ACTIONS
from tierflow.workflows.messages import (
    AddNote,
    Assign,
    Close,
    CustomerFeedback,
    CustomerReply,
    Decide,
    Escalate,
    Reopen,
    RequestEscalation,
    Resolve,
    Respond,
    SetPriority,
    TicketStatus,
    WaitCustomer,
)
from tierflow.workflows.outbox.failing import DeliveryView, DropDelivery, RetryDeliveries

from ._unready import answer_or_diagnose, task_failure
from .config import DEFAULT_TASK_QUEUE
from .errors import (
    TASK_FAILING,
    ActionForbidden,
    ActionRejected,
    InvalidInput,
    TicketBusy,
    TicketClosed,
    UnexpectedError,
    invalid_input,
    not_ready,
    translated,
    update_aborted,
    workflow_not_ready,
)
from .listing import (
    WORKFLOW_ID_PREFIX,
)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# The workflow's refusals (ApplicationError types) and the error each becomes: the ticket's
# state does not allow the action, or its policy does not let this caller take it.
_REFUSALS: dict[str, type[ActionRejected]] = {REJECTED: ActionRejected, FORBIDDEN: ActionForbidden}
# How the SDK's workflow refuses an update it has no handler for (a worker from before the
# update existed).
_UNKNOWN_UPDATE = "expected but not found"
# A caller's request id (the HTTP API's Idempotency-Key): printable ASCII, no spaces.
REQUEST_ID_PATTERN = r"^[!-~]{1,128}$"


def _update_id(name: str, request_id: str | None) -> str:
    """The update id of one request: the caller's id (scoped to the action, so that one id
    reused for another action is not taken for a resend), else a fresh one. Kept across the
    client's own resends, so that the ticket applies the request once."""
    if request_id is None:
        return str(uuid.uuid4())
    if not re.fullmatch(REQUEST_ID_PATTERN, request_id):
        raise InvalidInput("invalid request id: 1 to 128 printable ASCII characters, no spaces")
    return f"{name}:{request_id}"


# Pauses (seconds) before asking a busy ticket again: about 1.5 s in all, then TicketBusy.
_BUSY_PAUSES = (0.1, 0.2, 0.4, 0.8)


async def _asking_again_while_busy(send: Callable[[], Awaitable[T]]) -> T:
    """``send()``'s answer; while the ticket answers TicketBusy (nothing written, same update
    id), sent again after each of :data:`_BUSY_PAUSES`, then the TicketBusy is the caller's."""
    for pause in _BUSY_PAUSES:
        try:
            return await send()
        except TicketBusy:
            await asyncio.sleep(pause)
    return await send()


# Each ticket action's update name and input type (the registry's, workflows/actions.py):
# :meth:`TicketClient.act` runs these by name.
ACTIONS: dict[str, type[BaseModel]] = {name: a.message for name, a in TICKET_ACTIONS.items()}


def _ticket_id_pattern() -> str:
    """The pattern a ticket id must match: the one the Ticket model enforces."""
    for constraint in Ticket.model_fields["id"].metadata:
        pattern = getattr(constraint, "pattern", None)
        if isinstance(pattern, str):
            return pattern
    raise RuntimeError("Ticket.id has no pattern")  # pragma: no cover (a programming error)


TICKET_ID_PATTERN = _ticket_id_pattern()
_TICKET_ID = TypeAdapter(Annotated[str, StringConstraints(strict=True, pattern=TICKET_ID_PATTERN)])

_UPDATE_ATTEMPTS = 6
# A query (read-only) that no worker answers within this is TemporalUnavailable, not a hang.
# Updates have no such bound: one that timed out might still be applied later.
QUERY_TIMEOUT = timedelta(seconds=30)


def workflow_id_for(ticket_id: str) -> str:
    """The workflow id of a ticket, derived from its id in the host system."""
    return f"{WORKFLOW_ID_PREFIX}{ticket_id}"


class ActingClient:
    """The part of :class:`~tierflow.client.TicketClient` that acts on tickets."""

    def __init__(
        self, client: Client, task_queue: str = DEFAULT_TASK_QUEUE, *, actor: str | None = None
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.actor = actor

    # --- actions ---------------------------------------------------------------------------------

    async def act(
        self,
        ticket_id: str,
        action: str,
        payload: BaseModel | Mapping[str, Any],
        *,
        request_id: str | None = None,
    ) -> TicketStatus:
        """Run an agent or supervisor action by name (see :data:`ACTIONS`); a payload that
        names no ``actor`` acts as the client's.

        ``request_id`` (the HTTP API's ``Idempotency-Key``) makes a resend safe: the same
        action with the same id is applied once, whatever happened to the first answer."""
        ticket_id = _checked_id(ticket_id)
        model = ACTIONS.get(action) if isinstance(action, str) else None
        if model is None:
            raise InvalidInput(f"unknown action; known: {', '.join(ACTIONS)}")
        status: TicketStatus = await self._agent_update(
            ticket_id,
            action,
            model,
            payload,
            TicketStatus,
            what=f"{action} action",
            request_id=request_id,
        )
        return status

    async def _agent_update(
        self,
        ticket_id: str,
        name: str,
        model: type[BaseModel],
        payload: object,
        result_type: Any,
        *,
        what: str,
        request_id: str | None = None,
    ) -> Any:
        """Validate ``payload`` as ``model`` (acting as the client's actor when it names none),
        run update ``name`` and turn its refusals into the client's errors."""
        if isinstance(payload, Mapping) and payload.get("actor") is None and self.actor:
            payload = {**payload, "actor": self.actor}
        message = _validated(model, payload, what=what)
        update_id = _update_id(name, request_id)
        return await _asking_again_while_busy(
            lambda: self._agent_update_once(ticket_id, name, message, result_type, update_id)
        )

    async def _agent_update_once(
        self, ticket_id: str, name: str, message: BaseModel, result_type: Any, update_id: str
    ) -> Any:
        with translated(ticket_id, name):
            try:
                return await self._update(
                    self._handle(ticket_id), name, message, result_type, update_id
                )
            except WorkflowUpdateFailedError as err:
                cause = err.cause
                if isinstance(cause, ApplicationError):
                    if cause.type == BUSY:
                        raise TicketBusy(f"ticket {ticket_id!r} is busy: {cause.message}") from None
                    refusal = _REFUSALS.get(cause.type or "")
                    if refusal is not None:
                        raise refusal(cause.message) from None
                raise UnexpectedError(f"{name} on ticket {ticket_id!r} failed") from err
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND and await self._exists(ticket_id):
                    raise TicketClosed(
                        f"cannot {name!r} ticket {ticket_id!r}: it is closed"
                    ) from None
                if workflow_not_ready(err):
                    why = await task_failure(self.client, workflow_id_for(ticket_id))
                    raise not_ready(ticket_id, why or TASK_FAILING, name) from None
                raise

    @staticmethod
    async def _update(
        handle: WorkflowHandle[Any, Any],
        action: str,
        message: BaseModel,
        result_type: Any,
        update_id: str,
    ) -> Any:
        """Run an update, again when the server dropped it unaccepted.

        When the workflow task that was to accept an update fails (for instance because a
        signal arrived while the ticket continued as new, which the server answers by failing
        the task and handing it back), the server drops the update before acceptance and tells
        the caller "workflow not ready". So it does when the run the update was sent to
        continues as new before accepting it ("workflow update was aborted"). Nothing was
        written then, so sending it again (same update id) is safe. The ticket remembers the
        ids of the updates it applied lately, across runs, and applies none twice.
        """
        for attempt in range(_UPDATE_ATTEMPTS):
            try:
                return await handle.execute_update(
                    action, message, id=update_id, result_type=result_type
                )
            except RPCError as err:
                again = workflow_not_ready(err) or update_aborted(err)
                if not again or attempt == _UPDATE_ATTEMPTS - 1:
                    raise
            await asyncio.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    async def assign(self, ticket_id: str, a: Assign | Mapping[str, Any]) -> TicketStatus:
        return await self.act(ticket_id, "assign", a)

    async def respond(self, ticket_id: str, a: Respond | Mapping[str, Any]) -> TicketStatus:
        return await self.act(ticket_id, "respond", a)

    async def escalate(self, ticket_id: str, a: Escalate | Mapping[str, Any]) -> TicketStatus:
        return await self.act(ticket_id, "escalate", a)

    async def request_escalation(
        self, ticket_id: str, a: RequestEscalation | Mapping[str, Any]
    ) -> TicketStatus:
        return await self.act(ticket_id, "request_escalation", a)

    async def approve(self, ticket_id: str, a: Decide | Mapping[str, Any]) -> TicketStatus:
        return await self.act(ticket_id, "approve", a)

    async def reject(self, ticket_id: str, a: Decide | Mapping[str, Any]) -> TicketStatus:
        return await self.act(ticket_id, "reject", a)

    async def set_priority(
        self, ticket_id: str, a: SetPriority | Mapping[str, Any]
    ) -> TicketStatus:
        return await self.act(ticket_id, "set_priority", a)

    async def note(self, ticket_id: str, a: AddNote | Mapping[str, Any]) -> TicketStatus:
        return await self.act(ticket_id, "note", a)

    async def wait_customer(
        self, ticket_id: str, a: WaitCustomer | Mapping[str, Any]
    ) -> TicketStatus:
        return await self.act(ticket_id, "wait_customer", a)

    async def resolve(self, ticket_id: str, a: Resolve | Mapping[str, Any]) -> TicketStatus:
        return await self.act(ticket_id, "resolve", a)

    async def reopen(self, ticket_id: str, a: Reopen | Mapping[str, Any]) -> TicketStatus:
        return await self.act(ticket_id, "reopen", a)

    async def close(self, ticket_id: str, a: Close | Mapping[str, Any]) -> TicketStatus:
        return await self.act(ticket_id, "close", a)

    # --- customer events -------------------------------------------------------------------------

    async def customer_reply(
        self,
        ticket_id: str,
        e: CustomerReply | Mapping[str, Any],
        *,
        request_id: str | None = None,
    ) -> None:
        """The customer wrote back (it resumes a waiting ticket, reopens a resolved one).

        Refused with :class:`TicketClosed` on a closed ticket, and for a moment with
        :class:`TicketBusy` (send it again after ``retry_after`` seconds) while the ticket
        hands over to a new run: nothing is written then. ``request_id`` makes a resend
        safe (see :meth:`act`)."""
        ticket_id = _checked_id(ticket_id)
        event = _validated(CustomerReply, e, what="customer reply")
        if not await self._customer_event(ticket_id, "customer_reply", event, request_id):
            await self._signal(ticket_id, "customer_reply", event)

    async def customer_feedback(
        self,
        ticket_id: str,
        e: CustomerFeedback | Mapping[str, Any],
        *,
        request_id: str | None = None,
    ) -> None:
        """The customer's survey answer. Feedback counts once the ticket is resolved: for a
        ticket in any other state it is refused with :class:`ActionRejected`."""
        ticket_id = _checked_id(ticket_id)
        event = _validated(CustomerFeedback, e, what="customer feedback")
        if await self._customer_event(ticket_id, "customer_feedback", event, request_id):
            return
        # A worker from before customer events were updates: check, then signal.
        status = await self.status(ticket_id)
        if status.state == "closed":
            raise TicketClosed(f"ticket {ticket_id!r} is closed; feedback no longer counts")
        if status.state != "resolved":
            raise ActionRejected(
                f"feedback counts once the ticket is resolved; ticket {ticket_id!r} is "
                f"{status.state}"
            )
        await self._signal(ticket_id, "customer_feedback", event)

    async def _customer_event(
        self, ticket_id: str, name: str, event: BaseModel, request_id: str | None = None
    ) -> bool:
        """Send a customer event as the ticket's update ``name``; False when the ticket's
        worker predates that update (the caller signals instead). A ticket busy handing over
        to a new run (usually a fraction of a second) is asked again a few times before
        :class:`TicketBusy` reaches the caller."""
        update_id = _update_id(name, request_id)
        return await _asking_again_while_busy(
            lambda: self._customer_event_once(ticket_id, name, event, update_id)
        )

    async def _customer_event_once(
        self, ticket_id: str, name: str, event: BaseModel, update_id: str
    ) -> bool:
        with translated(ticket_id, name.replace("_", " ")):
            try:
                await self._update(self._handle(ticket_id), name, event, None, update_id)
            except WorkflowUpdateFailedError as err:
                cause = err.cause
                if not isinstance(cause, ApplicationError):
                    raise UnexpectedError(f"{name} on ticket {ticket_id!r} failed") from err
                if cause.type == BUSY:
                    raise TicketBusy(f"ticket {ticket_id!r} is busy: {cause.message}") from None
                if cause.type == REJECTED and "closed" in cause.message:
                    raise TicketClosed(f"ticket {ticket_id!r} is closed") from None
                refusal = _REFUSALS.get(cause.type or "")
                if refusal is not None:
                    raise refusal(cause.message) from None
                if _UNKNOWN_UPDATE in cause.message:
                    return False
                raise UnexpectedError(f"{name} on ticket {ticket_id!r} failed") from err
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND and await self._exists(ticket_id):
                    raise TicketClosed(f"ticket {ticket_id!r} is closed") from None
                raise
        return True

    async def _signal(self, ticket_id: str, name: str, event: BaseModel) -> None:
        with translated(ticket_id, name.replace("_", " ")):
            try:
                await self._handle(ticket_id).signal(name, event)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND and await self._exists(ticket_id):
                    raise TicketClosed(f"ticket {ticket_id!r} is closed") from None
                raise

    # --- the status, which actions answer too ----------------------------------------------

    async def status(self, ticket_id: str) -> TicketStatus:
        """The ticket now (closed tickets answer too, while a worker runs)."""
        ticket_id = _checked_id(ticket_id)
        status: TicketStatus = await self._query(ticket_id, "status", TicketStatus)
        return status

    async def _query(self, ticket_id: str, name: str, result_type: Any) -> Any:
        return await self._read(
            ticket_id,
            name,
            self._handle(ticket_id).query(name, result_type=result_type, rpc_timeout=QUERY_TIMEOUT),
        )

    async def _read(self, ticket_id: str, what: str, query: Awaitable[T]) -> T:
        """A query's answer, in the client's errors: :class:`TicketNotReady` (with the reason)
        for a ticket whose workflow task is failing, or that a worker cannot replay."""
        with translated(ticket_id, what):
            return await answer_or_diagnose(
                self.client, ticket_id, workflow_id_for(ticket_id), query
            )

    async def _exists(self, ticket_id: str) -> bool:
        try:
            await self._handle(ticket_id).describe()
        except RPCError:
            return False
        return True

    async def retry_deliveries(
        self, ticket_id: str, a: RetryDeliveries | Mapping[str, Any]
    ) -> builtins.list[DeliveryView]:
        """Retry the ticket's failing deliveries now; answers the list as it was."""
        return await self.delivery_action(ticket_id, "retry_deliveries", a)

    async def drop_delivery(
        self, ticket_id: str, a: DropDelivery | Mapping[str, Any]
    ) -> builtins.list[DeliveryView]:
        """Give up one failing delivery (a final failure on the timeline); answers the rest."""
        return await self.delivery_action(ticket_id, "drop_delivery", a)

    async def delivery_action(
        self,
        ticket_id: str,
        action: str,
        payload: BaseModel | Mapping[str, Any],
        *,
        request_id: str | None = None,
    ) -> builtins.list[DeliveryView]:
        """Run a delivery action by name (``retry_deliveries``, ``drop_delivery``); answers
        the deliveries still failing. ``request_id`` as for :meth:`act`."""
        spec = ACTION_SPECS.get(action) if isinstance(action, str) else None
        if spec is None or spec.answers != "deliveries":
            known = [n for n, s in ACTION_SPECS.items() if s.answers == "deliveries"]
            raise InvalidInput(f"unknown delivery action; known: {', '.join(known)}")
        found: builtins.list[DeliveryView] = await self._agent_update(
            _checked_id(ticket_id),
            action,
            spec.message,
            payload,
            builtins.list[DeliveryView],
            what=action.replace("_", " "),
            request_id=request_id,
        )
        return found

    def _handle(self, ticket_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(workflow_id_for(ticket_id))


def _validated(model: type[M], value: object, what: str | None = None) -> M:
    """``value`` as ``model`` (validated even when it already is one: models are frozen, but a
    caller may have built one with ``model_construct``)."""
    try:
        if isinstance(value, model):
            value = value.model_dump()
        return model.model_validate(value)
    except ValidationError as err:
        raise invalid_input(err, what or model.__name__) from None


def _checked_id(ticket_id: object) -> str:
    try:
        return _TICKET_ID.validate_python(ticket_id)
    except ValidationError:
        raise InvalidInput(
            "invalid ticket id: 1 to 128 letters, digits and . _ : - (starting with a letter or "
            "digit)"
        ) from None


def _bounded_int(name: str, value: object, low: int, high: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InvalidInput(f"{name} must be {bounds}")
    return value
