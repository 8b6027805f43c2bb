"""Connecting to Temporal — local, self-hosted with TLS or mTLS, or Temporal Cloud — with
Tierflow's data converter, and one clear line when that fails.

Where and how to connect is layered, the most specific first: command-line flags, Tierflow's
variables (``TIERFLOW_TEMPORAL_ADDRESS``, ``TIERFLOW_NAMESPACE``), then the Temporal
configuration the ``temporal`` CLI reads (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TLS*`` over the profile ``TEMPORAL_PROFILE`` of the TOML file
``TEMPORAL_CONFIG_FILE``; :mod:`temporalio.envconfig`), then ``localhost:7233``, ``default``,
no TLS. Every entry point connects through :func:`connect`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS, DataSource
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from tierflow.config import DEFAULT_ADDRESS, DEFAULT_NAMESPACE, TemporalSettings
from tierflow.encryption import EncryptionConfigError, QuarantinePayloadConverter, codec_from_env


class ServerUnreachableError(RuntimeError):
    """Tierflow could not connect to Temporal; the one-line message says where it looked, why
    it failed and what to do. It never contains the API key or key material."""


class ConnectionConfigError(ServerUnreachableError):
    """The connection settings themselves are wrong (a missing file, an unknown profile, …)."""


def data_converter(environ: Mapping[str, str] | None = None) -> DataConverter:
    """The data converter of every Tierflow client, and so of its workers: pydantic models,
    encrypted when ``TIERFLOW_ENCRYPTION_KEYS`` names a key file (:mod:`tierflow.encryption`).

    Encrypted, failures carry their message and stack trace as an encoded (so encrypted)
    payload too: a delivery error may quote an address; and a payload no key opens reaches a
    workflow only as a stand-in that its signal handlers drop and every typed receiver refuses
    (:mod:`tierflow.encryption`, "Quarantine"). Without a key file this is the SDK's
    ``pydantic_data_converter`` itself. Raises :class:`ConnectionConfigError` for a bad key
    file or key id.
    """
    try:
        codec = codec_from_env(environ)
    except EncryptionConfigError as err:
        raise ConnectionConfigError(str(err)) from None
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=QuarantinePayloadConverter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


# A host name, an IPv4 address or a bracketed IPv6 address.
_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?")


def address_problem(address: str) -> str | None:
    """What is wrong with a ``host:port`` address, or None when it is well formed."""
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        return "expected host:port, e.g. localhost:7233"
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535):
        return "the port must be a number from 1 to 65535"
    if not _HOST.fullmatch(host):
        return "the host must be a host name, an IPv4 address or a [bracketed] IPv6 address"
    return None


def _shown(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass(frozen=True)
class _Credential:
    """One TLS file: what it is, where it came from, its bytes."""

    what: str  # "client certificate", …
    where: str  # the path, or "inline data"
    hint: str  # the settings that name it
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Target:
    """Where and how to connect, resolved from every layer. Its repr and :meth:`describe`
    show no secret (the API key and the TLS files' contents are left out)."""

    address: str
    namespace: str
    tls: bool | TLSConfig = field(repr=False)
    api_key: str | None = field(default=None, repr=False)
    rpc_metadata: Mapping[str, str] = field(default_factory=dict, repr=False)
    files: tuple[_Credential, ...] = field(default=(), repr=False)

    @property
    def security(self) -> str:
        """``plaintext``, ``TLS`` or ``mTLS``, and ``API key`` when one is sent."""
        kind = "plaintext"
        if self.tls is not False:
            client_cert = isinstance(self.tls, TLSConfig) and self.tls.client_cert is not None
            kind = "mTLS" if client_cert else "TLS"
        return f"{kind}, API key" if self.api_key else kind

    def describe(self) -> str:
        return f"{self.address} (namespace {_shown(self.namespace)!r}, {self.security})"

    def file(self, what: str) -> _Credential | None:
        return next((f for f in self.files if f.what == what), None)


_HINTS = {
    "server CA certificate": "--tls-ca, TEMPORAL_TLS_SERVER_CA_CERT_PATH or the profile's "
    "tls.server_ca_cert_path",
    "client certificate": "--tls-cert, TEMPORAL_TLS_CLIENT_CERT_PATH or the profile's "
    "tls.client_cert_path",
    "client key": "--tls-key, TEMPORAL_TLS_CLIENT_KEY_PATH or the profile's tls.client_key_path",
}


def _credential(what: str, source: DataSource | None) -> _Credential | None:
    """Read and check one TLS file; a problem is one line naming the file and the settings."""
    if source is None:
        return None
    hint = _HINTS[what]
    if isinstance(source, Path):
        where = str(source)
        try:
            data = source.read_bytes()
        except OSError as err:
            reason = err.strerror or type(err).__name__
            raise ConnectionConfigError(
                f"cannot read the TLS {what} {_shown(where, 120)}: {reason.lower()} (set by {hint})"
            ) from None
    else:
        where = "given as inline data"
        data = source.encode() if isinstance(source, str) else source
    if what == "server CA certificate":
        try:
            ssl.create_default_context(cadata=data.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError):
            raise ConnectionConfigError(
                f"the TLS {what} {_shown(where, 120)} is not a PEM certificate (set by {hint})"
            ) from None
    elif what == "client certificate" and b"-----BEGIN CERTIFICATE-----" not in data:
        raise ConnectionConfigError(
            f"the TLS {what} {_shown(where, 120)} is not a PEM certificate (set by {hint})"
        )
    elif what == "client key" and not re.search(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----", data):
        raise ConnectionConfigError(
            f"the TLS {what} {_shown(where, 120)} is not a PEM private key (set by {hint})"
        )
    return _Credential(what, where, hint, data)


def _load_profile(settings: TemporalSettings, environ: Mapping[str, str]) -> ClientConfigProfile:
    """The Temporal configuration: TEMPORAL_* variables over the selected profile."""
    config_file = settings.config_file
    named_by = "--config-file"
    if config_file is None and environ.get("TEMPORAL_CONFIG_FILE"):
        config_file, named_by = Path(environ["TEMPORAL_CONFIG_FILE"]), "TEMPORAL_CONFIG_FILE"
    if config_file is not None and not config_file.is_file():
        # The SDK would silently fall back to no file at all; a named file must be there.
        raise ConnectionConfigError(
            f"the Temporal configuration file {_shown(str(config_file), 120)} (from {named_by}) "
            "does not exist or is not a file"
        )
    try:
        return ClientConfigProfile.load(
            profile=settings.profile,
            config_source=config_file,
            override_env_vars=dict(environ),
        )
    except Exception as err:  # the SDK's ConfigError; the message comes from the Rust core
        lines = [line for line in str(err).splitlines() if line.strip()]
        # Keep the summary and the explanation, never a quoted source line (it may hold a key).
        explained = [x for x in lines[1:] if not re.match(r"\s*\d*\s*[|=]", x)]
        kept = [lines[0], *explained[-1:]]
        detail = re.sub(r"\"[^\"]*\"", '"…"', "; ".join(kept))
        where = f" in {_shown(str(config_file), 120)}" if config_file else ""
        profile = settings.profile or environ.get("TEMPORAL_PROFILE")
        which = f" (profile {_shown(profile)!r})" if profile else ""
        raise ConnectionConfigError(
            f"cannot load the Temporal configuration{where}{which}: {_shown(detail, 200)}"
        ) from None


def _tls_settings(
    settings: TemporalSettings, base: ClientConfigTLS | None
) -> ClientConfigTLS | None:
    """The profile's TLS settings with the command-line flags on top (None: no TLS section)."""
    overrides: dict[str, object] = {}
    if settings.tls_cert is not None:
        overrides["client_cert"] = settings.tls_cert
    if settings.tls_key is not None:
        overrides["client_private_key"] = settings.tls_key
    if settings.tls_ca is not None:
        overrides["server_root_ca_cert"] = settings.tls_ca
    if settings.tls_server_name is not None:
        overrides["server_name"] = settings.tls_server_name
    if settings.tls is not None:
        overrides["disabled"] = not settings.tls
    if not overrides:
        return base
    return dataclasses.replace(base or ClientConfigTLS(), **overrides)  # type: ignore[arg-type]


def resolve(
    settings: TemporalSettings | None = None,
    *,
    environment: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """Where and how to connect (see the module docstring for the layers).

    ``environment=False`` ignores the Temporal configuration (``TEMPORAL_*``, profiles): for a
    dev server Tierflow itself started. Raises :class:`ConnectionConfigError`.
    """
    settings = settings or TemporalSettings()
    env = os.environ if environ is None else environ
    profile = _load_profile(settings, env) if environment else ClientConfigProfile()

    address = settings.temporal_address or profile.address or DEFAULT_ADDRESS
    namespace = settings.namespace or profile.namespace or DEFAULT_NAMESPACE
    problem = address_problem(address)
    if problem is not None:
        source = (
            "address" if settings.temporal_address else "TEMPORAL_ADDRESS or the profile's address"
        )
        raise ConnectionConfigError(f"invalid Temporal {source} {_shown(address)!r}: {problem}")

    api_key = profile.api_key or None
    tls_settings = _tls_settings(settings, profile.tls)
    tls: bool | TLSConfig
    files: tuple[_Credential, ...] = ()
    if tls_settings is not None and tls_settings.disabled is True:
        tls = False
    elif tls_settings is None:
        tls = api_key is not None  # an API key implies TLS, as in the SDK
    else:
        ca = _credential("server CA certificate", tls_settings.server_root_ca_cert)
        cert = _credential("client certificate", tls_settings.client_cert)
        key = _credential("client key", tls_settings.client_private_key)
        if (cert is None) != (key is None):
            have, missing = ("certificate", "key") if key is None else ("key", "certificate")
            raise ConnectionConfigError(
                f"a TLS client {have} is set but no client {missing}: mTLS needs both "
                f"({_HINTS['client ' + missing]})"
            )
        files = tuple(f for f in (ca, cert, key) if f is not None)
        tls = TLSConfig(
            server_root_ca_cert=ca.data if ca else None,
            domain=tls_settings.server_name,
            client_cert=cert.data if cert else None,
            client_private_key=key.data if key else None,
        )
    return Target(address, namespace, tls, api_key, dict(profile.grpc_meta), files)


def _reason(err: BaseException, target: Target, timeout: float) -> str:
    """Why connecting failed and what to do, in a few words (no secrets)."""
    text = str(err)
    cert, key = target.file("client certificate"), target.file("client key")
    ca = target.file("server CA certificate")
    if isinstance(err, RPCError):
        if err.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
            return (
                f"the server refused the credentials ({err.message}): check the API key "
                "(TEMPORAL_API_KEY or the profile's api_key), the client certificate and "
                "that they grant this namespace"
            )
        if err.status == RPCStatusCode.NOT_FOUND:
            return (
                "the server has no such namespace: set the right one (--namespace, "
                "TIERFLOW_NAMESPACE, TEMPORAL_NAMESPACE or the profile)"
            )
    if "NotValidForName" in text:
        return (
            "the server's certificate is not valid for that host name: connect by a name it "
            "carries or set --tls-server-name / TEMPORAL_TLS_SERVER_NAME"
        )
    if "Expired" in text and "InvalidCertificate" in text:
        return "the server's certificate has expired"
    if "UnknownIssuer" in text or "InvalidCertificate" in text:
        signer = f"{ca.where} did not sign it" if ca else "no trusted CA signed it"
        return (
            f"the server's certificate is not trusted ({signer}): set the CA that signed it "
            f"({_HINTS['server CA certificate']})"
        )
    if "PrivateKeyParseError" in text and key is not None:
        return f"the TLS client key {key.where} cannot be parsed: use an unencrypted PEM key"
    if "KeyMismatch" in text or "InconsistentKeys" in text:
        return (
            f"the client certificate {cert.where if cert else ''} and the client key "
            f"{key.where if key else ''} do not belong together"
        )
    if "InvalidContentType" in text or "CorruptMessage" in text or "InvalidMessage" in text:
        return (
            "the server does not speak TLS there: connect without TLS "
            "(--no-tls, TEMPORAL_TLS=false)"
        )
    if "CertificateRequired" in text or ("HandshakeFailure" in text and cert is None):
        return _needs_client_cert()
    if "BadCertificate" in text or "UnknownCA" in text or "CertificateUnknown" in text:
        return f"the server refused the client certificate {cert.where if cert else ''}"
    if "ConnectionRefused" in text or "Connection refused" in text:
        return (
            "nothing accepts connections there: start a server (`tierflow server`) or point "
            "--address / TIERFLOW_TEMPORAL_ADDRESS / TEMPORAL_ADDRESS / the profile at yours"
        )
    if "dns error" in text or "failed to lookup" in text or "Name or service not known" in text:
        return "the host name does not resolve: check the address"
    if re.search(r"deadline|timed? ?out|Timeout", text, re.IGNORECASE):
        return f"no answer within {timeout:g} s: check the address and the network"
    if re.search(r"connection closed|broken pipe|Cancelled|reset|h2 protocol|eof", text, re.I):
        if target.tls is False:
            return (
                "the server closed the connection: it probably requires TLS (--tls, "
                "TEMPORAL_TLS=true, or a profile with TLS settings)"
            )
        if cert is None:
            return _needs_client_cert()
        return (
            f"the server closed the connection: it may refuse the client certificate {cert.where}"
        )
    first = text.splitlines()[0] if text else type(err).__name__
    return _shown(first.removeprefix("Failed client connect: "), 200)


def _needs_client_cert() -> str:
    return (
        "the server closed the connection after the TLS handshake: it probably requires a "
        "client certificate (mTLS): set --tls-cert and --tls-key, or TEMPORAL_TLS_CLIENT_CERT_PATH "
        "and TEMPORAL_TLS_CLIENT_KEY_PATH, or a profile's tls.client_cert_path/client_key_path"
    )


def _scrub(message: str, target: Target) -> str:
    """Belt and braces: never let the API key through, whatever the server echoed."""
    if target.api_key:
        message = message.replace(target.api_key, "***")
    return re.sub(r"(?i)bearer\s+\S+", "Bearer ***", message)


async def connect(
    settings: TemporalSettings | None = None,
    *,
    environment: bool = True,
    timeout: float = 10.0,
) -> Client:
    """Connect as ``settings`` and the Temporal configuration say (see :func:`resolve`), and
    check the namespace is served; raise :class:`ServerUnreachableError` with one line."""
    target = resolve(settings, environment=environment)
    converter = data_converter()
    try:
        client = await Client.connect(
            target.address,
            namespace=target.namespace,
            api_key=target.api_key,
            tls=target.tls,
            rpc_metadata=target.rpc_metadata,
            data_converter=converter,
            connect_timeout=timedelta(seconds=timeout),
        )
        # Connecting does not check the namespace; describing it proves the server serves it.
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=target.namespace)
        )
    except (RuntimeError, RPCError, OSError) as err:
        reason = _reason(err, target, timeout)
        raise ServerUnreachableError(
            _scrub(f"cannot reach the Temporal server at {target.describe()}: {reason}", target)
        ) from err
    return client


async def connect_local(address: str, namespace: str = DEFAULT_NAMESPACE) -> Client:
    """Connect to a dev server Tierflow started itself (the demo, the benchmarks): plaintext,
    ignoring the Temporal configuration, which may point at a production cluster."""
    local = TemporalSettings.model_construct(temporal_address=address, namespace=namespace)
    return await connect(local, environment=False)
