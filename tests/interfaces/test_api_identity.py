"""Who calls the HTTP API: signed tokens (HS256 with a secret file; RS256/ES256 from a JWKS on a
real loopback server), hashed API keys, the caller as the actor of its actions, services acting
on behalf of people, and the explicit opt-in to serve without authentication."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from temporalio.client import Client
from typer.testing import CliRunner

from tests.interfaces.conftest import Cli
from tests.interfaces.http_support import (
    ACTOR,
    AGENT,
    AGENT_TOKEN,
    AUTH,
    SERVICE,
    SERVICE_TOKEN,
    bearer,
    history_length,
    quiet_history_length,
    serving,
)
from tests.workflows.support import fast_policy, ticket, wait_for
from tierflow.api import create_app
from tierflow.cli import app
from tierflow.client import ActionForbidden, ActionRejected, TicketClient
from tierflow.identity import (
    ApiKeys,
    Identities,
    IdentityConfigError,
    IdentitySettings,
    JwtVerifier,
    Principal,
    key_line,
)

ISSUER = "https://idp.example.com/"
AUDIENCE = "tierflow"
SECRET = b"0123456789abcdef0123456789abcdef-hs256"  # 38 bytes: at least HS256's 32
QUERY_KEY = "tfk_query-key-Xo90bZ"


@pytest.fixture(autouse=True)
def _no_identity_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's identity variables never reach these tests."""
    for name in (
        "TIERFLOW_JWT_SECRET_FILE",
        "TIERFLOW_JWT_SECRET",
        "TIERFLOW_JWT_JWKS_URL",
        "TIERFLOW_JWT_ISSUER",
        "TIERFLOW_JWT_AUDIENCE",
        "TIERFLOW_JWT_NAME_CLAIM",
        "TIERFLOW_JWT_ROLES_CLAIM",
        "TIERFLOW_API_KEYS_FILE",
        "TIERFLOW_API_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def idle(client: Client, task_queue: str) -> TicketClient:
    """A ticket client with no worker: enough for /me, which never reaches Temporal."""
    return TicketClient(client, task_queue)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "Alex Kim", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now}
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


def hs256_by_hand(payload: dict[str, Any], key: bytes) -> str:
    """An HS256 token with any key (PyJWT refuses to sign with a public key, as it should)."""

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


