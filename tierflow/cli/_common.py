"""What every command shares: settings, consoles, running async work, and turning errors into
one red line on stderr with a non-zero exit code (never a traceback)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from statemachine import PolicyError
from tierflow.client import TicketClient, TicketError
from tierflow.config import TemporalSettings
from tierflow.connect import ServerUnreachableError, connect

T = TypeVar("T")

# Consoles look up sys.stdout/sys.stderr at write time, so test runners can capture them.
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def default_actor() -> str:
    """Who acts when ``--actor`` is not given: TIERFLOW_ACTOR, else the login name."""
    return os.environ.get("TIERFLOW_ACTOR") or os.environ.get("USER") or "agent"


def settings_of(ctx: typer.Context) -> TemporalSettings:
    """The connection settings the global options chose (see the app callback)."""
    root = ctx.find_root()
    if isinstance(root.obj, TemporalSettings):
        return root.obj
    return TemporalSettings()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` in red on stderr and exit with ``code``."""
    err_console.print(f"error: {message}", style="red", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def validation_message(err: ValidationError) -> str:
    """A pydantic error as ``field: message; other.field: message``."""
    parts = []
    for item in err.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "input"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


@contextmanager
def guarded() -> Iterator[None]:
    """Turn every expected failure into :func:`fail`; anything else is a bug and may show."""
    try:
        yield
    except PolicyError as err:
        fail(str(err).replace("\n", "; "))
    except (TicketError, ServerUnreachableError) as err:
        fail(str(err))
    except ValidationError as err:
        fail(validation_message(err))
    except KeyboardInterrupt:
        fail("interrupted", code=130)


def run_with_client(ctx: typer.Context, work: Callable[[TicketClient], Awaitable[T]]) -> T:
    """Connect with the global options' settings and run ``work`` on a ticket client."""
    settings = settings_of(ctx)

    async def main() -> T:
        client = await connect(settings.temporal_address, settings.namespace)
        return await work(TicketClient(client, settings.task_queue))

    with guarded():
        return asyncio.run(main())
    raise AssertionError("unreachable")  # guarded() either returns or exits
