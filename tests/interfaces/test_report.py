"""The escalation report's figures, computed from hand-made ticket histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.interfaces.conftest import Cli
from tests.interfaces.support import settle
from tests.workflows.support import fast_policy, ticket, wait_for
from tierflow.client import TicketClient
from tierflow.report import (
    EscalationReport,
    TicketHistory,
    breached,
    build_report,
    escalations_of,
    sla_verdict,
    tier_stints,
)
from tierflow.statemachine import EscalationReason, EscalationType, Priority
from tierflow.workflows.messages import Escalate, Resolve, SlaView, TicketStatus, TimelineEntry

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def entry(minutes: float, kind: str, summary: str, **data: Any) -> TimelineEntry:
    return TimelineEntry.model_validate(
        {
            "at": T0 + timedelta(minutes=minutes),
            "kind": kind,
            "actor": "x",
            "summary": summary,
            "data": data,
        }
    )


def landing(minutes: float, tier: str, team: str | None = None) -> TimelineEntry:
    return entry(minutes, "transition", f"now in {tier}/{team or '—'}", tier=tier, team=team)


def escalation(
    minutes: float, kind: str, reasons: list[str], tier: str, team: str
) -> TimelineEntry:
    data = {"type": kind, "reasons": reasons, "to_tier": tier, "to_team": team}
    return entry(minutes, "escalation", f"{kind} escalation to {tier}/{team}", **data)


def history(
    timeline: list[TimelineEntry],
    *,
    escalations: int | None = None,
    priority: str = "normal",
    resolved: bool = False,
    resolution_target: bool = True,
) -> TicketHistory:
    sla = (
        [
            SlaView(
                target="resolution",
                due=None,
                remaining=None,
                warned=False,
                breached=False,
                met=resolved,
                paused=False,
            )
        ]
        if resolution_target
        else []
    )
    status = TicketStatus(
        ticket_id="T-1",
        subject="s",
        state="resolved" if resolved else "tier1",
        tier="tier1",
        team=None,
        assignee=None,
        followers=[],
        priority=Priority(priority),
        category=None,
        customer_status="standard",
        escalation_level=0,
        escalations=escalations
        if escalations is not None
        else sum(e.kind == "escalation" for e in timeline),
        last_escalation=None,
        breached=False,
        sla=sla,
        allowed_actions=[],
        pending_escalation=None,
        opened_at=T0,
        resolved_at=T0 + timedelta(hours=1) if resolved else None,
        closed_at=None,
        feedback_score=None,
        policy="test v1",
    )
    return TicketHistory(status=status, timeline=timeline)


class TestEscalationsOf:
    def test_direct_escalations_come_from_their_entries(self) -> None:
        """Each ``escalation`` entry is one escalation with its type, reasons and target."""
        h = history(
            [
                landing(0, "tier1"),
                escalation(5, "hierarchical", ["limited_access"], "tier2", "billing"),
            ]
        )
        (esc,) = escalations_of(h)
        assert (esc.type, esc.reasons, esc.to_tier, esc.to_team) == (
            "hierarchical",
            ["limited_access"],
            "tier2",
            "billing",
        )

    def test_approved_request_counts_once_through_its_escalation_entry(self) -> None:
        """Approval entries are not escalations; the record written on approval is, once."""
        h = history(
            [
                landing(0, "tier2", "technical"),
                entry(1, "approval", "asked to escalate to tier3", reasons=["feature_request"]),
                entry(2, "approval", "approved escalation to tier3"),
                escalation(2, "hierarchical", ["feature_request"], "tier3", "engineering"),
                landing(2, "tier3", "engineering"),
            ]
        )
        (esc,) = escalations_of(h)
        assert (esc.type, esc.reasons, esc.to_tier) == (
            "hierarchical",
            ["feature_request"],
            "tier3",
        )

    def test_rejected_request_is_not_an_escalation(self) -> None:
        """A rejected request leaves the ticket where it was and counts for nothing."""
        h = history(
            [
                landing(0, "tier2"),
                entry(1, "approval", "asked to escalate to tier3", reasons=["limited_knowledge"]),
                entry(2, "approval", "rejected escalation to tier3"),
            ],
            escalations=0,
        )
        assert escalations_of(h) == []

    def test_routing_rule_at_opening_is_automatic(self) -> None:
        """A routing rule that sends a new ticket past tier 1 is an automatic escalation."""
        h = history(
            [
                escalation(0, "automatic", ["rule"], "tier3", "engineering"),
                landing(0, "tier3", "engineering"),
            ]
        )
        (esc,) = escalations_of(h)
        assert (esc.type, esc.reasons, esc.to_tier) == ("automatic", ["rule"], "tier3")


class TestSla:
    def test_breach_anywhere_in_the_history_counts(self) -> None:
        """A breach stays a breach even after the ticket moved on and its clock restarted."""
        h = history([landing(0, "tier1"), entry(9, "sla", "resolution breached (tier1)")])
        assert breached(h)
        assert sla_verdict(h) is False

    def test_resolved_without_breach_complies(self) -> None:
        """A resolved ticket that never breached meets its SLA."""
        h = history([entry(9, "sla", "resolution due soon (tier1)")], resolved=True)
        assert not breached(h)
        assert sla_verdict(h) is True

    @pytest.mark.parametrize("target", [True, False])
    def test_open_or_untargeted_ticket_has_no_verdict(self, target: bool) -> None:
        """Open within SLA, or without a resolution target: not judged yet."""
        assert sla_verdict(history([], resolution_target=target)) is None


class TestTierStints:
    def test_stints_end_at_the_next_tier_or_resolution(self) -> None:
        """Time in a tier runs from landing to leaving it; an ongoing stay is left out."""
        timeline = [
            landing(0, "tier1"),
            landing(10, "tier2"),
            entry(40, "transition", "resolved: fixed"),
            entry(50, "transition", "reopened: customer replied"),
            landing(50, "tier2"),
        ]
        assert tier_stints(timeline) == [
            ("tier1", timedelta(minutes=10)),
            ("tier2", timedelta(minutes=30)),
        ]


class TestBuildReport:
    def test_figures_over_several_tickets(self) -> None:
        """Counts, compliance, medians and breaches combine over all tickets."""
        a = history(
            [
                landing(0, "tier1"),
                escalation(10, "hierarchical", ["limited_knowledge"], "tier2", "technical"),
                landing(10, "tier2", "technical"),
                entry(20, "transition", "resolved: ok"),
            ],
            resolved=True,
        )
        b = history(
            [
                landing(0, "tier1"),
                entry(30, "sla", "resolution breached (tier1)"),
                escalation(31, "automatic", ["sla_breach"], "tier2", "billing"),
                landing(31, "tier2", "billing"),
                entry(61, "transition", "resolved: ok"),
            ],
            priority="high",
            resolved=True,
        )
        c = history([landing(0, "tier1")])
        report = build_report([a, b, c])
        assert report.tickets == 3
        assert report.escalations == 2
        assert report.by_type == {"hierarchical": 1, "automatic": 1}
        assert report.by_reason == {"limited_knowledge": 1, "sla_breach": 1}
        assert report.by_team == {"technical": 1, "billing": 1}
        assert report.by_tier == {"tier2": 2}
        assert (report.sla_met, report.sla_judged, report.sla_compliance_percent) == (1, 2, 50.0)
        assert report.median_seconds_per_tier == {"tier1": 20.5 * 60, "tier2": 20 * 60.0}
        assert report.breaches_by_priority == {"high": 1}

    def test_no_tickets_no_compliance(self) -> None:
        """With nothing judged, compliance is unknown rather than 0 % or 100 %."""
        report = build_report([])
        assert report.sla_compliance_percent is None
        assert report.escalations == 0


class TestReportAgainstServer:
    async def test_figures_of_tickets_whose_history_the_test_controls(
        self, tickets: TicketClient, task_queue: str, cli: Cli
    ) -> None:
        """Two hand escalations with known reasons, one breach: the report says exactly that."""
        quiet_ladder = [
            {"name": f"level{i}", "after": f"{60 * i}s", "actions": ["notify_owner"]}
            for i in range(4)
        ]
        policy = fast_policy(resolution="3s", levels=quiet_ladder, follow_up="60s")
        kept, late = ticket("Cannot log in"), ticket("Cannot log in again")
        for t in (kept, late):
            await tickets.open(t, policy)
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        reason = [EscalationReason.LIMITED_KNOWLEDGE]
        await tickets.escalate(kept.id, Escalate(actor="Jo Park", reasons=reason, team="billing"))
        await tickets.resolve(kept.id, Resolve(actor="Morgan Lee", resolution="fixed"))
        await tickets.escalate(
            late.id,
            Escalate(
                actor="Jordan Diaz",
                type=EscalationType.FUNCTIONAL,
                team="technical",
                reasons=[EscalationReason.LIMITED_AUTHORITY],
            ),
        )
        await wait_for(tickets, late.id, lambda s: s.breached)
        await tickets.resolve(late.id, Resolve(actor="Robin Ortiz", resolution="fixed late"))
        await settle(lambda: tickets.list(task_queue=task_queue), expected=2)

        result = await cli("report", "--json")
        assert result.exit_code == 0, result.output
        report = EscalationReport.model_validate_json(result.stdout)
        assert report.tickets == 2
        assert report.escalations == 2
        assert report.by_type == {"hierarchical": 1, "functional": 1}
        assert report.by_reason == {"limited_knowledge": 1, "limited_authority": 1}
        assert report.by_team == {"billing": 1, "technical": 1}
        assert report.by_tier == {"tier2": 2}
        assert (report.sla_met, report.sla_judged, report.sla_compliance_percent) == (1, 2, 50.0)
        assert report.breaches_by_priority == {"normal": 1}
        assert set(report.median_seconds_per_tier) == {"tier1", "tier2"}
        assert report.median_seconds_per_tier["tier2"] >= 1.5  # half of (0, >=3 s)

    async def test_report_as_tables(self, tickets: TicketClient, cli: Cli) -> None:
        """Without --json the report prints its tables, even over no tickets."""
        result = await cli("report")
        assert result.exit_code == 0, result.output
        assert "SLA compliance" in result.stdout
