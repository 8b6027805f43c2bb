"""Bounded, clean text: the types every caller-set field goes through."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from tierflow.statemachine import UnknownTarget, default_policy, policy_from_data
from tierflow.statemachine.text import (
    NOTE_MAX,
    Name,
    NotCanonicalError,
    Note,
    Subject,
    canonical_name,
    clean_text,
    excerpt,
    name_key,
    one_line,
    require_canonical,
)
from tierflow.statemachine.ticket import Ticket
from tierflow.workflows.messages import AddNote, Assign, CustomerReply

INVISIBLE = "\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
NAME = TypeAdapter(Name)
SUBJECT = TypeAdapter(Subject)
NOTE = TypeAdapter(Note)


def ticket_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "T-1",
        "subject": "Cannot log in",
        "channel": "email",
        "customer": {"id": "C-1", "name": "Ana Silva", "email": "ana@example.com"},
        "created_at": "2026-11-29T09:00:00Z",
    }
    customer = overrides.pop("customer", {})
    data["customer"].update(customer)
    data.update(overrides)
    return data


class TestOneLine:
    @given(st.text(st.characters(exclude_categories=["Cs"])))
    def test_never_a_line_break_a_control_or_an_invisible_format_character(self, s: str) -> None:
        """Whatever comes in, one plain line comes out."""
        out = one_line(s)
        assert "\n" not in out
        assert "\r" not in out
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in out)
        assert not any(c in INVISIBLE for c in out)
        assert out == out.strip()

    def test_a_forged_detail_line_becomes_one_line(self) -> None:
        """A line break cannot start a new header or detail line."""
        assert one_line("Refund\r\nBcc: x@evil.example\n- **Owner:** me") == (
            "Refund Bcc: x@evil.example - **Owner:** me"
        )


class TestCleanText:
    @given(st.text(st.characters(exclude_categories=["Cs"])))
    def test_keeps_lines_and_tabs_drops_other_controls(self, s: str) -> None:
        """Free text keeps ``\\n`` and ``\\t``; no other control character survives."""
        out = clean_text(s)
        allowed = {"\n", "\t"}
        assert not any((ord(c) < 0x20 and c not in allowed) or 0x7F <= ord(c) <= 0x9F for c in out)


class TestLimits:
    def test_a_lone_surrogate_is_refused_without_echo(self) -> None:
        """JSON can carry "\\ud800"; it is not text, and the error says so without the value."""
        with pytest.raises(ValidationError) as caught:
            CustomerReply(message="secret\ud800")
        assert "unicode" in str(caught.value)
        assert "secret" not in str(caught.value)

    def test_at_the_limit_in_four_byte_characters_is_accepted_one_more_is_not(self) -> None:
        """Lengths are in characters, whatever their size in bytes."""
        AddNote(actor="alex", text="\U0001f600" * NOTE_MAX)
        with pytest.raises(ValidationError, match="at most 10000"):
            AddNote(actor="alex", text="\U0001f600" * (NOTE_MAX + 1))

    @pytest.mark.parametrize("invisible", ["\u202e\u200b", "   ", "\u2066\u2069 "])
    def test_a_name_of_nothing_visible_is_blank(self, invisible: str) -> None:
        """Bidi and zero-width characters do not make a name or subject say something."""
        with pytest.raises(ValidationError, match="blank"):
            Assign(actor="alex", assignee=invisible)
        with pytest.raises(ValidationError, match="blank"):
            Ticket.model_validate(ticket_data(subject=invisible))

    def test_excerpt_cuts_with_an_ellipsis(self) -> None:
        assert excerpt("abcdef", 4) == "abc…"
        assert excerpt("abc", 4) == "abc"


class TestTicketFields:
    def test_phone_digits_must_be_ascii(self) -> None:
        """Arabic-Indic digits are digits to Python's ``\\d``, not to an SMS gateway."""
        with pytest.raises(ValidationError):
            Ticket.model_validate(
                ticket_data(
                    customer={"phone": "+4" + "".join(chr(0x0660 + int(d)) for d in "930123456")}
                )
            )

    def test_an_email_with_a_bidi_override_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="not an email address"):
            Ticket.model_validate(ticket_data(customer={"email": "x@\u202eb.com"}))

    def test_a_customer_id_with_a_bidi_override_is_refused(self) -> None:
        with pytest.raises(ValidationError):
            Ticket.model_validate(ticket_data(customer={"id": "C-\u202e1"}))

    def test_impacted_customers_is_a_number_not_a_boolean(self) -> None:
        with pytest.raises(ValidationError):
            Ticket.model_validate(ticket_data(impacted_customers=True))


class TestPolicyNames:
    @pytest.mark.parametrize("field", ["team", "tier"])
    def test_names_that_become_search_attributes_are_short(self, field: str) -> None:
        """A 3,000-character team or tier name would exceed Temporal's keyword limit and fail
        every workflow task of every ticket opened with the policy; it is refused at load."""
        data = default_policy().model_dump(mode="json")
        if field == "team":
            data["teams"][0]["name"] = "t" * 3001
        else:
            data["tiers"][0]["name"] = "t" * 2101
        with pytest.raises(Exception, match="at most 64"):
            policy_from_data(data)

    def test_unknown_names_are_quoted_only_in_part(self) -> None:
        """A refusal naming an unknown assignee does not repeat 200 characters of it."""
        with pytest.raises(UnknownTarget) as caught:
            default_policy().recipient("x" * 200)
        assert "x" * 61 not in str(caught.value)


class TestCanonicalNames:
    """Names are compared in one canonical form: NFKC, single spaces, nothing invisible."""

    def test_the_canonical_form(self) -> None:
        """No-break and ideographic spaces, runs of spaces, full-width letters: one form."""
        assert canonical_name("  Riley\u00a0\u3000 \uff23hen ") == "Riley Chen"

    @pytest.mark.parametrize(
        "char", ["\u200b", "\u2060", "\u202e", "\ufeff", "\x00", "\t", "\u2028"]
    )
    def test_invisible_characters_are_refused_not_stripped(self, char: str) -> None:
        """A control, format or zero-width character is an error, never silently dropped."""
        with pytest.raises(NotCanonicalError, match="zero-width"):
            canonical_name(f"Riley{char}Chen")

    def test_credentials_must_already_be_canonical(self) -> None:
        """require_canonical refuses what canonical_name would change."""
        assert require_canonical("Riley Chen") == "Riley Chen"
        for near in ("Riley\u00a0Chen", "Riley  Chen", "Riley Chen ", "\uff32iley Chen"):
            with pytest.raises(NotCanonicalError, match="canonical form"):
                require_canonical(near)

    def test_policy_names_are_canonicalised_leniently(self) -> None:
        """An older policy's names with odd spacing or invisible characters still load, in
        the canonical form credentials must match."""
        data = default_policy().model_dump(mode="json")
        data["recipients"][0]["name"] = "Dana\u00a0 Fox\u200b"
        data["permissions"]["services"] = [{"name": "crm\u00a0 bot", "may_act_for": ["agent"]}]

        policy = policy_from_data(data, "<older policy>")

        assert policy.recipients[0].name == "Dana Fox"
        assert policy.permissions.services[0].name == "crm bot"
        assert name_key("Dana\u200bFox") == "DanaFox"
