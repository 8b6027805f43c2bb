"""Real servers on loopback for testing Tierflow's side effects: SMTP capture, HTTP recorder.

Both run in a background thread, so they serve while the test's own event loop awaits the
client. Both do receiver-side deduplication on the idempotency key, as a real receiver
should, so tests can show that a retried delivery has its effect once. Integration tests
import them from `tests.activities.servers`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

# One certificate maker for the tests and the fault suite's TLS receivers.
from benchmarks.receivers import SelfSignedCert, make_self_signed_cert

__all__ = [
    "BlackHole",
    "CapturedEmail",
    "HttpRecorder",
    "RecordedRequest",
    "Reply",
    "SelfSignedCert",
    "SmtpCapture",
    "free_port",
    "make_self_signed_cert",
]

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class _Server:
    """Start/stop as a context manager."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class BlackHole(_Server):
    """A TCP server on loopback that accepts connections and never says a word: a mail
    server (or any receiver) that hangs. `connections` counts the connections it took."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, 0))
        self.host = LOOPBACK
        self.port = int(self._listener.getsockname()[1])
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed by stop()
                return
            with self._lock:
                self._held.append(conn)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._held)

    def start(self) -> None:
        """Listen and accept in a background thread."""
        self._listener.listen(64)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and drop every held connection."""
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held.clear()


# --- SMTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapturedEmail:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str | None
    raw: bytes = b""
    # Received while the server sat on DATA (``SmtpCapture.data_delay``): its sender may have
    # given up before the answer, so that copy's delivery was never confirmed to it.
    held: bool = False

    @property
    def raw_headers(self) -> list[bytes]:
        """The header lines as they crossed the wire (folded continuations joined)."""
        head = self.raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
        return head.replace(b"\n ", b" ").replace(b"\n\t", b"\t").split(b"\n")

    @property
    def message_id(self) -> str:
        """The Message-ID header, e.g. `<key@tierflow>`."""
        return str(self.message["Message-ID"])

    @property
    def body(self) -> str:
        """The plain-text body, with the wire's CRLF line ends turned back into LF."""
        part = self.message.get_body(preferencelist=("plain",))
        text = cast(str, part.get_content()) if part is not None else ""
        return text.replace("\r\n", "\n")


class _CaptureHandler:
    """aiosmtpd handler: refuses or defers chosen recipients, stores accepted messages."""

    def __init__(self, capture: SmtpCapture) -> None:
        self._capture = capture

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self._capture.reject:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address in self._capture.defer:
            return f"450 4.2.1 <{address}>: Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # A slow relay: the message is taken, the answer comes late (and the message is kept
        # whether or not the client still waits, as a real relay would).
        held = self._capture.data_delay > 0
        if held:
            await asyncio.sleep(self._capture.data_delay)
        raw = envelope.original_content or envelope.content or b""
        data = raw.encode() if isinstance(raw, str) else raw
        message = BytesParser(policy=policy.default).parsebytes(data)
        login = session.auth_data.login.decode() if session.auth_data else None
        self._capture.record(
            CapturedEmail(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                authenticated_as=login,
                raw=data,
                held=held,
            )
        )
        return "250 2.0.0 Message accepted for delivery"


