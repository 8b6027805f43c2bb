"""The actions' routes, one per action of the registry (``workflows/actions.py``):
``POST /tickets/{id}/actions/<name>`` for the ticket actions, ``/deliveries/retry`` and
``/deliveries/drop`` for the delivery ones, and ``GET /tickets/{id}/deliveries``.

Each route's body is the action's own message (with ``actor`` from the credentials,
:func:`body_model`), so the OpenAPI document shows each action's fields and FastAPI answers
422 for bad input; an action name with no route is a 404. The caller is the actor.
"""

# No `from __future__ import annotations`: each route's body type is its action's model,
# known only when the route is made, and FastAPI reads it from the endpoint's signature.
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request

from tierflow._guards import StrictJSONRoute
from tierflow.workflows.actions import ACTION_SPECS, ActionSpec
from tierflow.workflows.messages import TicketStatus
from tierflow.workflows.outbox.failing import DeliveryView

from ._common import (
    BUSY,
    CONFLICT,
    FORBIDDEN,
    NOT_FOUND,
    Caller,
    IdempotencyKey,
    OnBehalfOf,
    TicketId,
    Tickets,
    acting,
    body_model,
    may_read,
)

router = APIRouter(route_class=StrictJSONRoute)


def _endpoint(spec: ActionSpec) -> Callable[..., Awaitable[Any]]:
    """The route's function, with the action's body model in its signature."""
    # mypy cannot check a type known only at run time; FastAPI reads it from the signature.
    body_type = body_model(spec.message)
    name = spec.name
    if spec.answers == "deliveries" and spec.body_optional:

        async def on_deliveries_any_body(
            ticket_id: TicketId,
            tickets: Tickets,
            caller: Caller,
            on_behalf_of: OnBehalfOf = None,
            idempotency_key: IdempotencyKey = None,
            body: body_type | None = None,  # type: ignore[valid-type]
        ) -> list[DeliveryView]:
            message = acting(body or body_type(), caller, on_behalf_of)
            return await tickets.delivery_action(
                ticket_id, name, message, request_id=idempotency_key
            )

        return on_deliveries_any_body
    if spec.answers == "deliveries":

        async def on_deliveries(
            ticket_id: TicketId,
            body: body_type,  # type: ignore[valid-type]
            tickets: Tickets,
            caller: Caller,
            on_behalf_of: OnBehalfOf = None,
            idempotency_key: IdempotencyKey = None,
        ) -> list[DeliveryView]:
            message = acting(body, caller, on_behalf_of)
            return await tickets.delivery_action(
                ticket_id, name, message, request_id=idempotency_key
            )

        return on_deliveries

    async def on_ticket(
        ticket_id: TicketId,
        body: body_type,  # type: ignore[valid-type]
        tickets: Tickets,
        caller: Caller,
        on_behalf_of: OnBehalfOf = None,
        idempotency_key: IdempotencyKey = None,
    ) -> TicketStatus:
        message = acting(body, caller, on_behalf_of)
        return await tickets.act(ticket_id, name, message, request_id=idempotency_key)

    return on_ticket


def _add(spec: ActionSpec) -> None:
    router.add_api_route(
        f"/tickets/{{ticket_id}}/{spec.path}",
        _endpoint(spec),
        methods=["POST"],
        response_model=list[DeliveryView] if spec.answers == "deliveries" else TicketStatus,
        # The delivery routes kept their names (and OpenAPI operation ids) from before.
        name=spec.name if spec.answers == "deliveries" else f"action_{spec.name}",
        summary=spec.summary.removesuffix("."),
        description=spec.description,
        responses={**NOT_FOUND, **FORBIDDEN, **CONFLICT, **BUSY},
    )


@router.get(
    "/tickets/{ticket_id}/deliveries",
    response_model=list[DeliveryView],
    responses={**NOT_FOUND, **FORBIDDEN},
)
async def deliveries(
    ticket_id: TicketId, tickets: Tickets, caller: Caller, request: Request
) -> list[DeliveryView]:
    """The ticket's deliveries that keep failing, oldest first (empty: none is): each
    item's key, what it is, its channel and recipient kind, attempts, last error, the
    next retry round and the horizon at which it is given up. No message text and no
    address; closed tickets answer too."""
    await may_read(request, ticket_id, caller)
    return await tickets.deliveries(ticket_id)


for _spec in ACTION_SPECS.values():
    _add(_spec)
