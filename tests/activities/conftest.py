"""Fixtures: real SMTP and HTTP servers on loopback, and activities configured for them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.activities.servers import HttpRecorder, SmtpCapture
from tierflow.activities import Settings, TierflowActivities

WEBHOOK_SECRET = "webhook-secret"
SYNC_SECRET = "sync-secret"
SMS_ACCOUNT = "AC123"
SMS_TOKEN = "sms-token"
SMS_FROM = "+15550001111"

ActivitiesFactory = Callable[..., TierflowActivities]


@pytest.fixture
def smtp() -> Iterator[SmtpCapture]:
    """A real SMTP server on loopback that keeps what it receives."""
    with SmtpCapture() as server:
        yield server


@pytest.fixture
def http() -> Iterator[HttpRecorder]:
    """A real HTTP server on loopback that records requests and answers from a script."""
    with HttpRecorder() as server:
        yield server


@pytest.fixture
def settings(smtp: SmtpCapture, http: HttpRecorder) -> Settings:
    """Every channel configured, pointing at the loopback servers."""
    return Settings(
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_from="Tierflow <tierflow@example.com>",
        chat_webhook_url=f"{http.url}/chat",
        sms_url=f"{http.url}/sms",
        sms_account=SMS_ACCOUNT,
        sms_token=SMS_TOKEN,
        sms_from=SMS_FROM,
        webhook_url=f"{http.url}/webhook",
        webhook_secret=WEBHOOK_SECRET,
        sync_url=f"{http.url}/sync",
        sync_secret=SYNC_SECRET,
        http_timeout=5,
        smtp_timeout=5,
    )


@pytest.fixture
async def make_activities() -> AsyncIterator[ActivitiesFactory]:
    """Build `TierflowActivities` from settings keywords; their HTTP clients close at teardown."""
    built: list[TierflowActivities] = []

    def make(settings: Settings | None = None, **fields: Any) -> TierflowActivities:
        acts = TierflowActivities(settings or Settings(**fields))
        built.append(acts)
        return acts

    yield make
    for acts in built:
        await acts.aclose()


@pytest.fixture
def activities(make_activities: ActivitiesFactory, settings: Settings) -> TierflowActivities:
    """Activities with every channel configured against the loopback servers."""
    return make_activities(settings)


@pytest.fixture(autouse=True)
def _no_tierflow_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ignore TIERFLOW_* variables of the machine running the tests, so results do not vary."""
    for name in list(os.environ):
        if name.startswith("TIERFLOW_"):
            monkeypatch.delenv(name)
