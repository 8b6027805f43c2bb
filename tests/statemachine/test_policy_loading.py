"""The escalation policy: the packaged policies, look-ups, and errors that name their key."""

from __future__ import annotations

import importlib.resources
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tierflow.files import load_policy
from tierflow.statemachine import (
    EscalationActionKind,
    Policy,
    PolicyError,
    Priority,
    UnknownTarget,
    default_policy,
    demo_policy,
    parse_policy,
)


def default_data() -> dict[str, Any]:
    """The packaged default policy as plain data, ready to be broken by a test."""
    text = (
        importlib.resources.files("tierflow.statemachine") / "policies" / "default.yaml"
    ).read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def problems_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The problems reported for a policy given as data."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(data), "policy.yaml")
    return caught.value.problems


class TestPackagedPolicies:
    def test_default_tiers_in_level_order(self) -> None:
        """The default policy has self-service, frontline, specialists and engineering."""
        assert default_policy().tier_names() == ["tier0", "tier1", "tier2", "tier3"]

    def test_default_teams_per_tier(self) -> None:
        """Tier 2 holds several teams; tier 0 has none."""
        policy = default_policy()

        assert [policy.teams_in(t) for t in policy.tier_names()] == [
            [],
            ["frontline"],
            ["technical", "billing", "customisation"],
            ["engineering"],
        ]

    def test_four_hours_in_tier1_then_a_senior_takes_over(self) -> None:
        """Normal tickets get 4 h in tier 1, and the first escalation level reassigns upwards."""
        policy = default_policy()
        first = policy.escalation.level(0)

        assert policy.targets_for(Priority.NORMAL, "tier1").resolution == timedelta(hours=4)
        assert first is not None
        assert EscalationActionKind.REASSIGN_NEXT_TIER in first.actions
        assert EscalationActionKind.NOTIFY_OWNER in first.actions

    def test_leaving_tier2_by_hand_needs_approval(self) -> None:
        """The approval flow exists in the default policy: tier 2 → tier 3."""
        policy = default_policy()

        assert policy.tier("tier2").requires_approval
        assert not policy.tier("tier1").requires_approval

    def test_critical_resolution_is_four_hours(self) -> None:
        """Default SLAs are realistic."""
        assert default_policy().targets_for(Priority.CRITICAL, "tier3").resolution == timedelta(
            hours=4
        )

    def test_demo_uses_seconds(self) -> None:
        """The demo policy's urgent resolution is 20 seconds."""
        assert demo_policy().targets_for(Priority.URGENT, "tier2").resolution == timedelta(
            seconds=20
        )

    def test_demo_has_the_same_shape_as_default(self) -> None:
        """Demo differs in times only: same tiers, teams and rules."""
        default, demo = default_policy(), demo_policy()

        assert demo.tiers == default.tiers
        assert demo.teams == default.teams
        assert demo.rules == default.rules

    def test_json_round_trip_is_lossless(self) -> None:
        """A policy passed to a workflow through Temporal's JSON converter comes back equal."""
        policy = default_policy()

        assert Policy.model_validate_json(policy.model_dump_json()) == policy

    def test_load_policy_reads_a_file(self, tmp_path: Path) -> None:
        """load_policy reads YAML from a path."""
        path = tmp_path / "policy.yaml"
        path.write_text(yaml.safe_dump(default_data()))

        assert load_policy(path) == default_policy()


class TestLookups:
    def test_next_tier(self) -> None:
        """next_tier goes one level up and stops at the top."""
        policy = default_policy()

        assert policy.next_tier("tier1") == "tier2"
        assert policy.next_tier("tier3") is None

    def test_unknown_tier_lists_known(self) -> None:
        """Asking for an unknown tier names the known ones."""
        with pytest.raises(UnknownTarget, match="unknown tier 'tier7'; known: tier0, tier1"):
            default_policy().tier("tier7")

    def test_unknown_team(self) -> None:
        """Asking for an unknown team raises UnknownTarget."""
        with pytest.raises(UnknownTarget, match="unknown team 'legal'"):
            default_policy().team("legal")

    def test_recipients_come_from_the_team_first(self) -> None:
        """The team's supervisor is the one alerted for a ticket of that team."""
        people = default_policy().recipients_for("tier2", "billing", "supervisor")

        assert [p.name for p in people] == ["Casey Brown"]

    def test_recipients_fall_back_to_tier_then_policy(self) -> None:
        """Without a team manager the tier's is used; the director is policy-wide."""
        policy = default_policy()

        assert [p.name for p in policy.recipients_for("tier2", "billing", "manager")] == [
            "Morgan Lee"
        ]
        assert [p.name for p in policy.recipients_for("tier1", None, "director")] == ["Dana Fox"]

    def test_per_tier_override_falls_back_field_by_field(self) -> None:
        """A tier override replaces only the fields it sets."""
        targets = default_policy().targets_for(Priority.NORMAL, "tier1")

        assert targets.first_response == timedelta(hours=4)
        assert targets.next_response == timedelta(hours=8)

    def test_levels_repeat_the_last_one(self) -> None:
        """With repeat_last, levels past the end are the last level, later each time."""
        escalation = default_policy().escalation

        assert escalation.level(4) == escalation.levels[-1]
        assert escalation.delay(3) == timedelta(hours=8)
        assert escalation.delay(4) == timedelta(hours=16)

    def test_levels_end_without_repeat(self) -> None:
        """Without repeat_last there is nothing after the last level."""
        data = default_data()
        data["escalation"]["repeat_last"] = False
        escalation = parse_policy(yaml.safe_dump(data)).escalation

        assert escalation.level(4) is None
        assert escalation.delay(4) is None

    def test_escalation_due_uses_the_calendar(self) -> None:
        """The second level is due one hour after the breach (24x7 calendar)."""
        breach = datetime(2024, 3, 25, 12, 0, tzinfo=UTC)

        assert default_policy().escalation_due(breach, 1) == breach + timedelta(hours=1)


