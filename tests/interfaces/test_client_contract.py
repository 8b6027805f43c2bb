"""The client's contract with its callers: truthful opens, closed ids not reused, the
timeline read across continue-as-new runs, and only TicketError subclasses for any input."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client, WorkflowExecutionStatus

from tests.interfaces.http_support import AUTH, exists, quiet_history_length, serving
from tests.scale import scaled
from tests.workflows.support import fast_policy, ticket, wait_for
from tierflow.client import (
    ACTIONS,
    InvalidInput,
    TicketClient,
    TicketClosed,
    TicketError,
    TicketSummary,
    workflow_id_for,
)
from tierflow.report import build_report, escalations_of, fetch_histories
from tierflow.statemachine import EscalationReason
from tierflow.workflows.messages import AddNote, Close, Escalate, Resolve, TimelineEntry

T = TypeVar("T")


async def close_for_good(client: Client, tickets: TicketClient, ticket_id: str) -> None:
    await tickets.resolve(ticket_id, Resolve(actor="Jo Park", resolution="done"))
    await tickets.close(ticket_id, Close(actor="Jo Park"))
    await client.get_workflow_handle(workflow_id_for(ticket_id)).result()


class TestOpen:
    async def test_concurrent_opens_create_exactly_once(self, tickets: TicketClient) -> None:
        """Of many concurrent opens of one id, exactly one says it created the ticket."""
        t = ticket("Opened from everywhere at once")
        policy = fast_policy(resolution="1h")
        opened = await asyncio.gather(*(tickets.open(t, policy) for _ in range(6)))
        assert sum(o.created for o in opened) == 1
        assert len({o.run_id for o in opened}) == 1

    async def test_concurrent_api_opens_answer_one_201(self, tickets: TicketClient) -> None:
        """Three hosts posting the same ticket at once: one 201, two 200, one run."""
        body = ticket("Posted three times").model_dump(mode="json")
        async with serving(tickets) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as c:
            answers = await asyncio.gather(*(c.post("/tickets", json=body) for _ in range(3)))
        assert sorted(a.status_code for a in answers) == [200, 200, 201]
        assert len({a.json()["run_id"] for a in answers}) == 1

    async def test_a_closed_ticket_id_is_not_reused(
        self, tickets: TicketClient, client: Client
    ) -> None:
        """Opening a closed ticket's id is refused, says when it closed, and starts nothing."""
        t = ticket("Done and dusted")
        first = await tickets.open(t, fast_policy(resolution="1h"))
        await close_for_good(client, tickets, t.id)
        with pytest.raises(TicketClosed, match=r"closed at \d{4}-.*open .* under a new id"):
            await tickets.open(t)
        async with serving(tickets) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as c:
            response = await c.post("/tickets", json=t.model_dump(mode="json"))
        assert response.status_code == 409
        assert "not reused" in response.json()["detail"]
        desc = await client.get_workflow_handle(workflow_id_for(t.id)).describe()
        assert desc.run_id == first.run_id
        assert desc.status == WorkflowExecutionStatus.COMPLETED

    async def test_a_ticket_that_continued_as_new_is_still_open(
        self, tickets: TicketClient, client: Client
    ) -> None:
        """A running ticket on its second run is "already open", not closed."""
        t = ticket("Long-lived")
        first = await tickets.open(t, fast_policy(resolution="1h"), history_limit=20)
        handle = client.get_workflow_handle(workflow_id_for(t.id))
        n = 0
        while (await handle.describe()).run_id == first.run_id:
            n += 1
            await tickets.note(t.id, AddNote(actor="Jo Park", text=f"note {n}"))
        again = await tickets.open(t)
        assert not again.created
        assert again.run_id == (await handle.describe()).run_id != first.run_id