async def me(url: str, credential: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as http:
        return await http.get("/me", headers=bearer(credential))


class TestSharedSecretTokens:
    @pytest_asyncio.fixture
    async def url(self, idle: TicketClient, tmp_path: Path) -> AsyncIterator[str]:
        """The API reading the HS256 secret from a file, as TIERFLOW_JWT_SECRET_FILE says."""
        secret_file = tmp_path / "jwt-secret"
        secret_file.write_bytes(SECRET + b"\n")
        settings = IdentitySettings(
            jwt_secret_file=secret_file, jwt_issuer=ISSUER, jwt_audience=AUDIENCE
        )
        async with serving(idle, identities=settings) as url:
            yield url

    async def test_a_valid_token_names_the_principal(self, url: str) -> None:
        """sub is the name, roles are reported, a service says so."""
        token = jwt.encode(claims(roles=["supervisor"]), SECRET, "HS256")
        response = await me(url, token)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "authenticated": True,
            "name": "Alex Kim",
            "roles": ["supervisor"],
            "service": False,
        }
        service = jwt.encode(claims(sub="crm", tierflow_service=True), SECRET, "HS256")
        assert (await me(url, service)).json()["service"] is True

    async def test_bad_tokens_are_401_saying_why(self, url: str) -> None:
        """Expired, forged, for another audience or issuer, nameless, unsigned: each a 401."""
        cases = {
            "expired": jwt.encode(claims(exp=int(time.time()) - 120), SECRET, "HS256"),
            "signature": jwt.encode(claims(), b"another-secret-of-32-bytes-or-more!!", "HS256"),
            "audience": jwt.encode(claims(aud="someone-else"), SECRET, "HS256"),
            "issuer": jwt.encode(claims(iss="https://evil.example/"), SECRET, "HS256"),
            "'sub'": jwt.encode(claims(sub=None), SECRET, "HS256"),
            "'exp'": jwt.encode(claims(exp=None), SECRET, "HS256"),
            "signed with": jwt.encode(claims(), "", "none"),  # PyJWT takes "" as no key
            "malformed": "not.a.token",
        }
        for reason, token in cases.items():
            response = await me(url, token)
            assert response.status_code == 401, reason
            assert reason in response.json()["detail"], response.json()
            assert "invalid_token" in response.headers["www-authenticate"]

    def test_a_short_secret_is_refused_at_start(self, tmp_path: Path) -> None:
        """An HS256 secret shorter than 32 bytes is guessable: the API does not start."""
        short = tmp_path / "short"
        short.write_text("s3cret")
        settings = IdentitySettings(jwt_secret_file=short, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
        with pytest.raises(IdentityConfigError, match="at least 32"):
            create_app(identities=settings)

    def test_issuer_and_audience_are_required(self, tmp_path: Path) -> None:
        """Tokens without a fixed issuer and audience would accept other services' tokens."""
        secret_file = tmp_path / "jwt-secret"
        secret_file.write_bytes(SECRET)
        with pytest.raises(IdentityConfigError, match="TIERFLOW_JWT_AUDIENCE"):
            create_app(identities=IdentitySettings(jwt_secret_file=secret_file))


class _Jwks(BaseHTTPRequestHandler):
    document: bytes = b'{"keys": []}'

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.document)))
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def jwks_url(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> Iterator[str]:
    """A real HTTP server on loopback publishing the public halves of both keys."""
    keys = [
        {**jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True), "kid": "rsa-1"},
        {**jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "ec-1"},
    ]
    handler = type("Jwks", (_Jwks,), {"document": json.dumps({"keys": keys}).encode()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


class TestPublishedKeys:
    async def test_tokens_signed_by_published_keys_verify(
        self,
        idle: TicketClient,
        jwks_url: str,
        rsa_key: rsa.RSAPrivateKey,
        ec_key: ec.EllipticCurvePrivateKey,
    ) -> None:
        """RS256 and ES256 tokens verify against the JWKS; a configurable claim names them."""
        verifier = JwtVerifier(
            issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_url, name_claim="name"
        )
        async with serving(idle, identities=Identities(jwt=verifier)) as url:
            rs = jwt.encode(
                claims(sub="u-1", name="Riley Chen", roles="agent supervisor"),
                rsa_key,
                "RS256",
                headers={"kid": "rsa-1"},
            )
            response = await me(url, rs)
            assert response.status_code == 200, response.text
            assert response.json()["name"] == "Riley Chen"
            assert response.json()["roles"] == ["agent", "supervisor"]
            es = jwt.encode(claims(name="Quinn Walsh"), ec_key, "ES256", headers={"kid": "ec-1"})
            assert (await me(url, es)).json()["name"] == "Quinn Walsh"

    async def test_forged_tokens_are_401(
        self, idle: TicketClient, jwks_url: str, rsa_key: rsa.RSAPrivateKey
    ) -> None:
        """Another key under a published kid, an unknown kid, and HS256 signed with the
        public key (algorithm confusion) are all refused."""
        verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_url)
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_pem = rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        forged = {
            "another key": jwt.encode(claims(), other, "RS256", headers={"kid": "rsa-1"}),
            "unknown kid": jwt.encode(claims(), other, "RS256", headers={"kid": "nope"}),
            "confusion": hs256_by_hand(claims(), public_pem),
        }
        async with serving(idle, identities=Identities(jwt=verifier)) as url:
            for case, token in forged.items():
                assert (await me(url, token)).status_code == 401, case

    async def test_an_unreachable_issuer_is_503(
        self, idle: TicketClient, rsa_key: rsa.RSAPrivateKey
    ) -> None:
        """Keys that cannot be fetched are the issuer's outage, not the caller's fault."""
        dead = ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
        port = dead.server_address[1]
        dead.server_close()  # nothing listens there now
        verifier = JwtVerifier(
            issuer=ISSUER, audience=AUDIENCE, jwks_url=f"http://127.0.0.1:{port}/jwks"
        )
        async with serving(idle, identities=Identities(jwt=verifier)) as url:
            token = jwt.encode(claims(), rsa_key, "RS256", headers={"kid": "rsa-1"})
            response = await me(url, token)
        assert response.status_code == 503
        assert "retry" in response.json()["detail"]

    def test_a_jwks_in_clear_is_refused(self) -> None:
        """A JWKS fetched over plain http from another host could be replaced on the way."""
        with pytest.raises(IdentityConfigError, match="https"):
            JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url="http://idp.example.com/jwks")


