"""Where Tierflow finds its Temporal server: environment variables with local defaults."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
DEFAULT_TASK_QUEUE = "tierflow-tickets"
# How many ticket workflows a worker keeps in memory between tasks. It bounds the worker's
# memory, not the number of open tickets: an evicted ticket is rebuilt from its history when it
# next wakes (which costs CPU), so size it to the tickets that are active at once.
DEFAULT_CACHE_SIZE = 1000


class TemporalSettings(BaseSettings):
    """Connection settings shared by the worker, the client, the CLI and the HTTP API.

    Read from ``TIERFLOW_TEMPORAL_ADDRESS``, ``TIERFLOW_NAMESPACE``, ``TIERFLOW_TASK_QUEUE``,
    ``TIERFLOW_MAX_CACHED_WORKFLOWS`` and ``TIERFLOW_WORKFLOW_SANDBOX`` (the last two concern
    the worker only).
    """

    model_config = SettingsConfigDict(env_prefix="TIERFLOW_", extra="ignore")

    temporal_address: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE
    max_cached_workflows: int = DEFAULT_CACHE_SIZE
    workflow_sandbox: bool = True
