"""The ticket's life cycle as a ``transitions`` state machine.

States are ``new``, ``triage``, one state per configured tier, ``waiting`` (on the customer; the
SLA is paused), ``approval`` (an escalation awaits a supervisor), ``resolved`` and ``closed``.

The transition table below is the single source of truth: the ``transitions`` machine, the list
of allowed actions, the validation used by Temporal update validators and the Mermaid diagram are
all derived from it. ``transitions`` is untyped and wants a plain model object, so it is wrapped
here and never leaks out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict
from transitions import EventData, Machine

from tierflow.statemachine.errors import DomainError, InvalidAction, UnknownTarget

NEW: Final = "new"
TRIAGE: Final = "triage"
WAITING: Final = "waiting"
APPROVAL: Final = "approval"
RESOLVED: Final = "resolved"
CLOSED: Final = "closed"
FIXED_STATES: Final = (NEW, TRIAGE, WAITING, APPROVAL, RESOLVED, CLOSED)

# Symbolic sources and destinations, expanded against the configured tiers.
TIERS: Final = "<tier>"  # any tier state (as a source)
SAME: Final = "<same>"  # internal transition: the state does not change, no exit/enter
TARGET: Final = "<target>"  # the tier named by the action's ``tier`` argument
LAST_TIER: Final = "<last_tier>"  # the tier the ticket was in most recently
PENDING_TIER: Final = "<pending_tier>"  # the tier an approval request asked for
ANY_BUT_CLOSED: Final = "<any but closed>"


@dataclass(frozen=True)
class Transition:
    """One row of the transition table, before expansion over the tiers."""

    action: str
    sources: tuple[str, ...]
    dest: str
    description: str


TRANSITIONS: Final[tuple[Transition, ...]] = (
    Transition("triage", (NEW,), TRIAGE, "start triage"),
    Transition("route", (TRIAGE,), TARGET, "send the triaged ticket to a tier"),
    Transition("assign", (TIERS,), SAME, "give the ticket to an agent of the tier"),
    Transition("respond", (TIERS, WAITING, APPROVAL), SAME, "answer the customer"),
    Transition("transfer", (TIERS,), SAME, "functional escalation to another team, same tier"),
    Transition("escalate", (TIERS,), TARGET, "move to another tier"),
    Transition("request_escalation", (TIERS,), APPROVAL, "ask a supervisor to approve"),
    Transition("approve", (APPROVAL,), PENDING_TIER, "the requested escalation goes ahead"),
    Transition("reject", (APPROVAL,), LAST_TIER, "the request is refused; back to the tier"),
    Transition("wait_customer", (TIERS,), WAITING, "wait on the customer; SLA paused"),
    Transition("resume", (WAITING,), LAST_TIER, "the customer answered"),
    Transition("resolve", (TIERS, WAITING), RESOLVED, "the issue is solved"),
    Transition("reopen", (RESOLVED,), LAST_TIER, "the customer says it is not solved"),
    Transition("close", (RESOLVED,), CLOSED, "done for good"),
    Transition("note", (ANY_BUT_CLOSED,), SAME, "add a note"),
    Transition("set_priority", (ANY_BUT_CLOSED,), SAME, "change the priority (SLA budgets follow)"),
)
# Every event the machine knows: the agents' actions that move (or keep) the ticket, and the
# workflow's own (triage, route, transfer, resume). Permissions name only the agents' actions
# (statemachine/permissions.py, ``Action``).
EVENTS: Final = tuple(dict.fromkeys(t.action for t in TRANSITIONS))
# Actions whose destination is a tier named by the caller.
TARGETED_ACTIONS: Final = frozenset({"route", "escalate", "request_escalation"})


class MachineState(BaseModel):
    """Everything needed to rebuild a :class:`TicketMachine` (carried in workflow state)."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    state: str = NEW
    last_tier: str | None = None
    pending_tier: str | None = None


def _expand_sources(sources: Sequence[str], tiers: Sequence[str]) -> list[str]:
    expanded: list[str] = []
    for source in sources:
        if source == TIERS:
            expanded.extend(tiers)
        elif source == ANY_BUT_CLOSED:
            expanded.extend(s for s in (*FIXED_STATES, *tiers) if s != CLOSED)
        else:
            expanded.append(source)
    return list(dict.fromkeys(expanded))


