"""An action or customer event is applied once, even when its caller sends it again after the
ticket handed over to a new run (Temporal deduplicates an update id within one run only)."""

from __future__ import annotations

import httpx
from temporalio.client import Client

from tests.interfaces.http_support import AUTH, SERVICE_AUTH, listing_the_service, serving
from tests.waiting import eventually
from tierflow.client import TicketClient, workflow_id_for
from tierflow.workflows.messages import AddNote, TicketStatus

from .support import fast_policy, running_worker, ticket


async def notes(tickets: TicketClient, ticket_id: str) -> list[str]:
    """Every note on the ticket's timeline, all runs read back."""
    found: dict[int, str] = {}
    before: int | None = None
    while page := await tickets.timeline(ticket_id, before=before):
        found |= {e.seq: e.summary for e in page if e.kind == "note"}
        before = page[0].seq
        if before <= 1:
            break
    return [found[seq] for seq in sorted(found)]


class TestAppliedOnce:
    async def test_an_update_sent_again_to_the_next_run_is_answered_not_applied(
        self, client: Client, task_queue: str
    ) -> None:
        """A note applied by one run, then sent again with the same update id after the
        ticket continued as new: the next run answers it and the note is there once."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Sent twice across a hand-over")
            opened = await tickets.open(t, fast_policy(resolution="1h"), history_limit=20)
            handle = client.get_workflow_handle(workflow_id_for(t.id))
            once = AddNote(actor="Jo Park", text="the one note")
            await handle.execute_update("note", once, id="note:resent", result_type=TicketStatus)
            n = 0
            while (await handle.describe()).run_id == opened.run_id:
                n += 1
                await tickets.note(t.id, {"actor": "Jo Park", "text": f"filler {n}"})
            await handle.execute_update("note", once, id="note:resent", result_type=TicketStatus)
            found = await notes(tickets, t.id)
        assert found.count("the one note") == 1, found

    async def test_the_api_applies_a_request_once_per_idempotency_key(
        self, client: Client, task_queue: str
    ) -> None:
        """A note and a customer reply each posted twice with the same Idempotency-Key (a host
        resending after a lost answer) are on the timeline once; another key is another
        request; a malformed key is refused with 422."""
        async with running_worker(client, task_queue) as tickets, serving(tickets) as url:
            t = ticket("Resent by the host")
            await tickets.open(t, listing_the_service(fast_policy(resolution="1h")))
            async with httpx.AsyncClient(base_url=url) as http:
                note = f"/tickets/{t.id}/actions/note"
                for key in ("k-1", "k-1", "k-2"):
                    r = await http.post(
                        note, json={"text": "hello"}, headers={**AUTH, "Idempotency-Key": key}
                    )
                    assert r.status_code == 200, r.text
                for _ in range(2):
                    r = await http.post(
                        f"/tickets/{t.id}/events",
                        json={"type": "reply", "message": "any news?"},
                        headers={**SERVICE_AUTH, "Idempotency-Key": "reply-1"},
                    )
                    assert r.status_code == 202, r.text
                bad = await http.post(
                    note, json={"text": "x"}, headers={**AUTH, "Idempotency-Key": "a b"}
                )
                assert bad.status_code == 422

            async def replied_once() -> bool:
                entries = await tickets.timeline(t.id)
                return sum(1 for e in entries if e.summary == "the customer replied") == 1

            await eventually(replied_once)
            assert await notes(tickets, t.id) == ["hello", "hello"]
