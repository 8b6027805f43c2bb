"""Read-only views of a ticket's state: its status and its SLA targets as people see them."""

from __future__ import annotations

from datetime import datetime

from tierflow.workflows.messages import SlaView, TicketStatus
from tierflow.workflows.state import TicketState


def sla_views(state: TicketState, now: datetime) -> list[SlaView]:
    """Every started SLA target: due time, time left, and whether it was warned, breached or met."""
    policy = state.policy
    return [
        SlaView.of(t) for t in state.clock.status(now, policy.calendar, policy.sla.warning_fraction)
    ]


def sla_due(state: TicketState, now: datetime) -> datetime | None:
    """The earliest running deadline (the UI's and CLI's ``TicketSlaDue``)."""
    dues = [v.due for v in sla_views(state, now) if v.due is not None]
    return min(dues) if dues else None


def ticket_status(state: TicketState, allowed: list[str], now: datetime) -> TicketStatus:
    """The ticket now; ``allowed`` are the actions its state machine offers."""
    s = state
    return TicketStatus(
        ticket_id=s.ticket.id,
        subject=s.ticket.subject,
        state=s.machine.state,
        tier=s.tier,
        team=s.team,
        assignee=s.assignee,
        followers=list(s.followers),
        priority=s.priority,
        category=s.category,
        customer_status=str(s.ticket.customer.status),
        escalation_level=s.level_index,
        escalations=s.escalation_count,
        last_escalation=s.escalations[-1] if s.escalations else None,
        breached=s.breached,
        sla=sla_views(s, now),
        allowed_actions=allowed,
        pending_escalation=s.pending.tier if s.pending else None,
        opened_at=s.opened_at,
        resolved_at=s.resolved_at,
        closed_at=s.closed_at,
        feedback_score=s.feedback_score,
        policy=f"{s.policy.name} v{s.policy.version}",
    )
