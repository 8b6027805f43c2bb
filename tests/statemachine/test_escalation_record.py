"""Escalation records: reasons are mandatory and the record travels through JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from tierflow.statemachine import EscalationReason, EscalationRecord, EscalationType


def record(**overrides: object) -> EscalationRecord:
    """A valid hierarchical escalation from tier 1 to tier 2."""
    fields: dict[str, object] = {
        "type": EscalationType.HIERARCHICAL,
        "from_tier": "tier1",
        "from_assignee": "alex",
        "to_tier": "tier2",
        "to_team": "technical",
        "reasons": [EscalationReason.LIMITED_KNOWLEDGE],
        "actor": "alex",
        "at": datetime(2024, 3, 25, 10, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return EscalationRecord.model_validate(fields)


class TestEscalationRecord:
    def test_reasons_are_required(self) -> None:
        """Every escalation records at least one reason."""
        with pytest.raises(ValidationError, match="reasons"):
            record(reasons=[])

    def test_unknown_reason_is_refused(self) -> None:
        """Reasons come from the fixed list, so they can be analysed later."""
        with pytest.raises(ValidationError, match="reasons"):
            record(reasons=["bored"])

    def test_time_must_be_aware(self) -> None:
        """The escalation time carries a time zone."""
        with pytest.raises(ValidationError, match="at"):
            record(at=datetime(2024, 3, 25, 10, 0))

    def test_json_round_trip(self) -> None:
        """Records survive the workflow's JSON converter."""
        original = record(type=EscalationType.AUTOMATIC, rule="senior-takes-over")

        assert EscalationRecord.model_validate_json(original.model_dump_json()) == original
