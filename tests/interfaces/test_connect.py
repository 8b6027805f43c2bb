"""Connecting to a secured Temporal: a real mTLS endpoint (a TLS-terminating proxy with its own
test CA, requiring a client certificate, in front of the session's dev server), the layers of
configuration (flags > TIERFLOW_* > TEMPORAL_* > profile > defaults), and one clear line for
every way it goes wrong, never showing the API key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from tests.interfaces.tls_support import Pki, make_ca, make_pki, mtls_proxy
from tests.workflows.support import fast_policy, running_worker, ticket
from tierflow.cli import app
from tierflow.client import TicketClient
from tierflow.config import TemporalSettings
from tierflow.connect import (
    ConnectionConfigError,
    ServerUnreachableError,
    connect,
    data_converter,
    resolve,
)
from tierflow.devserver import free_port
from tierflow.errors import TemporalUnavailable
from tierflow.sync_client import SyncTicketClient

API_KEY = "tfk-SECRET-9f3a1c77d2"  # a test value, asserted never to be shown


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest_asyncio.fixture
async def proxy(pki: Pki, temporal_env: WorkflowEnvironment) -> AsyncIterator[str]:
    """host:port of an mTLS endpoint in front of the session's dev server."""
    upstream = temporal_env.client.service_client.config.target_host
    async with mtls_proxy(pki, upstream) as address:
        yield address


def mtls(address: str, pki: Pki, **overrides: object) -> TemporalSettings:
    """Settings for the proxy with the right CA and client certificate (as the flags give)."""
    values: dict[str, object] = {
        "temporal_address": address,
        "tls_ca": pki.ca_cert,
        "tls_cert": pki.client_cert,
        "tls_key": pki.client_key,
    }
    values.update(overrides)
    return TemporalSettings.model_validate(values)


async def unreachable(settings: TemporalSettings) -> str:
    """The one-line message connecting with ``settings`` fails with."""
    with pytest.raises(ServerUnreachableError) as caught:
        await connect(settings, timeout=5)
    message = str(caught.value)
    assert "\n" not in message
    return message


def profile_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "temporal.toml"
    path.write_text(body)
    return path


class TestMutualTLS:
    async def test_right_ca_and_client_certificate_work_end_to_end(
        self, proxy: str, pki: Pki, task_queue: str
    ) -> None:
        """A worker and a client both connected through mTLS open and run a ticket."""
        secured = await connect(mtls(proxy, pki))
        assert secured.data_converter is data_converter()
        async with running_worker(secured, task_queue) as tickets:
            t = ticket("Cannot log in over mTLS")
            opened = await tickets.open(t, fast_policy())
            assert opened.created
            status = await tickets.status(t.id)
        assert status.ticket_id == t.id

    async def test_without_a_client_certificate_says_mtls_is_needed(
        self, proxy: str, pki: Pki
    ) -> None:
        """The server wants a client certificate: the line says so and which settings to set."""
        message = await unreachable(TemporalSettings(temporal_address=proxy, tls_ca=pki.ca_cert))
        assert message.startswith(f"cannot reach the Temporal server at {proxy}")
        assert "requires a client certificate" in message
        assert "TEMPORAL_TLS_CLIENT_CERT_PATH" in message

    async def test_a_wrong_ca_names_the_ca_file(self, proxy: str, pki: Pki, tmp_path: Path) -> None:
        """A CA that did not sign the server's certificate: not trusted, naming that file."""
        other_ca, _, _ = make_ca(tmp_path, "Other CA")
        message = await unreachable(mtls(proxy, pki, tls_ca=other_ca))
        assert "the server's certificate is not trusted" in message
        assert str(other_ca) in message

    async def test_plaintext_to_a_tls_endpoint_says_tls_is_needed(self, proxy: str) -> None:
        """Without TLS the server hangs up: the line suggests turning TLS on."""
        message = await unreachable(TemporalSettings(temporal_address=proxy))
        assert "requires TLS" in message

    async def test_tls_to_a_plaintext_server_says_it_does_not_speak_tls(
        self, temporal_env: WorkflowEnvironment, pki: Pki
    ) -> None:
        """TLS towards the plaintext dev server: one line, suggesting --no-tls."""
        address = temporal_env.client.service_client.config.target_host
        message = await unreachable(TemporalSettings(temporal_address=address, tls_ca=pki.ca_cert))
        assert "does not speak TLS" in message

    async def test_a_missing_key_file_is_named_before_connecting(
        self, pki: Pki, tmp_path: Path
    ) -> None:
        """A key file that is not there: one line naming it, and no connection attempted."""
        missing = tmp_path / "nowhere" / "client.key"
        settings = mtls(f"127.0.0.1:{free_port()}", pki, tls_key=missing)
        with pytest.raises(ConnectionConfigError) as caught:
            await connect(settings)
        message = str(caught.value)
        assert f"cannot read the TLS client key {missing}: no such file" in message
        assert "--tls-key, TEMPORAL_TLS_CLIENT_KEY_PATH" in message

    @pytest.mark.parametrize(
        ("field", "what"),
        [
            ("tls_ca", "server CA certificate"),
            ("tls_cert", "client certificate"),
            ("tls_key", "client key"),
        ],
    )
    def test_a_file_that_is_not_pem_is_named(
        self, pki: Pki, tmp_path: Path, field: str, what: str
    ) -> None:
        """A TLS file with the wrong content: which one, and that it is not PEM."""
        junk = tmp_path / "junk.pem"
        junk.write_text("this is not PEM\n")
        with pytest.raises(ConnectionConfigError, match=f"the TLS {what} {junk} is not a PEM"):
            resolve(mtls("127.0.0.1:7233", pki, **{field: junk}))

    def test_a_certificate_without_its_key_is_refused(self, pki: Pki) -> None:
        """mTLS needs both halves; the line says which is missing."""
        settings = TemporalSettings(temporal_address="127.0.0.1:7233", tls_cert=pki.client_cert)
        with pytest.raises(ConnectionConfigError, match="no client key: mTLS needs both"):
            resolve(settings)

    async def test_a_key_of_another_certificate_is_explained(self, proxy: str, pki: Pki) -> None:
        """A client certificate with a key that is not its own: both files named."""
        message = await unreachable(mtls(proxy, pki, tls_key=pki.server_key))
        assert f"client certificate {pki.client_cert}" in message
        assert f"client key {pki.server_key} do not belong together" in message


