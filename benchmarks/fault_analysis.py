"""What the fault suite reads from histories and receivers' logs: pure functions, no I/O.

A ticket's fate comes from its own history: how its run ended (lost when it failed, was
terminated or timed out, or has no history at all), its deadline and when it escalated (the
workflow task that upserted ``TicketTier = tier2``), how many escalations it recorded, and which
deliveries it planned — the idempotency keys of the email and chat items in the inputs of its
effects activities, and for those run as local activities (whose input the history does not
keep) in their results: a note per item delivered or failed for good, naming its channel, and
the items handed back. Recovery after a fault is read from the histories too: the first workflow
task any ticket completed after the fault began.

For the slow channels: every workflow task that failed, by cause (nondeterminism above all) or
timed out; the ticket's own record of its SLA warning and of how late its escalation was
(``late_ms``), compared group by group with the healthy control group of the same worker; and
every item a receiver took more than once, told apart by whether its sender had been told in
full that the first copy was taken, and if so whether a crash explains the resend.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent

from tierflow.contracts import DISPATCH_EFFECTS

from . import history
from .receivers import Arrival
from .stats import percentile

E = EventType
# Channels the suite runs a receiver for; items on other channels are skipped by design.
RECEIVED_CHANNELS = frozenset({"email", "chat", "webhook"})
_DISPATCH = frozenset({DISPATCH_EFFECTS})
_LOST = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "canceled",
}


def _epoch(e: HistoryEvent) -> float:
    return e.event_time.ToDatetime().replace(tzinfo=UTC).timestamp()


def _epoch_of(moment: datetime | None) -> float | None:
    return None if moment is None else moment.replace(tzinfo=UTC).timestamp()


@dataclass
class Fate:
    """One ticket, as its history tells it (times are epoch seconds)."""

    workflow_id: str
    # None while the run is open or completed; else how it ended ("missing": no history).
    lost: str | None = None
    deadline: float | None = None
    escalated: float | None = None
    escalations: int = 0
    # Idempotency key -> channel, of every email and chat item the ticket planned.
    planned: dict[str, str] = field(default_factory=dict)
    # Moments of every completed workflow task: recovery is the first one after a fault.
    completions: list[float] = field(default_factory=list)
    # Workflow tasks that failed, by cause (e.g. NON_DETERMINISTIC_ERROR), and timed out.
    task_failures: dict[str, int] = field(default_factory=dict)
    task_timeouts: int = 0

    @property
    def nondeterministic(self) -> int:
        return self.task_failures.get(NONDETERMINISM, 0)


def _escalation_count(e: HistoryEvent) -> int | None:
    fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
    value = fields.indexed_fields.get("TicketEscalations")
    if value is None:
        return None
    count = json.loads(value.data)
    return count if isinstance(count, int) else None


def _planned(e: HistoryEvent) -> dict[str, str]:
    a = e.activity_task_scheduled_event_attributes
    if a.activity_type.name not in _DISPATCH or not a.input.payloads:
        return {}
    batch = json.loads(a.input.payloads[0].data)
    items = [*batch.get("notifications", []), *batch.get("customer_updates", [])]
    return {i["idempotency_key"]: i["channel"] for i in items if i["channel"] in RECEIVED_CHANNELS}


_LOCAL_ACTIVITY = "core_local_activity"
# The channel in a timeline note's summary: "… by email: sent", "… by chat failed: …".
_NOTE_CHANNEL = re.compile(r" by (\w+)(?:: | failed: )")


def _planned_local(e: HistoryEvent) -> dict[str, str]:
    """The email and chat items of an effects batch run as a local activity, from its result."""
    a = e.marker_recorded_event_attributes
    if a.marker_name != _LOCAL_ACTIVITY or "result" not in a.details:
        return {}
    if json.loads(a.details["data"].payloads[0].data).get("activity_type") not in _DISPATCH:
        return {}
    result = json.loads(a.details["result"].payloads[0].data)
    notes = result if isinstance(result, list) else result.get("notes", [])
    planned: dict[str, str] = {}
    for note in notes:
        key = note.get("data", {}).get("key")
        found = _NOTE_CHANNEL.search(note.get("summary", ""))
        if key and found and found.group(1) in RECEIVED_CHANNELS:
            planned[key] = found.group(1)
    for u in [] if isinstance(result, list) else result.get("undelivered", []):
        item = u["item"]
        if item.get("channel") in RECEIVED_CHANNELS:
            planned[item["idempotency_key"]] = item["channel"]
    return planned


def fate(workflow_id: str, events: Sequence[HistoryEvent], *, baseline: bool = False) -> Fate:
    """Read one ticket's history (a Tierflow ticket, or the bare baseline's ``BaselineTicket``)."""
    f = Fate(workflow_id)
    if not events:
        f.lost = "missing"
        return f
    if baseline:
        spec = json.loads(
            events[0].workflow_execution_started_event_attributes.input.payloads[0].data
        )
        f.deadline = _epoch(events[0]) + float(spec["breach"])
        f.escalated = _epoch_of(_baseline_escalation(events))
    else:
        esc = history.breach_escalation(events)
        f.deadline = _epoch_of(esc.deadline)
        f.escalated = _epoch_of(esc.acted)
    tier2 = 0
    for e in events:
        t = e.event_type
        if t == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            f.completions.append(_epoch(e))
        elif t == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            tier2 += history.tier_of(e) == "tier2"
            f.escalations = max(f.escalations, _escalation_count(e) or 0)
        elif t == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            f.planned.update(_planned(e))
        elif t == E.EVENT_TYPE_MARKER_RECORDED:
            f.planned.update(_planned_local(e))
        elif t == E.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            cause = _cause(e.workflow_task_failed_event_attributes.cause)
            f.task_failures[cause] = f.task_failures.get(cause, 0) + 1
        elif t == E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            f.task_timeouts += 1
        elif t in _LOST:
            f.lost = _LOST[t]
    # The baseline has no escalation counter: its escalations are its moves to tier 2.
    f.escalations = max(f.escalations, tier2)
    return f


NONDETERMINISM = "NON_DETERMINISTIC_ERROR"


def _cause(value: int) -> str:
    name = WorkflowTaskFailedCause.Name(value)  # type: ignore[arg-type]
    return name.removeprefix("WORKFLOW_TASK_FAILED_CAUSE_")


def _baseline_escalation(events: Sequence[HistoryEvent]) -> datetime | None:
    acted: datetime | None = None
    for e in events:
        if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            acted = e.event_time.ToDatetime()
        elif (
            e.event_type == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
            and history.tier_of(e) == "tier2"
        ):
            return acted
    return None


def first_completion_after(fates: Iterable[Fate], moment: float) -> float | None:
    """The first workflow task any ticket completed after ``moment`` (epoch s)."""
    after = [c for f in fates for c in f.completions if c > moment]
    return min(after) if after else None


@dataclass(frozen=True)
class Window:
    """A fault: from when it hit until the first workflow task completed after it."""

    kind: str
    began: float
    recovered: float | None

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered is None else self.recovered - self.began


def late_after_recovery(f: Fate, windows: Sequence[Window]) -> float | None:
    """escalation - max(deadline, the latest recovery before the escalation); None: none yet.

    An escalation due during an outage is measured from the moment the workers were back; one
    due later, from its deadline.
    """
    if f.escalated is None or f.deadline is None:
        return None
    reference = f.deadline
    for w in windows:
        if w.recovered is not None and w.began < f.escalated and w.recovered <= f.escalated:
            reference = max(reference, w.recovered)
    return f.escalated - reference


def escalated_after(fates: Iterable[Fate], began: float, back: float) -> list[float]:
    """For the tickets whose deadline fell while the workers were away (``began`` to ``back``,
    the moment a new worker polled): how long after ``back`` each one escalated."""
    return [
        f.escalated - back
        for f in fates
        if f.deadline is not None
        and f.escalated is not None
        and began <= f.deadline <= back
        and f.escalated >= back
    ]


@dataclass
class Tally:
    """Lost, missed and duplicated escalations, and lateness after recovery, of one kind."""

    tickets: int
    lost: dict[str, int] = field(default_factory=dict)
    missed: int = 0
    duplicated: int = 0
    late_after_recovery: list[float] = field(default_factory=list)
    late_over_1s: int = 0


def tally(fates: Sequence[Fate], windows: Sequence[Window], *, now: float) -> Tally:
    t = Tally(tickets=len(fates))
    for f in fates:
        if f.lost is not None:
            t.lost[f.lost] = t.lost.get(f.lost, 0) + 1
        if f.escalated is None and f.deadline is not None and f.deadline < now:
            t.missed += 1
        if f.escalations > 1:
            t.duplicated += 1
        late = late_after_recovery(f, windows)
        if late is not None:
            t.late_after_recovery.append(late)
            t.late_over_1s += late > 1.0
    return t


@dataclass
class Deliveries:
    """Planned items against what the receivers accepted, by channel."""

    planned: dict[str, int]
    received: dict[str, int]
    missing: dict[str, int]
    # Email: the same key accepted twice (the mailbox shows both). Chat: repeats the webhook's
    # own dedupe absorbed (the channel shows one).
    duplicated_email: int
    deduplicated_chat: int
    # The first missing keys (at most 20), to look up in the histories and worker logs.
    missing_keys: list[str]


def deliveries(
    planned: dict[str, str], accepted: dict[str, dict[str, int]], *, absorbed_chat: int
) -> Deliveries:
    """``planned``: key -> channel; ``accepted``: channel -> key -> times accepted."""
    missing = [k for k, ch in planned.items() if accepted.get(ch, {}).get(k, 0) == 0]
    by = dict.fromkeys(sorted(RECEIVED_CHANNELS), 0)
    got = dict(by)
    lack = dict(by)
    for k, ch in planned.items():
        by[ch] += 1
        got[ch] += accepted.get(ch, {}).get(k, 0) > 0
    for k in missing:
        lack[planned[k]] += 1
    dup = sum(n - 1 for n in accepted.get("email", {}).values() if n > 1)
    return Deliveries(by, got, lack, dup, absorbed_chat, sorted(missing)[:20])


def utc(epoch: float) -> str:
    """An epoch moment as ISO time, for the JSON document."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=epoch)).isoformat(
        timespec="milliseconds"
    )


