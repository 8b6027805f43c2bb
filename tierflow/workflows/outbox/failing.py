"""The deliveries a ticket keeps retrying, as its state holds them and as an operator sees
and acts on them: the ``deliveries`` query's answer and the ``retry_deliveries`` and
``drop_delivery`` updates. Neither an answer nor an error names the recipient's address."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tierflow.contracts import (
    CustomerUpdate,
    Item,
    Notification,
    TicketSync,
    describe_item,
    item_channel,
)
from tierflow.workflows.messages import AgentAction


class FailingDelivery(BaseModel):
    """An item the ticket keeps retrying: it failed transiently on every attempt of its
    batch (or waits behind one that did, for the same recipient)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    item: Notification | CustomerUpdate | TicketSync
    error: str
    first_failed_at: datetime
    give_up_at: datetime
    attempts: int = 1
    # False while it only waits behind an earlier failing item to the same recipient.
    attempted: bool = True


RecipientKind = Literal["staff", "customer", "host"]


def recipient_kind(item: Item) -> RecipientKind:
    """Whom an item is for, in one word: staff, the customer, or the host system."""
    if isinstance(item, TicketSync):
        return "host"
    if isinstance(item, CustomerUpdate):
        return "customer"
    return item.audience


def without_address(f: FailingDelivery) -> str:
    """The item's error without its recipient's address, which a channel may quote in another
    form than the one stored: any letter case, the domain in its ASCII (IDNA) form, a phone
    number with other separators."""
    address = "" if isinstance(f.item, TicketSync) else f.item.address
    if len(address) < 3:
        return f.error
    error = f.error
    for form in _address_forms(address):
        error = re.sub(form, "<address>", error, flags=re.IGNORECASE)
    return error


def _address_forms(address: str) -> list[str]:
    """Patterns matching ``address`` as a channel may write it back."""
    forms = [re.escape(address)]
    local, at, domain = address.rpartition("@")
    if at:
        try:
            ascii_domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_domain = domain
        forms.append(re.escape(f"{local}@{ascii_domain}"))
    digits = re.sub(r"\D", "", address)
    if len(digits) >= 6 and len(digits) * 2 >= len(address):
        # A phone number: its digits with any separators between them.
        forms.append(r"\+?" + r"[\s().-]*".join(digits))
    return forms


class RetryDeliveries(AgentAction):
    """An operator asks for the failing deliveries to be tried again now."""


class DropDelivery(AgentAction):
    """An operator gives up one failing delivery (by its key, as ``deliveries`` lists it)."""

    key: Annotated[str, Field(min_length=1, max_length=300)]


class DeliveryView(BaseModel):
    """One failing delivery, as the ``deliveries`` query answers it: no message text and no
    address (``what`` names staff only, as the timeline does)."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True)

    key: str = Field(description="the item's idempotency key: what drop-delivery names")
    what: str = Field(description="the item in a few words, as the timeline says it")
    channel: str = Field(description="email, sms, chat, webhook, or sync (the host system)")
    error: str = Field(description="the channel's last error")
    attempts: int = Field(description="attempts so far (0 while it waits behind another)")
    waiting: bool = Field(description="held back behind an earlier item to the same recipient")
    first_failed_at: datetime
    give_up_at: datetime = Field(description="the horizon: given up (a final failure) then")
    # Defaults: answers of workers from before these fields.
    recipient: RecipientKind | None = Field(
        default=None, description="whom it is for: staff, the customer, or the host system"
    )
    next_retry_at: datetime | None = Field(
        default=None, description="when the next retry round starts (none: one is under way)"
    )


def delivery_view(f: FailingDelivery, next_retry_at: datetime | None) -> DeliveryView:
    """One failing item as an operator sees it."""
    return DeliveryView(
        key=f.item.idempotency_key,
        what=describe_item(f.item),
        channel=item_channel(f.item),
        error=without_address(f),
        attempts=f.attempts,
        waiting=not f.attempted,
        first_failed_at=f.first_failed_at,
        give_up_at=f.give_up_at,
        recipient=recipient_kind(f.item),
        next_retry_at=next_retry_at,
    )


__all__ = [
    "DeliveryView",
    "DropDelivery",
    "FailingDelivery",
    "RecipientKind",
    "RetryDeliveries",
    "delivery_view",
    "recipient_kind",
    "without_address",
]
