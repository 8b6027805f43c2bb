"""When a ticket wakes up and what the escalation ladder does then, with the time passed in:
no workflow, no Temporal, only datetimes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tierflow.statemachine import (
    EscalationActionKind,
    EscalationLevel,
    EscalationPolicy,
    Policy,
    Priority,
    SlaClock,
    SlaTarget,
    default_policy,
)
from tierflow.statemachine.deadlines import (
    Deadline,
    close_due,
    has_unmet_breach,
    ladder_silent_at,
    ladder_step,
    next_deadline,
    pending_warning,
    rebudget,
    survey_due,
    warning_still_applies,
)
from tierflow.statemachine.sla import ClockEvent
from tierflow.statemachine.testing import EPOCH

H = timedelta(hours=1)
FR = SlaTarget.FIRST_RESPONSE
RES = SlaTarget.RESOLUTION


@dataclass
class Times:
    """A ticket as far as its deadlines go (the workflow's TicketState has the same fields)."""

    policy: Policy = field(default_factory=default_policy)
    clock: SlaClock = field(default_factory=SlaClock)
    tier: str | None = "tier1"
    breach_at: datetime | None = None
    level_index: int = 0
    survey_due: datetime | None = None
    survey_sent_at: datetime | None = None
    close_due: datetime | None = None


def running(budget: timedelta = 4 * H, target: SlaTarget = RES) -> Times:
    """A ticket in tier1 with one target started at EPOCH."""
    t = Times()
    t.clock.start(target, budget, EPOCH)
    return t


def with_levels(*levels: EscalationLevel, repeat_last: bool = False) -> Policy:
    return default_policy().model_copy(
        update={
            "escalation": EscalationPolicy(
                levels=list(levels), repeat_last=repeat_last, repeat_every=H
            )
        }
    )


def level(name: str, after: timedelta, *actions: EscalationActionKind) -> EscalationLevel:
    return EscalationLevel(name=name, after=after, actions=list(actions))


NOTIFY = EscalationActionKind.NOTIFY_OWNER
RAISE = EscalationActionKind.RAISE_PRIORITY
REASSIGN = EscalationActionKind.REASSIGN_NEXT_TIER


class TestNextDeadline:
    def test_a_ticket_with_nothing_running_waits_for_nothing(self) -> None:
        assert next_deadline(Times(), EPOCH) is None

    def test_the_warning_comes_first_at_the_policys_fraction(self) -> None:
        """The default policy warns at 75 % of the budget: 3 h into a 4 h target."""
        due = next_deadline(running(), EPOCH)
        assert due == Deadline(EPOCH + 3 * H, "warning", "SLA resolution warning (tier1)", RES)

    def test_after_the_warning_the_breach(self) -> None:
        t = running()
        t.clock.mark(ClockEvent(at=EPOCH + 3 * H, kind="warning", target=RES), EPOCH + 3 * H)
        due = next_deadline(t, EPOCH + 3 * H)
        assert due is not None
        assert (due.at, due.kind, due.target) == (EPOCH + 4 * H, "breach", RES)

    def test_a_late_timer_still_gets_the_past_deadline(self) -> None:
        """Asked long after the breach, the breach is still what is due (it lies in the past:
        the caller acts on it at once)."""
        due = next_deadline(running(), EPOCH + 10 * H)
        assert due is not None
        assert (due.at, due.kind) == (EPOCH + 4 * H, "breach")

    def test_after_a_breach_the_ladder_levels_follow_in_business_time(self) -> None:
        t = Times(breach_at=EPOCH, level_index=1)
        due = next_deadline(t, EPOCH)
        assert due == Deadline(EPOCH + H, "level", "escalation level supervisor")

    def test_the_ladder_pauses_with_the_clock(self) -> None:
        """Waiting on the customer pauses the SLA clock, and with it the ladder."""
        t = running()
        t.breach_at = EPOCH
        t.clock.pause(EPOCH + H, t.policy.calendar)
        assert next_deadline(t, EPOCH + H) is None

    def test_past_the_last_level_nothing_is_due_unless_it_repeats(self) -> None:
        levels = [level(n, i * H, NOTIFY) for i, n in enumerate("abcd")]
        assert (
            next_deadline(Times(policy=with_levels(*levels), breach_at=EPOCH, level_index=4), EPOCH)
            is None
        )
        repeating = Times(
            policy=with_levels(*levels, repeat_last=True), breach_at=EPOCH, level_index=4
        )
        due = next_deadline(repeating, EPOCH)
        assert due is not None
        assert (due.at, due.kind, due.summary) == (EPOCH + 4 * H, "level", "escalation level d")

    def test_the_survey_then_closing(self) -> None:
        t = Times(tier=None, survey_due=EPOCH + 72 * H)
        assert next_deadline(t, EPOCH) == Deadline(EPOCH + 72 * H, "survey", "follow-up survey")
        t.survey_sent_at = EPOCH + 72 * H
        t.close_due = EPOCH + 144 * H
        due = next_deadline(t, EPOCH + 72 * H)
        assert due == Deadline(EPOCH + 144 * H, "close", "close after follow-up")

    def test_the_earliest_of_everything_wins(self) -> None:
        t = running(budget=100 * H)
        t.survey_due = EPOCH + H
        due = next_deadline(t, EPOCH)
        assert due is not None
        assert due.kind == "survey"


class TestLiveWarnings:
    def _warned(self) -> tuple[Times, Deadline]:
        t = running()
        d = next_deadline(t, EPOCH)
        assert d is not None
        t.clock.mark(ClockEvent(at=d.at, kind="warning", target=RES), d.at)
        return t, d

    def test_a_warning_names_the_targets_own_deadline(self) -> None:
        t, d = self._warned()
        w = pending_warning(t, d)
        assert (w.at, w.due, w.tier, w.target) == (EPOCH + 3 * H, EPOCH + 4 * H, "tier1", RES)
        assert warning_still_applies(t, w)

    def test_a_warning_whose_target_breached_meanwhile_no_longer_applies(self) -> None:
        t, d = self._warned()
        w = pending_warning(t, d)
        t.clock.mark(ClockEvent(at=EPOCH + 4 * H, kind="breach", target=RES), EPOCH + 4 * H)
        assert not warning_still_applies(t, w)

    def test_a_warning_whose_target_was_met_no_longer_applies(self) -> None:
        t, d = self._warned()
        w = pending_warning(t, d)
        t.clock.stop(RES, EPOCH + 3 * H, t.policy.calendar)
        assert not warning_still_applies(t, w)

    def test_a_warning_for_a_tier_the_ticket_left_no_longer_applies(self) -> None:
        t, d = self._warned()
        w = pending_warning(t, d)
        t.tier = "tier2"
        assert not warning_still_applies(t, w)

    def test_a_warning_whose_deadline_moved_no_longer_applies(self) -> None:
        """The tier's targets restarted at the same moment: a new deadline, not the warned one."""
        t, d = self._warned()
        w = pending_warning(t, d)
        t.clock.restart_all(t.policy.targets_for(Priority.NORMAL, "tier1"), EPOCH + 3 * H)
        assert not warning_still_applies(t, w)


class TestLadder:
    def test_a_breach_at_a_level_with_no_delay_is_told_by_the_ladder(self) -> None:
        """The default ladder's first level comes at the breach: it speaks, not the owner."""
        policy = default_policy()
        assert not ladder_silent_at(policy, EPOCH, 0, EPOCH)
        # A second target breaching an hour later, with level 1 still ahead: silent then.
        assert ladder_silent_at(policy, EPOCH, 1, EPOCH + H - timedelta(seconds=1))
        assert not ladder_silent_at(policy, EPOCH, 1, EPOCH + H)

    def test_past_the_last_level_the_ladder_is_silent_unless_it_repeats(self) -> None:
        levels = [level(n, i * H, NOTIFY) for i, n in enumerate("abcd")]
        assert ladder_silent_at(with_levels(*levels), EPOCH, 4, EPOCH + 100 * H)
        repeating = with_levels(*levels, repeat_last=True)
        assert ladder_silent_at(repeating, EPOCH, 4, EPOCH + 4 * H - timedelta(seconds=1))
        assert not ladder_silent_at(repeating, EPOCH, 4, EPOCH + 4 * H)

    def test_a_reassigning_level_moves_the_ticket_in_its_tier_up_one(self) -> None:
        step = ladder_step(default_policy(), 0, "tier1", "tier1")
        assert (step.level.name, step.number, step.reassign_to) == ("senior-takes-over", 1, "tier2")
        assert not step.raise_priority

    def test_a_ticket_out_of_its_tier_is_not_reassigned(self) -> None:
        """Awaiting approval or the customer, the level notifies but does not move it."""
        for machine_state in ("approval", "waiting"):
            assert ladder_step(default_policy(), 0, "tier1", machine_state).reassign_to is None

    def test_the_top_tier_has_nowhere_to_go(self) -> None:
        assert ladder_step(default_policy(), 2, "tier3", "tier3").reassign_to is None

    def test_a_notifying_level_only_notifies(self) -> None:
        step = ladder_step(default_policy(), 1, "tier1", "tier1")
        assert (step.number, step.reassign_to, step.raise_priority) == (2, None, False)

    def test_a_level_may_raise_the_priority(self) -> None:
        policy = with_levels(*(level(n, i * H, RAISE) for i, n in enumerate("abcd")))
        assert ladder_step(policy, 3, "tier1", "tier1").raise_priority

    def test_breaches_keep_the_ladder_running_until_met(self) -> None:
        t = running()
        assert not has_unmet_breach(t.clock)
        t.clock.mark(ClockEvent(at=EPOCH + 4 * H, kind="breach", target=RES), EPOCH + 4 * H)
        assert has_unmet_breach(t.clock)
        t.clock.stop(RES, EPOCH + 5 * H, t.policy.calendar)
        assert not has_unmet_breach(t.clock)


class TestRebudget:
    def test_a_new_priority_changes_the_budget_and_keeps_the_time_used(self) -> None:
        policy = default_policy()
        t = Times()
        t.clock.start(RES, policy.targets_for(Priority.NORMAL, "tier1").resolution or H, EPOCH)
        t.clock.pause(EPOCH + H, policy.calendar)  # one hour used
        t.clock.resume(EPOCH + H)
        urgent = policy.targets_for(Priority.URGENT, "tier1").resolution
        assert urgent is not None
        rebudget(t.clock, policy, Priority.URGENT, "tier1")
        assert t.clock.due(RES, policy.calendar) == EPOCH + urgent

    def test_a_ticket_outside_any_tier_keeps_its_budgets(self) -> None:
        t = running(budget=7 * H)
        rebudget(t.clock, t.policy, Priority.CRITICAL, None)
        assert t.clock.due(RES, t.policy.calendar) == EPOCH + 7 * H


class TestFollowUp:
    def test_the_survey_follows_the_resolution_by_the_policys_delay(self) -> None:
        assert survey_due(default_policy(), EPOCH) == EPOCH + timedelta(days=3)

    def test_closing_waits_close_after_or_else_the_delay(self) -> None:
        policy = default_policy()
        assert close_due(policy, EPOCH) == EPOCH + timedelta(days=3)
        quick = policy.model_copy(
            update={"follow_up": policy.follow_up.model_copy(update={"close_after": H})}
        )
        assert close_due(quick, EPOCH) == EPOCH + H
