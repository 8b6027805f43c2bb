"""What a ticket answers: agents' and supervisors' actions (updates, each with its validator),
customer events (updates, and signals for raw callers), and queries.

The handlers live on :class:`TicketHandlers`, the base of the workflow class
(:class:`tierflow.workflows.ticket.TicketWorkflow`), which owns the clock, the hand-over to new
runs and the deliveries. One handler and one validator per action of the registry
(:mod:`tierflow.workflows.actions`): the SDK needs a method per update, with its argument's
type; what an action does is the registry's. The names and argument types are the ticket's
interface: running tickets and recorded histories hold them (tests/workflows/test_replay.py).
"""

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError

from tierflow.statemachine import DomainError, EscalationRecord, Forbidden
from tierflow.workflows.actions import ACTION_SPECS
from tierflow.workflows.messages import (
    AddNote,
    AgentAction,
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
    TicketStatus,
    TimelineEntry,
    TimelinePage,
    TimelineQuery,
    WaitCustomer,
)
from tierflow.workflows.operations import TicketOperations
from tierflow.workflows.outbox.failing import DeliveryView, DropDelivery, RetryDeliveries
from tierflow.workflows.outbox.ledger import TicketDeliveries
from tierflow.workflows.state import TicketState

# A domain error reaches the agent as this failure type, with the domain's own message.
REJECTED = "TicketActionRejected"
# A caller the ticket's policy does not allow to take the action (statemachine/permissions.py):
# this failure type, with one line naming who may.
FORBIDDEN = "TicketActionForbidden"
# A customer event refused for now, before anything is written: the run is full and hands over
# to a new one (continue-as-new); the caller sends it again in a moment. This is the ticket's
# backpressure: events that keep coming can no longer grow a history past Temporal's limit, nor
# keep the run from handing over (a signal would be written to history whatever the workflow
# does with it, and fail the handing-over task).
BUSY = "TicketBusy"
# Signals (raw callers' customer events) a run takes before it hands over: every signal is
# written to history, however big and whatever the workflow does with it, so the server caps
# them per run (history.maximumSignalsPerExecution, twice this: tierflow/server_limits.py) and
# the run hands over well before that cap refuses a customer's event.
SIGNALS_PER_RUN = 16
# Items agents' actions may plan while the run waits to hand over (they travel in the
# continue-as-new input, which Temporal caps): beyond this, actions are refused with BUSY for
# that moment, before anything is written.
MAX_PLANNED_WHILE_FULL = 40


M = TypeVar("M", bound=BaseModel)


def _signal_message(model: type[M], name: str, payloads: tuple[Any, ...]) -> M | None:
    """The one valid ``model`` among ``payloads``, or None (logged without the content)."""
    if len(payloads) == 1:
        try:
            return model.model_validate(payloads[0])
        except ValidationError as err:
            # Error kinds only: even a field's name was chosen by the sender.
            kinds = sorted({e["type"] for e in err.errors()})
            workflow.logger.warning("signal %s dropped: %s", name, ", ".join(kinds))
            return None
    workflow.logger.warning("signal %s dropped: %d payloads, expected 1", name, len(payloads))
    return None


def _reject(check: Callable[[], object]) -> None:
    """Run a domain check; turn its error into an update rejection with the same message:
    FORBIDDEN when the caller may not act, REJECTED when the ticket does not allow it."""
    try:
        check()
    except Forbidden as err:
        raise ApplicationError(err.message, type=FORBIDDEN, non_retryable=True) from None
    except DomainError as err:
        raise ApplicationError(err.message, type=REJECTED, non_retryable=True) from None