# --- the ticket's own record: warnings and escalation lateness ----------------------------


@dataclass(frozen=True)
class Record:
    """What a ticket's timeline says of its tier-1 resolution target."""

    warned: bool  # an SLA warning for it, given before its breach (or with no breach yet)
    breached: bool
    late_ms: int | None  # the first escalation level's own lateness


def record(entries: Sequence[Mapping[str, object]]) -> Record:
    """Read ``entries`` (timeline entries as dicts with ``kind`` and ``data``, oldest first)."""
    warned = breached = False
    late: int | None = None
    for entry in entries:
        data = entry.get("data")
        if entry.get("kind") != "sla" or not isinstance(data, Mapping):
            continue
        sla = data.get("sla")
        if sla == "warning" and data.get("target") == "resolution" and not breached:
            warned = True
        elif sla == "breach" and data.get("target") == "resolution":
            breached = True
        elif sla == "level" and late is None and isinstance(value := data.get("late_ms"), int):
            late = value
    return Record(warned=warned or not breached, breached=breached, late_ms=late)


@dataclass(frozen=True)
class GroupLateness:
    """One group's escalation lateness (the workflow's ``late_ms``, in s) against control."""

    count: int
    p50_s: float
    p99_s: float
    max_s: float
    # p99 minus the control group's p99 (0 for the control group itself).
    p99_over_control_s: float


