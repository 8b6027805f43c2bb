"""What every route of the HTTP API shares: the ticket client, who the caller is, the
documented error answers, and how an action's body and the caller's credentials become the
action's message."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Path, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, create_model

from tierflow._guards import MAX_BODY_BYTES
from tierflow.access import TicketReads
from tierflow.client import REQUEST_ID_PATTERN, TICKET_ID_PATTERN, TicketClient
from tierflow.errors import short
from tierflow.identity import Identities, IdentityUnavailable, Principal, Unauthenticated
from tierflow.workflows.messages import Actor, TicketStatus

ON_BEHALF_OF = "X-On-Behalf-Of"
# Who opens a ticket and acts when the API runs without authentication (and a body names none).
ANONYMOUS = "api"


class ErrorDetail(BaseModel):
    """Every error answer but 422: one line saying what went wrong (never the input)."""

    detail: str


def errors(**codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error codes given as ``e404="..."``."""
    return {int(code[1:]): {"model": ErrorDetail, "description": d} for code, d in codes.items()}


# Every route behind authentication can answer these.
ALWAYS = errors(
    e400="a value the client refused (e.g. too large for Temporal)",
    e401="missing or invalid credentials (a signed token or an API key)",
    e413=f"request body over {MAX_BODY_BYTES // 1024} KiB",
    e500="unexpected internal error (logged; the answer says no more)",
    e503="Temporal, a worker, or the token issuer's keys did not answer in time, or the "
    "ticket cannot answer now (its workflow task is failing); retry later",
)
NOT_FOUND = errors(e404="no ticket with that id was ever opened")
BUSY = errors(
    e429="the ticket is handing over to a new run (its history is full): nothing was written; "
    "send it again after Retry-After seconds"
)
CONFLICT = errors(e409="the ticket's state does not allow it, or the ticket is closed")
FORBIDDEN = errors(
    e403="the ticket's policy does not let the caller (or whom it acts for) do this, or a "
    "caller that is not a service named someone to act for"
)
TicketId = Annotated[
    str, Path(pattern=TICKET_ID_PATTERN, description="the host's ticket id", examples=["T-1001"])
]
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


def _tickets(request: Request) -> TicketClient:
    tickets: TicketClient = request.app.state.tickets
    return tickets


Tickets = Annotated[TicketClient, Depends(_tickets)]


async def may_read(
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


def caller(request: Request, credentials: Credentials) -> Principal | None:
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


Caller = Annotated[Principal | None, Depends(caller)]


@cache
def body_model(model: type[BaseModel]) -> type[BaseModel]:
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


def acting(body: BaseModel, caller: Principal | None, header: str | None) -> dict[str, Any]:
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
