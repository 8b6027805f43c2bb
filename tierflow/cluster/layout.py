"""Where everything of a cluster lives and what each process is told: ports, directories, the
variables that fill ``deploy/temporal-server.yaml``, and the setup steps that docker-compose.yml
runs too (the schema and the registrations, generated from one list here)."""

from __future__ import annotations

import hashlib
import os
import shlex
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tierflow.devserver import cache_dir
from tierflow.workflows import search_attributes

SERVER_VERSION = "1.29.1"
SERVER_MODULE = "go.temporal.io/server"
NAMESPACE = "default"
# The namespace's retention of closed tickets' histories (the CLI's default, said out loud).
RETENTION = timedelta(hours=72)
DEFAULT_BASE_PORT = 17233
# Temporal stores each process's membership port in a PostgreSQL smallint (cluster_membership):
# a port above 32767 stops the process at start. The cluster uses the 50 ports from its base.
PORT_SPAN = 50
MAX_BASE_PORT = 32767 - PORT_SPAN
DEFAULT_SHARDS = 16
HISTORY_PROCESSES = 2
DB_USER = "temporal"
REPOSITORY = Path(__file__).resolve().parent.parent.parent
CONFIG_TEMPLATE = REPOSITORY / "deploy" / "temporal-server.yaml"
DYNAMIC_CONFIG = REPOSITORY / "deploy" / "temporal-dynamicconfig.yaml"


@dataclass(frozen=True)
class SchemaStep:
    """One ``temporal-sql-tool`` run. ``once``: it fails harmlessly when already done (the
    database or its base schema exists), so a rerun carries on past it."""

    database: str
    args: tuple[str, ...]
    once: bool


# The schema steps, in order, for both databases: create, base schema, then every versioned
# update up to this server's version (update-schema applies only what is new).
SCHEMA_STEPS: tuple[SchemaStep, ...] = (
    SchemaStep("temporal", ("create",), once=True),
    SchemaStep("temporal_visibility", ("create",), once=True),
    SchemaStep("temporal", ("setup-schema", "-v", "0.0"), once=True),
    SchemaStep("temporal", ("update-schema", "-d", "{schema}/temporal/versioned"), once=False),
    SchemaStep("temporal_visibility", ("setup-schema", "-v", "0.0"), once=True),
    SchemaStep(
        "temporal_visibility",
        ("update-schema", "-d", "{schema}/visibility/versioned"),
        once=False,
    ),
)


def schema_step_args(step: SchemaStep, schema_dir: str) -> list[str]:
    """The step's own arguments, with the schema directory filled in."""
    return [arg.format(schema=schema_dir) for arg in step.args]


def compose_schema_command() -> str:
    """The compose stack's schema step (``temporal-schema``): the same steps, in the
    admin-tools image (its schema files, PostgreSQL at ``postgresql``)."""
    tool = 'temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u "$$SQL_USER"'
    lines = ["set -e;"]
    for step in SCHEMA_STEPS:
        args = " ".join(schema_step_args(step, "/etc/temporal/schema/postgresql/v12"))
        lines.append(f"{tool} --db {step.database} {args}{' || true' if step.once else ''};")
    return " ".join(lines).removesuffix(";")


