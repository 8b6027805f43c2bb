"""Customer messages rendered from templates, and overrides from a templates folder."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.activities import factories
from tierflow.activities.templates import KINDS, TemplateError, TemplateSet, format_estimate


class TestDefaultTemplates:
    """The built-in templates speak plainly and fill in every detail."""

    def test_transferred_names_team_and_estimate(self) -> None:
        """The transfer message says who has it now and when to expect an answer."""
        message = TemplateSet().render(factories.customer_update())

        assert message.subject == 'Your request "Cannot pay invoice" is with our Billing team'
        assert message.body.startswith(
            'Hi Ana, your request "Cannot pay invoice" has been passed to our Billing team, '
            "who specialise in this. You can expect an answer by Tue 24 Nov, 15:00 UTC."
        )

    @pytest.mark.parametrize("kind", KINDS)
    def test_every_kind_renders_without_placeholders_left(self, kind: str) -> None:
        """No `$` survives rendering, for any kind."""
        update = factories.customer_update(kind=kind, survey_url="https://s.example/T-100")

        message = TemplateSet().render(update)

        assert "$" not in message.subject + message.body
        assert "Cannot pay invoice" in message.subject

    def test_without_estimate_or_team_it_still_reads_well(self) -> None:
        """Missing team and estimate fall back to neutral words."""
        update = factories.customer_update(team_label=None, estimate=None, customer_name="")

        body = TemplateSet().render(update).body

        assert body.startswith('Hello, your request "Cannot pay invoice" has been passed to our')
        assert "support team" in body
        assert "as soon as we can give you a time" in body

    def test_survey_needs_a_url(self) -> None:
        """A survey without a link is a clear error, not a message with a hole in it."""
        with pytest.raises(TemplateError, match="survey_url"):
            TemplateSet().render(factories.customer_update(kind="survey"))

    def test_estimate_is_shown_in_utc_whatever_the_zone(self) -> None:
        """An estimate given in another zone is converted to UTC."""
        paris = timezone(timedelta(hours=1))

        assert format_estimate(datetime(2026, 11, 24, 16, 0, tzinfo=paris)) == (
            "Tue 24 Nov, 15:00 UTC"
        )


class TestTemplateOverrides:
    """A host system replaces any template by dropping `<kind>.txt` in templates_dir."""

    def test_file_overrides_subject_and_body(self, tmp_path: Path) -> None:
        """The override's first line is the subject; the rest is the body."""
        (tmp_path / "transferred.txt").write_text(
            "Subject: [$ticket_id] now with $team\n\nDear $customer_name, see you by $estimate.\n"
        )

        message = TemplateSet(tmp_path).render(factories.customer_update())

        assert message.subject == "[T-100] now with Billing team"
        assert message.body == "Dear Ana Lima, see you by Tue 24 Nov, 15:00 UTC.\n"

    def test_other_kinds_keep_the_defaults(self, tmp_path: Path) -> None:
        """Overriding one kind leaves the others as built in."""
        (tmp_path / "transferred.txt").write_text("Subject: x\ny\n")

        message = TemplateSet(tmp_path).render(factories.customer_update(kind="resolved"))

        assert message.subject == 'Your request "Cannot pay invoice" has been resolved'

    def test_unknown_placeholder_is_a_clear_error(self, tmp_path: Path) -> None:
        """A typo names the file, the unknown placeholder and the known ones."""
        (tmp_path / "waiting.txt").write_text("Subject: hi\nHello $custmer_name\n")

        with pytest.raises(TemplateError) as caught:
            TemplateSet(tmp_path)

        message = str(caught.value)
        assert "waiting.txt" in message
        assert "custmer_name" in message
        assert "customer_name" in message

    def test_missing_subject_line_is_an_error(self, tmp_path: Path) -> None:
        """The first line must be the subject."""
        (tmp_path / "received.txt").write_text("Hello $customer_name\n")

        with pytest.raises(TemplateError, match="Subject"):
            TemplateSet(tmp_path)

    def test_lone_dollar_is_an_error(self, tmp_path: Path) -> None:
        """A `$` that is not a placeholder must be written `$$`."""
        (tmp_path / "received.txt").write_text("Subject: hi\nThat costs 5$ only\n")

        with pytest.raises(TemplateError, match="malformed"):
            TemplateSet(tmp_path)


class TestCustomerTextInTemplates:
    """Customer text is placed into a template, never interpreted by it."""

    @pytest.mark.parametrize(
        "text",
        ["${greeting} $ticket_id $$", "{customer.__class__} {0} %s %(x)s", "{{subject}}"],
    )
    def test_placeholder_syntax_in_customer_text_arrives_as_written(self, text: str) -> None:
        """Template, format-string and %-syntax in a subject or name render literally."""
        rendered = TemplateSet().render(
            factories.customer_update(subject=text, customer_name=f"Ana {text}")
        )

        assert f'"{text}"' in rendered.subject
        assert f'"{text}"' in rendered.body
        assert "Hi Ana," in rendered.body

    def test_single_line_values_are_one_bounded_line(self) -> None:
        """A subject's line breaks become spaces and a huge subject is cut with an ellipsis."""
        rendered = TemplateSet().render(
            factories.customer_update(subject="a\r\n\r\nb" + "c" * 1000, customer_name="\n")
        )

        assert rendered.subject.startswith('Your request "a b')
        assert "\n" not in rendered.subject
        assert "…" in rendered.subject
        assert len(rendered.subject) < 300
        assert rendered.body.startswith("Hello, ")