class _Model:
    """The plain object ``transitions`` moves: one ticket's current state, nothing else."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def _dest_is(tier: str) -> Any:
    """A transition condition: the resolved destination tier equals ``tier``."""

    def condition(event: EventData) -> bool:
        return bool(event.kwargs.get("dest") == tier)

    return condition


def _check_tiers(tiers: tuple[str, ...]) -> None:
    if not tiers:
        raise DomainError("a ticket machine needs at least one tier")
    clashes = [t for t in tiers if t in FIXED_STATES or "_" in t]
    if clashes:
        raise DomainError(f"tier names clash with fixed states or contain '_': {clashes}")


class MachineDefinition:
    """The ``transitions`` machine for one list of tiers, shared by every ticket with those
    tiers (see :func:`definition`).

    It holds no ticket's state: it is built with no model, and each ticket's
    :class:`TicketMachine` triggers its events on a small model of its own. Nothing here
    changes after construction, so tickets on different worker threads share it safely.
    """

    def __init__(self, tiers: tuple[str, ...]) -> None:
        _check_tiers(tiers)
        self.tiers = tiers
        self.states: tuple[str, ...] = (*FIXED_STATES, *tiers)
        self.machine = Machine(
            model=None,
            states=list(self.states),
            initial=NEW,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        for row in TRANSITIONS:
            self._add(row)
        # Actions each state allows, in table order (asked on every validation).
        self.allowed: dict[str, tuple[str, ...]] = {
            state: tuple(
                action
                for action in EVENTS
                if any(
                    state in _expand_sources(row.sources, tiers)
                    for row in TRANSITIONS
                    if row.action == action
                )
            )
            for state in self.states
        }

    def _add(self, row: Transition) -> None:
        # transitions' stubs want list[str | Enum | State]; list is invariant, so widen it.
        sources: list[Any] = _expand_sources(row.sources, self.tiers)
        if row.dest == SAME:
            self.machine.add_transition(row.action, sources, None)  # internal: no exit/enter
        elif row.dest in (TARGET, LAST_TIER, PENDING_TIER):
            for tier in self.tiers:
                self.machine.add_transition(row.action, sources, tier, conditions=_dest_is(tier))
        else:
            self.machine.add_transition(row.action, sources, row.dest)

    def trigger(self, model: _Model, action: str, dest: str | None) -> bool:
        """Fire ``action`` on one ticket's model; whether a transition moved it."""
        return bool(self.machine.events[action].trigger(model, dest=dest))


# Distinct tier lists in use are few (one per policy shape); the bound only guards against
# a worker fed endless distinct ones.
DEFINITIONS_CACHED: Final = 64


@functools.lru_cache(maxsize=DEFINITIONS_CACHED)
def definition(tiers: tuple[str, ...]) -> MachineDefinition:
    """The shared machine for ``tiers`` (built once per process and list of tiers)."""
    return MachineDefinition(tiers)


