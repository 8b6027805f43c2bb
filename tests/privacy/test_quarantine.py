"""On the real dev server: a payload that claims to be encrypted but that no key opens — sent by
a raw Temporal client in a signal or an update — is quarantined by the worker: the ticket drops
it as an invalid message and carries on (queries, deadlines, replay). The ticket's own input
under a key the worker lacks is a deployment error: its workflow task fails, loudly and
without a secret."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.privacy.support import encrypting_client, key_file
from tests.waiting import eventually
from tests.workflows.support import fast_policy, running_worker, ticket, wait_for
from tierflow.client import TicketClient, workflow_id_for
from tierflow.encryption import ENCODING, KEY_ID_METADATA
from tierflow.plugin import TierflowPlugin


def poisoned(key_id: str, data: bytes) -> RawValue:
    """A payload that says it is encrypted under ``key_id`` and is not (sent as it is)."""
    return RawValue(
        Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}, data=data)
    )


def failed_tasks(history: WorkflowHistory) -> list[str]:
    return [
        f"event {e.event_id}"
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


class TestPoisonedMessages:
    async def test_undecryptable_signals_and_updates_are_dropped_and_the_ticket_goes_on(
        self, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
    ) -> None:
        """Garbage under the worker's key, a truncated payload and an unknown key id, as
        signals and as an update from a client with no Tierflow converter: the update is
        rejected, the signals are dropped, and the ticket answers queries, takes a valid reply,
        escalates when its deadline falls, has no failed workflow task, and replays."""
        address = temporal_env.client.service_client.config.target_host
        client = await encrypting_client(address, key_file(tmp_path, "k2026"))
        raw = await Client.connect(address)  # the SDK's default converter, no codec
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Printer on fire")
            await tickets.open(t, fast_policy(resolution="5s"))
            handle = raw.get_workflow_handle(workflow_id_for(t.id))
            for payload in (
                poisoned("k2026", os.urandom(64)),  # fails authentication
                poisoned("k2026", b"short"),  # truncated
                poisoned("k-unknown", os.urandom(64)),  # no such key here
            ):
                await handle.signal("customer_reply", payload)
                await handle.signal("customer_feedback", payload)
            with pytest.raises(WorkflowUpdateFailedError):
                await handle.execute_update("note", poisoned("k-unknown", os.urandom(64)))
            await tickets.customer_reply(t.id, {"message": "still broken"})

            status = await wait_for(tickets, t.id, lambda s: s.escalations >= 1, timeout=30)
            assert status.last_escalation is not None
            # On time: within a few seconds of the 5 s deadline, not after task retries.
            late = status.last_escalation.at - (status.opened_at + timedelta(seconds=5))
            assert late < timedelta(seconds=4), late
            timeline = await tickets.timeline(t.id)
            assert sum("replied" in e.summary for e in timeline) == 1

            history = await client.get_workflow_handle(workflow_id_for(t.id)).fetch_history()
            assert failed_tasks(history) == []
            await Replayer(
                workflows=[], plugins=[TierflowPlugin()], data_converter=client.data_converter
            ).replay_workflow(history)

    async def test_a_ticket_whose_own_input_no_key_opens_fails_its_task_with_a_clear_reason(
        self, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
    ) -> None:
        """A ticket started under a key the worker does not have (a key removed while tickets
        still ran) is not quietly replaced by anything: its workflow task fails, naming the
        key id and what to do, never a key."""
        address = temporal_env.client.service_client.config.target_host
        (tmp_path / "worker").mkdir()
        worker_keys = key_file(tmp_path / "worker", "k2026")
        retired = key_file(tmp_path, "k-retired")
        client = await encrypting_client(address, worker_keys)
        starter = TicketClient(await encrypting_client(address, retired), task_queue)
        async with running_worker(client, task_queue):
            for _ in range(3):
                t = ticket("Lost key")
                await starter.open(t, fast_policy(resolution="1h"))
                handle = client.get_workflow_handle(workflow_id_for(t.id))

                async def task_failed() -> bool:
                    return bool(failed_tasks(await handle.fetch_history()))  # noqa: B023

                # A deadlock-detector failure (a loaded machine) is retried by the worker and
                # may take a while to be written: allow for it.
                await eventually(task_failed, within=90)
                history = await handle.fetch_history()
                event = next(
                    e
                    for e in history.events
                    if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
                )
                failure = event.workflow_task_failed_event_attributes.failure
                error: BaseException | None = await client.data_converter.decode_failure(failure)
                text = ""
                while error is not None:  # the failure and its causes, decoded
                    text += f"{type(error).__name__}: {error}\n"
                    error = error.__cause__
                # History keeps a task's first failure only: on a loaded machine that can be
                # the SDK's 2 s deadlock detector cutting the sandbox's first import. That
                # says nothing of the key; the ticket is set aside and the case tried again.
                if "TMPRL1101" not in text:
                    break
                await handle.terminate("a deadlock-detector failure hid the task's own")
            assert "unknown encryption key id 'k-retired'" in text
            for path in (worker_keys, retired):
                secret = path.read_text().split(":", 1)[1].strip()
                assert secret not in text
