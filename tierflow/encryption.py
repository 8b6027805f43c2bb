"""Encryption of everything Tierflow writes to Temporal: a ``PayloadCodec`` (AES-256-GCM) with
key ids, so keys rotate and older tickets stay readable.

Keys live in a file named by ``TIERFLOW_ENCRYPTION_KEYS`` (never on a command line), one
``key-id: <base64 of 32 bytes>`` per line (``#`` comments, blank lines) or a JSON object
``{"key-id": "<base64>"}``. ``TIERFLOW_ENCRYPTION_KEY_ID`` names the key that encrypts new
payloads (optional when the file holds one key); every listed key decrypts. Without
``TIERFLOW_ENCRYPTION_KEYS`` nothing is encrypted (the development default).

An encrypted payload follows Temporal's encryption sample: metadata ``encoding:
binary/encrypted`` and ``encryption-key-id: <id>``, data = 12-byte nonce + ciphertext + tag of
the serialized original payload; the key id is the associated data, so a payload cannot be
relabelled. A payload that is not encrypted decodes as itself (histories from before
encryption was turned on). An unknown key id or a payload that fails authentication is an
error, never a fallback. No message here ever contains key material.

**Quarantine.** Temporal decodes every payload of a workflow activation before the workflow
runs, so one payload no key opens — a raw caller's signal with ``encoding: binary/encrypted``
and garbage — would fail every workflow task of its ticket from then on. Where the codec
decodes for a workflow (a :class:`WorkflowSerializationContext`: the ticket's input, signal and
update arguments, query arguments), such a payload is handed on as a stand-in instead,
``{"tierflow_undecodable": "<the decryption error>"}`` (JSON, marked in its metadata), and the
worker logs the workflow id and the reason. Only code that takes untyped data ever receives it
— the ticket's signal handlers, which drop it as an invalid message; everywhere else
:class:`QuarantinePayloadConverter` raises :class:`UndecodablePayloadError`, the decryption
error again: an update carrying one is rejected, and a ticket whose own input (start or
continue-as-new) no key opens fails its workflow task, naming the key id — a removed key is a
deployment error to fix, not data to drop. Activity inputs and results (an
:class:`ActivitySerializationContext`) and the codec server (no context) never quarantine.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from tierflow.contracts import UNDECODABLE
from tierflow.files import read_regular_file

KEYS_ENV: Final = "TIERFLOW_ENCRYPTION_KEYS"
KEY_ID_ENV: Final = "TIERFLOW_ENCRYPTION_KEY_ID"

ENCODING: Final = b"binary/encrypted"
KEY_ID_METADATA: Final = "encryption-key-id"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
MAX_KEY_FILE_BYTES: Final = 64 * 1024
KEY_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Marks a stand-in (metadata key; its JSON is ``{UNDECODABLE: reason}``).
STAND_IN_METADATA: Final = "tierflow-undecodable"

_log = logging.getLogger(__name__)


class EncryptionConfigError(ValueError):
    """The key file or the key id is wrong; the message names the file, line or id, never a
    key."""


class DecryptionError(ValueError):
    """A payload cannot be decrypted: unknown key id, or tampered (or a different key under
    that id). Never answered with the ciphertext or anything else in its place."""


class UndecodablePayloadError(DecryptionError):
    """A stand-in for a payload no key opens reached code that expects a typed value (the
    ticket's input, an update's arguments, a query's answer): the decryption error again."""


def stand_in(reason: str) -> Payload:
    """What a workflow receives in place of a payload no key opens (see the module's doc)."""
    return Payload(
        metadata={"encoding": b"json/plain", STAND_IN_METADATA: b"1"},
        data=json.dumps({UNDECODABLE: reason}).encode(),
    )


def stand_in_reason(payload: Payload) -> str | None:
    """Why ``payload`` is a stand-in, or None when it is not one."""
    if STAND_IN_METADATA not in payload.metadata:
        return None
    try:
        reason = json.loads(payload.data)[UNDECODABLE]
    except (ValueError, TypeError, KeyError):
        reason = None
    return reason if isinstance(reason, str) else "cannot decrypt a payload"


# Type hints under which a value is taken as it comes, to be validated by its receiver.
_UNTYPED: Final[tuple[object, ...]] = (None, Any, object, RawValue)


class QuarantinePayloadConverter(PydanticPayloadConverter):
    """Pydantic's payload converter, which hands a stand-in only to receivers of untyped data
    (the ticket's signal handlers validate what they get); any other raises
    :class:`UndecodablePayloadError` with the decryption error's words."""

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        for index, payload in enumerate(payloads):
            reason = stand_in_reason(payload)
            if reason is None:
                continue
            hint = type_hints[index] if type_hints and index < len(type_hints) else None
            if not any(hint is untyped for untyped in _UNTYPED):
                raise UndecodablePayloadError(reason)
        return super().from_payloads(payloads, type_hints)


def new_key() -> str:
    """A fresh key, base64 of 32 random bytes (for a ``key-id: <key>`` line)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _key(where: str, text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionConfigError(f"{where}: the key is not base64") from None
    if len(raw) != KEY_BYTES:
        raise EncryptionConfigError(
            f"{where}: the key must be {KEY_BYTES} bytes (AES-256), not {len(raw)}"
        )
    return raw


def _key_id(where: str, key_id: str) -> str:
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise EncryptionConfigError(
            f"{where}: a key id is 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit"
        )
    return key_id


def parse_keys(text: str, source: str = "the key file") -> dict[str, bytes]:
    """Key id → key, from ``key-id: base64`` lines or a JSON object."""
    keys: dict[str, bytes] = {}
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise EncryptionConfigError(f"{source}: not valid JSON") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise EncryptionConfigError(f'{source}: expected {{"key-id": "<base64>", …}}')
        for key_id, value in data.items():
            where = f"{source}, key {key_id[:64]!r}"
            keys[_key_id(where, key_id)] = _key(where, value)
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            where = f"{source}, line {number}"
            key_id, colon, value = stripped.partition(":")
            if not colon:
                raise EncryptionConfigError(f"{where}: expected 'key-id: <base64 key>'")
            key_id = _key_id(where, key_id.strip())
            if key_id in keys:
                raise EncryptionConfigError(f"{where}: key id {key_id!r} is listed twice")
            keys[key_id] = _key(where, value)
    if not keys:
        raise EncryptionConfigError(f"{source}: no keys in it")
    return keys


def load_keys(path: Path) -> dict[str, bytes]:
    """The keys in ``path`` (at most 64 KiB, UTF-8)."""
    source = f"the key file {str(path)[:120]}"
    try:
        raw = read_regular_file(path, MAX_KEY_FILE_BYTES)
    except OSError as err:
        reason = (err.strerror or type(err).__name__).lower()
        raise EncryptionConfigError(f"cannot read {source} (from {KEYS_ENV}): {reason}") from None
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise EncryptionConfigError(f"{source}: over {MAX_KEY_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EncryptionConfigError(f"{source}: not UTF-8 text") from None
    return parse_keys(text, source)


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM over whole payloads; ``key_id`` encrypts, every key in ``keys`` decrypts.

    Decoding for a workflow (:meth:`with_context`), a payload no key opens becomes a stand-in
    (the module's doc, "Quarantine"); otherwise it raises :class:`DecryptionError`.
    """

    def __init__(self, keys: Mapping[str, bytes], key_id: str | None = None) -> None:
        if not keys:
            raise EncryptionConfigError("no encryption keys")
        if key_id is None:
            if len(keys) != 1:
                raise EncryptionConfigError(
                    f"{len(keys)} keys and no {KEY_ID_ENV}: name the key that encrypts"
                )
            key_id = next(iter(keys))
        if key_id not in keys:
            raise EncryptionConfigError(
                f"{KEY_ID_ENV} {key_id[:64]!r} is not among the keys ({', '.join(sorted(keys))})"
            )
        for kid, key in keys.items():
            _key_id(f"key id {kid[:64]!r}", kid)
            if len(key) != KEY_BYTES:
                raise EncryptionConfigError(f"key {kid!r} must be {KEY_BYTES} bytes")
        self.key_id = key_id
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        # The workflow this copy decodes for (quarantining), or None (raising).
        self._workflow_id: str | None = None

    def with_context(self, context: SerializationContext) -> Self:
        """This codec for ``context``: quarantining for a workflow's own payloads, raising for
        anything else (activities, the codec server). The keys are shared, not copied."""
        workflow_id = (
            context.workflow_id if isinstance(context, WorkflowSerializationContext) else None
        )
        if workflow_id == self._workflow_id:
            return self
        clone = copy.copy(self)
        clone._workflow_id = workflow_id
        return clone

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._ciphers)

    def __repr__(self) -> str:
        return f"EncryptionCodec(key_id={self.key_id!r}, key_ids={self.key_ids!r})"

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        kid = self.key_id.encode()
        sealed = self._ciphers[self.key_id].encrypt(nonce, payload.SerializeToString(), kid)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: kid},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """The original payload; one that is not encrypted is returned as it is."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise DecryptionError("cannot decrypt a payload: it names no encryption key id")
        kid = raw_id.decode("utf-8", "replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionError(
                f"cannot decrypt a payload: unknown encryption key id {kid[:64]!r} "
                f"(keys here: {', '.join(self.key_ids)}; add it to {KEYS_ENV})"
            )
        data = payload.data
        try:
            if len(data) < NONCE_BYTES + TAG_BYTES:
                raise InvalidTag
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], raw_id)
        except InvalidTag:
            raise DecryptionError(
                f"cannot decrypt a payload encrypted with key {kid!r}: it fails authentication "
                "(altered, or a different key under that id)"
            ) from None
        return Payload.FromString(plain)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self._workflow_id is None:
            return [self.decrypt(p) for p in payloads]
        return [self._decrypt_or_stand_in(p, self._workflow_id) for p in payloads]

    def _decrypt_or_stand_in(self, payload: Payload, workflow_id: str) -> Payload:
        try:
            return self.decrypt(payload)
        except DecryptionError as err:
            # Once per decoding: a replay of the history decodes (and logs) it again.
            _log.warning(
                "workflow %s: %s; handed to the workflow as undecodable (a signal is dropped, "
                "an update rejected; the ticket's own input fails its task)",
                workflow_id[:200],
                err,
            )
            return stand_in(str(err))


def configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a key file is configured (``TIERFLOW_ENCRYPTION_KEYS`` set and not empty)."""
    env = os.environ if environ is None else environ
    return bool(env.get(KEYS_ENV, "").strip())


def codec_from_env(environ: Mapping[str, str] | None = None) -> EncryptionCodec | None:
    """The codec ``TIERFLOW_ENCRYPTION_KEYS`` and ``TIERFLOW_ENCRYPTION_KEY_ID`` describe, or
    None when no key file is configured. Raises :class:`EncryptionConfigError`."""
    env = os.environ if environ is None else environ
    path = env.get(KEYS_ENV, "").strip()
    key_id = env.get(KEY_ID_ENV, "").strip() or None
    if not path:
        if key_id is not None:
            raise EncryptionConfigError(f"{KEY_ID_ENV} is set but {KEYS_ENV} (the key file) is not")
        return None
    return EncryptionCodec(load_keys(Path(path).expanduser()), key_id)
