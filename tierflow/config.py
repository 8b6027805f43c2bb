"""Where Tierflow finds its Temporal server: Tierflow's environment variables and command-line
flags, layered over the Temporal configuration (``TEMPORAL_*`` variables and profiles, read by
:mod:`tierflow.connect`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
DEFAULT_TASK_QUEUE = "tierflow-tickets"
# How many ticket workflows a worker keeps in memory between tasks. It bounds the worker's
# memory, not the number of open tickets: an evicted ticket is rebuilt from its history when it
# next wakes (which costs CPU), so size it to the tickets that are active at once.
DEFAULT_CACHE_SIZE = 1000
# Worker processes one `tierflow worker --processes N` supervisor may start.
MAX_WORKER_PROCESSES = 64

# Set by command-line flags (or in code) only: the environment names these TEMPORAL_PROFILE,
# TEMPORAL_CONFIG_FILE, TEMPORAL_TLS*, which temporalio.envconfig reads as the `temporal` CLI does.
FLAG_ONLY = frozenset(
    {"profile", "config_file", "tls", "tls_cert", "tls_key", "tls_ca", "tls_server_name"}
)


class _WithoutFlagOnly(PydanticBaseSettingsSource):
    """An environment source that ignores the flag-only fields (no TIERFLOW_TLS_CERT etc.)."""

    def __init__(self, settings_cls: type[BaseSettings], source: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self._source = source

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ delegates

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._source().items() if k not in FLAG_ONLY}


class TemporalSettings(BaseSettings):
    """Connection settings shared by the worker, the client, the CLI and the HTTP API.

    Read from ``TIERFLOW_TEMPORAL_ADDRESS``, ``TIERFLOW_NAMESPACE`` and
    ``TIERFLOW_TASK_QUEUE`` (how a worker runs is :class:`tierflow.worker.WorkerSettings`).
    ``None`` means "not set here": the address, the namespace and every TLS
    setting then come from the Temporal configuration (``TEMPORAL_ADDRESS``, …, the profile),
    else the local defaults (``localhost:7233``, ``default``, no TLS). See docs/configuration.md.
    """

    model_config = SettingsConfigDict(env_prefix="TIERFLOW_", extra="ignore")

    temporal_address: str | None = None
    namespace: str | None = None
    task_queue: str = DEFAULT_TASK_QUEUE

    # Flag-only (see FLAG_ONLY): the `temporal` CLI's profile and TLS options.
    profile: str | None = None
    config_file: Path | None = None
    tls: bool | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    tls_server_name: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _WithoutFlagOnly(settings_cls, env_settings),
            _WithoutFlagOnly(settings_cls, dotenv_settings),
            _WithoutFlagOnly(settings_cls, file_secret_settings),
        )
