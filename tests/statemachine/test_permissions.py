"""Who may do what on a ticket: the permission decisions taken against the ticket's policy."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierflow.statemachine import (
    SYSTEM_ACTOR,
    Forbidden,
    Policy,
    PolicyError,
    audience,
    authorize,
    authorize_decision,
    deciders,
    default_policy,
    policy_from_data,
)
from tierflow.statemachine.permissions import ACTIONS, DECISIONS, RANK, places, roles_of

POLICY = default_policy()
PEOPLE = sorted({p.person.name for p in places(POLICY)})
TIER_TEAMS = [(t.name, team) for t in POLICY.tiers for team in [None, *POLICY.teams_in(t.name)]]


def with_permissions(**permissions: Any) -> Policy:
    data = POLICY.model_dump(mode="json")
    data["permissions"] = permissions
    return policy_from_data(data)


def decide(policy: Policy, action: str, actor: str, tier: str, team: str | None, requester: str,
           on_behalf_of: str | None = None) -> None:  # fmt: skip
    acting = authorize(policy, action, actor, on_behalf_of, tier=tier, team=team)
    authorize_decision(policy, action, acting, tier, team, requester)


class TestDefaults:
    def test_a_policy_without_a_table_gets_the_defaults(self) -> None:
        """Agents may do everything but decide and give up a delivery; supervisors and above
        everything."""
        data = POLICY.model_dump(mode="json")
        del data["permissions"]
        perms = policy_from_data(data).permissions
        for action in ACTIONS:
            senior = action in DECISIONS or action == "drop_delivery"
            assert perms.allows("agent", action) == (not senior)
            for role in ("supervisor", "manager", "director"):
                assert perms.allows(role, action)

    def test_a_role_left_out_keeps_its_default(self) -> None:
        """Narrowing agents to notes leaves the supervisors' permissions as they were."""
        perms = with_permissions(roles={"agent": ["note"]}).permissions
        assert perms.allows("agent", "note")
        assert not perms.allows("agent", "resolve")
        assert perms.allows("supervisor", "approve")

    def test_the_packaged_policies_name_agents_who_may_act(self) -> None:
        """Each team of the default policy has a named agent, who may act but not decide."""
        acting = authorize(POLICY, "resolve", "Jo Park", None)
        assert (acting.name, acting.roles, acting.via) == ("Jo Park", ("agent",), None)
        with pytest.raises(Forbidden, match="'Jo Park' is an agent"):
            authorize(POLICY, "approve", "Jo Park", None)


class TestWhoIsWho:
    def test_an_unknown_name_may_do_nothing(self) -> None:
        """A caller the policy does not name is refused every action, in one line."""
        for action in ACTIONS:
            with pytest.raises(Forbidden) as refused:
                authorize(POLICY, action, "random-bob-123", None)
            message = refused.value.message
            assert "\n" not in message
            assert message.startswith("only ")
            assert "'random-bob-123' is not one of the policy's people" in message

    def test_anyone_opens_listed_actions_to_unknown_names(self) -> None:
        """An explicit ``anyone`` entry lets callers the policy does not name take notes."""
        policy = with_permissions(anyone=["note"])
        assert authorize(policy, "note", "random-bob-123", None).name == "random-bob-123"
        with pytest.raises(Forbidden):
            authorize(policy, "resolve", "random-bob-123", None)

    @pytest.mark.parametrize("name", [SYSTEM_ACTOR, "customer"])
    def test_reserved_names_are_no_callers(self, name: str) -> None:
        """Nobody may act as the workflow itself or as the customer, even where anyone may."""
        policy = with_permissions(anyone=["note"])
        with pytest.raises(Forbidden, match=f"'{name}' is reserved for Tierflow itself"):
            authorize(policy, "note", name, None)
        with pytest.raises(Forbidden, match="reserved"):
            authorize(POLICY, "note", "crm", name)

    def test_a_refusal_echoes_at_most_60_characters_of_the_name(self) -> None:
        """A long made-up name is cut in the message."""
        with pytest.raises(Forbidden) as refused:
            authorize(POLICY, "note", "x" * 120, None)
        assert "x" * 61 not in refused.value.message


class TestDecisions:
    def test_the_supervisor_of_the_team_may_approve(self) -> None:
        """Riley Chen supervises tier2/technical: approving another agent's request passes."""
        decide(POLICY, "approve", "Riley Chen", "tier2", "technical", requester="Robin Ortiz")

    def test_managers_of_the_tier_and_directors_may_decide(self) -> None:
        """Morgan Lee (tier2's manager) and Dana Fox (policy-wide director) decide too."""
        for who in ("Morgan Lee", "Dana Fox"):
            decide(POLICY, "reject", who, "tier2", "billing", requester="Sky Adams")

    def test_a_supervisor_of_another_team_may_not(self) -> None:
        """Casey Brown supervises billing, not technical; the refusal names who may."""
        with pytest.raises(Forbidden) as refused:
            decide(POLICY, "approve", "Casey Brown", "tier2", "technical", "Robin Ortiz")
        assert refused.value.message == (
            "only a supervisor or above of tier2/technical other than the requester — "
            "Riley Chen, Morgan Lee, Dana Fox — may approve; 'Casey Brown' is not a supervisor "
            "or above of tier2/technical"
        )

    def test_a_supervisor_of_another_tier_may_not(self) -> None:
        """Alex Kim supervises tier 1's frontline; tier 2 decisions are not his."""
        with pytest.raises(Forbidden, match="'Alex Kim' is not a supervisor or above of tier2"):
            decide(POLICY, "approve", "Alex Kim", "tier2", "technical", "Robin Ortiz")

    def test_the_requester_may_not_decide_their_own_request(self) -> None:
        """Four eyes: Riley asked, so Riley's name is left out of who may."""
        with pytest.raises(Forbidden) as refused:
            decide(POLICY, "approve", "Riley Chen", "tier2", "technical", "Riley Chen")
        assert "four eyes" in refused.value.message
        assert "— Morgan Lee, Dana Fox —" in refused.value.message

    def test_a_policy_may_not_give_decisions_to_agents(self) -> None:
        """Approve and reject stay with supervisors and above, in the table and in anyone."""
        for permissions in ({"roles": {"agent": ["approve"]}}, {"anyone": ["reject"]}):
            with pytest.raises(PolicyError, match="need a supervisor or above"):
                with_permissions(**permissions)

    def test_a_table_may_take_decisions_from_supervisors(self) -> None:
        """Supervisors limited to notes leave the decision to managers and directors."""
        policy = with_permissions(roles={"supervisor": ["note"]})
        assert deciders(policy, "approve", "tier2", "technical") == ["Morgan Lee", "Dana Fox"]

    def test_approvers_told_of_a_request_leave_out_the_requester(self) -> None:
        """Riley asks: the tier's other deciders hear of it, not Riley."""
        told = audience.approvers(POLICY, "tier2", "technical", requester="Riley Chen")
        assert [p.name for p in told] == ["Morgan Lee", "Dana Fox"]


