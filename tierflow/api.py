"""The HTTP API for host systems (help desks, CRMs, chat systems): FastAPI over the thin client.

Status codes carry the domain's answers: 201 when a ticket was opened and 200 when it already
was, 409 with the domain's message for an action the ticket's state does not allow, 404 for an
unknown ticket (or action), 422 with field errors for bad input. With a token configured every
endpoint except ``/health`` and the OpenAPI documents needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from statemachine import CustomerStatus, Priority, Ticket
from workflows.messages import CustomerFeedback, CustomerReply, TicketStatus, TimelineEntry

from .client import (
    ACTIONS,
    ActionRejected,
    OpenedTicket,
    TicketClient,
    TicketError,
    TicketNotFound,
    TicketSummary,
)
from .config import TemporalSettings
from .connect import ServerUnreachableError, connect

TOKEN_ENV = "TIERFLOW_API_TOKEN"


class ReplyEvent(BaseModel):
    """The customer replied."""

    type: Literal["reply"]
    message: str = ""


class FeedbackEvent(BaseModel):
    """The customer answered the follow-up survey."""

    type: Literal["feedback"]
    score: Annotated[int, Field(ge=1, le=5)]
    comment: str = ""


CustomerEvent = Annotated[ReplyEvent | FeedbackEvent, Field(discriminator="type")]


class Accepted(BaseModel):
    accepted: bool = True


def _tickets(request: Request) -> TicketClient:
    tickets: TicketClient = request.app.state.tickets
    return tickets


Tickets = Annotated[TicketClient, Depends(_tickets)]


# Module level: FastAPI resolves the (string) annotations below in this module's namespace.
_BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def _auth(token: str | None) -> Callable[..., Awaitable[None]]:
    """A dependency that checks the bearer token (constant-time), or does nothing."""

    async def check(credentials: Credentials) -> None:
        if token is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def _ticket_routes(router: APIRouter) -> None:
    @router.post("/tickets", response_model=OpenedTicket, status_code=201)
    async def open_ticket(ticket: Ticket, response: Response, tickets: Tickets) -> OpenedTicket:
        """Open a ticket: 201 when created, 200 when it was already open (idempotent)."""
        opened = await tickets.open(ticket, opened_by="api")
        if not opened.created:
            response.status_code = status.HTTP_200_OK
        return opened

    @router.get("/tickets", response_model=list[TicketSummary])
    async def list_tickets(
        tickets: Tickets,
        state: str | None = None,
        tier: str | None = None,
        team: str | None = None,
        priority: Priority | None = None,
        breached: bool | None = None,
        customer_status: CustomerStatus | None = None,
        running_only: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[TicketSummary]:
        """Tickets matching every filter given (eventually consistent; newest first)."""
        return await tickets.list(
            state=state,
            tier=tier,
            team=team,
            priority=priority.value if priority else None,
            breached=breached,
            customer_status=customer_status.value if customer_status else None,
            running_only=running_only,
            limit=limit,
        )

    @router.get("/tickets/{ticket_id}", response_model=TicketStatus)
    async def show(ticket_id: str, tickets: Tickets) -> TicketStatus:
        """The ticket now."""
        return await tickets.status(ticket_id)

    @router.get("/tickets/{ticket_id}/timeline", response_model=list[TimelineEntry])
    async def timeline(ticket_id: str, tickets: Tickets) -> list[TimelineEntry]:
        """The ticket's audit trail, oldest first."""
        return await tickets.timeline(ticket_id)

    @router.post("/tickets/{ticket_id}/events", response_model=Accepted, status_code=202)
    async def event(ticket_id: str, body: CustomerEvent, tickets: Tickets) -> Accepted:
        """A customer event: a reply, or survey feedback (a low score reopens)."""
        if isinstance(body, ReplyEvent):
            await tickets.customer_reply(ticket_id, CustomerReply(message=body.message))
        else:
            feedback = CustomerFeedback(score=body.score, comment=body.comment)
            await tickets.customer_feedback(ticket_id, feedback)
        return Accepted()

    for name, model in ACTIONS.items():
        _action_route(router, name, model)


def _action_route(router: APIRouter, name: str, model: type[BaseModel]) -> None:
    """``POST /tickets/{id}/actions/<name>`` with the action's own model as the body, so the
    OpenAPI document shows each action's fields and FastAPI answers 422 for bad input; an
    action name with no route is a 404."""

    async def act(ticket_id: str, body: BaseModel, tickets: Tickets) -> TicketStatus:
        return await tickets.act(ticket_id, name, body)

    # FastAPI reads the body's type from the signature; give each route its own model.
    act.__annotations__ = {**act.__annotations__, "body": model}
    router.add_api_route(
        f"/tickets/{{ticket_id}}/actions/{name}",
        act,
        methods=["POST"],
        response_model=TicketStatus,
        name=f"action_{name}",
        summary=f"{name.replace('_', ' ').capitalize()}",
        description=(model.__doc__ or "").strip() or f"The {name} action.",
        responses={409: {"description": "invalid in the ticket's state"}},
    )


def _error_handlers(app: FastAPI) -> None:
    def answer(code: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def handle(_: Request, err: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(err)}, status_code=code)

        return handle

    # Subclasses first: Starlette picks the handler by walking the exception's MRO.
    app.add_exception_handler(ActionRejected, answer(status.HTTP_409_CONFLICT))
    app.add_exception_handler(TicketNotFound, answer(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(TicketError, answer(status.HTTP_400_BAD_REQUEST))
    app.add_exception_handler(ServerUnreachableError, answer(status.HTTP_503_SERVICE_UNAVAILABLE))


def create_app(
    tickets: TicketClient | None = None,
    token: str | None = None,
    settings: TemporalSettings | None = None,
) -> FastAPI:
    """The API. Without ``tickets`` it connects at startup using ``settings`` (default: the
    environment); without ``token`` it reads ``TIERFLOW_API_TOKEN`` (unset or empty: no auth)."""
    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if tickets is not None:
            app.state.tickets = tickets
        else:
            s = settings or TemporalSettings()
            client = await connect(s.temporal_address, s.namespace)
            app.state.tickets = TicketClient(client, s.task_queue)
        yield

    app = FastAPI(
        title="Tierflow",
        summary="Durable help-desk ticket escalation on Temporal.",
        version="0.1.0",
        lifespan=lifespan,
    )

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: always open, no token needed."""
        return {"status": "ok"}

    router = APIRouter(dependencies=[Depends(_auth(token))])
    _ticket_routes(router)
    app.include_router(router)
    _error_handlers(app)
    return app
