"""Who is told what: people chosen from the default policy for ticket events."""

from __future__ import annotations

from tierflow.statemachine import Recipient, audience, default_policy


def names(people: list[Recipient]) -> list[str]:
    """Just the names, for readable assertions."""
    return [p.name for p in people]


class TestAudience:
    def test_team_queue_is_the_teams_agents(self) -> None:
        """A ticket landing in billing is announced to the billing queue."""
        assert names(audience.team_queue(default_policy(), "tier2", "billing")) == ["Billing queue"]

    def test_unknown_names_are_left_out(self) -> None:
        """Agents known only to the host system have no address here."""
        assert names(audience.named(default_policy(), ["Alex Kim", "someone"])) == ["Alex Kim"]

    def test_breach_warning_reaches_owner_and_followers_once(self) -> None:
        """Owner plus followers, without duplicates."""
        people = audience.breach_warning(
            default_policy(), "tier1", "frontline", None, ["Alex Kim", "Alex Kim"]
        )

        assert names(people) == ["Frontline queue", "Alex Kim"]

    def test_escalation_level_notifies_by_role(self) -> None:
        """The director level reaches the policy-wide director."""
        policy = default_policy()

        people = audience.escalation_level(
            policy, policy.escalation.levels[3], "tier1", "frontline", None, []
        )

        assert names(people) == ["Dana Fox"]

    def test_approvers_are_supervisors(self) -> None:
        """Escalation requests from tier 2 technical go to its supervisor."""
        assert names(audience.approvers(default_policy(), "tier2", "technical")) == ["Riley Chen"]

    def test_rule_mentions_resolve_roles(self) -> None:
        """A rule's 'supervisor' becomes the supervisor of the routed team."""
        mentioned = audience.rule_mentions(default_policy(), "tier3", "engineering", ["supervisor"])

        assert mentioned == ["Quinn Walsh"]
