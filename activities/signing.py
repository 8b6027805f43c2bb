"""HMAC-SHA256 signatures for the webhooks Tierflow sends, and their verification.

The signature covers `f"{timestamp}.{body}"` so that a captured request cannot be replayed
later with a fresh timestamp. Host systems verify with `verify_signature`; so do our tests.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "signature_headers",
    "verify_signature",
]

TIMESTAMP_HEADER = "X-Tierflow-Timestamp"
SIGNATURE_HEADER = "X-Tierflow-Signature"
DEFAULT_TOLERANCE_SECONDS = 300.0
_SCHEME = "sha256="


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def sign(secret: str | bytes, timestamp: str | int, body: str | bytes) -> str:
    """The signature header value, `sha256=<hex>`, for this timestamp and body."""
    message = f"{timestamp}.".encode() + _as_bytes(body)
    digest = hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()
    return _SCHEME + digest


def signature_headers(
    secret: str | bytes, body: str | bytes, *, now: float | None = None
) -> dict[str, str]:
    """The timestamp and signature headers to send with `body`."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify_signature(
    secret: str | bytes,
    timestamp: str | int,
    body: str | bytes,
    signature: str,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> bool:
    """Whether `signature` was made with `secret` over this body, within `tolerance` seconds.

    Compares in constant time. A timestamp that is not an integer, or further than
    `tolerance` seconds from `now` in either direction, fails verification.
    """
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