class TestTimelineAcrossRuns:
    async def test_pages_and_the_report_reach_into_earlier_runs(
        self, tickets: TicketClient, client: Client
    ) -> None:
        """After several continue-as-new runs, every entry is still readable, page by page,
        and the report still counts an escalation that only the first run holds."""
        t = ticket("Chatty ticket")
        await tickets.open(t, fast_policy(resolution="1h"), history_limit=40)
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        await tickets.escalate(
            t.id, Escalate(actor="Jo Park", reasons=[EscalationReason.LIMITED_KNOWLEDGE])
        )
        for n in range(60):
            await tickets.note(t.id, AddNote(actor="Jo Park", text=f"note {n}"))
        handle = client.get_workflow_handle(workflow_id_for(t.id))
        this_run = await handle.query("timeline", result_type=list[TimelineEntry])
        assert "escalation" not in {e.kind for e in this_run}, "the test needs earlier runs"

        full = await tickets.timeline(t.id)
        assert [e.seq for e in full] == list(range(1, len(full) + 1))
        assert full[0].kind == "opened"
        assert await tickets.timeline(t.id, limit=10) == full[-10:]
        assert await tickets.timeline(t.id, before=full[-10].seq, limit=10) == full[-20:-10]
        assert await tickets.timeline(t.id, before=5) == full[:4]
        assert await tickets.timeline(t.id, before=1) == []

        async with serving(tickets) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as c:
            pages: list[dict[str, Any]] = []
            before: int | None = None
            while True:
                params = {"limit": 25, **({"before": before} if before else {})}
                page = (await c.get(f"/tickets/{t.id}/timeline", params=params)).json()
                if not page:
                    break
                pages = page + pages
                before = page[0]["seq"]
        assert [p["seq"] for p in pages] == [e.seq for e in full]

        summary = TicketSummary(
            ticket_id=t.id,
            state=None,
            tier=None,
            team=None,
            priority=None,
            breached=False,
            escalations=1,
            customer_status=None,
            sla_due=None,
            status="running",
        )
        (history,) = await fetch_histories(tickets, [summary])
        assert [e.to_tier for e in escalations_of(history)] == ["tier2"]
        assert build_report([history]).escalations == 1


# --- generated malformed calls -------------------------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=20),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.just("x" * 20_001),
)


def calls(live: str) -> st.SearchStrategy[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """A client method with arguments that are wrong in at least one place."""
    ticket_ids = st.one_of(st.just(live), st.just("T-never-opened"), JUNK)
    ticket_fields = st.sampled_from(
        ["id", "subject", "description", "channel", "customer", "priority", "created_at", "tags"]
    )
    bad_ticket = st.builds(
        lambda field, value: {**ticket().model_dump(mode="json"), field: value},
        ticket_fields,
        JUNK,
    )
    action_payload = st.one_of(
        st.dictionaries(
            st.sampled_from(["actor", "text", "resolution", "priority", "reasons", "x"]), JUNK
        ),
        st.builds(lambda text: {"actor": "Jo Park", "text": text, "resolution": text}, JUNK),
    )
    return st.one_of(
        st.tuples(st.just("open"), st.tuples(st.one_of(bad_ticket, JUNK)), st.just({})),
        st.tuples(
            st.just("act"),
            st.tuples(ticket_ids, st.sampled_from([*ACTIONS, "teleport"]), action_payload),
            st.just({}),
        ),
        st.tuples(st.just("customer_reply"), st.tuples(ticket_ids, JUNK), st.just({})),
        st.tuples(
            st.just("customer_feedback"),
            st.tuples(ticket_ids, st.fixed_dictionaries({"score": JUNK})),
            st.just({}),
        ),
        st.tuples(st.just("status"), st.tuples(ticket_ids), st.just({})),
        st.tuples(
            st.just("timeline"),
            st.tuples(ticket_ids),
            st.fixed_dictionaries({"before": JUNK, "limit": JUNK}),
        ),
        st.tuples(
            st.just("list"),
            st.just(()),
            st.fixed_dictionaries({"team": JUNK, "priority": JUNK, "limit": JUNK}),
        ),
    )


async def test_malformed_calls_raise_only_ticket_errors_and_write_nothing(
    tickets: TicketClient, client: Client
) -> None:
    """Whatever a caller passes, only TicketError subclasses escape; a refused call wrote
    nothing: no workflow for a refused open, no event on a live ticket's history."""
    t = ticket("Target of bad calls")
    await tickets.open(t, fast_policy(resolution="1h"))
    await wait_for(tickets, t.id, lambda s: s.state == "tier1")
    loop = asyncio.get_running_loop()
    outcomes: dict[str, int] = {}

    def on_loop(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    @given(call=calls(t.id))
    @settings(
        max_examples=scaled(150, 2000),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(call: tuple[str, tuple[Any, ...], dict[str, Any]]) -> None:
        name, args, kwargs = call
        before = on_loop(quiet_history_length(client, t.id))
        error: TicketError | None = None
        try:
            on_loop(getattr(tickets, name)(*args, **kwargs))
        except TicketError as err:
            error = err
        kind = type(error).__name__ if error is not None else "ok"
        outcomes[kind] = outcomes.get(kind, 0) + 1
        if error is None:
            return
        assert len(str(error)) <= 400
        if name != "open":
            assert on_loop(quiet_history_length(client, t.id)) == before
        elif (
            isinstance(args[0], dict)
            and isinstance(args[0].get("id"), str)
            and isinstance(error, InvalidInput)
        ):
            assert not on_loop(exists(client, args[0]["id"]))

    await asyncio.to_thread(check)
    print(f"malformed client calls by outcome: {dict(sorted(outcomes.items()))}")
    assert outcomes.get("InvalidInput", 0) > 50
