"""How a ticket moves, underneath every action: its state machine, who may act, landing in a
tier, escalating, and the audit trail of each move.

The actions themselves (``operations.py``) and the timers (``wake_ups.py``) are built on this
class. Plain synchronous code: no I/O, no clock (``now`` is passed in), deterministic under
replay.
"""

from __future__ import annotations

from datetime import datetime

from tierflow.contracts import EffectBatch, TimelineNote
from tierflow.statemachine import (
    SYSTEM_ACTOR,
    Acting,
    EscalationReason,
    EscalationRecord,
    EscalationType,
    InvalidAction,
    TicketMachine,
    TicketPlace,
    authorize,
    authorize_decision,
)
from tierflow.statemachine.deadlines import has_unmet_breach, rebudget
from tierflow.statemachine.sla import SlaTarget
from tierflow.workflows import views
from tierflow.workflows.messages import AgentAction, Decide, TicketStatus
from tierflow.workflows.outbox.planner import EffectPlanner
from tierflow.workflows.state import TicketRun, TicketState

SYSTEM = SYSTEM_ACTOR  # the actor of everything the policy does on its own; no caller's


class TicketMoves:
    """The ticket's state, its machine, and the moves every action is made of."""

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

    def _land(self, tier: str, team: str | None, now: datetime) -> None:
        """The ticket arrives in a tier and team: the new tier's SLA targets start."""
        s = self.state
        s.tier, s.team = tier, team
        s.breach_at = None
        s.clock.restart_all(s.policy.targets_for(s.priority, tier), now)
        if s.responded:
            s.clock.stop(SlaTarget.FIRST_RESPONSE, now)
        s.record(now, "transition", SYSTEM, f"now in {tier}/{team or '—'}", tier=tier, team=team)

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

    def _rebudget(self) -> None:
        """A new priority changes the budgets of running targets; time used so far stays."""
        s = self.state
        rebudget(s.clock, s.policy, s.priority, s.tier)

    def _clear_breach_if_met(self) -> None:
        if not has_unmet_breach(self.state.clock):
            self.state.breach_at = None

    # --- activity results ---------------------------------------------------------------------

    def delivered(self, batch: EffectBatch, notes: list[TimelineNote]) -> None:
        for n in notes:
            self.state.record(n.at, n.kind, SYSTEM, n.summary, **n.data)

    # --- views --------------------------------------------------------------------------------

    def _allowed(self) -> list[str]:
        return self.machine().allowed_actions()

    def status(self, now: datetime) -> TicketStatus:
        """The ticket now, as updates return it and the ``status`` query answers."""
        return views.ticket_status(self.state, self._allowed(), now)


def _dump(record: EscalationRecord) -> dict[str, object]:
    return record.model_dump(mode="json", exclude={"at", "actor", "via"})


__all__ = ["SYSTEM", "TicketMoves"]
