"""Business-time arithmetic across nights, weekends, holidays and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tierflow.statemachine import BusinessCalendar

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
OFFICE = BusinessCalendar(
    timezone="Europe/Berlin",
    always_open=False,
    hours={day: ["09:00-17:00"] for day in WEEKDAYS},
    holidays=[date(2024, 12, 25), date(2024, 12, 26)],
)
ROUND_THE_CLOCK_BERLIN = BusinessCalendar(
    timezone="Europe/Berlin",
    always_open=False,
    hours={day: ["00:00-24:00"] for day in [*WEEKDAYS, "saturday", "sunday"]},
)
SPLIT_NEW_YORK = BusinessCalendar(
    timezone="America/New_York",
    always_open=False,
    hours={"monday": ["08:00-12:00", "13:00-17:30"], "saturday": ["10:00-14:00"]},
)
ALWAYS = BusinessCalendar()


def berlin(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A Berlin wall-clock time as an aware datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


class TestAddBusinessTime:
    def test_always_open_is_plain_arithmetic(self) -> None:
        """A 24x7 calendar adds wall-clock time."""
        start = datetime(2024, 3, 30, 23, 0, tzinfo=UTC)

        assert ALWAYS.add_business_time(start, timedelta(hours=5)) == start + timedelta(hours=5)

    def test_overnight(self) -> None:
        """Two hours from 16:00 run one hour today and one tomorrow morning."""
        due = OFFICE.add_business_time(berlin(2024, 3, 25, 16, 0), timedelta(hours=2))

        assert due == berlin(2024, 3, 26, 10, 0)

    def test_over_the_weekend(self) -> None:
        """Friday afternoon plus two hours is Monday morning."""
        due = OFFICE.add_business_time(berlin(2024, 3, 22, 16, 0), timedelta(hours=2))

        assert due == berlin(2024, 3, 25, 10, 0)

    def test_over_holidays(self) -> None:
        """Christmas Day and Boxing Day are skipped."""
        due = OFFICE.add_business_time(berlin(2024, 12, 24, 16, 0), timedelta(hours=2))

        assert due == berlin(2024, 12, 27, 10, 0)

    def test_over_the_spring_forward_weekend(self) -> None:
        """Across the last Sunday of March, Monday 10:00 is CEST (08:00 UTC)."""
        due = OFFICE.add_business_time(berlin(2024, 3, 29, 16, 0), timedelta(hours=2))

        assert due == datetime(2024, 4, 1, 8, 0, tzinfo=UTC)
        assert due.tzinfo == UTC

    def test_spring_forward_day_is_23_hours(self) -> None:
        """On 31 March 2024 Berlin loses an hour: 24 business hours end at 01:00 on 1 April."""
        due = ROUND_THE_CLOCK_BERLIN.add_business_time(berlin(2024, 3, 31, 0, 0), timedelta(days=1))

        assert due == berlin(2024, 4, 1, 1, 0)

    def test_fall_back_day_is_25_hours(self) -> None:
        """On 27 October 2024 Berlin gains an hour: 24 business hours end at 23:00 that day."""
        due = ROUND_THE_CLOCK_BERLIN.add_business_time(
            berlin(2024, 10, 27, 0, 0), timedelta(days=1)
        )

        assert due == berlin(2024, 10, 27, 23, 0)

    def test_start_before_opening(self) -> None:
        """Time starts counting when the desk opens."""
        due = OFFICE.add_business_time(berlin(2024, 3, 25, 7, 0), timedelta(hours=1))

        assert due == berlin(2024, 3, 25, 10, 0)

    def test_lunch_break(self) -> None:
        """Gaps between windows on one day are skipped."""
        start = datetime(2024, 3, 25, 11, 0, tzinfo=ZoneInfo("America/New_York"))

        due = SPLIT_NEW_YORK.add_business_time(start, timedelta(hours=2))

        assert due == datetime(2024, 3, 25, 14, 0, tzinfo=ZoneInfo("America/New_York"))

    def test_zero_amount_returns_start(self) -> None:
        """Nothing to add, even outside hours: the due time is the start."""
        start = berlin(2024, 3, 23, 3, 0)

        assert OFFICE.add_business_time(start, timedelta(0)) == start

    def test_naive_start_is_refused(self) -> None:
        """Without a time zone the arithmetic would be guesswork."""
        with pytest.raises(ValueError, match="timezone-aware"):
            OFFICE.add_business_time(datetime(2024, 3, 25, 9, 0), timedelta(hours=1))


class TestBusinessTimeBetween:
    def test_closed_over_the_weekend(self) -> None:
        """From Friday's close to Monday's opening no business time passes."""
        elapsed = OFFICE.business_time_between(berlin(2024, 3, 29, 17, 0), berlin(2024, 4, 1, 9, 0))

        assert elapsed == timedelta(0)

    def test_a_working_week(self) -> None:
        """Monday 09:00 to the next Monday 09:00 is five eight-hour days."""
        elapsed = OFFICE.business_time_between(berlin(2024, 3, 25, 9, 0), berlin(2024, 4, 1, 9, 0))

        assert elapsed == timedelta(hours=40)

    def test_short_sunday_in_march(self) -> None:
        """The spring-forward Sunday counts 23 hours in a 24x7 local calendar."""
        elapsed = ROUND_THE_CLOCK_BERLIN.business_time_between(
            berlin(2024, 3, 31, 0, 0), berlin(2024, 4, 1, 0, 0)
        )

        assert elapsed == timedelta(hours=23)

    def test_reversed_interval_is_zero(self) -> None:
        """Time never runs backwards."""
        assert OFFICE.business_time_between(
            berlin(2024, 3, 26, 12, 0), berlin(2024, 3, 25, 12, 0)
        ) == timedelta(0)


class TestCalendarValidation:
    @pytest.mark.parametrize("window", ["17:00-09:00", "9-17", "09:00-24:30", "25:00-26:00"])
    def test_bad_window(self, window: str) -> None:
        """Windows are HH:MM-HH:MM within one day."""
        with pytest.raises(ValidationError, match="invalid opening window"):
            BusinessCalendar(always_open=False, hours={"monday": [window]})

    def test_overlapping_windows(self) -> None:
        """Overlapping windows would count time twice."""
        with pytest.raises(ValidationError, match="overlap"):
            BusinessCalendar(
                always_open=False,
                hours={"monday": ["09:00-13:00", "12:00-17:00"]},
            )

    def test_never_open(self) -> None:
        """A calendar that is not 24x7 needs some hours."""
        with pytest.raises(ValidationError, match="no opening hours"):
            BusinessCalendar(always_open=False)

    def test_unknown_weekday(self) -> None:
        """Weekday keys are full English names."""
        with pytest.raises(ValidationError, match="hours"):
            BusinessCalendar(always_open=False, hours={"funday": ["09:00-17:00"]})


CALENDARS = st.sampled_from([OFFICE, ROUND_THE_CLOCK_BERLIN, SPLIT_NEW_YORK, ALWAYS])
STARTS = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
AMOUNTS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=200))


class TestProperties:
    @given(CALENDARS, STARTS, AMOUNTS)
    def test_add_then_measure_is_identity(
        self, calendar: BusinessCalendar, start: datetime, amount: timedelta
    ) -> None:
        """business_time_between(start, add_business_time(start, x)) == x."""
        due = calendar.add_business_time(start, amount)

        assert calendar.business_time_between(start, due) == amount

    @given(CALENDARS, STARTS, AMOUNTS)
    def test_due_is_never_before_start(
        self, calendar: BusinessCalendar, start: datetime, amount: timedelta
    ) -> None:
        """Adding business time never goes back in time."""
        assert calendar.add_business_time(start, amount) >= start

    @given(CALENDARS, STARTS, AMOUNTS, AMOUNTS)
    def test_more_time_is_never_earlier(
        self, calendar: BusinessCalendar, start: datetime, a: timedelta, b: timedelta
    ) -> None:
        """add_business_time is monotonic in the amount."""
        small, large = sorted([a, b])

        assert calendar.add_business_time(start, small) <= calendar.add_business_time(start, large)
