"""Tierflow: durable ticket escalation for help desks, built on Temporal.

The names a host system needs live here: the clients (:class:`TicketClient`, asyncio, and
:class:`SyncTicketClient`), the errors they raise, the ticket and policy models and the action
inputs a host builds, and the plugin it embeds in its own worker. Everything else is reachable
by its module (``tierflow.client``, ``tierflow.errors``, …).

The workflow sandbox executes this module afresh whenever it imports ``tierflow.workflows``,
so it imports nothing at load time: each name is imported on first use (PEP 562
``__getattr__``), and the client, httpx, FastAPI and the worker stay out of the workflow's way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierflow.activities import Settings, TierflowActivities, verify_signature
    from tierflow.client import TicketClient
    from tierflow.errors import (
        ActionForbidden,
        ActionRejected,
        InvalidInput,
        TemporalUnavailable,
        TicketBusy,
        TicketClosed,
        TicketError,
        TicketNotFound,
        TicketNotReady,
        UnexpectedError,
    )
    from tierflow.plugin import TierflowPlugin
    from tierflow.statemachine import (
        Channel,
        Customer,
        CustomerStatus,
        Policy,
        Priority,
        Ticket,
        default_policy,
    )
    from tierflow.sync_client import SyncTicketClient
    from tierflow.workflows.messages import (
        AddNote,
        Assign,
        Close,
        CustomerFeedback,
        CustomerReply,
        Decide,
        Escalate,
        Reopen,
        RequestEscalation,
        Resolve,
        Respond,
        SetPriority,
        WaitCustomer,
    )
    from tierflow.workflows.outbox.failing import DropDelivery, RetryDeliveries

    __version__: str

# Each public name and the module that defines it, imported when the name is first read.
_HOMES: dict[str, str] = {
    # Clients
    "TicketClient": "tierflow.client",
    "SyncTicketClient": "tierflow.sync_client",
    # Errors the clients raise
    "TicketError": "tierflow.errors",
    "InvalidInput": "tierflow.errors",
    "TicketNotFound": "tierflow.errors",
    "ActionRejected": "tierflow.errors",
    "TicketClosed": "tierflow.errors",
    "ActionForbidden": "tierflow.errors",
    "TemporalUnavailable": "tierflow.errors",
    "TicketNotReady": "tierflow.errors",
    "TicketBusy": "tierflow.errors",
    "UnexpectedError": "tierflow.errors",
    # A ticket and its policy
    "Ticket": "tierflow.statemachine",
    "Customer": "tierflow.statemachine",
    "Channel": "tierflow.statemachine",
    "Priority": "tierflow.statemachine",
    "CustomerStatus": "tierflow.statemachine",
    "Policy": "tierflow.statemachine",
    "default_policy": "tierflow.statemachine",
    # What agents and customers send a ticket
    "Assign": "tierflow.workflows.messages",
    "Respond": "tierflow.workflows.messages",
    "Escalate": "tierflow.workflows.messages",
    "RequestEscalation": "tierflow.workflows.messages",
    "Decide": "tierflow.workflows.messages",
    "SetPriority": "tierflow.workflows.messages",
    "AddNote": "tierflow.workflows.messages",
    "WaitCustomer": "tierflow.workflows.messages",
    "Resolve": "tierflow.workflows.messages",
    "Reopen": "tierflow.workflows.messages",
    "Close": "tierflow.workflows.messages",
    "CustomerReply": "tierflow.workflows.messages",
    "CustomerFeedback": "tierflow.workflows.messages",
    "RetryDeliveries": "tierflow.workflows.outbox.failing",
    "DropDelivery": "tierflow.workflows.outbox.failing",
    # Embedding in a host's worker, and verifying the host sync's signature
    "TierflowPlugin": "tierflow.plugin",
    "TierflowActivities": "tierflow.activities",
    "Settings": "tierflow.activities",
    "verify_signature": "tierflow.activities",
}

__all__ = [
    "ActionForbidden",
    "ActionRejected",
    "AddNote",
    "Assign",
    "Channel",
    "Close",
    "Customer",
    "CustomerFeedback",
    "CustomerReply",
    "CustomerStatus",
    "Decide",
    "DropDelivery",
    "Escalate",
    "InvalidInput",
    "Policy",
    "Priority",
    "Reopen",
    "RequestEscalation",
    "Resolve",
    "Respond",
    "RetryDeliveries",
    "SetPriority",
    "Settings",
    "SyncTicketClient",
    "TemporalUnavailable",
    "Ticket",
    "TicketBusy",
    "TicketClient",
    "TicketClosed",
    "TicketError",
    "TicketNotFound",
    "TicketNotReady",
    "TierflowActivities",
    "TierflowPlugin",
    "UnexpectedError",
    "WaitCustomer",
    "__version__",
    "default_policy",
    "verify_signature",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    if name == "__version__":
        # The one version source is pyproject.toml, as installed in the distribution's metadata.
        from importlib.metadata import version

        return version("tierflow")
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tierflow' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
