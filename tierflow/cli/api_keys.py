"""``tierflow api-keys``: API keys for the HTTP API, and the lines of its keys file.

A key is shown once, on stderr; the keys file gets only its SHA-256 (the line, on stdout), so
``tierflow api-keys new crm --service >> api-keys`` appends the line and shows the key.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tierflow.cli._common import fail
from tierflow.identity import IdentityConfigError, key_line, new_key

api_keys_app = typer.Typer(
    help="API keys for the HTTP API (the keys file holds their hashes, never the keys).",
    no_args_is_help=True,
)

Name = Annotated[
    str, typer.Argument(help="the principal: who acts (a person of the policy, or a service)")
]
Service = Annotated[
    bool, typer.Option("--service", help="a host system, which may act on behalf of people")
]
Roles = Annotated[
    list[str] | None, typer.Option("--role", help="a role to report for it (repeatable)")
]


def _line(key: str, name: str, service: bool, roles: list[str] | None) -> str:
    try:
        return key_line(key, name, service=service, roles=roles or ())
    except IdentityConfigError as err:
        fail(str(err), code=2)


@api_keys_app.command("new")
def new(name: Name, service: Service = False, role: Roles = None) -> None:
    """A new random key (on stderr, shown once) and its keys-file line (on stdout)."""
    key = new_key()
    line = _line(key, name, service, role)
    typer.echo(f"API key for {name} (shown once; the keys file keeps only its hash):", err=True)
    typer.echo(key, err=True)
    typer.echo(line)


@api_keys_app.command("hash")
def hash_(name: Name, service: Service = False, role: Roles = None) -> None:
    """The keys-file line of a key you already have, read from stdin (never an argument)."""
    if sys.stdin.isatty():
        key = typer.prompt("API key", hide_input=True)
    else:
        key = sys.stdin.readline().rstrip("\r\n")
    if not key:
        fail("no key on stdin")
    typer.echo(_line(key, name, service, role))
