"""Monitoring for Tierflow's worker: a Prometheus endpoint for metrics, OpenTelemetry traces.

**Metrics** come from the Temporal SDK's runtime (its Rust core), which serves Temporal's own
worker metrics and the instruments Tierflow records through the SDK's meters (``tierflow_*``,
see :mod:`tierflow.workflows.metrics` and :mod:`tierflow.activities.metrics`). A runtime is
process-wide and a client is bound to the runtime it connected with, so
:func:`install_metrics_runtime` makes the Prometheus runtime the process's default before the
worker connects (no change to how :func:`tierflow.connect.connect` connects).

**Traces** come from the SDK's ``TracingInterceptor`` (``temporalio.contrib.opentelemetry``)
on the worker: a span for each workflow run, update, signal, query and activity, joined to
the caller's trace when the caller traces too. Spans go to the process's OpenTelemetry tracer
provider; when none is set and the ``otel`` extra is installed, :func:`configure_tracing`
sets one that exports over OTLP/HTTP as the standard ``OTEL_EXPORTER_OTLP_*`` variables say.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from tierflow.connect import address_problem
from tierflow.workflows.metrics import ESCALATION_LATENESS

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer
    from temporalio.contrib.opentelemetry import TracingInterceptor

__all__ = [
    "LATENESS_BUCKETS_MS",
    "TelemetryError",
    "configure_tracing",
    "install_metrics_runtime",
    "is_traced",
    "metrics_bind_problem",
    "traced",
    "tracing_interceptor",
]

# Escalation lateness in ms: mostly under a second, minutes when the workers are backlogged.
LATENESS_BUCKETS_MS = (
    10,
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    30_000,
    60_000,
    300_000,
    900_000,
)


class TelemetryError(RuntimeError):
    """Monitoring cannot start as configured: a bad or taken metrics address, a runtime
    created too late, OpenTelemetry not installed."""


def metrics_bind_problem(bind: str) -> str | None:
    """What is wrong with a metrics ``host:port``, or None when it is well formed."""
    return address_problem(bind)


_lock = threading.Lock()
_installed: tuple[str, Runtime] | None = None


def install_metrics_runtime(bind: str) -> Runtime:
    """Serve ``/metrics`` on ``bind`` from the process's default Temporal runtime.

    Call before the first client connects: clients keep the runtime they connected with.
    Calling again with the same address returns the same runtime; another address is an
    error, as is a default runtime some client already uses.
    """
    global _installed
    problem = metrics_bind_problem(bind)
    if problem is not None:
        raise TelemetryError(f"invalid metrics address {bind[:60]!r}: {problem}")
    with _lock:
        if _installed is not None:
            if _installed[0] != bind:
                raise TelemetryError(
                    f"metrics are already served on {_installed[0]} in this process"
                )
            return _installed[1]
        try:
            runtime = Runtime(
                telemetry=TelemetryConfig(
                    metrics=PrometheusConfig(
                        bind_address=bind,
                        histogram_bucket_overrides={
                            ESCALATION_LATENESS: [float(b) for b in LATENESS_BUCKETS_MS]
                        },
                    )
                )
            )
        except ValueError as err:  # the core's "Address already in use", …
            raise TelemetryError(f"cannot serve metrics on {bind}: {err}") from err
        try:
            Runtime.set_default(runtime, error_if_already_set=True)
        except RuntimeError as err:
            raise TelemetryError(
                "a Temporal client was created in this process before the metrics runtime; "
                "install it first"
            ) from err
        _installed = (bind, runtime)
        return runtime


def tracing_interceptor(tracer: Tracer | None = None) -> TracingInterceptor:
    """The SDK's OpenTelemetry tracing interceptor, for a worker's or client's interceptors
    (``tracer`` defaults to the process's tracer provider)."""
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError as err:  # opentelemetry-api is missing
        raise TelemetryError("tracing needs OpenTelemetry: pip install 'tierflow[otel]'") from err
    return TracingInterceptor(tracer)


def is_traced(client: Client) -> bool:
    """Whether ``client`` already carries the SDK's tracing interceptor."""
    return any(
        type(i).__module__.startswith("temporalio.contrib.opentelemetry")
        for i in client.config(active_config=True)["interceptors"]
    )


def traced(client: Client, tracer: Tracer | None = None) -> Client:
    """``client`` (same connection, converter and plugins) tracing what it starts, updates,
    signals and queries, so a caller's trace continues into the ticket's workflow. Workers
    built on it trace too."""
    if is_traced(client):
        return client
    config = client.config()
    config["interceptors"] = [*config["interceptors"], tracing_interceptor(tracer)]
    return Client(**config)


def configure_tracing(service_name: str = "tierflow-worker") -> bool:
    """Give the process a tracer provider exporting over OTLP/HTTP, unless it has one.

    A host that set its own provider (or runs under ``opentelemetry-instrument``) keeps it.
    Returns whether a provider was set here. ``OTEL_SERVICE_NAME`` overrides the name and
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default ``http://localhost:4318``) the destination.
    """
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as err:
        raise TelemetryError(
            "exporting traces needs the otel extra: pip install 'tierflow[otel]'"
        ) from err
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return False  # the host's own provider
    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(named))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True
