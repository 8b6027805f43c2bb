"""Where the side effects go, read from `TIERFLOW_*` environment variables.

Every channel is optional: a channel without its settings is skipped (with a log line), so a
deployment turns on only what it has. Half-configured channels are rejected at start-up
instead, because a webhook without its secret or an SMS gateway without credentials is a
mistake that retries cannot fix.

A variable set to the empty string counts as unset (`TIERFLOW_SMTP_HOST=` turns email off, it
does not configure a host named ""), as container environments often pass empty values.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "horizon"]

HORIZON_MAX = timedelta(days=7)
_SECONDS = re.compile(r"^\d{1,9}(\.\d{1,6})?$")
_HORIZON_RULE = (
    "TIERFLOW_DELIVERY_HORIZON must be seconds (86400) or an ISO 8601 duration (P1D, PT12H), "
    "more than 0 and at most 7 days"
)
_TIMEDELTA: TypeAdapter[timedelta] = TypeAdapter(timedelta)


def horizon(value: object) -> timedelta:
    """The delivery horizon from seconds (a number, or a string of digits) or an ISO 8601
    duration; ValueError naming TIERFLOW_DELIVERY_HORIZON for anything else or out of range."""
    if isinstance(value, timedelta):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        parsed = timedelta(seconds=value)
    elif isinstance(value, str) and _SECONDS.match(value.strip()):
        parsed = timedelta(seconds=float(value.strip()))
    elif isinstance(value, str) and value.strip().upper().startswith("P"):
        try:
            parsed = _TIMEDELTA.validate_python(value.strip())
        except ValidationError:
            raise ValueError(_HORIZON_RULE) from None
    else:
        raise ValueError(_HORIZON_RULE)
    if not timedelta(0) < parsed <= HORIZON_MAX:
        raise ValueError(_HORIZON_RULE)
    return parsed


class Settings(BaseSettings):
    """Configuration of every channel and of the host-system sync."""

    model_config = SettingsConfigDict(
        env_prefix="TIERFLOW_",
        extra="ignore",
        frozen=True,
        env_ignore_empty=True,
        hide_input_in_errors=True,  # a mistyped setting may be a secret
    )

    # Email over SMTP.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "tierflow@localhost"
    smtp_ca_file: Path | None = None
    # At most a third of the effects activity's start-to-close (30 s), so that one mail
    # server that never answers cannot make a whole batch's attempt time out.
    smtp_timeout: float = Field(default=10.0, gt=0)

    # Chat: a Slack-compatible incoming webhook.
    chat_webhook_url: str | None = None

    # SMS: a Twilio-style gateway.
    sms_url: str | None = None
    sms_account: str | None = None
    sms_token: SecretStr | None = None
    sms_from: str | None = None

    # Generic signed webhook to the host system (also carries customer updates for channels
    # Tierflow cannot reach itself: phone, social media, web).
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None

    # Ticket sync to the host help desk / CRM.
    sync_url: str | None = None
    sync_secret: SecretStr | None = None

    # Folder of `<kind>.txt` files overriding the built-in customer templates.
    templates_dir: Path | None = None

    http_timeout: float = Field(default=10.0, gt=0)

    # How long one item of a batch may take, whatever its channel (capped at a third of the
    # attempt's start-to-close).
    delivery_item_timeout: float = Field(default=10.0, gt=0)
    # How long a ticket keeps retrying an item that fails transiently (seconds, or ISO 8601
    # such as P1D) before the failure is final. The activity reports it with what it hands
    # back, so each ticket uses the worker's setting.
    delivery_horizon: timedelta = Field(
        default=timedelta(hours=24), gt=timedelta(0), le=HORIZON_MAX
    )

    @field_validator(
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "smtp_ca_file",
        "chat_webhook_url",
        "sms_url",
        "sms_account",
        "sms_token",
        "sms_from",
        "webhook_url",
        "webhook_secret",
        "sync_url",
        "sync_secret",
        "templates_dir",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """A blank value (also one passed in code, or from a .env file) means unset."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("delivery_horizon", mode="before")
    @classmethod
    def _horizon_in_seconds_or_iso(cls, value: object) -> object:
        """Plain seconds (``86400``, also as a string, as the variable holds it) or an ISO 8601
        duration (``P2D``, ``PT12H``); anything else is one error naming the variable."""
        return horizon(value)

    @model_validator(mode="after")
    def _channels_are_complete(self) -> Settings:
        """Refuse a channel that has its address but not what it needs to use it."""
        missing: list[str] = []
        if self.sms_url and not (self.sms_account and self.sms_token and self.sms_from):
            missing.append("TIERFLOW_SMS_URL needs TIERFLOW_SMS_ACCOUNT, _SMS_TOKEN and _SMS_FROM")
        if self.webhook_url and not self.webhook_secret:
            missing.append("TIERFLOW_WEBHOOK_URL needs TIERFLOW_WEBHOOK_SECRET")
        if self.sync_url and not self.sync_secret:
            missing.append("TIERFLOW_SYNC_URL needs TIERFLOW_SYNC_SECRET")
        if bool(self.smtp_username) != bool(self.smtp_password):
            missing.append("TIERFLOW_SMTP_USERNAME and TIERFLOW_SMTP_PASSWORD go together")
        if self.smtp_password and self.smtp_tls == "none":
            # A password sent in clear over the network is a password given away.
            missing.append("SMTP credentials need TIERFLOW_SMTP_TLS=starttls or tls")
        if missing:
            raise ValueError("; ".join(missing))
        return self
