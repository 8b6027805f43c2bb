"""The ticket state machine: every transition, every rejection, snapshots and the diagram."""

from __future__ import annotations

from typing import Any

import pytest

from tierflow.statemachine import (
    EVENTS,
    DomainError,
    InvalidAction,
    MachineState,
    TicketMachine,
    UnknownTarget,
    mermaid,
)

TIERS = ["tier0", "tier1", "tier2", "tier3"]

# Where each state is set up for the table below: tier states sit in tier2, coming from tier2.
SETUPS: dict[str, MachineState] = {
    "new": MachineState(state="new"),
    "triage": MachineState(state="triage"),
    "tier2": MachineState(state="tier2", last_tier="tier2"),
    "waiting": MachineState(state="waiting", last_tier="tier2"),
    "approval": MachineState(state="approval", last_tier="tier2", pending_tier="tier3"),
    "resolved": MachineState(state="resolved", last_tier="tier2"),
    "closed": MachineState(state="closed", last_tier="tier2"),
}

# The expected table, written out by hand: (state, action) -> (arguments, destination).
EXPECTED: dict[tuple[str, str], tuple[dict[str, Any], str]] = {
    ("new", "triage"): ({}, "triage"),
    ("new", "note"): ({}, "new"),
    ("new", "set_priority"): ({"priority": "high"}, "new"),
    ("triage", "route"): ({"tier": "tier1"}, "tier1"),
    ("triage", "note"): ({}, "triage"),
    ("triage", "set_priority"): ({"priority": "high"}, "triage"),
    ("tier2", "assign"): ({"assignee": "riley"}, "tier2"),
    ("tier2", "respond"): ({"message": "on it"}, "tier2"),
    ("tier2", "transfer"): ({"team": "billing"}, "tier2"),
    ("tier2", "escalate"): ({"tier": "tier3"}, "tier3"),
    ("tier2", "request_escalation"): ({"tier": "tier3"}, "approval"),
    ("tier2", "wait_customer"): ({}, "waiting"),
    ("tier2", "resolve"): ({}, "resolved"),
    ("tier2", "note"): ({}, "tier2"),
    ("tier2", "set_priority"): ({"priority": "high"}, "tier2"),
    ("waiting", "resume"): ({}, "tier2"),
    ("waiting", "resolve"): ({}, "resolved"),
    ("waiting", "respond"): ({}, "waiting"),
    ("waiting", "note"): ({}, "waiting"),
    ("waiting", "set_priority"): ({"priority": "high"}, "waiting"),
    ("approval", "approve"): ({}, "tier3"),
    ("approval", "reject"): ({}, "tier2"),
    ("approval", "respond"): ({}, "approval"),
    ("approval", "note"): ({}, "approval"),
    ("approval", "set_priority"): ({"priority": "high"}, "approval"),
    ("resolved", "reopen"): ({}, "tier2"),
    ("resolved", "close"): ({}, "closed"),
    ("resolved", "note"): ({}, "resolved"),
    ("resolved", "set_priority"): ({"priority": "high"}, "resolved"),
}
ALLOWED_PAIRS = sorted(EXPECTED)
REJECTED_PAIRS = [(s, a) for s in SETUPS for a in EVENTS if (s, a) not in EXPECTED]


def machine_in(state: str) -> TicketMachine:
    """A machine restored in one of the SETUPS states."""
    return TicketMachine.restore(TIERS, SETUPS[state])


