"""The cluster's configuration without running it: ports, each process's variables, the
server's own rendering of deploy/temporal-server.yaml, the test CA, the client settings."""

from __future__ import annotations

import datetime
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from benchmarks.fault_targets import CLUSTER_FAULTS
from benchmarks.faults import FaultConfig, schedule
from tierflow.cluster import certs
from tierflow.cluster.__main__ import main
from tierflow.cluster.binaries import bin_dir
from tierflow.cluster.layout import CONFIG_TEMPLATE, DYNAMIC_CONFIG, MAX_BASE_PORT, Layout
from tierflow.connect import resolve


def test_every_port_is_distinct_and_fits_temporals_membership_table(tmp_path: Path) -> None:
    layout = Layout(tmp_path, base_port=MAX_BASE_PORT)
    assert len(set(layout.ports)) == len(layout.ports) == 2 * len(layout.services) + 3
    assert max(layout.ports) <= 32767  # a smallint in cluster_membership
    assert layout.frontend_port == MAX_BASE_PORT
    assert [s.name for s in layout.services] == [
        "history-1",
        "history-2",
        "matching",
        "frontend",
        "worker",
    ]


def test_each_history_process_gets_ports_of_its_own(tmp_path: Path) -> None:
    layout = Layout(tmp_path, base_port=20000, shards=8)
    one, two = (layout.server_env(layout.service(n), "pw") for n in ("history-1", "history-2"))
    assert one["TEMPORAL_HISTORY_GRPC_PORT"] != two["TEMPORAL_HISTORY_GRPC_PORT"]
    assert one["TEMPORAL_HISTORY_MEMBERSHIP_PORT"] != two["TEMPORAL_HISTORY_MEMBERSHIP_PORT"]
    frontend = layout.server_env(layout.service("frontend"), "pw")
    assert "TEMPORAL_HISTORY_GRPC_PORT" not in frontend
    assert frontend["TEMPORAL_FRONTEND_GRPC_PORT"] == "20000"
    assert frontend["TEMPORAL_HISTORY_SHARDS"] == "8"
    assert frontend["DB_PORT"] == str(layout.postgres_port)
    # Only the frontend serves metrics (it alone counts actions); one port, one process.
    assert frontend["TEMPORAL_METRICS_ADDRESS"] == f"127.0.0.1:{layout.metrics_port}"
    assert "TEMPORAL_METRICS_ADDRESS" not in one


@pytest.mark.skipif(
    not (bin_dir() / "server").exists(), reason="the cluster's server is not built here"
)
def test_the_server_renders_the_template_as_the_cluster_means(tmp_path: Path) -> None:
    """The server's own rendering of deploy/temporal-server.yaml for history-2."""
    layout = Layout(tmp_path, base_port=21000, shards=8)
    service = layout.service("history-2")
    config = _rendered(layout, service.name)
    assert config["persistence"]["numHistoryShards"] == 8
    store = config["persistence"]["datastores"]["postgres-default"]["sql"]
    assert store["connectAddr"] == f"127.0.0.1:{layout.postgres_port}"
    assert config["services"]["history"]["rpc"]["grpcPort"] == service.grpc_port
    assert config["services"]["history"]["rpc"]["membershipPort"] == service.membership_port
    frontend_tls = config["global"]["tls"]["frontend"]["server"]
    assert frontend_tls["requireClientAuth"] is True
    assert frontend_tls["clientCaFiles"] == [str(layout.tls_dir / "ca.pem")]
    assert config["publicClient"]["hostPort"] == layout.address
    assert config["dynamicConfigClient"]["filepath"] == str(DYNAMIC_CONFIG)
    assert CONFIG_TEMPLATE.read_text().startswith("# enable-template")
    assert config["global"]["metrics"] is None
    # The frontend alone serves Prometheus metrics, on its own port.
    frontend = _rendered(layout, "frontend")["global"]["metrics"]["prometheus"]
    assert frontend["listenAddress"] == f"127.0.0.1:{layout.metrics_port}"


def _rendered(layout: Layout, name: str) -> dict[str, Any]:
    """The server's ``render-config`` of the template, with process ``name``'s variables."""
    service = layout.service(name)
    command = layout.server_command(bin_dir() / "server", service)
    render = [*command[: command.index("start")], "render-config"]
    render.remove("--allow-no-auth")
    env = {"PATH": os.environ["PATH"], **layout.server_env(service, "secret")}
    out = subprocess.run(render, env=env, capture_output=True, text=True, check=True).stdout
    config: dict[str, Any] = yaml.safe_load(out)
    return config


def test_the_test_ca_signs_a_server_and_client_certificates(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    assert certs.ensure_certificates(tls) is True
    ca = x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes())
    server = x509.load_pem_x509_certificate((tls / "server.pem").read_bytes())
    client = x509.load_pem_x509_certificate((tls / "client.pem").read_bytes())
    for cert in (server, client):
        cert.verify_directly_issued_by(ca)
        assert cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    for key in tls.glob("*-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    # A second run keeps what the first made.
    before = (tls / "client.pem").read_bytes()
    assert certs.ensure_certificates(tls) is False
    assert (tls / "client.pem").read_bytes() == before


def test_the_client_settings_are_mtls_through_tierflows_own_resolution(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    certs.ensure_certificates(layout.tls_dir)
    target = resolve(environ=layout.client_settings())
    assert target.security == "mTLS"
    assert target.address == layout.address
    assert target.namespace == "default"


def test_the_client_env_file_exports_those_settings(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "a dir with spaces")
    layout.run_dir.mkdir()
    layout.client_env_file.write_text(layout.client_env_text())
    out = subprocess.run(
        ["bash", "-c", f'. "{layout.client_env_file}" && env'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout
    exported = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    for name, value in layout.client_settings().items():
        assert exported[name] == value


def test_the_profile_file_is_the_same_connection(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    certs.ensure_certificates(layout.tls_dir)
    layout.client_profile_file.write_text(layout.client_profile_text())
    environ = {
        "TEMPORAL_CONFIG_FILE": str(layout.client_profile_file),
        "TEMPORAL_PROFILE": "cluster",
    }
    target = resolve(environ=environ)
    assert (target.address, target.security) == (layout.address, "mTLS")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up", "--base-port", "40000"], "smallint"),
        (["up", "--shards", "0"], "at least 1"),
        (["up", "--shards", "many"], "not a whole number"),
        (["restart"], "invalid choice"),
    ],
)
def test_bad_arguments_are_one_clear_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_the_fault_suite_breaks_the_clusters_own_processes_on_the_cluster_target() -> None:
    """FAULT_TARGET=cluster: each cluster fault once, within the fault span; no dev-server
    stop (the cluster has no single server to stop)."""
    cfg = FaultConfig.small()
    cfg.target = "cluster"
    plan = schedule(cfg)
    kinds = [kind for _, kind in plan]
    assert sorted(k for k in kinds if k in CLUSTER_FAULTS) == sorted(CLUSTER_FAULTS)
    assert "server_sigterm" not in kinds
    assert "server_sigkill" not in kinds
    assert all(0 <= at <= cfg.fault_span for at, _ in plan)
    assert kinds.count("worker_kill") == cfg.worker_kills
    assert [kind for _, kind in schedule(FaultConfig.small())].count("server_sigkill") == 1
