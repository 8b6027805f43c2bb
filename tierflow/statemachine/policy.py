"""The escalation policy: tiers, teams, people, SLA targets, escalation levels, business hours,
follow-up and routing rules, as validated pydantic models loaded from YAML.

A policy is validated completely before anything uses it, and every problem is reported with
the key path where it sits in the file, because the people editing these files are support
managers, not the engineers who wrote the loader. The workflow only ever receives an already
parsed :class:`Policy`; reading files happens in :func:`load_policy` and :func:`default_policy`.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tierflow.statemachine.calendar import BusinessCalendar
from tierflow.statemachine.durations import Duration
from tierflow.statemachine.errors import PolicyError, UnknownTarget
from tierflow.statemachine.inputs import MAX_FILE_BYTES, InputError, load_yaml
from tierflow.statemachine.machine import FIXED_STATES
from tierflow.statemachine.permissions import ROLES, Permissions, Role, permission_problems
from tierflow.statemachine.rules import RoutingRule
from tierflow.statemachine.text import PersonName
from tierflow.statemachine.ticket import Priority

_TIER_NAME = r"^[a-z][a-z0-9-]*$"  # no '_': it separates nested states in transitions


class _Strict(BaseModel):
    """Policy models are immutable and refuse unknown keys (typos must not pass silently)."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")


class NotifyChannel(StrEnum):
    """How a person can be alerted."""

    EMAIL = "email"
    SMS = "sms"
    CHAT = "chat"
    WEBHOOK = "webhook"


_ADDRESS_FIELD: Final = {
    NotifyChannel.EMAIL: "email",
    NotifyChannel.SMS: "phone",
    NotifyChannel.CHAT: "chat",
    NotifyChannel.WEBHOOK: "webhook",
}


# Tier and team names become search-attribute values (Temporal allows 2 KB per keyword) and
# appear in every notification: short identifiers. People's names and labels are text.
KEY_MAX = 64
NAME_MAX = 200


class Recipient(_Strict):
    """A person (or a shared inbox) who is alerted, on the channels listed."""

    # Kept canonical (NFKC, single spaces, no invisible characters): credentials must name a
    # person in exactly this form (see statemachine/text.py, canonical_name).
    name: Annotated[PersonName, Field(max_length=NAME_MAX)]
    role: Role
    email: str | None = None
    phone: str | None = None
    chat: str | None = None
    webhook: str | None = None
    channels: list[NotifyChannel] = Field(default_factory=lambda: [NotifyChannel.EMAIL])

    @model_validator(mode="after")
    def _addresses_for_channels(self) -> Recipient:
        for channel in self.channels:
            field = _ADDRESS_FIELD[channel]
            if getattr(self, field) is None:
                raise ValueError(f"channel {channel.value!r} needs the {field!r} address")
        return self

    def address(self, channel: NotifyChannel) -> str | None:
        """This person's address on a channel, if they have one."""
        value: str | None = getattr(self, _ADDRESS_FIELD[channel])
        return value


Recipients = list[Recipient]


class Tier(_Strict):
    """A support level. ``requires_approval``: escalating OUT of this tier by hand needs a
    supervisor's approval (automatic escalations by the policy do not)."""

    name: str = Field(pattern=_TIER_NAME, max_length=KEY_MAX)
    label: str = Field(max_length=NAME_MAX)
    level: int = Field(ge=0)
    teams: list[str] = Field(default_factory=list)
    requires_approval: bool = False
    recipients: Recipients = Field(default_factory=list)


class Team(_Strict):
    """A team within a tier (billing, technical ...) and its people."""

    name: str = Field(min_length=1, max_length=KEY_MAX)
    tier: str = Field(max_length=KEY_MAX)
    label: str = Field(max_length=NAME_MAX)
    recipients: Recipients = Field(default_factory=list)


class SlaTargets(_Strict):
    """Time budgets (business time). ``None`` means no target — or, in a per-tier override,
    "use the priority's default"."""

    first_response: Duration | None = None
    next_response: Duration | None = None
    resolution: Duration | None = None


