"""``tierflow keys new`` (a fresh encryption key, appended to a key file or written to a
redirected stdout) and ``tierflow keys check`` (validate one). A key is never shown on a
terminal, and the live key file is never left in a state that stops it loading (docs/
privacy.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from tierflow.encryption import (
    KEY_ID_ENV,
    KEY_ID_PATTERN,
    KEYS_ENV,
    EncryptionConfigError,
    load_keys,
    new_key,
)

from ._common import console, fail

keys_app = typer.Typer(
    help="Encryption keys of ticket data (docs/privacy.md).", no_args_is_help=True
)


def _key_file(file: Path | None) -> Path:  # for `check`
    if file is not None:
        return file
    named = os.environ.get(KEYS_ENV, "").strip()
    if not named:
        fail(f"name the key file (an argument, or {KEYS_ENV})", code=2)
    return Path(named).expanduser()


def _live_key_file() -> Path | None:
    named = os.environ.get(KEYS_ENV, "").strip()
    return Path(named).expanduser() if named else None


def _is_live(path: Path) -> bool:
    live = _live_key_file()
    try:
        return live is not None and path.exists() and live.exists() and path.samefile(live)
    except OSError:
        return False


def _read(path: Path) -> dict[str, bytes]:
    if not path.exists() or path.stat().st_size == 0:
        return {}
    try:
        existing = load_keys(path)
    except EncryptionConfigError as err:
        fail(str(err))
    if path.read_bytes().lstrip().startswith(b"{"):
        fail(f"{path} is JSON: add the key to it by hand (`tierflow keys new` writes lines)")
    return existing


@keys_app.command("new")
def new(
    key_id: Annotated[str, typer.Argument(help="the new key's id, e.g. 2026-11")],
    file: Annotated[
        Path | None,
        typer.Argument(
            help="the key file to append to (default: print the line, redirected)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Make a fresh random AES-256 key under KEY_ID. With FILE, append it there (a new file is
    created with mode 0600); without, write its `KEY_ID: <key>` line to stdout, which must be
    redirected (`>> new-keys.txt`): a key is never shown on a terminal. The live key file
    (TIERFLOW_ENCRYPTION_KEYS) is changed only when it still loads afterwards: a second key
    in it needs TIERFLOW_ENCRYPTION_KEY_ID set first."""
    if not KEY_ID_PATTERN.fullmatch(key_id):
        fail("a key id is 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit", code=2)
    if file is None:
        _print_new(key_id)
        return
    path = file.expanduser()
    existing = _read(path)
    if key_id in existing:
        fail(f"{path} already has a key {key_id!r}; keys are never replaced, pick a new id")
    chosen = os.environ.get(KEY_ID_ENV, "").strip()
    if existing and _is_live(path) and chosen not in existing:
        current = ", ".join(repr(k) for k in existing)
        fail(
            f"{path} is the live key file ({KEYS_ENV}): with a second key and no "
            f"{KEY_ID_ENV} naming one of its keys, every worker, the API and the command line "
            f"would stop loading it; set {KEY_ID_ENV} to the key that encrypts now ({current}) "
            "first, or add the key to a copy"
        )
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


def _print_new(key_id: str) -> None:
    """The new key's line on stdout, only when stdout is not a terminal."""
    if sys.stdout.isatty():
        fail(
            "the key would show on the terminal: redirect it (`tierflow keys new "
            f"{key_id} >> new-keys.txt`) or name the key file to append to",
            code=2,
        )
    live = _live_key_file()
    if live is not None and live.exists() and key_id in _read(live):
        fail(f"the live key file {live} already has a key {key_id!r}; pick a new id")
    typer.echo(f"{key_id}: {new_key()}")


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
