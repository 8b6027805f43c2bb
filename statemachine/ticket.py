"""The ticket as the host system reports it: who, what, through which channel, how urgent."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


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


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_TICKET_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class Customer(BaseModel):
    """The person the ticket is for, with the addresses we can reach them on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(min_length=1)]
    name: str
    email: str | None = None
    phone: str | None = None
    chat: str | None = None
    status: CustomerStatus = CustomerStatus.STANDARD

    @field_validator("email")
    @classmethod
    def _email_has_at(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(f"not an email address: {value!r}")
        return value

    @field_validator("phone")
    @classmethod
    def _phone_is_e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        compact = re.sub(r"[\s().-]", "", value)
        if not _E164.match(compact):
            raise ValueError(f"phone must be in international form like +4930123456, got {value!r}")
        return compact


class Ticket(BaseModel):
    """A support ticket. Frozen: change it with ``ticket.model_copy(update={...})``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=_TICKET_ID)]
    subject: Annotated[str, Field(min_length=1, max_length=300)]
    description: str = ""
    channel: Channel
    customer: Customer
    category: str | None = None
    priority: Priority = Priority.NORMAL
    impacted_customers: Annotated[int, Field(ge=1)] = 1
    tags: list[str] = Field(default_factory=list)
    created_at: AwareDatetime
