"""The thin asyncio client: the one way the CLI, the HTTP API, the demo and the benchmarks
talk to tickets.

Inputs are pydantic models, validated before anything reaches Temporal. Agent actions are
Temporal updates: they return the ticket's new status, or raise :class:`ActionRejected` with the
domain's own message when the ticket's workflow refused them (nothing was written then).
"""

from __future__ import annotations

import asyncio
import builtins
import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.errordetails.v1 import WorkflowNotReadyFailure
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.client import (
    WorkflowExecutionStatus as ExecutionStatus,
)
from temporalio.common import TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from statemachine import CustomerStatus, Policy, Priority, Ticket, default_policy
from workflows import REJECTED, TicketWorkflow
from workflows import search_attributes as sa
from workflows.messages import (
    AddNote,
    Assign,
    Close,
    CustomerFeedback,
    CustomerReply,
    Decide,
    Escalate,
    OpenTicket,
    Reopen,
    RequestEscalation,
    Resolve,
    Respond,
    SetPriority,
    TicketStatus,
    TimelineEntry,
    WaitCustomer,
)
from workflows.state import TicketRun
from workflows.visibility import initial_search_attributes, static_summary

from .config import DEFAULT_TASK_QUEUE

WORKFLOW_ID_PREFIX = "ticket-"

# Each action's update name and input type: the CLI and the HTTP API dispatch through this.
ACTIONS: dict[str, type[BaseModel]] = {
    "assign": Assign,
    "respond": Respond,
    "escalate": Escalate,
    "request_escalation": RequestEscalation,
    "approve": Decide,
    "reject": Decide,
    "set_priority": SetPriority,
    "note": AddNote,
    "wait_customer": WaitCustomer,
    "resolve": Resolve,
    "reopen": Reopen,
    "close": Close,
}


class TicketError(Exception):
    """Base of the client's errors; ``str()`` is a message fit for an agent."""


class ActionRejected(TicketError):  # noqa: N818 (public name other modules code against)
    """The ticket refused the action (invalid in its state, unknown tier/team/assignee)."""


class TicketNotFound(TicketError):  # noqa: N818 (public name other modules code against)
    """No ticket with that id was ever opened."""


class OpenedTicket(BaseModel):
    """Where an opened ticket lives; ``created`` is False when it was already open."""

    ticket_id: str
    workflow_id: str
    run_id: str
    created: bool


_UPDATE_ATTEMPTS = 6


def _workflow_not_ready(err: RPCError) -> bool:
    """The server's answer to an update dropped before acceptance (a failed workflow task)."""
    return err.status == RPCStatusCode.FAILED_PRECONDITION and any(
        d.Is(WorkflowNotReadyFailure.DESCRIPTOR) for d in err.grpc_status.details
    )


def workflow_id_for(ticket_id: str) -> str:
    """The workflow id of a ticket, derived from its id in the host system."""
    return f"{WORKFLOW_ID_PREFIX}{ticket_id}"


class TicketSummary(BaseModel):
    """One ticket as the visibility store lists it (no query, so no worker needed)."""

    ticket_id: str
    state: str | None
    tier: str | None
    team: str | None
    priority: str | None
    breached: bool
    escalations: int
    customer_status: str | None
    sla_due: datetime | None
    status: Literal["running", "closed"]
    summary: str | None = None


# Keyword values go into the query between single quotes. Rather than trust an escaping scheme,
# only plain names are accepted: every tier, team, state and status Tierflow knows matches this.
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")


def _literal(field: str, value: str) -> str:
    if not _SAFE_VALUE.match(value):
        raise TicketError(f"invalid {field} {value!r}: use letters, digits and . _ : / - only")
    return f"'{value}'"


def _choice(field: str, value: str, choices: type[Priority] | type[CustomerStatus]) -> str:
    known = [c.value for c in choices]
    if value not in known:
        raise TicketError(f"unknown {field} {value!r}; known: {', '.join(known)}")
    return f"'{value}'"


