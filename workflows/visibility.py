"""What operators see of a ticket in the Temporal UI and CLI: search attributes, the static
summary and the current-details Markdown. Pure functions of the workflow state."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

from statemachine import Ticket
from statemachine.durations import format_duration

from . import search_attributes as sa
from .messages import SlaView
from .state import TicketState
from .views import sla_views


def static_summary(ticket: Ticket) -> str:
    """One line for the workflow list, e.g. ``[urgent] T-123 — Cannot pay invoice``."""
    return f"[{ticket.priority}] {ticket.id} — {ticket.subject}"[:200]


def initial_search_attributes(ticket: Ticket) -> TypedSearchAttributes:
    """The attributes a ticket starts with (set by the client at start, free of extra cost)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.TICKET_STATE, "new"),
            SearchAttributePair(sa.TICKET_PRIORITY, str(ticket.priority)),
            SearchAttributePair(sa.TICKET_CUSTOMER_STATUS, str(ticket.customer.status)),
            SearchAttributePair(sa.TICKET_SLA_BREACHED, False),
            SearchAttributePair(sa.TICKET_ESCALATIONS, 0),
        ]
    )


def current_search_attributes(info: workflow.Info) -> dict[str, Any]:
    """Tierflow's attributes as the server holds them for this run (set at start or carried)."""
    typed = info.typed_search_attributes
    return {key.name: typed.get(key) for key in sa.ALL if typed.get(key) is not None}


def typed_pairs(values: dict[str, Any]) -> TypedSearchAttributes:
    """``values`` as typed search attributes, to carry through continue-as-new."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(key, values[key.name])
            for key in sa.ALL
            if values.get(key.name) is not None
        ]
    )


def search_attribute_values(state: TicketState, sla_due: datetime | None) -> dict[str, Any]:
    """The current value of every Tierflow attribute (None: unset)."""
    return {
        sa.TICKET_STATE.name: state.machine.state,
        sa.TICKET_TIER.name: state.tier,
        sa.TICKET_TEAM.name: state.team,
        sa.TICKET_PRIORITY.name: str(state.priority),
        sa.TICKET_SLA_DUE.name: sla_due,
        sa.TICKET_SLA_BREACHED.name: state.breached,
        sa.TICKET_ESCALATIONS.name: state.escalation_count,
        sa.TICKET_CUSTOMER_STATUS.name: str(state.ticket.customer.status),
    }


def search_attribute_updates(
    current: dict[str, Any], previous: dict[str, Any]
) -> list[SearchAttributeUpdate[Any]]:
    """Only the attributes that changed: each upsert is a billable action, so send few."""
    updates: list[SearchAttributeUpdate[Any]] = []
    for key in sa.ALL:
        value = current[key.name]
        if key.name in previous and previous[key.name] == value:
            continue
        updates.append(key.value_unset() if value is None else key.value_set(value))
    return updates


def details_markdown(state: TicketState, now: datetime) -> str:
    """The ticket's current details, as the UI renders them (Markdown)."""
    sla_lines = [sla_line(v) for v in sla_views(state, now)]
    t = state.ticket
    last = state.escalations[-1] if state.escalations else None
    lines = [
        f"**{t.id}** — {t.subject}",
        "",
        f"- **State:** {state.machine.state}",
        f"- **Tier / team:** {state.tier or '—'} / {state.team or '—'}",
        f"- **Owner:** {state.assignee or 'unassigned'}",
        f"- **Priority:** {state.priority}  **Customer:** {t.customer.name} ({t.customer.status})",
        f"- **Escalations:** {state.escalation_count} (level {state.level_index})",
    ]
    if state.followers:
        lines.append(f"- **Following:** {', '.join(state.followers)}")
    if last is not None:
        lines.append(
            f"- **Last escalation:** {last.type} {last.from_tier or '—'} → {last.to_tier}"
            f" ({', '.join(last.reasons)}) by {last.actor}"
        )
    if sla_lines:
        lines += ["", "**SLA**", *sla_lines]
    return "\n".join(lines)


def sla_line(view: SlaView) -> str:
    """One SLA bullet for the details, e.g. ``- resolution: due … (3m left)``."""
    flags = "".join(
        f" — {word}"
        for word, on in (("breached", view.breached), ("met", view.met), ("paused", view.paused))
        if on
    )
    if view.due is None:
        return f"- {view.target}: {flags.removeprefix(' — ') or 'not running'}"
    left = view.remaining or timedelta(0)
    amount = format_duration(timedelta(seconds=round(abs(left.total_seconds()))))
    word = "overdue" if left < timedelta(0) else "left"
    return f"- {view.target}: due {view.due:%Y-%m-%d %H:%M:%S}Z ({amount} {word}){flags}"
