"""Where Tierflow finds its Temporal server: environment variables with local defaults."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
DEFAULT_TASK_QUEUE = "tierflow-tickets"


class TemporalSettings(BaseSettings):
    """Connection settings shared by the worker, the client, the CLI and the HTTP API.

    Read from ``TIERFLOW_TEMPORAL_ADDRESS``, ``TIERFLOW_NAMESPACE`` and ``TIERFLOW_TASK_QUEUE``.
    """

    model_config = SettingsConfigDict(env_prefix="TIERFLOW_", extra="ignore")

    temporal_address: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE
