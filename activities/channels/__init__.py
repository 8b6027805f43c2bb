"""Channel adapters: one module per channel, all behind `ChannelAdapter`."""

from __future__ import annotations

import httpx

from activities.channels.base import ChannelAdapter
from activities.channels.chat import ChatAdapter
from activities.channels.email import EmailAdapter
from activities.channels.sms import SmsAdapter
from activities.channels.webhook import WebhookAdapter
from activities.models import NotifyChannel
from activities.settings import Settings

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
