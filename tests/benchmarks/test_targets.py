"""Which Temporal the benchmarks run on (``--target``): the command line, the label each JSON
document carries, and the environment a worker process of a cluster run gets."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import FAULT_SERVERS, SERVERS, Config, parse_args
from benchmarks.faults import FaultConfig
from benchmarks.server import TARGETS, worker_env


def test_every_suite_takes_a_target() -> None:
    cfg, _ = parse_args(["--suite", "capacity", "--tiny", "--target", "cluster"])
    assert isinstance(cfg, Config)
    assert (cfg.suites, cfg.target) == (("capacity",), "cluster")
    cfg, _ = parse_args(["--suite", "lateness"])
    assert isinstance(cfg, Config)
    assert cfg.target == "devserver"
    faults, _ = parse_args(["--suite", "faults", "--small", "--target", "cluster"])
    assert isinstance(faults, FaultConfig)
    assert faults.target == "cluster"


def test_the_dev_servers_database_file_is_refused_on_the_cluster(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--suite", "capacity", "--db-file", "--target", "cluster"])
    assert exited.value.code == 2
    assert "--db-file is the dev server's" in capsys.readouterr().err


def test_every_target_has_a_label_for_the_figures() -> None:
    assert set(SERVERS) == set(FAULT_SERVERS) == set(TARGETS)
    assert "PostgreSQL" in SERVERS["cluster"]
    assert "mTLS" in SERVERS["cluster"]
    assert FAULT_SERVERS["cluster"].startswith(SERVERS["cluster"])


def test_a_cluster_worker_gets_the_clusters_settings_not_the_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "elsewhere:7233")
    monkeypatch.setenv("TEMPORAL_PROFILE", "prod")
    monkeypatch.setenv("TIERFLOW_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("PATH", "/usr/bin")
    cluster = {"TEMPORAL_ADDRESS": "127.0.0.1:22000", "TEMPORAL_TLS_CLIENT_CERT_PATH": "c.pem"}
    env = worker_env(cluster)
    assert env["PATH"] == "/usr/bin"
    assert {k: v for k, v in env.items() if k.startswith(("TEMPORAL_", "TIERFLOW_"))} == cluster
