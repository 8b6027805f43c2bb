"""Escalation analytics for the follow-up review: which escalations, why, where, how fast.

The figures are pure functions of each ticket's status and timeline (:class:`TicketHistory`),
so they are unit-tested without a server; :func:`fetch_histories` is the only part that talks
to Temporal (one ``status`` query per ticket, and one ``timeline_page`` query per run of it:
a ticket whose timeline filled up continued as new and keeps its earlier entries in earlier
runs; closed runs answer too, as long as a worker runs, because the worker replays them).
The timeline read per ticket is capped at :data:`TIMELINE_CAP` entries, its most recent ones.

A ticket that cannot be read (its workflow task is failing, a worker cannot replay it) does not
stop the report: it is left out of the figures and named, with the reason, in ``unreadable``.
"""

from __future__ import annotations

import asyncio
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from tierflow.workflows.messages import TicketStatus, TimelineEntry

from .client import TIMELINE_MAX, TicketClient, TicketNotFound, TicketSummary
from .errors import TemporalUnavailable, TicketError, TicketNotReady

# The most recent entries of a ticket's timeline the report reads (20,000: about ten full runs).
TIMELINE_CAP = TIMELINE_MAX
# The report reads further back than one API answer does (escalations of long tickets).
TIMELINE_BYTES_CAP = 32 * 1024 * 1024

# Timeline summaries the report reads. They are written by workflows/operations.py; the
# patterns are kept loose on purpose (anchored on the verb) so that wording tweaks after the
# verb do not silently zero the report.
_BREACH = re.compile(r"^\S+ breached\b")
_LEAVES_TIER = re.compile(r"^(resolved|closed)\b")
_APPROVED = re.compile(r"^approved escalation\b")
_ASKED = re.compile(r"^asked to escalate\b")


class TicketHistory(BaseModel):
    """What the report knows of one ticket."""

    status: TicketStatus
    timeline: list[TimelineEntry]


class Escalation(BaseModel):
    """One escalation as the report counts it."""

    type: str
    reasons: list[str]
    to_tier: str | None
    to_team: str | None


class Unreadable(BaseModel):
    """A ticket the report could not read, left out of the figures: why, in one line."""

    ticket_id: str
    reason: str


class EscalationReport(BaseModel):
    """The follow-up review's figures. Times are in seconds. ``tickets`` counts the tickets
    read; ``unreadable`` names those that could not be (left out of every figure)."""

    tickets: int
    escalations: int
    by_type: dict[str, int] = Field(default_factory=dict)
    by_reason: dict[str, int] = Field(default_factory=dict)
    by_team: dict[str, int] = Field(default_factory=dict)
    by_tier: dict[str, int] = Field(default_factory=dict)
    sla_judged: int = 0
    sla_met: int = 0
    sla_compliance_percent: float | None = None
    median_seconds_per_tier: dict[str, float] = Field(default_factory=dict)
    breaches_by_priority: dict[str, int] = Field(default_factory=dict)
    unreadable: list[Unreadable] = Field(default_factory=list)


# --- pure computation --------------------------------------------------------------------------


def escalations_of(history: TicketHistory) -> list[Escalation]:
    """Every escalation of a ticket: the workflow puts each one on the timeline as an
    ``escalation`` entry carrying the whole record (agents', approved requests', the SLA
    ladder's and the routing rules' at opening)."""
    return [
        Escalation(
            type=str(entry.data.get("type", "unknown")),
            reasons=[str(r) for r in entry.data.get("reasons", [])],
            to_tier=entry.data.get("to_tier"),
            to_team=entry.data.get("to_team"),
        )
        for entry in history.timeline
        if entry.kind == "escalation"
    ]


def _is_landing(entry: TimelineEntry) -> bool:
    """A ``now in tier/team`` entry: the ticket arrived in a tier."""
    return entry.kind == "transition" and "tier" in entry.data


def breached(history: TicketHistory) -> bool:
    """Whether any SLA target of the ticket was ever breached (not only the current one)."""
    return any(e.kind == "sla" and _BREACH.match(e.summary) for e in history.timeline)


def has_resolution_target(history: TicketHistory) -> bool:
    return any(view.target == "resolution" for view in history.status.sla)


def sla_verdict(history: TicketHistory) -> bool | None:
    """True: resolved without any breach; False: breached; None: no verdict yet (still open
    within its SLA) or no resolution target at all."""
    if not has_resolution_target(history):
        return None
    if breached(history):
        return False
    return True if history.status.resolved_at is not None else None