def compose_setup_command() -> str:
    """The compose stack's registrations (``temporal-setup``): the namespace, then Tierflow's
    search attributes, with the ``temporal`` CLI (:func:`tierflow.cluster.processes` does the
    same through the SDK)."""
    hours = int(RETENTION.total_seconds() // 3600)
    attributes = " ".join(
        f"--name {name} --type {kind}" for name, kind in search_attributes.cli_definitions().items()
    )
    return (
        f"(temporal operator namespace describe --namespace {NAMESPACE} || "
        f"temporal operator namespace create --namespace {NAMESPACE} --retention {hours}h) && "
        f"temporal operator search-attribute create --namespace {NAMESPACE} {attributes}"
    )


# The compose stack runs every service in one container, the template mounted here.
COMPOSE_CONFIG_DIR = "/etc/temporal/tierflow"
ROLES = ("frontend", "history", "matching", "worker")


def server_args(config_dir: Path | str, roles: tuple[str, ...]) -> list[str]:
    """``temporal-server``'s arguments: the template in ``config_dir``, the given services."""
    args = ["--root", "/", "--config", str(config_dir), "--env", CONFIG_TEMPLATE.stem]
    # mTLS authenticates the frontend's callers; no authorizer beyond it (docs/cluster.md).
    args += ["--allow-no-auth", "start"]
    for role in roles:
        args += ["--service", role]
    return args


def compose_server_command() -> str:
    """The compose stack's server: the same template and arguments, all services in one
    process, announcing the container's own address to the membership ring."""
    args = " ".join(server_args(COMPOSE_CONFIG_DIR, ROLES))
    return f"TEMPORAL_BROADCAST_ADDRESS=$$(hostname -i) exec temporal-server {args}"


@dataclass(frozen=True)
class Service:
    """One server process: its name (``history-2``), its Temporal service, its ports."""

    name: str
    role: str  # frontend, history, matching, worker
    grpc_port: int
    membership_port: int


@dataclass(frozen=True)
class Layout:
    """A cluster's directories and ports, all derived from the run directory, the base port
    and the number of history shards."""

    run_dir: Path
    base_port: int = DEFAULT_BASE_PORT
    shards: int = DEFAULT_SHARDS

    @property
    def frontend_port(self) -> int:
        return self.base_port

    @property
    def frontend_http_port(self) -> int:
        return self.base_port + 1

    @property
    def metrics_port(self) -> int:
        """The frontend's Prometheus metrics (plain HTTP, loopback): among them the ``action``
        counters Temporal Cloud would bill, which only the frontend counts."""
        return self.base_port + 3

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def postgres_port(self) -> int:
        return self.base_port + 40

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.frontend_port}"

    @property
    def services(self) -> tuple[Service, ...]:
        base = self.base_port
        history = tuple(
            Service(f"history-{i + 1}", "history", base + 10 + 2 * i, base + 11 + 2 * i)
            for i in range(HISTORY_PROCESSES)
        )
        # History first: the frontend and matching find their shards' owners on start.
        return (
            *history,
            Service("matching", "matching", base + 20, base + 21),
            Service("frontend", "frontend", base, base + 2),
            Service("worker", "worker", base + 30, base + 31),
        )

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        names = ", ".join(s.name for s in self.services)
        raise KeyError(f"no service {name!r} in the cluster (it has {names})")

    @property
    def ports(self) -> list[int]:
        """Every port the cluster listens on."""
        ports = [self.frontend_http_port, self.metrics_port, self.postgres_port]
        for service in self.services:
            ports += [service.grpc_port, service.membership_port]
        return sorted(ports)

    # Directories and files.
    @property
    def tls_dir(self) -> Path:
        return self.run_dir / "tls"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def pid_dir(self) -> Path:
        return self.run_dir / "pids"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "cluster.json"

    @property
    def password_file(self) -> Path:
        return self.run_dir / "db-password"

    @property
    def client_env_file(self) -> Path:
        return self.run_dir / "client.env"

    @property
    def client_profile_file(self) -> Path:
        return self.run_dir / "temporal.toml"

    @property
    def postgres_dir(self) -> Path:
        """PostgreSQL's directory. PostgreSQL refuses to run as root, so as root it runs as an
        unprivileged user, who cannot enter root's home: then its data lives under /var/tmp,
        in a directory named after the run directory."""
        if os.geteuid() != 0:
            return self.run_dir / "postgresql"
        digest = hashlib.sha256(str(self.run_dir).encode()).hexdigest()[:10]
        return Path("/var/tmp") / f"tierflow-cluster-{digest}"

    def server_env(self, service: Service, db_password: str) -> dict[str, str]:
        """The variables that fill ``deploy/temporal-server.yaml`` for one process."""
        env = {
            "TEMPORAL_LOG_LEVEL": os.environ.get("TIERFLOW_CLUSTER_LOG_LEVEL", "warn"),
            "TEMPORAL_HISTORY_SHARDS": str(self.shards),
            "POSTGRES_SEEDS": "127.0.0.1",
            "DB_PORT": str(self.postgres_port),
            "POSTGRES_USER": DB_USER,
            "POSTGRES_PWD": db_password,
            "TEMPORAL_BROADCAST_ADDRESS": "127.0.0.1",
            "TEMPORAL_BIND_IP": "127.0.0.1",
            "TEMPORAL_TLS_DIR": str(self.tls_dir),
            "TEMPORAL_FRONTEND_ADDRESS": self.address,
            "TEMPORAL_FRONTEND_HTTP_PORT": str(self.frontend_http_port),
            "DYNAMIC_CONFIG_FILE_PATH": str(DYNAMIC_CONFIG),
        }
        if service.role == "frontend":
            env["TEMPORAL_METRICS_ADDRESS"] = f"127.0.0.1:{self.metrics_port}"
        for other in self.services:
            # The template has one history section: each history process gets its own ports;
            # the others never listen on history's.
            if other.role != "history" or other == service:
                role = other.role.upper()
                env[f"TEMPORAL_{role}_GRPC_PORT"] = str(other.grpc_port)
                env[f"TEMPORAL_{role}_MEMBERSHIP_PORT"] = str(other.membership_port)
        return env

    def server_command(self, binary: Path, service: Service) -> list[str]:
        """The process's command: the template read from deploy/ (``--env`` names the file)."""
        return [str(binary), *server_args(CONFIG_TEMPLATE.parent, (service.role,))]

    def client_settings(self) -> dict[str, str]:
        """The Temporal configuration a client connects with (what ``client.env`` exports)."""
        return {
            "TEMPORAL_ADDRESS": self.address,
            "TEMPORAL_NAMESPACE": NAMESPACE,
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(self.tls_dir / "ca.pem"),
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(self.tls_dir / "client.pem"),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(self.tls_dir / "client-key.pem"),
            "TEMPORAL_TLS_SERVER_NAME": "localhost",
        }

    def client_env_text(self) -> str:
        lines = [
            "# Connects Tierflow (worker, CLI, API, client) and the `temporal` CLI to the cluster",
            "# of `make cluster`, over mTLS: `. " + str(self.client_env_file) + "`",
        ]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in self.client_settings().items()]
        return "\n".join(lines) + "\n"

    def client_profile_text(self) -> str:
        """The same as a profile of the Temporal configuration file (TEMPORAL_CONFIG_FILE with
        TEMPORAL_PROFILE=cluster)."""
        tls = self.tls_dir
        return (
            "# The cluster of `make cluster`:\n"
            "# TEMPORAL_CONFIG_FILE=this file TEMPORAL_PROFILE=cluster\n"
            "[profile.cluster]\n"
            f'address = "{self.address}"\n'
            f'namespace = "{NAMESPACE}"\n\n'
            "[profile.cluster.tls]\n"
            f'server_ca_cert_path = "{tls / "ca.pem"}"\n'
            f'client_cert_path = "{tls / "client.pem"}"\n'
            f'client_key_path = "{tls / "client-key.pem"}"\n'
            'server_name = "localhost"\n'
        )


def default_run_dir() -> Path:
    explicit = os.environ.get("TIERFLOW_CLUSTER_DIR")
    return Path(explicit).expanduser() if explicit else cache_dir() / "cluster" / "run"
