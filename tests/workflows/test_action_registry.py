"""The action registry (workflows/actions.py) is the one list of actions: the permissions, the
state machine, the workflow's updates, the client, the command line and the HTTP API all
offer exactly its actions, with its names and input models."""

from __future__ import annotations

import inspect
from typing import get_args

from temporalio.workflow import _Definition
from typer.main import get_command

from tierflow.api import create_app
from tierflow.cli.tickets import ticket_app
from tierflow.client import ACTIONS, TicketClient
from tierflow.statemachine import EVENTS, TRANSITIONS
from tierflow.statemachine.permissions import Action
from tierflow.workflows import TicketWorkflow
from tierflow.workflows.actions import ACTION_SPECS, TICKET_ACTIONS
from tierflow.workflows.messages import TicketStatus

# The machine's events that no caller takes: the workflow's own moves.
WORKFLOW_EVENTS = {"triage", "route", "transfer", "resume"}
# Commands of `tierflow ticket` that are no action: opening, reading, customer events.
NOT_ACTIONS = {"open", "show", "timeline", "reply", "feedback", "deliveries"}
# Updates of the workflow that are no agent action: customer events sent as updates.
CUSTOMER_UPDATES = {"customer_reply", "customer_feedback"}


class TestRegistry:
    def test_the_permission_vocabulary_is_the_registry(self) -> None:
        """Every action a policy can grant has a spec, in the same order, and no other."""
        assert tuple(ACTION_SPECS) == get_args(Action)

    def test_the_transition_table_holds_every_ticket_action(self) -> None:
        """Each ticket action has its row in the transition table (respond and set_priority
        included); the delivery actions explicitly have none; every other event of the
        machine is the workflow's own."""
        for spec in ACTION_SPECS.values():
            if spec.answers == "status":
                assert spec.transition is not None, spec.name
                assert spec.transition in TRANSITIONS
            else:
                assert spec.transition is None, spec.name
        with_rows = {s.name for s in ACTION_SPECS.values() if s.transition is not None}
        assert set(EVENTS) == with_rows | WORKFLOW_EVENTS

    def test_decisions_are_approve_and_reject(self) -> None:
        """The four-eyes rule applies to exactly the two decisions."""
        assert {s.name for s in ACTION_SPECS.values() if s.decision} == {"approve", "reject"}


class TestWorkflow:
    def test_every_action_is_an_update_with_its_model_and_a_validator(self) -> None:
        """The workflow's update for each action has the action's name, takes the action's
        model and answers what the spec says, and refuses through a validator."""
        updates = _Definition.must_from_class(TicketWorkflow).updates
        for spec in ACTION_SPECS.values():
            update = updates[spec.name]
            assert update.arg_types == [spec.message], spec.name
            assert update.validator is not None, spec.name
            if spec.answers == "status":
                assert update.ret_type is TicketStatus, spec.name

    def test_no_update_outside_the_registry(self) -> None:
        """Every update is a registry action or a customer event."""
        updates = set(_Definition.must_from_class(TicketWorkflow).updates)
        assert updates == set(ACTION_SPECS) | CUSTOMER_UPDATES


class TestClient:
    def test_act_runs_exactly_the_ticket_actions(self) -> None:
        """``TicketClient.act`` knows the registry's ticket actions with their models."""
        assert {name: spec.message for name, spec in TICKET_ACTIONS.items()} == ACTIONS

    def test_every_action_has_a_typed_method(self) -> None:
        """A method of the action's name whose payload is the action's model."""
        for spec in ACTION_SPECS.values():
            method = getattr(TicketClient, spec.name)
            payload = list(inspect.signature(method).parameters.values())[2]
            assert payload.annotation.startswith(f"{spec.message.__name__} |"), spec.name


class TestCommandLine:
    def test_every_action_has_its_command_and_nothing_else_acts(self) -> None:
        """`tierflow ticket` has the registry's command for each action, with its summary
        as help; every other command is a read, an opening or a customer event."""
        group = get_command(ticket_app)
        commands = group.commands  # type: ignore[attr-defined]
        for spec in ACTION_SPECS.values():
            assert commands[spec.command].help == spec.summary, spec.name
        assert set(commands) == {s.command for s in ACTION_SPECS.values()} | NOT_ACTIONS


class TestHttpApi:
    def test_every_action_has_a_route_with_its_model_as_body(self) -> None:
        """A POST route per action, whose documented body is the action's model; no other
        route posts to a ticket but the customer events."""
        app = create_app(insecure_no_auth=True, codec=None)
        schema = app.openapi()
        prefix = "/tickets/{ticket_id}/"
        posts = {
            path.removeprefix(prefix)
            for path, operations in schema["paths"].items()
            if path.startswith(prefix) and "post" in operations
        }
        assert posts == {s.path for s in ACTION_SPECS.values()} | {"events"}
        for spec in ACTION_SPECS.values():
            post = schema["paths"][f"/tickets/{{ticket_id}}/{spec.path}"]["post"]
            body = post["requestBody"]["content"]["application/json"]["schema"]
            refs = [body.get("$ref")] + [b.get("$ref") for b in body.get("anyOf", [])]
            assert f"#/components/schemas/{spec.message.__name__}" in refs, spec.name
            assert post["requestBody"].get("required", False) is not spec.body_optional