class TicketHandlers:
    """The ticket's updates, signals and queries, on the state the workflow class keeps."""

    # Set by the workflow's __init__ (tierflow/workflows/ticket.py).
    ops: TicketOperations
    _outbox: TicketDeliveries
    _dirty: bool
    _retry_now: bool
    _signals: int
    _handing_over: bool

    @property
    def state(self) -> TicketState:
        return self.ops.state

    def _changed(self) -> TicketStatus:
        self._remember_update()
        self._dirty = True
        return self.ops.status(workflow.now())

    def _repeated(self) -> bool:
        """The current update was applied already, by this run or a recent one (a caller that
        sent it again after the run handed over): it is answered, not applied again."""
        info = workflow.current_update_info()
        return info is not None and self.state.applied(info.id)

    def _remember_update(self) -> None:
        info = workflow.current_update_info()
        if info is not None:
            self.state.remember_update(info.id)

    # --- agent and supervisor actions (updates) -----------------------------------------------

    # One handler and one validator per action of the registry (workflows/actions.py): the SDK
    # needs a method per update, with its argument's type; what an action does is the
    # registry's. The names and argument types are the ticket's interface: running tickets and
    # recorded histories hold them (tests/workflows/test_replay.py).

    def _act(self, name: str, a: AgentAction) -> TicketStatus:
        """Apply the action ``name`` once (a resent update is only answered)."""
        if self._repeated():
            return self.ops.status(workflow.now())
        ACTION_SPECS[name].perform(self.ops, a, workflow.now())
        return self._changed()

    def _validate(self, name: str, a: AgentAction) -> None:
        self._refuse(lambda: ACTION_SPECS[name].validate(self.ops, a))

    @workflow.update
    def assign(self, a: Assign) -> TicketStatus:
        return self._act("assign", a)

    @assign.validator
    def _check_assign(self, a: Assign) -> None:
        self._validate("assign", a)

    @workflow.update
    def respond(self, a: Respond) -> TicketStatus:
        return self._act("respond", a)

    @respond.validator
    def _check_respond(self, a: Respond) -> None:
        self._validate("respond", a)

    @workflow.update
    def escalate(self, a: Escalate) -> TicketStatus:
        return self._act("escalate", a)

    @escalate.validator
    def _check_escalate(self, a: Escalate) -> None:
        self._validate("escalate", a)

    @workflow.update
    def request_escalation(self, a: RequestEscalation) -> TicketStatus:
        return self._act("request_escalation", a)

    @request_escalation.validator
    def _check_request_escalation(self, a: RequestEscalation) -> None:
        self._validate("request_escalation", a)

    @workflow.update
    def approve(self, a: Decide) -> TicketStatus:
        return self._act("approve", a)

    @approve.validator
    def _check_approve(self, a: Decide) -> None:
        self._validate("approve", a)

    @workflow.update
    def reject(self, a: Decide) -> TicketStatus:
        return self._act("reject", a)

    @reject.validator
    def _check_reject(self, a: Decide) -> None:
        self._validate("reject", a)

    @workflow.update
    def set_priority(self, a: SetPriority) -> TicketStatus:
        return self._act("set_priority", a)

    @set_priority.validator
    def _check_set_priority(self, a: SetPriority) -> None:
        self._validate("set_priority", a)

    @workflow.update
    def note(self, a: AddNote) -> TicketStatus:
        return self._act("note", a)

    @note.validator
    def _check_note(self, a: AddNote) -> None:
        self._validate("note", a)

    @workflow.update
    def wait_customer(self, a: WaitCustomer) -> TicketStatus:
        return self._act("wait_customer", a)

    @wait_customer.validator
    def _check_wait_customer(self, a: WaitCustomer) -> None:
        self._validate("wait_customer", a)

    @workflow.update
    def resolve(self, a: Resolve) -> TicketStatus:
        return self._act("resolve", a)

    @resolve.validator
    def _check_resolve(self, a: Resolve) -> None:
        self._validate("resolve", a)

    @workflow.update
    def reopen(self, a: Reopen) -> TicketStatus:
        return self._act("reopen", a)

    @reopen.validator
    def _check_reopen(self, a: Reopen) -> None:
        self._validate("reopen", a)

    @workflow.update
    def close(self, a: Close) -> TicketStatus:
        return self._act("close", a)

    @close.validator
    def _check_close(self, a: Close) -> None:
        self._validate("close", a)

    @workflow.update
    def retry_deliveries(self, a: RetryDeliveries) -> list[DeliveryView]:
        """Try the failing deliveries again now (an operator's command)."""
        self._retry_now = True
        return self._outbox.views()

    @retry_deliveries.validator
    def _check_retry_deliveries(self, a: RetryDeliveries) -> None:
        self._refuse(lambda: self.ops.authorize("retry_deliveries", a))
        if not self.state.failing and not self._repeated():
            raise ApplicationError(
                "no delivery of this ticket is failing", type=REJECTED, non_retryable=True
            )

    @workflow.update
    def drop_delivery(self, a: DropDelivery) -> list[DeliveryView]:
        """Give up one failing delivery: a final failure on the timeline."""
        if self._repeated():
            return self._outbox.views()
        self._outbox.drop(a.key, a.acting, workflow.now())
        self._remember_update()
        self._dirty = True
        return self._outbox.views()

    @drop_delivery.validator
    def _check_drop_delivery(self, a: DropDelivery) -> None:
        self._refuse(lambda: self.ops.authorize("drop_delivery", a))
        if self._repeated():
            return
        why = self._outbox.check_drop(a.key)
        if why is not None:
            raise ApplicationError(why, type=REJECTED, non_retryable=True)

    # --- customer events (updates) ------------------------------------------------------------

    # Tierflow's client and HTTP API send customer events as updates: the validator can refuse
    # one (closed ticket, feedback before resolution, a run that must hand over first) before
    # anything is written. The signals below stay for raw Temporal callers and older clients.

    @workflow.update(name="customer_reply")
    def customer_reply_update(self, e: CustomerReply) -> None:
        self._take_customer_event(lambda: self.ops.customer_reply(e, workflow.now()))

    @customer_reply_update.validator
    def _check_customer_reply(self, e: CustomerReply) -> None:
        self._check_customer_event()

    @workflow.update(name="customer_feedback")
    def customer_feedback_update(self, e: CustomerFeedback) -> None:
        self._take_customer_event(lambda: self.ops.customer_feedback(e, workflow.now()))

    @customer_feedback_update.validator
    def _check_customer_feedback(self, e: CustomerFeedback) -> None:
        self._check_customer_event()
        state = self.state.machine.state
        if state != "resolved" and not self._repeated():
            raise ApplicationError(
                f"feedback counts once the ticket is resolved; it is {state}",
                type=REJECTED,
                non_retryable=True,
            )

    def _refuse(self, check: Callable[[], object]) -> None:
        """An action's validator: BUSY while the run hands over with many effects already
        planned (the next run's input must stay small), else the domain check's refusal. An
        update applied already is let through (its handler answers without applying it)."""
        if self._repeated():
            return
        if self._handing_over and self.ops.effects.pending() >= MAX_PLANNED_WHILE_FULL:
            raise ApplicationError(
                "the ticket is handing over to a new run; try again in a second",
                type=BUSY,
                non_retryable=True,
            )
        _reject(check)

    def _take_customer_event(self, apply: Callable[[], None]) -> None:
        """Apply a customer event sent as an update, once (a resent one is only answered)."""
        if self._repeated():
            return
        apply()
        self._remember_update()
        self._dirty = True

    def _check_customer_event(self) -> None:
        if self._repeated():
            return
        if self.state.machine.state == "closed":
            raise ApplicationError("the ticket is closed", type=REJECTED, non_retryable=True)
        if self._handing_over:
            raise ApplicationError(
                "the ticket is handing over to a new run; send the event again in a second",
                type=BUSY,
                non_retryable=True,
            )

    # --- customer events (signals) ------------------------------------------------------------

    # Signals cannot be refused, and a handler that raised would fail every workflow task of
    # the ticket from then on. So they take whatever arrived (any number of payloads, decoded
    # as plain JSON) and keep it only when it is exactly one valid message; anything else is
    # dropped with a log line that names the signal, never its content.

    @workflow.signal(name="customer_reply")
    def customer_reply(self, *payloads: Any) -> None:
        self._count_signal()
        e = _signal_message(CustomerReply, "customer_reply", payloads)
        if e is not None:
            self.ops.customer_reply(e, workflow.now())
            self._dirty = True

    @workflow.signal(name="customer_feedback")
    def customer_feedback(self, *payloads: Any) -> None:
        self._count_signal()
        e = _signal_message(CustomerFeedback, "customer_feedback", payloads)
        if e is not None:
            self.ops.customer_feedback(e, workflow.now())
            self._dirty = True

    def _count_signal(self) -> None:
        self._signals += 1
        # Even a dropped signal counts (it is in the history): the main loop re-checks whether
        # the run must hand over.
        self._dirty = True

    # --- queries -------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> TicketStatus:
        return self.ops.status(workflow.now())

    @workflow.query
    def timeline(self) -> list[TimelineEntry]:
        """The newest entries of the timeline that fit in one answer (``timeline_page`` reads
        further back)."""
        return self.state.timeline_before(None)[0]

    @workflow.query
    def timeline_page(self, q: TimelineQuery) -> TimelinePage:
        """The newest entries of this run before ``q.before``, and where to read on."""
        s = self.state
        entries, more_here = s.timeline_before(q.before)
        return TimelinePage(
            entries=entries,
            total=s.timeline_total,
            more_here=more_here,
            earlier_run_id=s.earlier_run_id,
        )

    @workflow.query
    def deliveries(self) -> list[DeliveryView]:
        """The deliveries this ticket keeps retrying, oldest first."""
        return self._outbox.views()

    @workflow.query
    def escalations(self) -> list[EscalationRecord]:
        return list(self.state.escalations)
