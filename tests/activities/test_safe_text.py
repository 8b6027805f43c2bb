"""Properties of the neutralising functions, over arbitrary text (hypothesis)."""

from __future__ import annotations

import re
import unicodedata
from email import message_from_bytes, policy

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.activities import factories
from tierflow.activities import Settings
from tierflow.activities.channels.chat import chat_payload
from tierflow.activities.channels.email import EmailAdapter
from tierflow.activities.safe_text import one_line, plain_text, slack_escape
from tierflow.activities.templates import TemplateSet
from tierflow.contracts import NotifyChannel

# Arbitrary text, weighted towards the characters that matter here.
HOSTILE = st.text(
    st.one_of(
        st.characters(),
        st.sampled_from(
            "\r\n\v\f\x00\x1b\x1c\x1d\x1e\x1f\x7f\x85\x9b\u2028\u2029\u202e\u2066\u2069"
            "<>&@!*_`[]()#|\\:"
        ),
    ),
    max_size=300,
)
LIMITS = st.one_of(st.none(), st.integers(min_value=1, max_value=400))
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_control(char: str) -> bool:
    return unicodedata.category(char) in {"Cc", "Cs"} or char in _BIDI


class TestOneLine:
    """`one_line` gives one clean, bounded line."""

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(text=HOSTILE, limit=LIMITS)
    def test_is_one_line_without_controls_and_bounded(self, text: str, limit: int | None) -> None:
        """No line break of any kind, no control character, at most `limit` characters."""
        line = one_line(text, limit)

        assert len(line.splitlines()) <= 1
        assert not any(is_control(c) for c in line)
        assert limit is None or len(line) <= limit
        assert line == line.strip()

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(text=HOSTILE, limit=LIMITS)
    def test_is_idempotent(self, text: str, limit: int | None) -> None:
        """Neutralising twice changes nothing more."""
        assert one_line(one_line(text, limit), limit) == one_line(text, limit)

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(text=st.text(st.characters(categories=["L", "N", "P", "S"]), max_size=200))
    def test_keeps_ordinary_text(self, text: str) -> None:
        """Letters, digits, punctuation and symbols of every script pass unchanged."""
        assert one_line(text) == "".join(c for c in text if c not in _BIDI).strip()


class TestPlainText:
    """`plain_text` keeps lines and tabs, nothing else of the control kind."""

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(text=HOSTILE)
    def test_only_newline_and_tab_remain(self, text: str) -> None:
        """Line breaks are `\\n`; no other control character survives."""
        cleaned = plain_text(text)

        assert not any(is_control(c) for c in cleaned if c not in "\n\t")
        assert all(len(line.splitlines()) <= 1 for line in cleaned.split("\n"))
        assert plain_text(cleaned) == cleaned


class TestSlackEscape:
    """`slack_escape` leaves nothing Slack would interpret."""

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(text=HOSTILE)
    def test_no_angle_bracket_survives_and_text_is_recoverable(self, text: str) -> None:
        """No `<` or `>`, every `&` starts an entity, and unescaping gives the text back."""
        escaped = slack_escape(text)

        assert "<" not in escaped
        assert ">" not in escaped
        assert re.fullmatch(r"([^&]|&(amp|lt|gt);)*", escaped, re.DOTALL)
        unescaped = escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        assert unescaped.replace("\u2060", "") == text.replace("\u2060", "")

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(text=HOSTILE)
    def test_no_plain_text_broadcast(self, text: str) -> None:
        """`@channel`, `@here`, `@everyone`, `@all` never appear as one word."""
        assert not re.search(
            r"(?<![\w@])@(channel|here|everyone|all)\b", slack_escape(text), re.IGNORECASE
        )


class TestChannels:
    """Whatever the ticket says, each channel's output keeps its shape."""

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(subject=HOSTILE, recipient=HOSTILE, body=HOSTILE)
    def test_email_headers_stay_one_line_each(
        self, subject: str, recipient: str, body: str
    ) -> None:
        """The email builds, and reads back with one Subject, one To (one address), no Bcc."""
        n = factories.notification(subject=subject, recipient=recipient, body=body)
        message = EmailAdapter(Settings(smtp_host="localhost")).build_message(n)

        parsed = message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)
        subjects = parsed.get_all("Subject")
        assert subjects is not None
        assert len(subjects) == 1
        assert [a.addr_spec for a in parsed["To"].addresses] == ["bea@example.com"]
        assert parsed.get_all("Bcc") is None
        assert "\n" not in str(parsed["Subject"])

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(subject=HOSTILE, body=HOSTILE)
    def test_chat_text_has_no_markup_from_the_ticket(self, subject: str, body: str) -> None:
        """The chat text holds no `<` and its first line is the bold subject."""
        payload = chat_payload(
            factories.notification(channel=NotifyChannel.chat, subject=subject, body=body)
        )

        assert "<" not in payload["text"]
        if one_line(subject):
            first = payload["text"].split("\n", 1)[0]
            assert first.startswith("*")
            assert first.endswith("*")

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(subject=HOSTILE, name=HOSTILE)
    def test_customer_subject_is_one_line(self, subject: str, name: str) -> None:
        """Rendered customer messages have a one-line subject, whatever the ticket holds."""
        rendered = TemplateSet().render(
            factories.customer_update(subject=subject, customer_name=name)
        )

        assert len(rendered.subject.splitlines()) == 1
