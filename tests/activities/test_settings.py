"""Settings come from `TIERFLOW_*` variables; half-configured channels are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from tierflow.activities import Settings


class TestSettings:
    """Environment variables configure the channels."""

    def test_reads_prefixed_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """`TIERFLOW_SMTP_HOST` and friends land in the settings; secrets stay hidden."""
        monkeypatch.setenv("TIERFLOW_SMTP_HOST", "mail.example.com")
        monkeypatch.setenv("TIERFLOW_SMTP_PORT", "587")
        monkeypatch.setenv("TIERFLOW_SMTP_TLS", "starttls")
        monkeypatch.setenv("TIERFLOW_WEBHOOK_URL", "https://host.example/hook")
        monkeypatch.setenv("TIERFLOW_WEBHOOK_SECRET", "s3cret")

        settings = Settings()

        assert (settings.smtp_host, settings.smtp_port, settings.smtp_tls) == (
            "mail.example.com",
            587,
            "starttls",
        )
        assert settings.webhook_secret is not None
        assert settings.webhook_secret.get_secret_value() == "s3cret"
        assert "s3cret" not in repr(settings)

    def test_everything_is_optional(self) -> None:
        """No settings at all is valid: every channel is simply off."""
        settings = Settings()

        assert settings.smtp_host is None
        assert settings.smtp_port == 25

    @pytest.mark.parametrize(
        "fields",
        [
            {"webhook_url": "http://h/hook"},
            {"sync_url": "http://h/sync"},
            {"sms_url": "http://h", "sms_account": "AC1"},
            {"smtp_host": "h", "smtp_username": "u"},
        ],
    )
    def test_half_configured_channel_is_refused(self, fields: dict[str, str]) -> None:
        """A URL without its secret or credentials fails at start-up."""
        with pytest.raises(ValidationError):
            Settings.model_validate(fields)

    def test_empty_variables_mean_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """`TIERFLOW_SMTP_HOST=` (as a container passes it) leaves email off, not host ""."""
        for name in ("SMTP_HOST", "SMTP_PORT", "CHAT_WEBHOOK_URL", "SYNC_URL", "SYNC_SECRET"):
            monkeypatch.setenv(f"TIERFLOW_{name}", "")

        settings = Settings()

        assert settings.smtp_host is None
        assert settings.smtp_port == 25
        assert settings.chat_webhook_url is None
        assert settings.sync_url is None

    def test_blank_values_in_code_mean_unset(self) -> None:
        """Blank strings given directly are unset too, so they cannot half-configure a channel."""
        settings = Settings(smtp_host=" ", webhook_url="", webhook_secret="", templates_dir="")

        assert (settings.smtp_host, settings.webhook_url, settings.templates_dir) == (
            None,
            None,
            None,
        )


class TestDeliveryHorizon:
    """TIERFLOW_DELIVERY_HORIZON takes plain seconds, as docs/configuration.md says, or ISO 8601."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("86400", timedelta(days=1)),
            (" 90.5 ", timedelta(seconds=90.5)),
            ("P2D", timedelta(days=2)),
            ("PT12H", timedelta(hours=12)),
        ],
    )
    def test_seconds_or_iso_8601(
        self, monkeypatch: pytest.MonkeyPatch, value: str, expected: timedelta
    ) -> None:
        """Digits are seconds; a `P…` value is an ISO 8601 duration."""
        monkeypatch.setenv("TIERFLOW_DELIVERY_HORIZON", value)

        assert Settings().delivery_horizon == expected

    @pytest.mark.parametrize("value", ["banana", "1 day", "-5", "0", "P30D", "01:00:00", "1e9"])
    def test_anything_else_names_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, value: str
    ) -> None:
        """Words, negative, zero, over 7 days, clock notation: an error naming the variable
        and what it takes, never echoing the value."""
        monkeypatch.setenv("TIERFLOW_DELIVERY_HORIZON", value)

        with pytest.raises(ValidationError) as caught:
            Settings()

        message = str(caught.value)
        assert "TIERFLOW_DELIVERY_HORIZON must be seconds (86400) or an ISO 8601" in message
        assert "input_value" not in message
