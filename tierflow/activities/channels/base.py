"""The one interface every channel implements."""

from __future__ import annotations

from typing import Protocol

from tierflow.contracts import Notification, NotifyChannel

__all__ = ["ChannelAdapter"]


class ChannelAdapter(Protocol):
    """Delivers a notification over one channel.

    `configured` is False when the settings for this channel are absent; the caller then
    skips the delivery instead of calling `send`. `send` returns a short detail (the
    provider's message id, when it gives one) and raises a classified ApplicationError
    (see `activities.errors`) when delivery fails. It must send `n.idempotency_key`
    unchanged so that the receiver can drop a retried duplicate.
    """

    channel: NotifyChannel
    configured: bool

    async def send(self, n: Notification) -> str:
        """Deliver `n`; return a detail for the delivery result."""
        ...
