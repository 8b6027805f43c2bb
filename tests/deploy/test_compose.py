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
from tierflow.cluster.layout import (
    COMPOSE_CONFIG_DIR,
    CONFIG_TEMPLATE,
    SCHEMA_STEPS,
    compose_schema_command,
    compose_server_command,
    compose_setup_command,
)
from tierflow.encryption import KEY_ID_ENV, KEYS_ENV
from tierflow.identity import IdentitySettings
from tierflow.server_limits import DYNAMIC_CONFIG
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

    def test_only_the_ui_and_the_api_are_published_and_only_on_loopback(self) -> None:
        """The frontend is not published (whoever reaches it acts on every ticket); the UI
        and the (authenticated) API listen on the host's loopback only."""
        services = compose()["services"]
        published = {name: s["ports"] for name, s in services.items() if "ports" in s}
        assert published == {
            "temporal-ui": ["127.0.0.1:8080:8080"],
            "api": ["127.0.0.1:8000:8000"],
        }

    def test_setup_creates_the_search_attributes_the_code_defines(self) -> None:
        """The one-shot setup step registers exactly Tierflow's attributes, with their types."""
        command = " ".join(compose()["services"]["temporal-setup"]["command"])
        created = dict(re.findall(r"--name (\w+) --type (\w+)", command))
        assert created == search_attributes.cli_definitions()

    def test_one_source_with_make_cluster(self) -> None:
        """The schema steps, the server's command and configuration file, and the
        registrations are those `make cluster` runs (tierflow/cluster/layout.py)."""
        services = compose()["services"]

        def words(service: str) -> str:
            return " ".join(" ".join(services[service]["command"]).split())

        assert words("temporal-schema") == compose_schema_command()
        assert words("temporal-setup") == compose_setup_command()
        assert words("temporal") == compose_server_command()
        mounts = {m.split(":")[1]: m.split(":")[0] for m in services["temporal"]["volumes"]}
        mounted = mounts[f"{COMPOSE_CONFIG_DIR}/{CONFIG_TEMPLATE.name}"]
        assert (ROOT / mounted).resolve() == CONFIG_TEMPLATE

    def test_the_server_reads_only_variables_compose_sets_or_defaults(self) -> None:
        """Every variable the configuration template reads without a default is set."""
        template = CONFIG_TEMPLATE.read_text()
        bare = set(re.findall(r'\{\{-? env "(\w+)" \}\}', template))
        bare |= set(re.findall(r'\(env "(\w+)"\) \}\}', template)) - set(
            re.findall(r'default "[^"]*" \(env "(\w+)"\)', template)
        )
        assert {"POSTGRES_USER", "POSTGRES_PWD", "TEMPORAL_TLS_DIR"} <= bare
        environment = compose()["services"]["temporal"]["environment"]
        # TLS is off in the stack (the frontend stays on its network): its files go unread.
        # So are the frontend's Prometheus metrics (make cluster's benchmarks read them).
        assert bare - {"TEMPORAL_TLS_DIR", "TEMPORAL_METRICS_ADDRESS"} <= set(environment)

    def test_worker_never_forces_an_empty_channel_setting(self) -> None:
        """Channel variables pass through from the shell or stay unset: no empty default
        (`${X:-}`) that would reach the worker as an empty string."""
        environment = compose()["services"]["worker"]["environment"]
        channels = {k: v for k, v in environment.items() if k.startswith("TIERFLOW_")}
        assert "TIERFLOW_SMTP_HOST" in channels
        for name, value in channels.items():
            assert value is None or (str(value).strip() and ":-}" not in str(value)), name

    @pytest.mark.parametrize("service", ["worker", "api"])
    def test_services_pass_only_settings_they_read(self, service: str) -> None:
        """Every TIERFLOW_ variable of the worker and the API names a setting (a typo would be
        ignored)."""
        environment = compose()["services"][service]["environment"]
        known = {f"TIERFLOW_{name.upper()}" for name in Settings.model_fields}
        known |= {f"TIERFLOW_{name.upper()}" for name in WorkerSettings.model_fields}
        known |= {f"TIERFLOW_{name.upper()}" for name in IdentitySettings.model_fields}
        known |= {"TIERFLOW_TEMPORAL_ADDRESS", "TIERFLOW_NAMESPACE", "TIERFLOW_TASK_QUEUE"}
        known |= {KEYS_ENV, KEY_ID_ENV, "TIERFLOW_CODEC_CORS_ORIGINS"}
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


