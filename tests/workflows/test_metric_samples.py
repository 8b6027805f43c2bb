"""What a ticket's timeline entries report to metrics (pure: no Temporal)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tierflow.worker import WorkerSettings
from tierflow.workflows.messages import TimelineEntry, TimelineKind
from tierflow.workflows.metrics import Sample, samples

AT = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def entry(kind: TimelineKind, summary: str = "", **data: Any) -> TimelineEntry:
    return TimelineEntry(at=AT, kind=kind, actor="system", summary=summary, data=data)


class TestSamples:
    def test_escalations_count_by_type_and_target_tier(self) -> None:
        """An escalation entry is one count labelled with its type and the tier it went to."""
        found = samples([entry("escalation", type="automatic", to_tier="tier2", to_team="x")])
        assert found == [Sample("escalation", (("type", "automatic"), ("tier", "tier2")))]

    def test_breaches_and_warnings_count_by_target_and_tier(self) -> None:
        """SLA entries marked breach or warning count under their target and tier; "met"
        and other SLA lines do not."""
        found = samples(
            [
                entry("sla", sla="warning", target="resolution", tier="tier1"),
                entry("sla", sla="breach", target="first_response", tier="tier1"),
                entry("sla", "resolution met"),
            ]
        )
        assert found == [
            Sample("warning", (("target", "resolution"), ("tier", "tier1"))),
            Sample("breach", (("target", "first_response"), ("tier", "tier1"))),
        ]

    def test_a_fired_level_records_its_lateness(self) -> None:
        """An escalation level's entry gives its lateness in ms, under the level's name
        (entries of earlier versions, without one, under "")."""
        found = samples(
            [
                entry("sla", sla="level", level="supervisor", late_ms=42, tier="tier2"),
                entry("sla", "escalation level 1 (owner)", late_ms=7),
            ]
        )
        assert found == [
            Sample("lateness", (("level", "supervisor"),), 42),
            Sample("lateness", (("level", ""),), 7),
        ]

    def test_labels_carry_no_ticket_data(self) -> None:
        """Subjects, names, notes and ticket ids never become labels."""
        found = samples(
            [
                entry("opened", "opened via email"),
                entry("note", "Ana Silva called about T-123"),
                entry("escalation", "x", type="hierarchical", to_tier="tier3", note="Ana Silva"),
                entry("delivery_failure", "sync failed", batch="0001-effects"),
            ]
        )
        assert found == [Sample("escalation", (("type", "hierarchical"), ("tier", "tier3")))]


class TestMetricsSetting:
    def test_a_malformed_bind_address_is_refused(self) -> None:
        """``TIERFLOW_METRICS_BIND`` must be host:port, checked before anything starts."""
        assert WorkerSettings(metrics_bind="0.0.0.0:9464").metrics_bind == "0.0.0.0:9464"
        with pytest.raises(ValueError, match="metrics bind address"):
            WorkerSettings(metrics_bind="9464")
        with pytest.raises(ValueError, match="port must be a number"):
            WorkerSettings(metrics_bind="0.0.0.0:99999")

    def test_the_variables_reach_the_settings(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``TIERFLOW_METRICS_BIND`` and ``TIERFLOW_TRACING`` are read from the environment."""
        monkeypatch.setenv("TIERFLOW_METRICS_BIND", "127.0.0.1:9464")
        monkeypatch.setenv("TIERFLOW_TRACING", "true")
        settings = WorkerSettings()
        assert settings.metrics_bind == "127.0.0.1:9464"
        assert settings.tracing is True
