"""Listing tickets: the one filter model every interface lists by (:class:`TicketFilter`),
the Temporal visibility query it becomes, and the row each listed ticket gives
(:class:`TicketSummary`).

The Python client takes a filter as a :class:`TicketFilter` or as keyword arguments, the HTTP
API as query parameters (FastAPI reads the model: ``Annotated[TicketFilter, Query()]``) and the
command line as flags; all of them validate it here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from temporalio.client import WorkflowExecutionStatus as ExecutionStatus
from temporalio.common import TypedSearchAttributes

from tierflow.contracts import WORKFLOW_TYPE
from tierflow.errors import InvalidInput, TicketError, invalid_input
from tierflow.statemachine import Area, CustomerStatus, Priority
from tierflow.workflows import search_attributes as sa

WORKFLOW_ID_PREFIX: Final = "ticket-"

# Keyword values go into the query between single quotes. Rather than trust an escaping scheme,
# only plain names are accepted: every tier, team, state and status Tierflow knows matches this.
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
PLAIN_NAME: Final = _SAFE_VALUE.pattern
PlainName = Annotated[str, StringConstraints(pattern=PLAIN_NAME)]


class TicketFilter(BaseModel):
    """Which tickets to list: every field given must match (None: any)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: PlainName | None = Field(None, description="e.g. triage, tier2, waiting, resolved")
    tier: PlainName | None = Field(None, description="the tier the ticket is in")
    team: PlainName | None = Field(None, description="the team the ticket is with")
    priority: Priority | None = None
    breached: bool | None = Field(None, description="SLA breached or not")
    customer_status: CustomerStatus | None = None
    running_only: bool = Field(False, description="open tickets only")
    delivery_failing: bool | None = Field(
        None, description="true: some delivery keeps failing; false: none does"
    )


FILTERS: Final = tuple(TicketFilter.model_fields)


class TicketSummary(BaseModel):
    """One ticket as the visibility store lists it (no query, so no worker needed)."""

    ticket_id: str
    state: str | None
    tier: str | None
    team: str | None
    priority: str | None
    breached: bool
    escalations: int
    customer_status: str | None
    sla_due: datetime | None
    status: Literal["running", "closed"]
    summary: str | None = None
    # Some delivery of the ticket keeps failing (retried until its horizon).
    delivery_failing: bool = False
    # Why the ticket cannot be read now (its workflow task is failing), when the listing
    # checked (``check_tasks``); None: readable, or not checked.
    unreadable: str | None = None


def _check_filters(names: Mapping[str, object], choices: Mapping[str, list[str]]) -> None:
    """Refuse a filter value that is not a plain name, or not one of the known choices,
    without repeating it (it may be long, or not text at all)."""
    for field, value in names.items():
        if value is not None and not (isinstance(value, str) and _SAFE_VALUE.fullmatch(value)):
            raise InvalidInput(f"invalid {field}: use letters, digits and . _ : / - only")
    for field, known in choices.items():
        value = names.get(field)
        if value is not None and value not in known:
            # A plain name (checked above) is safe to repeat.
            raise InvalidInput(f"unknown {field} {value!r}; known: {', '.join(known)}")


def _literal(field: str, value: str) -> str:
    if not _SAFE_VALUE.fullmatch(value):
        raise TicketError(f"invalid {field} {value!r}: use letters, digits and . _ : / - only")
    return f"'{value}'"


def _area_clause(area: Area) -> str:
    """The visibility clause for the tickets of ``area`` (a caller's read scope): those of its
    tiers, of its teams, and of its tiers while they have no team. A team whose name is not a
    plain name cannot be queried safely and is left out (its tickets are not listed)."""
    tier, team = sa.TICKET_TIER.name, sa.TICKET_TEAM.name
    plain = _SAFE_VALUE.fullmatch
    parts = [f"{tier} = '{t}'" for t in sorted(area.tiers) if plain(t)]
    parts += [f"{team} = '{t}'" for t in sorted(area.teams) if plain(t)]
    parts += [f"({tier} = '{t}' AND {team} IS NULL)" for t in sorted(area.teamless) if plain(t)]
    # No ticket has an empty workflow id: an area of no place lists nothing.
    return f"({' OR '.join(parts)})" if parts else "WorkflowId = ''"


