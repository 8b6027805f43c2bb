"""Who may do what on a ticket: the policy's roles and their permissions, its people and the
services that act for them, and the four-eyes rule on escalation decisions.

Pure decisions, taken against the ticket's own policy snapshot. The workflow's update validators
ask them before anything reaches the ticket's history, so the rules hold for every caller: the
HTTP API, the command line, the Python client and anyone holding a raw Temporal client.

- **People.** The policy's recipients (name and role, attached to a tier, a team or the whole
  policy) are the only known actors. Someone the policy does not name may do nothing, except
  the actions its ``permissions.anyone`` lists (none by default).
- **Roles.** ``permissions.roles`` maps a role to its actions (``"*"``: all of them). A role the
  table leaves out keeps its default: agents everything but approve and reject; supervisors,
  managers and directors everything.
- **Decisions.** Approving or rejecting an escalation request takes a supervisor or above *of
  the ticket's tier and team* — the tier the request escalates out of, whose approval
  ``requires_approval`` asks for, and whose supervisors are told of the request — and never
  the person who asked (four eyes).
- **Scopes.** ``permissions.scopes`` says where each role reads and acts: ``own`` (tickets
  assigned to the person or that they follow, having escalated them), ``team`` (also the
  tickets of the teams the policy places them in; a person placed under a tier belongs to all
  its teams, a policy-wide person to all of them), ``tier`` (also every ticket of those
  tiers) or ``all``. Defaults: agents read and act in their teams; supervisors and managers
  read everything and act in their teams; directors read and act everywhere.
- **Services.** A host system (a CRM, a chat bot) acting for its agents is listed in
  ``permissions.services`` with the roles it may act for; it names the person in
  ``on_behalf_of``, whose permissions (and scope) then apply, and both names are recorded.
  A listed service may open tickets and read every ticket.
- **The system actor.** ``tierflow`` is the workflow itself (timers, routing rules); no caller
  may act as it, or as ``customer`` (customer events arrive as signals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tierflow.statemachine.errors import Forbidden
from tierflow.statemachine.scopes import (
    SCOPES,
    Area,
    Place,
    Reach,
    Scope,
    TicketPlace,
    area_of,
    names_in_words,
    places,
    reaches,
    roles_of,
)
from tierflow.statemachine.text import ACTOR_MAX, PersonName, excerpt

if TYPE_CHECKING:
    from tierflow.statemachine.policy import Policy, Recipients

Role = Literal["agent", "supervisor", "manager", "director"]
ROLES: Final[tuple[str, ...]] = get_args(Role)
# Seniority: a role's rank; "supervisor or above" is a rank of at least 1.
RANK: Final[dict[str, int]] = {role: rank for rank, role in enumerate(ROLES)}
DECIDER_RANK: Final = RANK["supervisor"]

Action = Literal[
    "assign",
    "respond",
    "escalate",
    "request_escalation",
    "approve",
    "reject",
    "set_priority",
    "note",
    "wait_customer",
    "resolve",
    "reopen",
    "close",
    "retry_deliveries",
    "drop_delivery",
]
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)
# Not an agent's by default (a policy may grant them): giving up a message owed to someone.
_SENIOR_BY_DEFAULT: Final = frozenset({"drop_delivery"})
DECISIONS: Final[frozenset[str]] = frozenset({"approve", "reject"})
ALL: Final = "*"
Grant = Action | Literal["*"]

SYSTEM_ACTOR: Final = "tierflow"  # the workflow itself: timers, routing rules, follow-up
CUSTOMER_ACTOR: Final = "customer"  # customer events (signals)
RESERVED_NAMES: Final = (SYSTEM_ACTOR, CUSTOMER_ACTOR)
_ECHO: Final = 60


# Each scope covers every ticket the narrower ones do.
_WIDTH: Final[dict[str, int]] = {scope: width for width, scope in enumerate(SCOPES)}


def _default_roles() -> dict[Role, list[Grant]]:
    agent: list[Grant] = [a for a in ACTIONS if a not in DECISIONS | _SENIOR_BY_DEFAULT]
    return {"agent": agent, "supervisor": [ALL], "manager": [ALL], "director": [ALL]}


class RoleScope(BaseModel):
    """Where a role reads tickets and where it acts on them (see the module's docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    read: Scope
    act: Scope

    @model_validator(mode="after")
    def _acting_shows_the_ticket(self) -> RoleScope:
        if _WIDTH[self.act] > _WIDTH[self.read]:
            raise ValueError(
                f"act {self.act!r} is wider than read {self.read!r}: whoever acts on a ticket "
                "sees it (every action answers the ticket)"
            )
        return self


def _default_scopes() -> dict[Role, RoleScope]:
    return {
        "agent": RoleScope(read="team", act="team"),
        "supervisor": RoleScope(read="all", act="team"),
        "manager": RoleScope(read="all", act="team"),
        "director": RoleScope(read="all", act="all"),
    }


class Service(BaseModel):
    """A host system that acts on behalf of the policy's people with the roles listed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[PersonName, Field(max_length=ACTOR_MAX)]
    may_act_for: Annotated[list[Role], Field(min_length=1)]


class Permissions(BaseModel):
    """The permission table: what each role may do, what anyone may do, and the services."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    roles: dict[Role, list[Grant]] = Field(default_factory=_default_roles)
    anyone: list[Action] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    # Where each role reads and acts; a role left out (or a key of it) keeps its default, so
    # policies written before scopes existed load with the defaults.
    scopes: dict[Role, RoleScope] = Field(default_factory=_default_scopes)

    @field_validator("scopes", mode="before")
    @classmethod
    def _defaults_for_scopes_left_out(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value  # pydantic says what is wrong
        merged: dict[object, object] = {r: s.model_dump() for r, s in _default_scopes().items()}
        for role, given in value.items():
            default = merged.get(role)
            if isinstance(given, dict) and isinstance(default, dict):
                merged[role] = {**default, **given}
            else:
                merged[role] = given
        return merged

    @field_validator("roles")
    @classmethod
    def _defaults_for_roles_left_out(
        cls, value: dict[Role, list[Grant]]
    ) -> dict[Role, list[Grant]]:
        return {**_default_roles(), **value}

    @model_validator(mode="after")
    def _sound(self) -> Permissions:
        """Decisions stay with supervisors and above; services are named once."""
        for role, grants in self.roles.items():
            decisions = sorted(DECISIONS & set(grants))
            if RANK[role] < DECIDER_RANK and decisions:
                raise ValueError(
                    f"roles.{role}: {' and '.join(decisions)} need a supervisor or above"
                )
        if DECISIONS & set(self.anyone):
            raise ValueError("anyone: approve and reject need a supervisor or above")
        names = [s.name for s in self.services]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"services: duplicate service {name!r}")
        return self

    def allows(self, role: Role, action: str) -> bool:
        """Whether ``role`` holds the permission for ``action``."""
        grants = self.roles.get(role, [])
        return ALL in grants or action in grants

    def service(self, name: str) -> Service | None:
        """The service called ``name``, if the policy lists one."""
        return next((s for s in self.services if s.name == name), None)

    def scope(self, role: Role, reach: Reach) -> Scope:
        """Where ``role`` reads (``reach="read"``) or acts (``"act"``)."""
        found = self.scopes.get(role) or _default_scopes()[role]
        scope: Scope = found.read if reach == "read" else found.act
        return scope


@dataclass(frozen=True)
class Acting:
    """Who acts, once the caller is known: the person (recorded as the actor) and the
    service that acted for them, if any."""

    name: str
    roles: tuple[Role, ...]
    via: str | None = None


def _scope_refusal(policy: Policy, name: str, reach: Reach, what: str) -> Forbidden:
    area = area_of(policy, name, reach)
    roles = _either(roles_of(policy, name))
    verb = "reads" if reach == "read" else "acts on"
    where = "only" if area.empty else f"{area.words()} and"
    return Forbidden(
        f"only people whose scope covers this ticket may {what} it; {_quoted(name)} "
        f"({roles}) {verb} {where} tickets assigned to them or that they follow"
    )


def _unnamed(policy: Policy, name: str, service: bool, what: str) -> Forbidden:
    kind = "a service the policy lists" if service else "one of the policy's people"
    return Forbidden(
        f"only the policy's people and the services it lists may {what}; "
        f"{_quoted(name)} is not {kind}"
    )


def _listed_service(policy: Policy, name: str, service: bool) -> bool:
    return service and policy.permissions.service(name) is not None


def may_open(policy: Policy, name: str, *, service: bool = False) -> None:
    """Whether ``name`` may open a ticket under ``policy``: any of its people, any service it
    lists; Forbidden otherwise."""
    if not (_listed_service(policy, name, service) or (not service and roles_of(policy, name))):
        raise _unnamed(policy, name, service, "open tickets")


def may_read(policy: Policy, name: str, ticket: TicketPlace, *, service: bool = False) -> None:
    """Whether ``name`` may read the ticket (status, timeline, deliveries): a service the
    policy lists reads every ticket; a person reads within their role's read scope (and
    their own tickets); Forbidden, without saying where the ticket is, otherwise."""
    if _listed_service(policy, name, service):
        return
    if service or not roles_of(policy, name):
        raise _unnamed(policy, name, service, "read tickets")
    if not reaches(policy, name, "read", ticket):
        raise _scope_refusal(policy, name, "read", "read")


def readable_area(policy: Policy, name: str, *, service: bool = False) -> Area:
    """Where ``name`` reads, for a listing (their own tickets elsewhere are not listed);
    Forbidden for someone the policy does not name."""
    if _listed_service(policy, name, service):
        return Area(everything=True)
    if service or not roles_of(policy, name):
        raise _unnamed(policy, name, service, "list tickets")
    return area_of(policy, name, "read")


def deciders(
    policy: Policy, action: str, tier: str, team: str | None, *, excluding: str | None = None
) -> list[str]:
    """Who may approve or reject a request on a ticket in ``tier``/``team``: the supervisors and
    above of the team (of every team of the tier when the ticket has none), of the tier and of
    the whole policy, whose role holds the permission; never ``excluding`` (the requester)."""
    found: list[str] = []
    ranked = sorted(
        places(policy),
        key=lambda p: 0 if p.team is not None else 1 if p.tier is not None else 2,
    )
    for place in ranked:
        if place.tier not in (None, tier) or (team is not None and place.team not in (None, team)):
            continue
        person = place.person
        if (
            RANK[person.role] >= DECIDER_RANK
            and policy.permissions.allows(person.role, action)
            and person.name != excluding
            and person.name not in found
        ):
            found.append(person.name)
    return found


def _a(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


def _either(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


def _quoted(name: str) -> str:
    return repr(excerpt(name, _ECHO))


def who_may(
    policy: Policy, action: str, tier: str | None, team: str | None, requester: str | None
) -> str:
    """The refusal's subject: who may take ``action`` on this ticket, in a few words."""
    if action in DECISIONS and tier is not None:
        where = f"{tier}/{team}" if team else tier
        people = deciders(policy, action, tier, team, excluding=requester)
        other = " other than the requester" if requester else ""
        named = f" — {names_in_words(people)} —" if people else " (the policy names none)"
        return f"a supervisor or above of {where}{other}{named}"
    roles = [r for r in ROLES if policy.permissions.allows(r, action)]  # type: ignore[arg-type]
    if not roles:
        return "no one the policy names"
    return f"{_a(_either(roles))} the policy names"


def authorize(
    policy: Policy,
    action: str,
    actor: str,
    on_behalf_of: str | None,
    *,
    tier: str | None = None,
    team: str | None = None,
    requester: str | None = None,
    ticket: TicketPlace | None = None,
) -> Acting:
    """Who acts, if they may take ``action`` at all; Forbidden (naming who may) otherwise.

    This checks identity and role, and, given the ``ticket``, that the person acting (the
    one a service acts for) reaches it with their act scope; ``tier``, ``team`` and
    ``requester`` only word the refusal. What ``anyone`` may do is not scoped. Decisions
    (approve, reject) also need :func:`authorize_decision`.
    """
    perms = policy.permissions

    def refuse(why: str) -> Forbidden:
        who = who_may(policy, action, tier, team, requester)
        return Forbidden(f"only {who} may {action}; {why}")

    for name in (actor, on_behalf_of):
        if name is not None and name.casefold() in RESERVED_NAMES:
            raise refuse(f"{name!r} is reserved for Tierflow itself and no caller may act as it")
    service = perms.service(actor)
    if on_behalf_of is not None:
        if service is None:
            raise refuse(
                f"{_quoted(actor)} is not a service the policy lets act on behalf of others"
            )
        roles = roles_of(policy, on_behalf_of)
        if not roles:
            raise refuse(f"{_quoted(on_behalf_of)} is not one of the policy's people")
        mine = tuple(r for r in roles if r in service.may_act_for)
        if not mine:
            raise refuse(
                f"service {actor!r} may act for {_either(service.may_act_for)} only, "
                f"and {_quoted(on_behalf_of)} is {_a(_either(roles))}"
            )
        acting = Acting(on_behalf_of, mine, via=actor)
    elif service is not None:
        raise refuse(f"service {actor!r} acts only on behalf of a person (set on_behalf_of)")
    else:
        acting = Acting(actor, roles_of(policy, actor))
    if not acting.roles:
        if action in perms.anyone:
            return acting
        raise refuse(f"{_quoted(acting.name)} is not one of the policy's people")
    if not any(perms.allows(r, action) for r in acting.roles):
        raise refuse(f"{_quoted(acting.name)} is {_a(_either(acting.roles))}")
    # Decisions are scoped by authorize_decision (deciders of the ticket's tier and team).
    if (
        ticket is not None
        and action not in DECISIONS
        and not reaches(policy, acting.name, "act", ticket)
    ):
        raise _scope_refusal(policy, acting.name, "act", action)
    return acting


def authorize_decision(
    policy: Policy,
    action: str,
    acting: Acting,
    tier: str,
    team: str | None,
    requester: str,
    ticket: TicketPlace | None = None,
) -> None:
    """A decision on an escalation request: by a supervisor or above of the ticket's tier and
    team, never by the requester (four eyes), and (given the ``ticket``) within the decider's
    act scope; Forbidden (naming who may) otherwise."""

    def refuse(why: str) -> Forbidden:
        who = who_may(policy, action, tier, team, requester)
        return Forbidden(f"only {who} may {action}; {why}")

    if acting.name == requester:
        raise refuse(f"{_quoted(acting.name)} asked for this escalation (four eyes)")
    if acting.name not in deciders(policy, action, tier, team):
        where = f"{tier}/{team}" if team else tier
        raise refuse(f"{_quoted(acting.name)} is not a supervisor or above of {where}")
    if ticket is not None and not reaches(policy, acting.name, "act", ticket):
        raise _scope_refusal(policy, acting.name, "act", action)


def permission_problems(policy: Policy) -> list[tuple[str, str]]:
    """Names that clash, by key path: people or services with a reserved name, and services
    named like people."""
    problems: list[tuple[str, str]] = []
    paths: list[tuple[str, Recipients]] = [("recipients", policy.recipients)]
    paths += [(f"tiers.{i}.recipients", t.recipients) for i, t in enumerate(policy.tiers)]
    paths += [(f"teams.{i}.recipients", t.recipients) for i, t in enumerate(policy.teams)]
    for path, pool in paths:
        for j, person in enumerate(pool):
            if person.name.casefold() in RESERVED_NAMES:
                problems.append((f"{path}.{j}.name", f"{person.name!r} is reserved for Tierflow"))
    people = {p.person.name for p in places(policy)}
    for i, service in enumerate(policy.permissions.services):
        path = f"permissions.services.{i}.name"
        if service.name.casefold() in RESERVED_NAMES:
            problems.append((path, f"{service.name!r} is reserved for Tierflow"))
        if service.name in people:
            problems.append((path, f"{service.name!r} is also the name of one of its people"))
    return problems


__all__ = [
    "ACTIONS",
    "ALL",
    "CUSTOMER_ACTOR",
    "DECISIONS",
    "RANK",
    "RESERVED_NAMES",
    "ROLES",
    "SCOPES",
    "SYSTEM_ACTOR",
    "Acting",
    "Action",
    "Area",
    "Grant",
    "Permissions",
    "Place",
    "Role",
    "RoleScope",
    "Scope",
    "Service",
    "TicketPlace",
    "area_of",
    "authorize",
    "authorize_decision",
    "deciders",
    "may_open",
    "may_read",
    "permission_problems",
    "places",
    "reaches",
    "readable_area",
    "roles_of",
    "who_may",
]
