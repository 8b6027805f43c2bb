"""What stands between the HTTP API and any input: a body size limit enforced before parsing,
strict JSON, validation errors that never repeat the input, and a last resort for the rest.

No request, valid or not, may yield a 500 with a traceback, or an answer that echoes what the
caller sent (it may be customer data, megabytes of it, or not even encodable as UTF-8).
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final

import structlog
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import short

log = structlog.get_logger("tierflow.api")

MAX_BODY_BYTES: Final = 256 * 1024
# Field errors in one 422 answer, and the length of each message and location part.
_ERRORS_SHOWN: Final = 20
_MSG_MAX: Final = 200
_LOC_MAX: Final = 60


def _json(status: int, body: object) -> tuple[Message, Message]:
    raw = json.dumps(body).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": raw}


class BodyLimit:
    """Refuse a request body over ``max_bytes`` with 413, before the app parses any of it.

    A declared Content-Length over the limit is refused without reading the body; otherwise
    the body is read as it streams in, counted, and refused as soon as it passes the limit.
    A body within the limit is handed on to the app whole. ``prefixes`` give paths under a
    prefix a limit of their own (the codec routes carry whole payloads).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY_BYTES,
        prefixes: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefixes = dict(prefixes or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = next((n for p, n in self.prefixes.items() if path.startswith(p)), self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(send, 400, "invalid Content-Length")
                return
            if int(declared) > limit:
                await self._refuse(send, 413, self._too_large(limit))
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, 413, self._too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    @staticmethod
    def _too_large(limit: int) -> str:
        return f"request body over {limit // 1024} KiB"

    @staticmethod
    async def _refuse(send: Send, status: int, detail: str) -> None:
        for message in _json(status, {"detail": detail}):
            await send(message)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class LastResort:
    """Answer any exception nothing else handled with a generic 500 and log it briefly: the
    exception's type and where it was raised, never its message (it may hold customer data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as err:
            log_internal_error(scope, err)
            if not started:
                for message in _json(500, {"detail": "internal error"}):
                    await send(message)


def log_internal_error(scope: Scope, err: BaseException) -> None:
    frames = traceback.extract_tb(err.__traceback__)
    where = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in frames[-3:]]
    route = scope.get("route")
    log.error(
        "api.internal_error",
        error_type=type(err).__name__,
        method=scope.get("method"),
        route=getattr(route, "path", None),
        where=where,
    )


class _StrictJSONRequest(Request):
    """A request whose JSON body must be JSON: no NaN or Infinity, no integer over 4,300
    digits, no nesting deeper than Python parses, valid UTF-8. Any of those is a decode
    error, which FastAPI answers with 422."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(
                    body, parse_constant=_no_constant, parse_float=_finite_float
                )
            except json.JSONDecodeError:
                raise
            except (ValueError, RecursionError) as err:
                # Too many digits, bad UTF-8, too deep, NaN: one kind of answer for all.
                reason = (
                    "NaN and Infinity are not JSON"
                    if isinstance(err, _NotJSONError)
                    else "not parseable as JSON"
                )
                raise json.JSONDecodeError(reason, "", 0) from None
        return self._json


class _NotJSONError(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJSONError(name)


def _finite_float(text: str) -> float:
    """A JSON number as a float; ``1e999`` would be infinity, which JSON cannot say."""
    value = float(text)
    if not math.isfinite(value):
        raise _NotJSONError(text)
    return value


class StrictJSONRoute(APIRoute):
    """A route that parses its body with :class:`_StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict


def validation_errors(err: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's field errors cut down to ``loc``, ``msg`` and ``type``: no ``input``, no
    ``ctx``, every text short and encodable, at most a few errors."""
    shown: list[dict[str, Any]] = []
    for e in list(err.errors())[:_ERRORS_SHOWN]:
        loc = [p if isinstance(p, int) else short(str(p), _LOC_MAX) for p in e.get("loc", ())]
        msg = short(str(e.get("msg", "invalid")), _MSG_MAX)
        if e.get("type") == "json_invalid":
            reason = (e.get("ctx") or {}).get("error")
            msg = f"JSON decode error: {short(str(reason), _MSG_MAX)}" if reason else msg
        shown.append({"loc": loc, "msg": msg, "type": short(str(e.get("type", "")), _LOC_MAX)})
    return shown


async def unprocessable(_: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RequestValidationError)
    return JSONResponse({"detail": validation_errors(err)}, status_code=422)
