"""A receiving server's words are never trusted: what it says reaches logs, the ticket's
timeline and the deliveries view only as a status and a short, redacted excerpt.

The hostile case is a receiver that echoes the request back in its error answer — a
debugging proxy, a careless error page. The request carries the SMS account and token (Basic
auth) and goes to URLs whose path or query is their secret.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
import structlog
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from tests.activities import factories
from tests.activities.servers import HttpRecorder, Reply
from tests.waiting import eventually
from tests.workflows.support import running_worker, ticket
from tierflow.activities import NotifyChannel, Settings, TierflowActivities
from tierflow.activities.redact import ECHOED, EXCERPT_CHARS, REDACTED, Redactor
from tierflow.logs import configure_logging

SMS_ACCOUNT = "AC-acct-Qw83rT"
SMS_TOKEN = "sms-token-Vb72pL"
BASIC = base64.b64encode(f"{SMS_ACCOUNT}:{SMS_TOKEN}".encode()).decode()
SMTP_PASSWORD = "smtp-pw-Zq81xK"
CHAT_SECRET = "chat-hook-Mn40cR"
WEBHOOK_TOKEN = "webhook-token-Hy35tW"
SYNC_SECRET_PATH = "sync-path-Gj66sE"
SUBJECT = "Echo-subject-Kq7 cannot log in"
PHONE = "+4930123456"
SECRETS = (SMS_ACCOUNT, SMS_TOKEN, BASIC, CHAT_SECRET, WEBHOOK_TOKEN, SYNC_SECRET_PATH)


def settings_for(url: str, *, smtp: bool = True) -> Settings:
    """Every HTTP channel configured with secrets, pointing at `url`; SMTP configured (with a
    password, not listening) unless `smtp` is False."""
    return Settings(
        chat_webhook_url=f"{url}/services/T0/B0/{CHAT_SECRET}",
        sms_url=f"{url}/sms",
        sms_account=SMS_ACCOUNT,
        sms_token=SMS_TOKEN,
        sms_from="+15550001111",
        webhook_url=f"{url}/webhook?token={WEBHOOK_TOKEN}",
        webhook_secret="webhook-signing-secret",
        sync_url=f"{url}/{SYNC_SECRET_PATH}/sync",
        sync_secret="sync-signing-secret",
        smtp_host="127.0.0.1" if smtp else None,
        smtp_tls="starttls",
        smtp_username="tierflow" if smtp else None,
        smtp_password=SMTP_PASSWORD if smtp else None,
        http_timeout=5,
    )


class TestRedactor:
    """The redactor removes configured secrets in every form an echo writes them."""

    redactor = Redactor.from_settings(settings_for("https://hooks.example"))

    @pytest.mark.parametrize(
        "text",
        [
            f"Authorization: Basic {BASIC}",
            f"POST /sms/2010-04-01/Accounts/{SMS_ACCOUNT}/Messages.json",
            f"url=https:\\/\\/hooks.example\\/services\\/T0\\/B0\\/{CHAT_SECRET}",
            f"GET /webhook?token={WEBHOOK_TOKEN}",
            f"/{SYNC_SECRET_PATH}/sync not found",
            f"login failed for tierflow/{SMTP_PASSWORD}",
            f"token {SMS_TOKEN.upper()}",
            f"auth=AC-acct-Qw83rT%3A{SMS_TOKEN}",
        ],
    )
    def test_no_configured_secret_survives(self, text: str) -> None:
        """Each secret goes, as written, case-folded, percent-encoded or JSON-escaped."""
        cleaned = self.redactor.excerpt(text)

        assert REDACTED in cleaned
        for secret in (*SECRETS, SMTP_PASSWORD, SMS_TOKEN.upper()):
            assert secret not in cleaned

    def test_credentials_addresses_and_numbers_go(self) -> None:
        """Any Bearer or Basic credential, email address and phone number is replaced."""
        cleaned = Redactor().excerpt(
            "Bearer eyJhbGciOi.abc.def for ana@example.com at +49 30 1234567"
        )

        assert cleaned == "Bearer <redacted> for <address> at <phone>"

    async def test_an_echo_of_the_body_alone_is_dropped(self) -> None:
        """A receiver quoting only the body it got (ticket text, addresses) shows nothing."""
        with HttpRecorder(Reply(400, echo=True, echo_headers=())) as http:
            acts = TierflowActivities(settings_for(http.url))
            try:
                with pytest.raises(ApplicationError) as caught:
                    await acts.send_notification(factories.notification(channel=NotifyChannel.chat))
            finally:
                await acts.aclose()
        assert caught.value.message == f"chat webhook answered 400: {ECHOED}"

    def test_an_echo_of_the_request_is_dropped(self) -> None:
        """An answer quoting the request's own marks is not shown at all."""
        echo = "POST /x\r\nIdempotency-Key: ticket-T-1/0001\r\nUser-Agent: tierflow-activities"

        assert self.redactor.excerpt(echo, request_marks=("ticket-T-1/0001",)) == ECHOED

    def test_redaction_comes_before_the_cut(self) -> None:
        """A secret straddling the excerpt's end is removed whole, never shown in part."""
        text = "x" * (EXCERPT_CHARS - 5) + " " + SMS_TOKEN

        cleaned = self.redactor.excerpt(text)

        assert SMS_TOKEN[:4] not in cleaned
        assert len(cleaned) <= EXCERPT_CHARS

    async def test_an_sms_gateway_error_is_redacted(self) -> None:
        """A gateway answering 401 with the request echoed gives no credential away."""
        with HttpRecorder(Reply(401, echo=True)) as http:
            acts = TierflowActivities(settings_for(http.url))
            try:
                with pytest.raises(ApplicationError) as caught:
                    await acts.send_notification(
                        factories.notification(channel=NotifyChannel.sms, address="+447700900123")
                    )
            finally:
                await acts.aclose()
        message = caught.value.message
        assert message.startswith("SMS gateway answered 401")
        assert http.requests[0].basic_auth() == (SMS_ACCOUNT, SMS_TOKEN)  # it was sent
        for secret in SECRETS:
            assert secret not in message


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The test's logs in a buffer, as JSON lines rendered as the worker renders them."""
    buffer = io.StringIO()
    configure_logging("DEBUG", json=True, stream=buffer)
    structlog.configure(cache_logger_on_first_use=False)
    yield buffer
    configure_logging("WARNING", json=False)
    structlog.configure(cache_logger_on_first_use=False)


