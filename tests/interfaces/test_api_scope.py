"""What each caller may read and do through the HTTP API, by the ticket's policy: someone it
names nowhere nothing, an agent their teams' tickets and their own, a supervisor reads every
ticket and acts in their team, a listed host system opens and reads everything; a listing holds
only what the caller reads; an escalation downwards is refused. Real API keys and signed tokens
against the real dev server; the tickets' policy is the default one (crm listed as a service)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest_asyncio
from temporalio.client import Client

from tests.interfaces.conftest import Cli
from tests.interfaces.http_support import (
    AGENT_TOKEN,
    KEYS,
    SERVICE_TOKEN,
    TOKEN,
    bearer,
    exists,
    history_length,
    quiet_history_length,
    serving,
)
from tests.waiting import eventually
from tests.workflows.support import ticket, wait_for
from tierflow.client import TicketClient
from tierflow.identity import ApiKeys, Identities, JwtVerifier, Principal

ISSUER = "https://idp.example.com/"
AUDIENCE = "tierflow"
SECRET = b"scope-tests-secret-of-at-least-32-bytes!"
ROGUE_KEY = "tfk_test-rogue-service"  # a service the policy does not list


def token(sub: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "iat": now, **claims}
    return jwt.encode(body, SECRET, "HS256")


SUPERVISOR = bearer(TOKEN)  # Alex Kim, frontline's supervisor
JO = bearer(AGENT_TOKEN)  # Jo Park, a frontline agent
SKY = bearer(token("Sky Adams"))  # a billing agent, by signed token
CRM = bearer(SERVICE_TOKEN)  # the host system, listed as a service
# Named nowhere: a token whose roles claim says supervisor, and an unlisted service's key.
STRANGERS = {
    "token": bearer(token("Random Bob", roles=["supervisor"])),
    "service": bearer(ROGUE_KEY),
}
REASONS = {"reasons": ["limited_knowledge"]}


@pytest_asyncio.fixture
async def http(tickets: TicketClient) -> AsyncIterator[httpx.AsyncClient]:
    keys = {**KEYS, ROGUE_KEY: Principal(name="rogue-bot", service=True)}
    identities = Identities(
        jwt=JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=SECRET),
        api_keys=ApiKeys.of(keys),
    )
    async with serving(tickets, identities=identities) as url, httpx.AsyncClient(base_url=url) as c:
        yield c


async def opened(
    http: httpx.AsyncClient, tickets: TicketClient, subject: str, by: dict[str, str] = CRM
) -> str:
    """A ticket opened through the API (crm by default), once it has landed in its tier."""
    body = ticket(subject).model_dump(mode="json")
    response = await http.post("/tickets", json=body, headers=by)
    assert response.status_code == 201, response.text
    await wait_for(tickets, str(body["id"]), lambda s: s.state.startswith("tier"))
    return str(body["id"])


async def reads(http: httpx.AsyncClient, ticket_id: str, who: dict[str, str]) -> set[int]:
    """The statuses of the ticket's three reads for ``who``."""
    paths = ("", "/timeline", "/deliveries")
    return {(await http.get(f"/tickets/{ticket_id}{p}", headers=who)).status_code for p in paths}


async def listed(http: httpx.AsyncClient, who: dict[str, str]) -> set[str]:
    response = await http.get("/tickets", params={"limit": 1000}, headers=who)
    assert response.status_code == 200, response.text
    return {row["ticket_id"] for row in response.json()}


class TestNamedNowhere:
    async def test_a_principal_the_policy_names_nowhere_may_do_nothing(
        self, http: httpx.AsyncClient, tickets: TicketClient, client: Client
    ) -> None:
        """A signed-in stranger (roles claimed or not) and a service the policy does not list
        are refused opening, reading, listing, acting and relaying: 403, nothing written."""
        live = await opened(http, tickets, "Cannot log in")
        before = await quiet_history_length(client, live)
        for kind, who in STRANGERS.items():
            body = ticket("Let me in").model_dump(mode="json")
            refused = await http.post("/tickets", json=body, headers=who)
            assert refused.status_code == 403, (kind, refused.text)
            assert "is not " in refused.json()["detail"]
            assert not await exists(client, str(body["id"]))
            assert (await http.get("/tickets", headers=who)).status_code == 403, kind
            assert await reads(http, live, who) == {403}, kind
            note = await http.post(f"/tickets/{live}/actions/note", json={"text": "x"}, headers=who)
            assert note.status_code == 403, kind
        event = {"type": "reply", "message": "I am the customer"}
        relayed = await http.post(
            f"/tickets/{live}/events", json=event, headers=STRANGERS["service"]
        )
        assert relayed.status_code == 403
        assert await history_length(client, live) == before


