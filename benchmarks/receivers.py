"""Loopback receivers for the fault suite: an SMTP server and HTTP webhooks that log by key.

Each records every delivery attempt that reaches it with its idempotency key and the moment it
arrived, so the suite can tell, from the receivers' side alone, which planned items arrived,
which arrived twice, and whether the sender could have known the first copy was taken. The SMTP
server does **not** deduplicate (a plain mailbox shows a resent message twice); the webhooks do,
as a careful receiver should, and count the repeats they absorbed.

Each can fail in the ways real ones do, dead or slow:

- ``down``: the webhook answers 503, the SMTP server defers every message with 451;
- ``hold(key)``: the SMTP server takes the message and answers ``DATA`` only that many seconds
  later (a slow relay; the message is kept whether or not the client still waits);
- ``slow(key)``: the webhook reads the request and never answers (``"hang"``), answers 200
  and trickles its body one byte a second (``"trickle"``), or answers 200 after two seconds
  (``"delay"``);
- ``stalled``: the webhook accepts connections and says nothing, so a TLS handshake (``tls``)
  never completes and a plain request is never read.

:meth:`_Log.heal` ends every slow behaviour: what hangs is closed unanswered, and from then on
each request is answered at once.
"""

from __future__ import annotations

import asyncio
import shlex
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tierflow.devserver import free_port

LOOPBACK = "127.0.0.1"
# The header each channel carries the item's idempotency key in (see tierflow.activities).
EMAIL_KEY_HEADER = "X-Tierflow-Idempotency-Key"
HTTP_KEY_HEADER = "Idempotency-Key"
# The longest anything is held: a slow behaviour left on by mistake cannot keep a thread.
HOLD_MAX = 900.0
# A trickled answer's body: this many bytes, one a second.
TRICKLE_BYTES = 30

Slowness = Literal["hang", "trickle", "delay"]
# How long a ``delay``ed answer takes (a slow but working channel).
DELAY_S = 2.0


@dataclass(frozen=True)
class Arrival:
    """One delivery attempt as a receiver saw it: the key, when (epoch s), and if accepted.

    ``confirmed``: the sender was told in full that the item was taken (an email answered
    250 at once; a 2xx answer whose body was written out to its last byte). An accepted copy
    that was not confirmed (a relay that sat on ``DATA``, a trickled answer the sender gave
    up on) may rightly be sent again.
    """

    key: str
    at: float
    accepted: bool
    confirmed: bool = False


