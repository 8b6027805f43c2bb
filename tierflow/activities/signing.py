"""HMAC-SHA256 signatures for the webhooks Tierflow sends, and their verification.

The signature covers `f"{timestamp}.{body}"` so that a captured request cannot be replayed
later with a fresh timestamp, and `verify_signature` refuses timestamps older (or newer)
than its `tolerance`, five minutes by default, so a captured request cannot be replayed as
is either. Host systems verify with `verify_signature`; so do our tests.
"""

from __future__ import annotations

import hashlib
import hmac
import re
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
# Seconds since the epoch, as `signature_headers` writes them; 12 digits last until year 33658.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


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
    timestamp: str | int | None,
    body: str | bytes,
    signature: str | bytes | None,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> bool:
    """Whether `signature` was made with `secret` over this body, within `tolerance` seconds.

    The contract host systems rely on: it returns True or False and never raises, whatever
    the request carried. Anything malformed is False: a missing (None) or non-ASCII signature
    or timestamp, a timestamp that is not plain decimal digits (no sign, space or `_`), one
    further than `tolerance` seconds from `now` (default: the current time) in either
    direction, which is the replay protection, and an empty secret or a tolerance that is
    negative or NaN. Well-formed signatures are compared in constant time.
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, str | int):
        return False
    timestamp = str(timestamp)
    if not _TIMESTAMP.fullmatch(timestamp):
        return False
    if not isinstance(secret, str | bytes) or not secret or not isinstance(body, str | bytes):
        return False
    if isinstance(signature, str):
        if not signature.isascii():
            return False
        signature = signature.encode("ascii")
    if not isinstance(signature, bytes):
        return False
    if not isinstance(tolerance, int | float) or not tolerance >= 0:  # NaN fails too
        return False
    try:
        body_bytes = _as_bytes(body)
        secret_bytes = _as_bytes(secret)
    except UnicodeEncodeError:  # a str holding lone surrogates
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    expected = sign(secret_bytes, timestamp, body_bytes).encode("ascii")
    return hmac.compare_digest(expected, signature)
