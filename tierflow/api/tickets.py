"""The ticket routes: open a ticket, read it, list tickets, relay a customer's events, and
say who the caller is. The actions' routes are in :mod:`tierflow.api.actions`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from tierflow._guards import StrictJSONRoute
from tierflow.access import listing_area, opening_allowed
from tierflow.client import OpenedTicket, TicketSummary
from tierflow.listing import FILTERS, TicketFilter
from tierflow.statemachine import Policy, Ticket
from tierflow.workflows.messages import (
    CustomerFeedback,
    CustomerReply,
    TicketStatus,
    TimelineEntry,
)

from ._common import (
    ANONYMOUS,
    BUSY,
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    Caller,
    IdempotencyKey,
    TicketId,
    Tickets,
    errors,
    may_read,
)

router = APIRouter(route_class=StrictJSONRoute)


class ReplyEvent(CustomerReply):
    """The customer replied (the workflow's own, bounded, CustomerReply)."""

    type: Literal["reply"]


class FeedbackEvent(CustomerFeedback):
    """The customer answered the follow-up survey; it counts once the ticket is resolved."""

    type: Literal["feedback"]


CustomerEvent = Annotated[ReplyEvent | FeedbackEvent, Field(discriminator="type")]


class Accepted(BaseModel):
    accepted: bool = True


class Me(BaseModel):
    """Who the API takes the caller for."""

    authenticated: bool = Field(description="false only when the API runs without auth")
    name: str = Field(description="who acts: recorded on the timeline")
    roles: list[str] = Field(description="roles the credential carries (the policy decides)")
    service: bool = Field(description="a service, which may act on behalf of people")


class TicketListing(TicketFilter):
    """A listing's query parameters: the filters, and how much to list."""

    # Query parameters the API does not know are ignored, as they always were.
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(100, ge=1, le=1000)
    check_tasks: bool = Field(
        False,
        description="also check each running ticket's workflow task: `unreadable` says why one "
        "that is failing cannot be read now (one more call per running ticket)",
    )


@router.post(
    "/tickets",
    response_model=OpenedTicket,
    status_code=201,
    responses={
        200: {"model": OpenedTicket, "description": "already open: the running ticket"},
        **errors(e409="the ticket with that id is closed; its id is not reused"),
    },
)
async def open_ticket(
    ticket: Ticket, response: Response, tickets: Tickets, caller: Caller, request: Request
) -> OpenedTicket:
    """Open a ticket: 201 when created, 200 when it is already open (idempotent: of
    concurrent opens of one id exactly one answers 201), 409 when that ticket is closed (a
    closed ticket's id is not reused; open the new request under a new id). The caller is
    recorded as who opened it; 403 unless the API's policy names it (a person, or a
    service it lists)."""
    policy: Policy = request.app.state.policy
    if caller is not None:
        opening_allowed(policy, caller)
    opened = await tickets.open(ticket, policy, opened_by=caller.name if caller else ANONYMOUS)
    if not opened.created:
        response.status_code = status.HTTP_200_OK
    return opened


@router.get("/me", response_model=Me)
async def me(caller: Caller) -> Me:
    """Who the credential names: the name actions are recorded under, its roles, and
    whether it is a service."""
    if caller is None:
        return Me(authenticated=False, name=ANONYMOUS, roles=[], service=False)
    return Me(
        authenticated=True, name=caller.name, roles=list(caller.roles), service=caller.service
    )


@router.get("/tickets", response_model=list[TicketSummary], responses=FORBIDDEN)
async def list_tickets(
    tickets: Tickets,
    caller: Caller,
    request: Request,
    listing: Annotated[TicketListing, Query()],
) -> list[TicketSummary]:
    """Tickets matching every filter given (eventually consistent; newest first), from
    Temporal's visibility store: no worker is asked, so a ticket that cannot be read is
    listed like any other (``check_tasks`` names those whose workflow task is failing).
    Only tickets of the tiers and teams the caller reads are listed (the query says so);
    403 for a caller the API's policy names nowhere."""
    within = listing_area(request.app.state.policy, caller) if caller is not None else None
    filters = TicketFilter.model_validate(listing.model_dump(include=set(FILTERS)))
    return await tickets.list(
        filters, within=within, limit=listing.limit, check_tasks=listing.check_tasks
    )


@router.get(
    "/tickets/{ticket_id}",
    response_model=TicketStatus,
    responses={**NOT_FOUND, **FORBIDDEN},
)
async def show(
    ticket_id: TicketId, tickets: Tickets, caller: Caller, request: Request
) -> TicketStatus:
    """The ticket now (503 when it cannot be read now: its workflow task is failing, or a
    worker cannot replay it; the answer says why; 403 when the caller may not read it)."""
    status = await may_read(request, ticket_id, caller)
    return status or await tickets.status(ticket_id)


@router.get(
    "/tickets/{ticket_id}/timeline",
    response_model=list[TimelineEntry],
    responses={**NOT_FOUND, **FORBIDDEN},
)
async def timeline(
    ticket_id: TicketId,
    tickets: Tickets,
    caller: Caller,
    request: Request,
    before: Annotated[
        int | None, Query(ge=1, le=2**53, description="only entries with a lower seq")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TimelineEntry]:
    """A page of the ticket's audit trail, oldest first: the newest ``limit`` entries
    (below ``before``, when given). Each entry's ``seq`` numbers it over the ticket's life
    (1 is the first); the next older page is ``?before=<seq of this page's first entry>``,
    and an empty page means there is nothing earlier."""
    await may_read(request, ticket_id, caller)
    return await tickets.timeline(ticket_id, before=before, limit=limit)


@router.post(
    "/tickets/{ticket_id}/events",
    response_model=Accepted,
    status_code=202,
    responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT, **BUSY},
)
async def event(
    ticket_id: TicketId,
    body: CustomerEvent,
    tickets: Tickets,
    caller: Caller,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """A customer event: a reply, or survey feedback (a low score reopens). Only a host
    system (a service credential the ticket's policy lists under permissions.services)
    relays what customers say: the timeline records it as the customer's. Feedback is
    refused with 409 unless the ticket is resolved. A flood of events is answered 429 with
    Retry-After for a moment while the ticket hands over to a new run; nothing of a refused
    event is written."""
    if caller is not None and not caller.service:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "customer events come from a host system: use a service credential",
        )
    if caller is not None:
        await request.app.state.reads.relaying(ticket_id, caller)
    fields = body.model_dump(exclude={"type"})
    if isinstance(body, ReplyEvent):
        await tickets.customer_reply(ticket_id, fields, request_id=idempotency_key)
    else:
        await tickets.customer_feedback(ticket_id, fields, request_id=idempotency_key)
    return Accepted()
