"""How a failed delivery is reported to Temporal: retry it, or give up at once.

Transient failures (the receiver is down, slow, overloaded, or says "try later") are raised
as retryable errors so that Temporal retries with backoff. Permanent failures (the receiver
understood and refused: a bad address, a rejected recipient, a 4xx) are non-retryable; the
workflow catches them and records them on the ticket's timeline.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

__all__ = [
    "PERMANENT_DELIVERY_ERROR",
    "TEMPLATE_ERROR",
    "TRANSIENT_DELIVERY_ERROR",
    "http_status_is_transient",
    "permanent",
    "smtp_code_is_transient",
    "transient",
]

PERMANENT_DELIVERY_ERROR = "PermanentDeliveryError"
TRANSIENT_DELIVERY_ERROR = "TransientDeliveryError"
TEMPLATE_ERROR = "TemplateError"

# 408 and 429 are the 4xx codes that mean "not now" rather than "never".
_TRANSIENT_4XX = frozenset({408, 425, 429})


def permanent(message: str, *, error_type: str = PERMANENT_DELIVERY_ERROR) -> ApplicationError:
    """An error Temporal must not retry: the same request would fail the same way."""
    return ApplicationError(message, type=error_type, non_retryable=True)


def transient(message: str, *, retry_after: timedelta | None = None) -> ApplicationError:
    """An error Temporal retries with its backoff (or after `retry_after`, if the peer said)."""
    return ApplicationError(message, type=TRANSIENT_DELIVERY_ERROR, next_retry_delay=retry_after)


def http_status_is_transient(status: int) -> bool:
    """5xx, 408, 425 and 429 are worth retrying; any other failure status is final."""
    return status >= 500 or status in _TRANSIENT_4XX


def smtp_code_is_transient(code: int) -> bool:
    """SMTP 4yz replies are temporary by definition (RFC 5321 4.2.1); 5yz are permanent.

    Codes outside 400-599 (aiosmtplib uses -1 when the server vanished mid-reply) are
    treated as transient, because nothing was refused.
    """
    return not 500 <= code < 600
