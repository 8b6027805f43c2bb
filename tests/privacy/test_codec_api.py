"""The codec routes' edges, in process: body limits of their own, malformed bodies, an API
without keys, a bad key file at start, and `tierflow keys`."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.privacy.support import identities_for
from tierflow.api import create_app
from tierflow.cli import app as cli_app
from tierflow.encryption import (
    EncryptionCodec,
    EncryptionConfigError,
    codec_from_env,
    load_keys,
    new_key,
    parse_keys,
)

KEY = base64.b64decode(new_key())


def payload(data: bytes, encoding: bytes = b"json/plain") -> dict[str, object]:
    return {
        "metadata": {"encoding": base64.b64encode(encoding).decode()},
        "data": base64.b64encode(data).decode(),
    }


def http(codec: EncryptionCodec | None) -> httpx.AsyncClient:
    app = create_app(identities=identities_for("t0ken"), codec=codec, codec_origins=[])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api",
        headers={"Authorization": "Bearer t0ken"},
    )


class TestCodecRoutes:
    async def test_a_body_over_the_api_limit_but_within_the_codec_limit_decodes(self) -> None:
        """A continue-as-new input (up to about 500 KiB) fits the codec routes."""
        big = payload(b'"' + b"x" * 600_000 + b'"')
        async with http(EncryptionCodec({"k": KEY})) as client:
            encoded = await client.post("/codec/encode", json={"payloads": [big]})
            assert encoded.status_code == 200
            decoded = await client.post("/codec/decode", json=encoded.json())
        assert decoded.json() == {"payloads": [big]}

    async def test_a_body_over_the_codec_limit_is_413(self) -> None:
        async with http(EncryptionCodec({"k": KEY})) as client:
            answer = await client.post(
                "/codec/decode",
                content=b"x" * (8 * 1024 * 1024 + 1),
                headers={"Content-Type": "application/json"},
            )
        assert answer.status_code == 413

    async def test_the_ticket_routes_keep_their_own_limit(self) -> None:
        async with http(None) as client:
            answer = await client.post(
                "/tickets",
                content=b"x" * (300 * 1024),
                headers={"Content-Type": "application/json"},
            )
        assert answer.status_code == 413

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"payloads": [{"data": "not base64!"}]},
            {"payloads": "x"},
            {"payloads": [{"metadata": 1}]},
        ],
    )
    async def test_a_malformed_body_is_422(self, body: object) -> None:
        async with http(EncryptionCodec({"k": KEY})) as client:
            answer = await client.post("/codec/decode", json=body)
        assert answer.status_code == 422

    async def test_without_keys_payloads_pass_and_encrypted_ones_are_refused(self) -> None:
        """The dev default: nothing to decrypt with; an encrypted payload is a clear 400."""
        plain = payload(b'"hi"')
        async with http(None) as client:
            passed = await client.post("/codec/decode", json={"payloads": [plain]})
            refused = await client.post(
                "/codec/decode", json={"payloads": [payload(b"\x00" * 40, b"binary/encrypted")]}
            )
        assert passed.json() == {"payloads": [plain]}
        assert refused.status_code == 400
        assert "no encryption keys" in refused.json()["detail"]

    def test_a_bad_key_file_stops_the_api_at_start(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "keys").write_text("k: c2hvcnQ=\n")
        monkeypatch.setenv("TIERFLOW_ENCRYPTION_KEYS", str(tmp_path / "keys"))
        with pytest.raises(EncryptionConfigError, match="line 1: the key must be 32 bytes"):
            create_app(identities=identities_for("t"))


class TestKeysCommand:
    def test_new_appends_keys_privately_and_never_prints_them(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.txt"
        runner = CliRunner()
        first = runner.invoke(cli_app, ["keys", "new", "2026-01", str(path)])
        second = runner.invoke(cli_app, ["keys", "new", "2026-07", str(path)])
        again = runner.invoke(cli_app, ["keys", "new", "2026-07", str(path)])
        assert first.exit_code == second.exit_code == 0, first.output
        assert again.exit_code == 1
        assert "never replaced" in again.output
        keys = load_keys(path)
        assert list(keys) == ["2026-01", "2026-07"]
        assert path.stat().st_mode & 0o077 == 0
        for key in keys.values():
            assert base64.b64encode(key).decode() not in first.output + second.output
        checked = runner.invoke(
            cli_app, ["keys", "check"], env={"TIERFLOW_ENCRYPTION_KEYS": str(path)}
        )
        assert checked.exit_code == 0
        assert "2 key(s): 2026-01, 2026-07" in " ".join(checked.output.split())

    def test_without_a_file_the_live_key_file_is_untouched(self, tmp_path: Path) -> None:
        """`keys new ID` with TIERFLOW_ENCRYPTION_KEYS set writes the new line to stdout; the
        live file keeps its bytes and still loads, and the command line still works."""
        live = tmp_path / "keys.txt"
        runner = CliRunner()
        assert runner.invoke(cli_app, ["keys", "new", "2026-01", str(live)]).exit_code == 0
        before = live.read_bytes()
        env = {"TIERFLOW_ENCRYPTION_KEYS": str(live), "TIERFLOW_ENCRYPTION_KEY_ID": ""}

        made = runner.invoke(cli_app, ["keys", "new", "2027-05"], env=env)

        assert made.exit_code == 0, made.output
        assert live.read_bytes() == before
        assert codec_from_env(env) is not None  # the live file still loads, one key
        assert list(parse_keys(made.stdout)) == ["2027-05"]
        taken = runner.invoke(cli_app, ["keys", "new", "2026-01"], env=env)
        assert taken.exit_code == 1
        assert "already has a key '2026-01'" in taken.output

    def test_a_second_key_in_the_live_file_needs_the_key_id_first(self, tmp_path: Path) -> None:
        """Naming the live file itself is refused while no TIERFLOW_ENCRYPTION_KEY_ID says
        which key encrypts (it would stop loading); with it set, the key is added."""
        live = tmp_path / "keys.txt"
        runner = CliRunner()
        assert runner.invoke(cli_app, ["keys", "new", "2026-01", str(live)]).exit_code == 0
        before = live.read_bytes()
        env = {"TIERFLOW_ENCRYPTION_KEYS": str(live), "TIERFLOW_ENCRYPTION_KEY_ID": ""}

        refused = runner.invoke(cli_app, ["keys", "new", "2027-05", str(live)], env=env)

        assert refused.exit_code == 1
        assert "TIERFLOW_ENCRYPTION_KEY_ID" in refused.output
        assert live.read_bytes() == before
        env["TIERFLOW_ENCRYPTION_KEY_ID"] = "2026-01"
        added = runner.invoke(cli_app, ["keys", "new", "2027-05", str(live)], env=env)
        assert added.exit_code == 0, added.output
        assert codec_from_env(env) is not None
