"""``tierflow policy check`` (validate a policy file and explain it in plain words) and
``tierflow policy diagram`` (the ticket state machine for its tiers, as Mermaid)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tierflow.files import load_policy
from tierflow.statemachine import (
    Policy,
    PolicyError,
    RoutingRule,
    default_policy,
    mermaid,
)
from tierflow.statemachine.durations import format_duration

from ._common import console, err_console, fail, one_line, policy_problems
from .render import plain, shown

policy_app = typer.Typer(help="Check and draw escalation policies.", no_args_is_help=True)


def _load(file: Path) -> Policy:
    """The policy, or every problem listed with its key path and exit code 1."""
    try:
        return load_policy(file)
    except PolicyError as err:
        problems = policy_problems(err)
        count = len(err.problems)
        if count <= 1:  # the file itself (unreadable, too large, not YAML) or one key
            fail(f"{file} is not a valid policy: {problems[0] if problems else 'invalid'}")
        err_console.print(
            one_line(f"error: {file} is not a valid policy ({count} problems)"),
            style="red",
            markup=False,
            soft_wrap=True,
        )
        for line in problems:
            err_console.print(f"  {one_line(line)}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None


def rule_in_words(rule: RoutingRule) -> str:
    """``When …, then …`` for one routing rule."""
    w, t = rule.when, rule.then
    conditions: list[str] = []
    if w.keywords:
        conditions.append("the ticket mentions " + " or ".join(repr(k) for k in w.keywords))
    if w.categories:
        conditions.append("the category is " + " or ".join(w.categories))
    if w.channels:
        conditions.append("it came by " + " or ".join(c.value for c in w.channels))
    if w.customer_statuses:
        conditions.append("the customer is " + " or ".join(s.value for s in w.customer_statuses))
    if w.priorities:
        conditions.append("the priority is " + " or ".join(p.value for p in w.priorities))
    if w.min_priority is not None:
        conditions.append(f"the priority is at least {w.min_priority.value}")
    if w.min_impacted is not None:
        conditions.append(f"at least {w.min_impacted} customers are affected")
    actions: list[str] = []
    if t.set_category:
        actions.append(f"file it as {t.set_category!r}")
    if t.set_priority:
        actions.append(f"set priority {t.set_priority.value}")
    if t.raise_priority_to:
        actions.append(f"raise priority to at least {t.raise_priority_to.value}")
    if t.set_tier:
        actions.append(f"send it to {t.set_tier}")
    if t.set_team:
        actions.append(f"route it to team {t.set_team}")
    if t.notify:
        actions.append("notify " + ", ".join(t.notify))
    if t.stop:
        actions.append("stop looking at further rules")
    when = " and ".join(conditions) if conditions else "always"
    then = ", ".join(actions) if actions else "do nothing"
    return f"{rule.name}: when {when}, {then}."


def _duration(value: object) -> str:
    return format_duration(value) if isinstance(value, timedelta) else "—"


def explain(policy: Policy) -> None:
    """Print the policy as a support manager would describe it."""
    console.print(f"[bold]{shown(policy.name)}[/bold] v{shown(policy.version)} — valid")
    tiers = Table(title="tiers")
    for name in ("level", "tier", "label", "teams", "escalating out"):
        tiers.add_column(name)
    for tier in sorted(policy.tiers, key=lambda t: t.level):
        approval = "needs approval" if tier.requires_approval else "free"
        teams = ", ".join(policy.teams_in(tier.name)) or "—"
        tiers.add_row(str(tier.level), shown(tier.name), shown(tier.label), shown(teams), approval)
    console.print(tiers)
    console.print(
        f"New tickets start in [bold]{shown(policy.default_tier)}[/bold] unless a rule says."
    )

    sla = Table(title="SLA targets (business time)")
    for name in ("priority", "first response", "next response", "resolution"):
        sla.add_column(name)
    for priority, targets in policy.sla.targets.items():
        sla.add_row(
            priority.value,
            _duration(targets.first_response),
            _duration(targets.next_response),
            _duration(targets.resolution),
        )
    console.print(sla)
    for tier_name, overrides in policy.sla.per_tier.items():
        for priority, targets in overrides.items():
            # An override names only what differs; the rest comes from the table above.
            changed = [
                f"{name.replace('_', ' ')} {_duration(value)}"
                for name, value in targets.model_dump().items()
                if value is not None
            ]
            console.print(f"  in {shown(tier_name)}, {priority.value}: {', '.join(changed)}")
    warn = round(policy.sla.warning_fraction * 100)
    console.print(f"Agents are warned when {warn}% of a target's time is used.")

    console.print("[bold]After a breach[/bold], the escalation ladder:")
    for i, level in enumerate(policy.escalation.levels, start=1):
        actions = ", ".join(a.value.replace("_", " ") for a in level.actions)
        console.print(
            f"  {i}. {shown(level.name)}, {_duration(level.after)} after the breach: {actions}"
        )
    if policy.escalation.repeat_last:
        console.print(
            f"  then the last step repeats every {_duration(policy.escalation.repeat_every)}"
        )

    console.print("[bold]Routing rules[/bold], in order:")
    for rule in policy.rules:
        console.print(f"  - {plain(rule_in_words(rule))}", markup=False)
    if not policy.rules:
        console.print("  (none: every ticket starts in the default tier)")
    cal = policy.calendar
    hours = "24x7" if cal.always_open else f"business hours in {cal.timezone}"
    console.print(f"Clock: {shown(hours)}.")
    follow = policy.follow_up
    console.print(
        f"Follow-up: {_duration(follow.delay)} after resolution"
        + (" a survey is sent" if follow.survey else "")
        + f"; a score below {follow.reopen_below} reopens the ticket."
    )


@policy_app.command("check")
def check(file: Annotated[Path, typer.Argument(help="policy YAML")]) -> None:
    """Validate a policy file and explain it; problems are listed with their key paths."""
    explain(_load(file))


@policy_app.command("diagram")
def diagram(
    file: Annotated[Path | None, typer.Argument(help="policy YAML (default: built-in)")] = None,
) -> None:
    """The ticket state machine for the policy's tiers, as Mermaid (paste into Markdown)."""
    policy = _load(file) if file is not None else default_policy()
    typer.echo(mermaid(policy.tier_names()), nl=False)