class TestIdentityEdges:
    """A credential names its principal exactly, in canonical form, with numeric times; and
    a credential put in the query is refused without reaching the access log."""

    @pytest_asyncio.fixture
    async def url(self, idle: TicketClient, tmp_path: Path) -> AsyncIterator[str]:
        secret_file = tmp_path / "jwt-secret"
        secret_file.write_bytes(SECRET)
        settings = IdentitySettings(
            jwt_secret_file=secret_file,
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
            api_keys_file=tmp_path / "api-keys",
        )
        (tmp_path / "api-keys").write_text(f"{key_line(QUERY_KEY, 'crm', service=True)}\n")
        async with serving(idle, identities=settings, log_level="info") as url:
            yield url

    async def test_a_look_alike_subject_is_not_that_person(self, url: str) -> None:
        """A subject that reads like a supervisor's name but is not exactly it is refused
        (401, saying why), never taken for the supervisor."""
        look_alikes = {
            "Riley\u200bChen": "zero-width",  # zero-width space
            "Riley\u2060Chen": "zero-width",  # word joiner
            "Riley\u202eChen": "zero-width",  # right-to-left override
            "Riley\tChen": "zero-width",  # a control character
            "Riley\u00a0Chen": "canonical form",  # no-break space
            "Riley  Chen": "canonical form",
            " Riley Chen": "canonical form",
            "\uff32iley Chen": "canonical form",  # a full-width R
        }
        for sub, why in look_alikes.items():
            response = await me(url, jwt.encode(claims(sub=sub), SECRET, "HS256"))
            assert response.status_code == 401, (sub, response.text)
            assert why in response.json()["detail"], sub
        exact = await me(url, jwt.encode(claims(sub="Riley Chen"), SECRET, "HS256"))
        assert exact.json()["name"] == "Riley Chen"

    async def test_times_must_be_numbers(self, url: str) -> None:
        """exp, nbf and iat given as strings (or anything but a finite number) are refused."""
        for claim in ("exp", "nbf", "iat"):
            for value in ("9999999999", "0", True, [1], {"t": 1}, float("inf")):
                token = jwt.encode(claims(**{claim: value}), SECRET, "HS256")
                response = await me(url, token)
                assert response.status_code == 401, (claim, value, response.text)

    async def test_a_key_in_the_query_never_reaches_the_access_log(self, url: str) -> None:
        """`?api_key=` is refused (401) and the access log shows the request without it."""
        lines: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                lines.append(record.getMessage())

        handler = Keep()
        access = logging.getLogger("uvicorn.access")
        access.addHandler(handler)
        try:
            async with httpx.AsyncClient(base_url=url) as http:
                refused = await http.get("/me", params={"api_key": QUERY_KEY, "limit": "5"})
                await http.get("/me", params={"access_token": QUERY_KEY}, headers=bearer(QUERY_KEY))
        finally:
            access.removeHandler(handler)

        assert refused.status_code == 401
        assert any("/me?api_key=<redacted>&limit=<redacted>" in line for line in lines), lines
        assert not any(QUERY_KEY in line for line in lines), lines

    def test_a_keys_file_name_must_be_canonical(self) -> None:
        """A keys-file name with a non-breaking space or a zero-width character stops the API
        at start, naming the line; `tierflow api-keys new` refuses to write one."""
        for name in ("Riley\u00a0Chen", "Riley\u200bChen", "Riley  Chen"):
            line = f"sha256:{'0' * 64} '{name}'"
            with pytest.raises(IdentityConfigError, match="line 1: the name"):
                ApiKeys.parse(line)
            with pytest.raises(IdentityConfigError, match="the name"):
                key_line("k", name)


class TestApiKeys:
    def new_key(self, *args: str) -> tuple[str, str]:
        """``tierflow api-keys new``: the key (stderr) and the keys-file line (stdout)."""
        result = CliRunner().invoke(app, ["api-keys", "new", *args])
        assert result.exit_code == 0, result.output
        return result.stderr.strip().splitlines()[-1], result.stdout.strip()

    async def test_keys_from_the_file_name_their_principals(
        self, idle: TicketClient, tmp_path: Path
    ) -> None:
        """Keys made by `tierflow api-keys new` authenticate as their names; the file holds only
        hashes; a wrong key is 401."""
        person_key, person_line = self.new_key("Alex Kim", "--role", "supervisor")
        service_key, service_line = self.new_key("crm", "--service")
        keys_file = tmp_path / "api-keys"
        keys_file.write_text(f"# people\n{person_line}\n\n{service_line}  # the CRM\n")
        stored = keys_file.read_text()
        assert person_key not in stored
        assert service_key not in stored
        assert person_key.removeprefix("tfk_") not in stored
        async with serving(idle, identities=IdentitySettings(api_keys_file=keys_file)) as url:
            person = (await me(url, person_key)).json()
            assert person == {
                "authenticated": True,
                "name": "Alex Kim",
                "roles": ["supervisor"],
                "service": False,
            }
            assert (await me(url, service_key)).json()["service"] is True
            wrong = await me(url, person_key[:-1] + ("A" if person_key[-1] != "A" else "B"))
            assert wrong.status_code == 401

    def test_hash_reads_the_key_from_stdin(self) -> None:
        """`tierflow api-keys hash` turns a key the operator has into a line, never echoing it."""
        result = CliRunner().invoke(app, ["api-keys", "hash", "crm", "--service"], input="k-1\n")
        assert result.exit_code == 0, result.output
        line = result.stdout.strip()
        assert "k-1" not in result.output
        assert ApiKeys.parse(line).verify("k-1") == Principal(name="crm", service=True)

    def test_a_bad_keys_file_is_refused_naming_the_line(self, tmp_path: Path) -> None:
        """A line that is not '<sha256> <name> [service]' stops the API, naming the line."""
        keys_file = tmp_path / "api-keys"
        keys_file.write_text("# ok\nplain-key-not-a-hash alice\n")
        with pytest.raises(IdentityConfigError, match="line 2: the hash must be sha256"):
            create_app(identities=IdentitySettings(api_keys_file=keys_file))