REQUIRED = ("POSTGRES_USER", "POSTGRES_PASSWORD", "ENCRYPTION_KEYS_FILE", "API_KEYS_FILE")
_REFERENCE = re.compile(r"\$\{(\w+)(?::\?([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation of ``${VAR}`` and ``${VAR:?message}`` (an unset or empty VAR
    with ``:?`` stops compose with the message), over the whole parsed file."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, message = match.group(1), match.group(2)
        if message is not None and not env.get(name):
            raise ValueError(f"required variable {name} is missing a value: {message}")
        return env.get(name, "")

    return _REFERENCE.sub(one, value.replace("$$", "\0")).replace("\0", "$$")


class TestNothingInClearOrOpen:
    """The shipped stack encrypts customer data, takes its database credentials from required
    variables, and its UI (which has no login) cannot act on tickets."""

    @pytest.mark.parametrize("missing", REQUIRED)
    def test_the_stack_does_not_start_without_its_secrets(self, missing: str) -> None:
        """Each of the four values is required: without it compose stops, naming it."""
        env = {name: "x" for name in REQUIRED if name != missing}
        with pytest.raises(ValueError, match=f"required variable {missing} "):
            interpolate(compose(), env)
        assert "${" not in json.dumps(interpolate(compose(), dict.fromkeys(REQUIRED, "x")))

    @pytest.mark.parametrize("service", ["worker", "api"])
    def test_customer_data_is_encrypted(self, service: str) -> None:
        """The worker and the API (codec server) read the required key file, mounted as a
        secret; nothing reaches Temporal in clear."""
        stack = compose()
        spec = stack["services"][service]
        assert spec["environment"][KEYS_ENV] == "/run/secrets/encryption-keys"
        assert "encryption-keys" in spec["secrets"]
        assert stack["secrets"]["encryption-keys"]["file"].startswith("${ENCRYPTION_KEYS_FILE:?")

    def test_the_api_authenticates_its_callers(self) -> None:
        """The API reads a required keys file and never runs with --insecure-no-auth."""
        stack = compose()
        api = stack["services"]["api"]
        assert api["environment"]["TIERFLOW_API_KEYS_FILE"] == "/run/secrets/api-keys"
        assert stack["secrets"]["api-keys"]["file"].startswith("${API_KEYS_FILE:?")
        assert "--insecure-no-auth" not in api["command"]

    def test_the_ui_cannot_act(self) -> None:
        """Without a login, the UI only reads: its write actions (terminate, signal, reset,
        cancel, batch) are off."""
        ui = compose()["services"]["temporal-ui"]
        assert ui["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
        assert all(port.startswith("127.0.0.1:") for port in ui["ports"])

    def test_database_credentials_come_from_required_variables(self) -> None:
        """No fixed user or password: every credential of PostgreSQL, the schema tool and the
        server is the required POSTGRES_USER / POSTGRES_PASSWORD."""
        services = compose()["services"]
        credentials = {
            ("postgresql", "POSTGRES_USER"): "POSTGRES_USER",
            ("postgresql", "POSTGRES_PASSWORD"): "POSTGRES_PASSWORD",
            ("temporal-schema", "SQL_USER"): "POSTGRES_USER",
            ("temporal-schema", "SQL_PASSWORD"): "POSTGRES_PASSWORD",
            ("temporal", "POSTGRES_USER"): "POSTGRES_USER",
            ("temporal", "POSTGRES_PWD"): "POSTGRES_PASSWORD",
            ("temporal", "POSTGRES_VISIBILITY_USER"): "POSTGRES_USER",
            ("temporal", "POSTGRES_VISIBILITY_PWD"): "POSTGRES_PASSWORD",
        }
        for (service, key), variable in credentials.items():
            value = services[service]["environment"][key]
            assert value.startswith(f"${{{variable}:?"), (service, key, value)
        schema = " ".join(services["temporal-schema"]["command"])
        assert "-u temporal " not in schema
        assert schema.count('-u "$$SQL_USER"') == len(SCHEMA_STEPS)

    def test_the_server_runs_with_tierflows_limits(self) -> None:
        """The server reads the dynamic-config file mounted from deploy/, and that file holds
        exactly the limits every other Tierflow server starts with (tierflow/server_limits.py)."""
        temporal = compose()["services"]["temporal"]
        path = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
        mounts = {m.split(":")[1]: m.split(":")[0] for m in temporal["volumes"]}
        source = ROOT / mounts[path]
        settings = yaml.safe_load(source.read_text())
        assert {key: values[0]["value"] for key, values in settings.items()} == DYNAMIC_CONFIG
        assert all(values[0]["constraints"] == {} for values in settings.values())