def group_lateness(late_s: Mapping[str, Sequence[float]], control: str) -> dict[str, GroupLateness]:
    """Each group's lateness, and how much later its p99 is than ``control``'s."""
    base = sorted(late_s.get(control, ()))
    base_p99 = percentile(base, 99) if base else 0.0
    out: dict[str, GroupLateness] = {}
    for group, values in late_s.items():
        ordered = sorted(values)
        if not ordered:
            continue
        p99 = percentile(ordered, 99)
        out[group] = GroupLateness(
            count=len(ordered),
            p50_s=round(percentile(ordered, 50), 3),
            p99_s=round(p99, 3),
            max_s=round(ordered[-1], 3),
            p99_over_control_s=round(p99 - base_p99, 3),
        )
    return out


# --- resends --------------------------------------------------------------------------


@dataclass
class Resends:
    """Copies of an item a receiver took after its first, by why they were sent.

    ``unconfirmed``: every earlier copy was taken without the sender being told in full (a
    relay sitting on ``DATA`` past the sender's timeout, a trickled answer it gave up on): the
    sender rightly tried again. ``after_crash``: an earlier copy was confirmed, but a worker
    SIGKILL or a server stop fell while the attempt that sent it could still be running (it
    could not record the delivery). ``unexplained``: confirmed, and nothing explains the resend
    — the figure that must be 0.
    """

    unconfirmed: int = 0
    after_crash: int = 0
    unexplained: int = 0
    # A few unexplained keys, to look up in the histories and worker logs.
    unexplained_keys: list[str] = field(default_factory=list)


def resends(
    arrivals: Iterable[Arrival], crashes: Sequence[tuple[float, float]], *, reach: float
) -> Resends:
    """Classify every accepted copy after a key's first (see :class:`Resends`).

    ``crashes``: (from, to) epoch windows of worker SIGKILLs (a moment: from == to) and server
    stops (stopped to listening again); ``reach``: the longest an attempt runs (its
    start-to-close), so a copy confirmed at ``t`` was sent by an attempt that ended by
    ``t + reach``.
    """
    by_key: dict[str, list[Arrival]] = {}
    for a in sorted(arrivals, key=lambda a: a.at):
        if a.accepted:
            by_key.setdefault(a.key, []).append(a)
    out = Resends()
    for key, copies in by_key.items():
        confirmed: float | None = None
        for i, copy in enumerate(copies):
            if i > 0:
                if confirmed is None:
                    out.unconfirmed += 1
                elif any(lo <= confirmed + reach and hi >= confirmed for lo, hi in crashes):
                    out.after_crash += 1
                else:
                    out.unexplained += 1
                    if len(out.unexplained_keys) < 20:
                        out.unexplained_keys.append(key)
            if copy.confirmed and confirmed is None:
                confirmed = copy.at
    return out
