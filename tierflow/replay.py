"""The replay net: every ticket history a server holds, replayed as Tierflow's worker runs it.

    report = await replay_all(client)
    if report.nondeterminism:
        raise SystemExit(report.describe())

:func:`replay_all` lists every run of Tierflow's workflow types in the client's namespace
(open and closed, continued-as-new runs included), fetches each history and replays it with
the production worker's configuration: :func:`tierflow.worker.worker_plugin`, sandboxed,
through ``Replayer(plugins=[…])``. A history whose replay issues other commands than it
recorded is a :attr:`ReplayReport.nondeterminism` — the code would wedge that ticket on its
next cache miss. Any other failure of a replayed task (a ticket whose task fails on purpose,
a payload only its own codec can decode) is kept apart in :attr:`ReplayReport.other_failures`:
it is not what this net guards. The test session, the benchmarks' smoke runs and the fault
suite run it before their dev servers go away (docs/changing-the-workflow.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowExecution, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tierflow.activities import Settings
from tierflow.contracts import WORKFLOW_TYPE
from tierflow.worker import worker_plugin

TICKET_TYPES: tuple[str, ...] = (WORKFLOW_TYPE,)
# The SDK's deadlock detector's failure (TMPRL1101), and how many more times a replay it cut
# is tried on its own before the failure stands.
DEADLOCK = "TMPRL1101"
STALL_RETRIES = 2
# A replay in this process is given this long plus a second per history (a sandboxed replay
# takes about 45 ms of CPU per history) before it is cut.
STALL_SECONDS = 60.0
SECONDS_PER_HISTORY = 1.0
# Histories fetched ahead of the replay: the server reads them while the replayer works.
FETCH_AHEAD = 16
# Past this many histories, replay runs in several processes (a spawned one costs about 2 s).
PROCESS_THRESHOLD = 200
# Histories sent to a replay process at a time.
CHUNK = 50
# The longest failure message kept (core's nondeterminism messages are one line).
MESSAGE_MAX = 600

_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')

__all__ = [
    "TICKET_TYPES",
    "ReplayFailure",
    "ReplayReport",
    "headline",
    "is_nondeterminism",
    "replay_all",
    "ticket_replayer",
]


@dataclass(frozen=True)
class ReplayFailure:
    """One run whose replay failed, and why."""

    workflow_id: str
    run_id: str
    workflow_type: str
    nondeterminism: bool
    message: str

    def __str__(self) -> str:
        where = f"workflow {self.workflow_id} run {self.run_id} ({self.workflow_type})"
        return f"{where}: {self.message}"


@dataclass
class ReplayReport:
    """What :func:`replay_all` replayed and what failed."""

    replayed: int = 0
    # Runs of Tierflow's types left out on the caller's word (``skip``), or deleted meanwhile.
    skipped: int = 0
    nondeterminism: list[ReplayFailure] = field(default_factory=list)
    other_failures: list[ReplayFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No nondeterminism (other failures are reported, not judged)."""
        return not self.nondeterminism

    def describe(self) -> str:
        """One line of totals, then one line per failure (nondeterminism first)."""
        lines = [
            f"replayed {self.replayed} ticket histories in {self.seconds:.1f} s: "
            f"{len(self.nondeterminism)} nondeterministic, {len(self.other_failures)} failed "
            f"otherwise (not judged), {self.skipped} skipped"
        ]
        lines += [f"  NONDETERMINISM {f}" for f in self.nondeterminism]
        lines += [f"  other failure {f}" for f in self.other_failures]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The figures for a benchmark's JSON document."""
        return {
            "replayed": self.replayed,
            "skipped": self.skipped,
            "nondeterminism": len(self.nondeterminism),
            "nondeterministic_runs": [dataclasses.asdict(f) for f in self.nondeterminism],
            "other_failures": len(self.other_failures),
            "other_failed_runs": [dataclasses.asdict(f) for f in self.other_failures],
            "seconds": round(self.seconds, 2),
        }


def ticket_replayer(data_converter: DataConverter | None = None) -> Replayer:
    """A replayer of tickets configured as Tierflow's own worker runs them: its plugin,
    sandboxed, with the pre-namespacing type names (``data_converter``: a client's converter,
    e.g. one with an encryption codec; the plugin makes it pydantic-aware either way)."""
    plugin = worker_plugin(settings=Settings(_env_file=None), sandboxed=True)
    return Replayer(
        workflows=[], plugins=[plugin], data_converter=data_converter or pydantic_data_converter
    )


