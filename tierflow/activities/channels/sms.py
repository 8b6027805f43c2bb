"""SMS through a Twilio-style gateway (the Messages resource of the 2010-04-01 API).

The text is plain: the subject is made one line, control characters are removed (a phone
shows no escape sequence or bidi override from ticket text) and the whole is bounded.
"""

from __future__ import annotations

import re

import httpx

from tierflow.activities.errors import permanent
from tierflow.activities.http import post
from tierflow.activities.redact import redactor_for
from tierflow.activities.safe_text import bounded, one_line, plain_text
from tierflow.activities.settings import Settings
from tierflow.contracts import Notification, NotifyChannel

__all__ = ["SmsAdapter", "is_e164", "sms_text"]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# What a message SID looks like (Twilio: "SM" and 32 hex digits); anything else is not kept.
_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Twilio splits longer bodies into segments itself, up to 1600 characters.
_MAX_BODY = 1600


def is_e164(number: str) -> bool:
    """Whether `number` is an E.164 phone number: `+`, country code, at most 15 digits."""
    return bool(_E164.match(number))


def sms_text(n: Notification) -> str:
    """Subject and body on one message, without control characters, cut to what the gateway
    accepts."""
    subject, body = one_line(n.subject), plain_text(n.body).strip()
    return bounded(f"{subject}: {body}" if subject else body, _MAX_BODY)


class SmsAdapter:
    """Sends a notification as a text message through the configured gateway."""

    channel = NotifyChannel.sms

    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        """Keep the gateway's URL and credentials and the shared HTTP client."""
        self._settings = settings
        self._client = client
        self._redactor = redactor_for(settings)
        self.configured = settings.sms_url is not None

    def messages_url(self) -> str:
        """`{sms_url}/2010-04-01/Accounts/{account}/Messages.json`."""
        base = (self._settings.sms_url or "").rstrip("/")
        return f"{base}/2010-04-01/Accounts/{self._settings.sms_account}/Messages.json"

    async def send(self, n: Notification) -> str:
        """POST the form (To, From, Body) with basic auth; the message SID is the detail."""
        settings = self._settings
        account, token, sender = settings.sms_account, settings.sms_token, settings.sms_from
        if not (self.configured and account and token and sender):
            raise permanent("SMS channel not configured")
        if not is_e164(n.address):
            raise permanent(f"invalid phone number {n.address!r}: E.164 (+4420...) expected")
        response = await post(
            self._client,
            self.messages_url(),
            what="SMS gateway",
            idempotency_key=n.idempotency_key,
            redactor=self._redactor,
            data={"To": n.address, "From": sender, "Body": sms_text(n)},
            auth=(account, token.get_secret_value()),
        )
        return f"sms {_message_sid(response) or response.status_code}"


def _message_sid(response: httpx.Response) -> str | None:
    """The gateway's message SID, if the answer is JSON carrying one that looks like an id."""
    try:
        body = response.json()
    except ValueError:
        return None
    sid = body.get("sid") if isinstance(body, dict) else None
    return str(sid) if isinstance(sid, str) and _SID.match(sid) else None
