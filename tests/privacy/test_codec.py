"""The encryption codec on its own: round trips, key rotation, tampering, unknown keys, the key
file's format, and the converter every Tierflow client gets."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.client import ClientConfig
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    WorkflowSerializationContext,
)

from tests.workflows.support import quiet_activities
from tierflow.connect import ConnectionConfigError, data_converter
from tierflow.encryption import (
    ENCODING,
    KEY_ID_METADATA,
    DecryptionError,
    EncryptionCodec,
    EncryptionConfigError,
    QuarantinePayloadConverter,
    UndecodablePayloadError,
    codec_from_env,
    load_keys,
    new_key,
    parse_keys,
)
from tierflow.plugin import TierflowPlugin
from tierflow.workflows.messages import CustomerReply, TicketStatus

K1 = bytes(range(32))
K2 = bytes(range(32, 64))


def _config_with(converter: DataConverter) -> ClientConfig:
    """A client configuration that carries only a data converter (what the plugin reads)."""
    return cast(ClientConfig, {"data_converter": converter})


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


class TestRoundTrip:
    async def test_encode_then_decode_gives_the_payload_back(self) -> None:
        """A payload encrypted and decrypted is the same payload, metadata included."""
        codec = EncryptionCodec({"k1": K1})
        original = plain("Ana Silva <ana@example.com>")
        [sealed] = await codec.encode([original])
        assert sealed.metadata["encoding"] == ENCODING
        assert sealed.metadata[KEY_ID_METADATA] == b"k1"
        assert b"Ana" not in sealed.SerializeToString()
        assert await codec.decode([sealed]) == [original]

    async def test_the_same_payload_encrypts_differently_each_time(self) -> None:
        """A fresh nonce per payload: equal plaintexts do not show as equal ciphertexts."""
        codec = EncryptionCodec({"k1": K1})
        a, b = await codec.encode([plain("x"), plain("x")])
        assert a.data != b.data

    async def test_a_payload_that_is_not_encrypted_decodes_as_itself(self) -> None:
        """Histories from before encryption was turned on stay readable."""
        codec = EncryptionCodec({"k1": K1})
        assert await codec.decode([plain("old ticket")]) == [plain("old ticket")]

    @settings(max_examples=60, deadline=None)
    @given(
        metadata=st.dictionaries(
            st.text(min_size=1, max_size=20).filter(lambda k: k != "encoding"),
            st.binary(max_size=40),
            max_size=4,
        ),
        encoding=st.binary(max_size=30),
        data=st.binary(max_size=4096),
    )
    async def test_any_payload_round_trips(
        self, metadata: dict[str, bytes], encoding: bytes, data: bytes
    ) -> None:
        """Whatever the payload holds, it comes back byte for byte, and its data never shows
        in the encrypted form."""
        codec = EncryptionCodec({"old": K1, "new": K2}, "new")
        original = Payload(metadata={**metadata, "encoding": encoding}, data=data)
        [sealed] = await codec.encode([original])
        assert sealed.metadata[KEY_ID_METADATA] == b"new"
        [back] = await codec.decode([sealed])
        assert back == original
        if len(data) >= 8:
            assert data not in sealed.data


class TestRotation:
    async def test_payloads_of_an_old_key_decrypt_after_rotation(self) -> None:
        """Encrypted with k1, then k2 becomes the encrypting key: k1's payloads still read,
        and new payloads use k2."""
        before = EncryptionCodec({"k1": K1})
        [old] = await before.encode([plain("opened under k1")])
        after = EncryptionCodec({"k1": K1, "k2": K2}, "k2")
        [new] = await after.encode([plain("opened under k2")])
        assert new.metadata[KEY_ID_METADATA] == b"k2"
        expected = [plain("opened under k1"), plain("opened under k2")]
        assert await after.decode([old, new]) == expected

    async def test_a_retired_key_is_an_error_naming_its_id(self) -> None:
        """A payload whose key was removed fails with the key id and the keys at hand."""
        [sealed] = await EncryptionCodec({"k1": K1}).encode([plain("x")])
        with pytest.raises(
            DecryptionError, match=r"unknown encryption key id 'k1' \(keys here: k2"
        ):
            await EncryptionCodec({"k2": K2}).decode([sealed])

    async def test_a_different_key_under_the_same_id_fails_authentication(self) -> None:
        [sealed] = await EncryptionCodec({"k1": K1}).encode([plain("x")])
        with pytest.raises(DecryptionError, match="fails authentication"):
            await EncryptionCodec({"k1": K2}).decode([sealed])


class TestTampering:
    @pytest.mark.parametrize("position", [0, 12, 20, -1])
    async def test_a_flipped_bit_is_an_error_not_plaintext(self, position: int) -> None:
        """Nonce, ciphertext or tag altered: refused, never returned as anything."""
        [sealed] = await EncryptionCodec({"k1": K1}).encode([plain("card 4111 1111 1111 1111")])
        data = bytearray(sealed.data)
        data[position] ^= 0x01
        sealed.data = bytes(data)
        with pytest.raises(DecryptionError, match="fails authentication"):
            await EncryptionCodec({"k1": K1}).decode([sealed])

    async def test_a_relabelled_key_id_is_refused(self) -> None:
        """The key id is authenticated: pointing a payload at another key fails."""
        codec = EncryptionCodec({"k1": K1, "k2": K1}, "k1")
        [sealed] = await codec.encode([plain("x")])
        sealed.metadata[KEY_ID_METADATA] = b"k2"
        with pytest.raises(DecryptionError, match="fails authentication"):
            await codec.decode([sealed])

    async def test_an_encrypted_payload_without_a_key_id_is_refused(self) -> None:
        codec = EncryptionCodec({"k1": K1})
        [sealed] = await codec.encode([plain("x")])
        del sealed.metadata[KEY_ID_METADATA]
        with pytest.raises(DecryptionError, match="names no encryption key id"):
            await codec.decode([sealed])

    async def test_truncated_data_is_refused(self) -> None:
        codec = EncryptionCodec({"k1": K1})
        [sealed] = await codec.encode([plain("x")])
        sealed.data = sealed.data[:5]
        with pytest.raises(DecryptionError):
            await codec.decode([sealed])


class TestKeyFile:
    def test_lines_with_comments_and_json_both_read(self) -> None:
        b1, b2 = base64.b64encode(K1).decode(), base64.b64encode(K2).decode()
        lines = f"# Tierflow keys\n\nk1: {b1}\n  k2 :{b2}  \n"
        assert parse_keys(lines) == {"k1": K1, "k2": K2}
        assert parse_keys(json.dumps({"k1": b1, "k2": b2})) == {"k1": K1, "k2": K2}

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "no keys"),
            ("k1 " + base64.b64encode(K1).decode(), "line 1: expected 'key-id: <base64 key>'"),
            ("k1: not-base64!!", "line 1: the key is not base64"),
            ("k1: " + base64.b64encode(b"short").decode(), "must be 32 bytes"),
            ("bad id: " + base64.b64encode(K1).decode(), "line 1: a key id is"),
            # Fixed keys: xdist collects in every process, and the ids must agree.
            (
                f"k1: {base64.b64encode(K1).decode()}\nk1: {base64.b64encode(K2).decode()}",
                "listed twice",
            ),
            ('{"k1": 5}', "expected"),
            ("{", "not valid JSON"),
        ],
    )
    def test_a_bad_file_is_one_line_without_the_key(self, text: str, message: str) -> None:
        with pytest.raises(EncryptionConfigError, match=message) as caught:
            parse_keys(text)
        assert base64.b64encode(K1).decode() not in str(caught.value)

    def test_a_missing_file_names_the_file_and_the_variable(self, tmp_path: Path) -> None:
        with pytest.raises(EncryptionConfigError, match=r"cannot read .*nope.*TIERFLOW_ENCRYPTION"):
            load_keys(tmp_path / "nope")

    def test_several_keys_need_the_encrypting_key_named(self, tmp_path: Path) -> None:
        path = tmp_path / "keys"
        path.write_text(f"a: {new_key()}\nb: {new_key()}\n")
        env = {"TIERFLOW_ENCRYPTION_KEYS": str(path)}
        with pytest.raises(EncryptionConfigError, match="TIERFLOW_ENCRYPTION_KEY_ID"):
            codec_from_env(env)
        codec = codec_from_env({**env, "TIERFLOW_ENCRYPTION_KEY_ID": "b"})
        assert codec is not None
        assert codec.key_id == "b"
        with pytest.raises(EncryptionConfigError, match=r"'c' is not among the keys \(a, b\)"):
            codec_from_env({**env, "TIERFLOW_ENCRYPTION_KEY_ID": "c"})

    def test_a_key_id_without_a_key_file_is_refused(self) -> None:
        with pytest.raises(EncryptionConfigError, match="TIERFLOW_ENCRYPTION_KEYS"):
            codec_from_env({"TIERFLOW_ENCRYPTION_KEY_ID": "k1"})

    def test_the_codec_repr_shows_ids_only(self) -> None:
        assert repr(EncryptionCodec({"k1": K1})) == "EncryptionCodec(key_id='k1', key_ids=['k1'])"


class TestDataConverter:
    def test_without_keys_it_is_the_plain_pydantic_converter(self) -> None:
        """The development default: nothing encrypted."""
        assert data_converter({}) is pydantic_data_converter

    def test_with_keys_payloads_and_failures_are_encrypted(self, tmp_path: Path) -> None:
        path = tmp_path / "keys"
        path.write_text(f"k1: {new_key()}\n")
        converter = data_converter({"TIERFLOW_ENCRYPTION_KEYS": str(path)})
        assert isinstance(converter.payload_codec, EncryptionCodec)
        assert issubclass(converter.payload_converter_class, PydanticPayloadConverter)
        assert converter.payload_converter_class is QuarantinePayloadConverter
        assert isinstance(converter.failure_converter, DefaultFailureConverterWithEncodedAttributes)

    def test_a_bad_key_file_is_a_configuration_error(self, tmp_path: Path) -> None:
        (tmp_path / "keys").write_text("k1: no*pe\n")
        with pytest.raises(ConnectionConfigError, match="not base64"):
            data_converter({"TIERFLOW_ENCRYPTION_KEYS": str(tmp_path / "keys")})


WORKFLOW = WorkflowSerializationContext(namespace="default", workflow_id="ticket-T-1")
ACTIVITY = ActivitySerializationContext(
    namespace="default",
    workflow_id="ticket-T-1",
    workflow_type="tierflow.Ticket",
    activity_type="tierflow.dispatch_effects",
    activity_task_queue="q",
    activity_id="1",
    is_local=False,
)


def garbage(key_id: str = "k1") -> Payload:
    """What a raw caller can send: says it is encrypted, is not."""
    return Payload(
        metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}, data=b"\x00" * 40
    )


class TestQuarantine:
    async def test_for_a_workflow_a_payload_no_key_opens_becomes_a_stand_in(self) -> None:
        """Decoding a workflow's payloads, garbage, an unknown key id and a truncated payload
        each become the stand-in, naming the reason and no key; good payloads decode."""
        codec = EncryptionCodec({"k1": K1}).with_context(WORKFLOW)
        [sealed] = await EncryptionCodec({"k1": K1}).encode([plain("fine")])
        short = Payload(metadata=dict(garbage().metadata), data=b"short")
        decoded = await codec.decode([garbage(), garbage("k9"), short, sealed])
        assert decoded[3] == plain("fine")
        reasons = [json.loads(p.data)["tierflow_undecodable"] for p in decoded[:3]]
        assert "fails authentication" in reasons[0]
        assert "unknown encryption key id 'k9'" in reasons[1]
        assert "fails authentication" in reasons[2]
        assert not any(base64.b64encode(K1).decode() in r for r in reasons)

    async def test_elsewhere_it_stays_an_error(self) -> None:
        """Activity inputs and results, and the codec server (no context), never quarantine."""
        codec = EncryptionCodec({"k1": K1})
        for this in (
            codec,
            codec.with_context(ACTIVITY),
            codec.with_context(WORKFLOW).with_context(ACTIVITY),
        ):
            with pytest.raises(DecryptionError, match="fails authentication"):
                await this.decode([garbage()])

    async def test_a_stand_in_reaches_only_untyped_receivers(self) -> None:
        """A signal handler (untyped) gets the stand-in and its message model refuses it as
        ``undecodable``; the ticket's input, an update's or a query's model gets the
        decryption error instead, naming the key id."""
        converter = dataclasses.replace(
            pydantic_data_converter,
            payload_converter_class=QuarantinePayloadConverter,
            payload_codec=EncryptionCodec({"k1": K1}),
        ).with_context(WORKFLOW)
        [as_any] = await converter.decode([garbage("k9")], [Any])
        with pytest.raises(ValidationError) as caught:
            CustomerReply.model_validate(as_any)
        assert [e["type"] for e in caught.value.errors()] == ["undecodable"]
        with pytest.raises(UndecodablePayloadError, match="unknown encryption key id 'k9'"):
            await converter.decode([garbage("k9")], [TicketStatus])

    def test_the_plugin_gives_an_encrypting_client_the_quarantine_converter(self) -> None:
        """A host that sets Tierflow's codec on a plain pydantic (or default) converter gets
        the converter that refuses stand-ins; a host's own pydantic converter is kept."""
        codec = EncryptionCodec({"k1": K1})
        plugin = TierflowPlugin(activities=quiet_activities())
        for carried in (
            dataclasses.replace(pydantic_data_converter, payload_codec=codec),
            DataConverter(payload_codec=codec),
        ):
            made = plugin.configure_client(_config_with(carried))["data_converter"]
            assert made.payload_converter_class is QuarantinePayloadConverter
        assert (
            plugin.configure_client(_config_with(pydantic_data_converter))["data_converter"]
            is pydantic_data_converter
        )
