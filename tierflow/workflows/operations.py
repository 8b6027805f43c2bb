"""What each ticket action does to the workflow's state, as plain synchronous code.

The workflow class wires these operations to Temporal (updates, signals, timers, activities);
this module holds the orchestration itself: it rebuilds the state machine, moves the SLA clock,
records the audit trail and plans side effects. It performs no I/O and reads no clock (``now`` is
passed in), so it is deterministic under replay. Every ``check_*`` raises the domain's error
without changing anything: workflow update validators call them, so an invalid action is
rejected before it touches the ticket's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from tierflow.contracts import EffectBatch, TimelineNote
from tierflow.statemachine import (
    SYSTEM_ACTOR,
    Acting,
    EscalationActionKind,
    EscalationReason,
    EscalationRecord,
    EscalationType,
    InvalidAction,
    TicketMachine,
    TicketPlace,
    audience,
    authorize,
    authorize_decision,
    triage,
)
from tierflow.statemachine.sla import ClockEvent, SlaTarget
from tierflow.statemachine.text import excerpt
from tierflow.workflows import views
from tierflow.workflows.effects import EffectPlanner
from tierflow.workflows.messages import (
    AddNote,
    AgentAction,
    Assign,
    Close,
    CustomerFeedback,
    CustomerReply,
    Decide,
    Escalate,
    Reopen,
    RequestEscalation,
    Resolve,
    Respond,
    SetPriority,
    TicketStatus,
    WaitCustomer,
)
from tierflow.workflows.state import PendingRequest, TicketRun, TicketState

SYSTEM = SYSTEM_ACTOR  # the actor of everything the policy does on its own; no caller's

DeadlineKind = Literal["warning", "breach", "level", "survey", "close"]


@dataclass(frozen=True)
class Deadline:
    """The next moment the ticket must wake up for, and why (the timer's summary)."""

    at: datetime
    kind: DeadlineKind
    summary: str
    target: SlaTarget | None = None


@dataclass(frozen=True)
class _Warning:
    """An SLA warning due now: given once everything else due at this moment is done."""

    at: datetime
    target: SlaTarget
    tier: str | None
    due: datetime


class TicketOperations:
    """The ticket's state and everything that may happen to it."""

    def __init__(self, state: TicketState, workflow_id: str) -> None:
        self.state = state
        self.workflow_id = workflow_id
        self.effects = EffectPlanner(state, workflow_id)
        # The ticket's place on its tiers' shared machine (statemachine/machine.py), kept in
        # step with ``state.machine`` by ``_move``.
        self._machine = TicketMachine.restore(state.policy.tier_names(), state.machine)

    # --- helpers ------------------------------------------------------------------------------

    def machine(self) -> TicketMachine:
        """The state machine, at the ticket's current state."""
        return self._machine

    def _move(self, action: str, **kwargs: object) -> str:
        new_state = self._machine.apply(action, **kwargs)
        self.state.machine = self._machine.snapshot()
        return new_state

    def check(self, action: str, **kwargs: object) -> None:
        """Raise the domain error if ``action`` is not allowed in the ticket's state."""
        self.machine().check(action, **kwargs)

    # --- who may act (update validators) ------------------------------------------------------

    def authorize(self, action: str, a: AgentAction) -> Acting:
        """Who acts, if the ticket's policy lets them take ``action`` on this ticket (their
        role's permission, and their act scope reaching it: their teams, or a ticket assigned
        to them or that they follow); Forbidden otherwise.

        Checked before the ticket's state, so that a caller the policy does not know learns
        nothing but who may act.
        """
        s = self.state
        requester = s.pending.actor if s.pending is not None else None
        return authorize(
            s.policy,
            action,
            a.actor,
            a.on_behalf_of,
            tier=s.tier,
            team=s.team,
            requester=requester,
            ticket=self._place(),
        )

    def _place(self) -> TicketPlace:
        """Where the ticket is and whose it is, as the act scopes see it."""
        s = self.state
        return TicketPlace(s.tier, s.team, s.assignee, tuple(s.followers))

    def _refuse_descent(self, action: str, target: str) -> None:
        """An escalation goes up (or, functional, sideways): a tier below the ticket's is a
        de-escalation, refused rather than counted as an escalation."""
        s = self.state
        assert s.tier is not None
        if s.policy.tier(target).level < s.policy.tier(s.tier).level:
            raise InvalidAction(
                action,
                s.machine.state,
                [],
                reason=f"{target} is below {s.tier}: a de-escalation is no escalation "
                f"(escalate up a tier, or to a team of {s.tier})",
            )

    def check_action(self, action: str, a: AgentAction) -> None:
        """Validate an action that needs nothing but permission and the ticket's state."""
        self.authorize(action, a)
        self.check(action)

    def check_decide(self, action: str, a: Decide) -> None:
        """Approve or reject: a supervisor or above of the ticket's tier and team (the tier the
        request escalates out of), never the requester."""
        acting = self.authorize(action, a)
        self.check(action)
        s = self.state
        assert s.tier is not None  # a ticket awaiting approval is in a tier
        requester = s.pending.actor if s.pending is not None else ""
        authorize_decision(s.policy, action, acting, s.tier, s.team, requester, self._place())

    def _require(self, action: str) -> None:
        """Raise if ``action`` is not offered in the ticket's state (targets checked later)."""
        allowed = self._allowed()
        if action not in allowed:
            raise InvalidAction(action, self.state.machine.state, allowed)

    def take_effects(self) -> list[EffectBatch]:
        return self.effects.take()

    def carry_over(self, run_id: str) -> TicketRun:
        """The input of the next run when the ticket continues as new from run ``run_id``.

        Only the recent past travels (see :meth:`TicketState.carried`); this run's state is
        left whole, so queries on this run, replayed later by its id, still see all of it.
        """
        return TicketRun(carried=self.state.carried(run_id))

    # --- opening ------------------------------------------------------------------------------

    def open(self, now: datetime) -> None:
        """Triage the new ticket by the policy's rules and send it to its starting tier."""
        s = self.state
        s.record(now, "opened", s.opened_by, f"opened via {s.ticket.channel}")
        self._move("triage")
        result = triage(s.ticket, s.policy)
        s.category, s.priority = result.category, result.priority
        fired = [f"{f.name} ({f.reason})" for f in result.fired]
        s.record(
            now,
            "triage",
            SYSTEM,
            f"category {result.category or '—'}, priority {result.priority}, "
            f"{result.tier}/{result.team or '—'}"
            + (f"; rules: {'; '.join(fired)}" if fired else "; no rule fired"),
            rules=[f.model_dump() for f in result.fired],
        )
        self._move("route", tier=result.tier)
        self._land(result.tier, result.team, now)
        default_tier = s.policy.default_tier
        if result.tier != default_tier and result.fired:
            # Rules that send a ticket past the default tier are automatic escalations.
            self._add_escalation(
                EscalationRecord(
                    type=EscalationType.AUTOMATIC,
                    from_tier=None,
                    to_tier=result.tier,
                    to_team=result.team,
                    reasons=[EscalationReason.RULE],
                    rule=", ".join(f.name for f in result.fired),
                    actor=SYSTEM,
                    at=now,
                )
            )
        mentions = audience.rule_mentions(s.policy, result.tier, result.team, result.notify)
        self.effects.landed(now, first=True, also=mentions)

    def _land(self, tier: str, team: str | None, now: datetime) -> None:
        """The ticket arrives in a tier and team: the new tier's SLA targets start."""
        s = self.state
        s.tier, s.team = tier, team
        s.breach_at = None
        s.clock.restart_all(s.policy.targets_for(s.priority, tier), now)
        if s.responded:
            s.clock.stop(SlaTarget.FIRST_RESPONSE, now)
        s.record(now, "transition", SYSTEM, f"now in {tier}/{team or '—'}", tier=tier, team=team)

    # --- agent actions ------------------------------------------------------------------------

    def check_assign(self, a: Assign) -> None:
        self.authorize("assign", a)
        self.check("assign")
        self.state.policy.recipient(a.assignee)
        if a.team is not None and a.team != self.state.team:
            team = self.state.policy.team(a.team)
            if team.tier != self.state.tier:
                raise InvalidAction(
                    "assign",
                    self.state.machine.state,
                    [],
                    reason=f"team {a.team!r} is in {team.tier}; escalate to move tiers",
                )

    def assign(self, a: Assign, now: datetime) -> None:
        s = self.state
        self._move("assign")
        s.assignee = a.assignee
        if a.team is not None:
            s.team = a.team
        s.record(now, "assignment", a.acting, f"assigned to {a.assignee}", via=a.via, team=s.team)
        if s.policy.notify.on_assignment:
            self.effects.assigned(now)

    def respond(self, a: Respond, now: datetime) -> None:
        s = self.state
        self._move("respond")  # an internal transition: the state stays
        s.responded = True
        for target in (SlaTarget.FIRST_RESPONSE, SlaTarget.NEXT_RESPONSE):
            if s.clock.stop(target, now, s.policy.calendar):
                s.record(now, "sla", a.acting, f"{target} met", via=a.via)
                self._clear_breach_if_met()
        s.record(
            now, "customer", a.acting, "responded to the customer", via=a.via, message=a.message
        )

    def _target_tier(self, tier: str | None, team: str | None) -> str:
        s = self.state
        if team is not None:
            return str(s.policy.team(team).tier)
        if tier is not None:
            s.policy.tier(tier)
            return tier
        assert s.tier is not None
        nxt = s.policy.next_tier(s.tier)
        if nxt is None:
            raise InvalidAction(
                "escalate", s.machine.state, [], reason=f"{s.tier} is already the top tier"
            )
        return str(nxt)

    def check_escalate(self, a: Escalate) -> None:
        s = self.state
        self.authorize("escalate", a)
        self._require("escalate")
        if a.type == EscalationType.FUNCTIONAL and a.team is None:
            raise InvalidAction(
                "escalate", s.machine.state, [], reason="a functional escalation names a team"
            )
        target = self._target_tier(a.tier, a.team)
        self._refuse_descent("escalate", target)
        if a.assignee is not None:
            s.policy.recipient(a.assignee)
        if target == s.tier:
            if a.type == EscalationType.HIERARCHICAL:
                raise InvalidAction(
                    "escalate", s.machine.state, [], reason=f"the ticket is already in {target}"
                )
            self.check("transfer")
            if a.team == s.team:
                raise InvalidAction(
                    "escalate", s.machine.state, [], reason=f"the ticket is already in {a.team}"
                )
            return
        self.check("escalate", tier=target)
        assert s.tier is not None
        here, there = s.policy.tier(s.tier).level, s.policy.tier(target).level
        # Climbing out of, or past, a tier that needs approval needs it: tier1 -> tier3 passes
        # tier2, and stepping down first does not skip it.
        gate = next(
            (t.name for t in s.policy.tiers if t.requires_approval and here <= t.level < there),
            None,
        )
        if gate is not None:
            raise InvalidAction(
                "escalate",
                s.machine.state,
                ["request_escalation"],
                reason=f"escalating out of or past {gate} needs a supervisor's approval; "
                "use request_escalation",
            )

    def escalate(self, a: Escalate, now: datetime) -> None:
        target = self._target_tier(a.tier, a.team)
        team = a.team or self._default_team(target)
        self._escalate_to(
            target,
            team,
            a.assignee,
            a.type,
            a.reasons,
            a.acting,
            now,
            note=a.note,
            rule=None,
            via=a.via,
        )

    def _default_team(self, tier: str) -> str | None:
        teams = self.state.policy.teams_in(tier)
        return teams[0] if teams else None

    def _escalate_to(
        self,
        tier: str,
        team: str | None,
        assignee: str | None,
        kind: EscalationType,
        reasons: list[EscalationReason],
        actor: str,
        now: datetime,
        *,
        note: str,
        rule: str | None,
        via: str | None = None,
    ) -> EscalationRecord:
        s = self.state
        record = EscalationRecord(
            type=kind,
            from_tier=s.tier,
            from_team=s.team,
            from_assignee=s.assignee,
            to_tier=tier,
            to_team=team,
            to_assignee=assignee,
            reasons=reasons,
            rule=rule,
            actor=actor,
            at=now,
            note=note,
            via=via,
        )
        self._add_escalation(record)
        if actor != SYSTEM:
            s.follow(actor)  # the escalating agent follows the ticket to its end
        if tier == s.tier:
            self._move("transfer")
            s.team = team
            s.assignee = assignee
        else:
            self._move("escalate", tier=tier)
            s.assignee = assignee
            self._land(tier, team, now)
        self.effects.landed(now, first=False)
        return record

    def _add_escalation(self, record: EscalationRecord) -> None:
        """Keep the record, and put it on the timeline: every escalation is audited there."""
        self.state.escalations.append(record)
        where = f"{record.to_tier}/{record.to_team}" if record.to_team else record.to_tier
        self.state.record(
            record.at,
            "escalation",
            record.actor,
            f"{record.type} escalation to {where}",
            via=record.via,
            **_dump(record),
        )

    def check_request_escalation(self, a: RequestEscalation) -> None:
        s = self.state
        self.authorize("request_escalation", a)
        self._require("request_escalation")
        target = self._target_tier(a.tier, a.team)
        self._refuse_descent("request_escalation", target)
        self.check("request_escalation", tier=target)
        if target == s.tier:
            raise InvalidAction(
                "request_escalation", s.machine.state, [], reason=f"the ticket is in {target}"
            )

    def request_escalation(self, a: RequestEscalation, now: datetime) -> None:
        s = self.state
        target = self._target_tier(a.tier, a.team)
        self._move("request_escalation", tier=target)
        s.pending = PendingRequest(
            actor=a.acting,
            via=a.via,
            tier=target,
            team=a.team or self._default_team(target),
            reasons=[str(r) for r in a.reasons],
            note=a.note,
            at=now,
        )
        s.follow(a.acting)
        s.record(
            now,
            "approval",
            a.acting,
            f"asked to escalate to {target}",
            via=a.via,
            reasons=a.reasons,
            note=a.note,
        )
        self.effects.approval_requested(now, target)

    def approve(self, a: Decide, now: datetime) -> None:
        s = self.state
        request = s.pending
        assert request is not None
        self._move("approve")
        s.record(
            now,
            "approval",
            a.acting,
            f"approved escalation to {request.tier}",
            via=a.via,
            note=a.note,
        )
        s.pending = None
        # The machine already moved to the tier; record it and land there.
        record = EscalationRecord(
            type=EscalationType.HIERARCHICAL,
            from_tier=s.tier,
            from_team=s.team,
            from_assignee=s.assignee,
            to_tier=request.tier,
            to_team=request.team,
            reasons=[EscalationReason(r) for r in request.reasons],
            actor=request.actor,
            at=now,
            note=request.note,
            via=request.via,
            approved_by=a.acting,
            approval_note=a.note,
        )
        self._add_escalation(record)
        s.assignee = None
        self._land(request.tier, request.team, now)
        self.effects.landed(now, first=False)

    def reject(self, a: Decide, now: datetime) -> None:
        s = self.state
        request = s.pending
        self._move("reject")
        s.pending = None
        tier = request.tier if request else "?"
        s.record(
            now, "approval", a.acting, f"rejected escalation to {tier}", via=a.via, note=a.note
        )
        self.effects.request_decided(
            now, approved=False, requester=request.actor if request else None
        )

    def check_set_priority(self, a: SetPriority) -> None:
        self.check_action("set_priority", a)
        if a.priority == self.state.priority:
            raise InvalidAction(
                "set_priority",
                self.state.machine.state,
                [],
                reason=f"the priority is already {a.priority}",
            )

    def set_priority(self, a: SetPriority, now: datetime) -> None:
        s = self.state
        self._move("set_priority")  # an internal transition: the state stays
        old, s.priority = s.priority, a.priority
        self._rebudget()
        s.record(
            now, "priority", a.acting, f"priority {old} → {a.priority}", via=a.via, note=a.note
        )

    def _rebudget(self) -> None:
        """A new priority changes the budgets of running targets; time used so far stays."""
        s = self.state
        if s.tier is None:
            return
        targets = s.policy.targets_for(s.priority, s.tier)
        for target, clock in s.clock.clocks.items():
            budget: timedelta | None = getattr(targets, target.value)
            if budget is not None:
                clock.budget = budget

    def note(self, a: AddNote, now: datetime) -> None:
        self._move("note")
        self.state.record(now, "note", a.acting, a.text, via=a.via)

    def wait_customer(self, a: WaitCustomer, now: datetime) -> None:
        s = self.state
        self._move("wait_customer")
        # The escalation ladder pauses with the clock (next_deadline) and resumes after.
        s.clock.pause(now, s.policy.calendar)
        s.record(
            now,
            "transition",
            a.acting,
            "waiting on the customer; SLA paused",
            via=a.via,
            note=a.note,
        )
        self.effects.customer(now, "waiting", request=a.note or None)

    def resolve(self, a: Resolve, now: datetime) -> None:
        s = self.state
        self._move("resolve")
        if s.clock.paused:
            s.clock.resume(now)
        for target in list(s.clock.clocks):
            s.clock.stop(target, now, s.policy.calendar)
        s.breach_at = None
        s.resolved_at = now
        s.survey_due = now + s.policy.follow_up.delay
        s.record(now, "transition", a.acting, f"resolved: {a.resolution}", via=a.via)
        self.effects.customer(now, "resolved")
        self.effects.followers(
            now, "resolved", f"resolved by {a.acting}", f"resolved by {a.acting}: {a.resolution}"
        )

    def reopen(self, actor: str, reason: str, now: datetime, *, via: str | None = None) -> None:
        s = self.state
        tier = self._move("reopen")
        s.resolved_at = s.survey_due = s.survey_sent_at = s.close_due = None
        s.record(now, "transition", actor, f"reopened: {reason}", via=via)
        self._land(tier, s.team, now)
        self.effects.customer(now, "reopened")
        self.effects.landed(now, first=False, tell_customer=False)  # one mail, not two

    def close(self, actor: str, note: str, now: datetime, *, via: str | None = None) -> None:
        s = self.state
        self._move("close")
        s.closed_at = now
        s.survey_due = s.close_due = None
        s.record(now, "transition", actor, "closed" + (f": {note}" if note else ""), via=via)
        self.effects.sync(now, "closed")

    def reopen_by(self, a: Reopen, now: datetime) -> None:
        """An agent reopens the ticket."""
        self.reopen(a.acting, a.reason, now, via=a.via)

    def close_by(self, a: Close, now: datetime) -> None:
        """An agent closes the ticket."""
        self.close(a.acting, a.note, now, via=a.via)

    # --- customer events ----------------------------------------------------------------------

    def customer_reply(self, e: CustomerReply, now: datetime) -> None:
        s = self.state
        state = s.machine.state
        s.record(now, "customer", "customer", "the customer replied", message=e.message)
        if state == "waiting":
            self._move("resume")
            s.clock.resume(now)
            s.record(now, "transition", "customer", "back from waiting; SLA resumed")
        elif state == "resolved":
            self.reopen("customer", "the customer replied after resolution", now)
            return
        elif state == "closed":
            return
        if s.tier is not None and state != "triage":
            budget = s.policy.targets_for(s.priority, s.tier).next_response
            if budget is not None:
                s.clock.start(SlaTarget.NEXT_RESPONSE, budget, now)
                self._clear_breach_if_met()  # a breached next response starts afresh
        self.effects.sync(now, "customer_reply")

    def customer_feedback(self, e: CustomerFeedback, now: datetime) -> None:
        s = self.state
        if s.machine.state != "resolved":
            # Only a resolved ticket asks for feedback: a score now would decide nothing, so it
            # is not kept; the customer's words are, as a message.
            s.record(
                now,
                "customer",
                "customer",
                f"feedback {e.score}/5 sent while the ticket was {s.machine.state}; "
                "the score counts only after resolution",
                comment=e.comment,
            )
            return
        s.feedback_score = e.score
        s.record(now, "follow_up", "customer", f"feedback {e.score}/5", comment=e.comment)
        if e.score < s.policy.follow_up.reopen_below:
            self.reopen("customer", f"bad feedback ({e.score}/5)", now)
        else:
            self.close("customer", f"feedback {e.score}/5", now)

    # --- time ---------------------------------------------------------------------------------

    def next_deadline(self, now: datetime) -> Deadline | None:
        """The earliest thing the ticket waits for: an SLA warning or breach, the next
        escalation level, the survey, or closing after the follow-up."""
        s = self.state
        options: list[Deadline] = []
        event = s.clock.next_event(now, s.policy.calendar, s.policy.sla.warning_fraction)
        if event is not None:
            options.append(
                Deadline(
                    event.at,
                    event.kind,
                    f"SLA {event.target} {event.kind} ({s.tier})",
                    target=event.target,
                )
            )
        if s.breach_at is not None and not s.clock.paused:
            level = s.policy.escalation.level(s.level_index)
            due = s.policy.escalation_due(s.breach_at, s.level_index)
            if level is not None and due is not None:
                options.append(Deadline(due, "level", f"escalation level {level.name}"))
        if s.survey_due is not None and s.survey_sent_at is None:
            options.append(Deadline(s.survey_due, "survey", "follow-up survey"))
        if s.close_due is not None:
            options.append(Deadline(s.close_due, "close", "close after follow-up"))
        return min(options, key=lambda d: d.at) if options else None

    def on_deadline(
        self, deadline: Deadline, now: datetime, *, live_warnings: bool = False
    ) -> None:
        """A timer fired: act on it, and on anything else already due at that moment.

        With ``live_warnings``, an SLA warning is given only if its target still applies once
        everything due has been acted on: a warning whose target breached, was met or left
        with its tier in the same moment (a late timer, an escalation at the same instant)
        would tell people about a deadline that no longer exists. Tickets from before this
        rule replay without it (the workflow passes its patch).
        """
        # Timers fire at or after their deadline; never act as if it were earlier.
        now = max(now, deadline.at)
        pending: list[_Warning] | None = [] if live_warnings else None
        for _ in range(100):  # bounded: each pass marks something, so this ends quickly
            due = self.next_deadline(now)
            if due is None or due.at > now:
                break
            self._act(due, now, pending)
        for w in pending or []:
            if self._still_applies(w):
                self._warn(w, now)

    def _still_applies(self, w: _Warning) -> bool:
        """The warned target still runs, unbreached, toward the same deadline, in its tier."""
        s = self.state
        clock = s.clock.clock(w.target)
        return (
            clock is not None
            and not clock.breached
            and s.tier == w.tier
            and s.clock.due(w.target, s.policy.calendar) == w.due
        )

    def _warn(self, w: _Warning, now: datetime) -> None:
        s = self.state
        s.record(
            now,
            "sla",
            SYSTEM,
            f"{w.target} due soon ({w.tier})",
            due=w.at,
            sla="warning",
            target=w.target,
            tier=w.tier,
        )
        # The warning fires at w.at; the people warned need the target's own deadline.
        self.effects.breach_warning(now, w.target, w.due)

    def _act(self, d: Deadline, now: datetime, pending: list[_Warning] | None = None) -> None:
        s = self.state
        if d.kind in ("warning", "breach"):
            assert d.target is not None
            s.clock.mark(ClockEvent(at=d.at, kind=d.kind, target=d.target), now)
            if d.kind == "warning":
                warning = _Warning(
                    at=d.at,
                    target=d.target,
                    tier=s.tier,
                    due=s.clock.due(d.target, s.policy.calendar) or d.at,
                )
                if pending is None:
                    self._warn(warning, now)
                else:
                    pending.append(warning)
            else:
                s.record(
                    now,
                    "sla",
                    SYSTEM,
                    f"{d.target} breached ({s.tier})",
                    due=d.at,
                    sla="breach",
                    target=d.target,
                    tier=s.tier,
                )
                # A second target breaching does not push the ladder back.
                if s.breach_at is None:
                    s.breach_at = d.at
                due = s.policy.escalation_due(s.breach_at, s.level_index)
                if due is None or due > d.at:
                    # No ladder level speaks at this moment: the owner still hears of it now.
                    self.effects.breached(now, d.target)
        elif d.kind == "level":
            self._escalation_level(now, d.at)
        elif d.kind == "survey":
            s.survey_sent_at = now
            follow_up = s.policy.follow_up
            s.close_due = now + (follow_up.close_after or follow_up.delay)
            s.record(now, "follow_up", SYSTEM, "satisfaction survey sent")
            if s.policy.follow_up.survey:
                self.effects.customer(now, "survey")
        else:
            self.close(SYSTEM, "no reply after the follow-up", now)

    def _escalation_level(self, now: datetime, due: datetime) -> None:
        s = self.state
        level = s.policy.escalation.level(s.level_index)
        assert level is not None
        assert s.tier is not None
        s.level_index += 1
        s.record(
            now,
            "sla",
            SYSTEM,
            f"escalation level {s.level_index} ({level.name}): "
            + ", ".join(str(a) for a in level.actions),
            due=due,
            late_ms=round((now - due).total_seconds() * 1000),
            sla="level",
            level=level.name,
            tier=s.tier,
        )
        self.effects.level_reached(now, level)
        if EscalationActionKind.RAISE_PRIORITY in level.actions:
            old, s.priority = s.priority, s.priority.raised()
            if old != s.priority:
                s.record(now, "priority", SYSTEM, f"priority {old} → {s.priority}")
                self._rebudget()
        # Reassigning needs the ticket in its tier (not awaiting approval or the customer).
        if EscalationActionKind.REASSIGN_NEXT_TIER in level.actions and s.machine.state == s.tier:
            nxt = s.policy.next_tier(s.tier)
            if nxt is not None:
                self._escalate_to(
                    nxt,
                    self._default_team(nxt),
                    None,
                    EscalationType.AUTOMATIC,
                    [EscalationReason.SLA_BREACH],
                    SYSTEM,
                    now,
                    note=f"level {level.name}",
                    rule=level.name,
                )

    def _clear_breach_if_met(self) -> None:
        if not any(c.breached and not c.met for c in self.state.clock.clocks.values()):
            self.state.breach_at = None

    # --- activity results ---------------------------------------------------------------------

    def delivered(self, batch: EffectBatch, notes: list[TimelineNote]) -> None:
        for n in notes:
            self.state.record(n.at, n.kind, SYSTEM, n.summary, **n.data)

    def delivery_failed(self, batch: EffectBatch, cause: str, now: datetime) -> None:
        self.state.record(
            now,
            "delivery_failure",
            SYSTEM,
            f"{batch.summary}: {excerpt(cause, 500)}",
            batch=batch.batch_id,
        )

    # --- views --------------------------------------------------------------------------------

    def _allowed(self) -> list[str]:
        return self.machine().allowed_actions()

    def status(self, now: datetime) -> TicketStatus:
        """The ticket now, as updates return it and the ``status`` query answers."""
        return views.ticket_status(self.state, self._allowed(), now)


def _dump(record: EscalationRecord) -> dict[str, object]:
    return record.model_dump(mode="json", exclude={"at", "actor", "via"})


__all__ = ["SYSTEM", "Deadline", "TicketOperations"]
