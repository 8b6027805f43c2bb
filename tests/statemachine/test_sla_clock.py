"""The SLA clock: deadlines, warnings, breaches and pauses, all with the time passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tierflow.statemachine import BusinessCalendar, ClockEvent, SlaClock, SlaTarget, SlaTargets

ALWAYS = BusinessCalendar()
OFFICE = BusinessCalendar(
    timezone="Europe/Berlin",
    always_open=False,
    hours={d: ["09:00-17:00"] for d in ["monday", "tuesday", "wednesday", "thursday", "friday"]},
    holidays=[date(2024, 12, 25)],
)
T0 = datetime(2024, 3, 25, 9, 0, tzinfo=UTC)  # a Monday
FR = SlaTarget.FIRST_RESPONSE
RES = SlaTarget.RESOLUTION
H = timedelta(hours=1)


def running_clock(budget: timedelta = 4 * H, target: SlaTarget = RES) -> SlaClock:
    """A clock with one target started at T0."""
    clock = SlaClock()
    clock.start(target, budget, T0)
    return clock


class TestDeadlines:
    def test_due_is_start_plus_budget(self) -> None:
        """On a 24x7 calendar the deadline is plain arithmetic."""
        assert running_clock().due(RES, ALWAYS) == T0 + 4 * H

    def test_due_in_business_hours(self) -> None:
        """Four business hours from Friday 15:00 Berlin end Monday 11:00 Berlin."""
        clock = SlaClock()
        clock.start(RES, 4 * H, datetime(2024, 3, 22, 15, 0, tzinfo=ZoneInfo("Europe/Berlin")))

        assert clock.due(RES, OFFICE) == datetime(2024, 3, 25, 10, 0, tzinfo=UTC)

    def test_warning_at_fraction(self) -> None:
        """The warning comes when three quarters of the budget are used."""
        assert running_clock().warn_at(RES, ALWAYS, 0.75) == T0 + 3 * H

    def test_remaining_counts_down_and_goes_negative(self) -> None:
        """Remaining time is negative once overdue."""
        clock = running_clock()

        assert clock.remaining(RES, T0 + H, ALWAYS) == 3 * H
        assert clock.remaining(RES, T0 + 5 * H, ALWAYS) == -H

    def test_unstarted_target_has_no_deadline(self) -> None:
        """A target never started has no due time and no remaining time."""
        clock = running_clock()

        assert clock.due(FR, ALWAYS) is None
        assert clock.remaining(FR, T0, ALWAYS) is None


class TestStop:
    def test_met_target_has_no_deadline(self) -> None:
        """Once met, a target no longer produces events."""
        clock = running_clock()

        assert clock.stop(RES, T0 + H, ALWAYS)
        assert clock.due(RES, ALWAYS) is None
        assert clock.next_event(T0 + H, ALWAYS, 0.75) is None

    def test_stop_records_time_used(self) -> None:
        """With a calendar, stop keeps the business time used for later analysis."""
        clock = running_clock()
        clock.stop(RES, T0 + H, ALWAYS)

        target = clock.clock(RES)
        assert target is not None
        assert (target.consumed, target.met_at) == (H, T0 + H)

    def test_stopping_twice_is_a_no_op(self) -> None:
        """A second stop reports False and keeps the first met time."""
        clock = running_clock()
        clock.stop(RES, T0 + H)

        assert not clock.stop(RES, T0 + 2 * H)


class TestPause:
    def test_pause_keeps_remaining_time(self) -> None:
        """Waiting on the customer for a day does not use the budget."""
        clock = running_clock()
        clock.pause(T0 + H, ALWAYS)
        clock.resume(T0 + 25 * H)

        assert clock.due(RES, ALWAYS) == T0 + 28 * H
        assert clock.remaining(RES, T0 + 25 * H, ALWAYS) == 3 * H

    def test_paused_clock_has_no_due_time_and_no_events(self) -> None:
        """While paused nothing is due, so the workflow sets no timer."""
        clock = running_clock()
        clock.pause(T0 + H, ALWAYS)

        assert clock.due(RES, ALWAYS) is None
        assert clock.next_event(T0 + 10 * H, ALWAYS, 0.75) is None
        assert clock.remaining(RES, T0 + 10 * H, ALWAYS) == 3 * H

    def test_pause_uses_business_time(self) -> None:
        """Paused on Friday after hours, resumed Monday: no business time is lost or gained."""
        berlin = ZoneInfo("Europe/Berlin")
        clock = SlaClock()
        clock.start(RES, 4 * H, datetime(2024, 3, 22, 15, 0, tzinfo=berlin))
        clock.pause(datetime(2024, 3, 22, 20, 0, tzinfo=berlin), OFFICE)
        clock.resume(datetime(2024, 3, 25, 9, 0, tzinfo=berlin))

        assert clock.due(RES, OFFICE) == datetime(2024, 3, 25, 11, 0, tzinfo=berlin)

    def test_start_while_paused_starts_paused(self) -> None:
        """A target started during a pause only runs after resume."""
        clock = SlaClock()
        clock.pause(T0, ALWAYS)
        clock.start(RES, 4 * H, T0)
        clock.resume(T0 + 2 * H)

        assert clock.due(RES, ALWAYS) == T0 + 6 * H

    def test_pause_and_resume_are_idempotent(self) -> None:
        """Pausing twice does not count the time twice."""
        clock = running_clock()
        clock.pause(T0 + H, ALWAYS)
        clock.pause(T0 + 2 * H, ALWAYS)
        clock.resume(T0 + 3 * H)
        clock.resume(T0 + 4 * H)

        assert clock.due(RES, ALWAYS) == T0 + 6 * H


class TestEvents:
    def test_warning_comes_first(self) -> None:
        """The next event is the warning, then the breach."""
        clock = running_clock()

        event = clock.next_event(T0, ALWAYS, 0.75)

        assert event == ClockEvent(at=T0 + 3 * H, kind="warning", target=RES)
        assert clock.mark(event, T0 + 3 * H)
        assert clock.next_event(T0 + 3 * H, ALWAYS, 0.75) == ClockEvent(
            at=T0 + 4 * H, kind="breach", target=RES
        )

    def test_earliest_target_wins(self) -> None:
        """First response's warning comes before resolution's."""
        clock = SlaClock()
        clock.restart_all(SlaTargets(first_response=H, resolution=8 * H), T0)

        event = clock.next_event(T0, ALWAYS, 0.5)

        assert event == ClockEvent(at=T0 + H / 2, kind="warning", target=FR)

    def test_overdue_warning_is_skipped_for_the_breach(self) -> None:
        """When the workflow wakes after the deadline it hears of the breach directly."""
        clock = running_clock()

        assert clock.next_event(T0 + 5 * H, ALWAYS, 0.75) == ClockEvent(
            at=T0 + 4 * H, kind="breach", target=RES
        )

    def test_breach_is_recorded_once(self) -> None:
        """mark records the deadline as the breach time, and only once."""
        clock = running_clock()
        breach = ClockEvent(at=T0 + 4 * H, kind="breach", target=RES)

        assert clock.mark(breach, T0 + 4 * H)
        assert not clock.mark(breach, T0 + 5 * H)
        target = clock.clock(RES)
        assert target is not None
        assert (target.breached, target.warned, target.breached_at) == (True, True, T0 + 4 * H)
        assert clock.next_event(T0 + 5 * H, ALWAYS, 0.75) is None

    def test_event_not_yet_due_is_not_marked(self) -> None:
        """An event from the future is refused."""
        clock = running_clock()

        assert not clock.mark(ClockEvent(at=T0 + 4 * H, kind="breach", target=RES), T0)

    def test_stale_event_is_not_marked(self) -> None:
        """An event for a target that has been met is ignored."""
        clock = running_clock()
        clock.stop(RES, T0 + H)

        assert not clock.mark(ClockEvent(at=T0 + 3 * H, kind="warning", target=RES), T0 + 3 * H)


class TestRestartAndStatus:
    def test_restart_all_starts_new_targets_and_drops_next_response(self) -> None:
        """A tier change starts first response and resolution afresh."""
        clock = running_clock()
        clock.start(SlaTarget.NEXT_RESPONSE, H, T0)
        clock.mark(ClockEvent(at=T0 + 3 * H, kind="warning", target=RES), T0 + 3 * H)

        clock.restart_all(SlaTargets(first_response=H, next_response=H, resolution=8 * H), T0 + H)

        assert set(clock.clocks) == {FR, RES}
        assert clock.due(RES, ALWAYS) == T0 + 9 * H
        assert not clock.clocks[RES].warned

    def test_status_lists_started_targets(self) -> None:
        """status describes each started target in a fixed order."""
        clock = SlaClock()
        clock.restart_all(SlaTargets(first_response=H, resolution=4 * H), T0)
        clock.stop(FR, T0 + H / 2)

        status = clock.status(T0 + H, ALWAYS, 0.75)

        assert [(s.target, s.met, s.due, s.remaining) for s in status] == [
            (FR, True, None, None),
            (RES, False, T0 + 4 * H, 3 * H),
        ]

    def test_json_round_trip(self) -> None:
        """The clock survives Temporal's JSON converter (and continue-as-new)."""
        clock = running_clock()
        clock.pause(T0 + H, ALWAYS)

        assert SlaClock.model_validate_json(clock.model_dump_json()) == clock


