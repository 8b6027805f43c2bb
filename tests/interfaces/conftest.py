"""Fixtures for the interface tests: a worker running on the test's task queue, and the CLI run
in a thread (it calls ``asyncio.run`` itself, so it cannot share the test's event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from tests.workflows.support import running_worker
from tierflow.cli import app
from tierflow.client import TicketClient

Cli = Callable[..., Awaitable[Result]]
# Who the command line acts as without --actor: a person of the test policies (a supervisor of
# tier 1), since the ticket's policy refuses anyone it does not name.
CLI_ACTOR = "Alex Kim"


@pytest.fixture(autouse=True)
def _cli_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI commands (in process and as child processes) act as :data:`CLI_ACTOR`."""
    monkeypatch.setenv("TIERFLOW_ACTOR", CLI_ACTOR)


@pytest_asyncio.fixture
async def tickets(client: Client, task_queue: str) -> AsyncIterator[TicketClient]:
    """A ticket client with a worker polling the test's task queue for the whole test."""
    async with running_worker(client, task_queue) as ticket_client:
        yield ticket_client


@pytest.fixture
def address(temporal_env: WorkflowEnvironment) -> str:
    """host:port of the session's dev server."""
    return str(temporal_env.client.service_client.config.target_host)


@pytest.fixture
def cli(address: str, task_queue: str) -> Cli:
    """Run ``tierflow <args>`` against the test server and queue, in a worker thread."""
    runner = CliRunner()

    async def invoke(*args: str, **kwargs: Any) -> Result:
        argv = ["--address", address, "--task-queue", task_queue, *args]
        return await asyncio.to_thread(lambda: runner.invoke(app, argv, **kwargs))

    return invoke