class TestServices:
    CRM = with_permissions(services=[{"name": "crm", "may_act_for": ["agent"]}])

    def test_a_service_acts_for_an_agent(self) -> None:
        """The person is the actor; the service is recorded beside them."""
        acting = authorize(self.CRM, "resolve", "crm", "Jo Park")
        assert (acting.name, acting.via) == ("Jo Park", "crm")

    def test_a_service_may_not_act_for_roles_it_was_not_given(self) -> None:
        """crm may act for agents only: not for Riley, a supervisor."""
        with pytest.raises(Forbidden, match="may act for agent only"):
            authorize(self.CRM, "note", "crm", "Riley Chen")

    def test_acting_for_someone_takes_a_listed_service(self) -> None:
        """A person naming someone else in on_behalf_of is refused; so is an unlisted service."""
        with pytest.raises(Forbidden, match="'Riley Chen' is not a service"):
            authorize(self.CRM, "note", "Riley Chen", "Jo Park")
        with pytest.raises(Forbidden, match="'crm' is not a service"):
            authorize(POLICY, "note", "crm", "Jo Park")

    def test_a_service_acts_only_for_someone(self) -> None:
        """Without on_behalf_of a service may do nothing of its own."""
        with pytest.raises(Forbidden, match="acts only on behalf of a person"):
            authorize(self.CRM, "note", "crm", None)

    def test_a_service_cannot_let_an_agent_decide(self) -> None:
        """Acting for an agent gives no more than the agent's own permissions."""
        with pytest.raises(Forbidden, match="'Jo Park' is an agent"):
            authorize(self.CRM, "approve", "crm", "Jo Park")

    def test_names_must_not_clash(self) -> None:
        """A service named like a person, or like Tierflow itself, is a policy error."""
        for name, problem in (("Jo Park", "also the name"), (SYSTEM_ACTOR, "reserved")):
            with pytest.raises(PolicyError, match=problem):
                with_permissions(services=[{"name": name, "may_act_for": ["agent"]}])


# --- properties ---------------------------------------------------------------------------------

names = st.one_of(st.sampled_from(PEOPLE), st.text(min_size=1, max_size=40))
places_ = st.sampled_from(TIER_TEAMS)


class TestProperties:
    @given(st.sampled_from(sorted(DECISIONS)), names, places_, names)
    def test_no_one_below_supervisor_ever_decides(
        self, action: str, actor: str, where: tuple[str, str | None], requester: str
    ) -> None:
        """Whoever is allowed to decide holds supervisor or above in the policy."""
        tier, team = where
        try:
            decide(POLICY, action, actor, tier, team, requester)
        except Forbidden:
            return
        assert max(RANK[r] for r in roles_of(POLICY, actor)) >= RANK["supervisor"]

    @given(st.sampled_from(sorted(DECISIONS)), st.sampled_from(PEOPLE), places_)
    def test_the_requester_never_decides(
        self, action: str, person: str, where: tuple[str, str | None]
    ) -> None:
        """Four eyes, for everyone, wherever the ticket is."""
        tier, team = where
        with pytest.raises(Forbidden):
            decide(POLICY, action, person, tier, team, requester=person)

    @given(st.sampled_from(ACTIONS), st.one_of(st.none(), st.sampled_from(PEOPLE)))
    def test_tierflow_never_acts_as_a_caller(self, action: str, for_whom: str | None) -> None:
        """The system actor is refused every action, on its own or through a service."""
        policy = with_permissions(
            anyone=[a for a in ACTIONS if a not in DECISIONS],
            services=[{"name": "crm", "may_act_for": ["agent", "supervisor"]}],
        )
        with pytest.raises(Forbidden):
            authorize(policy, action, SYSTEM_ACTOR, for_whom)
        with pytest.raises(Forbidden):
            authorize(policy, action, "crm", SYSTEM_ACTOR)

    @given(st.sampled_from(ACTIONS), names, st.one_of(st.none(), names), places_)
    def test_every_refusal_is_one_line_naming_who_may(
        self, action: str, actor: str, for_whom: str | None, where: tuple[str, str | None]
    ) -> None:
        """Whatever the caller, a refusal is one short line starting with who may."""
        tier, team = where
        message = ""
        try:
            authorize(POLICY, action, actor, for_whom, tier=tier, team=team)
        except Forbidden as refused:
            message = refused.message
        if message:
            assert message.startswith("only ")
            assert " may " in message
            assert "\n" not in message
            assert len(message) < 400
