"""docker-compose.yml, checked by parsing (no Docker engine runs here): it is valid against the
Compose Specification's JSON schema and creates exactly the search attributes the code defines."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tierflow.activities import Settings
from tierflow.worker import WorkerSettings
from tierflow.workflows import search_attributes

ROOT = Path(__file__).parent.parent.parent


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def compose_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return schema


class TestComposeFile:
    def test_valid_against_the_compose_specification(self) -> None:
        """The file validates against the Compose Specification's JSON schema."""
        jsonschema.validate(compose(), compose_schema())

    def test_the_schema_catches_mistakes(self) -> None:
        """The check is real: a misspelt service key fails validation."""
        broken = compose()
        broken["services"]["worker"]["enviroment"] = {}
        with pytest.raises(jsonschema.ValidationError, match="enviroment"):
            jsonschema.validate(broken, compose_schema())

    def test_pinned_temporal_versions(self) -> None:
        """The stack runs Temporal server 1.29.1 and UI 2.42.1, as the dev server does."""
        services = compose()["services"]
        assert services["temporal"]["image"] == "temporalio/server:1.29.1"
        assert services["temporal-schema"]["image"] == "temporalio/admin-tools:1.29.1"
        assert services["temporal-setup"]["image"] == "temporalio/admin-tools:1.29.1"
        assert services["temporal-ui"]["image"].endswith(":2.42.1")
        assert services["postgresql"]["image"].startswith("postgres:")
        assert services["worker"]["build"] == "."
        assert (ROOT / "Dockerfile").exists()

    def test_no_image_that_temporal_no_longer_builds(self) -> None:
        """auto-setup is gone: the server image runs, admin-tools sets up the schema first."""
        services = compose()["services"]
        assert not any("auto-setup" in str(s.get("image")) for s in services.values())
        schema = " ".join(services["temporal-schema"]["command"])
        assert "temporal_visibility" in schema
        assert "update-schema" in schema
        depends = services["temporal"]["depends_on"]["temporal-schema"]
        assert depends == {"condition": "service_completed_successfully"}

    def test_only_the_ui_is_published_and_only_on_loopback(self) -> None:
        """The frontend is not published (whoever reaches it acts on every ticket); the UI
        listens on the host's loopback only."""
        services = compose()["services"]
        published = {name: s["ports"] for name, s in services.items() if "ports" in s}
        assert published == {"temporal-ui": ["127.0.0.1:8080:8080"]}

    def test_setup_creates_the_search_attributes_the_code_defines(self) -> None:
        """The one-shot setup step registers exactly Tierflow's attributes, with their types."""
        command = " ".join(compose()["services"]["temporal-setup"]["command"])
        created = dict(re.findall(r"--name (\w+) --type (\w+)", command))
        assert created == search_attributes.cli_definitions()

    def test_worker_never_forces_an_empty_channel_setting(self) -> None:
        """Channel variables pass through from the shell or stay unset: no empty default
        (`${X:-}`) that would reach the worker as an empty string."""
        environment = compose()["services"]["worker"]["environment"]
        channels = {k: v for k, v in environment.items() if k.startswith("TIERFLOW_")}
        assert "TIERFLOW_SMTP_HOST" in channels
        for name, value in channels.items():
            assert value is None or (str(value).strip() and ":-}" not in str(value)), name

    def test_worker_passes_only_settings_the_worker_reads(self) -> None:
        """Every TIERFLOW_ variable of the worker names a setting (a typo would be ignored)."""
        environment = compose()["services"]["worker"]["environment"]
        known = {f"TIERFLOW_{name.upper()}" for name in Settings.model_fields}
        known |= {f"TIERFLOW_{name.upper()}" for name in WorkerSettings.model_fields}
        known |= {"TIERFLOW_TEMPORAL_ADDRESS", "TIERFLOW_NAMESPACE", "TIERFLOW_TASK_QUEUE"}
        assert {k for k in environment if k.startswith("TIERFLOW_")} <= known

    def test_worker_serves_metrics_on_the_stack_network(self) -> None:
        """The worker's Prometheus endpoint listens on all of the container's interfaces, on
        the port it exposes to the stack's network, and is not published on the host."""
        worker = compose()["services"]["worker"]
        bind = worker["environment"]["TIERFLOW_METRICS_BIND"]
        assert WorkerSettings(metrics_bind=bind).metrics_bind == bind
        host, _, port = bind.rpartition(":")
        assert host == "0.0.0.0"
        assert worker["expose"] == [port]
        assert "ports" not in worker