def tier_stints(timeline: Iterable[TimelineEntry]) -> list[tuple[str, timedelta]]:
    """(tier, time spent) for each completed stay in a tier.

    A stay starts at a ``now in`` entry and ends at the next one, or when the ticket is
    resolved or closed. A stay still going on is left out: it has no length yet.
    """
    stints: list[tuple[str, timedelta]] = []
    current: tuple[str, datetime] | None = None
    for entry in timeline:
        if _is_landing(entry):
            if current is not None:
                stints.append((current[0], entry.at - current[1]))
            current = (str(entry.data["tier"]), entry.at)
        elif entry.kind == "transition" and _LEAVES_TIER.match(entry.summary):
            if current is not None:
                stints.append((current[0], entry.at - current[1]))
            current = None
    return stints


def build_report(
    histories: Iterable[TicketHistory], unreadable: Iterable[Unreadable] = ()
) -> EscalationReport:
    """Every figure of the review over the given tickets; ``unreadable`` is carried along."""
    histories = list(histories)
    by_type: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    by_team: Counter[str] = Counter()
    by_tier: Counter[str] = Counter()
    per_tier: dict[str, list[float]] = {}
    breaches: Counter[str] = Counter()
    judged = met = total = 0
    for history in histories:
        for esc in escalations_of(history):
            total += 1
            by_type[esc.type] += 1
            by_reason.update(esc.reasons)
            by_tier[esc.to_tier or "—"] += 1
            by_team[esc.to_team or "—"] += 1
        verdict = sla_verdict(history)
        if verdict is not None:
            judged += 1
            met += verdict
        if breached(history):
            breaches[str(history.status.priority)] += 1
        for tier, spent in tier_stints(history.timeline):
            per_tier.setdefault(tier, []).append(spent.total_seconds())
    return EscalationReport(
        tickets=len(histories),
        escalations=total,
        by_type=dict(by_type.most_common()),
        by_reason=dict(by_reason.most_common()),
        by_team=dict(by_team.most_common()),
        by_tier=dict(sorted(by_tier.items())),
        sla_judged=judged,
        sla_met=met,
        sla_compliance_percent=round(100.0 * met / judged, 1) if judged else None,
        median_seconds_per_tier={
            tier: statistics.median(values) for tier, values in sorted(per_tier.items())
        },
        breaches_by_priority=dict(breaches.most_common()),
        unreadable=sorted(unreadable, key=lambda u: u.ticket_id),
    )


# --- fetching ----------------------------------------------------------------------------------


@dataclass
class Reading:
    """What :func:`read_histories` read: the tickets' histories, and the tickets it could not
    read, with the reason."""

    histories: list[TicketHistory] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)


async def read_histories(
    tickets: TicketClient,
    summaries: Iterable[TicketSummary],
    *,
    concurrency: int = 16,
    progress: Callable[[], None] | None = None,
) -> Reading:
    """Query status and the whole timeline (across runs, up to :data:`TIMELINE_CAP` entries)
    of each listed ticket, a few at a time.

    ``progress`` is called once per ticket done (the CLI's progress bar). A ticket that
    vanished between listing and querying (its history was deleted) is skipped. A ticket that
    cannot be read — its workflow task is failing, a worker cannot replay it, or any other
    error of that ticket alone — is named in ``unreadable`` with the error's one line, and
    the others are read. Only Temporal or its workers not answering at all (an unreachable
    server, no worker: :class:`~tierflow.errors.TemporalUnavailable`) stops the reading.
    """
    gate = asyncio.Semaphore(concurrency)

    async def one(ticket_id: str) -> TicketHistory | Unreadable | None:
        async with gate:
            try:
                status, timeline = await asyncio.gather(
                    tickets.status(ticket_id),
                    tickets.timeline(ticket_id, limit=TIMELINE_CAP, max_bytes=TIMELINE_BYTES_CAP),
                )
            except TicketNotFound:
                return None
            except TicketNotReady as err:
                return Unreadable(ticket_id=ticket_id, reason=err.reason)
            except TemporalUnavailable:
                raise
            except TicketError as err:
                return Unreadable(ticket_id=ticket_id, reason=str(err))
            finally:
                if progress is not None:
                    progress()
            return TicketHistory(status=status, timeline=timeline)

    reading = Reading()
    for result in await asyncio.gather(*(one(s.ticket_id) for s in summaries)):
        if isinstance(result, TicketHistory):
            reading.histories.append(result)
        elif isinstance(result, Unreadable):
            reading.unreadable.append(result)
    return reading


async def fetch_histories(
    tickets: TicketClient,
    summaries: Iterable[TicketSummary],
    *,
    concurrency: int = 16,
    progress: Callable[[], None] | None = None,
) -> list[TicketHistory]:
    """The histories :func:`read_histories` reads (the tickets it cannot read left out)."""
    reading = await read_histories(tickets, summaries, concurrency=concurrency, progress=progress)
    return reading.histories
