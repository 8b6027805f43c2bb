"""``tierflow keys new`` (add a fresh encryption key to a key file) and ``tierflow keys check``
(validate one). Keys are written to the file only, never printed (README, Privacy)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tierflow.encryption import (
    KEY_ID_PATTERN,
    KEYS_ENV,
    EncryptionConfigError,
    load_keys,
    new_key,
)

from ._common import console, fail

keys_app = typer.Typer(
    help="Encryption keys of ticket data (README, Privacy).", no_args_is_help=True
)


def _key_file(file: Path | None) -> Path:
    if file is not None:
        return file
    named = os.environ.get(KEYS_ENV, "").strip()
    if not named:
        fail(f"name the key file (an argument, or {KEYS_ENV})", code=2)
    return Path(named).expanduser()


@keys_app.command("new")
def new(
    key_id: Annotated[str, typer.Argument(help="the new key's id, e.g. 2026-11")],
    file: Annotated[
        Path | None, typer.Argument(help=f"the key file (default: {KEYS_ENV})", show_default=False)
    ] = None,
) -> None:
    """Append a fresh random AES-256 key under KEY_ID to the key file (created with mode 0600).
    The key is not printed. Make it the encrypting key with TIERFLOW_ENCRYPTION_KEY_ID once
    every worker and the API have the file."""
    path = _key_file(file)
    if not KEY_ID_PATTERN.fullmatch(key_id):
        fail("a key id is 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit", code=2)
    existing: dict[str, bytes] = {}
    if path.exists() and path.stat().st_size > 0:
        try:
            existing = load_keys(path)
        except EncryptionConfigError as err:
            fail(str(err))
        if path.read_bytes().lstrip().startswith(b"{"):
            fail(f"{path} is JSON: add the key to it by hand (`tierflow keys new` writes lines)")
    if key_id in existing:
        fail(f"{path} already has a key {key_id!r}; keys are never replaced, pick a new id")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            if existing and not path.read_bytes().endswith(b"\n"):
                out.write("\n")
            out.write(f"{key_id}: {new_key()}\n")
    except OSError as err:
        fail(f"cannot write {path}: {(err.strerror or type(err).__name__).lower()}")
    ids = [*existing, key_id]
    console.print(f"added key {key_id!r} to {path} (keys: {', '.join(ids)})", markup=False)


@keys_app.command("check")
def check(
    file: Annotated[
        Path | None, typer.Argument(help=f"the key file (default: {KEYS_ENV})", show_default=False)
    ] = None,
) -> None:
    """Validate a key file and list its key ids (never the keys)."""
    path = _key_file(file)
    try:
        keys = load_keys(path)
    except EncryptionConfigError as err:
        fail(str(err))
    console.print(f"{path}: {len(keys)} key(s): {', '.join(keys)}", markup=False)
