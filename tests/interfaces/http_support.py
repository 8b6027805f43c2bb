"""Serving the HTTP API on a loopback port for a test, with API keys for a person, an agent and
a service, and reading a ticket's history length once nothing is pending on it (to show that a
refused request wrote nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tierflow.api import create_app
from tierflow.client import TicketClient, workflow_id_for
from tierflow.devserver import free_port
from tierflow.identity import ApiKeys, Identities, Principal
from tierflow.statemachine import Policy, default_policy, policy_from_data

# Who the tests' requests act as: people of the policies (a supervisor of tier 1, an agent)
# and a host system, each with its own API key.
ACTOR = "Alex Kim"
AGENT = "Jo Park"
SERVICE = "crm"
KEYS = {
    "tfk_test-supervisor": Principal(name=ACTOR, roles=("supervisor",)),
    "tfk_test-agent": Principal(name=AGENT, roles=("agent",)),
    "tfk_test-service": Principal(name=SERVICE, service=True),
}
TOKEN, AGENT_TOKEN, SERVICE_TOKEN = KEYS


# The policy's permissions that list the host system above (it acts for agents).
LISTED_SERVICE: dict[str, Any] = {"services": [{"name": SERVICE, "may_act_for": ["agent"]}]}


def listing_the_service(policy: Policy | None = None) -> Policy:
    """``policy`` (default: the default policy) with :data:`SERVICE` listed as a host system."""
    data = (policy or default_policy()).model_dump(mode="json")
    data["permissions"] = {**data["permissions"], **LISTED_SERVICE}
    return policy_from_data(data, "<test policy>")


# The policy the tests' API opens tickets with: the default one, which knows the host system.
API_POLICY = listing_the_service()


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


AUTH = bearer(TOKEN)
# Customer events come from a host system: the service's key.
SERVICE_AUTH = bearer(SERVICE_TOKEN)


def known_identities() -> Identities:
    """The API keys above (kept, like a keys file, as hashes only)."""
    return Identities(api_keys=ApiKeys.of(KEYS))


@asynccontextmanager
async def serving(
    tickets: TicketClient,
    *,
    port: int | None = None,
    log_level: str = "warning",
    **app_options: Any,
) -> AsyncIterator[str]:
    """The API served by uvicorn on loopback (``port``, else a free one), on this event loop;
    yields its URL. It knows :data:`KEYS` unless ``app_options`` say otherwise
    (``create_app``'s keywords), and opens tickets with :data:`API_POLICY` unless they name a
    ``policy``; ``log_level="info"`` turns uvicorn's access log on."""
    port = port or free_port()
    options = {"policy": API_POLICY, **(app_options or {"identities": known_identities()})}
    config = uvicorn.Config(
        create_app(tickets, **options), host="127.0.0.1", port=port, log_level=log_level
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def quiet_history_length(client: Client, ticket_id: str, within: float = 30.0) -> int:
    """The length of the ticket's history once no workflow task and no activity is pending
    on it (the same length read on both sides of a check that nothing is pending)."""
    handle = client.get_workflow_handle(workflow_id_for(ticket_id))
    deadline = asyncio.get_running_loop().time() + within
    while True:
        before = len((await handle.fetch_history()).events)
        raw = (await handle.describe()).raw_description
        after = len((await handle.fetch_history()).events)
        idle = not raw.pending_activities and not raw.HasField("pending_workflow_task")
        if idle and before == after:
            return after
        assert asyncio.get_running_loop().time() < deadline, "the ticket never went quiet"
        await asyncio.sleep(0.1)


async def history_length(client: Client, ticket_id: str) -> int:
    handle = client.get_workflow_handle(workflow_id_for(ticket_id))
    return len((await handle.fetch_history()).events)


async def exists(client: Client, ticket_id: str) -> bool:
    """Whether a workflow was ever started for the ticket id (strongly consistent)."""
    try:
        await client.get_workflow_handle(workflow_id_for(ticket_id)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
