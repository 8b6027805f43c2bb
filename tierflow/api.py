"""The HTTP API for host systems (help desks, CRMs, chat systems): FastAPI over the thin client.

Status codes carry the domain's answers: 201 when a ticket was opened and 200 when it already
was, 409 with the domain's message for an action the ticket's state does not allow (or a closed
ticket), 404 for an unknown ticket (or action), 422 with field errors for bad input (never
repeating the input), 413 for a body over 256 KiB, 400 for a value the client refused, 503 when
Temporal or its workers do not answer, or the ticket cannot answer now (its workflow task is
failing, or a worker cannot replay it: the answer says why). Every route declares every answer
it can give in the OpenAPI document.

Every endpoint except ``/health`` and the OpenAPI documents needs ``Authorization: Bearer
<credential>`` (a signed token or an API key, :mod:`tierflow.identity`): 401 without a valid
one. The caller is the actor of its actions; a service names the person it acts for in
``X-On-Behalf-Of`` (or the body's ``on_behalf_of``), and the ticket's policy decides (403 when
it refuses). Serving without authentication takes ``insecure_no_auth=True``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    Header,
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
from pydantic import BaseModel, Field, create_model

from tierflow import __version__
from tierflow.statemachine import CustomerStatus, Policy, Priority, Ticket, default_policy
from tierflow.workflows.messages import (
    Actor,
    CustomerFeedback,
    CustomerReply,
    TicketStatus,
    TimelineEntry,
)
from tierflow.workflows.outbox.failing import DeliveryView, DropDelivery, RetryDeliveries

from ._guards import (
    MAX_BODY_BYTES,
    BodyLimit,
    LastResort,
    StrictJSONRoute,
    log_internal_error,
    unprocessable,
)
from .access import TicketReads, listing_area, opening_allowed
from .client import (
    _SAFE_VALUE,
    ACTIONS,
    REQUEST_ID_PATTERN,
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
    ActionForbidden,
    ActionRejected,
    InvalidInput,
    TemporalUnavailable,
    TicketBusy,
    TicketError,
    TicketNotFound,
    UnexpectedError,
    short,
)
from .identity import (
    Identities,
    IdentityConfigError,
    IdentitySettings,
    IdentityUnavailable,
    Principal,
    Unauthenticated,
)
from .logs import redact_access_log_queries

ON_BEHALF_OF = "X-On-Behalf-Of"
# Who opens a ticket and acts when the API runs without authentication (and a body names none).
ANONYMOUS = "api"


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


# Every route behind authentication can answer these.
_ALWAYS = _errors(
    e400="a value the client refused (e.g. too large for Temporal)",
    e401="missing or invalid credentials (a signed token or an API key)",
    e413=f"request body over {MAX_BODY_BYTES // 1024} KiB",
    e500="unexpected internal error (logged; the answer says no more)",
    e503="Temporal, a worker, or the token issuer's keys did not answer in time, or the "
    "ticket cannot answer now (its workflow task is failing); retry later",
)
_NOT_FOUND = _errors(e404="no ticket with that id was ever opened")
_BUSY = _errors(
    e429="the ticket is handing over to a new run (its history is full): nothing was written; "
    "send it again after Retry-After seconds"
)
_CONFLICT = _errors(e409="the ticket's state does not allow it, or the ticket is closed")
_FORBIDDEN = _errors(
    e403="the ticket's policy does not let the caller (or whom it acts for) do this, or a "
    "caller that is not a service named someone to act for"
)
TicketId = Annotated[
    str, Path(pattern=TICKET_ID_PATTERN, description="the host's ticket id", examples=["T-1001"])
]
PlainName = Annotated[str | None, Query(pattern=_SAFE_VALUE.pattern)]


def _tickets(request: Request) -> TicketClient:
    tickets: TicketClient = request.app.state.tickets
    return tickets


Tickets = Annotated[TicketClient, Depends(_tickets)]


async def _may_read(
    request: Request, ticket_id: str, caller: Principal | None
) -> TicketStatus | None:
    """ActionForbidden (403) unless the caller may read the ticket (docs/who-may-act.md); the
    ticket's status when the check read it. Without authentication every read is allowed."""
    if caller is None:
        return None
    reads: TicketReads = request.app.state.reads
    return await reads.check(ticket_id, caller)


