"""Where each role reads and acts: the scope rules of statemachine/permissions.py, decided against
the packaged default policy (frontline in tier1; technical, billing and customisation in tier2;
engineering in tier3; Morgan Lee manages tier2, Dana Fox directs the whole desk)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tierflow.statemachine import (
    Area,
    Forbidden,
    Policy,
    PolicyError,
    TicketPlace,
    authorize,
    authorize_decision,
    default_policy,
    may_open,
    may_read,
    policy_from_data,
    readable_area,
)
from tierflow.statemachine.permissions import SCOPES, area_of, reaches

POLICY = default_policy()
FRONTLINE = TicketPlace("tier1", "frontline")
BILLING = TicketPlace("tier2", "billing")
ENGINEERING = TicketPlace("tier3", "engineering")
SELF_SERVICE = TicketPlace("tier0", None)


def with_permissions(**permissions: Any) -> Policy:
    data = POLICY.model_dump(mode="json")
    data["permissions"] = {**data["permissions"], **permissions}
    return policy_from_data(data)


def acts(policy: Policy, action: str, actor: str, ticket: TicketPlace, **kw: Any) -> bool:
    try:
        authorize(policy, action, actor, kw.pop("on_behalf_of", None), ticket=ticket, **kw)
    except Forbidden:
        return False
    return True


def reads(policy: Policy, name: str, ticket: TicketPlace, *, service: bool = False) -> bool:
    try:
        may_read(policy, name, ticket, service=service)
    except Forbidden:
        return False
    return True


class TestDefaults:
    def test_older_policies_get_the_default_scopes(self) -> None:
        """A policy written before scopes existed loads with agents in their teams,
        supervisors and managers reading everything and acting in their teams, and directors
        everywhere."""
        data = POLICY.model_dump(mode="json")
        del data["permissions"]["scopes"]
        perms = policy_from_data(data).permissions
        assert {r: (s.read, s.act) for r, s in perms.scopes.items()} == {
            "agent": ("team", "team"),
            "supervisor": ("all", "team"),
            "manager": ("all", "team"),
            "director": ("all", "all"),
        }

    def test_agents_read_and_act_in_their_own_teams(self) -> None:
        """Jo Park (frontline) resolves frontline tickets, not billing's or engineering's."""
        assert reads(POLICY, "Jo Park", FRONTLINE)
        assert acts(POLICY, "resolve", "Jo Park", FRONTLINE)
        for elsewhere in (BILLING, ENGINEERING, SELF_SERVICE):
            assert not reads(POLICY, "Jo Park", elsewhere)
            assert not acts(POLICY, "resolve", "Jo Park", elsewhere)

    def test_an_agent_reaches_the_tickets_they_own(self) -> None:
        """Assigned to them, or followed (they escalated it and stay responsible): an agent
        reads and acts on it wherever it is."""
        assigned = TicketPlace("tier3", "engineering", assignee="Jo Park")
        escalated = TicketPlace("tier2", "billing", followers=("Robin Ortiz", "Jo Park"))
        for ticket in (assigned, escalated):
            assert reads(POLICY, "Jo Park", ticket)
            assert acts(POLICY, "note", "Jo Park", ticket)
        assert not acts(POLICY, "note", "Sky Adams", assigned)

    def test_supervisors_read_everything_and_act_in_their_teams(self) -> None:
        """Alex Kim (frontline's supervisor) reads a tier-3 ticket but acts on frontline's."""
        assert reads(POLICY, "Alex Kim", ENGINEERING)
        assert acts(POLICY, "resolve", "Alex Kim", FRONTLINE)
        assert not acts(POLICY, "resolve", "Alex Kim", ENGINEERING)

    def test_a_tier_s_people_act_on_all_its_teams(self) -> None:
        """Morgan Lee, placed under tier2, acts on every tier-2 team's tickets (and those of
        tier2 without a team), not on tier1's."""
        for team in (None, "technical", "billing", "customisation"):
            assert acts(POLICY, "resolve", "Morgan Lee", TicketPlace("tier2", team))
        assert not acts(POLICY, "resolve", "Morgan Lee", FRONTLINE)

    def test_policy_wide_people_and_directors_act_everywhere(self) -> None:
        """Dana Fox (director, policy-wide) acts on every ticket, self-service included."""
        for ticket in (FRONTLINE, BILLING, ENGINEERING, SELF_SERVICE):
            assert acts(POLICY, "resolve", "Dana Fox", ticket)

    def test_a_ticket_without_a_team_belongs_to_its_tier_s_teams(self) -> None:
        """A tier-2 ticket with no team is every tier-2 team member's; not tier1's."""
        teamless = TicketPlace("tier2", None)
        assert reads(POLICY, "Sky Adams", teamless)
        assert not reads(POLICY, "Jo Park", teamless)

    def test_a_ticket_in_triage_is_nobody_s_but_everything_readers(self) -> None:
        """Before routing a ticket has no tier: agents do not reach it, supervisors read it."""
        triage = TicketPlace(None, None)
        assert not reads(POLICY, "Jo Park", triage)
        assert reads(POLICY, "Alex Kim", triage)


