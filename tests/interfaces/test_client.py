"""The thin client's list and search, and the sync wrapper, against the real dev server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.interfaces.support import settle
from tests.workflows.support import fast_policy, ticket, wait_for
from tierflow.client import (
    InvalidInput,
    TemporalUnavailable,
    TicketClient,
    TicketError,
    TicketNotFound,
    visibility_query,
)
from tierflow.config import TemporalSettings
from tierflow.devserver import free_port
from tierflow.statemachine import Area, EscalationReason
from tierflow.sync_client import SyncTicketClient
from tierflow.workflows.messages import Escalate


class TestVisibilityQuery:
    def test_filters_become_clauses(self) -> None:
        """Every filter is one AND clause over Tierflow's search attributes."""
        query = visibility_query(tier="tier2", priority="high", breached=False, running_only=True)
        assert "TicketTier = 'tier2'" in query
        assert "TicketPriority = 'high'" in query
        assert "TicketSlaBreached = false" in query
        assert "ExecutionStatus = 'Running'" in query
        # Only Tierflow's tickets: since 1.0 no ticket runs under the pre-namespacing type.
        assert query.startswith("WorkflowType = 'tierflow.Ticket' AND ")

    def test_unknown_priority_is_a_clear_error(self) -> None:
        """A priority that does not exist names the known ones."""
        with pytest.raises(TicketError, match="unknown priority 'asap'; known: low, normal"):
            visibility_query(priority="asap")

    def test_quotes_cannot_break_out_of_a_value(self) -> None:
        """A value that could change the query is refused, not escaped."""
        with pytest.raises(TicketError, match="invalid team"):
            visibility_query(team="x' OR WorkflowType != 'y")


class TestScopedQuery:
    def test_an_area_becomes_one_clause_of_its_places(self) -> None:
        """A caller's read area narrows the query itself: its tiers, its teams, and its tiers'
        tickets without a team, OR-ed in one AND clause; every ticket adds nothing."""
        area = Area(
            tiers=frozenset({"tier3"}),
            teams=frozenset({"frontline"}),
            teamless=frozenset({"tier1"}),
        )
        query = visibility_query(state="tier1", within=area)
        assert query.endswith(
            " AND (TicketTier = 'tier3' OR TicketTeam = 'frontline' OR "
            "(TicketTier = 'tier1' AND TicketTeam IS NULL))"
        )
        assert "TicketState = 'tier1'" in query
        assert visibility_query(within=Area(everything=True)) == visibility_query()

    def test_nothing_to_read_lists_nothing_and_odd_names_are_left_out(self) -> None:
        """An empty area matches no ticket; a team name that is not plain cannot be quoted
        safely, so it is left out (its tickets are not listed), never spliced in."""
        assert visibility_query(within=Area()).endswith(" AND WorkflowId = ''")
        odd = Area(teams=frozenset({"x' OR WorkflowType != 'y", "billing"}))
        assert visibility_query(within=odd).endswith(" AND (TicketTeam = 'billing')")


class TestList:
    async def test_filters_return_exactly_the_matching_tickets(
        self, tickets: TicketClient, task_queue: str
    ) -> None:
        """Each filter returns the tickets that match it and no others."""
        policy = fast_policy(resolution="1h")
        plain = ticket("Cannot log in")
        urgent = ticket("Cannot log in either", priority="high")
        vip = ticket("Something odd", customer={"status": "vip"})
        for t in (plain, urgent, vip):
            await tickets.open(t, policy)
        await wait_for(tickets, vip.id, lambda s: s.tier == "tier2")
        await tickets.escalate(
            urgent.id,
            Escalate(
                actor="Jo Park",
                reasons=[EscalationReason.LIMITED_ACCESS],
                tier="tier2",
                team="billing",
            ),
        )

        async def ids(**filters: object) -> set[str]:
            rows = await tickets.list(task_queue=task_queue, **filters)  # type: ignore[arg-type]
            return {r.ticket_id for r in rows}

        everything = await settle(lambda: tickets.list(task_queue=task_queue), expected=3)
        assert {r.ticket_id for r in everything} == {plain.id, urgent.id, vip.id}
        # Visibility lags the updates a little: wait for the escalation to be indexed.
        await settle(lambda: tickets.list(task_queue=task_queue, team="billing"), expected=1)
        assert await ids(priority="high") == {urgent.id}
        assert await ids(customer_status="vip") == {vip.id}
        assert await ids(tier="tier2") == {vip.id, urgent.id}
        assert await ids(tier="tier3") == set()
        assert await ids(state="tier1") == {plain.id}
        assert await ids(team="technical") == {vip.id}
        assert await ids(team="billing") == {urgent.id}
        assert await ids(breached=False) == {plain.id, urgent.id, vip.id}
        assert await ids(breached=True) == set()
        assert await ids(running_only=True, tier="tier1") == {plain.id}
        (row,) = await tickets.list(task_queue=task_queue, team="billing", with_summary=True)
        assert row.escalations == 1
        assert row.status == "running"
        assert urgent.id in (row.summary or "")


class TestSyncClient:
    async def test_scripts_can_open_act_and_read(
        self, tickets: TicketClient, temporal_env: WorkflowEnvironment, task_queue: str
    ) -> None:
        """The blocking client works from plain code, with its own loop in a thread."""
        address = temporal_env.client.service_client.config.target_host
        t = ticket("Printer on fire")

        def script() -> tuple[bool, str, int]:
            settings = TemporalSettings(temporal_address=address, task_queue=task_queue)
            with SyncTicketClient.connect(settings) as sync:
                opened = sync.open(t, fast_policy(resolution="1h"))
                status = sync.act(t.id, "note", {"actor": "Jo Park", "text": "smoke seen"})
                return opened.created, status.ticket_id, len(sync.timeline(t.id))

        created, ticket_id, entries = await asyncio.to_thread(script)
        assert created
        assert ticket_id == t.id
        assert entries >= 4

    async def test_scripts_see_only_ticket_errors(
        self, tickets: TicketClient, temporal_env: WorkflowEnvironment, task_queue: str
    ) -> None:
        """Bad input, unknown tickets and an unreachable server are TicketError subclasses."""
        address = temporal_env.client.service_client.config.target_host

        def script() -> list[type[TicketError]]:
            settings = TemporalSettings(temporal_address=address, task_queue=task_queue)
            seen: list[type[TicketError]] = []
            with SyncTicketClient.connect(settings) as sync:
                calls: list[Callable[[], object]] = [
                    lambda: sync.customer_feedback("T-x", score=9),
                    lambda: sync.customer_reply("T-x", "\ud800"),
                    lambda: sync.open({"id": "bad id"}),
                    lambda: sync.list(colour="red"),
                    lambda: sync.status("T-never-opened"),
                ]
                for call in calls:
                    with pytest.raises(TicketError) as caught:
                        call()
                    seen.append(type(caught.value))
            with pytest.raises(TemporalUnavailable):
                SyncTicketClient.connect(
                    TemporalSettings(temporal_address=f"127.0.0.1:{free_port()}")
                )
            return seen

        seen = await asyncio.to_thread(script)
        assert seen == [InvalidInput] * 4 + [TicketNotFound]
