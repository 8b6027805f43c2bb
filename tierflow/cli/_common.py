"""What every command shares: settings, consoles, running async work, and turning errors into
one red line on stderr with a non-zero exit code (never a traceback).

Exit codes: 0 done, 1 refused or failed (bad input, rejected action, unreachable server,
internal error), 2 bad usage (unknown option, bad option value), 75 the ticket cannot answer
now (its workflow task is failing: :class:`~tierflow.errors.TicketNotReady`; retry later),
130 interrupted.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from temporalio.service import RPCError
from typer import _click  # typer vendors click; its exceptions are not re-exported
from typer.core import TyperGroup

from tierflow.client import TicketBusy, TicketClient, TicketError, TicketNotReady
from tierflow.config import TemporalSettings
from tierflow.connect import ServerUnreachableError, address_problem, connect
from tierflow.statemachine import PolicyError
from tierflow.statemachine.inputs import InputError, clip, quoted

T = TypeVar("T")

# Consoles look up sys.stdout/sys.stderr at write time, so test runners can capture them.
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# The ticket cannot answer now, though Temporal and a worker do (sysexits' EX_TEMPFAIL: "a
# temporary failure; the user is invited to retry").
EXIT_NOT_READY = 75
MAX_MESSAGE = 300  # characters of one error line
MAX_LISTED = 20  # problems listed under a policy error
DEBUG_VARIABLE = "TIERFLOW_DEBUG"
# A quoted value (a quote not closing a word, then no space) of 60 characters or more.
_LONG_QUOTED = re.compile(r"(?<![\w'\"])(['\"])(?=\S)(?:(?!\1).){60,}\1")


def default_actor() -> str:
    """Who acts when ``--actor`` is not given: TIERFLOW_ACTOR, else the login name."""
    return os.environ.get("TIERFLOW_ACTOR") or os.environ.get("USER") or "agent"


@dataclass(frozen=True)
class GlobalOptions:
    """The app callback's connection options, as given (None: from the environment)."""

    address: str | None = None
    namespace: str | None = None
    task_queue: str | None = None
    profile: str | None = None
    config_file: Path | None = None
    tls: bool | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    tls_server_name: str | None = None


def settings_of(ctx: typer.Context) -> TemporalSettings:
    """The connection settings: the global options over Tierflow's environment, checked before
    any command connects (a malformed address is refused here, naming where it came from).
    What neither sets comes from the Temporal configuration when connecting (TEMPORAL_*,
    profiles: :func:`tierflow.connect.resolve`)."""
    root = ctx.find_root()
    given = root.obj if isinstance(root.obj, GlobalOptions) else GlobalOptions()
    try:
        env = TemporalSettings()
    except ValidationError as err:
        bad = {str(item["loc"][0]) for item in err.errors() if item["loc"]}
        names = ", ".join(f"TIERFLOW_{name.upper()}" for name in sorted(bad)) or "TIERFLOW_*"
        fail(f"invalid environment variable {names}: {validation_message(err)}")
    address = given.address or env.temporal_address
    problem = address_problem(address) if address is not None else None
    if address is not None and problem is not None:
        where = "--address" if given.address else "TIERFLOW_TEMPORAL_ADDRESS"
        fail(f"invalid {where} {quoted(address)}: {problem}", code=2 if given.address else 1)
    settings = TemporalSettings(
        temporal_address=address,
        namespace=given.namespace or env.namespace,
        task_queue=given.task_queue or env.task_queue,
        profile=given.profile,
        config_file=given.config_file,
        tls=given.tls,
        tls_cert=given.tls_cert,
        tls_key=given.tls_key,
        tls_ca=given.tls_ca,
        tls_server_name=given.tls_server_name,
    )
    for option, value in (
        ("--namespace", settings.namespace),
        ("--task-queue", settings.task_queue),
        ("--profile", settings.profile),
        ("--tls-server-name", settings.tls_server_name),
    ):
        if value is None:
            continue
        if len(value) > 200 or not value.isprintable() or not value.strip():
            fail(f"invalid {option} {quoted(value)}: use up to 200 printable characters", 2)
    return settings


