"""The ticket lifecycle end to end, against the real Temporal dev server."""

from __future__ import annotations

from temporalio.client import Client

from tierflow.workflows.messages import (
    AddNote,
    Assign,
    CustomerFeedback,
    CustomerReply,
    Resolve,
    Respond,
    TicketStatus,
)

from .support import fast_policy, running_worker, ticket, wait_for, wait_for_timeline


class TestLifecycle:
    async def test_open_triage_tier1_resolve_survey_close(
        self, client: Client, task_queue: str
    ) -> None:
        """A plain ticket is triaged to tier 1, resolved, surveyed, and closed on good feedback."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Cannot log in")
            opened = await tickets.open(t, fast_policy(resolution="60s", follow_up="1s"))
            assert opened.created
            status = await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            assert status.team == "frontline"
            await tickets.assign(t.id, Assign(actor="Jo Park", assignee="Alex Kim"))
            await tickets.respond(t.id, Respond(actor="Jo Park", message="looking"))
            status = await tickets.resolve(t.id, Resolve(actor="Jo Park", resolution="reset"))
            assert status.state == "resolved"
            assert all(v.met for v in status.sla)
            await wait_for_timeline(tickets, t.id, "satisfaction survey sent")
            await tickets.customer_feedback(t.id, CustomerFeedback(score=5))
            result = await client.get_workflow_handle(
                opened.workflow_id, result_type=TicketStatus
            ).result()
            assert result.state == "closed"
            assert result.feedback_score == 5
            kinds = [e.kind for e in await tickets.timeline(t.id)]
            assert kinds[:3] == ["opened", "triage", "transition"]

    async def test_bad_feedback_reopens_to_the_tier_it_left(
        self, client: Client, task_queue: str
    ) -> None:
        """Feedback below the policy's threshold during the follow-up reopens the ticket."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Printer on fire", customer={"status": "vip"})
            await tickets.open(t, fast_policy(resolution="60s", follow_up="30s"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier2")
            await tickets.resolve(t.id, Resolve(actor="Robin Ortiz", resolution="replaced"))
            await tickets.customer_feedback(
                t.id, CustomerFeedback(score=1, comment="still on fire")
            )
            status = await wait_for(tickets, t.id, lambda s: s.state == "tier2")
            assert status.resolved_at is None
            assert any(v.target == "resolution" and not v.met for v in status.sla)

    async def test_customer_reply_after_resolution_reopens(
        self, client: Client, task_queue: str
    ) -> None:
        """A customer reply while the ticket is resolved reopens it."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Wrong address on order")
            await tickets.open(t, fast_policy(resolution="60s", follow_up="30s"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            await tickets.resolve(t.id, Resolve(actor="Jo Park", resolution="fixed"))
            await tickets.customer_reply(t.id, CustomerReply(message="it is not fixed"))
            status = await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            assert status.resolved_at is None
            summaries = [e.summary for e in await tickets.timeline(t.id)]
            assert "reopened: the customer replied after resolution" in summaries

    async def test_opening_twice_returns_the_running_ticket(
        self, client: Client, task_queue: str
    ) -> None:
        """Opening the same host ticket twice is harmless: one workflow, one history."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Duplicate webhook from the host")
            first = await tickets.open(t, fast_policy(resolution="60s"))
            await tickets.note(t.id, AddNote(actor="Jo Park", text="first note"))
            second = await tickets.open(t, fast_policy(resolution="60s"))
            assert first.created
            assert not second.created
            assert second.run_id == first.run_id
            timeline = await tickets.timeline(t.id)
            assert [e.kind for e in timeline].count("opened") == 1
            assert any(e.summary == "first note" for e in timeline)
