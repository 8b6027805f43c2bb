"""What operators see of a ticket in the Temporal UI and CLI: search attributes, the static
summary and the current-details Markdown. Pure functions of the workflow state.

The UI renders summaries and details as Markdown, and subjects, names, reasons and actors are
customer or agent text. Every such value goes through `md_text`: line breaks and control
characters collapse to one line (no forged detail line, heading, list or table), Markdown's
inline syntax is backslash-escaped (no link, image, emphasis, code, autolink, HTML or entity),
and it is bounded with an ellipsis. The followers list shows a bounded number of names.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

from tierflow.statemachine import Ticket
from tierflow.statemachine.durations import format_duration
from tierflow.workflows import search_attributes as sa
from tierflow.workflows.messages import OpenTicket, SlaView
from tierflow.workflows.operations import TicketOperations
from tierflow.workflows.state import TicketState
from tierflow.workflows.views import sla_due, sla_views

# Bounds of user text in the UI (characters, before escaping) and of listed items.
MAX_SUBJECT = 200
MAX_NAME = 100
MAX_ITEMS = 10
_SUMMARY = 200
_ELLIPSIS = "…"
# Everything str.splitlines() breaks on, other C0/C1 controls, DEL, bidi embeddings/overrides
# and isolates, and whitespace runs: all become one space.
_BREAKS_AND_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\\s]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Inline Markdown (CommonMark + GFM) that text can start without a line break: escapes,
# emphasis, strikethrough, code spans, links and images, autolinks and HTML, entities.
_MD_INLINE = re.compile(r"([\\`*_~\[\]<>&])")


def md_text(text: str, limit: int | None = None) -> str:
    """User text as one Markdown-inert line of at most `limit` characters (before escaping)."""
    text = _BREAKS_AND_CONTROLS.sub(" ", _SURROGATE.sub("\ufffd", text)).strip()
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + _ELLIPSIS
    return _MD_INLINE.sub(r"\\\1", text)


def _md_list(items: list[str], limit: int) -> str:
    """At most `MAX_ITEMS` items, each made inert, then how many more there are."""
    shown = ", ".join(md_text(item, limit) for item in items[:MAX_ITEMS])
    more = len(items) - MAX_ITEMS
    return f"{shown} (+{more} more)" if more > 0 else shown


def static_summary(ticket: Ticket) -> str:
    """One line for the workflow list, e.g. ``[urgent] T-123 — Cannot pay invoice``."""
    summary = f"[{ticket.priority}] {md_text(ticket.id)} — {md_text(ticket.subject, MAX_SUBJECT)}"
    if len(summary) <= _SUMMARY:
        return summary
    cut = summary[: _SUMMARY - 1]
    if (len(cut) - len(cut.rstrip("\\"))) % 2:  # do not leave half of an escape
        cut = cut[:-1]
    return cut + _ELLIPSIS


def static_details(ticket: Ticket) -> str:
    """The static details set at start, e.g. ``Customer Ana Silva (vip), via email``."""
    return (
        f"Customer {md_text(ticket.customer.name, MAX_NAME)} ({ticket.customer.status}), "
        f"via {ticket.channel}"
    )


# How far the client's TicketSlaDue (see ``opening_search_attributes``) may be from the
# workflow's own and still count as the same: the client computes it from its clock before
# the start request, the workflow from the start time the server recorded, so the two differ
# by the request's latency and the clocks' skew (milliseconds, unless something is wrong).
# Within this, the ticket keeps the client's value rather than spend an upsert (a billable
# action) on a difference no one filters by; beyond it (a business calendar's boundary
# crossed in between, a skewed clock), the workflow's value is upserted.
START_SLA_TOLERANCE = timedelta(seconds=2)


def opening_search_attributes(
    start: OpenTicket, workflow_id: str, now: datetime
) -> TypedSearchAttributes:
    """The attributes of a ticket opened ``now``, for the start request (Temporal Cloud bills
    an upsert, not attributes set at start): the workflow's own first values, computed by
    the same pure code from the same input, so its first task has nothing to upsert."""
    state = TicketState.opening(start, now)
    TicketOperations(state, workflow_id).open(now)
    return typed_pairs(search_attribute_values(state, sla_due(state, now)))


def client_sla_due(indexed: dict[str, Any], opening: bool) -> datetime | None:
    """The TicketSlaDue a new ticket was started with (None: none, or a carried run, whose
    attributes are the workflow's own)."""
    value = indexed.get(sa.TICKET_SLA_DUE.name) if opening else None
    return value if isinstance(value, datetime) else None


def settle_sla_due(current: dict[str, Any], client_due: datetime) -> dict[str, Any]:
    """``current`` with the client's TicketSlaDue where the workflow's is within
    ``START_SLA_TOLERANCE`` of it (see there)."""
    ours = current[sa.TICKET_SLA_DUE.name]
    if isinstance(ours, datetime) and abs(ours - client_due) <= START_SLA_TOLERANCE:
        return {**current, sa.TICKET_SLA_DUE.name: client_due}
    return current


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
        sa.TICKET_DELIVERY_FAILING.name: True
        if state.failing
        else (False if state.delivery_outages else None),
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
        if value is None and key.name not in previous and key.name in sa.ADDED_LATER:
            continue
        updates.append(key.value_unset() if value is None else key.value_set(value))
    return updates


def details_markdown(state: TicketState, now: datetime) -> str:
    """The ticket's current details, as the UI renders them (Markdown)."""
    sla_lines = [sla_line(v) for v in sla_views(state, now)]
    t = state.ticket
    last = state.escalations[-1] if state.escalations else None
    owner = md_text(state.assignee, MAX_NAME) if state.assignee else "unassigned"
    customer = md_text(t.customer.name, MAX_NAME)
    lines = [
        f"**{md_text(t.id)}** — {md_text(t.subject, MAX_SUBJECT)}",
        "",
        f"- **State:** {state.machine.state}",
        f"- **Tier / team:** {md_text(state.tier or '—')} / {md_text(state.team or '—')}",
        f"- **Owner:** {owner}",
        f"- **Priority:** {state.priority}  **Customer:** {customer} ({t.customer.status})",
        f"- **Escalations:** {state.escalation_count} (level {state.level_index})",
    ]
    if state.followers:
        lines.append(f"- **Following:** {_md_list(state.followers, MAX_NAME)}")
    if last is not None:
        lines.append(
            f"- **Last escalation:** {last.type} {md_text(last.from_tier or '—')} →"
            f" {md_text(last.to_tier)} ({', '.join(last.reasons)})"
            f" by {md_text(last.actor, MAX_NAME)}"
        )
    if state.failing:
        lines.append(
            f"- **Deliveries failing:** {len(state.failing)} (retried until"
            f" {min(f.give_up_at for f in state.failing):%Y-%m-%d %H:%M}Z)"
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
