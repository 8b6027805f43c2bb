"""Triage: the default policy's routing rules, and the explanation each firing gives."""

from __future__ import annotations

import pytest

from tierflow.statemachine import (
    Action,
    Channel,
    Condition,
    FiredRule,
    Priority,
    RoutingRule,
    default_policy,
    triage,
)
from tierflow.statemachine.testing import make_ticket


class TestDefaultRules:
    def test_plain_ticket_goes_to_frontline(self) -> None:
        """Nothing special: the default tier and its first team, no rules fired."""
        result = triage(make_ticket(), default_policy())

        assert (result.tier, result.team, result.priority) == ("tier1", "frontline", "normal")
        assert result.fired == []

    def test_billing_keyword_in_subject_routes_to_billing(self) -> None:
        """Functional routing: 'billing' in the subject goes to the billing team in tier 2."""
        result = triage(make_ticket(subject="Billing question"), default_policy())

        assert (result.tier, result.team, result.category) == ("tier2", "billing", "billing")
        assert result.fired == [
            FiredRule(name="billing-to-finance", reason="keyword 'billing' in subject")
        ]

    def test_keyword_in_description(self) -> None:
        """Keywords are found in the description too, and the reason says where."""
        ticket = make_ticket(subject="Question", description="My invoice is wrong")

        [fired] = triage(ticket, default_policy()).fired
        assert fired.reason == "keyword 'invoice' in description"

    def test_keywords_match_whole_words_only(self) -> None:
        """'rebilling' does not contain the word 'billing'."""
        result = triage(make_ticket(subject="Rebilling the widget"), default_policy())

        assert result.team == "frontline"

    def test_keywords_ignore_case(self) -> None:
        """'BILLING' matches 'billing'."""
        assert triage(make_ticket(subject="BILLING!"), default_policy()).team == "billing"

    def test_vip_skips_tier1(self) -> None:
        """A VIP customer goes straight to tier 2's technical team."""
        result = triage(make_ticket(status="vip"), default_policy())

        assert (result.tier, result.team) == ("tier2", "technical")
        assert result.fired == [FiredRule(name="vip-skips-tier1", reason="customer status 'vip'")]

    def test_vip_with_billing_goes_to_billing(self) -> None:
        """The VIP rule's team gives way when a later rule chooses a team."""
        result = triage(make_ticket(status="vip", subject="Refund please"), default_policy())

        assert (result.tier, result.team) == ("tier2", "billing")

    @pytest.mark.parametrize(
        "subject", ["Security breach on my account", "We suffered DATA LOSS", "data\n  loss"]
    )
    def test_severity_goes_critical_to_the_top(self, subject: str) -> None:
        """A security breach or data loss is critical and goes to tier 3 engineering."""
        result = triage(make_ticket(subject=subject), default_policy())

        assert (result.priority, result.tier, result.team) == ("critical", "tier3", "engineering")
        assert result.notify == ["supervisor", "manager"]

    def test_severity_outranks_functional_routing(self) -> None:
        """Security plus billing still goes to tier 3: the highest tier asked for wins."""
        ticket = make_ticket(subject="Security breach in billing")

        result = triage(ticket, default_policy())

        assert (result.tier, result.team) == ("tier3", "engineering")
        assert [f.name for f in result.fired] == [
            "severity-security-or-data-loss",
            "billing-to-finance",
        ]

    def test_many_impacted_customers_raise_priority(self) -> None:
        """An issue hitting 50 or more customers is at least urgent."""
        result = triage(make_ticket(impacted_customers=120), default_policy())

        assert result.priority == Priority.URGENT
        assert result.fired[0].reason == "impacted customers 120 >= 50"

    def test_impact_never_lowers_priority(self) -> None:
        """raise_priority_to leaves a critical ticket critical."""
        ticket = make_ticket(subject="data loss", impacted_customers=500)

        assert triage(ticket, default_policy()).priority == Priority.CRITICAL

    def test_below_the_impact_threshold_nothing_happens(self) -> None:
        """49 impacted customers do not trigger the impact rule."""
        assert triage(make_ticket(impacted_customers=49), default_policy()).fired == []

    def test_password_reset_goes_to_self_service(self) -> None:
        """Tier 0 has no team: the ticket is routed without one."""
        result = triage(make_ticket(subject="Forgot password"), default_policy())

        assert (result.tier, result.team, result.category) == ("tier0", None, "account")

    def test_ticket_is_not_changed(self) -> None:
        """Triage is pure: it returns a result and leaves the ticket alone."""
        ticket = make_ticket(subject="billing")
        before = ticket.model_copy()

        triage(ticket, default_policy())

        assert ticket == before


class TestConditions:
    def test_empty_condition_always_holds(self) -> None:
        """A rule without conditions is a catch-all."""
        assert Condition().explain(make_ticket(), None, Priority.NORMAL) == "always"

    def test_all_given_conditions_must_hold(self) -> None:
        """Conditions combine with AND."""
        condition = Condition(keywords=["refund"], channels=[Channel.PHONE])

        assert condition.explain(make_ticket(subject="refund"), None, Priority.NORMAL) is None

    def test_reasons_are_joined(self) -> None:
        """Each holding condition contributes to the explanation."""
        condition = Condition(channels=[Channel.EMAIL], min_priority=Priority.HIGH)

        reason = condition.explain(make_ticket(), None, Priority.URGENT)

        assert reason == "channel 'email' and priority 'urgent' >= 'high'"

    def test_priority_compares_by_rank(self) -> None:
        """min_priority high excludes normal (alphabetically 'normal' > 'high')."""
        condition = Condition(min_priority=Priority.HIGH)

        assert condition.explain(make_ticket(), None, Priority.NORMAL) is None

    def test_later_rules_see_earlier_changes(self) -> None:
        """A category set by one rule can route in the next."""
        policy = default_policy().model_copy(
            update={
                "rules": [
                    RoutingRule(
                        name="categorise",
                        when=Condition(keywords=["api"]),
                        then=Action(set_category="integration"),
                    ),
                    RoutingRule(
                        name="route-category",
                        when=Condition(categories=["integration"]),
                        then=Action(set_team="customisation"),
                    ),
                ]
            }
        )

        result = triage(make_ticket(subject="API returns 500"), policy)

        assert result.team == "customisation"
        assert result.fired[1].reason == "category 'integration'"

    def test_stop_ends_evaluation(self) -> None:
        """After a rule with stop, no further rule fires."""
        policy = default_policy().model_copy(
            update={
                "rules": [
                    RoutingRule(name="first", then=Action(set_priority=Priority.LOW, stop=True)),
                    RoutingRule(name="second", then=Action(set_priority=Priority.HIGH)),
                ]
            }
        )

        result = triage(make_ticket(), policy)

        assert result.priority == Priority.LOW
        assert [f.name for f in result.fired] == ["first"]
