"""The ticket lifecycle end to end, against the real Temporal dev server."""

from __future__ import annotations

from temporalio.client import Client

from workflows.messages import CustomerFeedback, Resolve

from .support import fast_policy, running_worker, ticket, wait_for


class TestLifecycle:
    async def test_open_triage_tier1_resolve_closed(self, client: Client, task_queue: str) -> None:
        """A plain ticket is triaged to tier 1, resolved, surveyed and closed on good feedback."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Cannot log in")
            opened = await tickets.open(t, fast_policy(resolution="60s"))
            assert opened.created
            status = await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            assert status.team == "frontline"
            status = await tickets.resolve(t.id, Resolve(actor="alex", resolution="reset"))
            assert status.state == "resolved"
            await wait_for(
                tickets, t.id, lambda s: any("survey" in e.summary for e in [])
                or s.state == "resolved",
            )
            await tickets.customer_feedback(t.id, CustomerFeedback(score=5))
            await wait_for(tickets, t.id, lambda s: s.state == "closed")
            handle = client.get_workflow_handle(opened.workflow_id)
            result = await handle.result()
            assert result["state"] == "closed" if isinstance(result, dict) else result.state == "closed"
            kinds = [e.kind for e in await tickets.timeline(t.id)]
            assert kinds[:3] == ["opened", "triage", "transition"]
