"""Durations as policy authors write them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from tierflow.statemachine import Duration, format_duration, parse_duration


class TestParseDuration:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("4h", timedelta(hours=4)),
            ("30m", timedelta(minutes=30)),
            ("90s", timedelta(seconds=90)),
            ("2d", timedelta(days=2)),
            ("1h30m", timedelta(hours=1, minutes=30)),
            ("1h 30m", timedelta(hours=1, minutes=30)),
            ("1.5s", timedelta(seconds=1.5)),
            ("250ms", timedelta(milliseconds=250)),
            ("45", timedelta(seconds=45)),
            (5400, timedelta(hours=1, minutes=30)),
        ],
    )
    def test_accepted_forms(self, text: str | int, expected: timedelta) -> None:
        """Human forms and plain seconds parse to the same timedelta."""
        assert parse_duration(text) == expected

    @pytest.mark.parametrize("text", ["4x", "", "h", "4 hours", "-5m", "1h-30m"])
    def test_rejected_forms(self, text: str) -> None:
        """Anything else is refused with a hint."""
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(text)

    def test_negative_seconds_are_refused(self) -> None:
        """Budgets and delays cannot be negative."""
        with pytest.raises(ValueError, match="must not be negative"):
            parse_duration(-1)


class TestFormatDuration:
    @pytest.mark.parametrize(
        ("td", "text"),
        [
            (timedelta(hours=1, minutes=30), "1h 30m"),
            (timedelta(days=2, hours=4), "2d 4h"),
            (timedelta(0), "0s"),
            (timedelta(seconds=1.5), "1.5s"),
            (-timedelta(minutes=15), "-15m"),
        ],
    )
    def test_format(self, td: timedelta, text: str) -> None:
        """Durations render compactly for people."""
        assert format_duration(td) == text

    @given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
    def test_round_trip(self, td: timedelta) -> None:
        """Whatever format_duration writes, parse_duration reads back exactly."""
        assert parse_duration(format_duration(td)) == td


class _Model(BaseModel):
    after: Duration


class TestDurationField:
    def test_field_accepts_human_text(self) -> None:
        """A Duration field parses '4h'."""
        assert _Model(after="4h").after == timedelta(hours=4)

    def test_field_accepts_iso(self) -> None:
        """ISO 8601 is accepted too."""
        assert _Model(after="PT4H").after == timedelta(hours=4)

    def test_json_uses_human_text(self) -> None:
        """The JSON form is the human form, and reads back."""
        model = _Model(after=timedelta(hours=1, minutes=30))

        assert model.model_dump_json() == '{"after":"1h 30m"}'
        assert _Model.model_validate_json(model.model_dump_json()) == model
