"""Turning ticket events into side effects: staff notifications, customer updates and the
host-system sync, batched into one activity per workflow task.

Who is told is decided in ``statemachine.audience``; this module writes the messages and gives
each a stable idempotency key (workflow id + the ticket's effect sequence number + position),
the same on every retry and replay, so receivers can drop duplicates.
"""

from __future__ import annotations

from datetime import datetime

from tierflow.contracts import (
    CustomerUpdate,
    CustomerUpdateKind,
    EffectBatch,
    Notification,
    NotifyChannel,
    TicketSync,
)
from tierflow.statemachine import Channel, EscalationLevel, Recipient, audience
from tierflow.statemachine.policy import NotifyChannel as PersonChannel
from tierflow.statemachine.sla import SlaTarget
from tierflow.statemachine.text import excerpt
from tierflow.workflows.state import TicketState

# Agents' text quoted in a staff notification (a resolution, say) is cut to this length: a
# batch may tell dozens of people on several channels, and must stay a small activity input.
QUOTED_TEXT_MAX = 2_000
MAX_SYNCS_PER_BATCH = 20

# The channels Tierflow reaches a customer on directly, with the customer's field for each,
# in the order tried after the ticket's own channel. Other customers (phone, social, web, or
# no address at all) are reached through the host system's webhook.
_DIRECT: dict[Channel, tuple[NotifyChannel, str]] = {
    Channel.EMAIL: (NotifyChannel.email, "email"),
    Channel.SMS: (NotifyChannel.sms, "phone"),
    Channel.CHAT: (NotifyChannel.chat, "chat"),
}


def _customer_address(s: TicketState) -> tuple[NotifyChannel, str]:
    """Where to tell the customer: their own channel first, then any address they gave."""
    customer = s.ticket.customer
    order = [s.ticket.channel, *(c for c in _DIRECT if c != s.ticket.channel)]
    for channel in order:
        if channel in _DIRECT:
            notify, field = _DIRECT[channel]
            address: str | None = getattr(customer, field)
            if address:
                return notify, address
    return NotifyChannel.webhook, ""


def _promised(s: TicketState) -> datetime | None:
    """The next answer we owe the customer: the earliest running SLA deadline (the first
    response before the resolution), none while the clock waits on them."""
    dues = [
        due
        for target in (SlaTarget.FIRST_RESPONSE, SlaTarget.NEXT_RESPONSE, SlaTarget.RESOLUTION)
        if (due := s.clock.due(target, s.policy.calendar)) is not None
    ]
    return min(dues) if dues else None