async def replay_all(
    client: Client,
    *,
    task_queue: str | None = None,
    skip: Collection[str] = (),
    converters: Mapping[str, DataConverter] | None = None,
    processes: int | None = None,
) -> ReplayReport:
    """Replay every run of Tierflow's workflow types in ``client``'s namespace (only those of
    ``task_queue`` when given).

    ``skip``: workflow ids left out (a test's own workflow registered under a Tierflow type
    name on purpose). ``converters``: the data converter of workflow ids whose payloads only
    it can decode (an encrypting client's); the others are replayed with pydantic payloads.
    ``processes`` (default: the machine's cores, at most 4): replay is CPU-bound Python, so
    past PROCESS_THRESHOLD histories they are replayed in that many spawned processes while
    this one fetches (about twice as fast on two cores).
    """
    began = time.monotonic()
    report = ReplayReport()
    converters = converters or {}
    skipped = set(skip)
    names = ", ".join(f"'{t}'" for t in TICKET_TYPES)
    query = f"WorkflowType IN ({names})"
    if task_queue is not None:
        query += f" AND TaskQueue = '{task_queue}'"
    plain: list[WorkflowExecution] = []
    coded: dict[int, tuple[DataConverter, list[WorkflowExecution]]] = {}
    async for run in client.list_workflows(query):
        if run.id in skipped:
            report.skipped += 1
        elif run.id in converters:
            converter = converters[run.id]
            coded.setdefault(id(converter), (converter, []))[1].append(run)
        else:
            plain.append(run)
    processes = min(os.cpu_count() or 1, 4) if processes is None else processes
    if processes > 1 and len(plain) >= PROCESS_THRESHOLD:
        await _replay_in_processes(client, plain, report, processes)
    elif plain:
        await _replay_here(client, ticket_replayer(), plain, report)
    for converter, runs in coded.values():
        await _replay_here(client, ticket_replayer(converter), runs, report)
    report.seconds = time.monotonic() - began
    return report


def _record(report: ReplayReport, run: WorkflowExecution, outcome: tuple[bool, str] | None) -> None:
    report.replayed += 1
    if outcome is None:
        return
    nondeterminism, message = outcome
    failure = ReplayFailure(run.id, run.run_id, run.workflow_type, nondeterminism, message)
    (report.nondeterminism if nondeterminism else report.other_failures).append(failure)


def _outcome(err: Exception | None) -> tuple[bool, str] | None:
    """None for a clean replay, else (nondeterminism?, the failure in one line)."""
    return None if err is None else (is_nondeterminism(err), headline(err))


def _stalled(outcome: tuple[bool, str] | None) -> bool:
    """The SDK's deadlock detector cut the replay (a task that did not yield within 2 s): on a
    loaded machine the sandbox's first import of the workflow module alone can take that
    long, so it says nothing about the history until a replay on its own confirms it."""
    return outcome is not None and DEADLOCK in outcome[1]


async def _again_alone(
    replayer: Replayer, history: WorkflowHistory, outcome: tuple[bool, str] | None
) -> tuple[bool, str] | None:
    """``outcome``, or for a stalled replay the outcome of up to STALL_RETRIES replays of the
    history on its own (a deadlock every time stays reported)."""
    for _ in range(STALL_RETRIES):
        if not _stalled(outcome):
            break
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        outcome = _outcome(result.replay_failure)
    return outcome


async def _replay_here(
    client: Client, replayer: Replayer, runs: list[WorkflowExecution], report: ReplayReport
) -> None:
    """Replay ``runs`` in this process, fetching ahead while the replayer works; a replay that
    stops making progress (the SDK's replayer has been seen to wait for ever after a history it
    could not decode) is cut after :data:`STALL_SECONDS` without a result, and every run it
    left is reported apart, as not replayed, instead of hanging the caller."""
    recorded_before = report.replayed
    try:
        async with asyncio.timeout(STALL_SECONDS + SECONDS_PER_HISTORY * len(runs)):
            await _replay_runs_here(client, replayer, runs, report)
    except TimeoutError:
        done = report.replayed - recorded_before
        for run in runs[done:]:
            _record(report, run, (False, "not replayed: the replayer stopped making progress"))


