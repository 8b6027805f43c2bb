"""The replay net (tierflow/replay.py) on the real dev server: it replays every run of a ticket,
tells nondeterminism from other replay failures, and names the run that failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from tests import replaynet
from tests.privacy.support import encrypting_client, key_file
from tests.workflows.support import fast_policy, running_worker, ticket, wait_for
from tierflow import replay
from tierflow.client import TicketClient, workflow_id_for
from tierflow.contracts import WORKFLOW_TYPE
from tierflow.replay import replay_all
from tierflow.workflows.messages import Resolve


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class ImpostorTicket:
    """Registered under the ticket's type name: a timer where a ticket's first task upserts
    search attributes, so its history is not the ticket workflow's."""

    @workflow.run
    async def run(self, run: Any) -> None:
        await workflow.sleep(0.01)


class TestReplayAll:
    async def test_nondeterminism_names_workflow_and_run(
        self, client: Client, task_queue: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A history the ticket workflow does not reproduce is reported as nondeterminism,
        with its workflow id, run id and core's message; replayed in worker processes as a
        session's thousand histories are."""
        async with Worker(client, task_queue=task_queue, workflows=[ImpostorTicket]):
            t = ticket("Impostor")
            replaynet.not_a_ticket(workflow_id_for(t.id), "an impostor checking the net")
            opened = await TicketClient(client, task_queue).open(t, fast_policy())
            await client.get_workflow_handle(opened.workflow_id).result()
        monkeypatch.setattr(replay, "PROCESS_THRESHOLD", 1)
        report = await replay_all(client, task_queue=task_queue, processes=2)
        assert (report.replayed, report.other_failures) == (1, [])
        [failure] = report.nondeterminism
        assert (failure.workflow_id, failure.run_id) == (opened.workflow_id, opened.run_id)
        assert failure.message.startswith("[TMPRL1100] Nondeterminism error")
        assert not report.ok
        described = report.describe()
        assert opened.workflow_id in described
        assert opened.run_id in described
        assert "[TMPRL1100]" in described

    async def test_skipped_ids_are_left_out(self, client: Client, task_queue: str) -> None:
        """A workflow id the caller leaves out is not replayed, only counted."""
        async with Worker(client, task_queue=task_queue, workflows=[ImpostorTicket]):
            t = ticket("Impostor, left out")
            wid = replaynet.not_a_ticket(workflow_id_for(t.id), "an impostor checking the net")
            await TicketClient(client, task_queue).open(t, fast_policy())
            await client.get_workflow_handle(wid).result()
        report = await replay_all(client, task_queue=task_queue, skip={wid})
        assert (report.replayed, report.skipped, report.ok) == (0, 1, True)

    async def test_every_run_of_a_ticket_that_continued_as_new(
        self, client: Client, task_queue: str
    ) -> None:
        """The closed first run and the open run it continued as are both replayed, cleanly
        (a partial history replays as far as it goes)."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Continues as new")
            await tickets.open(t, fast_policy(resolution="60s"), history_limit=30)
            for n in range(8):
                await tickets.act(t.id, "note", {"actor": "Jo Park", "text": f"note {n}"})
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            report = await replay_all(client, task_queue=task_queue)
            await tickets.resolve(t.id, Resolve(actor="Jo Park", resolution="done"))
        assert report.replayed >= 2
        assert (report.nondeterminism, report.other_failures) == ([], [])

    async def test_a_failure_that_is_not_nondeterminism_is_kept_apart(
        self, temporal_env: Any, task_queue: str, tmp_path: Path
    ) -> None:
        """An encrypted ticket replayed without its key fails to decode: reported apart, not
        as nondeterminism; with its client's converter it replays cleanly."""
        address = temporal_env.client.service_client.config.target_host
        encrypting = await encrypting_client(address, key_file(tmp_path, "replay"))
        async with running_worker(encrypting, task_queue) as tickets:
            t = ticket("Encrypted")
            wid = replaynet.decoded_by(workflow_id_for(t.id), encrypting.data_converter)
            await tickets.open(t, fast_policy(resolution="60s"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        plain = temporal_env.client
        without = await replay_all(plain, task_queue=task_queue)
        assert (without.replayed, without.nondeterminism, without.ok) == (1, [], True)
        [failure] = without.other_failures
        assert failure.workflow_id == wid
        assert failure.message == "Failed decoding arguments"
        keyed = await replay_all(
            plain, task_queue=task_queue, converters={wid: encrypting.data_converter}
        )
        assert (keyed.replayed, keyed.nondeterminism, keyed.other_failures) == (1, [], [])