class TestTheCallerActs:
    @pytest_asyncio.fixture
    async def http(self, tickets: TicketClient) -> AsyncIterator[httpx.AsyncClient]:
        async with serving(tickets) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as c:
            yield c

    @pytest_asyncio.fixture
    async def live(self, http: httpx.AsyncClient, tickets: TicketClient) -> str:
        body = ticket("Who acts").model_dump(mode="json")
        assert (await http.post("/tickets", json=body)).status_code == 201
        await wait_for(tickets, str(body["id"]), lambda s: s.state == "tier1")
        return str(body["id"])

    async def test_the_timeline_names_the_principal_not_the_body(
        self, http: httpx.AsyncClient, client: Client, live: str
    ) -> None:
        """Another name in the body is refused (nothing written); the credential's name is
        the actor of the action and of the opening."""
        before = await quiet_history_length(client, live)
        impostor = await http.post(
            f"/tickets/{live}/actions/note", json={"actor": "Morgan Lee", "text": "approved!"}
        )
        assert impostor.status_code == 422
        assert impostor.json()["detail"][0]["loc"] == ["body", "actor"]
        assert "credentials" in impostor.json()["detail"][0]["msg"]
        assert await history_length(client, live) == before
        for body in ({"text": "mine"}, {"actor": ACTOR, "text": "also mine"}):
            note = await http.post(f"/tickets/{live}/actions/note", json=body)
            assert note.status_code == 200, note.text
        timeline = (await http.get(f"/tickets/{live}/timeline")).json()
        assert {e["actor"] for e in timeline if e["kind"] in ("opened", "note")} == {ACTOR}

    async def test_only_services_name_whom_they_act_for(
        self, http: httpx.AsyncClient, client: Client, live: str
    ) -> None:
        """A person's credential may not act for someone else (403); a service's request is
        the policy's to allow, and refused unless it does (403). Nothing is written."""
        before = await quiet_history_length(client, live)
        path = f"/tickets/{live}/actions/note"
        as_agent = await http.post(
            path, json={"text": "n"}, headers={**bearer(AGENT_TOKEN), "X-On-Behalf-Of": ACTOR}
        )
        assert as_agent.status_code == 403
        assert as_agent.json()["detail"] == "only a service may act on behalf of someone"
        as_service = await http.post(
            path, json={"text": "n", "on_behalf_of": ACTOR}, headers=bearer(SERVICE_TOKEN)
        )
        assert as_service.status_code == 403
        mixed = await http.post(
            path,
            json={"text": "n", "on_behalf_of": ACTOR},
            headers={**bearer(SERVICE_TOKEN), "X-On-Behalf-Of": "Jo Park"},
        )
        assert mixed.status_code == 422
        assert await history_length(client, live) == before

    async def test_a_listed_service_acts_for_a_person(
        self, http: httpx.AsyncClient, tickets: TicketClient
    ) -> None:
        """A service the policy lists acts for an agent: the timeline names the agent as the
        actor and the service beside it; an agent's own key names the agent alone."""
        t = ticket("On behalf")
        policy = fast_policy(
            resolution="1h", permissions={"services": [{"name": "crm", "may_act_for": ["agent"]}]}
        )
        await tickets.open(t, policy)
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        path = f"/tickets/{t.id}/actions/note"
        via_crm = await http.post(
            path,
            json={"text": "for Jo"},
            headers={**bearer(SERVICE_TOKEN), "X-On-Behalf-Of": AGENT},
        )
        assert via_crm.status_code == 200, via_crm.text
        own = await http.post(path, json={"text": "myself"}, headers=bearer(AGENT_TOKEN))
        assert own.status_code == 200, own.text
        notes = [
            e for e in (await http.get(f"/tickets/{t.id}/timeline")).json() if e["kind"] == "note"
        ]
        assert [(e["actor"], e["via"]) for e in notes] == [(AGENT, SERVICE), (AGENT, None)]