class TestWhoIsNobody:
    def test_a_name_the_policy_does_not_know_may_do_nothing(self) -> None:
        """Not one of its people: no opening, no reading, no listing — each a one-line
        refusal naming why."""
        for check in (
            lambda: may_open(POLICY, "random-bob"),
            lambda: may_read(POLICY, "random-bob", FRONTLINE),
            lambda: readable_area(POLICY, "random-bob"),
        ):
            with pytest.raises(Forbidden, match="'random-bob' is not one of the policy's people"):
                check()

    def test_a_service_must_be_listed(self) -> None:
        """A service credential the policy does not list is nobody; a listed one opens and
        reads every ticket; a person's credential named like the service is not it."""
        listed = with_permissions(services=[{"name": "crm", "may_act_for": ["agent"]}])
        with pytest.raises(Forbidden, match="'crm' is not a service the policy lists"):
            may_read(POLICY, "crm", FRONTLINE, service=True)
        may_open(listed, "crm", service=True)
        assert all(
            reads(listed, "crm", t, service=True) for t in (FRONTLINE, ENGINEERING, SELF_SERVICE)
        )
        assert readable_area(listed, "crm", service=True) == Area(everything=True)
        assert not reads(listed, "crm", FRONTLINE, service=False)

    def test_a_service_acts_within_the_person_s_scope(self) -> None:
        """Acting for Jo Park, the CRM is held to Jo Park's teams."""
        listed = with_permissions(services=[{"name": "crm", "may_act_for": ["agent"]}])
        assert acts(listed, "note", "crm", FRONTLINE, on_behalf_of="Jo Park")
        with pytest.raises(Forbidden, match="'Jo Park' \\(agent\\) acts on tickets of frontline"):
            authorize(listed, "note", "crm", "Jo Park", ticket=ENGINEERING)

    def test_what_anyone_may_do_is_not_scoped(self) -> None:
        """A policy that lets anyone note lets them note any ticket."""
        open_notes = with_permissions(anyone=["note"])
        assert acts(open_notes, "note", "random-bob", ENGINEERING)


class TestRefusals:
    def test_a_scope_refusal_names_the_scope_not_the_ticket(self) -> None:
        """One line saying where the person acts, never where the ticket is."""
        with pytest.raises(Forbidden) as refused:
            authorize(POLICY, "resolve", "Jo Park", None, ticket=ENGINEERING)
        message = refused.value.message
        assert message == (
            "only people whose scope covers this ticket may resolve it; 'Jo Park' (agent) "
            "acts on tickets of frontline and tickets assigned to them or that they follow"
        )
        assert "engineering" not in message
        with pytest.raises(Forbidden, match="'Sky Adams' \\(agent\\) reads tickets of billing"):
            may_read(POLICY, "Sky Adams", FRONTLINE)


