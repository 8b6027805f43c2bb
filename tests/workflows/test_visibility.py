"""What operators see: search attributes kept current, filtering with the stock Temporal CLI,
the static summary and the current-details Markdown."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tierflow.client import workflow_id_for
from tierflow.devserver import ensure_temporal_binary
from workflows import search_attributes as sa

from .support import fast_policy, running_worker, ticket, wait_for

pytestmark = pytest.mark.integration


async def cli_list(env: WorkflowEnvironment, query: str) -> list[str]:
    """Workflow ids the stock ``temporal workflow list --query`` returns."""
    address = env.client.service_client.config.target_host
    out = await asyncio.to_thread(
        subprocess.run,
        [
            str(ensure_temporal_binary()),
            "workflow",
            "list",
            "--address",
            address,
            "--query",
            query,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(out.stdout or "[]")
    return [row["execution"]["workflowId"] for row in rows]


class TestSearchAttributes:
    async def test_attributes_follow_the_ticket(self, client: Client, task_queue: str) -> None:
        """After an automatic escalation the attributes show the new tier, team and count."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Sync fails", customer={"status": "enterprise"}, priority="high")
            opened = await tickets.open(t, fast_policy(resolution="3s"))
            await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=20)
            desc = await client.get_workflow_handle(opened.workflow_id).describe()
            attrs = desc.typed_search_attributes
            assert attrs.get(sa.TICKET_STATE) == "tier2"
            assert attrs.get(sa.TICKET_TIER) == "tier2"
            assert attrs.get(sa.TICKET_TEAM) == "technical"
            assert attrs.get(sa.TICKET_PRIORITY) == "high"
            assert attrs.get(sa.TICKET_ESCALATIONS) == 1
            assert attrs.get(sa.TICKET_CUSTOMER_STATUS) == "enterprise"
            assert attrs.get(sa.TICKET_SLA_BREACHED) is False
            assert attrs.get(sa.TICKET_SLA_DUE) is not None

    async def test_stock_cli_filters_by_tier_and_breach(
        self, temporal_env: WorkflowEnvironment, task_queue: str
    ) -> None:
        """`temporal workflow list --query` finds tickets by Tierflow's attributes."""
        async with running_worker(temporal_env.client, task_queue) as tickets:
            breached = ticket("Nobody answers", customer={"status": "vip"})
            calm = ticket("Question", customer={"status": "vip"})
            levels = [
                {"name": "notify", "after": "0s", "actions": ["notify_owner"]},
                {"name": "sup", "after": "60s", "actions": ["notify_supervisor"]},
                {"name": "mgr", "after": "70s", "actions": ["notify_manager"]},
                {"name": "dir", "after": "80s", "actions": ["notify_director"]},
            ]
            await tickets.open(breached, fast_policy(resolution="2s", levels=levels))
            await tickets.open(calm, fast_policy(resolution="300s", levels=levels))
            await wait_for(tickets, breached.id, lambda s: s.breached, timeout=20)
            query = f"TicketTier='tier2' AND TicketSlaBreached=true AND TaskQueue='{task_queue}'"
            for _ in range(50):  # visibility is eventually consistent
                found = await cli_list(temporal_env, query)
                if found:
                    break
                await asyncio.sleep(0.2)
            assert found == [workflow_id_for(breached.id)]


class TestSummaries:
    async def test_static_summary_and_current_details(
        self, client: Client, task_queue: str
    ) -> None:
        """The list shows "[priority] id — subject"; the details show state, owner and SLA."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Cannot pay invoice", priority="urgent")
            opened = await tickets.open(t, fast_policy(resolution="120s"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier2")
            handle = client.get_workflow_handle(opened.workflow_id)
            desc = await handle.describe()
            assert await desc.static_summary() == f"[urgent] {t.id} — Cannot pay invoice"
            details = await handle.query("__temporal_workflow_metadata")
            text = details.current_details
            assert "**State:** tier2" in text
            assert "billing" in text
            assert "resolution: due" in text