class TestClientIdentity:
    async def test_the_client_acts_as_its_actor(self, client: Client, task_queue: str) -> None:
        """A TicketClient built with an actor acts (and opens) as it unless told otherwise."""
        from tests.workflows.support import running_worker

        async with running_worker(client, task_queue):
            tickets = TicketClient(client, task_queue, actor="Alex Kim")
            t = ticket("Client identity")
            await tickets.open(t, fast_policy(resolution="1h"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            await tickets.note(t.id, {"text": "from the client"})
            await tickets.note(t.id, {"actor": "Jo Park", "text": "named"})
            entries = await tickets.timeline(t.id)
        actors = [(e.kind, e.actor) for e in entries if e.kind in ("opened", "note")]
        assert actors == [("opened", "Alex Kim"), ("note", "Alex Kim"), ("note", "Jo Park")]

    async def test_a_permission_refusal_is_action_forbidden(
        self, client: Client, task_queue: str
    ) -> None:
        """Someone the policy does not name is refused with ActionForbidden (the API's 403),
        still an ActionRejected for callers that catch that."""
        from tests.workflows.support import running_worker

        async with running_worker(client, task_queue):
            tickets = TicketClient(client, task_queue, actor="Not A Person")
            t = ticket("Stranger")
            await tickets.open(t, fast_policy(resolution="1h"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            with pytest.raises(ActionForbidden, match="is not one of the policy's people"):
                await tickets.note(t.id, {"text": "hello"})
        assert issubclass(ActionForbidden, ActionRejected)


class TestWithoutAuthentication:
    def test_no_identities_and_no_opt_in_is_refused(self) -> None:
        """A missing variable never opens the API: it says what to configure."""
        with pytest.raises(IdentityConfigError) as refused:
            create_app()
        message = str(refused.value)
        assert "TIERFLOW_API_KEYS_FILE" in message
        assert "--insecure-no-auth" in message
        assert "\n" not in message

    def test_the_opt_in_and_identities_exclude_each_other(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--insecure-no-auth beside configured identities is a mistake, not a choice."""
        keys_file = tmp_path / "api-keys"
        keys_file.write_text("")
        monkeypatch.setenv("TIERFLOW_API_KEYS_FILE", str(keys_file))
        with pytest.raises(IdentityConfigError, match="drop --insecure-no-auth"):
            create_app(insecure_no_auth=True)

    async def test_the_opt_in_serves_everyone_with_the_body_actor(
        self, tickets: TicketClient
    ) -> None:
        """With insecure_no_auth the body names the actor, as before identities."""
        async with (
            serving(tickets, insecure_no_auth=True) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            assert (await http.get("/me")).json()["authenticated"] is False
            t = ticket("Open API")
            assert (await http.post("/tickets", json=t.model_dump(mode="json"))).status_code == 201
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            nameless = await http.post(f"/tickets/{t.id}/actions/note", json={"text": "x"})
            assert nameless.status_code == 422
            assert nameless.json()["detail"][0]["loc"] == ["body", "actor"]
            named = await http.post(
                f"/tickets/{t.id}/actions/note", json={"actor": "Jo Park", "text": "x"}
            )
            assert named.status_code == 200, named.text
            timeline = (await http.get(f"/tickets/{t.id}/timeline")).json()
        assert [e["actor"] for e in timeline if e["kind"] == "note"] == ["Jo Park"]


class TestCommandLine:
    async def test_api_refuses_to_start_without_identities(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`tierflow api` with nothing configured exits 1 with one line saying what to set."""
        result = await cli("api", "--port", "1")
        assert result.exit_code == 1
        line = result.stderr.strip()
        assert line.startswith("error: no identities configured")
        assert "\n" not in line

    async def test_the_old_token_is_gone_and_never_printed(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--token is no option any more; TIERFLOW_API_TOKEN stops the start with a way to
        migrate, without echoing the token."""
        unknown = await cli("api", "--token", "s3cret-on-argv")
        assert unknown.exit_code == 2
        assert "s3cret-on-argv" not in unknown.output
        monkeypatch.setenv("TIERFLOW_API_TOKEN", "s3cret-in-env")
        refused = await cli("api", "--port", "1")
        assert refused.exit_code == 1
        assert "tierflow api-keys hash" in refused.stderr
        assert "s3cret-in-env" not in refused.output
