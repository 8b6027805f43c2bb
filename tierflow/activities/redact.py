"""What a remote server wrote, made fit to log, to put on a timeline and to show operators.

A receiving server's answer is not trusted: a proxy or an error page that echoes the request
back quotes its Basic auth header (the SMS account and token), the secret path or query of a
chat, webhook or sync URL, and the message's addresses. Tierflow therefore keeps of a failed
answer only its status and a short excerpt, cleaned here:

- an answer that quotes the request itself (our `Idempotency-Key`, `User-Agent` or the start of
  the body we sent) is dropped whole: it holds nothing the operator does not know, and
  everything they must not see;
- otherwise the text is made one line, then every configured secret is removed — the SMS
  account and token (also as the Basic auth value), the SMTP password, the webhook and sync
  secrets, and the user, password, path segments and query values of every configured URL,
  each also in its percent-encoded and JSON-escaped forms — as are any `Basic`/`Bearer`
  credential, `Authorization` value, email address and phone number;
- and the result is cut to `EXCERPT_CHARS` characters.

Redaction happens before the excerpt is cut, so that a secret never shows half.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

from tierflow.activities.safe_text import bounded, one_line
from tierflow.activities.settings import Settings

__all__ = ["ECHOED", "EXCERPT_CHARS", "REDACTED", "Redactor", "redactor_for"]

EXCERPT_CHARS = 120
REDACTED = "<redacted>"
ECHOED = "(answer not shown: it quotes the request)"
# Enough of an answer to find the secrets in it; the excerpt is far shorter.
_SCANNED_CHARS = 16_384
# Parts of a URL shorter than this are words ("v1", "hooks"), not secrets.
_MIN_URL_PART = 6
# Nothing this short is a secret, and removing it would garble every answer.
_MIN_SECRET = 3

_CREDENTIAL = re.compile(
    r"\b(authorization|proxy-authorization)\b(\s*[:=]\s*)\S+(\s+\S+)?"
    r"|\b(basic|bearer|digest|token)(\s+)[A-Za-z0-9._~+/=-]{6,}",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[^\s@<>()\[\]\"',;:]+@[^\s@<>()\[\]\"',;:]+\.[A-Za-z0-9-]{2,}")
_PHONE = re.compile(r"(?:\+|%2B|\b00)\d(?:[\s().-]{0,2}\d){5,16}")


class Redactor:
    """Removes configured secrets, credentials, addresses and numbers from remote text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        """`secrets`: the exact strings to remove (their encoded forms are added here)."""
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) < _MIN_SECRET:
                continue
            forms.update({secret, quote(secret, safe=""), quote(secret), json.dumps(secret)[1:-1]})
        # Longest first, so that a secret containing another goes whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._secrets = (
            re.compile("|".join(re.escape(s) for s in ordered), re.IGNORECASE) if ordered else None
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        """A redactor for every secret `settings` configures."""
        secrets: list[str] = []
        for value in (
            settings.smtp_password,
            settings.sms_token,
            settings.webhook_secret,
            settings.sync_secret,
        ):
            if value is not None:
                secrets.append(value.get_secret_value())
        if settings.sms_account:
            secrets.append(settings.sms_account)
            if settings.sms_token is not None:
                pair = f"{settings.sms_account}:{settings.sms_token.get_secret_value()}"
                secrets.append(base64.b64encode(pair.encode()).decode())
        for url in (
            settings.chat_webhook_url,
            settings.webhook_url,
            settings.sync_url,
            settings.sms_url,
        ):
            if url:
                secrets.extend(_url_secrets(url))
        return cls(secrets)

    def redact(self, text: str) -> str:
        """`text` without secrets, credentials, email addresses or phone numbers."""
        if self._secrets is not None:
            text = self._secrets.sub(REDACTED, text)
        text = _CREDENTIAL.sub(_credential_label, text)
        text = _EMAIL.sub("<address>", text)
        return _PHONE.sub("<phone>", text)

    def excerpt(
        self, text: str, limit: int = EXCERPT_CHARS, *, request_marks: Iterable[str] = ()
    ) -> str:
        """A short, one-line, redacted excerpt of `text` (a remote server's answer).

        If the text contains any of `request_marks` (values only the request carried, such as
        its idempotency key), it quotes the request and is not shown at all.
        """
        text = one_line(text[:_SCANNED_CHARS])
        if any(mark and mark in text for mark in request_marks):
            return ECHOED
        return bounded(self.redact(text), limit)


@functools.lru_cache(maxsize=8)
def redactor_for(settings: Settings) -> Redactor:
    """The redactor for `settings` (settings are frozen, so one is built per configuration)."""
    return Redactor.from_settings(settings)


def _credential_label(match: re.Match[str]) -> str:
    """`Authorization: <redacted>` or `Bearer <redacted>`: the kind stays, the value goes."""
    if match.group(1):
        return f"{match.group(1)}{match.group(2)}{REDACTED}"
    return f"{match.group(4)}{match.group(5)}{REDACTED}"


def _url_secrets(url: str) -> list[str]:
    """The parts of a configured URL that may be its secret: user, password, path, query."""
    parts = urlsplit(url)
    found: list[str] = []
    for value in (parts.username, parts.password):
        if value:
            found.append(unquote(value))
    if parts.path.strip("/"):
        found.append(parts.path)
    if parts.query:
        found.append(parts.query)
    for segment in parts.path.split("/"):
        if len(segment) >= _MIN_URL_PART:
            found.extend({segment, unquote(segment)})
    for pair in parts.query.split("&"):
        _, _, value = pair.partition("=")
        if len(value) >= _MIN_URL_PART:
            found.extend({value, unquote(value)})
    return found
