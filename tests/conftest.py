"""Shared fixtures: one real Temporal dev server per test session (per xdist worker), a fresh
task queue per test, and the lanes each test belongs to (by the fixtures it uses).

Integration tests never mock Temporal: the server is the Temporal CLI's dev server (the same
pinned binary `make demo` uses), started on free ports with Tierflow's search attributes.
Before it stops, the replay net (tests/replaynet.py) replays every ticket history it holds;
nondeterminism fails the run (``--no-replay-net`` skips it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests import replaynet
from tierflow.devserver import ensure_temporal_binary
from tierflow.logs import configure_logging
from tierflow.replay import ReplayFailure, ReplayReport, replay_all
from tierflow.server_limits import dev_server_args
from tierflow.workflows import search_attributes

# How long the session's replay net may take in its teardown: well within pytest-timeout's
# 300 s for that teardown, with the server's shutdown after it.
REPLAY_NET_BUDGET = 200.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-replay-net",
        action="store_true",
        help="do not replay the session's ticket histories at its end (tests/replaynet.py)",
    )


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """The replay net's verdict, in a section of its own."""
    report = config.stash.get(replaynet.REPORT, None)
    if report is None:
        return
    terminalreporter.section("replay net", red=not report.ok, green=report.ok)
    for line in replaynet.summary_lines(report):
        terminalreporter.write_line(line, red=not report.ok)


# The lanes (pyproject.toml's markers): a test is marked by the fixtures it uses, directly or
# through other fixtures, never by hand. `make test-fast` deselects them all.
LANE_OF_FIXTURE = {
    "temporal_env": "integration",  # the session's dev server
    "temporal_binary": "devserver",  # a dev server of the test's own, as a subprocess
    "run_benchmark": "benchmark",  # a benchmark suite at its smoke size (tests/benchmarks)
    "chromium": "browser",  # the Temporal UI in a headless browser
    "tierflow_command": "subprocess",  # `tierflow …` as a child process (seconds to start)
    "worker_script": "subprocess",  # worker.py as a child process
    "temporal_cluster": "cluster",  # a Temporal cluster on PostgreSQL (tests/cluster)
    "cluster_benchmark": "cluster",  # the benchmarks on a cluster of their own (tests/cluster)
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the lanes of the fixtures in its closure."""
    for item in items:
        used = getattr(item, "fixturenames", ())
        for fixture, marker in LANE_OF_FIXTURE.items():
            if fixture in used:
                item.add_marker(marker)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook, called on the controller
def pytest_testnodedown(node: Any, error: object | None) -> None:
    """A worker is done: its replay net's report joins the others' (each worker replayed the
    histories of its own dev server)."""
    data = getattr(node, "workeroutput", {}).get(replaynet.WORKER_OUTPUT_KEY)
    if data is None:  # a worker that ran no integration test, or crashed
        return
    config = node.config
    reports = config.stash.setdefault(replaynet.WORKER_REPORTS, [])
    reports.append(replaynet.from_wire(data))
    config.stash[replaynet.REPORT] = replaynet.merged(reports)


@pytest.hookimpl(trylast=True)  # after the session fixtures' teardown (the net) under -x
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Nondeterminism found by the replay net fails a run whose tests passed."""
    report = session.config.stash.get(replaynet.REPORT, None)
    session.exitstatus = replaynet.exit_status(report, exitstatus)


@pytest.fixture(scope="session", autouse=True)
def _logs_to_stderr() -> None:
    """Route logs as the worker does: through stdlib logging to the stderr of session start.

    Unconfigured structlog prints to whatever ``sys.stdout`` is at that moment; CLI tests run
    the command line (under click's runner, which swaps ``sys.stdout``) beside an in-process
    worker, and its log lines would land in the command's output.
    """
    configure_logging("WARNING", json=False)
    # capture_logs() in tests needs loggers that read the configuration anew.
    structlog.configure(cache_logger_on_first_use=False)


@pytest.fixture(scope="session", autouse=True)
def _no_temporal_configuration(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The developer's TEMPORAL_* variables and config-file profiles (which may point at
    Temporal Cloud) never reach the tests: an empty config file stands in for theirs."""
    empty = tmp_path_factory.mktemp("temporal-config") / "temporal.toml"
    empty.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("TEMPORAL_")]:
            patch.delenv(name)
        patch.setenv("TEMPORAL_CONFIG_FILE", str(empty))
        yield


@pytest.fixture(scope="session")
def temporal_binary() -> Path:
    """The pinned Temporal CLI, for a test that starts a dev server of its own."""
    return ensure_temporal_binary()


@pytest.fixture(scope="session")
def tierflow_command() -> Path:
    """The installed ``tierflow`` console script, for a test that runs it as a process."""
    return Path(sys.executable).with_name("tierflow")


@pytest.fixture(scope="session")
def worker_script() -> Path:
    """``worker.py`` at the top of the repository, for a test that runs it as a process."""
    return Path(__file__).parent.parent / "worker.py"


@pytest_asyncio.fixture(scope="session")
async def temporal_env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server, started once for the whole session (once per xdist
    worker: each has its own server, its own tickets and its own replay net)."""
    binary = ensure_temporal_binary()  # not the fixture: this is the integration lane
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(binary),
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        # The server limits every Tierflow server runs with (tierflow/server_limits.py).
        dev_server_extra_args=dev_server_args(),
    )
    target = env.client.service_client.config.target_host
    # Said on the terminal, past pytest's output capture: CI logs show the server was real.
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nTemporal dev server started: {binary} listening on {target}")
    try:
        yield env
        interrupted = request.session.exitstatus == pytest.ExitCode.INTERRUPTED
        if not (interrupted or request.config.getoption("--no-replay-net")):
            try:
                # Within the teardown's own time limit (pytest-timeout's 300 s): a net that
                # cannot finish is reported, never a hung session.
                async with asyncio.timeout(REPLAY_NET_BUDGET):
                    report = await replay_all(
                        env.client, skip=replaynet.left_out(), converters=replaynet.converters()
                    )
            except TimeoutError:
                report = ReplayReport(seconds=REPLAY_NET_BUDGET)
                report.other_failures.append(
                    ReplayFailure("*", "*", "*", False, "the replay net did not finish in time")
                )
            request.config.stash[replaynet.REPORT] = report
            # An xdist worker sends its report home; the controller judges (below).
            worker_output = getattr(request.config, "workeroutput", None)
            if worker_output is not None:
                worker_output[replaynet.WORKER_OUTPUT_KEY] = replaynet.to_wire(report)
    finally:
        # A dev server that does not stop must not hang the session either.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    """A client of the session's dev server, using Tierflow's pydantic data converter."""
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    """A task queue of this test's own, so workers of different tests never share work."""
    return f"tierflow-test-{uuid.uuid4().hex[:12]}"
