"""Delivery, the workflow's side: what a ticket plans to tell people and keeps retrying.

A ticket's messages go out in one story, in this order:

1. **Plan** (``planner.py``): an action or a timer decides who hears what (the audience is the
   core's, ``statemachine/audience.py``); the planner writes each staff notification, customer
   update and host sync, with a stable idempotency key, into one ``EffectBatch`` per workflow
   task.
2. **Hold back** (``ledger.py``, ``TicketDeliveries.hold_back``): an item to a recipient with a
   failing or an in-flight item waits behind it, so no later message overtakes an earlier one.
3. **Send** (the activity, ``tierflow/activities/``): the workflow (``workflows/ticket.py``,
   ``_deliver``) runs the ``tierflow.dispatch_effects`` activity on the batch;
   ``activities/tierflow_activities.py`` is its entry point, ``activities/dispatch.py`` sends
   the items concurrently, one queue per recipient, through ``activities/channels/`` (email,
   SMS, chat, webhook) and renders customer messages with ``activities/templates.py``.
4. **Hand back** (``ledger.py``, ``handed_back``): the activity returns what it delivered (as
   timeline notes) and what still fails transiently; the ledger keeps the failing items in the
   ticket's state (``failing.py``, ``FailingDelivery``).
5. **Retry and give up** (``ledger.py``): retry rounds on the ticket's own timer, backoff
   capped at two minutes, until each item's horizon; an operator lists, retries or drops them
   (``failing.py``: ``DeliveryView``, ``RetryDeliveries``, ``DropDelivery``).

What the two sides say to each other (``EffectBatch``, the items, ``DispatchOutcome``) is in
``tierflow/contracts.py``, which both import and nothing else of each other. Everything in this
package is plain synchronous code: no I/O, no clock (``now`` is passed in).
"""