class TestConfiguration:
    def test_a_policy_widens_and_narrows(self) -> None:
        """Agents reading the whole tier, supervisors narrowed to their own tickets."""
        policy = with_permissions(
            scopes={"agent": {"read": "tier"}, "supervisor": {"read": "own", "act": "own"}}
        )
        assert reads(policy, "Robin Ortiz", BILLING)  # technical, same tier
        assert not acts(policy, "note", "Robin Ortiz", BILLING)  # act stays "team"
        assert not reads(policy, "Alex Kim", FRONTLINE)
        assert reads(policy, "Alex Kim", TicketPlace("tier1", "frontline", assignee="Alex Kim"))
        assert policy.permissions.scope("manager", "read") == "all"  # left out: default

    def test_a_decider_is_held_to_their_act_scope(self) -> None:
        """Riley Chen decides tier2/technical's requests, unless the policy narrows
        supervisors to their own tickets; the refusal of a non-decider stays the decider one."""
        technical = TicketPlace("tier2", "technical", followers=("Robin Ortiz",))
        args = ("tier2", "technical", "Robin Ortiz", technical)
        riley = authorize(POLICY, "approve", "Riley Chen", None, ticket=technical)
        authorize_decision(POLICY, "approve", riley, *args)
        narrowed = with_permissions(scopes={"supervisor": {"act": "own"}})
        riley = authorize(narrowed, "approve", "Riley Chen", None, ticket=technical)
        with pytest.raises(Forbidden, match="'Riley Chen' \\(supervisor\\) acts on only tickets"):
            authorize_decision(narrowed, "approve", riley, *args)
        casey = authorize(POLICY, "approve", "Casey Brown", None, ticket=technical)
        with pytest.raises(Forbidden, match="'Casey Brown' is not a supervisor or above of"):
            authorize_decision(POLICY, "approve", casey, *args)

    def test_acting_wider_than_reading_is_refused_with_its_key_path(self) -> None:
        """Every action answers the ticket, so act may not reach beyond read."""
        with pytest.raises(PolicyError) as refused:
            with_permissions(scopes={"agent": {"read": "own", "act": "team"}})
        assert "permissions.scopes.agent" in str(refused.value)
        assert "wider than read" in str(refused.value)

    def test_unknown_scopes_and_keys_are_refused(self) -> None:
        """A typo is a problem at its key path, never a silent default."""
        for scopes, where in (
            ({"agent": {"read": "everything"}}, "permissions.scopes.agent.read"),
            ({"agent": {"write": "all"}}, "permissions.scopes.agent.write"),
            ({"intern": {"read": "all"}}, "permissions.scopes.intern"),
        ):
            with pytest.raises(PolicyError) as refused:
                with_permissions(scopes=scopes)
            assert where in str(refused.value), scopes

    def test_scopes_nest(self) -> None:
        """Each scope covers what the narrower ones do, for everyone the policy names."""
        tickets = [
            TicketPlace(tier.name, team)
            for tier in POLICY.tiers
            for team in [None, *POLICY.teams_in(tier.name)]
        ]
        people = {p.name for p in POLICY.all_recipients()}
        for narrow, wide in itertools.pairwise(SCOPES):
            a = with_permissions(
                scopes={
                    r: {"read": narrow, "act": "own"} for r in ("agent", "supervisor", "manager")
                }
            )
            b = with_permissions(
                scopes={r: {"read": wide, "act": "own"} for r in ("agent", "supervisor", "manager")}
            )
            for name in people:
                for t in tickets:
                    if reaches(a, name, "read", t):
                        assert reaches(b, name, "read", t), (narrow, wide, name, t)

    def test_the_listing_area_matches_reading_by_place(self) -> None:
        """What a listing asks the visibility store for is what reading allows by place."""
        tickets = [
            TicketPlace(tier.name, team)
            for tier in POLICY.tiers
            for team in [None, *POLICY.teams_in(tier.name)]
        ]
        for person in POLICY.all_recipients():
            area = area_of(POLICY, person.name, "read")
            for t in tickets:
                assert area.covers(t.tier, t.team) == reads(POLICY, person.name, t)