CALENDARS = st.sampled_from([ALWAYS, OFFICE])
STARTS = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2025, 12, 31), timezones=st.just(UTC)
)
SPANS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10))
BUDGETS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=60))


class TestProperties:
    @given(CALENDARS, STARTS, BUDGETS)
    def test_due_is_never_before_start(
        self, calendar: BusinessCalendar, start: datetime, budget: timedelta
    ) -> None:
        """A deadline is never before the clock started."""
        clock = SlaClock()
        clock.start(RES, budget, start)

        due = clock.due(RES, calendar)

        assert due is not None
        assert due >= start

    @given(CALENDARS, STARTS, BUDGETS, SPANS, SPANS)
    def test_pause_never_brings_the_deadline_closer(
        self,
        calendar: BusinessCalendar,
        start: datetime,
        budget: timedelta,
        until_pause: timedelta,
        paused_for: timedelta,
    ) -> None:
        """Pausing and resuming can only keep or push back the deadline."""
        clock = SlaClock()
        clock.start(RES, budget, start)
        before = clock.due(RES, calendar)

        clock.pause(start + until_pause, calendar)
        clock.resume(start + until_pause + paused_for)
        after = clock.due(RES, calendar)

        assert before is not None
        assert after is not None
        assert after >= before

    @given(CALENDARS, STARTS, BUDGETS, SPANS)
    def test_instant_pause_changes_nothing_before_the_deadline(
        self, calendar: BusinessCalendar, start: datetime, budget: timedelta, at: timedelta
    ) -> None:
        """Pausing and resuming at once, before the deadline, keeps the deadline."""
        clock = SlaClock()
        clock.start(RES, budget, start)
        before = clock.due(RES, calendar)
        assert before is not None
        moment = min(start + at, before)

        clock.pause(moment, calendar)
        clock.resume(moment)

        assert clock.due(RES, calendar) == before