class SmtpCapture(_Server):
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives.

    `reject` and `defer` hold recipient addresses to answer with 550 and 450. `credentials`
    turns on AUTH (PLAIN/LOGIN, also without TLS; clients that skip it are still served).
    `tls_context` with `implicit_tls=False` offers STARTTLS (and requires it); with
    `implicit_tls=True` the port speaks TLS at once. `smtputf8` offers SMTPUTF8 (non-ASCII
    mailbox names). `data_delay` (seconds, changeable while it runs) makes it a slow relay
    that answers DATA only that long after the message arrived.
    """

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        smtputf8: bool = False,
    ) -> None:
        self.host = LOOPBACK
        self.port = free_port()
        self.reject: set[str] = set()
        self.defer: set[str] = set()
        self.data_delay = 0.0
        self._received: list[CapturedEmail] = []
        self._lock = threading.Lock()
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
        if credentials is not None:
            kwargs.update(
                authenticator=_Authenticator(*credentials),
                # Implicit TLS is invisible to aiosmtpd's SMTP class, so it must not insist.
                auth_require_tls=tls_context is not None and not implicit_tls,
            )
        if tls_context is not None and implicit_tls:
            kwargs["ssl_context"] = tls_context
        elif tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        self._controller = Controller(
            _CaptureHandler(self), hostname=self.host, port=self.port, **kwargs
        )

    def start(self) -> None:
        """Listen; returns once the server answers."""
        self._controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    def record(self, email: CapturedEmail) -> None:
        """Keep a received message (called from the server's thread)."""
        with self._lock:
            self._received.append(email)

    @property
    def received(self) -> list[CapturedEmail]:
        """Every message received, duplicates included, in order."""
        with self._lock:
            return list(self._received)

    @property
    def delivered(self) -> list[CapturedEmail]:
        """Messages after receiver-side dedup on Message-ID: what a mailbox would show."""
        seen: set[str] = set()
        unique = []
        for email in self.received:
            if email.message_id not in seen:
                seen.add(email.message_id)
                unique.append(email)
        return unique


class _Authenticator:
    """Accepts exactly one login/password pair."""

    def __init__(self, login: str, password: str) -> None:
        self._expected = (login.encode(), password.encode())

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and tuple(auth_data) == self._expected
        # handled=False lets aiosmtpd answer 535 itself on failure.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


# --- HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A scripted answer. With `echo`, the body is the request itself (request line, headers,
    body), as a debugging proxy or a careless error page sends it back; `echo_headers` limits
    the headers quoted to those named, and `echo_body=False` leaves the body out."""

    status: int = 200
    body: bytes = b'{"ok":true}'
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    echo: bool = False
    echo_headers: tuple[str, ...] | None = None
    echo_body: bool = True

    def body_for(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        """What to send back to that request."""
        if not self.echo:
            return self.body
        wanted = None if self.echo_headers is None else {h.lower() for h in self.echo_headers}
        head = "".join(
            f"{name}: {value}\r\n"
            for name, value in headers.items()
            if wanted is None or name.lower() in wanted
        )
        quoted_body = body if self.echo_body else b""
        return f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + quoted_body


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the HTTP server received it, with the status it was answered with."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def header(self, name: str) -> str | None:
        """A header's value, looked up case-insensitively."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body parsed as an url-encoded form (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def basic_auth(self) -> tuple[str, str] | None:
        """The (user, password) of a Basic Authorization header, if any."""
        value = self.header("Authorization") or ""
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        return user, password


class HttpRecorder(_Server):
    """A real HTTP/1.1 server on loopback that records requests and answers from a script.

    Replies queued with `script(...)` are used first, one per request, then `default`.
    Like a careful receiver, it applies each Idempotency-Key's effect once: a request whose
    key was already answered with success is recorded in `requests` but not in `effects`,
    and gets the same answer again.
    """

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        # Paths answered slowly: the reply's first byte after ``delay`` seconds, then one
        # byte every ``trickle`` seconds (a receiver that hangs or trickles its answer).
        self.delay: dict[str, float] = {}
        self.trickle: dict[str, float] = {}
        self._script: list[Reply] = []
        self._requests: list[RecordedRequest] = []
        self._effects: list[RecordedRequest] = []
        self._answered: dict[str, Reply] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval makes stop() quick (shutdown waits for the next poll).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.port = int(self._server.server_address[1])
        self.url = f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def script(self, *replies: Reply | int) -> None:
        """Queue answers (a bare int is a status with a small JSON body)."""
        with self._lock:
            self._script.extend(
                Reply(r, body=json.dumps({"status": r}).encode()) if isinstance(r, int) else r
                for r in replies
            )

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def effects(self) -> list[RecordedRequest]:
        """Requests that took effect: answered 2xx, first of their Idempotency-Key."""
        with self._lock:
            return list(self._effects)

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Choose the reply for a request and record it (called from the server's threads)."""
        key = next((v for k, v in headers.items() if k.lower() == "idempotency-key"), None)
        with self._lock:
            replayed = self._answered.get(key) if key else None
            reply = replayed or (self._script.pop(0) if self._script else self.default)
            request = RecordedRequest(method, path, headers, body, reply.status)
            self._requests.append(request)
            if replayed is None and 200 <= reply.status < 300:
                self._effects.append(request)
                if key:
                    self._answered[key] = reply
        return reply


def _handler_for(recorder: HttpRecorder) -> Callable[..., BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = dict(self.headers.items())
            reply = recorder.answer(self.command, self.path, headers, body)
            answer = reply.body_for(self.command, self.path, headers, body)
            time.sleep(recorder.delay.get(self.path, 0.0))
            pause = recorder.trickle.get(self.path)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(answer)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if pause is None:
                self.wfile.write(answer)
                return
            self.wfile.flush()
            for i in range(len(answer)):
                time.sleep(pause)
                self.wfile.write(answer[i : i + 1])
                self.wfile.flush()

        def _serve(self) -> None:
            # A client that gave up on a slow answer has closed its end: not an error here.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._handle()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return _Handler
