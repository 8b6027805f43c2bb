"""Where people and tickets are, and the part of a policy's tickets a scope covers.

A person belongs where the policy places them (the whole policy, a tier, a team); a ticket is
where it was routed (its tier and team) and whose it is (assignee, followers). A role's scope
for reading or acting (``own``, ``team``, ``tier``, ``all``; ``permissions.scopes``) turns a
person's places into an :class:`Area`. The refusals built on these are
:mod:`tierflow.statemachine.permissions`'.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, get_args

if TYPE_CHECKING:
    from tierflow.statemachine.permissions import Role
    from tierflow.statemachine.policy import Policy, Recipient

Scope = Literal["own", "team", "tier", "all"]
SCOPES: Final[tuple[str, ...]] = get_args(Scope)
Reach = Literal["read", "act"]
# Names in a refusal or an area's words: enough to act on, and the line stays short.
NAMES_SHOWN: Final = 4


def names_in_words(names: Sequence[str]) -> str:
    """``a, b, c, d and 2 more``."""
    shown = ", ".join(names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


@dataclass(frozen=True)
class Place:
    """Where a person belongs: a team, a tier, or (both None) the whole policy."""

    person: Recipient
    tier: str | None
    team: str | None


def places(policy: Policy) -> Iterator[Place]:
    """Every entry of every person: policy-wide, per tier and per team."""
    for person in policy.recipients:
        yield Place(person, None, None)
    for tier in policy.tiers:
        for person in tier.recipients:
            yield Place(person, tier.name, None)
    for team in policy.teams:
        for person in team.recipients:
            yield Place(person, team.tier, team.name)


@dataclass(frozen=True)
class TicketPlace:
    """Where a ticket is, and whose it is: its tier and team, its assignee and its followers
    (who escalated it or asked to, and stay responsible for it)."""

    tier: str | None
    team: str | None
    assignee: str | None = None
    followers: tuple[str, ...] = ()

    def owned_by(self, name: str) -> bool:
        """Assigned to ``name``, or followed by them."""
        return name == self.assignee or name in self.followers


@dataclass(frozen=True)
class Area:
    """The tickets a scope covers by where they are: every ticket, or those of some tiers (any
    team), of some teams, and of some tiers while they have no team."""

    everything: bool = False
    tiers: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    teamless: frozenset[str] = frozenset()

    def __or__(self, other: Area) -> Area:
        return Area(
            self.everything or other.everything,
            self.tiers | other.tiers,
            self.teams | other.teams,
            self.teamless | other.teamless,
        )

    @property
    def empty(self) -> bool:
        """Covers no ticket by its place (its own tickets still count)."""
        return not (self.everything or self.tiers or self.teams or self.teamless)

    def covers(self, tier: str | None, team: str | None) -> bool:
        """Whether a ticket in ``tier``/``team`` is in the area."""
        if self.everything:
            return True
        if tier is None:  # not routed yet
            return False
        if team is None:
            return tier in self.tiers or tier in self.teamless
        return tier in self.tiers or team in self.teams

    def words(self) -> str:
        """The area in a few words, e.g. ``tickets of frontline``."""
        if self.everything:
            return "every ticket"
        names = sorted(self.tiers) + sorted(self.teams)
        return f"tickets of {names_in_words(names)}" if names else "no tickets by their place"


def area_for(place: Place, scope: Scope) -> Area:
    """What ``scope`` covers for a person at ``place``."""
    if scope == "own":
        return Area()
    if scope == "all" or place.tier is None:  # policy-wide people belong everywhere
        return Area(everything=True)
    if scope == "tier" or place.team is None:
        return Area(tiers=frozenset({place.tier}))
    return Area(teams=frozenset({place.team}), teamless=frozenset({place.tier}))


def area_of(policy: Policy, name: str, reach: Reach) -> Area:
    """Where ``name`` reads or acts, over every place the policy gives them (their own
    tickets aside); empty for someone the policy does not name."""
    area = Area()
    for place in places(policy):
        if place.person.name == name:
            area |= area_for(place, policy.permissions.scope(place.person.role, reach))
    return area


def reaches(policy: Policy, name: str, reach: Reach, ticket: TicketPlace) -> bool:
    """Whether the person ``name`` may read (or act on) the ticket: their own, or in their
    area."""
    return ticket.owned_by(name) or area_of(policy, name, reach).covers(ticket.tier, ticket.team)


def roles_of(policy: Policy, name: str) -> tuple[Role, ...]:
    """The roles ``name`` holds anywhere in the policy (none: not one of its people)."""
    found: list[Role] = []
    for place in places(policy):
        if place.person.name == name and place.person.role not in found:
            found.append(place.person.role)
    return tuple(found)
