"""Email over SMTP with aiosmtplib: plain text, one recipient, Message-ID from the key.

Ticket text never reaches a header as written: the subject and the recipient's display name
go through `one_line` (no line break can start a new header, whatever the data) and are
bounded, the To header is built from an `Address` (quoted and RFC 2047-encoded as needed), an
internationalised domain is sent in its ASCII (IDNA) form, and a non-ASCII local part is sent
with SMTPUTF8 when the server offers it (a permanent failure when it does not). The body keeps
its lines but loses control characters.
"""

from __future__ import annotations

import re
import ssl
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from urllib.parse import quote

import aiosmtplib

from tierflow.activities.errors import permanent, smtp_code_is_transient, transient
from tierflow.activities.redact import redactor_for
from tierflow.activities.safe_text import one_line, plain_text
from tierflow.activities.settings import Settings
from tierflow.contracts import Notification, NotifyChannel

__all__ = [
    "IDEMPOTENCY_HEADER",
    "MAX_DISPLAY_NAME",
    "MAX_SUBJECT",
    "EmailAdapter",
    "message_id_for",
]

IDEMPOTENCY_HEADER = "X-Tierflow-Idempotency-Key"
# The characters RFC 5322 allows in the left part of a Message-ID (dot-atom-text).
_ATEXT = "!#$%&'*+-/=?^_`{|}~."
# Header text bounds: a subject is read on one line; names longer than this are not names.
MAX_SUBJECT = 250
MAX_DISPLAY_NAME = 100
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$|^[^@\s<>,;]+@localhost$")


def message_id_for(idempotency_key: str) -> str:
    """`<key@tierflow>`; characters a Message-ID cannot hold are %-escaped, deterministically."""
    return f"<{quote(idempotency_key, safe=_ATEXT)}@tierflow>"


class EmailAdapter:
    """Sends a notification as a plain-text email through the configured SMTP server."""

    channel = NotifyChannel.email

    def __init__(self, settings: Settings) -> None:
        """Keep the SMTP settings; nothing connects until `send`."""
        self._settings = settings
        self.configured = settings.smtp_host is not None

    def build_message(self, n: Notification) -> EmailMessage:
        """The email for `n`: To the address, Message-ID from the idempotency key.

        Raises a permanent ApplicationError if `n.address` cannot be an email address.
        """
        to = _recipient(n.recipient, n.address)
        # SMTPUTF8 only when the address needs it; otherwise headers are RFC 2047-encoded.
        message = EmailMessage(policy=policy.default if to.username.isascii() else policy.SMTPUTF8)
        message["From"] = self._settings.smtp_from
        message["To"] = to
        message["Subject"] = one_line(n.subject, MAX_SUBJECT)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = message_id_for(n.idempotency_key)
        message[IDEMPOTENCY_HEADER] = one_line(n.idempotency_key)
        message["X-Tierflow-Ticket"] = one_line(n.ticket_id)
        message["X-Tierflow-Event"] = one_line(n.event)
        if n.audience == "staff":
            # Ask out-of-office responders not to reply to machine alerts.
            message["Auto-Submitted"] = "auto-generated"
        message.set_content(plain_text(n.body))
        return message

    async def send(self, n: Notification) -> str:
        """Deliver over SMTP; 4xx replies and lost connections retry, 5xx replies do not."""
        if self._settings.smtp_host is None:
            raise permanent("email channel not configured")
        try:
            message = self.build_message(n)
        except ValueError as exc:  # pragma: no cover - the text is neutralised first
            raise permanent(f"cannot build the email: {exc}") from exc
        address = message["To"].addresses[0].addr_spec
        settings = self._settings
        # The server's words end up in logs and on the timeline: short and redacted.
        said = redactor_for(settings).excerpt
        try:
            await aiosmtplib.send(
                message,
                recipients=[address],
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=(
                    settings.smtp_password.get_secret_value() if settings.smtp_password else None
                ),
                use_tls=settings.smtp_tls == "tls",
                # False, not None: None lets aiosmtplib upgrade on its own, which would
                # make "none" mean "sometimes".
                start_tls=settings.smtp_tls == "starttls",
                tls_context=_tls_context(settings),
                timeout=settings.smtp_timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusals = exc.recipients
            reason = "; ".join(f"{said(r.recipient)}: {r.code} {said(r.message)}" for r in refusals)
            if all(smtp_code_is_transient(r.code) for r in refusals):
                raise transient(f"SMTP recipient deferred: {reason}") from exc
            raise permanent(f"SMTP recipient rejected: {reason}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"SMTP server answered {exc.code} {said(exc.message)}"
            if smtp_code_is_transient(exc.code):
                raise transient(reason) from exc
            raise permanent(reason) from exc
        except (
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPServerDisconnected,
            aiosmtplib.SMTPTimeoutError,
            OSError,
        ) as exc:
            reason = f"{type(exc).__name__}: {said(str(exc))}"
            raise transient(f"SMTP server unreachable: {reason}") from exc
        except aiosmtplib.SMTPNotSupported as exc:
            # Also: a non-ASCII mailbox name and a server without SMTPUTF8.
            raise permanent(f"SMTP server cannot deliver this message: {said(str(exc))}") from exc
        except aiosmtplib.SMTPException as exc:
            # What is left is a mismatch between settings and server (STARTTLS or AUTH
            # configured but not offered): retrying the same way cannot succeed.
            reason = said(str(exc))
            raise permanent(f"SMTP server does not support what is configured: {reason}") from exc
        return f"smtp accepted {message['Message-ID']}"


def _recipient(name: str, address: str) -> Address:
    """The To address: the display name made one bounded line, the domain in ASCII (IDNA).

    Raises a permanent error if `address` cannot be an email address.
    """
    _, bare = parseaddr(address)
    if not bare or not _EMAIL.match(bare) or one_line(address) != address.strip():
        raise permanent("invalid email address")
    username, _, domain = bare.rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
        return Address(one_line(name, MAX_DISPLAY_NAME), username, ascii_domain)
    except (UnicodeError, ValueError, IndexError) as exc:
        raise permanent("invalid email address") from exc


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    """A context trusting `smtp_ca_file` (for private CAs), or None for the system store."""
    if settings.smtp_tls == "none" or settings.smtp_ca_file is None:
        return None
    return ssl.create_default_context(cafile=str(settings.smtp_ca_file))