class TestProfiles:
    async def test_a_profile_selects_the_tls_settings(
        self, proxy: str, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """TEMPORAL_CONFIG_FILE + TEMPORAL_PROFILE: the profile's address, CA and client
        certificate are used, as the `temporal` CLI would use them."""
        path = profile_file(
            tmp_path,
            f"""
[profile.default]
address = "127.0.0.1:{free_port()}"

[profile.secure]
address = "{proxy}"
namespace = "default"

[profile.secure.tls]
server_ca_cert_path = "{pki.ca_cert}"
client_cert_path = "{pki.client_cert}"
client_key_path = "{pki.client_key}"
""",
        )
        monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(path))
        monkeypatch.setenv("TEMPORAL_PROFILE", "secure")
        client = await connect(TemporalSettings())
        assert client.service_client.config.target_host == proxy

    async def test_tierflow_address_overrides_the_profile(
        self, proxy: str, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """TIERFLOW_TEMPORAL_ADDRESS wins over the profile's (dead) address; TLS stays."""
        path = profile_file(
            tmp_path,
            f"""
[profile.default]
address = "127.0.0.1:{free_port()}"

[profile.default.tls]
server_ca_cert_path = "{pki.ca_cert}"
client_cert_path = "{pki.client_cert}"
client_key_path = "{pki.client_key}"
""",
        )
        monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(path))
        monkeypatch.setenv("TIERFLOW_TEMPORAL_ADDRESS", proxy)
        client = await connect(TemporalSettings())
        assert client.service_client.config.target_host == proxy

    async def test_the_sync_client_uses_the_temporal_variables(
        self, proxy: str, pki: Pki, monkeypatch: pytest.MonkeyPatch, task_queue: str
    ) -> None:
        """TEMPORAL_ADDRESS and TEMPORAL_TLS_* alone get a script's client through mTLS."""
        monkeypatch.setenv("TEMPORAL_ADDRESS", proxy)
        monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(pki.ca_cert))
        monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(pki.client_cert))
        monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(pki.client_key))

        def script() -> str:
            with SyncTicketClient.connect(TemporalSettings(task_queue=task_queue)) as sync:
                return str(sync.tickets.client.service_client.config.target_host)

        assert await asyncio.to_thread(script) == proxy

    async def test_the_sync_client_reports_tls_trouble_as_unavailable(
        self, proxy: str, pki: Pki
    ) -> None:
        """A script sees TemporalUnavailable with the same one line."""

        def script() -> str:
            settings = TemporalSettings(temporal_address=proxy, tls_ca=pki.ca_cert)
            with pytest.raises(TemporalUnavailable) as caught:
                SyncTicketClient.connect(settings)
            return str(caught.value)

        assert "requires a client certificate" in await asyncio.to_thread(script)

    def test_layers_apply_in_order(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """flags > TIERFLOW_* > TEMPORAL_* > profile > defaults, for address and namespace."""
        path = profile_file(
            tmp_path, '[profile.default]\naddress = "profile:1"\nnamespace = "profile-ns"\n'
        )
        monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(path))
        assert (resolve().address, resolve().namespace) == ("profile:1", "profile-ns")
        monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal-env:2")
        monkeypatch.setenv("TEMPORAL_NAMESPACE", "temporal-ns")
        assert (resolve().address, resolve().namespace) == ("temporal-env:2", "temporal-ns")
        monkeypatch.setenv("TIERFLOW_TEMPORAL_ADDRESS", "tierflow-env:3")
        monkeypatch.setenv("TIERFLOW_NAMESPACE", "tierflow-ns")
        target = resolve()
        assert (target.address, target.namespace) == ("tierflow-env:3", "tierflow-ns")
        flags = TemporalSettings(temporal_address="flag:4", namespace="flag-ns")
        assert (resolve(flags).address, resolve(flags).namespace) == ("flag:4", "flag-ns")
        monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(profile_file(tmp_path, "")))
        for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TIERFLOW_TEMPORAL_ADDRESS"):
            monkeypatch.delenv(name)
        monkeypatch.delenv("TIERFLOW_NAMESPACE")
        plain = resolve()
        assert (plain.address, plain.namespace, plain.tls) == ("localhost:7233", "default", False)

    def test_tls_flags_are_not_read_from_tierflow_variables(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The TLS settings have one environment name each: TEMPORAL_*, not TIERFLOW_*."""
        monkeypatch.setenv("TIERFLOW_TLS_CERT", "/etc/passwd")
        monkeypatch.setenv("TIERFLOW_PROFILE", "prod")
        settings = TemporalSettings()
        assert settings.tls_cert is None
        assert settings.profile is None

    def test_the_tls_flag_turns_a_profile_s_tls_off(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--no-tls wins over a profile's TLS section (and an API key's implied TLS)."""
        path = profile_file(
            tmp_path,
            '[profile.default]\naddress = "a:1"\napi_key = "k"\n'
            '[profile.default.tls]\nserver_name = "x"\n',
        )
        monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(path))
        assert isinstance(resolve().tls, TLSConfig)
        assert resolve(TemporalSettings(tls=False)).tls is False

    def test_an_unknown_profile_is_one_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A profile the file does not have: named, with the file."""
        path = profile_file(tmp_path, '[profile.default]\naddress = "a:1"\n')
        monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(path))
        with pytest.raises(ConnectionConfigError) as caught:
            resolve(TemporalSettings(profile="prod"))
        assert str(caught.value) == (
            f"cannot load the Temporal configuration in {path} (profile 'prod'): "
            "Profile 'prod' not found"
        )

    def test_a_missing_config_file_is_an_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A named file that is not there is refused (the SDK would silently ignore it)."""
        monkeypatch.setenv("TEMPORAL_CONFIG_FILE", "/nonexistent/temporal.toml")
        with pytest.raises(ConnectionConfigError, match="from TEMPORAL_CONFIG_FILE"):
            resolve()

    def test_a_broken_config_file_never_echoes_its_lines(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A TOML error is located, but the offending line (maybe the API key) is not shown."""
        path = profile_file(tmp_path, f'[profile.default]\napi_key = "{API_KEY}\n')
        monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(path))
        with pytest.raises(ConnectionConfigError) as caught:
            resolve()
        message = str(caught.value)
        assert "TOML parse error at line 2" in message
        assert "\n" not in message
        assert API_KEY not in message
        assert API_KEY[:8] not in message


class TestApiKey:
    def test_an_api_key_is_sent_with_tls_on_by_default(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """TEMPORAL_API_KEY reaches the connection, with TLS on, as the SDK does for Cloud."""
        monkeypatch.setenv("TEMPORAL_ADDRESS", "ns.acct.tmprl.cloud:7233")
        monkeypatch.setenv("TEMPORAL_API_KEY", API_KEY)
        target = resolve()
        assert target.api_key == API_KEY
        assert target.tls is True
        assert target.security == "TLS, API key"
        assert API_KEY not in repr(target) + target.describe()

    async def test_an_api_key_travels_through_mtls_and_is_never_shown(
        self,
        proxy: str,
        pki: Pki,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """With a key, connecting works through the proxy (the dev server ignores keys), and
        the failures around it never print the key, in errors or in logs."""
        monkeypatch.setenv("TEMPORAL_API_KEY", API_KEY)
        caplog.set_level(logging.DEBUG)
        with capture_logs() as logs:
            ok = await connect(mtls(proxy, pki))
            assert ok.service_client.config.api_key == API_KEY
            other_ca, _, _ = make_ca(tmp_path, "Other CA")
            failures = [
                await unreachable(mtls(proxy, pki, tls_ca=other_ca)),
                await unreachable(TemporalSettings(temporal_address=proxy, tls_ca=pki.ca_cert)),
                await unreachable(TemporalSettings(temporal_address=f"127.0.0.1:{free_port()}")),
            ]
        shown = "\n".join([*failures, caplog.text, repr(logs)])
        assert API_KEY not in shown
        assert "API key" in failures[2]  # the line still says one was sent

    async def test_the_cli_has_no_api_key_option(self) -> None:
        """Secrets never on a command line: there is no --api-key."""
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["--api-key", API_KEY, "tickets", "list"]
        )
        assert result.exit_code == 2
        assert "no such option: --api-key" in result.stderr
        assert API_KEY not in result.stderr


class TestCommandLine:
    async def test_tls_flags_reach_the_server(
        self, proxy: str, pki: Pki, tickets: TicketClient
    ) -> None:
        """`tierflow --tls-ca … --tls-cert … --tls-key …` lists tickets through mTLS."""
        argv = [
            "--address", proxy, "--task-queue", tickets.task_queue,
            "--tls-ca", str(pki.ca_cert), "--tls-cert", str(pki.client_cert),
            "--tls-key", str(pki.client_key), "tickets", "list",
        ]  # fmt: skip
        result = await asyncio.to_thread(CliRunner().invoke, app, argv)
        assert result.exit_code == 0, result.output

    async def test_a_profile_flag_selects_the_profile(
        self, proxy: str, pki: Pki, tmp_path: Path, tickets: TicketClient
    ) -> None:
        """--config-file and --profile select the TLS settings, as TEMPORAL_* would."""
        path = profile_file(
            tmp_path,
            f"""
[profile.secure]
address = "{proxy}"
[profile.secure.tls]
server_ca_cert_path = "{pki.ca_cert}"
client_cert_path = "{pki.client_cert}"
client_key_path = "{pki.client_key}"
""",
        )
        argv = [
            "--config-file", str(path), "--profile", "secure",
            "--task-queue", tickets.task_queue, "tickets", "list",
        ]  # fmt: skip
        result = await asyncio.to_thread(CliRunner().invoke, app, argv)
        assert result.exit_code == 0, result.output

    async def test_tls_trouble_is_one_error_line(self, proxy: str, pki: Pki) -> None:
        """No client certificate: exit 1, one `error:` line, no traceback."""
        argv = ["--address", proxy, "--tls-ca", str(pki.ca_cert), "tickets", "list"]
        result = await asyncio.to_thread(CliRunner().invoke, app, argv)
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"error: cannot reach the Temporal server at {proxy}")
        assert "Traceback" not in result.output

    async def test_a_missing_certificate_file_is_one_error_line(self, tmp_path: Path) -> None:
        """--tls-cert naming no file: exit 1, the file named, no traceback."""
        missing = tmp_path / "client.pem"
        argv = [
            "--address", "127.0.0.1:7233", "--tls-cert", str(missing),
            "--tls-key", str(missing), "tickets", "list",
        ]  # fmt: skip
        result = await asyncio.to_thread(CliRunner().invoke, app, argv)
        assert result.exit_code == 1
        assert result.stderr.strip() == (
            f"error: cannot read the TLS client certificate {missing}: no such file or "
            "directory (set by --tls-cert, TEMPORAL_TLS_CLIENT_CERT_PATH or the profile's "
            "tls.client_cert_path)"
        )


async def test_local_connections_ignore_the_temporal_configuration(
    temporal_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's and benchmarks' own dev server is reached in plaintext even when the
    environment points at a secured cluster."""
    from tierflow.connect import connect_local

    monkeypatch.setenv("TEMPORAL_API_KEY", API_KEY)
    monkeypatch.setenv("TEMPORAL_PROFILE", "does-not-exist")
    address = temporal_env.client.service_client.config.target_host
    client: Client = await connect_local(address)
    assert client.service_client.config.api_key is None
