"""A ticket refuses events as busy only while it hands over to a new run, never merely
because its run is full: a refusal writes nothing and wakes nothing, so a ticket that refused
before its main loop noticed the full run would refuse its customer until a timer fired."""

from __future__ import annotations

from functools import partial

from temporalio.client import Client

from tests.waiting import resent_while_busy
from tierflow.client import workflow_id_for
from tierflow.workflows.messages import AddNote, CustomerReply

from .support import fast_policy, running_worker, ticket

# Run lengths to try: which ones put an update's own events past the limit (the shape that
# froze a ticket) depends on the events before it, so a span of them covers that shape.
LIMITS = range(20, 32)


class TestHandingOver:
    async def test_a_run_filled_by_an_update_takes_the_next_customer_event(
        self, client: Client, task_queue: str
    ) -> None:
        """Notes and customer replies, one at a time, on tickets whose runs fill up after a
        handful of events and with no timer due for an hour: each event is taken within a
        few seconds of being sent, and every ticket hands over to a new run."""
        async with running_worker(client, task_queue) as tickets:
            for limit in LIMITS:
                t = ticket(f"Run of {limit} events")
                await tickets.open(t, fast_policy(resolution="1h"), history_limit=limit)
                for n in range(4):
                    note = AddNote(actor="Jo Park", text=f"note {n}")
                    reply = CustomerReply(message=f"reply {n}")
                    await resent_while_busy(partial(tickets.note, t.id, note), within=15)
                    await resent_while_busy(partial(tickets.customer_reply, t.id, reply), within=15)
                query = f"WorkflowId = '{workflow_id_for(t.id)}'"
                runs = [w async for w in client.list_workflows(query)]
                assert len(runs) >= 2, f"limit {limit}: never handed over"
