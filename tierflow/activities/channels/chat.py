"""Chat through a Slack-compatible incoming webhook.

Subject and body are ticket text, so both are neutralised before Tierflow's own formatting
(the subject in bold) is put around them: control characters go, `&`, `<` and `>` become
entities (no `<!channel>`, `<@U123>` or disguised `<https://evil|bank.com>` link), plain-text
broadcasts are broken, and the message is bounded.
"""

from __future__ import annotations

import json

import httpx

from tierflow.activities.errors import permanent
from tierflow.activities.http import post
from tierflow.activities.redact import redactor_for
from tierflow.activities.safe_text import one_line, plain_text, slack_escape
from tierflow.activities.settings import Settings
from tierflow.contracts import Notification, NotifyChannel

__all__ = ["MAX_BODY", "MAX_SUBJECT", "ChatAdapter", "chat_payload"]

# Slack advises keeping `text` under 4,000 characters; these bounds hold before escaping.
MAX_SUBJECT = 300
MAX_BODY = 3000
_MAX_CHANNEL = 80
_MAX_DETAIL = 80


def chat_payload(n: Notification) -> dict[str, str]:
    """`{"text": ..., "channel": ...}`: the subject in bold, then the body, both escaped.

    `channel` is only sent when the workflow named one; otherwise the webhook's own default
    channel applies.
    """
    subject = slack_escape(one_line(n.subject, MAX_SUBJECT))
    body = slack_escape(plain_text(n.body, MAX_BODY))
    payload = {"text": f"*{subject}*\n{body}" if subject else body}
    channel = one_line(n.address, _MAX_CHANNEL)
    if channel:
        payload["channel"] = channel
    return payload


class ChatAdapter:
    """Posts a notification to the configured chat webhook."""

    channel = NotifyChannel.chat

    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        """Keep the webhook URL and the shared HTTP client."""
        self._url = settings.chat_webhook_url
        self._client = client
        self._redactor = redactor_for(settings)
        self.configured = self._url is not None

    async def send(self, n: Notification) -> str:
        """POST the JSON payload; the answer (Slack says `ok`), redacted, becomes the detail."""
        if self._url is None:
            raise permanent("chat channel not configured")
        response = await post(
            self._client,
            self._url,
            what="chat webhook",
            idempotency_key=n.idempotency_key,
            redactor=self._redactor,
            headers={"Content-Type": "application/json"},
            content=json.dumps(chat_payload(n)).encode(),
        )
        said = self._redactor.excerpt(
            response.text, _MAX_DETAIL, request_marks=(n.idempotency_key,)
        )
        return f"chat {response.status_code} {said}".strip()
