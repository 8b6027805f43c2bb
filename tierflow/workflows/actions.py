"""Every action an agent, supervisor or operator takes on a ticket, in one table.

One :class:`ActionSpec` per action says everything the rest of Tierflow needs to know about it:
its name (the Temporal update's name, the permission the ticket's policy grants, the state
machine's event), its input model, what it answers, how the workflow checks and applies it,
and how the command line and the HTTP API offer it. Everything else follows from here:

- the permission vocabulary is ``statemachine.permissions.Action`` and the transition rows are
  ``statemachine.machine.TRANSITIONS`` (the pure core, which imports neither the workflow's
  message models nor Temporal); each spec looks its row up there (:attr:`ActionSpec.transition`);
- the workflow's update handlers (``workflows/handlers.py``) are one line each, dispatching here;
- the client's :data:`tierflow.client.ACTIONS` and typed methods (``tierflow/_acting.py``),
  the CLI's ``tierflow ticket`` commands (``cli/tickets.py``) are named and documented from
  here, and the HTTP routes (``api/actions.py``) are made from it.

``tests/workflows/test_action_registry.py`` checks that all of them agree with this table, and
that none of them offers an action this table does not list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

from tierflow.statemachine.machine import TRANSITIONS, Transition
from tierflow.statemachine.permissions import DECISIONS, Action
from tierflow.workflows.messages import (
    AddNote,
    AgentAction,
    Assign,
    Close,
    Decide,
    Escalate,
    Reopen,
    RequestEscalation,
    Resolve,
    Respond,
    SetPriority,
    WaitCustomer,
)
from tierflow.workflows.operations import TicketOperations
from tierflow.workflows.outbox.failing import DropDelivery, RetryDeliveries

# What an action answers: the ticket's status, or the deliveries it keeps retrying.
Answer = Literal["status", "deliveries"]
Check = Callable[[TicketOperations, Any], None]
Apply = Callable[[TicketOperations, Any, datetime], None]


@dataclass(frozen=True)
class ActionSpec:
    """One action, as every interface offers it."""

    name: Action
    message: type[AgentAction]
    summary: str  # one line: CLI help, the HTTP route's summary
    answers: Answer = "status"
    # The workflow's validator and handler (ticket actions only; the delivery actions act on
    # the workflow's outbox, which the workflow holds). Without ``check``, the permission and
    # the ticket's state are all there is to check.
    check: Check | None = None
    apply: Apply | None = None
    # How the CLI and the HTTP API offer it (default: from the name).
    cli_command: str | None = None
    http_path: str | None = None
    # Whether the HTTP body may be left out (its every field has a default, the actor comes
    # from the credentials).
    body_optional: bool = False

    @property
    def command(self) -> str:
        """The ``tierflow ticket`` command: the name with dashes."""
        return self.cli_command or self.name.replace("_", "-")

    @property
    def path(self) -> str:
        """The HTTP route, under ``/tickets/{ticket_id}/``."""
        return self.http_path or f"actions/{self.name}"

    @property
    def description(self) -> str:
        """What the action does, for the API's documentation: its message's docstring, else
        the one-line summary."""
        return (self.message.__doc__ or "").strip() or self.summary

    @property
    def transition(self) -> Transition | None:
        """The state machine's row for this action; None for an action that acts beside the
        ticket's life cycle (the delivery actions, allowed in every state, closed too)."""
        return next((t for t in TRANSITIONS if t.action == self.name), None)

    @property
    def decision(self) -> bool:
        """Approve and reject: a supervisor or above of the ticket's tier, never the one who
        asked (statemachine/permissions.py)."""
        return self.name in DECISIONS

    def validate(self, ops: TicketOperations, a: AgentAction) -> None:
        """The workflow's validator: the domain's error, raised before anything is written."""
        if self.check is not None:
            self.check(ops, a)
        else:
            ops.check_action(self.name, a)

    def perform(self, ops: TicketOperations, a: AgentAction, now: datetime) -> None:
        """The workflow's handler: apply the (validated) action to the ticket's state."""
        if self.apply is None:
            raise TypeError(f"{self.name} is applied by the workflow itself")
        self.apply(ops, a, now)


def _decide(action: Literal["approve", "reject"]) -> Check:
    def check(ops: TicketOperations, a: Decide) -> None:
        ops.check_decide(action, a)

    return check


_SPECS: Final = (
    ActionSpec(
        "assign",
        Assign,
        "Give the ticket to an agent.",
        check=TicketOperations.check_assign,
        apply=TicketOperations.assign,
    ),
    ActionSpec(
        "respond",
        Respond,
        "Record a reply to the customer (meets the response target).",
        apply=TicketOperations.respond,
    ),
    ActionSpec(
        "escalate",
        Escalate,
        "Escalate up a tier (hierarchical), or to another team of the tier (functional).",
        check=TicketOperations.check_escalate,
        apply=TicketOperations.escalate,
    ),
    ActionSpec(
        "request_escalation",
        RequestEscalation,
        "Ask a supervisor to approve an escalation.",
        check=TicketOperations.check_request_escalation,
        apply=TicketOperations.request_escalation,
    ),
    ActionSpec(
        "approve",
        Decide,
        "Approve the pending escalation request (supervisors).",
        check=_decide("approve"),
        apply=TicketOperations.approve,
    ),
    ActionSpec(
        "reject",
        Decide,
        "Reject the pending escalation request (supervisors).",
        check=_decide("reject"),
        apply=TicketOperations.reject,
    ),
    ActionSpec(
        "set_priority",
        SetPriority,
        "Change the priority (the SLA budgets follow).",
        check=TicketOperations.check_set_priority,
        apply=TicketOperations.set_priority,
    ),
    ActionSpec("note", AddNote, "Add an internal note.", apply=TicketOperations.note),
    ActionSpec(
        "wait_customer",
        WaitCustomer,
        "Wait on the customer (pauses the SLA until they reply).",
        apply=TicketOperations.wait_customer,
    ),
    ActionSpec(
        "resolve",
        Resolve,
        "Resolve the ticket (the follow-up survey comes later).",
        apply=TicketOperations.resolve,
    ),
    ActionSpec("reopen", Reopen, "Reopen a resolved ticket.", apply=TicketOperations.reopen_by),
    ActionSpec("close", Close, "Close the ticket for good.", apply=TicketOperations.close_by),
    ActionSpec(
        "retry_deliveries",
        RetryDeliveries,
        "Retry the ticket's failing deliveries now.",
        answers="deliveries",
        cli_command="retry-delivery",
        http_path="deliveries/retry",
        body_optional=True,
    ),
    ActionSpec(
        "drop_delivery",
        DropDelivery,
        "Give up one failing delivery (a final failure on the ticket's timeline).",
        answers="deliveries",
        http_path="deliveries/drop",
    ),
)

# Every action by name, in the order the permission vocabulary lists them (a test checks).
ACTION_SPECS: Final[Mapping[str, ActionSpec]] = MappingProxyType({s.name: s for s in _SPECS})
# The actions that answer the ticket's status (``TicketClient.act`` runs these by name).
TICKET_ACTIONS: Final[Mapping[str, ActionSpec]] = MappingProxyType(
    {name: spec for name, spec in ACTION_SPECS.items() if spec.answers == "status"}
)

if set(ACTION_SPECS) != set(get_args(Action)):  # pragma: no cover (a programming error)
    raise AssertionError("the action registry and statemachine.permissions.Action disagree")

__all__ = ["ACTION_SPECS", "TICKET_ACTIONS", "ActionSpec", "Answer"]
