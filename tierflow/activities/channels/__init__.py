"""Channel adapters: one module per channel, all behind `ChannelAdapter`."""

from __future__ import annotations

import httpx

from tierflow.activities.channels.base import ChannelAdapter
from tierflow.activities.channels.chat import ChatAdapter
from tierflow.activities.channels.email import EmailAdapter
from tierflow.activities.channels.sms import SmsAdapter
from tierflow.activities.channels.webhook import WebhookAdapter
from tierflow.activities.settings import Settings
from tierflow.contracts import NotifyChannel

__all__ = [
    "ChannelAdapter",
    "ChatAdapter",
    "EmailAdapter",
    "SmsAdapter",
    "WebhookAdapter",
    "build_adapters",
]


def build_adapters(
    settings: Settings, client: httpx.AsyncClient
) -> dict[NotifyChannel, ChannelAdapter]:
    """One adapter per channel, configured or not (unconfigured ones are skipped by callers)."""
    adapters: list[ChannelAdapter] = [
        EmailAdapter(settings),
        ChatAdapter(settings, client),
        SmsAdapter(settings, client),
        WebhookAdapter(settings, client),
    ]
    return {adapter.channel: adapter for adapter in adapters}
