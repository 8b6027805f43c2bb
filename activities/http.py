"""One POST with the failure classification every HTTP channel shares.

Transport failures and 5xx/408/429 answers become retryable errors; other non-2xx answers
become permanent ones. The response body is quoted (one line, shortened) in the error so the
reason the receiver gave ends up on the ticket's timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx

from tierflow.activities.errors import http_status_is_transient, permanent, transient
from tierflow.activities.safe_text import one_line

__all__ = ["IDEMPOTENCY_HEADER", "post"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
_USER_AGENT = "tierflow-activities"
_QUOTED_BODY_CHARS = 200


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    idempotency_key: str,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    data: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> httpx.Response:
    """POST to `url`, returning the 2xx response or raising a classified ApplicationError.

    `what` names the receiver in error messages ("chat webhook", "SMS gateway").
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
    except httpx.TransportError as exc:
        # Refused connections, DNS hiccups and timeouts: the receiver may be back soon.
        raise transient(f"{what} unreachable: {type(exc).__name__}: {exc}") from exc
    if response.is_success:
        return response
    # The receiver's words end up on the ticket's timeline: one bounded line, no controls.
    quoted = one_line(response.text, _QUOTED_BODY_CHARS)
    reason = f"{what} answered {response.status_code}: {quoted}"
    if http_status_is_transient(response.status_code):
        raise transient(reason, retry_after=_retry_after(response))
    raise permanent(reason)


def _retry_after(response: httpx.Response) -> timedelta | None:
    """The receiver's Retry-After in seconds, if it sent one we can read (dates are ignored)."""
    value = response.headers.get("Retry-After", "")
    if value.isdigit():
        return timedelta(seconds=int(value))
    return None
