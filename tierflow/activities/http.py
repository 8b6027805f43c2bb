"""One POST with the failure classification every HTTP channel shares.

Transport failures and 5xx/408/429 answers become retryable errors; other non-2xx answers
become permanent ones. The error names the status and quotes a short excerpt of the answer,
redacted (`activities.redact`): the receiver's words reach logs, the ticket's timeline and the
deliveries view, and a receiver that echoes the request would otherwise give its credentials
and the configured URLs' secrets away.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from tierflow.activities.errors import http_status_is_transient, permanent, transient
from tierflow.activities.redact import Redactor

__all__ = ["IDEMPOTENCY_HEADER", "post"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
_USER_AGENT = "tierflow-activities"
# How much of the body's start marks an echo of it (enough to be the request's own).
_BODY_MARK_CHARS = 32
_BODY_MARK_MIN = 12


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    idempotency_key: str,
    redactor: Redactor,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    data: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> httpx.Response:
    """POST to `url`, returning the 2xx response or raising a classified ApplicationError.

    `what` names the receiver in error messages ("chat webhook", "SMS gateway"); `redactor`
    cleans whatever the receiver (or the transport) says before it goes into one.
    """
    sent_headers = {"User-Agent": _USER_AGENT, IDEMPOTENCY_HEADER: idempotency_key}
    sent_headers.update(headers or {})
    request_args: dict[str, Any] = {"headers": sent_headers}
    if content is not None:
        request_args["content"] = content
    if data is not None:
        request_args["data"] = dict(data)
    if auth is not None:
        request_args["auth"] = httpx.BasicAuth(*auth)
    try:
        response = await client.post(url, **request_args)
    except httpx.RequestError as exc:
        # Refused connections, DNS hiccups and timeouts (and an answer that cannot be decoded):
        # the receiver may be back soon. The exception's text is redacted like an answer.
        reason = redactor.excerpt(str(exc))
        raise transient(f"{what} unreachable: {type(exc).__name__}: {reason}") from exc
    if response.is_success:
        return response
    # The receiver's words end up in logs and on the ticket's timeline: short, redacted, and
    # not at all when they quote the request.
    marks = (idempotency_key, _USER_AGENT, _body_mark(content, data))
    quoted = redactor.excerpt(response.text, request_marks=marks)
    reason = f"{what} answered {response.status_code}: {quoted}"
    if http_status_is_transient(response.status_code):
        raise transient(reason, retry_after=_retry_after(response))
    raise permanent(reason)


def _body_mark(content: bytes | None, data: Mapping[str, str] | None) -> str:
    """The start of the body as sent (as httpx encodes a form): an answer that contains it
    echoes the request, whose body is ticket text and addresses."""
    sent = content.decode("utf-8", "replace") if content is not None else urlencode(data or {})
    return sent[:_BODY_MARK_CHARS] if len(sent) >= _BODY_MARK_MIN else ""


def _retry_after(response: httpx.Response) -> timedelta | None:
    """The receiver's Retry-After in seconds, if it sent one we can read (dates are ignored)."""
    value = response.headers.get("Retry-After", "")
    if value.isdigit():
        return timedelta(seconds=int(value))
    return None
