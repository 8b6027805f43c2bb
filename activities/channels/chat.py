"""Chat through a Slack-compatible incoming webhook."""

from __future__ import annotations

import json

import httpx

from activities.errors import permanent
from activities.http import post
from activities.models import Notification, NotifyChannel
from activities.settings import Settings

__all__ = ["ChatAdapter", "chat_payload"]


def chat_payload(n: Notification) -> dict[str, str]:
    """`{"text": ..., "channel": ...}`: the subject in bold, then the body.

    `channel` is only sent when the workflow named one; otherwise the webhook's own default
    channel applies.
    """
    payload = {"text": f"*{n.subject}*\n{n.body}" if n.subject else n.body}
    if n.address:
        payload["channel"] = n.address
    return payload


class ChatAdapter:
    """Posts a notification to the configured chat webhook."""

    channel = NotifyChannel.chat

    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        """Keep the webhook URL and the shared HTTP client."""
        self._url = settings.chat_webhook_url
        self._client = client
        self.configured = self._url is not None

    async def send(self, n: Notification) -> str:
        """POST the JSON payload; the answer body (Slack says `ok`) becomes the detail."""
        if self._url is None:
            raise permanent("chat channel not configured")
        response = await post(
            self._client,
            self._url,
            what="chat webhook",
            idempotency_key=n.idempotency_key,
            headers={"Content-Type": "application/json"},
            content=json.dumps(chat_payload(n)).encode(),
        )
        return f"chat {response.status_code} {response.text[:80]}".strip()
