"""The activities on a real Temporal dev server: retries happen, permanent errors stop them.

A probe workflow (defined here, run unsandboxed since it is test scaffolding) calls the
activities by name, exactly as the ticket workflow does.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.activities import factories
from tests.activities.servers import HttpRecorder
from tierflow.activities import DeliveryResult, Notification, NotifyChannel, TierflowActivities


@workflow.defn
class DeliveryProbe:
    """Sends one notification with quick retries; reports the outcome as a string."""

    @workflow.run
    async def run(self, n: Notification) -> str:
        """`sent: <detail>` or `failed: <error type>`."""
        try:
            result = await workflow.execute_activity(
                "tierflow.send_notification",
                n,
                result_type=DeliveryResult,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=50),
                    backoff_coefficient=1.0,
                    maximum_attempts=3,
                ),
            )
        except ActivityError as err:
            cause = err.cause
            return f"failed: {cause.type if isinstance(cause, ApplicationError) else cause}"
        return f"{result.status}: {result.detail}"


class TestOnTemporal:
    """Temporal retries transient failures and stops at permanent ones."""

    async def _run(self, client: Client, task_queue: str, acts: TierflowActivities) -> str:
        n = factories.notification(channel=NotifyChannel.webhook, address="")
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[DeliveryProbe],
            activities=acts.all(),
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            return await client.execute_workflow(
                DeliveryProbe.run, n, id=f"probe-{uuid.uuid4().hex}", task_queue=task_queue
            )

    async def test_transient_failure_is_retried_with_the_same_key(
        self, client: Client, task_queue: str, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """503 then 200: delivered on the second attempt, both with the workflow's key."""
        http.script(503, 200)

        outcome = await self._run(client, task_queue, activities)

        assert outcome == "sent: webhook 200"
        assert [r.status for r in http.requests] == [503, 200]
        assert {r.header("Idempotency-Key") for r in http.requests} == {"ticket-T-100.7"}

    async def test_permanent_failure_is_not_retried(
        self, client: Client, task_queue: str, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """400: one attempt only, and the workflow sees PermanentDeliveryError."""
        http.script(400)

        outcome = await self._run(client, task_queue, activities)

        assert outcome == "failed: PermanentDeliveryError"
        assert len(http.requests) == 1