@pytest.mark.parametrize(
    ("status", "quoted"),
    [(400, None), (503, ("Authorization",))],
    ids=["permanent-whole-request", "transient-path-and-auth"],
)
async def test_an_echoing_receiver_leaks_nothing(
    client: Client,
    task_queue: str,
    json_logs: io.StringIO,
    status: int,
    quoted: tuple[str, ...] | None,
) -> None:
    """Every HTTP channel answers with the request echoed (whole, or only its request line
    and Authorization header); no secret reaches a log line, a timeline entry or the
    deliveries view, which still say what the receiver answered; no customer text or number
    reaches a failure's log line."""
    echo = Reply(status, echo=True, echo_headers=quoted, echo_body=quoted is None)
    with HttpRecorder(echo) as http:
        activities = TierflowActivities(settings_for(http.url, smtp=False))
        try:
            async with running_worker(client, task_queue, activities) as tickets:
                # Customers on SMS and on the web (the webhook); staff on chat; the host's sync.
                by_sms = ticket(SUBJECT, channel="sms", customer={"phone": PHONE})
                on_web = ticket(SUBJECT, channel="web", customer={"email": None})
                await tickets.open(by_sms)
                await tickets.open(on_web)
                expected = {
                    by_sms.id: ("chat webhook", "SMS gateway", "sync webhook"),
                    on_web.id: ("webhook",),
                }

                async def views() -> dict[str, str]:
                    seen = {}
                    for ticket_id in expected:
                        timeline = await tickets.timeline(ticket_id)
                        deliveries = await tickets.deliveries(ticket_id)
                        seen[ticket_id] = "\n".join(
                            [e.model_dump_json() for e in timeline]
                            + [d.model_dump_json() for d in deliveries]
                        )
                    return seen

                async def all_failed() -> bool:
                    seen = await views()
                    return all(
                        f"{what} answered {status}" in seen[ticket_id]
                        for ticket_id, whats in expected.items()
                        for what in whats
                    )

                await eventually(all_failed, within=60, every=0.2)
                shown = "\n".join((await views()).values())
        finally:
            await activities.aclose()
        answered = b"".join(
            echo.body_for(r.method, r.path, r.headers, r.body) for r in http.requests
        )
    # The receiver did answer with the secrets; none of them got through.
    for secret in (BASIC, SMS_ACCOUNT, CHAT_SECRET, WEBHOOK_TOKEN, SYNC_SECRET_PATH):
        assert secret.encode() in answered
    logs = json_logs.getvalue()
    assert f"answered {status}" in logs
    for secret in SECRETS:
        assert secret not in logs
        assert secret not in shown
    # Tierflow's own lines on the failures (the SDK's DEBUG lines dump activity payloads,
    # which encryption covers, not these).
    failures = [line for line in logs.splitlines() if '_failed"' in line]
    assert failures
    assert not [line for line in failures if SUBJECT in line or PHONE in line]
