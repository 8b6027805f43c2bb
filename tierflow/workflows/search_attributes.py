"""Tierflow's custom search attributes: defined once here, used by the workflow, the dev server,
the client's list queries and the docker-compose setup step.

Operators filter on these names in the Temporal UI and CLI, for example
``temporal workflow list --query "TicketTier='tier2' AND TicketSlaBreached=true"``.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

TICKET_STATE = SearchAttributeKey.for_keyword("TicketState")
TICKET_TIER = SearchAttributeKey.for_keyword("TicketTier")
TICKET_TEAM = SearchAttributeKey.for_keyword("TicketTeam")
TICKET_PRIORITY = SearchAttributeKey.for_keyword("TicketPriority")
TICKET_SLA_DUE = SearchAttributeKey.for_datetime("TicketSlaDue")
TICKET_SLA_BREACHED = SearchAttributeKey.for_bool("TicketSlaBreached")
TICKET_ESCALATIONS = SearchAttributeKey.for_int("TicketEscalations")
TICKET_CUSTOMER_STATUS = SearchAttributeKey.for_keyword("TicketCustomerStatus")
# True while some message of the ticket keeps failing (retried until its horizon); false once
# they are through; unset on tickets that never had a failing delivery.
TICKET_DELIVERY_FAILING = SearchAttributeKey.for_bool("TicketDeliveryFailing")

ALL: tuple[SearchAttributeKey[Any], ...] = (
    TICKET_STATE,
    TICKET_TIER,
    TICKET_TEAM,
    TICKET_PRIORITY,
    TICKET_SLA_DUE,
    TICKET_SLA_BREACHED,
    TICKET_ESCALATIONS,
    TICKET_CUSTOMER_STATUS,
    TICKET_DELIVERY_FAILING,
)

# Attributes added after tickets were already running: absent and unset mean the same, so a
# ticket never upserts one just to unset it (that would change its commands on replay).
ADDED_LATER: frozenset[str] = frozenset({TICKET_DELIVERY_FAILING.name})

# The names the Temporal CLI and the operator API use for each indexed value type.
_CLI_TYPE_NAMES = {
    "KEYWORD": "Keyword",
    "DATETIME": "Datetime",
    "BOOL": "Bool",
    "INT": "Int",
    "TEXT": "Text",
    "DOUBLE": "Double",
    "KEYWORD_LIST": "KeywordList",
}


def cli_type(key: SearchAttributeKey[Any]) -> str:
    """The type name ``temporal operator search-attribute create --type`` expects for ``key``."""
    return _CLI_TYPE_NAMES[key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")]


def cli_definitions() -> dict[str, str]:
    """Every attribute as name -> CLI type, e.g. ``{"TicketState": "Keyword", ...}``."""
    return {key.name: cli_type(key) for key in ALL}
