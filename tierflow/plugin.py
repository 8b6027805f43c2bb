"""Tierflow as a Temporal plugin: the whole embedding of ticket escalation into a host's worker.

    client = await Client.connect("…", plugins=[TierflowPlugin()])
    worker = Worker(client, task_queue="help-desk", workflows=[HostWorkflow])

A plugin given to the client reaches every worker built on it (and sets Tierflow's data
converter on the client); ``Worker(client, task_queue=…, plugins=[TierflowPlugin()])`` works
too when the client already uses a pydantic-aware converter. The plugin registers the ticket
workflow and its activities under namespaced type names (``tierflow.Ticket``,
``tierflow.dispatch_effects``, …), lets the workflow's pure modules through the sandbox, and
closes the activities' HTTP connections when the worker stops.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.plugin import SimplePlugin
from temporalio.worker import UnsandboxedWorkflowRunner, WorkerConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tierflow import _codecache
from tierflow.activities import Settings, TierflowActivities
from tierflow.encryption import EncryptionCodec, QuarantinePayloadConverter
from tierflow.workflows import TicketWorkflow

PLUGIN_NAME = "tierflow.TierflowPlugin"

# Imported once outside the sandbox and shared by every ticket: pure and deterministic, and
# re-importing them for each workflow would cost most of a ticket's CPU and memory. The
# workflow's own helper modules are named one by one: ``tierflow.workflows`` as a whole would
# pass the workflow module (``tierflow.workflows.ticket``) through too, and the sandbox exists
# to load that one afresh for each ticket. Named here, ``from tierflow.workflows import
# views`` finds the shared module; otherwise the package's fresh copy in each sandbox would
# execute it again for every ticket.
WORKFLOW_HELPERS: Sequence[str] = tuple(
    f"tierflow.workflows.{name}"
    for name in (
        "actions",
        "handlers",
        "messages",
        "metrics",
        "moves",
        "operations",
        "outbox",
        "search_attributes",
        "state",
        "views",
        "visibility",
        "wake_ups",
    )
)
SANDBOX_PASSTHROUGH: Sequence[str] = (
    "tierflow.statemachine",
    "tierflow.contracts",
    *WORKFLOW_HELPERS,
    "transitions",
    "six",
    "pydantic",
    "pydantic_core",
    "yaml",
    # The worker's console log renders a failed workflow task's traceback with rich, from
    # inside the sandbox: imported there, rich reads os.getcwd() and the line is lost.
    "rich",
)


class TierflowPlugin(SimplePlugin):
    """Tierflow's ticket workflow and activities, ready for ``Worker(…, plugins=[…])``."""

    def __init__(
        self,
        *,
        activities: TierflowActivities | None = None,
        settings: Settings | None = None,
        sandboxed: bool = True,
    ) -> None:
        """``activities`` (default: built from ``settings``, else the environment) deliver the
        effects; the plugin closes them when the worker stops unless they were given.

        ``sandboxed=False`` runs the worker's workflows outside Temporal's sandbox — every
        workflow of that worker, the host's too; it halves a ticket's CPU (docs/
        benchmarks.md).
        """
        owned = activities is None
        self.tierflow_activities = activities or TierflowActivities(settings)
        workflows: list[type] = [TicketWorkflow]

        @asynccontextmanager
        async def activities_open() -> AsyncIterator[None]:
            try:
                yield
            finally:
                if owned:
                    await self.tierflow_activities.aclose()

        super().__init__(
            PLUGIN_NAME,
            data_converter=_with_pydantic,
            activities=self.tierflow_activities.all(),
            workflows=workflows,
            workflow_runner=lambda existing: _runner(existing, sandboxed=sandboxed),
            run_context=activities_open,
        )

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """Check the worker's client speaks Tierflow's messages before registering them."""
        client = config.get("client")
        if client is not None and not _is_pydantic(client.data_converter):
            raise ValueError(
                "Tierflow's workflow exchanges pydantic models: connect the worker's client "
                "with plugins=[TierflowPlugin()] (or data_converter="
                "temporalio.contrib.pydantic.pydantic_data_converter)"
            )
        return super().configure_worker(config)


def _is_pydantic(converter: DataConverter) -> bool:
    return issubclass(converter.payload_converter_class, PydanticPayloadConverter)


def _with_pydantic(existing: DataConverter | None) -> DataConverter:
    """The client's converter, made pydantic-aware; a codec it carries is kept. With
    Tierflow's encryption codec, the converter is the one that refuses its stand-ins for
    payloads no key opens (tierflow/encryption.py, "Quarantine") unless it is a host's own."""
    if existing is None:
        return pydantic_data_converter
    if isinstance(existing.payload_codec, EncryptionCodec) and (
        existing.payload_converter_class is PydanticPayloadConverter or not _is_pydantic(existing)
    ):
        return dataclasses.replace(existing, payload_converter_class=QuarantinePayloadConverter)
    if _is_pydantic(existing):
        return existing
    return dataclasses.replace(existing, payload_converter_class=PydanticPayloadConverter)


def _runner(existing: WorkflowRunner | None, *, sandboxed: bool) -> WorkflowRunner:
    """The worker's runner, with Tierflow's pure modules passed through the sandbox (and
    the workflow module compiled once per process, not once per ticket)."""
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    _codecache.install()
    if isinstance(existing, SandboxedWorkflowRunner):
        restrictions = existing.restrictions
        kwargs: dict[str, Any] = {"runner_class": existing.runner_class}
    elif existing is None:
        restrictions = SandboxedWorkflowRunner().restrictions
        kwargs = {}
    else:
        return existing  # a host's own runner (unsandboxed, say) is the host's choice
    return _codecache.SharedCodeRunner(
        restrictions=restrictions.with_passthrough_modules(*SANDBOX_PASSTHROUGH), **kwargs
    )
