"""Worker Versioning is the upgrade path: a ticket runs on the build it started on (pinned) while
a newer build takes every new ticket; the old build finishes its own tickets.

At continue-as-new the ticket asks to move to the current build (AUTO_UPGRADE). The Temporal
server this project pins (1.29.1) does not know that option yet (upgrade-on-continue-as-new
came with 1.30) and keeps the next run pinned where it was: the test states what the pinned
server does, so that a server upgrade that changes it is noticed here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from tests.waiting import eventually
from tierflow.client import TicketClient, workflow_id_for
from tierflow.worker import WorkerSettings, build_worker
from tierflow.workflows.messages import AddNote

from .support import fast_policy, quiet_activities, ticket, wait_for

pytestmark = pytest.mark.integration


@asynccontextmanager
async def build(
    client: Client, task_queue: str, deployment: str, build_id: str
) -> AsyncIterator[None]:
    settings = WorkerSettings(deployment_name=deployment, build_id=build_id)
    async with build_worker(client, task_queue, activities=quiet_activities(), settings=settings):
        yield


async def make_current(client: Client, deployment: str, build_id: str) -> None:
    """Set the deployment's current build, once its worker has polled (the server knows a
    version only from its pollers)."""

    async def done() -> bool:
        try:
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=client.namespace, deployment_name=deployment, build_id=build_id
                )
            )
        except RPCError:
            return False
        return True

    await eventually(done, within=30)


async def pinned_build(handle: WorkflowHandle[object, object]) -> str:
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return info.deployment_version.build_id


class TestUpgradePath:
    async def test_a_ticket_finishes_its_run_on_its_build_and_moves_on_at_continue_as_new(
        self, client: Client, task_queue: str
    ) -> None:
        """Opened on build "a" (current), the ticket stays on "a" after "b" becomes current:
        agents' actions are answered by "a", new tickets start on "b". When its run hands over,
        the next run stays on "a" (the pinned server's rule) and is answered there."""
        deployment = f"tierflow-{task_queue[-8:]}"
        tickets = TicketClient(client, task_queue)
        old, new = ticket("Opened on the old build"), ticket("Opened on the new build")
        async with build(client, task_queue, deployment, "a"):
            await make_current(client, deployment, "a")
            opened = await tickets.open(old, fast_policy(resolution="1h"), history_limit=40)
            await wait_for(tickets, old.id, lambda s: s.tier is not None)
            handle = client.get_workflow_handle(workflow_id_for(old.id))
            assert await pinned_build(handle) == "a"
            async with build(client, task_queue, deployment, "b"):
                await make_current(client, deployment, "b")
                await tickets.open(new, fast_policy(resolution="1h"))
                await wait_for(tickets, new.id, lambda s: s.tier is not None)
                assert (
                    await pinned_build(client.get_workflow_handle(workflow_id_for(new.id))) == "b"
                )
                await tickets.note(old.id, AddNote(actor="Jo Park", text="still on a"))
                assert (await handle.describe()).run_id == opened.run_id
                assert await pinned_build(handle) == "a"
                n = 0
                while (await handle.describe()).run_id == opened.run_id:
                    n += 1
                    await tickets.note(old.id, AddNote(actor="Jo Park", text=f"note {n}"))

                status = await tickets.note(old.id, AddNote(actor="Jo Park", text="next run"))
                assert await pinned_build(handle) == "a"
        assert status.state == "tier1"
