"""Helpers for the privacy tests: a key file, an encrypting client, the API (with its codec
routes) on a loopback port, and a ticket full of personal data that must never show in clear."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from tests.interfaces.http_support import serving
from tierflow.client import TicketClient
from tierflow.connect import data_converter
from tierflow.encryption import EncryptionCodec, load_keys, new_key
from tierflow.identity import ApiKeys, Identities, Principal
from tierflow.statemachine import Ticket

TOKEN = "codec-test-token"


def key_file(directory: Path, *key_ids: str) -> Path:
    """A key file with a fresh key for each id (as `tierflow keys new` writes it)."""
    path = directory / "tierflow-keys.txt"
    path.write_text("".join(f"{kid}: {new_key()}\n" for kid in key_ids))
    path.chmod(0o600)
    return path


def codec_of(path: Path, key_id: str | None = None) -> EncryptionCodec:
    return EncryptionCodec(load_keys(path), key_id)


async def encrypting_client(address: str, keys: Path, namespace: str = "default") -> Client:
    """A client with Tierflow's converter as configured by TIERFLOW_ENCRYPTION_KEYS=keys."""
    converter = data_converter({"TIERFLOW_ENCRYPTION_KEYS": str(keys)})
    assert isinstance(converter.payload_codec, EncryptionCodec)
    return await Client.connect(address, namespace=namespace, data_converter=converter)


@dataclass(frozen=True)
class Pii:
    """A customer and ticket texts, each unique enough to be searched for in raw bytes."""

    tag: str

    @property
    def name(self) -> str:
        return f"Zofia Privacyton{self.tag}"

    @property
    def email(self) -> str:
        return f"zofia.privacyton.{self.tag.lower()}@example.org"

    phone = "+14155550187"
    card = "4111 1111 1111 1111"

    @property
    def subject(self) -> str:
        return f"Refund owed to Zofia {self.tag} for order 77-31"

    @property
    def description(self) -> str:
        return f"I was charged twice on card {self.card}, please refund (ref {self.tag})."

    @property
    def agent_reply(self) -> str:
        return f"Agent reply {self.tag}: the refund is on its way"

    @property
    def customer_reply(self) -> str:
        return f"Customer reply {self.tag}: thank you"

    @property
    def note(self) -> str:
        return f"Internal note {self.tag}: verified identity by phone"

    def strings(self) -> list[str]:
        """Everything that must not appear in clear in Temporal."""
        return [
            self.name,
            self.email,
            self.phone,
            self.card,
            self.subject,
            self.description,
            self.agent_reply,
            self.customer_reply,
            self.note,
            f"Zofia {self.tag}",
            self.tag,
        ]

    def ticket(self) -> Ticket:
        from datetime import UTC, datetime

        return Ticket.model_validate(
            {
                "id": f"T-priv-{uuid.uuid4().hex[:10]}",
                "subject": self.subject,
                "description": self.description,
                "channel": "email",
                "customer": {
                    "id": "C-PRIV",
                    "name": self.name,
                    "email": self.email,
                    "phone": self.phone,
                    "status": "vip",
                },
                "created_at": datetime.now(UTC),
            }
        )


def new_pii() -> Pii:
    return Pii(f"Q{uuid.uuid4().hex[:8].upper()}")


def identities_for(token: str) -> Identities:
    """One API key, ``token``, for a supervisor the default policy names, allowed to decode."""
    principal = Principal(name="Alex Kim", roles=("supervisor", "codec"))
    return Identities(api_keys=ApiKeys.of({token: principal}))


@asynccontextmanager
async def serving_api(
    tickets: TicketClient,
    codec: EncryptionCodec | None,
    *,
    token: str | None = TOKEN,
    origins: Sequence[str] = (),
    port: int | None = None,
) -> AsyncIterator[str]:
    """The API (codec routes included) served by uvicorn on loopback; yields its base URL."""
    async with serving(
        tickets,
        port=port,
        identities=identities_for(token) if token is not None else None,
        insecure_no_auth=token is None,
        codec=codec,
        codec_origins=origins,
    ) as url:
        yield url