def visibility_query(
    *,
    state: str | None = None,
    tier: str | None = None,
    team: str | None = None,
    priority: str | None = None,
    breached: bool | None = None,
    customer_status: str | None = None,
    running_only: bool = False,
    task_queue: str | None = None,
) -> str:
    """The Temporal visibility query for a ticket list; raises TicketError on a bad value."""
    clauses = [
        "WorkflowType = 'Ticket'",
        # Each continue-as-new leaves a finished run behind; only the newest run is the ticket.
        "ExecutionStatus != 'ContinuedAsNew'",
    ]
    if state is not None:
        clauses.append(f"{sa.TICKET_STATE.name} = {_literal('state', state)}")
    if tier is not None:
        clauses.append(f"{sa.TICKET_TIER.name} = {_literal('tier', tier)}")
    if team is not None:
        clauses.append(f"{sa.TICKET_TEAM.name} = {_literal('team', team)}")
    if priority is not None:
        clauses.append(f"{sa.TICKET_PRIORITY.name} = {_choice('priority', priority, Priority)}")
    if breached is not None:
        clauses.append(f"{sa.TICKET_SLA_BREACHED.name} = {'true' if breached else 'false'}")
    if customer_status is not None:
        value = _choice("customer status", customer_status, CustomerStatus)
        clauses.append(f"{sa.TICKET_CUSTOMER_STATUS.name} = {value}")
    if running_only:
        clauses.append("ExecutionStatus = 'Running'")
    if task_queue is not None:
        clauses.append(f"TaskQueue = {_literal('task queue', task_queue)}")
    return " AND ".join(clauses)


