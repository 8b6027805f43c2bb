"""Who may read a ticket through the HTTP API: the caller's identity against the ticket's own
policy snapshot.

Actions need no help here: the workflow's update validators check every one against the
ticket's policy, role and act scope included (``statemachine/permissions.py``), whoever sends
it. Reads are queries, which have no validator, and a namespace caller may read anything (it
is an operator: docs/hosting-and-embedding.md, Trust model); so the HTTP API, the door for
everyone else, checks each read here before it answers:

- the ticket's policy is the one it carries (it keeps the policy it opened with for its whole
  life, across continue-as-new): read once from its current run's start input, then kept for
  :data:`POLICY_TTL` per ticket in a bounded table, so most reads cost one query, as before;
- a service the policy lists reads every ticket; a person of the policy reads within their
  role's read scope, and their own tickets (assigned to them, or followed); anyone else is
  refused (403) before any worker is asked anything;
- a listing is narrowed in the visibility query itself (:func:`listing_area`) to the tiers and
  teams the caller reads under the policy the API opens tickets with.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Final

from tierflow.statemachine import (
    Area,
    Forbidden,
    Policy,
    TicketPlace,
    may_open,
    may_read,
    readable_area,
)
from tierflow.statemachine.permissions import roles_of
from tierflow.statemachine.text import excerpt
from tierflow.workflows.messages import TicketStatus
from tierflow.workflows.state import TicketRun

from .client import TicketClient, workflow_id_for
from .errors import ActionForbidden, UnexpectedError, not_ready, translated
from .identity import Principal

__all__ = ["POLICY_TTL", "TicketReads", "listing_area", "opening_allowed"]

# How long a ticket's policy is kept once read, and for how many tickets at most. A ticket's
# policy never changes; the time bound only covers an id reused after the namespace forgot a
# closed ticket (retention: a day at least).
POLICY_TTL: Final = 600.0
POLICIES_KEPT: Final = 10_000
_UNDECODABLE: Final = "its start (with its policy) cannot be decoded here: is its key configured?"


def _forbidden(err: Forbidden) -> ActionForbidden:
    return ActionForbidden(err.message)


def opening_allowed(policy: Policy, caller: Principal) -> None:
    """ActionForbidden unless ``caller`` may open a ticket under ``policy``."""
    try:
        may_open(policy, caller.name, service=caller.service)
    except Forbidden as err:
        raise _forbidden(err) from None


def listing_area(policy: Policy, caller: Principal) -> Area:
    """Where ``caller`` reads under ``policy``, for a listing; ActionForbidden for a caller the
    policy names nowhere."""
    try:
        return readable_area(policy, caller.name, service=caller.service)
    except Forbidden as err:
        raise _forbidden(err) from None


class TicketReads:
    """The read check of the HTTP API, with each ticket's policy kept for a while."""

    def __init__(
        self, tickets: TicketClient, *, ttl: float = POLICY_TTL, kept: int = POLICIES_KEPT
    ) -> None:
        self.tickets = tickets
        self.ttl = ttl
        self.kept = kept
        self._policies: OrderedDict[str, tuple[float, Policy]] = OrderedDict()

    async def policy(self, ticket_id: str) -> Policy:
        """The policy the ticket carries (TicketNotFound for an unknown ticket)."""
        now = time.monotonic()
        found = self._policies.get(ticket_id)
        if found is not None and found[0] > now:
            self._policies.move_to_end(ticket_id)
            return found[1]
        policy = await self._fetch(ticket_id)
        self._policies[ticket_id] = (now + self.ttl, policy)
        self._policies.move_to_end(ticket_id)
        while len(self._policies) > self.kept:
            self._policies.popitem(last=False)
        return policy

    async def _fetch(self, ticket_id: str) -> Policy:
        client = self.tickets.client
        handle = client.get_workflow_handle(workflow_id_for(ticket_id))
        with translated(ticket_id, "status"):
            async for event in handle.fetch_history_events(page_size=1):
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                try:
                    (run,) = await client.data_converter.decode(payloads, [TicketRun])
                except Exception:  # a key this API lacks, a payload no key opens
                    raise not_ready(ticket_id, _UNDECODABLE) from None
                if not isinstance(run, TicketRun):
                    break
                state = run.carried or run.open
                assert state is not None  # a TicketRun holds one of them
                return state.policy
        raise UnexpectedError(f"ticket {ticket_id!r} has no start to read its policy from")

    async def check(self, ticket_id: str, caller: Principal) -> TicketStatus | None:
        """Raise ActionForbidden unless ``caller`` may read the ticket; the ticket's status
        when the check had to read it (a person's read depends on where the ticket is now),
        None when it did not (a listed service reads every ticket)."""
        policy = await self.policy(ticket_id)
        listed = caller.service and policy.permissions.service(caller.name) is not None
        if listed:
            return None
        if caller.service or not roles_of(policy, caller.name):
            try:  # refused before any worker is asked anything
                may_read(policy, caller.name, TicketPlace(None, None), service=caller.service)
            except Forbidden as err:
                raise _forbidden(err) from None
        status = await self.tickets.status(ticket_id)
        place = TicketPlace(status.tier, status.team, status.assignee, tuple(status.followers))
        try:
            may_read(policy, caller.name, place, service=caller.service)
        except Forbidden as err:
            raise _forbidden(err) from None
        return status

    async def relaying(self, ticket_id: str, caller: Principal) -> None:
        """Raise ActionForbidden unless ``caller`` is a service the ticket's policy lists: only
        a host system the policy knows speaks for the customer."""
        policy = await self.policy(ticket_id)
        if not (caller.service and policy.permissions.service(caller.name) is not None):
            raise ActionForbidden(
                "customer events come from a host system the ticket's policy lists under "
                f"permissions.services; {excerpt(caller.name, 60)!r} is not one"
            )
