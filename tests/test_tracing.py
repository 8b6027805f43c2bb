"""Tracing through the SDK's OpenTelemetry interceptor: a ticket's opening, an agent's update
and the activities they cause are spans of one trace, on a real server and worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from tests.workflows.support import quiet_activities, ticket
from tierflow.client import TicketClient
from tierflow.telemetry import is_traced, traced
from tierflow.worker import WorkerSettings, build_worker
from tierflow.workflows.messages import AddNote


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans finished during the test, kept in memory (no global tracer provider is set)."""
    memory = InMemorySpanExporter()
    yield memory
    memory.shutdown()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Tracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("tierflow-tests")


async def spans_named(
    exporter: InMemorySpanExporter, *names: str, within: float = 20
) -> dict[str, ReadableSpan]:
    """Wait until a span of each name has finished; the first of each."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found: dict[str, ReadableSpan] = {}
        for span in exporter.get_finished_spans():
            found.setdefault(span.name, span)
        if all(n in found for n in names):
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"missing spans {set(names) - set(found)}; have {set(found)}")
        await asyncio.sleep(0.1)


class TestTracingSettings:
    async def test_the_setting_puts_the_interceptor_on_the_worker(
        self, client: Client, task_queue: str
    ) -> None:
        """``TIERFLOW_TRACING`` (``tracing=True``) adds the SDK's tracing interceptor, once:
        a traced client's interceptor already reaches its workers."""

        def tracing(settings: WorkerSettings, on: Client) -> int:
            # Each worker on a queue of its own: one worker per task queue in a process.
            worker = build_worker(on, f"{task_queue}-{uuid.uuid4().hex[:6]}", settings=settings)
            config = worker.config(active_config=True)
            return sum(isinstance(i, TracingInterceptor) for i in config["interceptors"])

        assert tracing(WorkerSettings(tracing=True), client) == 1
        assert tracing(WorkerSettings(), client) == 0
        assert tracing(WorkerSettings(tracing=True), traced(client)) == 0
        assert is_traced(traced(client))
        assert not is_traced(client)


class TestTicketSpans:
    async def test_open_update_and_activities_are_one_trace(
        self, client: Client, task_queue: str, exporter: InMemorySpanExporter, tracer: Tracer
    ) -> None:
        """Opening a ticket, its workflow run, an agent's note and the effects activity are
        spans, and the worker's continue the trace the client started."""
        traced_client = traced(client, tracer)
        worker = build_worker(
            traced_client,
            task_queue,
            activities=quiet_activities(),
            settings=WorkerSettings(tracing=True),
        )
        async with worker:
            tickets = TicketClient(traced_client, task_queue)
            t = ticket("Printer on fire")
            with tracer.start_as_current_span("host opens a ticket") as root:
                await tickets.open(t)
            await tickets.note(t.id, AddNote(actor="Jo Park", text="looking into it"))
            spans = await spans_named(
                exporter,
                "StartWorkflow:tierflow.Ticket",
                "RunWorkflow:tierflow.Ticket",
                "StartActivity:tierflow.dispatch_effects",
                "RunActivity:tierflow.dispatch_effects",
                "StartWorkflowUpdate:note",
                "HandleUpdate:note",
            )
        trace_id = root.get_span_context().trace_id
        for name in (
            "StartWorkflow:tierflow.Ticket",
            "RunWorkflow:tierflow.Ticket",
            "StartActivity:tierflow.dispatch_effects",
            "RunActivity:tierflow.dispatch_effects",
        ):
            assert spans[name].context is not None
            assert spans[name].context.trace_id == trace_id, name
        update, handled = spans["StartWorkflowUpdate:note"], spans["HandleUpdate:note"]
        assert update.context is not None
        assert handled.context is not None
        # The SDK joins the handler to the ticket's trace or to the update's.
        assert handled.context.trace_id in (trace_id, update.context.trace_id)
        # Spans name the workflow, never the ticket's subject or customer.
        for span in exporter.get_finished_spans():
            text = f"{span.name} {dict(span.attributes or {})}"
            assert "Printer on fire" not in text
            assert "Ana Silva" not in text
