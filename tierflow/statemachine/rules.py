"""Triage and routing rules: ordered if/then rules that categorise, prioritise and route.

Each rule that fires says why in plain words ("keyword 'billing' in subject"), so agents and
operators can see exactly how a ticket ended up where it is.

Rules are evaluated in order against the ticket *as changed by the rules before*, so a rule may
set a category and a later rule may route on it. How the results combine:

- category, priority (``set_priority``) and team: the last rule that sets them wins;
- ``raise_priority_to`` only ever raises;
- tier: the highest tier asked for by any rule (``set_tier``, or the tier of a ``set_team``)
  wins, because automatic routing should never send a ticket lower than one rule asked for;
- the team is the last one set that belongs to the final tier, else the tier's first team;
- notify lists are merged; ``stop`` ends evaluation after the rule.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from tierflow.statemachine.ticket import Channel, CustomerStatus, Priority, Ticket

if TYPE_CHECKING:
    from tierflow.statemachine.policy import Policy


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """A case-insensitive whole-word pattern; the words of a phrase may be spaced freely."""
    words = keyword.split()
    return re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)", re.IGNORECASE)


class Condition(BaseModel):
    """When a rule applies. Every given field must hold (AND); each list is an OR inside.

    An empty condition always holds, which makes a catch-all rule.
    """

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    keywords: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    customer_statuses: list[CustomerStatus] = Field(default_factory=list)
    priorities: list[Priority] = Field(default_factory=list)
    min_priority: Priority | None = None
    min_impacted: int | None = Field(default=None, ge=1)

    def explain(self, ticket: Ticket, category: str | None, priority: Priority) -> str | None:
        """Why the condition holds (e.g. ``"keyword 'billing' in subject"``), or None."""
        reasons: list[str] = []
        if self.keywords:
            found = _find_keyword(self.keywords, ticket)
            if found is None:
                return None
            reasons.append(found)
        if self.categories:
            if category not in self.categories:
                return None
            reasons.append(f"category {category!r}")
        if self.channels:
            if ticket.channel not in self.channels:
                return None
            reasons.append(f"channel {ticket.channel.value!r}")
        if self.customer_statuses:
            if ticket.customer.status not in self.customer_statuses:
                return None
            reasons.append(f"customer status {ticket.customer.status.value!r}")
        if self.priorities:
            if priority not in self.priorities:
                return None
            reasons.append(f"priority {priority.value!r}")
        if self.min_priority is not None:
            if priority < self.min_priority:
                return None
            reasons.append(f"priority {priority.value!r} >= {self.min_priority.value!r}")
        if self.min_impacted is not None:
            if ticket.impacted_customers < self.min_impacted:
                return None
            reasons.append(f"impacted customers {ticket.impacted_customers} >= {self.min_impacted}")
        return " and ".join(reasons) if reasons else "always"


def _find_keyword(keywords: list[str], ticket: Ticket) -> str | None:
    for keyword in keywords:
        pattern = keyword_pattern(keyword)
        for field, text in (("subject", ticket.subject), ("description", ticket.description)):
            if pattern.search(text):
                return f"keyword {keyword!r} in {field}"
    return None


class Action(BaseModel):
    """What a rule does when it fires."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    set_category: str | None = None
    set_priority: Priority | None = None
    raise_priority_to: Priority | None = None
    set_team: str | None = None
    set_tier: str | None = None
    notify: list[str] = Field(default_factory=list)
    stop: bool = False


class RoutingRule(BaseModel):
    """A named if/then rule."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    when: Condition = Field(default_factory=Condition)
    then: Action


class FiredRule(BaseModel):
    """A rule that fired, and why."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True)

    name: str
    reason: str


class TriageResult(BaseModel):
    """Where triage puts a ticket, with the rules that put it there."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True)

    category: str | None
    priority: Priority
    tier: str
    team: str | None
    notify: list[str] = Field(default_factory=list)
    fired: list[FiredRule] = Field(default_factory=list)


def triage(ticket: Ticket, policy: Policy) -> TriageResult:
    """Run the policy's rules over a ticket, in order. Pure: the ticket is not changed."""
    category = ticket.category
    priority = ticket.priority
    teams: list[str] = []
    asked_tiers: list[str] = []
    notify: list[str] = []
    fired: list[FiredRule] = []
    for rule in policy.rules:
        reason = rule.when.explain(ticket, category, priority)
        if reason is None:
            continue
        fired.append(FiredRule(name=rule.name, reason=reason))
        then = rule.then
        if then.set_category is not None:
            category = then.set_category
        if then.set_priority is not None:
            priority = then.set_priority
        if then.raise_priority_to is not None:
            priority = Priority.max(priority, then.raise_priority_to)
        if then.set_team is not None:
            teams.append(then.set_team)
            asked_tiers.append(policy.team(then.set_team).tier)
        if then.set_tier is not None:
            asked_tiers.append(then.set_tier)
        notify.extend(n for n in then.notify if n not in notify)
        if then.stop:
            break
    tier = (
        max(asked_tiers, key=lambda name: policy.tier(name).level)
        if asked_tiers
        else policy.default_tier
    )
    in_tier = [name for name in teams if policy.team(name).tier == tier]
    if in_tier:
        team: str | None = in_tier[-1]
    else:
        defaults = policy.teams_in(tier)
        team = defaults[0] if defaults else None
    return TriageResult(
        category=category, priority=priority, tier=tier, team=team, notify=notify, fired=fired
    )
