"""The HTTP API for host systems (help desks, CRMs, chat systems): FastAPI over the thin client.

Status codes carry the domain's answers: 201 when a ticket was opened and 200 when it already
was, 409 with the domain's message for an action the ticket's state does not allow (or a closed
ticket), 404 for an unknown ticket (or action), 422 with field errors for bad input (never
repeating the input), 413 for a body over 256 KiB, 400 for a value the client refused, 503 when
Temporal or its workers do not answer. Every route declares every answer it can give in the
OpenAPI document. With a token configured every endpoint except ``/health`` and the OpenAPI
documents needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from tierflow.statemachine import CustomerStatus, Priority, Ticket
from tierflow.workflows.messages import CustomerFeedback, CustomerReply, TicketStatus, TimelineEntry

from ._guards import (
    MAX_BODY_BYTES,
    BodyLimit,
    LastResort,
    StrictJSONRoute,
    log_internal_error,
    unprocessable,
)
from .client import (
    _SAFE_VALUE,
    ACTIONS,
    TICKET_ID_PATTERN,
    OpenedTicket,
    TicketClient,
    TicketSummary,
)
from .codec_server import MAX_CODEC_BODY_BYTES, CodecCORS, codec_router, cors_origins
from .codec_server import PREFIX as CODEC_PREFIX
from .config import TemporalSettings
from .connect import ServerUnreachableError, connect
from .encryption import EncryptionCodec, codec_from_env
from .errors import (
    ActionRejected,
    InvalidInput,
    TemporalUnavailable,
    TicketError,
    TicketNotFound,
    UnexpectedError,
    short,
)

TOKEN_ENV = "TIERFLOW_API_TOKEN"


class ReplyEvent(CustomerReply):
    """The customer replied (the workflow's own, bounded, CustomerReply)."""

    type: Literal["reply"]


class FeedbackEvent(CustomerFeedback):
    """The customer answered the follow-up survey; it counts once the ticket is resolved."""

    type: Literal["feedback"]


CustomerEvent = Annotated[ReplyEvent | FeedbackEvent, Field(discriminator="type")]


class Accepted(BaseModel):
    accepted: bool = True


class ErrorDetail(BaseModel):
    """Every error answer but 422: one line saying what went wrong (never the input)."""

    detail: str


def _errors(**codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error codes given as ``e404="..."``."""
    return {int(code[1:]): {"model": ErrorDetail, "description": d} for code, d in codes.items()}


# Every route behind the token can answer these.
_ALWAYS = _errors(
    e400="a value the client refused (e.g. too large for Temporal)",
    e401="missing or wrong bearer token",
    e413=f"request body over {MAX_BODY_BYTES // 1024} KiB",
    e500="unexpected internal error (logged; the answer says no more)",
    e503="Temporal, or a worker, did not answer in time; retry later",
)
_NOT_FOUND = _errors(e404="no ticket with that id was ever opened")
_CONFLICT = _errors(e409="the ticket's state does not allow it, or the ticket is closed")
TicketId = Annotated[
    str, Path(pattern=TICKET_ID_PATTERN, description="the host's ticket id", examples=["T-1001"])
]
PlainName = Annotated[str | None, Query(pattern=_SAFE_VALUE.pattern)]


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
    @router.post(
        "/tickets",
        response_model=OpenedTicket,
        status_code=201,
        responses={
            200: {"model": OpenedTicket, "description": "already open: the running ticket"},
            **_errors(e409="the ticket with that id is closed; its id is not reused"),
        },
    )
    async def open_ticket(ticket: Ticket, response: Response, tickets: Tickets) -> OpenedTicket:
        """Open a ticket: 201 when created, 200 when it is already open (idempotent: of
        concurrent opens of one id exactly one answers 201), 409 when that ticket is closed (a
        closed ticket's id is not reused; open the new request under a new id)."""
        opened = await tickets.open(ticket, opened_by="api")
        if not opened.created:
            response.status_code = status.HTTP_200_OK
        return opened

    @router.get("/tickets", response_model=list[TicketSummary])
    async def list_tickets(
        tickets: Tickets,
        state: PlainName = None,
        tier: PlainName = None,
        team: PlainName = None,
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

    @router.get("/tickets/{ticket_id}", response_model=TicketStatus, responses=_NOT_FOUND)
    async def show(ticket_id: TicketId, tickets: Tickets) -> TicketStatus:
        """The ticket now."""
        return await tickets.status(ticket_id)

    @router.get(
        "/tickets/{ticket_id}/timeline",
        response_model=list[TimelineEntry],
        responses=_NOT_FOUND,
    )
    async def timeline(
        ticket_id: TicketId,
        tickets: Tickets,
        before: Annotated[
            int | None, Query(ge=1, le=2**53, description="only entries with a lower seq")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[TimelineEntry]:
        """A page of the ticket's audit trail, oldest first: the newest ``limit`` entries
        (below ``before``, when given). Each entry's ``seq`` numbers it over the ticket's life
        (1 is the first); the next older page is ``?before=<seq of this page's first entry>``,
        and an empty page means there is nothing earlier."""
        return await tickets.timeline(ticket_id, before=before, limit=limit)

    @router.post(
        "/tickets/{ticket_id}/events",
        response_model=Accepted,
        status_code=202,
        responses={**_NOT_FOUND, **_CONFLICT},
    )
    async def event(ticket_id: TicketId, body: CustomerEvent, tickets: Tickets) -> Accepted:
        """A customer event: a reply, or survey feedback (a low score reopens). Feedback is
        refused with 409 unless the ticket is resolved."""
        fields = body.model_dump(exclude={"type"})
        if isinstance(body, ReplyEvent):
            await tickets.customer_reply(ticket_id, fields)
        else:
            await tickets.customer_feedback(ticket_id, fields)
        return Accepted()

    for name, model in ACTIONS.items():
        _action_route(router, name, model)


def _action_route(router: APIRouter, name: str, model: type[BaseModel]) -> None:
    """``POST /tickets/{id}/actions/<name>`` with the action's own model as the body, so the
    OpenAPI document shows each action's fields and FastAPI answers 422 for bad input; an
    action name with no route is a 404."""

    async def act(ticket_id: TicketId, body: BaseModel, tickets: Tickets) -> TicketStatus:
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
        responses={**_NOT_FOUND, **_CONFLICT},
    )


def _error_handlers(app: FastAPI) -> None:
    def answer(code: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def handle(_: Request, err: Exception) -> JSONResponse:
            return JSONResponse({"detail": short(str(err), 300)}, status_code=code)

        return handle

    async def internal(request: Request, err: Exception) -> JSONResponse:
        log_internal_error(request.scope, err.__cause__ or err)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    # Starlette picks the handler by walking the exception's MRO: TicketClosed is an
    # ActionRejected (409).
    app.add_exception_handler(RequestValidationError, unprocessable)
    app.add_exception_handler(ActionRejected, answer(status.HTTP_409_CONFLICT))
    app.add_exception_handler(TicketNotFound, answer(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(InvalidInput, answer(status.HTTP_400_BAD_REQUEST))
    app.add_exception_handler(TemporalUnavailable, answer(status.HTTP_503_SERVICE_UNAVAILABLE))
    app.add_exception_handler(ServerUnreachableError, answer(status.HTTP_503_SERVICE_UNAVAILABLE))
    app.add_exception_handler(UnexpectedError, internal)
    app.add_exception_handler(TicketError, answer(status.HTTP_400_BAD_REQUEST))


def create_app(
    tickets: TicketClient | None = None,
    token: str | None = None,
    settings: TemporalSettings | None = None,
    *,
    codec: EncryptionCodec | Literal["env"] | None = "env",
    codec_origins: Sequence[str] | None = None,
) -> FastAPI:
    """The API. Without ``tickets`` it connects at startup using ``settings`` (default: the
    environment); without ``token`` it reads ``TIERFLOW_API_TOKEN`` (unset or empty: no auth).
    The codec routes use ``codec`` (default: ``TIERFLOW_ENCRYPTION_KEYS``) and answer CORS for
    ``codec_origins`` (default: ``TIERFLOW_CODEC_CORS_ORIGINS``, else the dev server's UI)."""
    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
    # Read before anything starts: a bad key file is one line at start, not a 500 later.
    payload_codec = codec_from_env() if codec == "env" else codec
    if token is not None and not (token.isascii() and token.isprintable()):
        # Bytes that are not text would fail every comparison (a 500 on every request).
        raise ValueError(f"{TOKEN_ENV} must be printable ASCII")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if tickets is not None:
            app.state.tickets = tickets
        else:
            s = settings or TemporalSettings()
            client = await connect(s)
            app.state.tickets = TicketClient(client, s.task_queue)
        yield

    app = FastAPI(
        title="Tierflow",
        summary="Durable help-desk ticket escalation on Temporal.",
        version="0.1.0",
        lifespan=lifespan,
    )

    @app.get("/health", responses=_errors(e413="request body too large", e500="internal error"))
    async def health() -> dict[str, str]:
        """Liveness: always open, no token needed."""
        return {"status": "ok"}

    router = APIRouter(
        dependencies=[Depends(_auth(token))], responses=_ALWAYS, route_class=StrictJSONRoute
    )
    _ticket_routes(router)
    app.include_router(router)
    # --- codec server (issue 13, privacy): /codec/encode, /codec/decode, CORS for the UI ---
    codec_answers = _errors(
        e400="a payload cannot be decrypted (unknown key id, altered, or no keys here)",
        e401="missing or wrong bearer token",
        e413=f"request body over {MAX_CODEC_BODY_BYTES // 1024 // 1024} MiB",
        e500="unexpected internal error (logged; the answer says no more)",
    )
    app.include_router(codec_router(payload_codec, _auth(token), codec_answers))
    _error_handlers(app)
    # The last added is the outermost: the size limit refuses a body before anything reads it,
    # and CORS headers (codec routes only) are on every answer, refusals included.
    app.add_middleware(LastResort)
    app.add_middleware(
        BodyLimit, max_bytes=MAX_BODY_BYTES, prefixes={CODEC_PREFIX + "/": MAX_CODEC_BODY_BYTES}
    )
    app.add_middleware(
        CodecCORS, origins=cors_origins() if codec_origins is None else list(codec_origins)
    )
    return app
