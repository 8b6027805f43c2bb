"""What each ticket action does to the workflow's state, as plain synchronous code.

The workflow class wires these operations to Temporal (updates, signals, timers, activities);
this module holds the orchestration itself: what each agent action and customer event does to
the ticket. The moves they are made of (the machine, landing, escalating, the audit trail) are
in ``moves.py``; what timers do, in ``wake_ups.py``. It performs no I/O and reads no clock
(``now`` is passed in), so it is deterministic under replay. Every ``check_*`` raises the
domain's error without changing anything: workflow update validators call them, so an invalid
action is rejected before it touches the ticket's history.
"""

from __future__ import annotations

from datetime import datetime

from tierflow.statemachine import (
    EscalationReason,
    EscalationRecord,
    EscalationType,
    InvalidAction,
    audience,
    triage,
)
from tierflow.statemachine.deadlines import Deadline, survey_due
from tierflow.statemachine.sla import SlaTarget
from tierflow.workflows.messages import (
    AddNote,
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
    WaitCustomer,
)
from tierflow.workflows.moves import SYSTEM
from tierflow.workflows.state import PendingRequest
from tierflow.workflows.wake_ups import TicketWakeUps


class TicketOperations(TicketWakeUps):
    """The ticket's state and everything that may happen to it: the actions and customer
    events here, the moves they are made of (``TicketMoves``), and the timers
    (``TicketWakeUps``)."""

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
        tiers = [t.name for t in s.policy.tiers]
        if result.fired and tiers.index(result.tier) > tiers.index(s.policy.default_tier):
            # Rules that send a ticket past the default tier are automatic escalations; one
            # that sends it below (self-service in tier 0) is routing, not an escalation.
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
        s.survey_due = survey_due(s.policy, now)
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


__all__ = ["SYSTEM", "Deadline", "TicketOperations"]
