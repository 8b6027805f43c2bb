"""Email over SMTP with aiosmtplib: plain text, one recipient, Message-ID from the key."""

from __future__ import annotations

import re
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from urllib.parse import quote

import aiosmtplib

from activities.errors import permanent, smtp_code_is_transient, transient
from activities.models import Notification, NotifyChannel
from activities.settings import Settings

__all__ = ["IDEMPOTENCY_HEADER", "EmailAdapter", "message_id_for"]

IDEMPOTENCY_HEADER = "X-Tierflow-Idempotency-Key"
# The characters RFC 5322 allows in the left part of a Message-ID (dot-atom-text).
_ATEXT = "!#$%&'*+-/=?^_`{|}~."
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
        """The email for `n`: To the address, Message-ID from the idempotency key."""
        message = EmailMessage()
        message["From"] = self._settings.smtp_from
        message["To"] = formataddr((n.recipient, n.address)) if n.recipient else n.address
        message["Subject"] = n.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = message_id_for(n.idempotency_key)
        message[IDEMPOTENCY_HEADER] = n.idempotency_key
        message["X-Tierflow-Ticket"] = n.ticket_id
        message["X-Tierflow-Event"] = n.event
        if n.audience == "staff":
            # Ask out-of-office responders not to reply to machine alerts.
            message["Auto-Submitted"] = "auto-generated"
        message.set_content(n.body)
        return message

    async def send(self, n: Notification) -> str:
        """Deliver over SMTP; 4xx replies and lost connections retry, 5xx replies do not."""
        if self._settings.smtp_host is None:
            raise permanent("email channel not configured")
        address = _checked_address(n.address)
        try:
            message = self.build_message(n)
        except ValueError as exc:  # e.g. a line break in the subject: header injection
            raise permanent(f"cannot build the email: {exc}") from exc
        settings = self._settings
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
            reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refusals)
            if all(smtp_code_is_transient(r.code) for r in refusals):
                raise transient(f"SMTP recipient deferred: {reason}") from exc
            raise permanent(f"SMTP recipient rejected: {reason}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"SMTP server answered {exc.code} {exc.message}"
            if smtp_code_is_transient(exc.code):
                raise transient(reason) from exc
            raise permanent(reason) from exc
        except (
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPServerDisconnected,
            aiosmtplib.SMTPTimeoutError,
            OSError,
        ) as exc:
            raise transient(f"SMTP server unreachable: {type(exc).__name__}: {exc}") from exc
        except aiosmtplib.SMTPException as exc:
            # What is left is a mismatch between settings and server (STARTTLS or AUTH
            # configured but not offered): retrying the same way cannot succeed.
            raise permanent(f"SMTP server does not support what is configured: {exc}") from exc
        return f"smtp accepted {message['Message-ID']}"


def _checked_address(address: str) -> str:
    """The bare address, or a permanent error if it cannot be an email address."""
    _, bare = parseaddr(address)
    if not bare or not _EMAIL.match(bare):
        raise permanent(f"invalid email address {address!r}")
    try:
        Address(addr_spec=bare)
    except (ValueError, IndexError) as exc:
        raise permanent(f"invalid email address {address!r}: {exc}") from exc
    return bare


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    """A context trusting `smtp_ca_file` (for private CAs), or None for the system store."""
    if settings.smtp_tls == "none" or settings.smtp_ca_file is None:
        return None
    return ssl.create_default_context(cafile=str(settings.smtp_ca_file))
