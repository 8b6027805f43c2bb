"""The ``tierflow`` command line through its test runner, against the real dev server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.interfaces.conftest import Cli
from tests.workflows.support import fast_policy, ticket, wait_for
from tierflow.cli import app
from tierflow.cli.entry import run
from tierflow.client import TicketClient

DEFAULT_POLICY_FILE = "tierflow/statemachine/policies/default.yaml"

BROKEN_POLICY = """\
name: broken
version: "1"
tiers:
  - name: tier1
    label: Frontline
    level: 1
    colour: red
"""


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


class TestAgentDay:
    async def test_every_action_from_open_to_close(
        self, tickets: TicketClient, cli: Cli, tmp_path: Path
    ) -> None:
        """An agent's and a supervisor's whole day on one ticket, command by command."""
        t = ticket("Cannot log in")
        steps = [
            ("ticket", "assign", t.id, "Alex Kim", "--actor", "Jo Park"),
            ("ticket", "respond", t.id, "--message", "Looking into it", "--actor", "Jo Park"),
            ("ticket", "note", t.id, "checked the SSO logs", "--actor", "Jo Park"),
            ("ticket", "set-priority", t.id, "high", "--actor", "Jo Park"),
            ("ticket", "wait-customer", t.id, "--actor", "Jo Park"),
            ("ticket", "reply", t.id, "--message", "still broken"),
            ("ticket", "escalate", t.id, "--reason", "limited_knowledge", "--actor", "Jo Park"),
            (
                "ticket",
                "request-escalation",
                t.id,
                "--reason",
                "feature_request",
                "--actor",
                "Robin Ortiz",
            ),
            ("ticket", "reject", t.id, "--note", "not yet", "--actor", "Morgan Lee"),
            (
                "ticket",
                "request-escalation",
                t.id,
                "--reason",
                "limited_access",
                "--actor",
                "Robin Ortiz",
            ),
            ("ticket", "approve", t.id, "--actor", "Morgan Lee"),
            ("ticket", "resolve", t.id, "reset the SSO binding", "--actor", "Lee Fischer"),
            ("ticket", "feedback", t.id, "2", "--comment", "meh"),
        ]
        path = tmp_path / "ticket.json"
        path.write_text(t.model_dump_json(), encoding="utf-8")
        policy = tmp_path / "policy.yaml"
        policy.write_text(json.dumps(fast_policy(resolution="1h").model_dump(mode="json")))
        opened = await cli("ticket", "open", "--file", str(path), "--policy", str(policy))
        assert opened.exit_code == 0, opened.output
        assert f"{t.id} opened" in opened.stdout
        again = await cli("ticket", "open", "--file", str(path))
        assert "was already open" in again.stdout
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        for step in steps:
            result = await cli(*step)
            assert result.exit_code == 0, (step, result.output)
            if step[1] == "reply":
                await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        status = await wait_for(tickets, t.id, lambda s: s.state == "tier3")  # bad feedback
        assert status.priority == "high"
        assert status.escalations == 2
        for step in (("resolve", "fixed for real"), ("close",)):
            result = await cli("ticket", step[0], t.id, *step[1:], "--actor", "Lee Fischer")
            assert result.exit_code == 0, result.output
        assert (await tickets.status(t.id)).state == "closed"
        shown = await cli("ticket", "show", t.id)
        assert "closed" in shown.stdout
        timeline = await cli("ticket", "timeline", t.id)
        assert "approved escalation" in timeline.stdout

    async def test_reopen_and_open_from_flags(self, tickets: TicketClient, cli: Cli) -> None:
        """A ticket opened from flags can be resolved and reopened by hand."""
        tid = ticket().id
        result = await cli(
            "ticket", "open", "--id", tid, "--subject", "VPN drops", "--channel", "chat",
            "--customer-id", "C-9", "--customer-name", "Bo", "--customer-status", "vip",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        await wait_for(tickets, tid, lambda s: s.state == "tier2")  # VIPs skip tier 1
        # Tier2/technical's supervisor acts on it (frontline's may only read it).
        tier2 = ("--actor", "Riley Chen")
        assert (await cli("ticket", "resolve", tid, "rebooted", *tier2)).exit_code == 0
        reopened = await cli("ticket", "reopen", tid, "it dropped again", *tier2)
        assert reopened.exit_code == 0, reopened.output
        assert "tier2" in reopened.stdout
        listed = await cli("tickets", "list", "--customer-status", "vip", "--json")
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert tid in {r["ticket_id"] for r in rows}
        assert {r["customer_status"] for r in rows} == {"vip"}


class TestErrors:
    async def test_rejected_action_is_one_line_and_exit_1(
        self, tickets: TicketClient, cli: Cli
    ) -> None:
        """An action the state does not allow prints the domain's message, nothing more."""
        t = ticket()
        await tickets.open(t, fast_policy(resolution="1h"))
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        result = await cli("ticket", "approve", t.id)
        assert result.exit_code == 1
        assert "cannot 'approve'" in one_error_line(result.stderr)

    async def test_approval_by_a_made_up_name_is_refused(
        self, tickets: TicketClient, cli: Cli
    ) -> None:
        """Issue 13: approving as someone the policy does not name is one line and exit 1."""
        t = ticket("Dashboard totals are wrong", customer={"status": "vip"})
        await tickets.open(t, fast_policy(resolution="1h"))
        await wait_for(tickets, t.id, lambda s: s.state == "tier2")
        asked = await cli(
            "ticket", "request-escalation", t.id, "--reason", "limited_access",
            "--actor", "Robin Ortiz",
        )  # fmt: skip
        assert asked.exit_code == 0, asked.output
        result = await cli("ticket", "approve", t.id, "--actor", "random-bob-123")
        assert result.exit_code == 1
        assert one_error_line(result.stderr) == (
            "error: only a supervisor or above of tier2/technical other than the requester — "
            "Riley Chen, Morgan Lee, Dana Fox — may approve; 'random-bob-123' is not one of "
            "the policy's people"
        )
        assert (await tickets.status(t.id)).state == "approval"

    async def test_unknown_ticket(self, tickets: TicketClient, cli: Cli) -> None:
        """Reading or acting on a ticket that was never opened says so."""
        for args in (("show", "NOPE-1"), ("note", "NOPE-1", "hello")):
            result = await cli("ticket", *args)
            assert result.exit_code == 1
            assert "no ticket 'NOPE-1'" in one_error_line(result.stderr)

    async def test_bad_input_names_the_field(self, cli: Cli) -> None:
        """Input the models refuse is reported as field: message, before any connection."""
        result = await cli("ticket", "feedback", "T-1", "9")
        assert result.exit_code == 1
        assert "score: " in one_error_line(result.stderr)

    def test_unreachable_server(self) -> None:
        """No server at the address: one line that says where we looked."""
        argv = ["--address", "127.0.0.1:1", "ticket", "show", "T-1"]
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 1
        assert "cannot reach the Temporal server at 127.0.0.1:1" in one_error_line(result.stderr)


