"""The command line against hostile and malformed invocations: files and arguments that are
wrong in every way a user (or a fuzzer) can make them. Whatever comes in, the answer is one
``error:`` line and exit code 1 (2 for bad usage) — never a traceback — and nothing reaches a
ticket: no workflow starts, and an existing ticket's history does not grow."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError
from typer.testing import CliRunner, Result

from tests.interfaces.conftest import CLI_ACTOR
from tests.interfaces.support import settle
from tests.workflows.support import fast_policy, ticket, wait_for
from tierflow.cli import app
from tierflow.cli.render import shown
from tierflow.client import TicketClient, workflow_id_for
from tierflow.statemachine.inputs import MAX_FILE_BYTES

SEED = 11  # the generator is seeded: a failure names a case that reproduces
TIERFLOW = Path(sys.executable).with_name("tierflow")  # the real console script
CONCURRENCY = 4  # subprocesses at once (the machine may have 2 cores)


@dataclass(frozen=True)
class Case:
    """One invocation and the exit code it must end with (None: 1 or 2)."""

    name: str
    args: tuple[str, ...]
    code: int | None = None
    env: tuple[tuple[str, str], ...] = ()


# -- generating malformed input ------------------------------------------------------------------


def valid_ticket_data(ticket_id: str) -> dict[str, Any]:
    """A ticket file that would open a ticket (each malformed file breaks one thing in it)."""
    return json.loads(ticket(id=ticket_id).model_dump_json())  # type: ignore[no-any-return]


def policy_text() -> str:
    return Path("tierflow/statemachine/policies/default.yaml").read_text(encoding="utf-8")


def malformed_files(rng: random.Random, ticket_id: Any) -> Iterator[tuple[str, bytes]]:
    """(name, content) of files that no command may accept, as policy or as ticket.
    ``ticket_id(name)`` gives the id a ticket file would open, should it get through."""
    yield "empty", b""
    yield "not-utf8", b"name: caf\xe9\nid: \xff\xfe\n"
    yield "utf16", json.dumps(valid_ticket_data(ticket_id("utf16"))).encode("utf-16")
    yield "list", b"[1, 2, 3]\n"
    yield "string", b'"just a string"\n'
    yield "null", b"null\n"
    for depth in (33, 200, 5_000):
        yield f"json-deep-{depth}", b"[" * depth + b"]" * depth
        yield f"json-deep-object-{depth}", b'{"a": ' * depth + b"1" + b"}" * depth
        yield f"yaml-deep-flow-{depth}", b"a: " + b"{b: " * depth + b"1" + b"}" * depth
    yield "yaml-deep-block", "".join("  " * i + f"k{i}:\n" for i in range(100)).encode()
    for digits in (31, 5_000, 100_000):
        data = valid_ticket_data(ticket_id(f"int-{digits}"))
        text = json.dumps(data).replace(
            '"impacted_customers": 1', '"impacted_customers": ' + "9" * digits
        )
        yield f"json-int-{digits}", text.encode()
        yield (
            f"yaml-int-{digits}",
            policy_text().replace("level: 1", "level: " + "7" * digits).encode(),
        )
    yield "yaml-hex-int", b"level: 0x" + b"f" * 5_000 + b"\n"
    yield "yaml-tagged-int", b"level: !!int not-a-number\n"
    yield "yaml-python-tag", b"name: !!python/object/apply:os.system [echo pwned]\n"
    bomb = ["a: &a [1,1,1,1,1,1,1,1,1,1]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):  # 10**9 values expanded
        bomb.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]")
    yield "yaml-alias-bomb", "\n".join(bomb).encode()
    for key, value in (("customer", "bob"), ("customer", 5), ("customer", ["C-1"])):
        data = valid_ticket_data(ticket_id(f"customer-{type(value).__name__}"))
        data[key] = value
        yield f"customer-{type(value).__name__}", json.dumps(data).encode()
    for key, value in (("subject", 5), ("created_at", "yesterday"), ("channel", "fax")):
        data = valid_ticket_data(ticket_id(f"field-{key}"))
        data[key] = value
        yield f"field-{key}", json.dumps(data).encode()
    data = valid_ticket_data(ticket_id("secret-email"))
    data["customer"]["email"] = "s3cret-ana@@example"
    yield "secret-email", json.dumps(data).encode()
    # Random damage that no JSON or YAML reader accepts: a C0 control character, or a byte
    # that cannot occur in UTF-8, at a random place in a valid file.
    for n in range(6):
        for kind, valid in (
            ("ticket", json.dumps(valid_ticket_data(ticket_id(f"damaged-{n}"))).encode()),
            ("policy", policy_text().encode()),
        ):
            at = rng.randrange(len(valid))
            bad = bytes([rng.choice([*range(9), *range(14, 32)])]) if n % 2 else b"\xc0"
            yield f"damaged-{kind}-{n}", valid[:at] + bad + valid[at:]
    for n in range(4):
        yield f"random-bytes-{n}", rng.randbytes(rng.randrange(1, 400))
    padded = json.dumps(valid_ticket_data(ticket_id("padded"))).encode()
    yield "one-byte-too-many", padded + b" " * (MAX_FILE_BYTES + 1 - len(padded))


def file_cases(tmp: Path, rng: random.Random, opened: list[str]) -> list[Case]:
    """Every malformed file under every command that reads a file."""

    def ticket_id(name: str) -> str:
        opened.append(f"T-hostile-{name}")
        return opened[-1]

    paths: list[Path] = []
    for name, content in malformed_files(rng, ticket_id):
        path = tmp / f"{name}.data"
        path.write_bytes(content)
        paths.append(path)
    sparse = tmp / "sparse-50MiB.json"
    with sparse.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # no data written: the size is checked before reading
    many_keys = tmp / "300k-keys.yaml"
    many_keys.write_text("{" + ", ".join(f"k{i}: 1" for i in range(300_000)) + "}\n")
    paths += [sparse, many_keys, tmp / "missing.yaml", tmp]
    cases: list[Case] = []
    for path in paths:
        p = str(path)
        pid = ticket_id(f"flags-{path.stem}")
        flags: tuple[str, ...] = ("--id", pid, "--subject", "s", "--channel", "email")
        flags += ("--customer-id", "C-1", "--customer-name", "Ana")
        cases += [
            Case(f"policy check {path.name}", ("policy", "check", p), 1),
            Case(f"policy diagram {path.name}", ("policy", "diagram", p), 1),
            Case(f"ticket open --file {path.name}", ("ticket", "open", "--file", p), 1),
            Case(f"ticket open --policy {path.name}", ("ticket", "open", *flags, "--policy", p), 1),
        ]
    return cases


BAD_ADDRESSES = (
    "localhost:99999", "localhost:0", "localhost:", ":7233", "localhost", "local host:7233",
    "[::1", "localhost:-1", "localhost:7233\n", "localhost:" + "9" * 5_000, "http://x:1/",
    "\x1b[31mred:1",
)  # fmt: skip
BAD_TEXT = ("tier2\n", "tier2' OR TicketTier != '", "\x1b[31m", "", " ", "\t", "a" * 5_000)


def argument_cases(existing: str, rng: random.Random, opened: list[str]) -> list[Case]:
    """Bad options, values, ids and actions (``existing`` is an open ticket in tier 1)."""
    cases = [
        Case(f"--address {a!r}", ("--address", a, "tickets", "list"), 2) for a in BAD_ADDRESSES
    ]
    cases += [
        Case(f"{cmd} --address {a!r}", ("--address", a, cmd), 2)
        for cmd in ("worker", "api")
        for a in rng.sample(BAD_ADDRESSES, 2)
    ]
    cases += [Case("--namespace newline", ("--namespace", "a\nb", "tickets", "list"), 2)]
    cases += [Case("--task-queue control", ("--task-queue", "q\x07", "tickets", "list"), 2)]
    cases += [
        Case(f"tickets list --{f} {v!r}", ("tickets", "list", f"--{f}", v), 1)
        for f in ("tier", "state", "team")
        for v in BAD_TEXT
        if v  # an empty filter is no filter
    ]
    for bad_id in ("T-1\n", "T 1", "", "x" * 129, "ü", "\x1b[2J", "../T-1", "T-1'"):
        cases += [
            Case(f"show {bad_id!r}", ("ticket", "show", bad_id), 2),
            Case(f"note {bad_id!r}", ("ticket", "note", bad_id, "hello"), 2),
        ]
    opened.append("T-hostile-enum")
    base: tuple[str, ...] = (
        "ticket",
        "open",
        "--id",
        opened[-1],
        "--subject",
        "s",
        "--customer-id",
        "C",
    )
    base += ("--customer-name", "Ana")
    cases += [
        Case("open --channel fax", (*base, "--channel", "fax"), 2),
        Case("open --priority 'high\\n'", (*base, "--channel", "email", "--priority", "high\n"), 2),
        Case(
            "open --customer-status gold",
            (*base, "--channel", "web", "--customer-status", "gold"),
            2,
        ),
        Case("open --email bad", (*base, "--channel", "web", "--email", "a@@b"), 1),
        Case("open --phone 5000 digits", (*base, "--channel", "web", "--phone", "1" * 5000), 1),
        Case("open --subject blank", (*base[:4], "--subject", " \n", "--channel", "web"), 1),
        Case(
            "open without a customer", ("ticket", "open", "--id", opened[-1], "--subject", "s"), 1
        ),
        Case("list --priority bogus", ("tickets", "list", "--priority", "bogus"), 2),
        Case("list --limit 0", ("tickets", "list", "--limit", "0"), 2),
        Case("list --limit huge", ("tickets", "list", "--limit", "9" * 5000), 2),
        Case("report --limit -1", ("report", "--limit", "-1"), 2),
        Case("unknown command", ("nope",), 2),
        Case("unknown option", ("tickets", "list", "--bogus"), 2),
        Case("bad env address", ("tickets", "list"), 1, (("TIERFLOW_TEMPORAL_ADDRESS", "x:0"),)),
        Case("bad env cache", ("worker",), 1, (("TIERFLOW_MAX_CACHED_WORKFLOWS", "x"),)),
        Case("negative env cache", ("worker",), 1, (("TIERFLOW_MAX_CACHED_WORKFLOWS", "-5"),)),
    ]
    on = existing
    cases += [  # actions on the open ticket that must be refused before its history grows
        Case("set-priority 'urgent\\n'", ("ticket", "set-priority", on, "urgent\n"), 2),
        Case("set-priority bogus", ("ticket", "set-priority", on, "x" * 5000), 2),
        Case("escalate --reason bogus", ("ticket", "escalate", on, "--reason", "bogus"), 2),
        Case("escalate without reason", ("ticket", "escalate", on), 2),
        Case("feedback 9", ("ticket", "feedback", on, "9"), 1),
        Case("feedback huge", ("ticket", "feedback", on, "9" * 5000), 2),
        Case("feedback -1", ("ticket", "feedback", on, "-1"), 2),
        Case("note blank", ("ticket", "note", on, " "), 1),
        Case("note too long", ("ticket", "note", on, "x" * 10_001), 1),
        Case("respond blank actor", ("ticket", "respond", on, "--actor", ""), 1),
        Case("assign blank", ("ticket", "assign", on, "\n"), 1),
        Case("resolve blank", ("ticket", "resolve", on, ""), 1),
        Case("reply too long", ("ticket", "reply", on, "--message", "x" * 10_001), 1),
        Case("approve in tier1", ("ticket", "approve", on), 1),
        Case("reject in tier1", ("ticket", "reject", on), 1),
        Case("reopen in tier1", ("ticket", "reopen", on, "why"), 1),
        Case("escalate to no tier", ("ticket", "escalate", on, "--tier", "tier9", "--reason",
                                     "limited_knowledge"), 1),
    ]  # fmt: skip
    for n in range(10):  # random control and non-ASCII characters in every text argument
        noise = "".join(chr(rng.choice([*range(32), 0x7F, 0x85, 0x2028, 0xFFFF])) for _ in range(6))
        noise = noise.replace("\x00", "")  # a process argument cannot hold NUL
        cases += [
            Case(f"noise {n} as ticket id", ("ticket", "timeline", f"T{noise}"), 2),
            Case(f"noise {n} as tier", ("tickets", "list", "--tier", f"t{noise}"), 1),
            Case(f"noise {n} as priority", ("ticket", "set-priority", on, f"high{noise}"), 2),
        ]  # fmt: skip
    return cases


# -- checking the answers ------------------------------------------------------------------------


def check_refused(case: Case, code: int, stdout: str, stderr: str) -> None:
    """Refused, in one line (a policy's problems may follow, indented), nothing more."""
    where = f"{case.name}: exit {code}\nstdout: {stdout[:500]}\nstderr: {stderr[:2000]}"
    assert code != 0, where
    assert code == case.code if case.code is not None else code in (1, 2), where
    assert "Traceback" not in stdout + stderr, where
    assert "Fatal Python error" not in stderr, where
    lines = stderr.splitlines()
    assert lines, where
    assert lines[0].startswith("error: "), where
    if case.args[0] == "policy":  # check and diagram list a policy's problems
        assert all(line.startswith("  ") for line in lines[1:]), where
        assert len(lines) <= 22, where
    else:
        assert len(lines) == 1, where
    assert all(len(line) <= 420 for line in lines), where  # no huge value echoed back
    assert "s3cret" not in stderr, where


def invoke(case: Case, prefix: Sequence[str]) -> Result:
    runner = CliRunner()
    return runner.invoke(app, [*prefix, *case.args], env=dict(case.env), catch_exceptions=True)


async def quiet_history_length(client: Client, ticket_id: str) -> int:
    """The ticket's history length once its workflow has nothing in flight (eventually)."""
    handle = client.get_workflow_handle(workflow_id_for(ticket_id))
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        raw = (await handle.describe()).raw_description
        events = [e async for e in handle.fetch_history_events()]
        idle = not raw.pending_activities and not raw.HasField("pending_workflow_task")
        # Quiet: the last workflow task completed, followed only by its own commands (its
        # local activity's marker, a timer), with no new task or activity since.
        kinds = [e.event_type for e in events]
        done = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        last = max((i for i, k in enumerate(kinds) if k == done), default=None)
        busy = {
            EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        }
        if idle and last is not None and not busy & set(kinds[last:]):
            return len(events)
        assert asyncio.get_running_loop().time() < deadline, "the ticket never went quiet"
        await asyncio.sleep(0.2)


async def assert_never_started(client: Client, ticket_ids: Sequence[str]) -> None:
    for ticket_id in ticket_ids:
        with pytest.raises(RPCError, match="not found"):
            await client.get_workflow_handle(workflow_id_for(ticket_id)).describe()


async def run_script(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``tierflow <args>`` as a real process: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        str(TIERFLOW),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TIERFLOW_DEBUG": "", **(env or {})},
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def run_many(commands: Sequence[Sequence[str]]) -> list[tuple[int, str, str]]:
    """Run the commands as processes, :data:`CONCURRENCY` at a time, in order."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(args: Sequence[str]) -> tuple[int, str, str]:
        async with limit:
            return await run_script(*args)

    return list(await asyncio.gather(*(one(args) for args in commands)))


async def open_quiet_ticket(tickets: TicketClient, client: Client) -> tuple[str, int]:
    t = ticket()
    await tickets.open(t, fast_policy(resolution="1h", warning_fraction=0.9))
    await wait_for(tickets, t.id, lambda s: s.state == "tier1")
    return t.id, await quiet_history_length(client, t.id)


# -- the tests -----------------------------------------------------------------------------------


class TestMalformedInvocations:
    async def test_generated_invocations_are_refused_in_one_line(
        self, tickets: TicketClient, client: Client, address: str, task_queue: str, tmp_path: Path
    ) -> None:
        """About 250 malformed files and arguments: each is one error line, exit 1 or 2, and no
        ticket is opened or touched."""
        existing, length = await open_quiet_ticket(tickets, client)
        rng = random.Random(SEED)
        opened: list[str] = []
        cases = file_cases(tmp_path, rng, opened) + argument_cases(existing, rng, opened)
        assert len(cases) > 200
        prefix = ("--address", address, "--task-queue", task_queue)
        for case in cases:
            # Not when the case is about the address: its own must be the one checked.
            about_address = case.args[0] == "--address" or "TIERFLOW_TEMPORAL_ADDRESS" in dict(
                case.env
            )
            argv_prefix = () if about_address else prefix
            result = await asyncio.to_thread(invoke, case, argv_prefix)
            check_refused(case, result.exit_code, result.stdout, result.stderr)
            assert result.exception is None or isinstance(result.exception, SystemExit), case

        await assert_never_started(client, opened)
        only = await settle(lambda: tickets.list(task_queue=task_queue), expected=1)
        assert [row.ticket_id for row in only] == [existing]
        assert await quiet_history_length(client, existing) == length

    async def test_real_processes_refuse_in_one_line(
        self, tickets: TicketClient, client: Client, address: str, task_queue: str, tmp_path: Path
    ) -> None:
        """The console script itself: the same refusals from a real process (exit 1 or 2, no
        traceback, no abort at exit)."""
        existing, length = await open_quiet_ticket(tickets, client)
        deep = tmp_path / "deep.yaml"
        deep.write_text("[" * 5_000 + "]" * 5_000)
        sparse = tmp_path / "big.json"
        with sparse.open("wb") as f:
            f.truncate(50 * 1024 * 1024)
        bob = tmp_path / "bob.json"
        data = valid_ticket_data("T-hostile-bob")
        data["customer"] = "bob"
        bob.write_text(json.dumps(data))
        on = ("--address", address, "--task-queue", task_queue)
        cases = [
            Case("deep policy", ("policy", "check", str(deep)), 1),
            Case("50 MiB ticket", ("ticket", "open", "--file", str(sparse)), 1),
            Case("customer bob", (*on, "ticket", "open", "--file", str(bob)), 1),
            Case("bad port", ("--address", "localhost:99999", "tickets", "list"), 2),
            Case("tier with newline", (*on, "tickets", "list", "--tier", "tier2\n"), 1),
            Case("approve in tier1", (*on, "ticket", "approve", existing), 1),
            Case("huge score", ("ticket", "feedback", existing, "9" * 5_000), 2),
            Case("unknown command", ("nope",), 2),
        ]
        results = await run_many([case.args for case in cases])
        for case, (code, out, err) in zip(cases, results, strict=True):
            check_refused(case, code, out, err)
        await assert_never_started(client, ["T-hostile-bob"])
        assert await quiet_history_length(client, existing) == length


class TestProcessExit:
    async def test_many_short_runs_exit_cleanly(
        self, tickets: TicketClient, client: Client, address: str, task_queue: str
    ) -> None:
        """30 short commands that talk to the server, as real processes: every one exits 0 and
        none aborts at interpreter shutdown (Temporal's runtime threads, sdk-python#300; about
        one run in 30 aborted before the console script ended with os._exit)."""
        existing, _ = await open_quiet_ticket(tickets, client)
        await settle(lambda: tickets.list(task_queue=task_queue), expected=1)
        on = ("--address", address, "--task-queue", task_queue)
        listing, showing = (*on, "tickets", "list", "--json"), (*on, "ticket", "show", existing)
        commands = [listing] * 24 + [showing] * 6
        results = await run_many(commands)
        for args, (code, out, err) in zip(commands, results, strict=True):
            assert "Fatal Python error" not in err, err
            assert (code, err) == (0, ""), (args, code, err)
            assert existing in out

    @pytest.mark.parametrize(
        ("command", "ready", "stopped", "codes"),
        [
            (("worker",), "worker started", "worker stopped", {0}),
            # uvicorn re-raises the signal it caught once it has shut down, by design.
            (("api", "--port", "0"), "startup complete", "shutdown complete", {0, -signal.SIGTERM}),
        ],
    )
    async def test_long_running_commands_stop_on_sigterm(
        self,
        address: str,
        task_queue: str,
        command: tuple[str, ...],
        ready: str,
        stopped: str,
        codes: set[int],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """`tierflow worker` and `tierflow api` run until SIGTERM, then shut down cleanly."""
        keys = tmp_path / "api-keys"  # the API starts only with identities configured
        keys.write_text(f"sha256:{'0' * 64} 'Alex Kim'\n")
        monkeypatch.setenv("TIERFLOW_API_KEYS_FILE", str(keys))
        process = await asyncio.create_subprocess_exec(
            str(TIERFLOW),
            "--address",
            address,
            "--task-queue",
            task_queue,
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        seen: list[str] = []
        try:
            async with asyncio.timeout(60):
                while ready not in "".join(seen):
                    line = await process.stderr.readline()
                    assert line, f"exited before {ready!r}: {''.join(seen)}"
                    seen.append(line.decode(errors="replace"))
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                rest = await process.stderr.read()
                code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        output = "".join(seen) + rest.decode(errors="replace")
        assert code in codes, output
        assert stopped in output
        assert "Traceback" not in output
        assert "Fatal Python error" not in output


def test_policy_check_of_a_near_limit_file_lists_few_problems(tmp_path: Path) -> None:
    """A policy just under the size cap with 40,000 unknown keys: refused with the first
    problems listed and a count of the rest, not 40,000 lines."""
    path = tmp_path / "many.yaml"
    data = yaml.safe_load(policy_text())
    data.update({f"key-number-{i}": 1 for i in range(40_000)})
    path.write_text(yaml.safe_dump(data, default_flow_style=True, width=10**9))
    assert path.stat().st_size < MAX_FILE_BYTES
    result = CliRunner().invoke(app, ["policy", "check", str(path)])
    case = Case("near-limit", ("policy", "check", str(path)), 1)
    check_refused(case, result.exit_code, result.stdout, result.stderr)
    assert "40000 problems" in result.stderr
    assert "… and 39980 more" in result.stderr


class TestCustomerTextOnTheTerminal:
    async def test_markup_and_escapes_in_ticket_text_are_printed_as_text(
        self, tickets: TicketClient, address: str, task_queue: str
    ) -> None:
        """A subject and an agent's note written as rich markup (colours, an OSC 8 hyperlink)
        are printed as the literal text by `ticket show`, `ticket timeline` and `tickets list`,
        on a terminal that takes colours: no hyperlink and no colour of the customer's choosing.
        """
        subject = "Help [red]now[/red] [link=https://evil.example]click[/link]"
        t = ticket(subject)
        await tickets.open(t, fast_policy(resolution="1h", warning_fraction=0.9))
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        await tickets.note(t.id, {"actor": CLI_ACTOR, "text": subject})
        await settle(lambda: tickets.list(task_queue=task_queue), expected=1)
        on = ("--address", address, "--task-queue", task_queue)
        terminal = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "400"}
        commands = [("ticket", "show", t.id), ("ticket", "timeline", t.id), ("tickets", "list")]
        results = [await run_script(*on, *args, env=terminal) for args in commands]
        for args, (code, out, err) in zip(commands, results, strict=True):
            assert (code, err) == (0, ""), (args, err)
            assert "\x1b[" in out, "the terminal takes colours: the CLI's own styles show"
            assert "\x1b]8;" not in out, (args, out)  # no OSC 8 hyperlink
            # No red of the customer's choosing (the list's own styles may mark other
            # tickets of the shared test server).
            assert "\x1b[31mnow" not in out, (args, out)
            if args[0] == "ticket":
                assert "\x1b[31m" not in out, (args, out)
            # The list shows the ticket's UI summary, whose Markdown is escaped (`\[`).
            assert subject in out.replace("\\", ""), (args, out)

    def test_escape_sequences_and_markup_are_neutralised(self) -> None:
        """`shown`, the one helper every CLI output path uses: OSC 8 links, colours (7-bit and
        C1), bidi overrides and line breaks become spaces; rich markup is escaped."""
        text = "\x1b]8;;https://e\x07x\x1b]8;;\x07 \x1b[31mred\x1b[0m [b]b[/b] \x9b31mc\u202e\nz"

        assert shown(text) == "x red \\[b]b\\[/b] c  z"


def test_policy_check_refuses_what_is_not_a_regular_file(
    tmp_path: Path, tierflow_command: Path
) -> None:
    """A FIFO (which would block a reader for ever) and a device (which never ends) are each
    one error line, at once, exit 1; so is a key file that is a FIFO."""
    fifo = tmp_path / "policy.fifo"
    os.mkfifo(fifo)
    cases = [
        ("policy", "check", str(fifo)),
        ("policy", "check", "/dev/zero"),
    ]
    for args in cases:
        done = subprocess.run(
            [str(tierflow_command), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 1, (args, done.stderr)
        assert "not a regular file" in done.stderr, (args, done.stderr)
        assert done.stderr.count("\n") == 1, (args, done.stderr)
    keys = subprocess.run(
        [str(tierflow_command), "keys", "check"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "TIERFLOW_ENCRYPTION_KEYS": str(fifo)},
    )
    assert (keys.returncode, "not a regular file" in keys.stderr) == (1, True), keys.stderr


def test_insecure_no_auth_serves_loopback_only(tierflow_command: Path) -> None:
    """`tierflow api --insecure-no-auth` on any interface but loopback is refused at once
    (exit 2, one line); it never starts serving everyone."""
    for host in ("0.0.0.0", "api.example.com"):
        done = subprocess.run(
            [str(tierflow_command), "api", "--insecure-no-auth", "--host", host, "--port", "0"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("TIERFLOW_")},
        )
        assert done.returncode == 2, (host, done.stderr)
        assert "loopback" in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
