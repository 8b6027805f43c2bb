"""Business hours: when the SLA clock runs.

SLA budgets are business time ("4 business hours"), so a ticket opened on Friday evening is not
overdue by Saturday morning. All arithmetic walks the calendar's local days with zoneinfo, but
measures elapsed time in UTC, so a day that loses an hour to daylight saving really is shorter.
Results are aware datetimes in UTC.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator


class Weekday(StrEnum):
    """Day names as written in policy files, in ``date.weekday()`` order."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


_WEEKDAYS = list(Weekday)
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")
# A calendar with some open hours never needs more than a week plus its holidays to find the
# next open minute; this cap only guards against a calendar that is closed for years on end.
_MAX_DAYS = 3700


def _minutes(hh: str, mm: str) -> int:
    return int(hh) * 60 + int(mm)


def parse_window(text: str) -> tuple[int, int]:
    """``"09:00-17:00"`` → minutes since local midnight ``(540, 1020)``; ``24:00`` ends a day."""
    match = _WINDOW.match(text.strip())
    if not match:
        raise ValueError(f"invalid opening window {text!r} (use e.g. 09:00-17:00)")
    start = _minutes(match[1], match[2])
    end = _minutes(match[3], match[4])
    if end > 24 * 60 or end <= start:
        raise ValueError(
            f"invalid opening window {text!r}: the end must be after the start on the same day"
        )
    return start, end


def _check_window(text: str) -> str:
    parse_window(text)
    return text.strip()


Window = Annotated[str, AfterValidator(_check_window)]


def _local_time(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time; 24:00 is the next day's midnight."""
    extra_days, minutes = divmod(minutes, 24 * 60)
    local = datetime.combine(day + timedelta(days=extra_days), time(minutes // 60, minutes % 60))
    return local.replace(tzinfo=zone).astimezone(UTC)


def _require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


class BusinessCalendar(BaseModel):
    """Opening hours, a time zone and holidays; ``always_open`` means 24x7 (plain arithmetic)."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    timezone: str = "UTC"
    always_open: bool = True
    hours: dict[Weekday, list[Window]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
            raise ValueError(msg) from None
        return value

    @field_validator("hours")
    @classmethod
    def _no_overlaps(cls, value: dict[Weekday, list[str]]) -> dict[Weekday, list[str]]:
        for day, windows in value.items():
            spans = sorted(parse_window(w) for w in windows)
            for (_, end), (start, _) in itertools.pairwise(spans):
                if start < end:
                    raise ValueError(f"{day.value}: opening windows overlap")
        return value

    @model_validator(mode="after")
    def _some_hours_when_not_always_open(self) -> BusinessCalendar:
        if not self.always_open and not any(self.hours.values()):
            raise ValueError("always_open is false but no opening hours are given")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return ZoneInfo(self.timezone)

    def is_holiday(self, day: date) -> bool:
        """Whether the local date is a listed holiday."""
        return day in self.holidays

    def open_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The UTC intervals during which the help desk is open on a local date."""
        if self.always_open:
            start = _local_time(day, 0, self.zone)
            return [(start, _local_time(day, 24 * 60, self.zone))]
        if self.is_holiday(day):
            return []
        windows = self.hours.get(_WEEKDAYS[day.weekday()], [])
        spans = sorted(parse_window(w) for w in windows)
        return [(_local_time(day, a, self.zone), _local_time(day, b, self.zone)) for a, b in spans]

    def _intervals_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals in time order, starting with the local day that contains ``moment``."""
        day = moment.astimezone(self.zone).date()
        for offset in range(_MAX_DAYS + len(self.holidays)):
            yield from self.open_intervals(day + timedelta(days=offset))
        raise ValueError("the business calendar has no open hours in the foreseeable future")

    def add_business_time(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant by which ``amount`` of business time has passed since ``start``.

        A zero or negative amount returns ``start`` itself, so a due time is never before its
        start.
        """
        start = _require_aware(start, "start")
        if amount <= timedelta(0):
            return start
        if self.always_open:
            return start + amount
        left = amount
        for open_at, close_at in self._intervals_from(start):
            if close_at <= start:
                continue
            begin = max(open_at, start)
            available = close_at - begin
            if left <= available:
                return begin + left
            left -= available
        raise AssertionError("unreachable: _intervals_from raises when exhausted")

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Business time elapsed from ``a`` to ``b``; zero when ``b`` is not after ``a``."""
        a = _require_aware(a, "a")
        b = _require_aware(b, "b")
        if b <= a:
            return timedelta(0)
        if self.always_open:
            return b - a
        total = timedelta(0)
        for open_at, close_at in self._intervals_from(a):
            if open_at >= b:
                break
            begin, end = max(open_at, a), min(close_at, b)
            if end > begin:
                total += end - begin
        return total