class SlaPolicy(_Strict):
    """SLA targets per priority, optionally overridden per tier, field by field."""

    targets: dict[Priority, SlaTargets]
    per_tier: dict[str, dict[Priority, SlaTargets]] = Field(default_factory=dict)
    warning_fraction: float = Field(default=0.75, gt=0, lt=1)

    @field_validator("targets")
    @classmethod
    def _every_priority_has_targets(
        cls, value: dict[Priority, SlaTargets]
    ) -> dict[Priority, SlaTargets]:
        missing = [p.value for p in Priority if p not in value]
        if missing:
            raise ValueError(f"targets missing for priorities: {', '.join(missing)}")
        return value

    def targets_for(self, priority: Priority, tier: str | None = None) -> SlaTargets:
        """The targets for a priority in a tier: the tier's overrides, else the defaults."""
        default = self.targets[priority]
        override = self.per_tier.get(tier, {}).get(priority) if tier is not None else None
        if override is None:
            return default
        return SlaTargets(
            first_response=override.first_response or default.first_response,
            next_response=override.next_response or default.next_response,
            resolution=override.resolution or default.resolution,
        )


class EscalationActionKind(StrEnum):
    """What an escalation level does when it is reached."""

    NOTIFY_OWNER = "notify_owner"
    NOTIFY_SUPERVISOR = "notify_supervisor"
    NOTIFY_MANAGER = "notify_manager"
    NOTIFY_DIRECTOR = "notify_director"
    REASSIGN_NEXT_TIER = "reassign_next_tier"
    RAISE_PRIORITY = "raise_priority"


class EscalationLevel(_Strict):
    """A step of the escalation ladder, reached ``after`` (business time) the SLA breach."""

    name: str = Field(min_length=1)
    after: Duration = timedelta(0)
    actions: list[EscalationActionKind] = Field(min_length=1)


class EscalationPolicy(_Strict):
    """The ladder walked after a breach; with ``repeat_last`` the last step repeats every
    ``repeat_every`` until the ticket is dealt with."""

    levels: list[EscalationLevel] = Field(min_length=4)
    repeat_last: bool = False
    repeat_every: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _levels_in_time_order(self) -> EscalationPolicy:
        for before, after in itertools.pairwise(self.levels):
            if after.after < before.after:
                raise ValueError(
                    f"level {after.name!r} comes before {before.name!r} in time; "
                    "levels must be in order of 'after'"
                )
        if self.repeat_last and self.repeat_every <= timedelta(0):
            raise ValueError("repeat_every must be positive when repeat_last is true")
        return self

    def level(self, index: int) -> EscalationLevel | None:
        """The level at 0-based ``index`` (0 = first level); past the end, the last level if
        ``repeat_last`` else None."""
        if index < 0:
            return None
        if index < len(self.levels):
            return self.levels[index]
        return self.levels[-1] if self.repeat_last else None

    def delay(self, index: int) -> timedelta | None:
        """Business time from the breach until level ``index`` is due; None if there is none."""
        if self.level(index) is None:
            return None
        if index < len(self.levels):
            return self.levels[index].after
        return self.levels[-1].after + (index - len(self.levels) + 1) * self.repeat_every


class FollowUp(_Strict):
    """After resolution: wait ``delay``, ask for feedback; a score below ``reopen_below`` (1..5)
    reopens the ticket."""

    delay: Duration
    survey: bool = True
    reopen_below: int = Field(default=3, ge=1, le=5)
    # Where the customer answers the survey; ``{ticket_id}`` is filled in.
    survey_url: str = "https://support.example.com/survey/{ticket_id}"
    # How long to wait for an answer to the survey before closing; defaults to ``delay``.
    close_after: Duration | None = None

    def survey_link(self, ticket_id: str) -> str:
        """The survey address for one ticket."""
        return self.survey_url.replace("{ticket_id}", ticket_id)


class NotifySettings(_Strict):
    """Who hears about what, beyond the escalation ladder."""

    on_assignment: bool = True
    warning_roles: list[Role] = Field(default_factory=lambda: list[Role](["agent"]))
    customer_updates: bool = True
    sender: str = "Tierflow Support"


