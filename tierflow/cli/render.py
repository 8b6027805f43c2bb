"""Rich renderings of tickets, timelines, lists and the escalation report.

Every piece of text that is not the CLI's own — ticket, customer and agent text, names, policy
names, a channel's error — goes through :func:`shown` (or :func:`plain` where markup is off)
before it reaches a terminal: rich would read `[red]` or `[link=…]` in a subject as markup, and
a terminal obeys escape sequences (colours, OSC 8 hyperlinks, title changes) in raw text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tierflow.client import TicketSummary
from tierflow.report import EscalationReport
from tierflow.statemachine import format_duration
from tierflow.workflows.messages import TicketStatus, TimelineEntry

# Terminal escape sequences: OSC (hyperlinks, titles; ended by BEL or ST), CSI (colours,
# cursor moves), and any other ESC-introduced sequence, 7-bit or as C1 controls.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b[@-Z\\-_]?"
)
# What is left of control characters (C0, DEL, C1), line and paragraph separators, and the
# bidi embedding, override and isolate controls that make text read backwards.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def plain(text: object) -> str:
    """``text`` without terminal escape sequences or control characters, on one line."""
    return _CONTROL.sub(" ", _ESCAPE_SEQUENCE.sub("", str(text)))


def shown(text: object) -> str:
    """``text`` fit to print with rich markup on: :func:`plain`, with markup escaped."""
    return escape(plain(text))


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if at is not None else "—"


def _left(remaining: timedelta | None) -> str:
    if remaining is None:
        return "—"
    seconds = round(remaining.total_seconds())
    if seconds < 0:
        return f"{format_duration(timedelta(seconds=-seconds))} overdue"
    return f"{format_duration(timedelta(seconds=seconds))} left"


def status_line(status: TicketStatus) -> str:
    """One line after an action: where the ticket is now."""
    where = shown(f"{status.tier or '—'}/{status.team or '—'}")
    owner = shown(status.assignee or "unassigned")
    flag = " [red]SLA breached[/red]" if status.breached else ""
    state = shown(status.state)
    return f"[bold]{shown(status.ticket_id)}[/bold]: {state} · {where} · {owner}{flag}"


def status_table(status: TicketStatus) -> Table:
    """The whole status as a two-column table, SLA targets last."""
    table = Table(title=shown(f"{status.ticket_id} — {status.subject}"), show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("state", status.state),
        ("tier / team", f"{status.tier or '—'} / {status.team or '—'}"),
        ("assignee", status.assignee or "unassigned"),
        ("following", ", ".join(status.followers) or "—"),
        ("priority", str(status.priority)),
        ("category", status.category or "—"),
        ("customer", status.customer_status),
        ("escalations", f"{status.escalations} (ladder level {status.escalation_level})"),
        ("pending escalation", status.pending_escalation or "—"),
        ("breached", "[red]yes[/red]" if status.breached else "no"),
        ("opened", _when(status.opened_at)),
        ("resolved", _when(status.resolved_at)),
        ("closed", _when(status.closed_at)),
        ("feedback", f"{status.feedback_score}/5" if status.feedback_score else "—"),
        ("allowed actions", ", ".join(status.allowed_actions) or "—"),
        ("policy", status.policy),
    ]
    for view in status.sla:
        marks = (("met", view.met), ("breached", view.breached), ("paused", view.paused))
        flags = [name for name, on in marks if on]
        detail = f"due {_when(view.due)} ({_left(view.remaining)})" if view.due else "not running"
        rows.append((f"SLA {view.target}", detail + (f" — {', '.join(flags)}" if flags else "")))
    for key, value in rows:
        # The breached flag is the table's own markup; every other value is the ticket's.
        table.add_row(key, value if key == "breached" else shown(value))
    return table


def timeline_table(ticket_id: str, entries: Iterable[TimelineEntry]) -> Table:
    table = Table(title=f"{shown(ticket_id)} timeline")
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("kind")
    table.add_column("actor")
    table.add_column("what")
    for entry in entries:
        table.add_row(_when(entry.at), shown(entry.kind), shown(entry.actor), shown(entry.summary))
    return table


def list_table(rows: Iterable[TicketSummary]) -> Table:
    table = Table(title="tickets")
    for name in ("ticket", "state", "tier/team", "priority", "customer", "esc.", "SLA due", "run"):
        table.add_column(name)
    table.add_column("summary")
    for row in rows:
        table.add_row(
            shown(row.ticket_id),
            shown(row.state or "—"),
            shown(f"{row.tier or '—'}/{row.team or '—'}"),
            shown(row.priority or "—"),
            shown(row.customer_status or "—"),
            str(row.escalations),
            ("[red]breached[/red] " if row.breached else "") + _when(row.sla_due),
            shown(row.status)
            + (" [yellow]delivery failing[/yellow]" if row.delivery_failing else "")
            + (" [red]cannot be read[/red]" if row.unreadable is not None else ""),
            shown(row.summary or ""),
        )
    return table


def _counts(title: str, label: str, counts: dict[str, int]) -> Table:
    table = Table(title=title)
    table.add_column(label)
    table.add_column("count", justify="right")
    for key, value in counts.items():
        table.add_row(shown(key), str(value))
    return table


def report_tables(report: EscalationReport) -> list[Table]:
    """The review's figures as a few small tables."""
    overview = Table(title="escalation review", show_header=False)
    overview.add_column(style="bold")
    overview.add_column(justify="right")
    compliance = (
        f"{report.sla_compliance_percent:.1f}% ({report.sla_met}/{report.sla_judged})"
        if report.sla_compliance_percent is not None
        else "— (no ticket judged yet)"
    )
    overview.add_row("tickets", str(report.tickets))
    overview.add_row("escalations", str(report.escalations))
    overview.add_row("SLA compliance", compliance)
    tiers = Table(title="median time per tier")
    tiers.add_column("tier")
    tiers.add_column("median", justify="right")
    for tier, seconds in report.median_seconds_per_tier.items():
        tiers.add_row(shown(tier), format_duration(timedelta(seconds=round(seconds))))
    return [
        overview,
        _counts("escalations by type", "type", report.by_type),
        _counts("escalations by reason", "reason", report.by_reason),
        _counts("escalations by team", "team", report.by_team),
        _counts("escalations by tier", "tier", report.by_tier),
        tiers,
        _counts("breached tickets by priority", "priority", report.breaches_by_priority),
        *_unreadable(report),
    ]


def _unreadable(report: EscalationReport) -> list[Table]:
    """The tickets left out of the figures, each with why (only when there are some)."""
    if not report.unreadable:
        return []
    table = Table(title="tickets not read (left out of the figures)")
    table.add_column("ticket", no_wrap=True)
    table.add_column("why")
    for item in report.unreadable:
        table.add_row(Text(item.ticket_id), Text(item.reason))
    return [table]
