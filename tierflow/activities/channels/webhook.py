"""The generic signed JSON webhook to the host system."""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import SecretStr

from tierflow.activities.errors import permanent
from tierflow.activities.http import post
from tierflow.activities.redact import Redactor, redactor_for
from tierflow.activities.settings import Settings
from tierflow.activities.signing import signature_headers
from tierflow.contracts import Notification, NotifyChannel

__all__ = ["WebhookAdapter", "post_signed_json"]


async def post_signed_json(
    client: httpx.AsyncClient,
    url: str,
    secret: SecretStr,
    payload: dict[str, Any],
    *,
    idempotency_key: str,
    what: str,
    redactor: Redactor,
) -> httpx.Response:
    """POST `payload` as compact JSON, signed over `f"{timestamp}.{body}"` with `secret`.

    The body is serialised once and those exact bytes are both signed and sent, so the
    receiver can verify the bytes it reads.
    """
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    headers.update(signature_headers(secret.get_secret_value(), body))
    return await post(
        client,
        url,
        what=what,
        idempotency_key=idempotency_key,
        redactor=redactor,
        headers=headers,
        content=body,
    )


class WebhookAdapter:
    """Posts a notification, as JSON, to the host system's webhook."""

    channel = NotifyChannel.webhook

    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        """Keep the webhook URL, its secret and the shared HTTP client."""
        self._url = settings.webhook_url
        self._secret = settings.webhook_secret
        self._client = client
        self._redactor = redactor_for(settings)
        self.configured = self._url is not None and self._secret is not None

    async def send(self, n: Notification) -> str:
        """POST `{"type": "notification", "notification": {...}}`, signed."""
        if self._url is None or self._secret is None:
            raise permanent("webhook channel not configured")
        response = await post_signed_json(
            self._client,
            self._url,
            self._secret,
            {"type": "notification", "notification": n.model_dump(mode="json")},
            idempotency_key=n.idempotency_key,
            what="webhook",
            redactor=self._redactor,
        )
        return f"webhook {response.status_code}"