class Policy(_Strict):
    """A complete, cross-checked escalation policy."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    tiers: Annotated[list[Tier], Field(min_length=1)]
    teams: list[Team] = Field(default_factory=list)
    recipients: Recipients = Field(default_factory=list)
    sla: SlaPolicy
    escalation: EscalationPolicy
    calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)
    follow_up: FollowUp
    rules: list[RoutingRule] = Field(default_factory=list)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    # Who may do what (see statemachine/permissions.py); defaults when the file has none.
    permissions: Permissions = Field(default_factory=Permissions)
    default_tier: str = "tier1"

    @model_validator(mode="after")
    def _references_resolve(self) -> Policy:
        """Cross-references must resolve; raises PolicyError with a key path per problem."""
        problems = list(_reference_problems(self))
        if problems:
            raise PolicyError(problems)
        return self

    # -- look-ups -------------------------------------------------------------------------

    def tier_names(self) -> list[str]:
        """Tier names, lowest level first."""
        return [t.name for t in sorted(self.tiers, key=lambda t: t.level)]

    def tier(self, name: str) -> Tier:
        """The tier called ``name``; UnknownTarget otherwise."""
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise UnknownTarget("tier", name, self.tier_names())

    def team(self, name: str) -> Team:
        """The team called ``name``; UnknownTarget otherwise."""
        for team in self.teams:
            if team.name == name:
                return team
        raise UnknownTarget("team", name, [t.name for t in self.teams])

    def next_tier(self, name: str) -> str | None:
        """The tier one level up, or None at the top."""
        names = self.tier_names()
        index = names.index(self.tier(name).name)
        return names[index + 1] if index + 1 < len(names) else None

    def teams_in(self, tier: str) -> list[str]:
        """Team names in a tier: those the tier lists first, then the rest in file order."""
        listed = list(self.tier(tier).teams)
        rest = [t.name for t in self.teams if t.tier == tier and t.name not in listed]
        return listed + rest

    def recipients_for(self, tier: str, team: str | None, role: Role) -> list[Recipient]:
        """People with ``role`` for a ticket: the team's if it has any, else the tier's, else
        the policy-wide ones (most specific wins)."""
        pools: list[Recipients] = []
        if team is not None:
            pools.append(self.team(team).recipients)
        pools.append(self.tier(tier).recipients)
        pools.append(self.recipients)
        for pool in pools:
            found = [r for r in pool if r.role == role]
            if found:
                return found
        return []

    def all_recipients(self) -> list[Recipient]:
        """Every person named anywhere in the policy."""
        people = list(self.recipients)
        for tier in self.tiers:
            people.extend(tier.recipients)
        for team in self.teams:
            people.extend(team.recipients)
        return people

    def recipient(self, name: str) -> Recipient:
        """The person called ``name``; UnknownTarget otherwise."""
        people = self.all_recipients()
        for person in people:
            if person.name == name:
                return person
        raise UnknownTarget("recipient", name, [p.name for p in people])

    def targets_for(self, priority: Priority, tier: str) -> SlaTargets:
        """SLA targets for a priority in a tier (shortcut for ``sla.targets_for``)."""
        return self.sla.targets_for(priority, tier)

    def escalation_due(self, breached_at: datetime, index: int) -> datetime | None:
        """When escalation level ``index`` is due after a breach, in business time."""
        delay = self.escalation.delay(index)
        if delay is None:
            return None
        return self.calendar.add_business_time(breached_at, delay)


def _reference_problems(policy: Policy) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    tiers = [t.name for t in policy.tiers]
    teams = {t.name: t for t in policy.teams}
    known_tiers = ", ".join(tiers)
    known_teams = ", ".join(teams) or "none"

    for i, tier in enumerate(policy.tiers):
        if tier.name in FIXED_STATES:
            problems.append((f"tiers.{i}.name", f"{tier.name!r} is a reserved state name"))
        if tiers.count(tier.name) > 1:
            problems.append((f"tiers.{i}.name", f"duplicate tier {tier.name!r}"))
        if [t.level for t in policy.tiers].count(tier.level) > 1:
            problems.append((f"tiers.{i}.level", f"duplicate level {tier.level}"))
        for j, team_name in enumerate(tier.teams):
            team = teams.get(team_name)
            if team is None:
                problems.append(
                    (f"tiers.{i}.teams.{j}", f"unknown team {team_name!r} (known: {known_teams})")
                )
            elif team.tier != tier.name:
                problems.append(
                    (f"tiers.{i}.teams.{j}", f"team {team_name!r} belongs to tier {team.tier!r}")
                )
    for i, team in enumerate(policy.teams):
        if team.tier not in tiers:
            problems.append(
                (f"teams.{i}.tier", f"unknown tier {team.tier!r} (known: {known_tiers})")
            )
        if [t.name for t in policy.teams].count(team.name) > 1:
            problems.append((f"teams.{i}.name", f"duplicate team {team.name!r}"))
    if policy.default_tier not in tiers:
        problems.append(
            ("default_tier", f"unknown tier {policy.default_tier!r} (known: {known_tiers})")
        )
    for tier_name in policy.sla.per_tier:
        if tier_name not in tiers:
            problems.append(
                (f"sla.per_tier.{tier_name}", f"unknown tier {tier_name!r} (known: {known_tiers})")
            )
    people = {p.name for p in policy.all_recipients()}
    rule_names: list[str] = []
    for i, rule in enumerate(policy.rules):
        if rule.name in rule_names:
            problems.append((f"rules.{i}.name", f"duplicate rule {rule.name!r}"))
        rule_names.append(rule.name)
        then = rule.then
        if then.set_tier is not None and then.set_tier not in tiers:
            problems.append(
                (
                    f"rules.{i}.then.set_tier",
                    f"unknown tier {then.set_tier!r} (known: {known_tiers})",
                )
            )
        if then.set_team is not None and then.set_team not in teams:
            problems.append(
                (
                    f"rules.{i}.then.set_team",
                    f"unknown team {then.set_team!r} (known: {known_teams})",
                )
            )
        for j, target in enumerate(then.notify):
            if target not in ROLES and target not in people:
                problems.append(
                    (
                        f"rules.{i}.then.notify.{j}",
                        f"{target!r} is neither a role ({', '.join(ROLES)}) nor a recipient",
                    )
                )
    problems.extend(permission_problems(policy))
    return problems


# -- loading ------------------------------------------------------------------------------

_FRIENDLY: Final = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


def _path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's error location as a dotted key path, dropping validator-internal names."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and re.search(r"[\[(]", p))]
    if loc and loc[-1] == "[key]":
        parts.append("(key)")
    return ".".join(parts)


def policy_error(error: ValidationError, source: str) -> PolicyError:
    """Convert a pydantic ValidationError into a PolicyError with dotted key paths."""
    problems: list[tuple[str, str]] = []
    for item in error.errors(include_url=False):
        message = _FRIENDLY.get(item["type"], item["msg"])
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        problems.append((_path(item["loc"]), message))
    return PolicyError(problems, source)


def policy_from_data(data: Any, source: str = "<policy>") -> Policy:
    """Validate already-parsed data (a mapping) into a Policy, or raise PolicyError."""
    if not isinstance(data, dict):
        raise PolicyError([("", "the policy must be a mapping of keys to values")], source)
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        raise policy_error(error, source) from None
    except PolicyError as error:
        raise error.with_source(source) from None


MAX_POLICY_BYTES: Final = MAX_FILE_BYTES


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate policy YAML text (bounded: see :mod:`statemachine.inputs`)."""
    try:
        data = load_yaml(text)
    except InputError as error:
        raise PolicyError([("", error.message)], source) from None
    return policy_from_data(data, source)


def _packaged(name: str) -> Policy:
    resource = importlib.resources.files("tierflow.statemachine") / "policies" / name
    return parse_policy(resource.read_text(encoding="utf-8"), f"statemachine/policies/{name}")


@functools.cache
def default_policy() -> Policy:
    """The packaged default policy (tiers 0-3, realistic SLAs). Immutable and cached."""
    return _packaged("default.yaml")


@functools.cache
def demo_policy() -> Policy:
    """The default policy with SLAs of seconds, for demos and integration tests."""
    return _packaged("demo.yaml")