class TestTransitions:
    @pytest.mark.parametrize(("state", "action"), ALLOWED_PAIRS)
    def test_allowed_action_lands_in_expected_state(self, state: str, action: str) -> None:
        """Every row of the transition table moves the ticket where the table says."""
        kwargs, dest = EXPECTED[(state, action)]
        machine = machine_in(state)

        assert machine.apply(action, **kwargs) == dest
        assert machine.state == dest

    @pytest.mark.parametrize("state", list(SETUPS))
    def test_allowed_actions_match_table(self, state: str) -> None:
        """allowed_actions lists exactly the actions the table allows in a state."""
        expected = [a for a in EVENTS if (state, a) in EXPECTED]

        assert machine_in(state).allowed_actions() == expected

    @pytest.mark.parametrize("tier", TIERS)
    def test_route_reaches_every_tier(self, tier: str) -> None:
        """Triage can route to any configured tier."""
        machine = machine_in("triage")

        assert machine.apply("route", tier=tier) == tier
        assert machine.last_tier == tier

    def test_escalate_may_go_down_a_tier(self) -> None:
        """The machine leaves the direction of an escalation to the caller."""
        machine = machine_in("tier2")

        assert machine.apply("escalate", tier="tier1") == "tier1"

    def test_last_tier_survives_waiting_and_resolution(self) -> None:
        """Resume and reopen return to the tier the ticket left."""
        machine = TicketMachine(TIERS)
        for action, kwargs in [
            ("triage", {}),
            ("route", {"tier": "tier1"}),
            ("escalate", {"tier": "tier3"}),
            ("wait_customer", {}),
            ("resolve", {}),
        ]:
            machine.apply(action, **kwargs)

        assert machine.apply("reopen") == "tier3"

    def test_approval_remembers_pending_tier(self) -> None:
        """A request records the tier asked for until it is approved or rejected."""
        machine = machine_in("tier2")
        machine.apply("request_escalation", tier="tier3")

        assert machine.pending_tier == "tier3"
        machine.apply("reject")
        assert machine.pending_tier is None
        assert machine.state == "tier2"

    def test_internal_transition_keeps_last_tier(self) -> None:
        """Notes, assignments and transfers change neither state nor last tier."""
        machine = machine_in("tier2")
        for action in ("note", "assign", "transfer"):
            machine.apply(action)

        assert machine.snapshot() == SETUPS["tier2"]


class TestRejections:
    @pytest.mark.parametrize(("state", "action"), REJECTED_PAIRS)
    def test_disallowed_action_is_refused(self, state: str, action: str) -> None:
        """Every action missing from the table for a state raises InvalidAction, naming it."""
        machine = machine_in(state)

        with pytest.raises(InvalidAction) as caught:
            machine.apply(action, tier="tier3")

        assert caught.value.action == action
        assert caught.value.state == state
        assert caught.value.allowed == machine.allowed_actions()
        assert machine.snapshot() == SETUPS[state]

    def test_message_lists_allowed_actions(self) -> None:
        """The message tells the agent what is possible instead."""
        with pytest.raises(InvalidAction, match=r"cannot 'resolve' a ticket in state 'new'; "):
            machine_in("new").apply("resolve")

        assert str(InvalidAction("resolve", "new", ["triage"])) == (
            "cannot 'resolve' a ticket in state 'new'; allowed here: triage"
        )

    def test_unknown_action_is_refused(self) -> None:
        """An action name that does not exist is an InvalidAction too."""
        with pytest.raises(InvalidAction):
            machine_in("tier2").apply("teleport")

    @pytest.mark.parametrize(
        ("state", "action"),
        [("triage", "route"), ("tier2", "escalate"), ("tier2", "request_escalation")],
    )
    def test_unknown_tier_is_refused(self, state: str, action: str) -> None:
        """Targets must be configured tiers; the error lists the known ones."""
        with pytest.raises(UnknownTarget, match="unknown tier 'tier9'; known: tier0, tier1"):
            machine_in(state).check(action, tier="tier9")

    @pytest.mark.parametrize("action", ["escalate", "request_escalation"])
    def test_escalating_to_the_same_tier_is_refused(self, action: str) -> None:
        """Moving sideways within a tier is a transfer, not an escalation."""
        with pytest.raises(InvalidAction, match="use 'transfer'"):
            machine_in("tier2").check(action, tier="tier2")

    @pytest.mark.parametrize("action", ["route", "escalate", "request_escalation"])
    def test_target_tier_is_required(self, action: str) -> None:
        """Targeted actions without a tier are refused with a reason."""
        state = "triage" if action == "route" else "tier2"

        with pytest.raises(InvalidAction, match="needs a target tier"):
            machine_in(state).check(action)

    def test_check_changes_nothing(self) -> None:
        """check validates only; the state stays put whether it passes or fails."""
        machine = machine_in("tier2")
        machine.check("escalate", tier="tier3")

        assert machine.state == "tier2"
        assert machine.can("escalate", tier="tier3")
        assert not machine.can("close")


