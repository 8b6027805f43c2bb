"""A ticket that cannot be read never takes the others down with it (issues 19 and 20).

The tickets are made unreadable for real, on the dev server, the way a deploy does it: they are
opened (and one is closed) by the real worker; then a worker whose ticket workflow issues a
command their histories do not have takes over the task queue. The running ticket's workflow
task then fails with Temporal's nondeterminism error, retried for ever; the closed ticket's
queries, which replay its history, fail the same way. Every other ticket replays as before.

What must hold: the report completes over the readable tickets and names the others with the
reason; listing answers and names the running one; a single-ticket read or action answers 503
(HTTP) or exit 75 (CLI) with one line saying why — never a 500, a traceback or a hang.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from typer.testing import CliRunner, Result

from tests.interfaces.http_support import AUTH, serving
from tests.interfaces.test_cli import one_error_line
from tests.interfaces.test_errors import CLOSED_REASON
from tests.waiting import eventually
from tests.workflows.support import fast_policy, quiet_activities, running_worker, ticket
from tierflow._unready import answer_or_diagnose
from tierflow.cli import app
from tierflow.client import TicketClient, workflow_id_for
from tierflow.contracts import WORKFLOW_TYPE
from tierflow.errors import TemporalUnavailable, TicketNotReady
from tierflow.report import EscalationReport
from tierflow.workflows import TicketWorkflow
from tierflow.workflows.messages import Close, CustomerReply, Resolve, TicketStatus
from tierflow.workflows.state import TicketRun

# Tickets whose workflow the "deploy" below changes: their ids start with this.
WEDGED = "wedged-"
EXIT_NOT_READY = 75


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class DriftedTicketWorkflow(TicketWorkflow):
    """The ticket workflow after a deploy that changed it without a patch, for some tickets:
    those start with a command (a child workflow) that their recorded history does not have,
    so replaying them fails with a nondeterminism error. Every other ticket runs the real code.
    """

    @workflow.init
    def __init__(self, run: TicketRun) -> None:
        super().__init__(run)

    @workflow.run
    async def run(self, run: TicketRun) -> TicketStatus:
        if workflow.info().workflow_id.startswith(workflow_id_for(WEDGED)):
            await workflow.start_child_workflow("tierflow.test.drift", id=workflow.info().run_id)
        return await super().run(run)


@dataclass
class Wedged:
    tickets: TicketClient
    task_queue: str
    address: str
    healthy: str
    running: str
    closed: str

    async def cli(self, *args: str) -> Result:
        argv = ["--address", self.address, "--task-queue", self.task_queue, *args]
        return await asyncio.to_thread(lambda: CliRunner().invoke(app, argv))


async def _close(client: Client, tickets: TicketClient, ticket_id: str) -> None:
    await tickets.resolve(ticket_id, Resolve(actor="Alex Kim", resolution="done"))
    await tickets.close(ticket_id, Close(actor="Alex Kim"))
    await client.get_workflow_handle(workflow_id_for(ticket_id)).result()


@pytest_asyncio.fixture(scope="module")
async def wedged(temporal_env: WorkflowEnvironment) -> AsyncIterator[Wedged]:
    """Three tickets on a queue of their own: a healthy one, and two the deploy wedges (one
    running, one closed), with the drifted worker serving the queue. The running one's
    workflow task has failed past its second attempt: a ticket wedged for more than a few
    seconds, which the server refuses queries and updates for at once."""
    client = temporal_env.client
    task_queue = f"tierflow-test-wedged-{uuid.uuid4().hex[:12]}"
    healthy = ticket()
    running = ticket(id=f"{WEDGED}run-{uuid.uuid4().hex[:10]}")
    closed = ticket(id=f"{WEDGED}closed-{uuid.uuid4().hex[:10]}")
    async with running_worker(client, task_queue) as tickets:
        for t in (healthy, running, closed):
            await tickets.open(t, fast_policy(resolution="1h"))

        async def in_tier1() -> bool:
            states = [(await tickets.status(t.id)).state for t in (healthy, running, closed)]
            return states == ["tier1"] * 3

        await eventually(in_tier1, within=30)
        await _close(client, tickets, closed.id)
    for t in (healthy, running):  # the stopped worker's cache no longer holds them
        await client.workflow_service.reset_sticky_task_queue(
            ResetStickyTaskQueueRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id_for(t.id)),
            )
        )
    drifted = Worker(
        client,
        task_queue=task_queue,
        workflows=[DriftedTicketWorkflow],
        activities=quiet_activities().all(),
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with drifted:
        # Anything that makes a workflow task replays the running ticket on the new code (a
        # signal: an update would be refused by the failing task, and write nothing).
        handle = client.get_workflow_handle(workflow_id_for(running.id))
        await handle.signal("customer_reply", CustomerReply(message="any news?"))

        async def failed_twice() -> bool:
            desc = await client.get_workflow_handle(workflow_id_for(running.id)).describe()
            return desc.raw_description.pending_workflow_task.attempt >= 3

        await eventually(failed_twice, within=60, every=0.5)
        yield Wedged(
            tickets=tickets,
            task_queue=task_queue,
            address=str(client.service_client.config.target_host),
            healthy=healthy.id,
            running=running.id,
            closed=closed.id,
        )
    await client.get_workflow_handle(workflow_id_for(running.id)).terminate("test over")


RUNNING_REASON = "its workflow task is failing (nondeterminism error, attempt "


class TestReport:
    async def test_report_reads_the_rest_and_names_the_unreadable(self, wedged: Wedged) -> None:
        """The report completes (exit 0) over the readable ticket; the two others are left
        out of the figures and named with the reason, in the JSON and in one stderr line."""
        result = await wedged.cli("report", "--json")
        assert result.exit_code == 0, result.output
        report = EscalationReport.model_validate_json(result.stdout)
        assert report.tickets == 1
        why = {u.ticket_id: u.reason for u in report.unreadable}
        assert set(why) == {wedged.running, wedged.closed}
        assert why[wedged.running].startswith(RUNNING_REASON)
        assert why[wedged.closed] == CLOSED_REASON
        (warning,) = result.stderr.strip().splitlines()
        assert warning.startswith("warning: 2 ticket(s) could not be read")

    async def test_report_tables_list_the_tickets_not_read(self, wedged: Wedged) -> None:
        """Without --json, a table names each ticket left out, with why."""
        result = await wedged.cli("report")
        assert result.exit_code == 0, result.output
        assert "tickets not read" in result.stdout
        assert wedged.closed in result.stdout
        assert "Traceback" not in result.output


class TestSingleTicket:
    @pytest.mark.parametrize("command", ["show", "timeline", "deliveries"])
    async def test_cli_reads_exit_75_with_one_line(self, wedged: Wedged, command: str) -> None:
        """Each read of either unreadable ticket: exit 75 and one line saying why."""
        for ticket_id, reason in ((wedged.running, RUNNING_REASON), (wedged.closed, CLOSED_REASON)):
            result = await wedged.cli("ticket", command, ticket_id)
            assert result.exit_code == EXIT_NOT_READY, result.output
            line = one_error_line(result.stderr)
            assert line.startswith(f"error: ticket {ticket_id!r} cannot be read now: {reason}")
            assert line.endswith("; retry later")

    async def test_cli_action_exits_75_and_writes_nothing(self, wedged: Wedged) -> None:
        """An action on the running one: refused at once by Temporal, told as "retry later"
        (not an internal error), exit 75."""
        result = await wedged.cli("ticket", "note", wedged.running, "checking")
        assert result.exit_code == EXIT_NOT_READY, result.output
        line = one_error_line(result.stderr)
        assert line.startswith(
            f"error: ticket {wedged.running!r} cannot take 'note' now: {RUNNING_REASON}"
        )
        assert line.endswith("; nothing was written; retry later")

    async def test_the_healthy_ticket_still_answers(self, wedged: Wedged) -> None:
        result = await wedged.cli("ticket", "show", wedged.healthy)
        assert result.exit_code == 0, result.output
        assert "tier1" in result.stdout

    async def test_python_client_raises_a_retryable_error(self, wedged: Wedged) -> None:
        """TicketNotReady is a TemporalUnavailable, and carries the ticket and the reason."""
        with pytest.raises(TicketNotReady) as caught:
            await wedged.tickets.status(wedged.running)
        assert isinstance(caught.value, TemporalUnavailable)
        assert caught.value.ticket_id == wedged.running
        assert caught.value.reason.startswith(RUNNING_REASON)


class TestApi:
    async def test_reads_and_actions_answer_503_with_the_reason(self, wedged: Wedged) -> None:
        """Every route about an unreadable ticket: 503 and one line, never a 500."""
        async with (
            serving(wedged.tickets) as url,
            httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as http,
        ):
            for ticket_id, reason in (
                (wedged.running, RUNNING_REASON),
                (wedged.closed, CLOSED_REASON),
            ):
                for path in ("", "/timeline", "/deliveries"):
                    answer = await http.get(f"/tickets/{ticket_id}{path}")
                    assert answer.status_code == 503, (path, answer.text)
                    assert answer.json()["detail"].startswith(
                        f"ticket {ticket_id!r} cannot be read now: {reason}"
                    )
            note = await http.post(
                f"/tickets/{wedged.running}/actions/note", json={"text": "checking"}
            )
            assert note.status_code == 503, note.text
            assert "cannot take 'note' now: its workflow task is failing" in note.json()["detail"]
            assert (await http.get(f"/tickets/{wedged.healthy}")).status_code == 200

    async def test_listing_answers_and_names_the_failing_ticket(self, wedged: Wedged) -> None:
        """GET /tickets answers every ticket; with check_tasks the running one whose workflow
        task is failing says why (a closed ticket has no task to check)."""
        async with (
            serving(wedged.tickets) as url,
            httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as http,
        ):

            async def listed() -> dict[str, str | None]:
                # The whole session's tickets share the server: ask for a page that holds ours.
                query: dict[str, str | int] = {"check_tasks": "true", "limit": 1000}
                answer = await http.get("/tickets", params=query)
                assert answer.status_code == 200, answer.text
                mine = {wedged.healthy, wedged.running, wedged.closed}
                return {
                    r["ticket_id"]: r["unreadable"] for r in answer.json() if r["ticket_id"] in mine
                }

            async def all_three() -> bool:
                return len(await listed()) == 3

            await eventually(all_three, within=15)
            rows = await listed()
        assert rows[wedged.healthy] is None
        assert rows[wedged.closed] is None
        assert (rows[wedged.running] or "").startswith(RUNNING_REASON)

    async def test_cli_list_names_the_failing_ticket(self, wedged: Wedged) -> None:
        result = await wedged.cli("tickets", "list")
        assert result.exit_code == 0, result.output
        assert f"{wedged.running} cannot be read now: {RUNNING_REASON}" in result.stdout
        rows = [
            json.loads(line)
            for line in (await wedged.cli("tickets", "list", "--json")).stdout.splitlines()
        ]
        # Other tests' tickets share the server (one left with no worker is named too).
        mine = {wedged.healthy, wedged.running, wedged.closed}
        assert {r["ticket_id"] for r in rows if r["unreadable"] and r["ticket_id"] in mine} == {
            wedged.running
        }


class TestDiagnosis:
    async def test_a_read_that_waits_on_a_failing_task_gives_up_with_the_reason(
        self, wedged: Wedged, temporal_env: WorkflowEnvironment
    ) -> None:
        """Before the server refuses reads of a failing ticket (its task's second attempt), a
        read would wait for a task that does not come: after a second, the client asks why,
        and gives up at once with the reason."""
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        started = asyncio.get_running_loop().time()
        with pytest.raises(TicketNotReady) as caught:
            await answer_or_diagnose(
                temporal_env.client, wedged.running, workflow_id_for(wedged.running), never
            )
        assert caught.value.reason.startswith(RUNNING_REASON)
        assert asyncio.get_running_loop().time() - started < 10
        assert never.cancelled()

    async def test_a_slow_read_of_a_healthy_ticket_is_waited_for(
        self, wedged: Wedged, temporal_env: WorkflowEnvironment
    ) -> None:
        """A healthy ticket's slow read is not given up: its answer comes back."""

        async def slow() -> str:
            await asyncio.sleep(1.5)
            return "answer"

        answer = await answer_or_diagnose(
            temporal_env.client, wedged.healthy, workflow_id_for(wedged.healthy), slow()
        )
        assert answer == "answer"
