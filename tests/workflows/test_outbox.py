"""The outbox's policy as plain code (``workflows/outbox/``), without Temporal: the retry
backoff and its cap, the horizon, each recipient's order, and an operator's drop and retry.

Time is passed in (the workflow passes ``workflow.now()``); the activity's answers are built
by hand, as ``dispatch_effects`` would hand them back.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from tests.activities.factories import customer_update, notification, ticket_sync
from tests.workflows.support import ticket
from tierflow.contracts import (
    CustomerUpdate,
    DispatchOutcome,
    EffectBatch,
    Item,
    Notification,
    NotifyChannel,
    TicketSync,
    Undelivered,
)
from tierflow.statemachine import default_policy
from tierflow.workflows.outbox.failing import recipient_kind
from tierflow.workflows.outbox.ledger import (
    MAX_FAILING,
    RETRY_CAP,
    RETRY_FIRST,
    TicketDeliveries,
    retry_backoff,
    retry_delay,
)
from tierflow.workflows.outbox.planner import EffectPlanner
from tierflow.workflows.state import TicketState

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
FIVE = timedelta(minutes=5)
DOWN = "chat webhook answered 503: down"


def fresh_state(horizon: timedelta = DAY) -> TicketState:
    t = ticket("Outbox").model_copy(update={"id": "T-100"})
    return TicketState(
        ticket=t,
        policy=default_policy(),
        opened_by="api",
        opened_at=T0,
        priority=t.priority,
        tier="tier1",
        team="frontline",
        assignee="Jo Park",
        delivery_horizon_seconds=horizon.total_seconds(),
    )


def outbox(horizon: timedelta = DAY) -> TicketDeliveries:
    state = fresh_state(horizon)
    return TicketDeliveries(state, EffectPlanner(state, "ticket-T-100"))


def chat(n: int, address: str = "https://chat.example/hook", **kw: object) -> Item:
    """The ``n``th chat message to one staff channel (``address``)."""
    return notification(
        idempotency_key=f"ticket-T-100/{n}/0-chat",
        channel=NotifyChannel.chat,
        address=address,
        **kw,
    )


def batch(*items: Item, batch_id: str = "1") -> EffectBatch:
    return EffectBatch(
        batch_id=batch_id,
        ticket_id="T-100",
        workflow_id="ticket-T-100",
        summary="test",
        notifications=[i for i in items if isinstance(i, Notification)],
        customer_updates=[i for i in items if isinstance(i, CustomerUpdate)],
        syncs=[i for i in items if isinstance(i, TicketSync)],
    )


def failed(*items: Item, error: str = DOWN, horizon: timedelta = DAY) -> DispatchOutcome:
    """The activity's answer: every item still failing (the first attempted, the rest of a
    recipient waiting behind it are reported as attempted here for simplicity)."""
    return DispatchOutcome(
        undelivered=[Undelivered(item=i, error=error) for i in items],
        horizon_seconds=horizon.total_seconds(),
    )


def delivered() -> DispatchOutcome:
    return DispatchOutcome(horizon_seconds=DAY.total_seconds())


def send(box: TicketDeliveries, items: list[Item], outcome: DispatchOutcome, now: datetime) -> None:
    """A new batch through the outbox: held back, sent, handed back, finished."""
    sending = box.hold_back(batch(*items), now)
    if sending is not None:
        box.handed_back(sending, outcome, now)
        box.finished(sending, now)


def keys(box: TicketDeliveries) -> list[str]:
    return [f.item.idempotency_key for f in box.state.failing]


def finals(box: TicketDeliveries) -> list[dict[str, object]]:
    return [
        {"summary": e.summary, "actor": e.actor, **e.data}
        for e in box.state.timeline
        if e.kind == "delivery_failure" and e.data.get("final") is True
    ]


class TestBackoff:
    def test_the_backoff_doubles_from_two_seconds_up_to_the_cap(self) -> None:
        """2, 4, 8, 16, 32, 64 seconds, then 110 s for as long as the outage lasts."""
        waits = [retry_backoff(n).total_seconds() for n in range(10)]
        assert waits == [2, 4, 8, 16, 32, 64, 110, 110, 110, 110]
        assert retry_backoff(0) == RETRY_FIRST

    @pytest.mark.parametrize("rounds", [-5, 0, 7, 10, 11, 63, 64, 10**6])
    def test_no_round_count_waits_longer_than_the_cap(self, rounds: int) -> None:
        """However many rounds (or a nonsense count), the wait is within [2 s, 110 s]."""
        assert RETRY_FIRST <= retry_backoff(rounds) <= RETRY_CAP

    def test_the_cap_leaves_room_for_the_attempt_within_two_minutes(self) -> None:
        """The cap plus an attempt (each item has 10 s at most) stays under two minutes."""
        assert RETRY_CAP + timedelta(seconds=10) <= timedelta(minutes=2)

    def test_a_horizon_sooner_than_the_backoff_shortens_the_wait(self) -> None:
        """The round that finds an item past its horizon comes at the horizon, not later."""
        now = T0
        assert retry_delay(6, [now + timedelta(seconds=30)], now) == timedelta(seconds=30)
        assert retry_delay(6, [now + timedelta(hours=1)], now) == RETRY_CAP
        assert retry_delay(0, [], now) == RETRY_FIRST

    def test_a_horizon_already_past_waits_a_millisecond(self) -> None:
        """A timer needs a positive wait: an item already past its horizon waits 1 ms."""
        assert retry_delay(3, [T0 - timedelta(hours=1)], T0) == timedelta(milliseconds=1)

    def test_delivery_resumes_within_two_minutes_of_recovery_all_through_the_horizon(
        self,
    ) -> None:
        """Rounds follow each other at most 110 s apart for the whole 24 h horizon, so a
        channel that comes back at any moment is tried again within two minutes."""
        box = outbox()
        now = T0
        send(box, [chat(1)], failed(chat(1)), now)
        rounds = [now]
        while box.state.failing:
            now += box.next_delay(now)
            box.expire(now)
            if not box.state.failing:
                break
            rounds.append(now)
            sending = box.retry_batch()
            box.handed_back(sending, failed(chat(1)), now)
            box.finished(sending, now)
        gaps = [b - a for a, b in itertools.pairwise(rounds)]
        assert max(gaps) == RETRY_CAP
        assert all(g > timedelta(0) for g in gaps)
        # Retried right up to the horizon: the last round is within one cap of it.
        assert T0 + DAY - rounds[-1] <= RETRY_CAP
        assert now == T0 + DAY
        assert len(rounds) > 700

    def test_a_channel_back_at_the_next_round_delivers_and_ends_the_outage(self) -> None:
        """The round after recovery delivers: nothing failing, the timeline says recovered
        after that many rounds, and the next outage starts its backoff from 2 s again."""
        box = outbox()
        send(box, [chat(1)], failed(chat(1)), T0)
        now = T0
        for _ in range(8):
            now += box.next_delay(now)
            sending = box.retry_batch()
            box.handed_back(sending, failed(chat(1)), now)
            box.finished(sending, now)
        assert box.next_delay(now) == RETRY_CAP
        now += RETRY_CAP
        sending = box.retry_batch()
        box.handed_back(sending, delivered(), now)
        box.finished(sending, now)
        assert not box.failing
        assert "deliveries recovered after 9 retry round(s)" in box.state.timeline[-1].summary
        send(box, [chat(2)], failed(chat(2)), now)
        assert box.next_delay(now) == RETRY_FIRST
        assert box.state.delivery_outages == 2


class TestHorizon:
    def test_past_the_horizon_an_item_is_given_up_finally_visibly_and_counted(self) -> None:
        """At its horizon the item leaves the outbox with a final ``delivery_failure`` entry
        naming its key, channel and attempts, and ``deliveries_given_up`` counts it."""
        box = outbox(horizon=FIVE)
        send(box, [chat(1)], failed(chat(1), horizon=FIVE), T0)
        (f,) = box.state.failing
        assert f.give_up_at == T0 + timedelta(minutes=5)
        box.expire(T0 + timedelta(minutes=5) - timedelta(milliseconds=1))
        assert box.failing
        box.expire(T0 + timedelta(minutes=5))
        assert not box.failing
        assert box.state.deliveries_given_up == 1
        (final,) = finals(box)
        assert final["key"] == "ticket-T-100/1/0-chat"
        assert final["channel"] == "chat"
        assert final["attempts"] == 1
        assert "not delivered (still failing after 1 attempt(s))" in str(final["summary"])
        assert final["actor"] == "tierflow"

    def test_each_item_has_its_own_horizon(self) -> None:
        """An item that failed later is kept after an earlier one is given up."""
        box = outbox(horizon=FIVE)
        a, b = chat(1, address="https://a.example"), chat(2, address="https://b.example")
        send(box, [a], failed(a, horizon=FIVE), T0)
        send(box, [b], failed(b, horizon=FIVE), T0 + timedelta(minutes=3))
        box.expire(T0 + timedelta(minutes=5))
        assert keys(box) == ["ticket-T-100/2/0-chat"]
        assert box.next_delay(T0 + timedelta(minutes=5)) <= timedelta(minutes=3)

    def test_the_horizon_is_the_workers_setting_as_the_activity_reports_it(self) -> None:
        """A batch's outcome carries the worker's TIERFLOW_DELIVERY_HORIZON; new items use it."""
        box = outbox()
        outcome = failed(chat(1)).model_copy(update={"horizon_seconds": 600.0})
        send(box, [chat(1)], outcome, T0)
        assert box.state.failing[0].give_up_at == T0 + timedelta(minutes=10)

    def test_beyond_the_cap_the_oldest_is_given_up(self) -> None:
        """More than MAX_FAILING failing items: the oldest go, each a counted final failure."""
        box = outbox()
        items = [chat(n, address=f"https://{n}.example") for n in range(MAX_FAILING + 3)]
        send(box, items, failed(*items), T0)
        assert len(box.state.failing) == MAX_FAILING
        assert keys(box)[0] == "ticket-T-100/3/0-chat"
        assert box.state.deliveries_given_up == 3
        assert all("too many undelivered" in str(f["summary"]) for f in finals(box))

    def test_beyond_the_cap_superseded_syncs_then_staff_messages_go_before_the_customers(
        self,
    ) -> None:
        """Over the cap, the customer's messages are kept longest: first a host sync that a
        newer failing sync supersedes goes, then the oldest staff message, and a message to
        the customer only when nothing else is left."""
        box = outbox()
        customer = customer_update(idempotency_key="ticket-T-100/1/0-customer-received")
        syncs = [ticket_sync(idempotency_key=f"ticket-T-100/{n}/1-sync") for n in range(3)]
        staff = [chat(n, address=f"https://{n}.example") for n in range(MAX_FAILING)]
        items = [customer, *syncs, *staff]
        send(box, items, failed(*items), T0)
        left = keys(box)
        assert len(left) == MAX_FAILING
        assert customer.idempotency_key in left
        assert syncs[-1].idempotency_key in left  # the newest state of the ticket
        assert syncs[0].idempotency_key not in left
        assert syncs[1].idempotency_key not in left
        assert "ticket-T-100/0/0-chat" not in left  # the oldest staff message
        assert any("superseded by a newer sync" in str(f["summary"]) for f in finals(box))


class TestOrdering:
    def test_a_new_item_to_a_failing_recipient_waits_behind_the_failing_one(self) -> None:
        """It is not sent: it joins the outbox unattempted (waiting), after the failing item;
        an item to anyone else goes at once."""
        box = outbox()
        send(box, [chat(1)], failed(chat(1)), T0)
        other = customer_update(idempotency_key="ticket-T-100/2/1-customer-transferred")
        sending = box.hold_back(batch(chat(2), other, batch_id="2"), T0)
        assert sending is not None
        assert [i.idempotency_key for i in sending.customer_updates] == [other.idempotency_key]
        assert sending.notifications == []
        assert keys(box) == ["ticket-T-100/1/0-chat", "ticket-T-100/2/0-chat"]
        assert [f.attempted for f in box.state.failing] == [True, False]
        view = box.views()[1]
        assert view.waiting
        assert view.attempts == 0

    def test_a_retry_round_sends_a_recipients_items_in_their_order(self) -> None:
        """The round carries every failing item oldest first, so the activity's queue per
        recipient sends them in the order they were made."""
        box = outbox()
        send(box, [chat(1)], failed(chat(1)), T0)
        send(box, [chat(2)], delivered(), T0)  # held back, never sent
        send(box, [chat(3)], delivered(), T0)
        sending = box.retry_batch()
        assert [i.idempotency_key for i in sending.notifications] == [
            "ticket-T-100/1/0-chat",
            "ticket-T-100/2/0-chat",
            "ticket-T-100/3/0-chat",
        ]
        assert sending.batch_id == "retry-1-1"
        box.handed_back(sending, delivered(), T0 + RETRY_FIRST)
        assert not box.failing

    def test_an_item_to_a_recipient_with_a_message_under_way_waits_for_it(self) -> None:
        """While a batch to a recipient is under way, a new item to it is queued, then sent
        as the next batch once that one is through (delivered)."""
        box = outbox()
        first = box.hold_back(batch(chat(1)), T0)
        assert first is not None
        assert box.hold_back(batch(chat(2), batch_id="2"), T0) is None
        box.handed_back(first, delivered(), T0)
        following = box.finished(first, T0)
        assert following is not None
        assert [i.idempotency_key for i in following.notifications] == ["ticket-T-100/2/0-chat"]

    def test_an_item_queued_behind_one_that_then_fails_waits_in_the_outbox(self) -> None:
        """Queued behind a batch whose item failed: it is not sent, but kept behind it."""
        box = outbox()
        first = box.hold_back(batch(chat(1)), T0)
        assert first is not None
        assert box.hold_back(batch(chat(2), batch_id="2"), T0) is None
        box.handed_back(first, failed(chat(1)), T0)
        assert box.finished(first, T0) is None
        assert keys(box) == ["ticket-T-100/1/0-chat", "ticket-T-100/2/0-chat"]

    def test_the_failing_channel_holds_back_no_other_recipient(self) -> None:
        """A sync and a customer email go while chat fails."""
        box = outbox()
        send(box, [chat(1)], failed(chat(1)), T0)
        sync = ticket_sync(idempotency_key="ticket-T-100/2/2-sync-escalated")
        mail = customer_update(idempotency_key="ticket-T-100/2/1-customer-transferred")
        sending = box.hold_back(batch(sync, mail, batch_id="2"), T0)
        assert sending is not None
        assert len(sending.syncs) == 1
        assert len(sending.customer_updates) == 1


class TestOperator:
    def test_dropping_an_item_gives_it_up_by_the_operator(self) -> None:
        """The item leaves; the timeline has a final failure recorded as the operator's;
        it is counted; the others stay."""
        box = outbox()
        a, b = chat(1, address="https://a.example"), chat(2, address="https://b.example")
        send(box, [a, b], failed(a, b), T0)
        assert box.check_drop(a.idempotency_key) is None
        box.drop(a.idempotency_key, "Morgan Lee", T0 + timedelta(minutes=1))
        assert keys(box) == [b.idempotency_key]
        (final,) = finals(box)
        assert final["actor"] == "Morgan Lee"
        assert "dropped by Morgan Lee" in str(final["summary"])
        assert box.state.deliveries_given_up == 1

    def test_dropping_the_last_item_ends_the_outage(self) -> None:
        box = outbox()
        send(box, [chat(1)], failed(chat(1)), T0)
        box.drop(chat(1).idempotency_key, "Morgan Lee", T0)
        assert not box.failing
        assert "deliveries recovered" in box.state.timeline[-1].summary

    @pytest.mark.parametrize(
        "key", ["nope", "ticket-T-100/1/0-chat ", "TICKET-T-100/1/0-CHAT", "é" * 300, "-1"]
    )
    def test_an_unknown_key_cannot_be_dropped(self, key: str) -> None:
        """Only a key exactly as listed; the message does not repeat it."""
        box = outbox()
        send(box, [chat(1)], failed(chat(1)), T0)
        why = box.check_drop(key)
        assert why == "no failing delivery with that key"

    def test_an_item_dropped_during_a_round_stays_dropped(self) -> None:
        """A round that left before the drop reports the item still failing: it is not
        taken back into the outbox."""
        box = outbox()
        send(box, [chat(1)], failed(chat(1)), T0)
        sending = box.retry_batch()
        box.drop(chat(1).idempotency_key, "Morgan Lee", T0)
        box.handed_back(sending, failed(chat(1)), T0 + RETRY_FIRST)
        assert not box.failing
        assert box.state.deliveries_given_up == 1

    def test_retrying_now_sends_every_failing_item_and_counts_a_round(self) -> None:
        """A retry round (an operator's retry-now starts one at once) carries every failing
        item; the next wait is the following step of the backoff."""
        box = outbox()
        a, b = chat(1, address="https://a.example"), chat(2, address="https://b.example")
        send(box, [a, b], failed(a, b), T0)
        assert box.next_delay(T0) == RETRY_FIRST
        sending = box.retry_batch()
        assert len(sending.notifications) == 2
        assert box.state.delivery_rounds == 1
        box.handed_back(sending, failed(b), T0)
        box.finished(sending, T0)
        assert keys(box) == [b.idempotency_key]
        assert box.state.failing[0].attempts == 2
        assert box.next_delay(T0) == 2 * RETRY_FIRST

    def test_a_round_that_fails_outright_adds_nothing(self) -> None:
        """A round whose every attempt failed (worker died) keeps the outbox as it was."""
        box = outbox()
        send(box, [chat(1)], failed(chat(1)), T0)
        sending = box.retry_batch()
        box.failed_outright(sending, "activity timed out", T0)
        assert keys(box) == [chat(1).idempotency_key]
        assert box.state.failing[0].attempts == 1

    def test_a_new_batch_that_fails_outright_is_kept_for_retries(self) -> None:
        box = outbox()
        sending = box.hold_back(batch(chat(1)), T0)
        assert sending is not None
        box.failed_outright(sending, "activity timed out", T0)
        assert keys(box) == [chat(1).idempotency_key]


class TestView:
    def test_the_view_says_whom_an_item_is_for_and_when_the_next_round_is(self) -> None:
        """Staff, customer or host; the next round once planned (none while one runs)."""
        box = outbox()
        mail = customer_update(idempotency_key="k-customer")
        sync = ticket_sync(idempotency_key="k-sync")
        send(box, [chat(1), mail, sync], failed(chat(1), mail, sync), T0)
        assert [v.recipient for v in box.views()] == ["staff", "customer", "host"]
        assert [v.channel for v in box.views()] == ["chat", "email", "sync"]
        assert all(v.next_retry_at is None for v in box.views())
        box.next_delay(T0)
        assert all(v.next_retry_at == T0 + RETRY_FIRST for v in box.views())
        box.retry_batch()
        assert all(v.next_retry_at is None for v in box.views())

    def test_the_view_never_shows_the_recipients_address(self) -> None:
        """A mail server quoting the customer's address in its error: the view says
        ``<address>`` instead."""
        box = outbox()
        mail = customer_update(idempotency_key="k-customer", address="ana@example.com")
        error = "SMTP recipient deferred: ana@example.com: 450 mailbox busy"
        send(box, [mail], failed(mail, error=error), T0)
        (view,) = box.views()
        assert "ana@example.com" not in view.model_dump_json()
        assert view.error == "SMTP recipient deferred: <address>: 450 mailbox busy"

    @pytest.mark.parametrize(
        ("stored", "quoted"),
        [
            ("Ann@Bücher.de", "ann@xn--bcher-kva.de"),
            ("Ann@Example.COM", "ann@example.com"),
            ("+1 (555) 123-4567", "+15551234567"),
        ],
    )
    def test_the_view_hides_the_address_in_the_form_the_channel_wrote(
        self, stored: str, quoted: str
    ) -> None:
        """Channels write an address back their own way: in other letter case, the domain in
        its ASCII form, a phone number in E.164."""
        box = outbox()
        mail = customer_update(idempotency_key="k-customer", address=stored)
        send(box, [mail], failed(mail, error=f"refused {quoted}: 550 no such user"), T0)
        (view,) = box.views()
        assert view.error == "refused <address>: 550 no such user"

    def test_recipient_kind(self) -> None:
        assert recipient_kind(notification()) == "staff"
        assert recipient_kind(notification(audience="customer")) == "customer"
        assert recipient_kind(customer_update()) == "customer"
        assert recipient_kind(ticket_sync()) == "host"
