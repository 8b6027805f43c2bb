"""Who is told what: the people to alert for each ticket event, decided from the policy.

Pure decisions; the workflow turns them into notifications and the activities deliver them.
The agents who escalated a ticket stay on every list until the end (the ownership rule: the
agent who escalated remains responsible for following the ticket through).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tierflow.statemachine.errors import UnknownTarget
from tierflow.statemachine.permissions import Role, deciders
from tierflow.statemachine.policy import (
    EscalationActionKind,
    EscalationLevel,
    Policy,
    Recipient,
)

_ROLE_OF_ACTION: dict[EscalationActionKind, Role] = {
    EscalationActionKind.NOTIFY_SUPERVISOR: "supervisor",
    EscalationActionKind.NOTIFY_MANAGER: "manager",
    EscalationActionKind.NOTIFY_DIRECTOR: "director",
}


def unique(people: Iterable[Recipient]) -> list[Recipient]:
    """People in first-seen order, each once (by name)."""
    seen: dict[str, Recipient] = {}
    for person in people:
        seen.setdefault(person.name, person)
    return list(seen.values())


def named(policy: Policy, names: Iterable[str]) -> list[Recipient]:
    """The policy's people among ``names``; names the policy does not know are left out
    (an agent known only to the host system has no address we could use)."""
    found: list[Recipient] = []
    for name in names:
        try:
            found.append(policy.recipient(name))
        except UnknownTarget:
            continue
    return found


def team_queue(policy: Policy, tier: str, team: str | None) -> list[Recipient]:
    """Who hears that a ticket landed in a tier or team: its agents who can be alerted (agents
    without channels of their own read their team's queue)."""
    return [p for p in policy.recipients_for(tier, team, "agent") if p.channels]


def owner(policy: Policy, tier: str, team: str | None, assignee: str | None) -> list[Recipient]:
    """The ticket's owner: the assignee, or the team's agents while nobody is assigned."""
    person = named(policy, [assignee]) if assignee else []
    return person or team_queue(policy, tier, team)


def owner_and_followers(
    policy: Policy, tier: str, team: str | None, assignee: str | None, followers: Sequence[str]
) -> list[Recipient]:
    """The ticket's owner and everyone following it."""
    return unique([*owner(policy, tier, team, assignee), *named(policy, followers)])


def breach_warning(
    policy: Policy, tier: str, team: str | None, assignee: str | None, followers: Sequence[str]
) -> list[Recipient]:
    """A target is about to be breached: the roles ``notify.warning_roles`` names (``agent``
    meaning the ticket's owner), and everyone following the ticket."""
    people: list[Recipient] = []
    for role in policy.notify.warning_roles:
        if role == "agent":
            people += owner(policy, tier, team, assignee)
        else:
            people += policy.recipients_for(tier, team, role)
    return unique([*people, *named(policy, followers)])


def escalation_level(
    policy: Policy,
    level: EscalationLevel,
    tier: str,
    team: str | None,
    assignee: str | None,
    followers: Sequence[str],
) -> list[Recipient]:
    """A level of the escalation ladder was reached: whom its notify actions name, plus the
    agents following the ticket."""
    people: list[Recipient] = []
    for action in level.actions:
        if action == EscalationActionKind.NOTIFY_OWNER:
            people += owner(policy, tier, team, assignee)
        elif action in _ROLE_OF_ACTION:
            people += policy.recipients_for(tier, team, _ROLE_OF_ACTION[action])
    return unique([*people, *named(policy, followers)])


def approvers(
    policy: Policy, tier: str, team: str | None, requester: str | None = None
) -> list[Recipient]:
    """Who hears of an escalation request from this tier: its supervisors (else managers),
    except the requester, who may not decide it; else anyone else who may decide it."""
    people = policy.recipients_for(tier, team, "supervisor") or policy.recipients_for(
        tier, team, "manager"
    )
    others = [p for p in people if p.name != requester]
    if others:
        return others
    return named(policy, deciders(policy, "approve", tier, team, excluding=requester))


def rule_mentions(policy: Policy, tier: str, team: str | None, names: Iterable[str]) -> list[str]:
    """Routing rules' ``notify`` entries are roles or people; resolve them to people's names."""
    resolved: list[Recipient] = []
    roles: dict[str, Role] = {
        "agent": "agent",
        "supervisor": "supervisor",
        "manager": "manager",
        "director": "director",
    }
    for name in names:
        if name in roles:
            resolved += policy.recipients_for(tier, team, roles[name])
        else:
            resolved += named(policy, [name])
    return [p.name for p in unique(resolved)]
