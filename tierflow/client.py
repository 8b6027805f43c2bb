"""The thin asyncio client: the one way the CLI, the HTTP API, the demo and the benchmarks
talk to tickets.

Every public method validates its input with the workflow's own models before anything
reaches Temporal, and raises only :class:`TicketError` subclasses (see :mod:`tierflow.errors`):
:class:`InvalidInput` for refused input, :class:`TicketNotFound`, :class:`ActionRejected` with
the domain's own message when the ticket's workflow refused an action (nothing was written
then), :class:`TicketClosed` for a closed ticket, :class:`TemporalUnavailable` when Temporal or
its workers do not answer (:class:`TicketNotReady`, one of them, when the ticket itself cannot
answer now: its workflow task is failing, or a worker cannot replay it), :class:`UnexpectedError`
for anything else.

Opening is idempotent and race-free: the workflow id is derived from the host's ticket id, and
of any number of concurrent opens of one id exactly one answers ``created=True``. A closed
ticket's id is not reused (:class:`TicketClosed`) for as long as the namespace keeps its
history (its retention period); after that, the id is free again.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import (
    WorkflowExecutionDescription,
)
from temporalio.client import (
    WorkflowExecutionStatus as ExecutionStatus,
)
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from tierflow.statemachine import Area, Policy, Ticket, default_policy
from tierflow.workflows import TicketWorkflow
from tierflow.workflows.messages import (
    OpenTicket,
    TimelineEntry,
    TimelinePage,
    TimelineQuery,
)
from tierflow.workflows.outbox.failing import DeliveryView
from tierflow.workflows.state import TicketRun
from tierflow.workflows.visibility import (
    opening_search_attributes,
    static_details,
    static_summary,
)

from ._acting import (
    ACTIONS,
    QUERY_TIMEOUT,
    REQUEST_ID_PATTERN,
    TICKET_ID_PATTERN,
    ActingClient,
    _bounded_int,
    _checked_id,
    _validated,
    workflow_id_for,
)
from ._unready import task_failure
from .errors import (
    ActionForbidden,
    ActionRejected,
    InvalidInput,
    TemporalUnavailable,
    TicketBusy,
    TicketClosed,
    TicketError,
    TicketNotFound,
    TicketNotReady,
    UnexpectedError,
    invalid_input,
    translated,
)
from .listing import (
    TicketFilter,
    TicketSummary,
    _summary_of,
    ticket_filter,
    visibility_query,
)

__all__ = [
    "ACTIONS",
    "REQUEST_ID_PATTERN",
    "TICKET_ID_PATTERN",
    "ActionForbidden",
    "ActionRejected",
    "InvalidInput",
    "OpenedTicket",
    "TemporalUnavailable",
    "TicketBusy",
    "TicketClient",
    "TicketClosed",
    "TicketError",
    "TicketFilter",
    "TicketNotFound",
    "TicketNotReady",
    "TicketSummary",
    "UnexpectedError",
    "visibility_query",
    "workflow_id_for",
]

T = TypeVar("T")


class OpenedTicket(BaseModel):
    """Where an opened ticket lives; ``created`` is False when it was already open."""

    ticket_id: str
    workflow_id: str
    run_id: str
    created: bool


# The timeline, read page by page: at most this many entries per call (the HTTP API's page
# limit is lower), and at most this many runs walked back (each closed run is replayed by a
# worker to answer its query). A run holds up to 2,000 entries or 512 KiB of them.
TIMELINE_MAX = 20_000
TIMELINE_PAGES_MAX = 128
# One call returns at most this much (at least one entry): more is read with ``before``.
TIMELINE_MAX_BYTES = 1024 * 1024
LIST_MAX = 100_000

# Tickets a listing describes at once (its summaries, its workflow-task check).
_DESCRIBE_CONCURRENCY = 32


def _entry_size(entry: TimelineEntry) -> int:
    return len(entry.model_dump_json())


class TicketClient(ActingClient):
    """Open tickets, act on them, read them, list them.

    Every method raises only :class:`TicketError` subclasses; see the module's docstring.

    ``actor`` is who this client acts as: it is the ``actor`` of every action whose payload
    names none, and who opened the tickets it opens. (Whoever reaches the Temporal namespace
    may name anyone; the HTTP API sets it from the caller's credentials.)
    """

    # --- opening ----------------------------------------------------------------------------

    async def open(
        self,
        ticket: Ticket | Mapping[str, Any],
        policy: Policy | None = None,
        *,
        opened_by: str | None = None,
        history_limit: int | None = None,
    ) -> OpenedTicket:
        """Open a ticket; opening a running ticket again returns it with ``created=False``.

        Exactly one of any number of concurrent opens of one id answers ``created=True``.
        A closed ticket's id is not reused: opening it raises :class:`TicketClosed` (open the
        host's follow-up under a new id). The policy (the default one unless given) is
        snapshotted into the ticket now. ``opened_by`` defaults to the client's ``actor``
        (else ``host``).
        """
        try:
            ticket = _validated(Ticket, ticket)
            start = OpenTicket(
                ticket=ticket,
                policy=policy if policy is not None else default_policy(),
                opened_by=opened_by or self.actor or "host",
                history_limit=history_limit,
            )
        except ValidationError as err:
            raise invalid_input(err, "ticket") from None
        workflow_id = workflow_id_for(ticket.id)
        with translated(ticket.id, "opening"):
            try:
                # FAIL + REJECT_DUPLICATE: the server starts at most one run per id, ever
                # (within retention), and tells every other caller it already exists.
                handle = await self.client.start_workflow(
                    TicketWorkflow.run,
                    TicketRun(open=start),
                    id=workflow_id,
                    task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    # The ticket's first attributes, as its first task would set them.
                    search_attributes=opening_search_attributes(
                        start, workflow_id, datetime.now(UTC)
                    ),
                    static_summary=static_summary(ticket),
                    static_details=static_details(ticket),
                )
            except WorkflowAlreadyStartedError:
                # Running (perhaps continued as new: the newest run is the ticket) or closed.
                desc = await self.client.get_workflow_handle(workflow_id).describe()
                if desc.status != ExecutionStatus.RUNNING:
                    raise _closed(ticket.id, desc) from None
                return OpenedTicket(
                    ticket_id=ticket.id, workflow_id=workflow_id, run_id=desc.run_id, created=False
                )
        return OpenedTicket(
            ticket_id=ticket.id,
            workflow_id=workflow_id,
            run_id=handle.result_run_id or "",
            created=True,
        )

    # --- reading ---------------------------------------------------------------------------------

    async def timeline(
        self,
        ticket_id: str,
        *,
        before: int | None = None,
        limit: int | None = None,
        max_bytes: int = TIMELINE_MAX_BYTES,
    ) -> builtins.list[TimelineEntry]:
        """The ticket's audit trail, oldest first: the newest ``limit`` entries (all of them,
        up to :data:`TIMELINE_MAX`, when None) numbered below ``before`` (an entry's ``seq``;
        1 is the first entry ever), at most ``max_bytes`` of them (at least one).

        The next older page is ``before=entries[0].seq``. A ticket that continued as new keeps
        earlier entries in its earlier runs; they are read run by run, at most
        :data:`TIMELINE_PAGES_MAX` answers (of up to 512 KiB) back per call (an empty page:
        nothing earlier reachable).
        """
        ticket_id = _checked_id(ticket_id)
        before = _bounded_int("before", before, 1, None)
        want = _bounded_int("limit", limit, 1, TIMELINE_MAX) or TIMELINE_MAX
        found: dict[int, TimelineEntry] = {}
        run_id: str | None = None
        cursor = before
        for _ in range(TIMELINE_PAGES_MAX):
            page = await self._timeline_page(ticket_id, run_id, cursor)
            for entry in page.entries:
                if before is None or entry.seq < before:
                    found.setdefault(entry.seq, entry)
            if page.entries:
                cursor = page.entries[0].seq
            if len(found) >= want or (cursor is not None and cursor <= 1):
                break
            if sum(_entry_size(e) for e in found.values()) >= max_bytes:
                break
            if page.more_here:
                continue  # the same run holds older entries than one answer carries
            if page.earlier_run_id is None:
                break
            run_id = page.earlier_run_id
        newest: list[TimelineEntry] = []
        size = 0
        for seq in sorted(found, reverse=True)[:want]:
            size += _entry_size(found[seq])
            if newest and size > max_bytes:
                break  # one answer stays small: the caller pages on with ``before``
            newest.append(found[seq])
        return newest[::-1]

    async def _timeline_page(
        self, ticket_id: str, run_id: str | None, before: int | None
    ) -> TimelinePage:
        handle = self.client.get_workflow_handle(workflow_id_for(ticket_id), run_id=run_id)
        page: TimelinePage = await self._read(
            ticket_id,
            "timeline",
            handle.query(
                "timeline_page",
                TimelineQuery(before=before),
                result_type=TimelinePage,
                rpc_timeout=QUERY_TIMEOUT,
            ),
        )
        return page

    async def is_running(self, ticket_id: str) -> bool:
        """Whether the ticket is open (its newest run is running)."""
        ticket_id = _checked_id(ticket_id)
        with translated(ticket_id, "description"):
            try:
                desc = await self._handle(ticket_id).describe()
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
            return desc.status == ExecutionStatus.RUNNING

    # --- deliveries that keep failing --------------------------------------------------------

    async def deliveries(self, ticket_id: str) -> builtins.list[DeliveryView]:
        """The ticket's failing deliveries (retried until their horizon), oldest first."""
        ticket_id = _checked_id(ticket_id)
        found: builtins.list[DeliveryView] = await self._query(
            ticket_id, "deliveries", builtins.list[DeliveryView]
        )
        return found

    # --- listing ---------------------------------------------------------------------------------

    async def list(
        self,
        filters: TicketFilter | Mapping[str, Any] | None = None,
        *,
        limit: int = 100,
        task_queue: str | None = None,
        with_summary: bool = False,
        check_tasks: bool = False,
        within: Area | None = None,
        **fields: Any,
    ) -> builtins.list[TicketSummary]:
        """Tickets matching every given filter (a :class:`TicketFilter`, or its fields as
        keyword arguments: ``state``, ``tier``, ``team``, ``priority``, ``breached``,
        ``customer_status``, ``running_only``, ``delivery_failing``), newest first, from
        Temporal's visibility store (no worker is asked: a ticket that cannot be read is
        listed like any other).

        Visibility is eventually consistent: a change shows up here a moment after the update
        that made it returned. ``task_queue`` narrows to tickets started on one task queue;
        ``with_summary`` also fetches each ticket's one-line summary (one more call each);
        ``check_tasks`` sets ``unreadable`` on each running ticket whose workflow task is
        failing (one more call per running ticket, two when failing); ``within`` lists only
        the tickets of an area (a caller's read scope, :func:`statemachine.readable_area`).
        """
        query = visibility_query(
            ticket_filter(filters, **fields), task_queue=task_queue, within=within
        )
        limit = _bounded_int("limit", limit, 1, LIST_MAX) or LIST_MAX
        found: builtins.list[TicketSummary] = []
        with translated("*", "listing"):
            async for execution in self.client.list_workflows(query, limit=limit):
                found.append(
                    _summary_of(execution.id, execution.status, execution.typed_search_attributes)
                )
            if with_summary or check_tasks:
                gate = asyncio.Semaphore(_DESCRIBE_CONCURRENCY)

                async def details(row: TicketSummary) -> TicketSummary:
                    async with gate:
                        return await self._details(row, with_summary, check_tasks)

                found = await asyncio.gather(*(details(t) for t in found))
        return found

    async def _details(
        self, row: TicketSummary, with_summary: bool, check_tasks: bool
    ) -> TicketSummary:
        """``row`` with the one-line summary the ticket was started with (the UI's list
        column) and why it cannot be read, as asked. A ticket that vanished or cannot be
        described since it was listed keeps its row as listed."""
        check_tasks = check_tasks and row.status == "running"  # a closed one has no task
        if not (with_summary or check_tasks):
            return row
        update: dict[str, str | None] = {}
        desc: WorkflowExecutionDescription | None = None
        try:
            desc = await self._handle(row.ticket_id).describe()
            if with_summary:
                update["summary"] = await desc.static_summary()
        except (RPCError, ValueError):  # gone since listed; a summary no key decodes
            pass
        if check_tasks and desc is not None:
            why = await task_failure(self.client, workflow_id_for(row.ticket_id), desc)
            if why is not None:
                update["unreadable"] = why
        return row.model_copy(update=update) if update else row


def _closed(ticket_id: str, desc: WorkflowExecutionDescription) -> TicketClosed:
    when = f" at {desc.close_time:%Y-%m-%d %H:%M:%S} UTC" if desc.close_time else ""
    return TicketClosed(
        f"ticket {ticket_id!r} closed{when}; a closed ticket's id is not reused: open the "
        "customer's new request under a new id"
    )
