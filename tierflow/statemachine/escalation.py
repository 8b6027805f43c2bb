"""Escalation records: who moved a ticket where, and why.

Every escalation is recorded with its reasons and the people on both ends, so that the agent who
escalated can follow the ticket to its end and so that escalations can later be analysed for
patterns (which reasons, which teams, how often SLAs broke).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class EscalationType(StrEnum):
    """Up a tier, sideways to another team, or triggered by the policy on its own."""

    HIERARCHICAL = "hierarchical"
    FUNCTIONAL = "functional"
    AUTOMATIC = "automatic"


class EscalationReason(StrEnum):
    """Why a ticket was escalated: an agent's manual reasons, or the policy's."""

    RESPONSE_TIME_EXCEEDED = "response_time_exceeded"
    LIMITED_ACCESS = "limited_access"
    LIMITED_AUTHORITY = "limited_authority"
    LIMITED_KNOWLEDGE = "limited_knowledge"
    FEATURE_REQUEST = "feature_request"
    SLA_BREACH = "sla_breach"
    RULE = "rule"


class EscalationRecord(BaseModel):
    """One escalation, as it will be kept in the ticket's history."""

    model_config = ConfigDict(hide_input_in_errors=True, frozen=True, extra="forbid")

    type: EscalationType
    from_tier: str | None = None
    from_team: str | None = None
    from_assignee: str | None = None
    to_tier: str
    to_team: str | None = None
    to_assignee: str | None = None
    reasons: Annotated[list[EscalationReason], Field(min_length=1)]
    rule: str | None = None
    actor: str
    at: AwareDatetime
    # The requester's (or the escalating agent's) note, kept with the record.
    note: str = ""
    # The service (host system) that acted for ``actor``, if one did.
    via: str | None = None
    # An approved request: who approved it, and what they said.
    approved_by: str | None = None
    approval_note: str = ""