# Module level: FastAPI resolves the (string) annotations below in this module's namespace.
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="credential",
    description="Authorization: Bearer <signed token (JWT) or API key>",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def _unauthorized(reason: str, *, given: bool) -> HTTPException:
    """401 with the RFC 6750 challenge (``invalid_token`` when a credential was given)."""
    challenge = 'Bearer realm="tierflow"' + (', error="invalid_token"' if given else "")
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": challenge}
    )


def _caller(request: Request, credentials: Credentials) -> Principal | None:
    """The authenticated principal (None only when the API runs without authentication).

    A plain function: FastAPI runs it in a thread, so a JWKS fetch never blocks the loop, and
    one request authenticates once however many of its dependencies ask."""
    identities: Identities | None = request.app.state.identities
    if identities is None:
        return None
    if credentials is None:
        raise _unauthorized("missing credentials: send Authorization: Bearer <token>", given=False)
    try:
        return identities.authenticate(credentials.credentials)
    except Unauthenticated as err:
        raise _unauthorized(short(str(err), 200), given=True) from None
    except IdentityUnavailable as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from None


Caller = Annotated[Principal | None, Depends(_caller)]

CODEC_ROLE = "codec"


def _codec_caller(principal: Caller) -> Principal | None:
    """The codec routes decrypt anything: only credentials that carry the ``codec`` role."""
    if principal is not None and CODEC_ROLE not in principal.roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the codec routes need a credential with the {CODEC_ROLE!r} role",
        )
    return principal


