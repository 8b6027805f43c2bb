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

The routes: :mod:`tierflow.api.tickets` (open, read, list, customer events) and
:mod:`tierflow.api.actions` (one route per action of ``workflows/actions.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tierflow import __version__
from tierflow._guards import (
    MAX_BODY_BYTES,
    BodyLimit,
    LastResort,
    log_internal_error,
    unprocessable,
)
from tierflow.access import TicketReads
from tierflow.client import TicketClient
from tierflow.codec_server import MAX_CODEC_BODY_BYTES, CodecCORS, codec_router, cors_origins
from tierflow.codec_server import PREFIX as CODEC_PREFIX
from tierflow.config import TemporalSettings
from tierflow.connect import ServerUnreachableError, connect
from tierflow.encryption import EncryptionCodec, codec_from_env
from tierflow.errors import (
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
from tierflow.identity import Identities, IdentityConfigError, IdentitySettings, Principal
from tierflow.logs import redact_access_log_queries
from tierflow.statemachine import Policy, default_policy

from . import actions as action_routes
from . import tickets as ticket_routes
from ._common import ALWAYS, Caller, caller, errors

CODEC_ROLE = "codec"


def _codec_caller(principal: Caller) -> Principal | None:
    """The codec routes decrypt anything: only credentials that carry the ``codec`` role."""
    if principal is not None and CODEC_ROLE not in principal.roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the codec routes need a credential with the {CODEC_ROLE!r} role",
        )
    return principal


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

    @app.get("/health", responses=errors(e413="request body too large", e500="internal error"))
    async def health() -> dict[str, str]:
        """Liveness: always open, no credentials needed."""
        return {"status": "ok"}

    for routes in (ticket_routes.router, action_routes.router):
        app.include_router(routes, dependencies=[Depends(caller)], responses=ALWAYS)
    # --- codec server (issue 13, privacy): /codec/encode, /codec/decode, CORS for the UI ---
    codec_answers = errors(
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
