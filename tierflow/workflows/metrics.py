"""What a ticket reports for monitoring, read off its timeline.

The workflow's operations stay pure: they only record timeline entries. After each step the
workflow hands the entries recorded since its last report to :func:`samples`, which turns
them into metric samples, and :class:`TicketMeters` records those through the SDK's workflow
meter (``workflow.metric_meter()``), which records nothing while a history is replayed, so a
ticket rebuilt from its history does not count its escalations twice. Recording metrics
issues no command: histories replay unchanged.

Labels carry policy names only (escalation type, tier, SLA target, ladder level), never
customer data or the ticket's id (one series per ticket would swamp any metrics store).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from temporalio.common import MetricCounter, MetricHistogram, MetricMeter

from tierflow.workflows.messages import TimelineEntry

ESCALATIONS = "tierflow_escalations"
SLA_BREACHES = "tierflow_sla_breaches"
SLA_WARNINGS = "tierflow_sla_warnings"
ESCALATION_LATENESS = "tierflow_escalation_lateness"
DELIVERIES_GIVEN_UP = "tierflow_deliveries_given_up"

SampleKind = Literal["escalation", "breach", "warning", "lateness", "given_up"]


@dataclass(frozen=True)
class Sample:
    """One observation: a count of one (``value`` 1) or a lateness in milliseconds."""

    kind: SampleKind
    labels: tuple[tuple[str, str], ...]
    value: int = 1


def _label(value: object) -> str:
    return "" if value is None else str(value)


def samples(entries: Iterable[TimelineEntry]) -> list[Sample]:
    """The metric samples that ``entries`` (timeline entries, oldest first) make."""
    found: list[Sample] = []
    for e in entries:
        d = e.data
        labels: tuple[tuple[str, str], ...]
        if e.kind == "escalation":
            labels = (("type", _label(d.get("type"))), ("tier", _label(d.get("to_tier"))))
            found.append(Sample("escalation", labels))
        elif e.kind == "sla" and d.get("sla") in ("breach", "warning"):
            labels = (("target", _label(d.get("target"))), ("tier", _label(d.get("tier"))))
            found.append(Sample("breach" if d["sla"] == "breach" else "warning", labels))
        elif e.kind == "sla" and isinstance(d.get("late_ms"), int):
            # Entries of earlier versions carry no level name; "" keeps them countable.
            labels = (("level", _label(d.get("level"))),)
            found.append(Sample("lateness", labels, max(0, d["late_ms"])))
        elif e.kind == "delivery_failure" and d.get("final") is True:
            found.append(Sample("given_up", (("channel", _label(d.get("channel"))),)))
    return found


class TicketMeters:
    """Tierflow's workflow instruments on one meter, created on first use."""

    def __init__(self, meter: MetricMeter) -> None:
        self._meter = meter
        self._counters: dict[SampleKind, MetricCounter] = {}
        self._lateness: MetricHistogram | None = None

    def _counter(self, kind: SampleKind) -> MetricCounter:
        counter = self._counters.get(kind)
        if counter is None:
            name, description = {
                "escalation": (ESCALATIONS, "ticket escalations, by type and target tier"),
                "breach": (SLA_BREACHES, "SLA targets breached, by target and tier"),
                "warning": (SLA_WARNINGS, "SLA targets nearly due, by target and tier"),
                "given_up": (
                    DELIVERIES_GIVEN_UP,
                    "messages given up after retrying to the delivery horizon (or dropped)",
                ),
            }[kind]
            counter = self._counters[kind] = self._meter.create_counter(name, description)
        return counter

    def record(self, found: Iterable[Sample]) -> None:
        """Record each sample on its instrument."""
        for s in found:
            if s.kind == "lateness":
                if self._lateness is None:
                    self._lateness = self._meter.create_histogram(
                        ESCALATION_LATENESS,
                        "how long after its due time an escalation level fired",
                        "ms",
                    )
                self._lateness.record(s.value, dict(s.labels))
            else:
                self._counter(s.kind).add(s.value, dict(s.labels))