def one_line(message: str) -> str:
    """A message fit for one terminal line: no line breaks or control characters, quoted
    values cut to about 60 characters, the whole cut to :data:`MAX_MESSAGE`."""
    message = "; ".join(part.strip() for part in message.splitlines() if part.strip())
    message = _LONG_QUOTED.sub(lambda m: m.group(0)[:57] + "…" + m.group(0)[0], message)
    message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message[: MAX_MESSAGE * 2])
    return clip(message, MAX_MESSAGE)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` in red on stderr, on one line, and exit with ``code``."""
    err_console.print(f"error: {one_line(message)}", style="red", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def internal_error(err: BaseException) -> NoReturn:
    """A bug, not bad input: one line (a traceback without locals with TIERFLOW_DEBUG=1)."""
    if os.environ.get(DEBUG_VARIABLE):
        err_console.print(
            "".join(traceback.format_exception(err)), markup=False, soft_wrap=True, end=""
        )
    fail(
        f"internal error ({type(err).__name__}); run with {DEBUG_VARIABLE}=1 for details",
        code=1,
    )


def validation_message(err: ValidationError, limit: int = 5) -> str:
    """A pydantic error as ``field: message; other.field: message`` (the first few)."""
    items = err.errors(include_url=False)
    parts = []
    for item in items[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "input"
        parts.append(f"{clip(where)}: {item['msg']}")
    if len(items) > limit:
        parts.append(f"and {len(items) - limit} more")
    return "; ".join(parts)


def policy_problems(err: PolicyError, limit: int = MAX_LISTED) -> list[str]:
    """The first ``limit`` problems of a policy error as ``key.path: message``."""
    shown = err.problems[:limit]
    lines = [f"{clip(path)}: {message}" if path else message for path, message in shown]
    if len(err.problems) > limit:
        lines.append(f"… and {len(err.problems) - limit} more")
    return lines


def policy_summary(err: PolicyError) -> str:
    """A policy error on one line: the file, the first problem, how many more."""
    first = policy_problems(err, limit=1)[0] if err.problems else "invalid policy"
    more = len(err.problems) - 1
    tail = f" (and {more} more; `tierflow policy check` lists them)" if more > 0 else ""
    return f"{clip(err.source)} is not a valid policy: {first}{tail}"


@contextmanager
def guarded() -> Iterator[None]:
    """Turn every expected failure into :func:`fail`; anything else is left to the app's
    catch-all (:class:`GuardedGroup`), which reports it as an internal error."""
    try:
        yield
    except PolicyError as err:
        fail(policy_summary(err))
    except (TicketNotReady, TicketBusy) as err:
        fail(str(err), code=EXIT_NOT_READY)
    except (TicketError, ServerUnreachableError, InputError) as err:
        fail(str(err))
    except ValidationError as err:
        fail(validation_message(err))
    except RPCError as err:
        fail(f"the Temporal server refused the request: {err.message}")
    except KeyboardInterrupt:
        fail("interrupted", code=130)


@contextmanager
def _errors_as_one_line() -> Iterator[None]:
    try:
        yield
    except (typer.Exit, typer.Abort, _click.exceptions.NoArgsIsHelpError):
        raise
    except _click.exceptions.UsageError as err:
        message = one_line(err.format_message().replace("Value error, ", ""))[:200]
        message = message[:1].lower() + message[1:].rstrip(".")
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        fail(message + hint, code=err.exit_code)
    except _click.exceptions.ClickException as err:
        fail(err.format_message(), code=err.exit_code)
    except BrokenPipeError:
        # The reader went away (`tierflow … | head`): nothing is wrong, nothing more to say.
        # Python's own convention for a closed pipe: quiet, exit 0 (stdout sent to /dev/null
        # so that the interpreter's final flush does not complain either).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    except Exception as err:
        internal_error(err)


class GuardedGroup(TyperGroup):
    """The root command: usage errors become one ``error:`` line (exit 2) and any exception a
    command did not expect becomes one "internal error" line (exit 1), never a traceback."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: _click.Context | None = None,
        **extra: Any,
    ) -> _click.Context:
        with _errors_as_one_line():
            return super().make_context(info_name, args, parent, **extra)
        raise AssertionError("unreachable")

    def invoke(self, ctx: _click.Context) -> Any:
        with _errors_as_one_line():
            return super().invoke(ctx)
        raise AssertionError("unreachable")


def run_with_client(ctx: typer.Context, work: Callable[[TicketClient], Awaitable[T]]) -> T:
    """Connect with the global options' settings and run ``work`` on a ticket client."""
    settings = settings_of(ctx)

    async def main() -> T:
        client = await connect(settings)
        return await work(TicketClient(client, settings.task_queue))

    with guarded():
        return asyncio.run(main())
    raise AssertionError("unreachable")  # guarded() either returns or exits