class TestAgents:
    async def test_an_agent_reads_and_acts_on_their_team_s_tickets_only(
        self, http: httpx.AsyncClient, tickets: TicketClient, client: Client
    ) -> None:
        """Jo Park (frontline) opens, reads and notes a frontline ticket, but neither reads nor
        resolves billing's or engineering's; the billing agent reads and acts on billing's."""
        front = await opened(http, tickets, "Cannot log in", by=JO)
        billing = await opened(http, tickets, "Invoice charged twice")
        engineering = await opened(http, tickets, "Data loss on export")
        assert await reads(http, front, JO) == {200}
        note = await http.post(f"/tickets/{front}/actions/note", json={"text": "on it"}, headers=JO)
        assert note.status_code == 200, note.text
        for other in (billing, engineering):
            before = await quiet_history_length(client, other)
            assert await reads(http, other, JO) == {403}
            resolved = await http.post(
                f"/tickets/{other}/actions/resolve", json={"resolution": "done"}, headers=JO
            )
            assert resolved.status_code == 403
            assert "'Jo Park' (agent) acts on tickets of frontline" in resolved.json()["detail"]
            assert await history_length(client, other) == before
        assert await reads(http, billing, SKY) == {200}
        assert await reads(http, front, SKY) == {403}
        sky_note = await http.post(
            f"/tickets/{billing}/actions/note", json={"text": "refund"}, headers=SKY
        )
        assert sky_note.status_code == 200, sky_note.text

    async def test_the_agent_who_escalated_keeps_the_ticket(
        self, http: httpx.AsyncClient, tickets: TicketClient
    ) -> None:
        """After escalating to tier2/technical, Jo Park still reads and chases the ticket."""
        front = await opened(http, tickets, "Cannot log in", by=JO)
        up = await http.post(f"/tickets/{front}/actions/escalate", json=REASONS, headers=JO)
        assert up.status_code == 200, up.text
        assert (up.json()["tier"], up.json()["team"]) == ("tier2", "technical")
        assert await reads(http, front, JO) == {200}
        chase = await http.post(f"/tickets/{front}/actions/note", json={"text": "?"}, headers=JO)
        assert chase.status_code == 200, chase.text
        assert await reads(http, front, SKY) == {403}

    async def test_an_escalation_downwards_is_refused_and_not_counted(
        self, http: httpx.AsyncClient, tickets: TicketClient, client: Client
    ) -> None:
        """Escalating a tier-1 ticket to tier0 is a de-escalation: 409 saying so, nothing
        written, no escalation counted."""
        front = await opened(http, tickets, "Cannot log in", by=JO)
        before = await quiet_history_length(client, front)
        down = await http.post(
            f"/tickets/{front}/actions/escalate", json={**REASONS, "tier": "tier0"}, headers=JO
        )
        assert down.status_code == 409
        assert "tier0 is below tier1: a de-escalation" in down.json()["detail"]
        assert await history_length(client, front) == before
        assert (await http.get(f"/tickets/{front}", headers=JO)).json()["escalations"] == 0


class TestSupervisorsAndServices:
    async def test_a_supervisor_reads_every_ticket_and_acts_in_their_team(
        self, http: httpx.AsyncClient, tickets: TicketClient
    ) -> None:
        """Alex Kim (frontline's supervisor) reads a tier-3 ticket but may not resolve it."""
        engineering = await opened(http, tickets, "Data loss on export")
        assert await reads(http, engineering, SUPERVISOR) == {200}
        resolved = await http.post(
            f"/tickets/{engineering}/actions/resolve", json={"resolution": "x"}, headers=SUPERVISOR
        )
        assert resolved.status_code == 403
        assert "'Alex Kim' (supervisor) acts on tickets of frontline" in resolved.json()["detail"]

    async def test_a_listed_service_reads_everything_and_acts_within_the_person_s_scope(
        self, http: httpx.AsyncClient, tickets: TicketClient
    ) -> None:
        """crm reads a tier-3 ticket; acting for Jo Park it is held to Jo Park's teams; it
        relays customer words only to tickets whose policy lists it."""
        engineering = await opened(http, tickets, "Data loss on export")
        front = await opened(http, tickets, "Cannot log in")
        assert await reads(http, engineering, CRM) == {200}
        for_jo = {**CRM, "X-On-Behalf-Of": "Jo Park"}
        note = {"text": "from the CRM"}
        refused = await http.post(f"/tickets/{engineering}/actions/note", json=note, headers=for_jo)
        assert refused.status_code == 403
        allowed = await http.post(f"/tickets/{front}/actions/note", json=note, headers=for_jo)
        assert allowed.status_code == 200, allowed.text
        unlisted = ticket("Opened with the default policy")
        await tickets.open(unlisted)  # its policy lists no service
        event = {"type": "reply", "message": "hello"}
        assert (await http.post(f"/tickets/{front}/events", json=event, headers=CRM)).is_success
        elsewhere = await http.post(f"/tickets/{unlisted.id}/events", json=event, headers=CRM)
        assert elsewhere.status_code == 403
        assert "permissions.services" in elsewhere.json()["detail"]


class TestListing:
    async def test_a_listing_holds_only_what_the_caller_reads(
        self, http: httpx.AsyncClient, tickets: TicketClient, cli: Cli
    ) -> None:
        """The visibility query itself is narrowed: Jo Park lists frontline's ticket, the
        billing agent billing's, the supervisor and the service all three; the command line
        lists the actor's (every one with --all)."""
        front = await opened(http, tickets, "Cannot log in")
        billing = await opened(http, tickets, "Invoice charged twice")
        engineering = await opened(http, tickets, "Data loss on export")
        mine = {front, billing, engineering}

        async def all_listed() -> bool:
            return mine <= await listed(http, SUPERVISOR)

        await eventually(all_listed, within=30)
        assert mine <= await listed(http, CRM)
        assert await listed(http, JO) & mine == {front}
        assert await listed(http, SKY) & mine == {billing}

        result = await cli("tickets", "list", "--json", "--limit", "1000", "--actor", "Jo Park")
        assert result.exit_code == 0, result.output
        assert {r for r in mine if f'"{r}"' in result.stdout} == {front}
        every = await cli("tickets", "list", "--json", "--limit", "1000", "--all", "--actor", "x")
        assert every.exit_code == 0, every.output
        assert all(f'"{r}"' in every.stdout for r in mine)
        stranger = await cli("tickets", "list", "--actor", "Random Bob")
        assert stranger.exit_code == 1
        assert "'Random Bob' is not one of the policy's people" in stranger.stderr
        assert "--all" in stranger.stderr
