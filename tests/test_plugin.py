"""Tierflow embedded in a host's own worker through :class:`TierflowPlugin`.

The host runs its own workflow and activity under the names Tierflow used before its type
names were namespaced ("Ticket", "dispatch_effects"): both products live in one worker, on one
task queue, and each gets its own.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from tests import replaynet
from tests.host_app import HostTicket, host_dispatch_effects
from tests.workflows.support import fast_policy, quiet_activities, ticket, wait_for
from tierflow.client import TicketClient
from tierflow.plugin import TierflowPlugin


class TestEmbedding:
    async def test_tierflow_runs_beside_the_hosts_workflow(
        self, client: Client, task_queue: str
    ) -> None:
        """One worker: the host's "Ticket" runs its own activity; a Tierflow ticket escalates
        on its deadline and delivers its effects through Tierflow's activities."""
        plugin = TierflowPlugin(activities=quiet_activities())
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[HostTicket],
            activities=[host_dispatch_effects],
            plugins=[plugin],
        )
        async with worker:
            host_id = replaynet.not_a_ticket(
                f"host-{uuid.uuid4().hex}", "the host's own workflow type named 'Ticket'"
            )
            shipped = await client.execute_workflow(
                HostTicket.run, "order-7", id=host_id, task_queue=task_queue
            )
            assert shipped == "shipped order-7"
            tickets = TicketClient(client, task_queue)
            t = ticket("Embedded")
            opened = await tickets.open(t, fast_policy(resolution="2s"))
            await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=30)
            desc = await client.get_workflow_handle(opened.workflow_id).describe()
            assert desc.workflow_type == "tierflow.Ticket"
            history = await client.get_workflow_handle(opened.workflow_id).fetch_history()
            scheduled = {
                e.activity_task_scheduled_event_attributes.activity_type.name
                for e in history.events
                if e.HasField("activity_task_scheduled_event_attributes")
            }
            # The ticket's own wake-ups run the effects as local activities, on this worker.
            local = {
                json.loads(m.details["data"].payloads[0].data)["activity_type"]
                for e in history.events
                if (m := e.marker_recorded_event_attributes).marker_name == "core_local_activity"
            }
            assert scheduled | local == {"tierflow.dispatch_effects"}
            timeline = await tickets.timeline(t.id)
            assert any(e.kind == "notification" for e in timeline)  # the effects were handled
            # The host's own "Ticket" is not one of Tierflow's tickets.
            listed = []
            for _ in range(100):  # visibility is eventually consistent
                listed = await tickets.list(task_queue=task_queue, with_summary=True)
                if listed:
                    break
                await asyncio.sleep(0.1)
            assert [x.ticket_id for x in listed] == [t.id]

    async def test_plugin_on_the_client_reaches_the_worker(
        self, client: Client, task_queue: str
    ) -> None:
        """A client connected with the plugin gets Tierflow's converter and hands the plugin
        to every worker built on it."""
        plain = Client(client.service_client, namespace=client.namespace)
        with_plugin = Client(
            client.service_client,
            namespace=client.namespace,
            plugins=[TierflowPlugin(activities=quiet_activities())],
        )
        worker = Worker(with_plugin, task_queue=task_queue, workflows=[HostTicket])
        workflows = worker.config(active_config=True)["workflows"]
        assert {getattr(w, "__name__", "") for w in workflows} >= {"HostTicket", "TicketWorkflow"}
        async with worker:
            tickets = TicketClient(with_plugin, task_queue)
            t = ticket("Through the client")
            await tickets.open(t)
            status = await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            assert status.ticket_id == t.id
        with pytest.raises(ValueError, match="pydantic"):
            Worker(plain, task_queue=f"{task_queue}-plain", plugins=[TierflowPlugin()])
