"""A synchronous ticket client for scripts and notebooks.

It runs the asyncio :class:`~tierflow.client.TicketClient` on an event loop of its own, in a
background thread, so that it works the same whether or not the caller already runs a loop
(a Temporal client is bound to the loop it was created on, so one loop serves every call)::

    with SyncTicketClient.connect(actor="ana") as tickets:
        tickets.open(ticket)
        tickets.act("T-1", "assign", {"assignee": "Bob"})  # acts as ``actor``, when given

Like the asyncio client, every call validates its input first and raises only
:class:`~tierflow.errors.TicketError` subclasses; connecting raises
:class:`~tierflow.errors.TemporalUnavailable` when the server cannot be reached.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from pydantic import BaseModel

from tierflow.client import OpenedTicket, TicketClient, TicketSummary
from tierflow.config import TemporalSettings
from tierflow.connect import ServerUnreachableError, connect
from tierflow.errors import InvalidInput, TemporalUnavailable, TicketError
from tierflow.listing import FILTERS
from tierflow.statemachine import Policy, Ticket
from tierflow.workflows.messages import TicketStatus, TimelineEntry
from tierflow.workflows.outbox.failing import DeliveryView, DropDelivery, RetryDeliveries

T = TypeVar("T")
_NOT_NAMED = ("self", "filters", "fields")
# What ``list`` takes: the filters (TicketFilter's fields) and the listing's options.
_FILTERS = [
    *FILTERS,
    *(p for p in inspect.signature(TicketClient.list).parameters if p not in _NOT_NAMED),
]


class SyncTicketClient:
    """Blocking versions of the ticket client's calls; raises the same errors."""

    def __init__(
        self, settings: TemporalSettings | None = None, *, actor: str | None = None
    ) -> None:
        self.settings = settings or TemporalSettings()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tierflow-sync-client", daemon=True
        )
        self._thread.start()
        try:
            client = self._run(connect(self.settings))
        except ServerUnreachableError as err:
            self.close()
            raise TemporalUnavailable(str(err)) from err
        except BaseException:
            self.close()
            raise
        self.tickets = TicketClient(client, self.settings.task_queue, actor=actor)

    @classmethod
    def connect(
        cls, settings: TemporalSettings | None = None, *, actor: str | None = None
    ) -> SyncTicketClient:
        """Connect now (raises TemporalUnavailable with a one-line message); ``actor`` acts in
        every action that names no one (see :class:`TicketClient`)."""
        return cls(settings, actor=actor)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coro.close()
            raise TicketError("the ticket client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def open(
        self, ticket: Ticket | Mapping[str, Any], policy: Policy | None = None
    ) -> OpenedTicket:
        """See :meth:`TicketClient.open`: ``created`` is truthful; a closed id is refused."""
        return self._run(self.tickets.open(ticket, policy))

    def act(
        self, ticket_id: str, action: str, payload: BaseModel | Mapping[str, Any]
    ) -> TicketStatus:
        return self._run(self.tickets.act(ticket_id, action, payload))

    def customer_reply(self, ticket_id: str, message: str = "") -> None:
        self._run(self.tickets.customer_reply(ticket_id, {"message": message}))

    def customer_feedback(self, ticket_id: str, score: int, comment: str = "") -> None:
        """Refused (ActionRejected) unless the ticket is resolved."""
        event = {"score": score, "comment": comment}
        self._run(self.tickets.customer_feedback(ticket_id, event))

    def status(self, ticket_id: str) -> TicketStatus:
        return self._run(self.tickets.status(ticket_id))

    def timeline(
        self, ticket_id: str, *, before: int | None = None, limit: int | None = None
    ) -> list[TimelineEntry]:
        """See :meth:`TicketClient.timeline`."""
        return self._run(self.tickets.timeline(ticket_id, before=before, limit=limit))

    def deliveries(self, ticket_id: str) -> list[DeliveryView]:
        """See :meth:`TicketClient.deliveries`."""
        return self._run(self.tickets.deliveries(ticket_id))

    def retry_deliveries(
        self, ticket_id: str, a: RetryDeliveries | Mapping[str, Any] | None = None
    ) -> list[DeliveryView]:
        """See :meth:`TicketClient.retry_deliveries` (``a`` may be left out when the client
        has an ``actor``)."""
        return self._run(self.tickets.retry_deliveries(ticket_id, a if a is not None else {}))

    def drop_delivery(
        self, ticket_id: str, a: DropDelivery | Mapping[str, Any]
    ) -> list[DeliveryView]:
        """See :meth:`TicketClient.drop_delivery`."""
        return self._run(self.tickets.drop_delivery(ticket_id, a))

    def list(self, **filters: Any) -> list[TicketSummary]:
        """Same filters as :meth:`TicketClient.list`."""
        try:
            listing = self.tickets.list(**filters)
        except TypeError:
            raise InvalidInput(f"unknown filter; known: {', '.join(_FILTERS)}") from None
        return self._run(listing)

    def close(self) -> None:
        """Stop the background loop (idempotent)."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
