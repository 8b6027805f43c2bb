"""The server limits Tierflow runs under (tierflow/server_limits.py): Tierflow's largest
legitimate payloads fit them twice over, and on the real dev server a raw caller's flood of
oversize signals is refused while the ticket runs on."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import RawValue
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests import replaynet
from tests.privacy.support import encrypting_client, key_file
from tests.waiting import eventually, resent_while_busy
from tierflow.client import TicketClient, workflow_id_for
from tierflow.connect import data_converter
from tierflow.encryption import new_key
from tierflow.server_limits import BLOB_SIZE_ERROR, BLOB_SIZE_WARN, SIGNALS_PER_EXECUTION
from tierflow.statemachine import Policy, Ticket, default_policy, policy_from_data
from tierflow.statemachine.sharing import policy_json
from tierflow.statemachine.text import DESCRIPTION_MAX, LINE_MAX, NOTE_MAX, SUBJECT_MAX, TAGS_MAX
from tierflow.workflows.messages import POLICY_MAX_BYTES, AddNote, CustomerReply, OpenTicket
from tierflow.workflows.operations import TicketOperations
from tierflow.workflows.outbox.failing import FailingDelivery
from tierflow.workflows.outbox.ledger import MAX_FAILING, MAX_FAILING_BYTES
from tierflow.workflows.state import TicketRun, TicketState

from .support import running_worker, wait_for, wait_for_timeline

WIDE = "\U0001f600"  # four bytes in UTF-8
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def maximal_policy() -> Policy:
    """The default policy padded with routing rules of 4-byte text up to 256 KiB as JSON."""
    data = default_policy().model_dump(mode="json")
    template = data["rules"][0]
    for i in range(1000):
        rule = json.loads(json.dumps(template))
        rule["name"] = f"pad-{i}"
        rule["description"] = WIDE * 1000
        rule["when"]["keywords"] = [f"k{i}-{j} {WIDE * 60}" for j in range(10)]
        trial = {**data, "rules": [*data["rules"], rule]}
        if len(policy_json(policy_from_data(trial, "<maximal>"))) > POLICY_MAX_BYTES:
            break
        data = trial
    return policy_from_data(data, "<maximal>")


def maximal_ticket(ticket_id: str = "T-maximal") -> Ticket:
    return Ticket.model_validate(
        {
            "id": ticket_id,
            "subject": WIDE * SUBJECT_MAX,
            "description": WIDE * DESCRIPTION_MAX,
            "channel": "email",
            "category": WIDE * LINE_MAX,
            "tags": [WIDE * LINE_MAX] * TAGS_MAX,
            "customer": {
                "id": "C" * 128,
                "name": WIDE * LINE_MAX,
                "email": "a" * 64 + "@" + "b" * 180 + ".example",
                "phone": "+14155550187",
                "status": "vip",
                "chat": WIDE * LINE_MAX,
            },
            "created_at": T0,
        }
    )


async def encrypted_size(value: object, tmp_path: Path) -> int:
    keys = tmp_path / "keys"
    keys.write_text(f"k1: {new_key()}\n")
    [payload] = await data_converter({"TIERFLOW_ENCRYPTION_KEYS": str(keys)}).encode([value])
    return payload.ByteSize()


class TestLargestLegitimatePayloads:
    async def test_start_and_continue_as_new_inputs_fit_the_limit_twice(
        self, tmp_path: Path
    ) -> None:
        """Encrypted: a maximal ticket's start input (a 256 KiB policy, every field at its
        limit in 4-byte characters) and its continue-as-new input after maximal notes and
        replies, with 128 KiB of retried messages and the effects of ten maximal actions
        planned while it hands over, stay under half the blob limit and under the warning."""
        start = OpenTicket(ticket=maximal_ticket(), policy=maximal_policy(), opened_by=WIDE * 120)
        ops = TicketOperations(TicketState.opening(start, T0), "ticket-T-maximal")
        ops.open(T0)
        now = T0
        for _ in range(60):
            now += timedelta(seconds=1)
            ops.note(AddNote(actor="Jo Park", text=WIDE * NOTE_MAX), now)
            ops.customer_reply(CustomerReply(message=WIDE * NOTE_MAX), now)
        sent = ops.take_effects()
        items = [i for b in sent for i in (*b.notifications, *b.customer_updates, *b.syncs)]
        failing: list[FailingDelivery] = []
        size = 0
        for item in items:
            f = FailingDelivery(item=item, error="e" * 300, first_failed_at=now, give_up_at=now)
            size += len(f.model_dump_json())
            if len(failing) == MAX_FAILING or size > MAX_FAILING_BYTES:
                break
            failing.append(f)
        ops.state.failing = failing
        for _ in range(5):  # arriving while the run hands over
            ops.note(AddNote(actor="Jo Park", text=WIDE * NOTE_MAX), now)
            ops.customer_reply(CustomerReply(message=WIDE * NOTE_MAX), now)
        ops.state.undelivered = ops.take_effects()
        run = ops.carry_over("run-1")

        opening = await encrypted_size(TicketRun(open=start), tmp_path)
        carried = await encrypted_size(run, tmp_path)
        print(f"maximal start input {opening} B, continue-as-new input {carried} B")
        assert 300_000 < opening < carried
        assert carried * 2 < BLOB_SIZE_ERROR
        assert carried < BLOB_SIZE_WARN


class TestOnTheDevServer:
    async def test_a_flood_of_oversize_signals_is_refused_and_the_ticket_runs_on(
        self, temporal_env: WorkflowEnvironment, client: Client, task_queue: str
    ) -> None:
        """28 signals of 1.9 MB at once from a raw client (what terminated a ticket, its
        history over 50 MB): the server refuses each, and the ticket answers, takes a reply
        and keeps a small history."""
        address = temporal_env.client.service_client.config.target_host
        raw = await Client.connect(address)
        async with running_worker(client, task_queue) as tickets:
            t = maximal_ticket(f"T-flood-{task_queue[-8:]}")
            await tickets.open(t)
            await wait_for(tickets, t.id, lambda s: s.tier is not None)
            handle = raw.get_workflow_handle(workflow_id_for(t.id))
            big = RawValue(
                Payload(metadata={"encoding": b"json/plain"}, data=b'"' + b"x" * 1_900_000 + b'"')
            )
            outcomes = await asyncio.gather(
                *(handle.signal("customer_reply", big) for _ in range(28)), return_exceptions=True
            )
            assert all(isinstance(o, RPCError) for o in outcomes), outcomes
            assert {o.status for o in outcomes if isinstance(o, RPCError)} == {
                RPCStatusCode.INVALID_ARGUMENT
            }
            await resent_while_busy(lambda: tickets.customer_reply(t.id, {"message": "still here"}))
            await wait_for_timeline(tickets, t.id, "the customer replied")
            description = await handle.describe()
            assert description.status == WorkflowExecutionStatus.RUNNING
            history = await client.get_workflow_handle(workflow_id_for(t.id)).fetch_history()
            assert sum(e.ByteSize() for e in history.events) < 2 * 1024 * 1024

    async def test_a_burst_of_signals_hands_the_ticket_over_and_no_run_takes_more_than_the_cap(
        self, temporal_env: WorkflowEnvironment, client: Client, task_queue: str
    ) -> None:
        """60 customer replies at once from a raw client (signals cannot be refused by the
        workflow): the ticket hands over to new runs, no run's history holds more signals
        than the server's cap, a signal the cap refused gets an error, and the ticket runs
        on."""
        address = temporal_env.client.service_client.config.target_host
        raw = await Client.connect(address, data_converter=client.data_converter)
        async with running_worker(client, task_queue) as tickets:
            t = maximal_ticket(f"T-burst-{task_queue[-8:]}")
            await tickets.open(t)
            await wait_for(tickets, t.id, lambda s: s.tier is not None)
            handle = raw.get_workflow_handle(workflow_id_for(t.id))
            replies = [CustomerReply(message=f"#{n}") for n in range(60)]
            outcomes = await asyncio.gather(
                *(handle.signal("customer_reply", r) for r in replies), return_exceptions=True
            )
            refused = [o for o in outcomes if isinstance(o, RPCError)]
            assert len(refused) + outcomes.count(None) == 60, outcomes
            await resent_while_busy(lambda: tickets.customer_reply(t.id, {"message": "still here"}))
            query = f"WorkflowId = '{workflow_id_for(t.id)}'"
            runs = [w async for w in client.list_workflows(query)]
            signals_per_run = []
            for run in runs:
                run_handle = client.get_workflow_handle(run.id, run_id=run.run_id)
                signaled = [
                    e
                    async for e in run_handle.fetch_history_events()
                    if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
                ]
                signals_per_run.append(len(signaled))
            description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        assert len(runs) >= 2, signals_per_run
        assert max(signals_per_run) <= SIGNALS_PER_EXECUTION, signals_per_run
        assert sum(signals_per_run) == outcomes.count(None)
        assert {o.status for o in refused} <= {RPCStatusCode.INVALID_ARGUMENT}

    async def test_a_maximal_ticket_starts_and_continues_as_new(
        self, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
    ) -> None:
        """Encrypted, a maximal policy and ticket open, and the ticket continues as new with
        its maximal carried state: nothing legitimate meets the limit."""
        address = temporal_env.client.service_client.config.target_host
        client = await encrypting_client(address, key_file(tmp_path, "k1"))
        async with running_worker(client, task_queue) as tickets:
            t = maximal_ticket(f"T-max-{task_queue[-8:]}")
            replaynet.decoded_by(workflow_id_for(t.id), client.data_converter)
            await tickets.open(t, maximal_policy(), history_limit=20)
            note = {"actor": "Dana Fox", "text": WIDE * NOTE_MAX}
            reply = {"message": WIDE * NOTE_MAX}
            for _ in range(4):
                # As a host does: a ticket handing over answers TicketBusy (nothing written)
                # for as long as its hand-over takes, which on a loaded machine is seconds.
                await resent_while_busy(lambda: tickets.act(t.id, "note", note))
                await resent_while_busy(lambda: tickets.customer_reply(t.id, reply))
            workflow_id = workflow_id_for(t.id)

            async def runs() -> list[str]:
                return [
                    e.run_id async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")
                ]

            async def continued() -> bool:
                return len(await runs()) >= 2

            await eventually(continued, within=60)
            status = await TicketClient(client, task_queue).status(t.id)
            assert status.tier is not None
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes
            size = sum(p.ByteSize() for p in started.input.payloads)
            assert 300_000 < size < BLOB_SIZE_ERROR // 2
