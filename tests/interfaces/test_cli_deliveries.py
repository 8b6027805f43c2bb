"""``tierflow ticket deliveries / retry-delivery / drop-delivery`` and ``tierflow tickets list
--delivery-failing`` (and the blocking client's delivery calls) against the real dev server,
with a chat receiver on loopback that answers 503 while it is "down". Refusals are one line on
stderr and exit 1 (2 for usage errors).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.activities.servers import SmtpCapture
from tests.interfaces.conftest import Cli
from tests.interfaces.test_cli import one_error_line
from tests.waiting import eventually
from tests.workflows.support import fast_policy, running_worker, ticket, wait_for
from tests.workflows.test_deliveries import Outage, activities_for
from tierflow.client import TicketClient
from tierflow.config import TemporalSettings
from tierflow.errors import ActionForbidden, ActionRejected, TicketError, TicketNotFound
from tierflow.sync_client import SyncTicketClient
from tierflow.workflows.messages import Assign

FORBIDDEN = (
    "error: only a supervisor, manager or director the policy names may drop_delivery; "
    "'Jo Park' is an agent"
)


@dataclass
class Failing:
    tickets: TicketClient
    outage: Outage
    ticket_id: str


@pytest_asyncio.fixture
async def failing(client: Client, task_queue: str) -> AsyncIterator[Failing]:
    """A tier-1 ticket assigned to Alex Kim while chat is down: at least two chat messages
    keep failing."""
    with SmtpCapture() as smtp, Outage() as outage:
        outage.down.add("/chat")
        async with running_worker(client, task_queue, activities_for(smtp, outage)) as tickets:
            t = ticket("Chat is down", customer={"email": "ana.private@example.com"})
            await tickets.open(t, fast_policy(resolution="600s"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            await tickets.assign(t.id, Assign(actor="Jordan Diaz", assignee="Alex Kim"))

            async def two() -> bool:
                return len(await tickets.deliveries(t.id)) >= 2

            await eventually(two)
            yield Failing(tickets, outage, t.id)


class TestDeliveries:
    async def test_deliveries_lists_each_failing_item_on_one_line(
        self, failing: Failing, cli: Cli
    ) -> None:
        """Key, what, whom, attempts (or waiting), the horizon, the channel's error; nothing
        of the customer."""
        result = await cli("ticket", "deliveries", failing.ticket_id)
        assert result.exit_code == 0, result.output
        views = await failing.tickets.deliveries(failing.ticket_id)
        lines = result.stdout.strip().splitlines()
        assert len(lines) >= len(views) >= 2
        for view in views:
            (line,) = [x for x in lines if x.startswith(view.key)]
            assert "to staff" in line
            assert "until " in line
            assert ("waiting" in line) if view.waiting else ("attempt(s)" in line)
        assert "ana.private" not in result.stdout

    async def test_tickets_list_finds_tickets_with_failing_deliveries(
        self, failing: Failing, cli: Cli
    ) -> None:
        """``--delivery-failing`` lists it (visibility: eventually), ``--delivery-ok`` not."""

        async def listed() -> bool:
            result = await cli("tickets", "list", "--delivery-failing", "--json")
            rows = [json.loads(line) for line in result.stdout.splitlines()]
            return any(r["ticket_id"] == failing.ticket_id and r["delivery_failing"] for r in rows)

        await eventually(listed)
        ok = await cli("tickets", "list", "--delivery-ok", "--json", "--limit", "1000")
        assert ok.exit_code == 0, ok.output
        assert failing.ticket_id not in ok.stdout

    async def test_an_agent_retries_only_a_supervisor_drops(
        self, failing: Failing, cli: Cli
    ) -> None:
        """Jo Park may retry-delivery; drop-delivery is refused (one line, exit 1, nothing
        dropped); Jordan Diaz (frontline's manager) drops one: the rest are printed, the timeline
        records it."""
        tid = failing.ticket_id
        views = await failing.tickets.deliveries(tid)
        retried = await cli("ticket", "retry-delivery", tid, "--actor", "Jo Park")
        assert retried.exit_code == 0, retried.output
        assert f"{tid}: retrying {len(views)} delivery(ies) now" in retried.stdout

        key = views[0].key
        refused = await cli("ticket", "drop-delivery", tid, key, "--actor", "Jo Park")
        assert refused.exit_code == 1
        assert one_error_line(refused.stderr) == FORBIDDEN
        assert key in {v.key for v in await failing.tickets.deliveries(tid)}

        unknown = await cli("ticket", "drop-delivery", tid, "no-such-key", "--actor", "Jordan Diaz")
        assert unknown.exit_code == 1
        assert one_error_line(unknown.stderr) == "error: no failing delivery with that key"

        dropped = await cli("ticket", "drop-delivery", tid, key, "--actor", "Jordan Diaz")
        assert dropped.exit_code == 0, dropped.output
        assert key not in dropped.stdout
        finals = [
            e
            for e in await failing.tickets.timeline(tid)
            if e.kind == "delivery_failure" and e.data.get("final") is True
        ]
        assert [(e.actor, e.data["key"]) for e in finals] == [("Jordan Diaz", key)]


class TestRefusals:
    async def test_nothing_failing(self, tickets: TicketClient, cli: Cli) -> None:
        """A ticket with no failing delivery: listed as such; retry is refused."""
        t = ticket("All fine")
        await tickets.open(t, fast_policy(resolution="1h"))
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        listed = await cli("ticket", "deliveries", t.id)
        assert listed.exit_code == 0, listed.output
        assert f"{t.id}: no failing delivery" in listed.stdout
        retry = await cli("ticket", "retry-delivery", t.id, "--actor", "Jo Park")
        assert retry.exit_code == 1
        assert one_error_line(retry.stderr) == "error: no delivery of this ticket is failing"

    async def test_unknown_ticket(self, tickets: TicketClient, cli: Cli) -> None:
        for args in (
            ("deliveries", "NOPE-1"),
            ("retry-delivery", "NOPE-1"),
            ("drop-delivery", "NOPE-1", "k"),
        ):
            result = await cli("ticket", *args)
            assert result.exit_code == 1, result.output
            assert one_error_line(result.stderr) == "error: no ticket 'NOPE-1'"

    @pytest.mark.parametrize(
        ("args", "code", "says"),
        [
            (("drop-delivery", "T-1", "k" * 301), 1, "key: String should have at most 300"),
            (("drop-delivery", "T-1", ""), 1, "key: String should have at least 1"),
            (("drop-delivery", "T-1", "-1"), 2, "no such option: -1"),
            (("drop-delivery", "T-1"), 2, "missing argument 'key'"),
            (("drop-delivery", "T\u202e1", "k"), 2, "is not a ticket id"),
            (("deliveries", "T" * 129), 2, "is not a ticket id"),
            (("retry-delivery", "T-1", "--actor", ""), 1, "actor"),
            (("retry-delivery", "T-1", "--actor", "x" * 500), 1, "actor"),
        ],
    )
    async def test_hostile_arguments_are_one_line(
        self, cli: Cli, args: tuple[str, ...], code: int, says: str
    ) -> None:
        """Oversize, empty and option-like keys, a missing key, unicode and oversize ticket
        ids, an empty or huge actor: refused before connecting, one line, no echo of a long
        value."""
        result = await cli("ticket", *args)
        assert result.exit_code == code, result.output
        line = one_error_line(result.stderr)
        assert says in line
        assert "k" * 301 not in line
        assert "x" * 500 not in line
        assert len(line) < 300

    async def test_list_refuses_a_negative_limit(self, cli: Cli) -> None:
        result = await cli("tickets", "list", "--delivery-failing", "--limit", "-1")
        assert result.exit_code == 2
        assert "limit" in one_error_line(result.stderr)

    async def test_unicode_key_on_a_live_ticket_is_just_unknown(
        self, tickets: TicketClient, cli: Cli
    ) -> None:
        """A key in any script or with control characters is a key like any other: not one
        of the ticket's failing deliveries."""
        t = ticket("Unicode")
        await tickets.open(t, fast_policy(resolution="1h"))
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        result = await cli(
            "ticket", "drop-delivery", t.id, "\u202e\U0001f4a5é\x1b[31m", "--actor", "Jordan Diaz"
        )
        assert result.exit_code == 1
        assert one_error_line(result.stderr) == "error: no failing delivery with that key"


class TestSyncClient:
    async def test_scripts_read_and_command_deliveries(
        self, tickets: TicketClient, temporal_env: WorkflowEnvironment, task_queue: str
    ) -> None:
        """The blocking client lists deliveries, and its refusals are the asyncio client's:
        nothing to retry (ActionRejected), an agent dropping (ActionForbidden), an unknown
        ticket (TicketNotFound)."""
        address = temporal_env.client.service_client.config.target_host
        t = ticket("Scripted")
        await tickets.open(t, fast_policy(resolution="1h"))
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")

        def script() -> tuple[list[object], list[type[TicketError]]]:
            settings = TemporalSettings(temporal_address=address, task_queue=task_queue)
            seen: list[type[TicketError]] = []
            with SyncTicketClient.connect(settings, actor="Jo Park") as sync:
                listed: list[object] = list(sync.deliveries(t.id))
                calls: list[Callable[[], object]] = [
                    lambda: sync.retry_deliveries(t.id),
                    lambda: sync.drop_delivery(t.id, {"key": "k"}),
                    lambda: sync.deliveries("T-never-opened"),
                ]
                for call in calls:
                    with pytest.raises(TicketError) as caught:
                        call()
                    seen.append(type(caught.value))
            return listed, seen

        listed, seen = await asyncio.to_thread(script)
        assert listed == []
        assert seen == [ActionRejected, ActionForbidden, TicketNotFound]