class _Log:
    """Thread-safe arrivals, plus the switches the receiver consults on every attempt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self.down = False
        self._healed = threading.Event()

    def add(self, key: str, accepted: bool, *, confirmed: bool = False) -> None:
        with self._lock:
            self._arrivals.append(Arrival(key, time.time(), accepted, confirmed and accepted))

    def heal(self) -> None:
        """End every slow behaviour (see the module's docstring)."""
        self._healed.set()

    @property
    def healed(self) -> bool:
        return self._healed.is_set()

    def wait_healed(self, seconds: float = HOLD_MAX) -> None:
        self._healed.wait(seconds)

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
    def __init__(self, log: SmtpReceiver) -> None:
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
        held = 0.0 if self._log.healed else min(HOLD_MAX, self._log.hold(key))
        if held > 0:
            # A slow relay keeps the message whatever the client does meanwhile; the client
            # that gave up before the answer never learnt that it was taken.
            self._log.add(key, accepted=True, confirmed=False)
            await asyncio.sleep(held)
        else:
            self._log.add(key, accepted=True, confirmed=True)
        return "250 2.0.0 Message accepted for delivery"


class SmtpReceiver(_Log):
    """An SMTP server on loopback (aiosmtpd) that logs every message's key; no dedupe.

    ``hold`` (key -> seconds) makes it a slow relay for the messages it picks (until healed).
    """

    def __init__(self) -> None:
        super().__init__()
        self.host = LOOPBACK
        self.port = free_port()
        self.hold: Callable[[str], float] = lambda key: 0.0
        self._controller = Controller(_SmtpHandler(self), hostname=self.host, port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


class _Server(ThreadingHTTPServer):
    """Takes each connection in its own thread: stalls it while ``stalled``, else shakes TLS
    hands (``tls``) there, so that no connection holds up the accepting loop."""

    daemon_threads = True

    def __init__(self, hook: WebhookReceiver, tls: ssl.SSLContext | None) -> None:
        super().__init__((LOOPBACK, 0), _handler_for(hook))
        self.hook = hook
        self.tls = tls

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.hook.stalled and not self.hook.healed:
            self.hook.add_stalled()
            self.hook.wait_healed()  # say nothing; closed unanswered once healed
            return
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return  # the client gave up during the handshake
        super().finish_request(request, client_address)


class WebhookReceiver(_Log):
    """A Slack-style webhook on loopback: 200 once per key, 200 again for a repeat of an
    accepted key (deduplicated, counted in :meth:`absorbed`), 503 while ``down``; slow for
    the requests ``slow`` picks, silent while ``stalled`` (until healed); HTTPS with ``tls``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.slow: Callable[[str], Slowness | None] = lambda key: None
        # The sender's own limit on an answer (its item timeout), if known: an answer finished
        # later reached a sender that had given up (the write into the socket's buffer still
        # succeeds), so it is not a confirmation.
        self.answer_within: float | None = None
        self.stalled = False
        self._stalled_connections = 0
        self._server = _Server(self, tls)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        scheme = "http" if tls is None else "https"
        self.url = f"{scheme}://{LOOPBACK}:{self._server.server_address[1]}/hook"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.heal()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def add_stalled(self) -> None:
        with self._lock:
            self._stalled_connections += 1

    @property
    def stalled_connections(self) -> int:
        """Connections taken while stalled (nothing was said on them)."""
        with self._lock:
            return self._stalled_connections

    def absorbed(self) -> int:
        """Repeats of an already accepted key: deliveries the receiver's dedupe dropped."""
        return sum(n - 1 for n in self.accepted().values() if n > 1)


def _handler_for(hook: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            began = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            key = self.headers.get(HTTP_KEY_HEADER) or ""
            slow = None if hook.healed else hook.slow(key)
            if slow == "hang":
                hook.add(key, accepted=False)
                hook.wait_healed()  # never answered; the connection is closed once healed
                self.close_connection = True
                return
            if slow == "delay":
                time.sleep(DELAY_S)
            down = hook.down
            status, body = (503, b"unavailable") if down else (200, b"ok")
            if slow == "trickle" and not down:
                body = b"o" + b"k" * (TRICKLE_BYTES - 1)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                if slow == "trickle" and not down:
                    for i in range(len(body)):
                        self.wfile.flush()
                        time.sleep(1.0)
                        self.wfile.write(body[i : i + 1])
                else:
                    self.wfile.write(body)
                self.wfile.flush()
            except OSError:  # the sender gave up on a trickled answer
                hook.add(key, accepted=not down, confirmed=False)
                self.close_connection = True
                return
            limit = hook.answer_within
            in_time = limit is None or time.monotonic() - began <= limit
            hook.add(key, accepted=not down, confirmed=in_time)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the suite reads the arrivals, not an access log."""

    return _Handler


# --- a certificate for the HTTPS and TLS receivers --------------------------------------


@dataclass(frozen=True)
class SelfSignedCert:
    """A certificate for 127.0.0.1 and its key, as files."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting this certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_self_signed_cert(directory: Path) -> SelfSignedCert:
    """Generate a throwaway certificate for 127.0.0.1 with the `openssl` command line."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = shlex.split(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
        " -addext subjectAltName=IP:127.0.0.1"
    )
    subprocess.run(
        [*command, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return SelfSignedCert(cert_file=cert, key_file=key)