class TestPolicyErrors:
    def test_bad_duration_names_its_key(self) -> None:
        """A bad duration is reported at its key path with a hint."""
        data = default_data()
        data["sla"]["targets"]["urgent"]["resolution"] = "4x"

        with pytest.raises(PolicyError) as caught:
            parse_policy(yaml.safe_dump(data), "policy.yaml")

        assert str(caught.value) == (
            "policy.yaml: sla.targets.urgent.resolution: "
            "invalid duration '4x' (use e.g. 30s, 15m, 4h, 2d)"
        )

    def test_unknown_tier_in_team(self) -> None:
        """A team in a tier that does not exist is reported at teams.N.tier."""
        data = default_data()
        data["teams"][0]["tier"] = "tier9"
        data["tiers"][1]["teams"] = []

        assert problems_of(data) == [
            ("teams.0.tier", "unknown tier 'tier9' (known: tier0, tier1, tier2, tier3)")
        ]

    def test_bad_timezone(self) -> None:
        """An unknown time zone is reported at calendar.timezone."""
        data = default_data()
        data["calendar"]["timezone"] = "Mars/Olympus"

        [(path, message)] = problems_of(data)
        assert path == "calendar.timezone"
        assert "unknown time zone 'Mars/Olympus'" in message

    def test_bad_opening_window(self) -> None:
        """A malformed opening window is reported at its index."""
        data = default_data()
        data["calendar"].update(always_open=False, hours={"monday": ["09:00-25:00"]})

        [(path, message)] = problems_of(data)
        assert path == "calendar.hours.monday.0"
        assert "invalid opening window" in message

    def test_fewer_than_four_levels(self) -> None:
        """The escalation ladder needs at least four levels."""
        data = default_data()
        data["escalation"]["levels"] = data["escalation"]["levels"][:3]

        [(path, message)] = problems_of(data)
        assert path == "escalation.levels"
        assert "at least 4" in message

    def test_unknown_key(self) -> None:
        """A typo in a key is refused, not ignored."""
        data = default_data()
        data["tiers"][0]["colour"] = "blue"

        assert problems_of(data) == [("tiers.0.colour", "unknown key")]

    def test_missing_key(self) -> None:
        """A required key that is missing is named."""
        data = default_data()
        del data["follow_up"]["delay"]

        assert problems_of(data) == [("follow_up.delay", "required key is missing")]

    def test_rule_with_unknown_team(self) -> None:
        """Rule targets must exist."""
        data = default_data()
        data["rules"][3]["then"]["set_team"] = "finance"

        [(path, message)] = problems_of(data)
        assert path == "rules.3.then.set_team"
        assert "unknown team 'finance'" in message

    def test_unknown_default_tier(self) -> None:
        """The default tier must be configured."""
        data = default_data()
        data["default_tier"] = "tier5"

        [(path, _)] = problems_of(data)
        assert path == "default_tier"

    def test_missing_priority_targets(self) -> None:
        """Every priority needs SLA targets."""
        data = default_data()
        del data["sla"]["targets"]["low"]

        [(path, message)] = problems_of(data)
        assert path == "sla.targets"
        assert "low" in message

    def test_tier_name_must_not_be_a_state(self) -> None:
        """A tier called like a fixed state would break the machine."""
        data = default_data()
        data["tiers"][0]["name"] = "closed"

        assert ("tiers.0.name", "'closed' is a reserved state name") in problems_of(data)

    def test_channel_without_address(self) -> None:
        """A recipient alerted by SMS needs a phone number."""
        data = default_data()
        data["recipients"][0]["channels"] = ["chat"]

        [(path, message)] = problems_of(data)
        assert path == "recipients.0"
        assert "'chat'" in message

    def test_several_problems_are_reported_together(self) -> None:
        """Every field problem is listed, one line each."""
        data = default_data()
        data["sla"]["warning_fraction"] = 1.5
        data["follow_up"]["reopen_below"] = 9

        assert [p for p, _ in problems_of(data)] == [
            "sla.warning_fraction",
            "follow_up.reopen_below",
        ]

    def test_invalid_yaml(self) -> None:
        """Broken YAML is a PolicyError, not a parser traceback."""
        with pytest.raises(PolicyError, match="not valid YAML"):
            parse_policy("tiers: [", "policy.yaml")

    def test_not_a_mapping(self) -> None:
        """A policy file must hold a mapping."""
        with pytest.raises(PolicyError, match="must be a mapping"):
            parse_policy("- a\n- b\n")

    def test_missing_file_names_the_path(self, tmp_path: Path) -> None:
        """An unreadable file is reported against its path."""
        path = tmp_path / "nope.yaml"

        with pytest.raises(PolicyError, match=r"nope\.yaml: cannot read the file"):
            load_policy(path)