class EffectPlanner:
    """Collects the effects of one workflow task; :meth:`take` hands them over as a batch."""

    def __init__(self, state: TicketState, workflow_id: str) -> None:
        self.state = state
        self.workflow_id = workflow_id
        self._notifications: list[Notification] = []
        self._customer: list[CustomerUpdate] = []
        self._syncs: list[TicketSync] = []
        self._events: list[str] = []
        self._batch_id: str | None = None

    # --- batching -------------------------------------------------------------------------

    def _key(self, suffix: str) -> str:
        if self._batch_id is None:
            self._batch_id = self.state.next_effect_id()
        count = len(self._notifications) + len(self._customer) + len(self._syncs)
        return f"{self.workflow_id}/{self._batch_id}/{count}-{suffix}"

    def pending(self) -> int:
        """How many items are planned and not yet taken."""
        return len(self._notifications) + len(self._customer) + len(self._syncs)

    def take(self) -> list[EffectBatch]:
        """The effects planned since the last call, as at most one batch."""
        if self._batch_id is None:
            return []
        batch = EffectBatch(
            batch_id=self._batch_id,
            ticket_id=self.state.ticket.id,
            workflow_id=self.workflow_id,
            summary=_summary(self._events, len(self._notifications), len(self._customer)),
            notifications=self._notifications,
            customer_updates=self._customer,
            syncs=self._syncs,
        )
        self._notifications, self._customer, self._syncs, self._events = [], [], [], []
        self._batch_id = None
        return [batch]

    # --- building blocks ------------------------------------------------------------------

    def _tell(self, people: list[Recipient], event: str, subject: str, body: str) -> None:
        s = self.state
        for person in audience.unique(people):
            for channel in person.channels:
                address = person.address(channel) or ""
                self._notifications.append(
                    Notification(
                        idempotency_key=self._key(f"{event}-{channel}"),
                        ticket_id=s.ticket.id,
                        workflow_id=self.workflow_id,
                        event=event,
                        channel=NotifyChannel(channel.value),
                        recipient=person.name,
                        address=address,
                        subject=f"[{s.priority}] {s.ticket.id}: {subject}",
                        body=f"{excerpt(body, QUOTED_TEXT_MAX)}\n\n{self._context()}",
                        metadata={"tier": s.tier or "", "team": s.team or ""},
                    )
                )
        self._note(event)

    def _context(self) -> str:
        s = self.state
        t = s.ticket
        return (
            f"Ticket {t.id} — {t.subject}\nCustomer: {t.customer.name} ({t.customer.status}), "
            f"via {t.channel}\nNow: {s.machine.state} in {s.tier or '—'}/{s.team or '—'}, "
            f"owner {s.assignee or 'unassigned'}"
        )

    def _note(self, event: str) -> None:
        if event not in self._events:
            self._events.append(event)

    def sync(self, now: datetime, event: str) -> None:
        """Push the ticket's state to the host system (every state change).

        One batch carries at most ``MAX_SYNCS_PER_BATCH`` syncs: beyond that (a flood of
        customer replies in one moment) the last one is replaced, so the host still gets the
        ticket's latest state and the batch stays small.
        """
        s = self.state
        if len(self._syncs) >= MAX_SYNCS_PER_BATCH:
            self._syncs.pop()
        self._syncs.append(
            TicketSync(
                idempotency_key=self._key(f"sync-{event}"),
                ticket_id=s.ticket.id,
                workflow_id=self.workflow_id,
                event=event,
                state=s.machine.state,
                tier=s.tier,
                team=s.team,
                priority=str(s.priority),
                at=now,
                data={
                    "assignee": s.assignee,
                    "escalations": s.escalation_count,
                    "breached": s.breached,
                },
            )
        )
        self._note(f"sync:{event}")

    def customer(
        self, now: datetime, kind: CustomerUpdateKind, *, request: str | None = None
    ) -> None:
        """Tell the customer, in plain words, with a realistic estimate from the SLA.

        The customer is reached on the channel the ticket came in on when we have their
        address there, else on another address they gave (email, then SMS, then chat), else
        through the host system's webhook (which knows how it talks to them).
        """
        s = self.state
        if s.policy.notify.customer_updates:
            channel, address = _customer_address(s)
            team = s.policy.team(s.team).label if s.team else None
            self._customer.append(
                CustomerUpdate(
                    idempotency_key=self._key(f"customer-{kind}"),
                    ticket_id=s.ticket.id,
                    workflow_id=self.workflow_id,
                    kind=kind,
                    channel=channel,
                    address=address,
                    customer_name=s.ticket.customer.name,
                    subject=s.ticket.subject,
                    team_label=team,
                    estimate=_promised(s),
                    survey_url=s.policy.follow_up.survey_link(s.ticket.id)
                    if kind == "survey"
                    else None,
                    request=excerpt(request, QUOTED_TEXT_MAX) if request else None,
                )
            )
            self._note(f"customer:{kind}")
        self.sync(now, kind)

    # --- the events ---------------------------------------------------------------------------

    def landed(
        self,
        now: datetime,
        *,
        first: bool,
        also: list[str] | None = None,
        tell_customer: bool = True,
    ) -> None:
        """The ticket landed in a tier or team: its queue hears; the customer is told (unless
        the event that moved it tells them already)."""
        s = self.state
        assert s.tier is not None
        people = audience.team_queue(s.policy, s.tier, s.team)
        people += audience.named(s.policy, [*(also or []), *s.followers])
        where = f"{s.tier}/{s.team}" if s.team else s.tier
        self._tell(people, "landed", f"new ticket for {where}", f"A ticket landed in {where}.")
        if tell_customer:
            self.customer(now, "received" if first else "transferred")
        else:
            self.sync(now, "landed")

    def assigned(self, now: datetime) -> None:
        s = self.state
        people = audience.named(s.policy, [s.assignee] if s.assignee else [])
        self._tell(people, "assigned", "assigned to you", f"{s.assignee}, this ticket is yours.")
        self.sync(now, "assigned")

    def approval_requested(self, now: datetime, tier: str) -> None:
        s = self.state
        assert s.tier is not None
        pending = s.pending
        who = pending.actor if pending else "an agent"
        if pending is not None and pending.via is not None:
            who = f"{who} (via {pending.via})"
        why = ", ".join(pending.reasons) if pending else ""
        body = f"{who} asks to escalate this ticket to {tier} ({why})."
        if pending is not None and pending.note:
            # The approver decides on what the requester wrote (quoted, bounded by _tell).
            body += f"\n\nTheir note:\n{pending.note}"
        self._tell(
            audience.approvers(s.policy, s.tier, s.team, pending.actor if pending else None),
            "approval_requested",
            f"approve escalation to {tier}?",
            body,
        )
        self.sync(now, "approval_requested")

    def request_decided(self, now: datetime, *, approved: bool, requester: str | None) -> None:
        verdict = "approved" if approved else "rejected"
        people = audience.named(self.state.policy, [requester] if requester else [])
        self._tell(
            people, f"escalation_{verdict}", f"escalation {verdict}", f"Escalation {verdict}."
        )
        self.sync(now, f"escalation_{verdict}")

    def followers(self, now: datetime, event: str, subject: str, text: str) -> None:
        """The agents who escalated are kept informed until the end."""
        s = self.state
        self._tell(audience.named(s.policy, s.followers), event, subject, text)

    def breach_warning(self, now: datetime, target: SlaTarget, due: datetime) -> None:
        """A target is about to breach: the roles the policy names and the followers hear."""
        s = self.state
        assert s.tier is not None
        self._alert(
            now,
            audience.breach_warning(s.policy, s.tier, s.team, s.assignee, s.followers),
            "breach_warning",
            f"{target} SLA due {due:%H:%M:%S} UTC",
            f"The {target} target of this ticket is due at {due:%Y-%m-%d %H:%M:%S} UTC.",
        )

    def breached(self, now: datetime, target: SlaTarget) -> None:
        """A target breached and no ladder level fires at this moment: tell the owner."""
        s = self.state
        assert s.tier is not None
        self._alert(
            now,
            audience.owner_and_followers(s.policy, s.tier, s.team, s.assignee, s.followers),
            "breach",
            f"{target} SLA breached",
            f"The {target} target of this ticket is breached.",
        )

    def _alert(
        self, now: datetime, people: list[Recipient], event: str, subject: str, body: str
    ) -> None:
        self._tell(people, event, subject, body)
        self.sync(now, event)

    def level_reached(self, now: datetime, level: EscalationLevel) -> None:
        s = self.state
        assert s.tier is not None
        people = audience.escalation_level(s.policy, level, s.tier, s.team, s.assignee, s.followers)
        self._tell(
            people,
            "breach",
            f"SLA breached — escalation level {level.name}",
            f"The SLA of this ticket is breached; escalation level {level.name} "
            f"({', '.join(str(a) for a in level.actions)}).",
        )
        self.sync(now, "breach")

    def delivery_trouble(self, now: datetime, failing: set[str], text: str) -> None:
        """Messages of this ticket keep failing on ``failing`` channels: tell its owner once,
        on a channel of theirs that is not failing (none if they have no other)."""
        s = self.state
        if s.tier is None:
            return
        people: list[Recipient] = []
        for person in audience.owner(s.policy, s.tier, s.team, s.assignee):
            others = [
                c
                for c in [*person.channels, *PersonChannel]
                if c.value not in failing and c.value != "webhook" and person.address(c)
            ]
            if others:
                people.append(person.model_copy(update={"channels": others[:1]}))
        self._tell(people, "delivery_failing", "deliveries failing", text)


def _summary(events: list[str], staff: int, customers: int) -> str:
    """The activity's summary in the UI, e.g. ``breach: 3 staff, 1 customer, sync``."""
    names = [e for e in events if not e.startswith(("sync:", "customer:"))]
    parts = [", ".join(names) or "update"]
    if staff:
        parts.append(f"{staff} staff")
    if customers:
        parts.append(f"{customers} customer")
    if any(e.startswith("sync:") for e in events):
        parts.append("sync")
    return "; ".join(parts)[:200]