class TestSnapshots:
    @pytest.mark.parametrize("state", list(SETUPS))
    def test_restore_round_trips(self, state: str) -> None:
        """A snapshot restores to an identical machine."""
        snapshot = machine_in(state).snapshot()

        assert TicketMachine.restore(TIERS, snapshot).snapshot() == snapshot

    def test_snapshot_serialises_to_json(self) -> None:
        """Snapshots survive the JSON round trip of Temporal's data converter."""
        snapshot = SETUPS["approval"]

        assert MachineState.model_validate_json(snapshot.model_dump_json()) == snapshot

    def test_tier_state_sets_last_tier(self) -> None:
        """Restoring in a tier makes that tier the last tier."""
        assert TicketMachine(TIERS, "tier1").last_tier == "tier1"

    @pytest.mark.parametrize(
        "saved",
        [
            MachineState(state="waiting"),
            MachineState(state="approval", last_tier="tier1"),
            MachineState(state="limbo"),
            MachineState(state="tier1", pending_tier="tier9"),
        ],
    )
    def test_inconsistent_snapshot_is_refused(self, saved: MachineState) -> None:
        """A snapshot that could not have been produced is rejected on restore."""
        with pytest.raises(DomainError):
            TicketMachine.restore(TIERS, saved)

    @pytest.mark.parametrize("tiers", [[], ["tier_1"], ["closed", "tier1"]])
    def test_bad_tier_names_are_refused(self, tiers: list[str]) -> None:
        """Tiers are needed, and may not clash with fixed states or contain '_'."""
        with pytest.raises(DomainError):
            TicketMachine(tiers)


class TestMermaid:
    def test_diagram_has_every_state_and_an_edge_per_transition(self) -> None:
        """The diagram is Mermaid state-diagram text drawn from the table."""
        text = mermaid(TIERS)

        assert text.startswith("stateDiagram-v2\n")
        assert "    [*] --> new" in text
        assert "    triage --> tier0: route" in text
        assert "    tier2 --> approval: request_escalation" in text
        assert "    approval --> tier3: approve" in text
        assert "    resolved --> closed: close" in text
        assert "    tier1 --> tier1: escalate" not in text


class TestSharedDefinition:
    """Tickets share one ``transitions`` machine per list of tiers and keep only their state."""

    def test_same_tiers_share_one_machine(self) -> None:
        """Two tickets with the same tiers move on the same definition object."""
        a = TicketMachine(TIERS)
        b = TicketMachine(list(TIERS), "tier2")
        assert a.definition is b.definition
        assert a.definition.machine is b.definition.machine

    def test_other_tiers_get_another_machine(self) -> None:
        """A different list of tiers is a different machine, with its own states."""
        a = TicketMachine(TIERS)
        b = TicketMachine(["tier1", "tier2"])
        assert a.definition is not b.definition
        assert "tier0" not in b.definition.states

    def test_moving_one_ticket_leaves_the_other(self) -> None:
        """State lives in each ticket: moving one never moves another on the same machine."""
        a = TicketMachine(TIERS, "tier1")
        b = TicketMachine(TIERS, "tier1")
        a.apply("escalate", tier="tier2")
        a.apply("wait_customer")
        assert (a.state, a.last_tier) == ("waiting", "tier2")
        assert (b.state, b.last_tier) == ("tier1", "tier1")
        assert b.allowed_actions() == TicketMachine(TIERS, "tier1").allowed_actions()

    def test_the_shared_machine_holds_no_ticket(self) -> None:
        """The definition has no models: nothing of a ticket is kept after it is dropped."""
        m = TicketMachine(TIERS, "tier1")
        m.apply("escalate", tier="tier3")
        assert m.definition.machine.models == []

    def test_definitions_are_bounded(self) -> None:
        """Endless distinct tier lists never grow the cache past its bound."""
        from tierflow.statemachine.machine import DEFINITIONS_CACHED, definition

        for n in range(DEFINITIONS_CACHED + 10):
            TicketMachine([f"t{n}", "tier1"])
        assert definition.cache_info().currsize <= DEFINITIONS_CACHED

    def test_restored_machine_matches_a_driven_one(self) -> None:
        """A machine restored from a snapshot allows what the original did."""
        a = TicketMachine(TIERS, "tier1")
        a.apply("request_escalation", tier="tier3")
        b = TicketMachine.restore(TIERS, a.snapshot())
        assert b.snapshot() == a.snapshot()
        assert (
            b.allowed_actions()
            == a.allowed_actions()
            == ["respond", "approve", "reject", "note", "set_priority"]
        )
