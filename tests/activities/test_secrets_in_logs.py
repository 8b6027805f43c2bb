"""Secrets never reach a log line: failed deliveries with every credential configured.

A delivery that fails raises inside frames that hold the settings (SMTP password, SMS token,
webhook secrets, a chat webhook URL whose path is its secret). Tracebacks are rendered without
local variables and error messages never quote a credential, in JSON and on a terminal.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from temporalio.client import Client

from tests.activities.servers import HttpRecorder, Reply, SmtpCapture, make_self_signed_cert
from tests.workflows.support import running_worker, ticket
from tierflow.activities import Settings, TierflowActivities
from tierflow.logs import configure_logging
from tierflow.workflows.messages import Assign

SMTP_PASSWORD = "smtp-pw-Zq81xK"
SMS_TOKEN = "sms-token-Vb72pL"
CHAT_SECRET = "chat-hook-Mn40cR"
WEBHOOK_SECRET = "webhook-secret-Hy35tW"
SYNC_SECRET = "sync-secret-Gj66sE"
SECRETS = (SMTP_PASSWORD, SMS_TOKEN, CHAT_SECRET, WEBHOOK_SECRET, SYNC_SECRET)


@pytest.fixture
def captured_logs(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Logs of the test in a buffer, rendered as the worker renders them; restored after."""
    buffer = io.StringIO()
    configure_logging("DEBUG", json=request.param, stream=buffer)
    structlog.configure(cache_logger_on_first_use=False)
    yield buffer
    configure_logging("WARNING", json=False)
    structlog.configure(cache_logger_on_first_use=False)


@pytest.mark.parametrize("captured_logs", [True, False], ids=["json", "terminal"], indirect=True)
async def test_failed_deliveries_log_no_secret(
    client: Client, task_queue: str, captured_logs: io.StringIO, tmp_path: Path
) -> None:
    """Every channel fails (wrong SMTP password, 500s, 401s); no log line holds a secret."""
    failing = HttpRecorder(default=Reply(500, body=b'{"error": "down"}'))
    cert = make_self_signed_cert(tmp_path)
    smtp_server = SmtpCapture(
        credentials=("tierflow", "the-right-one"), tls_context=cert.server_context()
    )
    with smtp_server as smtp, failing as http:
        settings = Settings(
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_tls="starttls",
            smtp_ca_file=cert.cert_file,
            smtp_username="tierflow",
            smtp_password=SMTP_PASSWORD,
            smtp_from="Tierflow <tierflow@example.com>",
            chat_webhook_url=f"{http.url}/services/T0/B0/{CHAT_SECRET}",
            sms_url=f"{http.url}/sms",
            sms_account="AC1",
            sms_token=SMS_TOKEN,
            sms_from="+15550001111",
            webhook_url=f"{http.url}/webhook",
            webhook_secret=WEBHOOK_SECRET,
            sync_url=f"{http.url}/sync",
            sync_secret=SYNC_SECRET,
            http_timeout=5,
            smtp_timeout=5,
        )
        activities = TierflowActivities(settings)
        try:
            async with running_worker(client, task_queue, activities) as tickets:
                # An SMS ticket: the customer is answered through the SMS gateway.
                t = ticket("Secrets stay secret", channel="sms", customer={"phone": "+4930123456"})
                await tickets.open(t)
                # The opening's messages fail in a local activity, which hands them back; an
                # agent's action runs a regular one, whose failed attempt Temporal logs (the
                # new assignee's chat, a recipient not failing yet, is attempted).
                await tickets.assign(t.id, Assign(actor="Jo Park", assignee="Alex Kim"))
                # Wait until each channel has failed at least once. (An attempt hands back
                # what fails transiently instead of failing, so Temporal logs no traceback of
                # it: the channels' own failure lines are what could carry a secret.)
                needed = ("delivery_failed", "sync_failed")
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 60
                while not all(n in captured_logs.getvalue() for n in needed):
                    assert loop.time() < deadline, captured_logs.getvalue()[-2000:]
                    await asyncio.sleep(0.2)
                assert any(r.path.startswith("/sms") for r in http.requests)
        finally:
            await activities.aclose()
    logs = captured_logs.getvalue()
    for secret in SECRETS:
        assert secret not in logs