def ticket_filter(
    filters: TicketFilter | Mapping[str, object] | None = None, **fields: object
) -> TicketFilter:
    """The filter a caller gave, as a model (a mapping or keyword arguments are checked with
    one clear line each, never repeating a value that is not a plain name)."""
    if isinstance(filters, Mapping):
        fields = {**filters, **fields}
        filters = None
    if not fields:
        return filters if filters is not None else TicketFilter()
    unknown = set(fields) - set(FILTERS)
    if unknown:
        raise InvalidInput(f"unknown filter; known: {', '.join(FILTERS)}")
    _check_filters(
        {k.replace("_", " "): v for k, v in fields.items() if k in _NAMED},
        {
            "priority": [p.value for p in Priority],
            "customer status": [c.value for c in CustomerStatus],
        },
    )
    if not all(isinstance(fields.get(k), bool | None) for k in _FLAGS):
        raise InvalidInput(f"{', '.join(_FLAGS)} are true or false")
    if fields.get("running_only") is None:
        fields.pop("running_only", None)
    try:
        given = filters.model_dump(exclude_unset=True) if filters is not None else {}
        return TicketFilter.model_validate({**given, **fields})
    except ValidationError as err:
        raise invalid_input(err, "filter") from None


# The filters whose values are names, and those that are true or false.
_NAMED: Final = ("state", "tier", "team", "priority", "customer_status")
_FLAGS: Final = ("breached", "running_only", "delivery_failing")


def visibility_query(
    filters: TicketFilter | None = None,
    *,
    task_queue: str | None = None,
    within: Area | None = None,
    **fields: object,
) -> str:
    """The Temporal visibility query for a ticket list; raises InvalidInput on a bad value.
    ``within`` narrows it to the tickets of an area (a caller's read scope)."""
    f = ticket_filter(filters, **fields)
    _check_filters({"task queue": task_queue}, {})
    clauses = [
        f"WorkflowType = '{WORKFLOW_TYPE}'",
        # Each continue-as-new leaves a finished run behind; only the newest run is the ticket.
        "ExecutionStatus != 'ContinuedAsNew'",
    ]
    if f.state is not None:
        clauses.append(f"{sa.TICKET_STATE.name} = {_literal('state', f.state)}")
    if f.tier is not None:
        clauses.append(f"{sa.TICKET_TIER.name} = {_literal('tier', f.tier)}")
    if f.team is not None:
        clauses.append(f"{sa.TICKET_TEAM.name} = {_literal('team', f.team)}")
    if f.priority is not None:
        clauses.append(f"{sa.TICKET_PRIORITY.name} = '{f.priority.value}'")
    if f.breached is not None:
        clauses.append(f"{sa.TICKET_SLA_BREACHED.name} = {'true' if f.breached else 'false'}")
    if f.customer_status is not None:
        clauses.append(f"{sa.TICKET_CUSTOMER_STATUS.name} = '{f.customer_status.value}'")
    if f.delivery_failing is True:
        clauses.append(f"{sa.TICKET_DELIVERY_FAILING.name} = true")
    elif f.delivery_failing is False:
        # Unset on tickets that never had a failing delivery.
        clauses.append(
            f"({sa.TICKET_DELIVERY_FAILING.name} IS NULL OR "
            f"{sa.TICKET_DELIVERY_FAILING.name} = false)"
        )
    if f.running_only:
        clauses.append("ExecutionStatus = 'Running'")
    if task_queue is not None:
        clauses.append(f"TaskQueue = {_literal('task queue', task_queue)}")
    if within is not None and not within.everything:
        clauses.append(_area_clause(within))
    return " AND ".join(clauses)


def _summary_of(
    workflow_id: str, status: ExecutionStatus | None, attrs: TypedSearchAttributes
) -> TicketSummary:
    due = attrs.get(sa.TICKET_SLA_DUE)
    return TicketSummary(
        ticket_id=workflow_id.removeprefix(WORKFLOW_ID_PREFIX),
        state=attrs.get(sa.TICKET_STATE),
        tier=attrs.get(sa.TICKET_TIER),
        team=attrs.get(sa.TICKET_TEAM),
        priority=attrs.get(sa.TICKET_PRIORITY),
        breached=bool(attrs.get(sa.TICKET_SLA_BREACHED)),
        escalations=attrs.get(sa.TICKET_ESCALATIONS) or 0,
        customer_status=attrs.get(sa.TICKET_CUSTOMER_STATUS),
        sla_due=due,
        status="running" if status == ExecutionStatus.RUNNING else "closed",
        delivery_failing=bool(attrs.get(sa.TICKET_DELIVERY_FAILING)),
    )