class Me(BaseModel):
    """Who the API takes the caller for."""

    authenticated: bool = Field(description="false only when the API runs without auth")
    name: str = Field(description="who acts: recorded on the timeline")
    roles: list[str] = Field(description="roles the credential carries (the policy decides)")
    service: bool = Field(description="a service, which may act on behalf of people")


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

    @router.get("/tickets", response_model=list[TicketSummary], responses=_FORBIDDEN)
    async def list_tickets(
        tickets: Tickets,
        caller: Caller,
        request: Request,
        state: PlainName = None,
        tier: PlainName = None,
        team: PlainName = None,
        priority: Priority | None = None,
        breached: bool | None = None,
        customer_status: CustomerStatus | None = None,
        running_only: bool = False,
        delivery_failing: Annotated[
            bool | None,
            Query(description="true: some delivery keeps failing; false: none does"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        check_tasks: Annotated[
            bool,
            Query(
                description="also check each running ticket's workflow task: `unreadable` "
                "says why one that is failing cannot be read now (one more call per running "
                "ticket)"
            ),
        ] = False,
    ) -> list[TicketSummary]:
        """Tickets matching every filter given (eventually consistent; newest first), from
        Temporal's visibility store: no worker is asked, so a ticket that cannot be read is
        listed like any other (``check_tasks`` names those whose workflow task is failing).
        Only tickets of the tiers and teams the caller reads are listed (the query says so);
        403 for a caller the API's policy names nowhere."""
        within = listing_area(request.app.state.policy, caller) if caller is not None else None
        return await tickets.list(
            within=within,
            state=state,
            tier=tier,
            team=team,
            priority=priority.value if priority else None,
            breached=breached,
            customer_status=customer_status.value if customer_status else None,
            running_only=running_only,
            delivery_failing=delivery_failing,
            limit=limit,
            check_tasks=check_tasks,
        )

    @router.get(
        "/tickets/{ticket_id}",
        response_model=TicketStatus,
        responses={**_NOT_FOUND, **_FORBIDDEN},
    )
    async def show(
        ticket_id: TicketId, tickets: Tickets, caller: Caller, request: Request
    ) -> TicketStatus:
        """The ticket now (503 when it cannot be read now: its workflow task is failing, or a
        worker cannot replay it; the answer says why; 403 when the caller may not read it)."""
        status = await _may_read(request, ticket_id, caller)
        return status or await tickets.status(ticket_id)

    @router.get(
        "/tickets/{ticket_id}/timeline",
        response_model=list[TimelineEntry],
        responses={**_NOT_FOUND, **_FORBIDDEN},
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
        await _may_read(request, ticket_id, caller)
        return await tickets.timeline(ticket_id, before=before, limit=limit)

    @router.post(
        "/tickets/{ticket_id}/events",
        response_model=Accepted,
        status_code=202,
        responses={**_NOT_FOUND, **_FORBIDDEN, **_CONFLICT, **_BUSY},
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

    for name, model in ACTIONS.items():
        _action_route(router, name, model)
    _delivery_routes(router)


OnBehalfOf = Annotated[
    str | None,
    Header(
        alias=ON_BEHALF_OF,
        min_length=1,
        max_length=120,
        description="a service acting for a person names them here (ASCII; other names go in "
        "the body's on_behalf_of); the ticket's policy must let the service act for them",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=REQUEST_ID_PATTERN,
        description="makes a resend safe: the ticket applies one action or event with this key "
        "once, whatever became of the first answer (a timeout, a 503, a dropped connection); "
        "1-128 printable ASCII characters, one per request",
    ),
]


@cache
def _body_model(model: type[BaseModel]) -> type[BaseModel]:
    """The action's message as the API takes it: ``actor`` comes from the credentials, so the
    body may leave it out (a different name is refused)."""
    body: type[BaseModel] = create_model(
        model.__name__,
        __base__=model,
        __doc__=model.__doc__,
        actor=(
            Actor | None,
            Field(
                default=None,
                description="who acts: the caller's credentials say so; leave it out (a "
                "different name is refused with 422)",
            ),
        ),
    )
    return body


def _field_error(where: tuple[str, ...], message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": where, "msg": message, "type": "value_error"}])


def _acting(body: BaseModel, caller: Principal | None, header: str | None) -> dict[str, Any]:
    """The action's message: the body's fields, the caller as ``actor`` and whom it acts for."""
    fields = body.model_dump()
    given_actor, on_behalf_of = fields.pop("actor"), fields.pop("on_behalf_of")
    if header is not None:
        if not (header.isascii() and header.isprintable()):
            raise _field_error(
                ("header", ON_BEHALF_OF), "ASCII only: give other names in on_behalf_of"
            )
        if on_behalf_of is not None and on_behalf_of != header.strip():
            raise _field_error(("header", ON_BEHALF_OF), "differs from the body's on_behalf_of")
        on_behalf_of = header.strip() or None
    if caller is None:  # no authentication: the body says who acts, as before
        if given_actor is None:
            raise RequestValidationError(
                [{"loc": ("body", "actor"), "msg": "Field required", "type": "missing"}]
            )
        actor = given_actor
    else:
        if given_actor is not None and given_actor != caller.name:
            raise _field_error(("body", "actor"), "actor comes from your credentials: leave it out")
        actor = caller.name
        if on_behalf_of is not None and not caller.service:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "only a service may act on behalf of someone"
            )
    return {**fields, "actor": actor, "on_behalf_of": on_behalf_of}


def _action_route(router: APIRouter, name: str, model: type[BaseModel]) -> None:
    """``POST /tickets/{id}/actions/<name>`` with the action's own model as the body, so the
    OpenAPI document shows each action's fields and FastAPI answers 422 for bad input; an
    action name with no route is a 404. The caller is the actor."""

    async def act(
        ticket_id: TicketId,
        body: BaseModel,
        tickets: Tickets,
        caller: Caller,
        on_behalf_of: OnBehalfOf = None,
        idempotency_key: IdempotencyKey = None,
    ) -> TicketStatus:
        acting = _acting(body, caller, on_behalf_of)
        return await tickets.act(ticket_id, name, acting, request_id=idempotency_key)

    # FastAPI reads the body's type from the signature; give each route its own model.
    act.__annotations__ = {**act.__annotations__, "body": _body_model(model)}
    router.add_api_route(
        f"/tickets/{{ticket_id}}/actions/{name}",
        act,
        methods=["POST"],
        response_model=TicketStatus,
        name=f"action_{name}",
        summary=f"{name.replace('_', ' ').capitalize()}",
        description=(model.__doc__ or "").strip() or f"The {name} action.",
        responses={**_NOT_FOUND, **_FORBIDDEN, **_CONFLICT, **_BUSY},
    )


def _delivery_routes(router: APIRouter) -> None:
    """The deliveries a ticket keeps retrying (``workflows/outbox/``): list them, retry
    them now, drop one. Retrying and dropping are actions of the ticket's policy
    (``retry_deliveries``, which agents have; ``drop_delivery``, supervisors and above)."""

    @router.get(
        "/tickets/{ticket_id}/deliveries",
        response_model=list[DeliveryView],
        responses={**_NOT_FOUND, **_FORBIDDEN},
    )
    async def deliveries(
        ticket_id: TicketId, tickets: Tickets, caller: Caller, request: Request
    ) -> list[DeliveryView]:
        """The ticket's deliveries that keep failing, oldest first (empty: none is): each
        item's key, what it is, its channel and recipient kind, attempts, last error, the
        next retry round and the horizon at which it is given up. No message text and no
        address; closed tickets answer too."""
        await _may_read(request, ticket_id, caller)
        return await tickets.deliveries(ticket_id)

    async def retry(
        ticket_id: TicketId,
        tickets: Tickets,
        caller: Caller,
        on_behalf_of: OnBehalfOf = None,
        body: BaseModel | None = None,
    ) -> list[DeliveryView]:
        message = _acting(body or _body_model(RetryDeliveries)(), caller, on_behalf_of)
        return await tickets.retry_deliveries(ticket_id, message)

    async def drop(
        ticket_id: TicketId,
        body: BaseModel,
        tickets: Tickets,
        caller: Caller,
        on_behalf_of: OnBehalfOf = None,
    ) -> list[DeliveryView]:
        return await tickets.drop_delivery(ticket_id, _acting(body, caller, on_behalf_of))

    retry.__annotations__ = {
        **retry.__annotations__,
        "body": _body_model(RetryDeliveries) | None,
    }
    drop.__annotations__ = {**drop.__annotations__, "body": _body_model(DropDelivery)}
    refusals = {**_NOT_FOUND, **_FORBIDDEN, **_CONFLICT}
    router.add_api_route(
        "/tickets/{ticket_id}/deliveries/retry",
        retry,
        methods=["POST"],
        response_model=list[DeliveryView],
        name="retry_deliveries",
        summary="Retry failing deliveries now",
        description="Start a retry round of the ticket's failing deliveries now (they are "
        "retried on their own backoff anyway); answers them as they were. The body may be "
        "left out. 409 when none is failing, or the ticket is closed.",
        responses=refusals,
    )
    router.add_api_route(
        "/tickets/{ticket_id}/deliveries/drop",
        drop,
        methods=["POST"],
        response_model=list[DeliveryView],
        name="drop_delivery",
        summary="Drop a failing delivery",
        description="Give up one failing delivery, named by its key as the deliveries list "
        "shows it: a final failure on the timeline, recorded as the caller's. Answers the "
        "ones still failing. 409 when no failing delivery has that key, or the ticket is "
        "closed.",
        responses=refusals,
    )


def _error_handlers(app: FastAPI) -> None:
    def answer(code: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def handle(_: Request, err: Exception) -> JSONResponse:
            return JSONResponse({"detail": short(str(err), 300)}, status_code=code)

        return handle

    async def busy(_: Request, err: Exception) -> JSONResponse:
        retry_after = str(getattr(err, "retry_after", 1))
        return JSONResponse(
            {"detail": short(str(err), 300)},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": retry_after},
        )

    async def internal(request: Request, err: Exception) -> JSONResponse:
        log_internal_error(request.scope, err.__cause__ or err)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    # Starlette picks the handler by walking the exception's MRO: TicketClosed is an
    # ActionRejected (409), ActionForbidden one too (403).
    app.add_exception_handler(RequestValidationError, unprocessable)
    app.add_exception_handler(ActionForbidden, answer(status.HTTP_403_FORBIDDEN))
    app.add_exception_handler(ActionRejected, answer(status.HTTP_409_CONFLICT))
    app.add_exception_handler(TicketNotFound, answer(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(InvalidInput, answer(status.HTTP_400_BAD_REQUEST))
    app.add_exception_handler(TicketBusy, busy)
    app.add_exception_handler(TemporalUnavailable, answer(status.HTTP_503_SERVICE_UNAVAILABLE))
    app.add_exception_handler(ServerUnreachableError, answer(status.HTTP_503_SERVICE_UNAVAILABLE))
    app.add_exception_handler(UnexpectedError, internal)
    app.add_exception_handler(TicketError, answer(status.HTTP_400_BAD_REQUEST))


def create_app(
    tickets: TicketClient | None = None,
    settings: TemporalSettings | None = None,
    *,
    identities: Identities | IdentitySettings | None = None,
    insecure_no_auth: bool = False,
    codec: EncryptionCodec | Literal["env"] | None = "env",
    codec_origins: Sequence[str] | None = None,
    policy: Policy | None = None,
) -> FastAPI:
    """The API. Without ``tickets`` it connects at startup using ``settings`` (default: the
    environment). Callers authenticate against ``identities`` (default: the ``TIERFLOW_JWT_*``
    and ``TIERFLOW_API_KEYS_FILE`` variables, :class:`IdentitySettings`); with none configured
    it refuses to build (:class:`IdentityConfigError`, one line saying what to set) unless
    ``insecure_no_auth`` says to serve everyone, with the actor taken from the body.
    The codec routes use ``codec`` (default: ``TIERFLOW_ENCRYPTION_KEYS``), behind the same
    authentication, and answer CORS for ``codec_origins`` (default:
    ``TIERFLOW_CODEC_CORS_ORIGINS``, else the dev server's UI). Tickets are opened with
    ``policy`` (default: the packaged default policy), which also says who may open and what
    a caller's listing holds; reads of a ticket are checked against the ticket's own."""
    # Read before anything starts: a bad key file is one line at start, not a 500 later.
    payload_codec = codec_from_env() if codec == "env" else codec
    if insecure_no_auth:
        configured = (
            isinstance(identities, Identities) or (identities or IdentitySettings()).configured
        )
        if configured:
            raise IdentityConfigError(
                "identities are configured: drop --insecure-no-auth, or unset TIERFLOW_JWT_* "
                "and TIERFLOW_API_KEYS_FILE"
            )
        checked: Identities | None = None
    elif isinstance(identities, Identities):
        checked = identities
    else:
        checked = Identities.from_settings(identities)
        if checked is None:
            raise IdentityConfigError(
                "no identities configured: set TIERFLOW_API_KEYS_FILE (tierflow api-keys new), or "
                "TIERFLOW_JWT_SECRET_FILE or TIERFLOW_JWT_JWKS_URL with TIERFLOW_JWT_ISSUER and "
                "TIERFLOW_JWT_AUDIENCE; or run without authentication with --insecure-no-auth"
            )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # After the server configured its logging: no query value reaches its access log.
        redact_access_log_queries()
        if tickets is not None:
            app.state.tickets = tickets
        else:
            s = settings or TemporalSettings()
            client = await connect(s)
            app.state.tickets = TicketClient(client, s.task_queue)
        app.state.reads = TicketReads(app.state.tickets)
        yield

    app = FastAPI(
        title="Tierflow",
        summary="Durable help-desk ticket escalation on Temporal.",
        version=__version__,
        lifespan=lifespan,
    )

    app.state.identities = checked
    app.state.policy = policy if policy is not None else default_policy()

    @app.get("/health", responses=_errors(e413="request body too large", e500="internal error"))
    async def health() -> dict[str, str]:
        """Liveness: always open, no credentials needed."""
        return {"status": "ok"}

    router = APIRouter(
        dependencies=[Depends(_caller)], responses=_ALWAYS, route_class=StrictJSONRoute
    )
    _ticket_routes(router)
    app.include_router(router)
    # --- codec server (issue 13, privacy): /codec/encode, /codec/decode, CORS for the UI ---
    codec_answers = _errors(
        e400="a payload cannot be decrypted (unknown key id, altered, or no keys here)",
        e401="missing or invalid credentials (a signed token or an API key)",
        e403="the credential lacks the codec role",
        e413=f"request body over {MAX_CODEC_BODY_BYTES // 1024 // 1024} MiB",
        e500="unexpected internal error (logged; the answer says no more)",
    )
    app.include_router(codec_router(payload_codec, _codec_caller, codec_answers))
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
