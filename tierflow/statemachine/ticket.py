"""The ticket as the host system reports it: who, what, through which channel, how urgent."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from tierflow.statemachine.text import TAGS_MAX, Description, Line, Name, Subject


class Channel(StrEnum):
    """Where the ticket came from; the process is the same whatever the channel."""

    EMAIL = "email"
    SMS = "sms"
    CHAT = "chat"
    PHONE = "phone"
    SOCIAL = "social"
    WEB = "web"


class CustomerStatus(StrEnum):
    """Commercial standing of the customer; routing rules may treat VIPs differently."""

    STANDARD = "standard"
    VIP = "vip"
    ENTERPRISE = "enterprise"


_RANKS = {"low": 0, "normal": 1, "high": 2, "urgent": 3, "critical": 4}


class Priority(StrEnum):
    """Urgency of a ticket, ordered by ``rank`` (not alphabetically, unlike plain strings)."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for low up to 4 for critical."""
        return _RANKS[self.value]

    # str ordering would put "critical" below "low"; compare by rank instead.
    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Priority):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Priority):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Priority):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Priority):
            return NotImplemented
        return self.rank >= other.rank

    @classmethod
    def highest(cls, *priorities: Priority) -> Priority:
        """The most urgent of the given priorities."""
        return max(priorities, key=lambda p: p.rank)

    @classmethod
    def max(cls, a: Priority, b: Priority) -> Priority:
        """The more urgent of two priorities."""
        return a if a.rank >= b.rank else b

    def raised(self, steps: int = 1) -> Priority:
        """This priority moved up ``steps`` ranks, stopping at critical."""
        members = list(Priority)
        return members[min(self.rank + steps, len(members) - 1)]


# Deliberately plain: one @, a dotted domain, and nothing that could end or split a mail header.
# (Format characters too: a bidi override would make an address read as another.)
_NOT_IN_ADDRESS = r'[^@\s<>(),;:"\[\]\\\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]+'
_EMAIL = re.compile(rf"{_NOT_IN_ADDRESS}@{_NOT_IN_ADDRESS}\.{_NOT_IN_ADDRESS}")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_TICKET_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# A customer's id in the host system: printable, one line, bounded.
_CUSTOMER_ID = (
    r"^[^\x00-\x20\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
    r"[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]{0,127}$"
)


class Customer(BaseModel):
    """The person the ticket is for, with the addresses we can reach them on."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=_CUSTOMER_ID)]
    name: Name
    email: Annotated[str | None, Field(max_length=254)] = None
    phone: Annotated[str | None, Field(max_length=40)] = None
    chat: Line | None = None
    status: CustomerStatus = CustomerStatus.STANDARD

    @field_validator("email")
    @classmethod
    def _email_has_at(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.fullmatch(value):
            raise ValueError("not an email address")
        return value

    @field_validator("phone")
    @classmethod
    def _phone_is_e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        compact = re.sub(r"[\s().-]", "", value)
        if not _E164.match(compact):
            raise ValueError("phone must be in international form like +4930123456")
        return compact


class Ticket(BaseModel):
    """A support ticket. Frozen: change it with ``ticket.model_copy(update={...})``."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=_TICKET_ID)]
    subject: Subject
    description: Description = ""
    channel: Channel
    customer: Customer
    category: Line | None = None
    priority: Priority = Priority.NORMAL
    impacted_customers: Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)] = 1
    tags: Annotated[list[Line], Field(max_length=TAGS_MAX)] = Field(default_factory=list)
    created_at: AwareDatetime