class TicketClient:
    """Open tickets, act on them, read them, list them."""

    def __init__(self, client: Client, task_queue: str = DEFAULT_TASK_QUEUE) -> None:
        self.client = client
        self.task_queue = task_queue

    # --- opening ----------------------------------------------------------------------------

    async def open(
        self,
        ticket: Ticket | dict[str, Any],
        policy: Policy | None = None,
        *,
        opened_by: str = "host",
        history_limit: int | None = None,
    ) -> OpenedTicket:
        """Open a ticket; opening the same ticket again returns the one already running.

        The policy (the default one unless given) is snapshotted into the ticket now.
        """
        ticket = ticket if isinstance(ticket, Ticket) else Ticket.model_validate(ticket)
        start = OpenTicket(
            ticket=ticket,
            policy=policy or default_policy(),
            opened_by=opened_by,
            history_limit=history_limit,
        )
        workflow_id = workflow_id_for(ticket.id)
        if await self._running_run(workflow_id) is not None:
            existing = self.client.get_workflow_handle(workflow_id)
            desc = await existing.describe()
            return OpenedTicket(
                ticket_id=ticket.id, workflow_id=workflow_id, run_id=desc.run_id, created=False
            )
        # USE_EXISTING also covers a concurrent open that won the race: it returns that run.
        handle = await self.client.start_workflow(
            TicketWorkflow.run,
            TicketRun(open=start),
            id=workflow_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=initial_search_attributes(ticket),
            static_summary=static_summary(ticket),
            static_details=f"Customer {ticket.customer.name} ({ticket.customer.status}), "
            f"via {ticket.channel}",
        )
        return OpenedTicket(
            ticket_id=ticket.id,
            workflow_id=workflow_id,
            run_id=handle.result_run_id or "",
            created=True,
        )

    async def _running_run(self, workflow_id: str) -> str | None:
        """The run id of the ticket's running workflow, if one is running."""
        try:
            desc = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        running = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
        return (
            desc.run_id if desc.raw_description.workflow_execution_info.status == running else None
        )

    # --- actions ---------------------------------------------------------------------------------

    async def act(
        self, ticket_id: str, action: str, payload: BaseModel | dict[str, Any]
    ) -> TicketStatus:
        """Run an agent or supervisor action by name (see :data:`ACTIONS`)."""
        model = ACTIONS.get(action)
        if model is None:
            raise TicketError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
        message = payload if isinstance(payload, model) else model.model_validate(payload)
        handle = self._handle(ticket_id)
        try:
            status: TicketStatus = await self._update(handle, action, message)
            return status
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == REJECTED:
                raise ActionRejected(cause.message) from None
            raise TicketError(f"{action} failed: {cause}") from err
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND and await self._exists(ticket_id):
                raise ActionRejected(
                    f"cannot {action!r} ticket {ticket_id!r}: it is closed"
                ) from None
            raise self._rpc_error(ticket_id, err) from None

    @staticmethod
    async def _update(handle: WorkflowHandle[Any, Any], action: str, message: BaseModel) -> Any:
        """Run an update, again when the server dropped it unaccepted.

        When the workflow task that was to accept an update fails (for instance because a
        signal arrived while the ticket continued as new, which the server answers by failing
        the task and handing it back), the server drops the update before acceptance and tells
        the caller "workflow not ready". Nothing was written then, so sending it again (same
        update id) is safe.
        """
        update_id = str(uuid.uuid4())
        for attempt in range(_UPDATE_ATTEMPTS):
            try:
                return await handle.execute_update(
                    action, message, id=update_id, result_type=TicketStatus
                )
            except RPCError as err:
                if not _workflow_not_ready(err) or attempt == _UPDATE_ATTEMPTS - 1:
                    raise
            await asyncio.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    async def assign(self, ticket_id: str, a: Assign) -> TicketStatus:
        return await self.act(ticket_id, "assign", a)

    async def respond(self, ticket_id: str, a: Respond) -> TicketStatus:
        return await self.act(ticket_id, "respond", a)

    async def escalate(self, ticket_id: str, a: Escalate) -> TicketStatus:
        return await self.act(ticket_id, "escalate", a)

    async def request_escalation(self, ticket_id: str, a: RequestEscalation) -> TicketStatus:
        return await self.act(ticket_id, "request_escalation", a)

    async def approve(self, ticket_id: str, a: Decide) -> TicketStatus:
        return await self.act(ticket_id, "approve", a)

    async def reject(self, ticket_id: str, a: Decide) -> TicketStatus:
        return await self.act(ticket_id, "reject", a)

    async def set_priority(self, ticket_id: str, a: SetPriority) -> TicketStatus:
        return await self.act(ticket_id, "set_priority", a)

    async def note(self, ticket_id: str, a: AddNote) -> TicketStatus:
        return await self.act(ticket_id, "note", a)

    async def wait_customer(self, ticket_id: str, a: WaitCustomer) -> TicketStatus:
        return await self.act(ticket_id, "wait_customer", a)

    async def resolve(self, ticket_id: str, a: Resolve) -> TicketStatus:
        return await self.act(ticket_id, "resolve", a)

    async def reopen(self, ticket_id: str, a: Reopen) -> TicketStatus:
        return await self.act(ticket_id, "reopen", a)

    async def close(self, ticket_id: str, a: Close) -> TicketStatus:
        return await self.act(ticket_id, "close", a)

    # --- customer events -------------------------------------------------------------------------

    async def customer_reply(self, ticket_id: str, e: CustomerReply) -> None:
        await self._signal(ticket_id, "customer_reply", e)

    async def customer_feedback(self, ticket_id: str, e: CustomerFeedback) -> None:
        await self._signal(ticket_id, "customer_feedback", e)

    async def _signal(self, ticket_id: str, name: str, event: BaseModel) -> None:
        try:
            await self._handle(ticket_id).signal(name, event)
        except RPCError as err:
            raise self._rpc_error(ticket_id, err) from None

    # --- reading ---------------------------------------------------------------------------------

    async def status(self, ticket_id: str) -> TicketStatus:
        status: TicketStatus = await self._query(ticket_id, "status", TicketStatus)
        return status

    async def timeline(self, ticket_id: str) -> list[TimelineEntry]:
        entries: list[TimelineEntry] = await self._query(ticket_id, "timeline", list[TimelineEntry])
        return entries

    async def _query(self, ticket_id: str, name: str, result_type: Any) -> Any:
        try:
            return await self._handle(ticket_id).query(name, result_type=result_type)
        except RPCError as err:
            raise self._rpc_error(ticket_id, err) from None

    async def _exists(self, ticket_id: str) -> bool:
        try:
            await self._handle(ticket_id).describe()
        except RPCError:
            return False
        return True

    async def is_running(self, ticket_id: str) -> bool:
        return await self._running_run(workflow_id_for(ticket_id)) is not None

    # --- listing ---------------------------------------------------------------------------------

    async def list(
        self,
        *,
        state: str | None = None,
        tier: str | None = None,
        team: str | None = None,
        priority: str | None = None,
        breached: bool | None = None,
        customer_status: str | None = None,
        running_only: bool = False,
        limit: int = 100,
        task_queue: str | None = None,
        with_summary: bool = False,
    ) -> builtins.list[TicketSummary]:
        """Tickets matching every given filter, newest first, from Temporal's visibility store.

        Visibility is eventually consistent: a change shows up here a moment after the update
        that made it returned. ``task_queue`` narrows to tickets started on one task queue;
        ``with_summary`` also fetches each ticket's one-line summary (one more call each).
        """
        query = visibility_query(
            state=state,
            tier=tier,
            team=team,
            priority=priority,
            breached=breached,
            customer_status=customer_status,
            running_only=running_only,
            task_queue=task_queue,
        )
        found: builtins.list[TicketSummary] = []
        try:
            async for execution in self.client.list_workflows(query, limit=limit):
                found.append(
                    _summary_of(execution.id, execution.status, execution.typed_search_attributes)
                )
            if with_summary:
                lines = await asyncio.gather(*(self._static_summary(t.ticket_id) for t in found))
                found = [
                    t.model_copy(update={"summary": line})
                    for t, line in zip(found, lines, strict=True)
                ]
        except RPCError as err:
            raise TicketError(f"listing tickets failed: {err.message}") from None
        return found

    async def _static_summary(self, ticket_id: str) -> str | None:
        """The one-line summary the ticket was started with (the UI's list column)."""
        desc = await self._handle(ticket_id).describe()
        return await desc.static_summary()

    # --- helpers ---------------------------------------------------------------------------------

    def _handle(self, ticket_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(workflow_id_for(ticket_id))

    @staticmethod
    def _rpc_error(ticket_id: str, err: RPCError) -> TicketError:
        if err.status == RPCStatusCode.NOT_FOUND:
            return TicketNotFound(f"no ticket {ticket_id!r}")
        return TicketError(f"ticket {ticket_id!r}: {err.message}")


def _summary_of(
    workflow_id: str, status: ExecutionStatus | None, attrs: TypedSearchAttributes
) -> TicketSummary:
    due = attrs.get(sa.TICKET_SLA_DUE)
    return TicketSummary(
        ticket_id=workflow_id.removeprefix(WORKFLOW_ID_PREFIX),
        state=attrs.get(sa.TICKET_STATE),
        tier=attrs.get(sa.TICKET_TIER),
        team=attrs.get(sa.TICKET_TEAM),
        priority=attrs.get(sa.TICKET_PRIORITY),
        breached=bool(attrs.get(sa.TICKET_SLA_BREACHED)),
        escalations=attrs.get(sa.TICKET_ESCALATIONS) or 0,
        customer_status=attrs.get(sa.TICKET_CUSTOMER_STATUS),
        sla_due=due,
        status="running" if status == ExecutionStatus.RUNNING else "closed",
    )