class TestPolicy:
    def test_check_explains_a_valid_policy(self) -> None:
        """A valid policy is explained: tiers, SLA table, ladder and rules in words."""
        result = CliRunner().invoke(app, ["policy", "check", DEFAULT_POLICY_FILE])
        assert result.exit_code == 0, result.output
        for words in ("valid", "tier2", "SLA targets", "escalation ladder", "vip-skips-tier1"):
            assert words in result.stdout

    def test_check_lists_problems_with_key_paths(self, tmp_path: Path) -> None:
        """A broken policy fails with every problem located by its key path."""
        path = tmp_path / "broken.yaml"
        path.write_text(BROKEN_POLICY, encoding="utf-8")
        result = CliRunner().invoke(app, ["policy", "check", str(path)])
        assert result.exit_code == 1
        assert "tiers.0.colour: unknown key" in result.stderr
        assert "follow_up: required key is missing" in result.stderr

    def test_diagram_is_mermaid(self) -> None:
        """The diagram is a Mermaid state diagram over the policy's tiers."""
        result = CliRunner().invoke(app, ["policy", "diagram"])
        assert result.exit_code == 0
        assert result.stdout.startswith("stateDiagram-v2")
        assert "tier3" in result.stdout


class TestLastResort:
    def test_unexpected_exception_is_one_line(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A bug in a command is one "internal error" line naming the exception type only."""

        def broken(policy: object) -> None:
            raise RuntimeError("s3cret detail")

        monkeypatch.setattr("tierflow.cli.policy.explain", broken)
        monkeypatch.delenv("TIERFLOW_DEBUG", raising=False)
        result = CliRunner().invoke(app, ["policy", "check", DEFAULT_POLICY_FILE])
        assert result.exit_code == 1
        line = one_error_line(result.stderr)
        assert line.startswith("error: internal error (RuntimeError); run with TIERFLOW_DEBUG=1")
        assert "s3cret" not in result.output

    def test_debug_shows_the_traceback_without_locals(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With TIERFLOW_DEBUG=1 the traceback is shown, still without local variables."""

        def broken(policy: object) -> None:
            token = "s3cret-local"  # a local a rich traceback would show
            raise RuntimeError(f"boom {len(token)}")

        monkeypatch.setattr("tierflow.cli.policy.explain", broken)
        monkeypatch.setenv("TIERFLOW_DEBUG", "1")
        result = CliRunner().invoke(app, ["policy", "check", DEFAULT_POLICY_FILE])
        assert result.exit_code == 1
        assert "Traceback" in result.stderr
        assert "RuntimeError: boom 12" in result.stderr
        assert "s3cret-local'" not in result.stderr.replace('token = "s3cret-local"', "")
        assert result.stderr.splitlines()[-1].startswith("error: internal error (RuntimeError)")


class TestConsoleScript:
    @pytest.mark.parametrize(
        ("argv", "code"),
        [(["policy", "diagram"], 0), (["nope"], 2), (["policy", "check", "/nonexistent"], 1)],
    )
    def test_run_returns_the_exit_code(
        self, argv: list[str], code: int, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The entry point's run() gives the code main() hands to os._exit."""
        assert run(argv) == code
        if code:
            assert capsys.readouterr().err.startswith("error: ")
