"""Loopback receivers for the fault suite: an SMTP server and a chat webhook that log by key.

Both record every delivery attempt that reaches them with its idempotency key and the moment
it arrived, so the suite can tell, from the receivers' side alone, which planned items arrived,
which arrived twice, and when. The SMTP server does **not** deduplicate (a plain mailbox shows a
resent message twice); the webhook does, as a careful receiver should, and counts the repeats
it absorbed. Either can be taken down for a while: the webhook answers 503, the SMTP server
defers every message with 451.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tierflow.devserver import free_port

LOOPBACK = "127.0.0.1"
# The header each channel carries the item's idempotency key in (see tierflow.activities).
EMAIL_KEY_HEADER = "X-Tierflow-Idempotency-Key"
HTTP_KEY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Arrival:
    """One delivery attempt as a receiver saw it: the key, when (epoch s), and if accepted."""

    key: str
    at: float
    accepted: bool


class _Log:
    """Thread-safe arrivals, plus an outage switch the receiver consults on every attempt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self.down = False

    def add(self, key: str, accepted: bool) -> None:
        with self._lock:
            self._arrivals.append(Arrival(key, time.time(), accepted))

    @property
    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    def accepted(self) -> Counter[str]:
        """How many times each key was accepted (a resend of a delivered item counts again)."""
        return Counter(a.key for a in self.arrivals if a.accepted)

    def refused(self) -> int:
        return sum(1 for a in self.arrivals if not a.accepted)


class _SmtpHandler:
    def __init__(self, log: _Log) -> None:
        self._log = log

    async def handle_DATA(  # noqa: N802 (aiosmtpd calls its hooks by this name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw.encode() if isinstance(raw, str) else raw
        headers = BytesParser(policy=policy.default).parsebytes(data, headersonly=True)
        # A long header is folded on the wire; keys hold no whitespace, so drop what folding left.
        key = "".join(str(headers.get(EMAIL_KEY_HEADER, "")).split())
        if self._log.down:
            self._log.add(key, accepted=False)
            return "451 4.3.0 Mail server temporarily unavailable"
        self._log.add(key, accepted=True)
        return "250 2.0.0 Message accepted for delivery"


class SmtpReceiver(_Log):
    """An SMTP server on loopback (aiosmtpd) that logs every message's key; no dedupe."""

    def __init__(self) -> None:
        super().__init__()
        self.host = LOOPBACK
        self.port = free_port()
        self._controller = Controller(_SmtpHandler(self), hostname=self.host, port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


class WebhookReceiver(_Log):
    """A Slack-style chat webhook on loopback: 200 once per key, 200 again for a repeat of an
    accepted key (deduplicated, counted in :meth:`absorbed`), 503 while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}/hook"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def absorbed(self) -> int:
        """Repeats of an already accepted key: deliveries the receiver's dedupe dropped."""
        return sum(n - 1 for n in self.accepted().values() if n > 1)


def _handler_for(hook: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            key = self.headers.get(HTTP_KEY_HEADER) or ""
            down = hook.down
            hook.add(key, accepted=not down)
            status, body = (503, b"unavailable") if down else (200, b"ok")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the suite reads the arrivals, not an access log."""

    return _Handler