class TicketMachine:
    """One ticket's state on the shared machine of its tiers.

    ``check`` validates without changing anything (for Temporal update validators); ``apply``
    checks and then moves. Extra keyword arguments (actor, note, ...) are accepted and ignored,
    so the workflow can pass an action's whole payload. A ticket owns only its state (three
    short strings); the ``transitions`` machine is its tiers' shared :class:`MachineDefinition`.
    """

    __slots__ = ("_definition", "_last_tier", "_model", "_pending_tier")

    def __init__(
        self,
        tiers: Sequence[str],
        state: str = NEW,
        last_tier: str | None = None,
        pending_tier: str | None = None,
    ) -> None:
        self._definition = definition(tuple(tiers))
        known = self._definition.states
        if state not in known:
            raise UnknownTarget("state", state, known)
        for name in (last_tier, pending_tier):
            if name is not None and name not in self.tiers:
                raise UnknownTarget("tier", name, self.tiers)
        if state in self.tiers:
            last_tier = state
        if state in (WAITING, APPROVAL, RESOLVED) and last_tier is None:
            raise DomainError(f"state {state!r} needs the last tier to return to")
        if state == APPROVAL and pending_tier is None:
            raise DomainError("state 'approval' needs the pending tier")
        self._last_tier = last_tier
        self._pending_tier = pending_tier if state == APPROVAL else None
        self._model = _Model(state)

    @property
    def tiers(self) -> tuple[str, ...]:
        """The ticket's tiers, lowest level first."""
        return self._definition.tiers

    @property
    def definition(self) -> MachineDefinition:
        """The shared machine this ticket moves on."""
        return self._definition

    @classmethod
    def restore(cls, tiers: Sequence[str], saved: MachineState) -> TicketMachine:
        """Rebuild a machine at a saved state (no enter callbacks run)."""
        return cls(tiers, saved.state, saved.last_tier, saved.pending_tier)

    def snapshot(self) -> MachineState:
        """The serialisable state of this machine."""
        return MachineState(
            state=self.state, last_tier=self._last_tier, pending_tier=self._pending_tier
        )

    @property
    def state(self) -> str:
        """The current state's name."""
        return self._model.state

    @property
    def last_tier(self) -> str | None:
        """The tier the ticket is in, or most recently left (where reopen/resume/reject go)."""
        return self._last_tier

    @property
    def pending_tier(self) -> str | None:
        """The tier an escalation awaiting approval asked for."""
        return self._pending_tier

    def allowed_actions(self) -> list[str]:
        """Action names the current state allows, in table order."""
        return list(self._definition.allowed[self.state])

    def can(self, action: str, **kwargs: Any) -> bool:
        """Whether ``check`` would pass."""
        try:
            self.check(action, **kwargs)
        except DomainError:
            return False
        return True

    def _destination(self, action: str, kwargs: dict[str, Any]) -> str | None:
        """The tier a tier-bound action goes to, validated; None for other actions."""
        if action in TARGETED_ACTIONS:
            tier = kwargs.get("tier")
            if not tier:
                raise InvalidAction(
                    action, self.state, self.allowed_actions(), f"{action!r} needs a target tier"
                )
            if tier not in self.tiers:
                raise UnknownTarget("tier", str(tier), self.tiers)
            if action != "route" and tier == self.state:
                raise InvalidAction(
                    action,
                    self.state,
                    self.allowed_actions(),
                    f"the ticket is already in {tier!r} (use 'transfer' to change team)",
                )
            return str(tier)
        if action == "approve":
            return self._pending_tier
        if action in ("reject", "resume", "reopen"):
            return self._last_tier
        return None

    def check(self, action: str, **kwargs: Any) -> None:
        """Raise InvalidAction/UnknownTarget if ``action`` is not possible now; change nothing."""
        allowed = self.allowed_actions()
        if action not in allowed:
            raise InvalidAction(action, self.state, allowed)
        self._destination(action, kwargs)

    def apply(self, action: str, **kwargs: Any) -> str:
        """Check, then perform ``action``; returns the new state."""
        self.check(action, **kwargs)
        dest = self._destination(action, kwargs)
        moved = self._definition.trigger(self._model, action, dest)
        if not moved:  # the table and the checks disagree: a bug, not a user error
            raise AssertionError(f"transition {action!r} from {self.state!r} did not fire")
        if action == "request_escalation":
            self._pending_tier = dest
        elif action in ("approve", "reject"):
            self._pending_tier = None
        if self.state in self.tiers:
            self._last_tier = self.state
        return self.state


def mermaid(tiers: Sequence[str]) -> str:
    """A Mermaid ``stateDiagram-v2`` of the machine for the given tiers.

    Generated from the transition table rather than ``GraphMachine`` so that it needs no extras
    and lists each symbolic destination once per tier.
    """
    lines = ["stateDiagram-v2", f"    [*] --> {NEW}"]
    for row in TRANSITIONS:
        if row.dest == SAME:
            continue  # internal actions would clutter every tier with self-loops
        for source in _expand_sources(row.sources, tiers):
            if row.dest == TARGET:
                dests = [t for t in tiers if t != source or row.action == "route"]
            elif row.dest in (LAST_TIER, PENDING_TIER):
                dests = list(tiers)
            else:
                dests = [row.dest]
            lines.extend(f"    {source} --> {dest}: {row.action}" for dest in dests)
    lines.append(f"    {CLOSED} --> [*]")
    internal = ", ".join(r.action for r in TRANSITIONS if r.dest == SAME)
    lines.append(f"    note right of {TRIAGE}: internal actions (no state change): {internal}")
    return "\n".join(lines) + "\n"
