"""Temporal's codec-server endpoints, served by the HTTP API: ``POST /codec/encode`` and
``POST /codec/decode``, so the Temporal UI (``--ui-codec-endpoint``, ``codec.endpoint``) and
the ``temporal`` CLI (``--codec-endpoint``) show encrypted tickets decoded.

Both take and answer ``{"payloads": [...]}``, Temporal's ``Payloads`` message as proto JSON
(every bytes field base64). The UI sends ``X-Namespace``; the keys are Tierflow's, not a
namespace's, so it is accepted and not needed. The routes sit behind the API's bearer token
like every other route, and answer CORS (preflight included) for the UI's origins only
(``TIERFLOW_CODEC_CORS_ORIGINS``, comma-separated; default the dev server's UI).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Final

from fastapi import APIRouter, Depends, HTTPException, status
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payloads

from ._guards import StrictJSONRoute
from .encryption import DecryptionError, EncryptionCodec

PREFIX: Final = "/codec"
CORS_ENV: Final = "TIERFLOW_CODEC_CORS_ORIGINS"
DEFAULT_CORS_ORIGINS: Final = ("http://127.0.0.1:8233", "http://localhost:8233")
# A payload may be up to 2 MB and a gRPC message 4 MB; base64 in JSON adds a third.
MAX_CODEC_BODY_BYTES: Final = 8 * 1024 * 1024


class WirePayload(BaseModel):
    """One ``temporal.api.common.v1.Payload`` as proto JSON."""

    model_config = ConfigDict(extra="allow")

    metadata: dict[str, str] = Field(
        default_factory=dict, description="metadata values, base64", examples=[{}]
    )
    data: str = Field(default="", description="the payload's bytes, base64")


class WirePayloads(BaseModel):
    """``{"payloads": [...]}``: Temporal's ``Payloads`` message as proto JSON."""

    payloads: list[WirePayload]


def cors_origins(environ: dict[str, str] | None = None) -> list[str]:
    """The UI origins allowed to call the codec routes from a browser."""
    env = os.environ if environ is None else environ
    raw = env.get(CORS_ENV)
    if raw is None:
        return list(DEFAULT_CORS_ORIGINS)
    return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]


def _parse(body: WirePayloads) -> Payloads:
    try:
        return json_format.ParseDict(body.model_dump(exclude_defaults=False), Payloads())
    except json_format.ParseError:
        # Shaped like every other 422 of the API (a list of field errors).
        problem = {
            "loc": ["body", "payloads"],
            "msg": "not Temporal Payloads as proto JSON (metadata values and data are base64)",
            "type": "value_error",
        }
        raise HTTPException(422, [problem]) from None


def _answer(payloads: Sequence[Any]) -> dict[str, Any]:
    wire = json_format.MessageToDict(Payloads(payloads=payloads))
    return {"payloads": wire.get("payloads", [])}


def codec_router(
    codec: EncryptionCodec | None,
    auth: Callable[..., object],
    responses: dict[int | str, dict[str, Any]],
) -> APIRouter:
    """The two routes. Without a codec (no key configured) both answer the payloads as they
    came, and an encrypted payload cannot be decoded (400)."""
    router = APIRouter(
        prefix=PREFIX,
        tags=["codec"],
        dependencies=[Depends(auth)],
        responses=responses,
        route_class=StrictJSONRoute,
    )

    @router.post("/encode", response_model=WirePayloads)
    async def encode(body: WirePayloads) -> dict[str, Any]:
        """Encrypt payloads with the current key (as a worker would)."""
        payloads = list(_parse(body).payloads)
        return _answer(await codec.encode(payloads) if codec is not None else payloads)

    @router.post("/decode", response_model=WirePayloads)
    async def decode(body: WirePayloads) -> dict[str, Any]:
        """Decrypt payloads; one that is not encrypted comes back as it is."""
        payloads = list(_parse(body).payloads)
        try:
            if codec is not None:
                return _answer(await codec.decode(payloads))
            if any(p.metadata.get("encoding") == b"binary/encrypted" for p in payloads):
                raise DecryptionError(
                    "cannot decrypt a payload: this API has no encryption keys "
                    "(TIERFLOW_ENCRYPTION_KEYS)"
                )
        except DecryptionError as err:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
        return _answer(payloads)

    return router


class CodecCORS:
    """CORS for the codec routes only (the UI's origins): the ticket routes stay same-origin."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
            # The UI's "include cross-origin credentials" needs it (with explicit origins).
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == PREFIX or path.startswith(PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