async def _replay_runs_here(
    client: Client, replayer: Replayer, runs: list[WorkflowExecution], report: ReplayReport
) -> None:
    order: deque[tuple[WorkflowExecution, WorkflowHistory]] = deque()
    stalled: list[tuple[WorkflowExecution, WorkflowHistory, tuple[bool, str] | None]] = []

    async def histories() -> AsyncIterator[WorkflowHistory]:
        async for run, history in _fetch(client, runs, report):
            order.append((run, history))
            yield history

    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:
            run, history = order.popleft()
            outcome = _outcome(result.replay_failure)
            if _stalled(outcome):
                stalled.append((run, history, outcome))
            else:
                _record(report, run, outcome)
    for run, history, outcome in stalled:
        _record(report, run, await _again_alone(replayer, history, outcome))


async def _replay_in_processes(
    client: Client, runs: list[WorkflowExecution], report: ReplayReport, processes: int
) -> None:
    """Fetch here, replay in ``processes`` spawned processes, CHUNK histories at a time."""
    loop = asyncio.get_running_loop()
    submitted: list[tuple[list[WorkflowExecution], asyncio.Future[list[tuple[bool, str] | None]]]]
    submitted = []
    # Spawned, not forked: the Temporal runtime's threads do not survive a fork.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=spawn) as pool:
        chunk: list[tuple[WorkflowExecution, bytes]] = []

        def submit() -> None:
            items = [(run.id, data) for run, data in chunk]
            future = loop.run_in_executor(pool, replay_serialized, items)
            submitted.append(([run for run, _ in chunk], future))
            chunk.clear()

        async for run, history in _fetch(client, runs, report):
            chunk.append((run, History(events=history.events).SerializeToString()))
            if len(chunk) == CHUNK:
                submit()
        if chunk:
            submit()
        for chunk_runs, future in submitted:
            for run, outcome in zip(chunk_runs, await future, strict=True):
                if _stalled(outcome):
                    history = await client.get_workflow_handle(
                        run.id, run_id=run.run_id
                    ).fetch_history()
                    outcome = await _again_alone(ticket_replayer(), history, outcome)
                _record(report, run, outcome)


def replay_serialized(items: list[tuple[str, bytes]]) -> list[tuple[bool, str] | None]:
    """In a replay process: replay (workflow id, serialized ``History``) pairs; per history
    None, or (nondeterminism?, the failure in one line)."""

    async def replay() -> list[tuple[bool, str] | None]:
        async def histories() -> AsyncIterator[WorkflowHistory]:
            for workflow_id, data in items:
                yield WorkflowHistory(workflow_id, History.FromString(data).events)

        async with ticket_replayer().workflow_replay_iterator(histories()) as results:
            return [_outcome(result.replay_failure) async for result in results]

    return asyncio.run(replay())


def headline(err: BaseException) -> str:
    """A replay failure in one line: the failure's own message out of core's completion dump
    (``Failure { message: "…", stack_trace: … }``), without stack traces."""
    text = str(err) or type(err).__name__
    found = _MESSAGE.search(text)
    if found is not None:
        text = found.group(1).replace('\\"', '"')
    return text.splitlines()[0][:MESSAGE_MAX] if text else type(err).__name__


def is_nondeterminism(err: BaseException) -> bool:
    """Whether a replay failure says the code issued other commands than the history holds
    (core's eviction reason, or the SDK's own check, both ``[TMPRL1100]``)."""
    return isinstance(err, NondeterminismError) or "[TMPRL1100]" in str(err)


async def _fetch(
    client: Client, runs: Iterable[WorkflowExecution], report: ReplayReport
) -> AsyncIterator[tuple[WorkflowExecution, WorkflowHistory]]:
    """The runs' histories, in order, with up to FETCH_AHEAD fetches under way."""
    pending: deque[tuple[WorkflowExecution, asyncio.Task[WorkflowHistory]]] = deque()
    todo = iter(runs)

    def top_up() -> None:
        while len(pending) < FETCH_AHEAD:
            run = next(todo, None)
            if run is None:
                return
            handle = client.get_workflow_handle(run.id, run_id=run.run_id)
            pending.append((run, asyncio.create_task(handle.fetch_history())))

    top_up()
    try:
        while pending:
            run, task = pending.popleft()
            try:
                history = await task
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                report.skipped += 1  # deleted since it was listed
                continue
            finally:
                top_up()
            yield run, history
    finally:
        for _, task in pending:
            task.cancel()
