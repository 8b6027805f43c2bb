"""The ticket workflow: one durable workflow per support ticket.

It drives the pure state machine in ``statemachine/``, owns the SLA timers (one durable timer
for the next deadline, re-armed only when that deadline changes), turns agent actions into
validated Temporal updates and customer events into signals, and keeps what operators see in
the Temporal UI current. Every side effect goes out as a regular activity, in the background,
so that nothing a notification channel does — dead, slow, hanging — holds a ticket back: the
workflow task that plans a delivery completes at once with the ticket's next timer among its
commands (see ``_deliver``). What the ticket answers — actions, customer events, queries — is
on its base class, :class:`tierflow.workflows.handlers.TicketHandlers`.
"""

# No `from __future__ import annotations`: the sandbox re-executes this module for every
# ticket it loads, and real annotations spare the SDK evaluating strings for each handler.
import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from tierflow.contracts import (
        DISPATCH_EFFECTS,
        DISPATCH_OUTCOME,
        WORKFLOW_TYPE,
        DispatchOutcome,
        EffectBatch,
    )
    from tierflow.workflows import search_attributes as sa
    from tierflow.workflows import views, visibility
    from tierflow.workflows.handlers import (
        SIGNALS_PER_RUN,
        TicketHandlers,
    )
    from tierflow.workflows.messages import (
        TicketStatus,
    )
    from tierflow.workflows.metrics import TicketMeters, samples
    from tierflow.workflows.operations import Deadline, TicketOperations
    from tierflow.workflows.outbox.ledger import TicketDeliveries
    from tierflow.workflows.state import TicketRun, TicketState

# workflow.patched ids: none since the 1.0 baseline. A change of the commands a ticket issues
# ships as a new build under Worker Versioning (running tickets stay pinned to theirs); a
# patch is a hotfix tool only, entered in PATCHES.md with its recording and its retirement.

# The effects activity's retries: it hands back what still fails after its quick retry (the
# ticket retries that on its own timer: tierflow/workflows/outbox/); further attempts
# only follow an attempt that never answered (a worker that died).
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
    non_retryable_error_types=["PermanentDeliveryError", "TemplateError"],
)


def _cause(err: ActivityError) -> str:
    """What made an effects activity fail, in the activity's own words where it gave some."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause.message if isinstance(cause, ApplicationError) else str(err)


@workflow.defn(name=WORKFLOW_TYPE)
class TicketWorkflow(TicketHandlers):
    """One support ticket, from triage to closed."""

    @workflow.init
    def __init__(self, run: TicketRun) -> None:
        if run.carried is not None:
            state = run.carried
            if state.history_limit is None and run.open is not None:
                # Carried by an earlier version, which kept the limit outside the state.
                state.history_limit = run.open.history_limit
        else:
            assert run.open is not None  # TicketRun validates that one of the two is there
            state = TicketState.opening(run.open, workflow.now())
        self.ops = TicketOperations(state, workflow.info().workflow_id)
        # Timeline entries up to this seq are reported to metrics (a carried state's were,
        # by the run before).
        self._metered = state.timeline_total if run.carried is not None else 0
        self._meters: TicketMeters | None = None
        if run.carried is None:
            # Triage here, not in run(): an update that arrives with the start is handled
            # before run() begins, and it must find the ticket already in its tier.
            self.ops.open(self._opened_at())
        self._dirty = False
        self._effects: set[asyncio.Task[None]] = set()
        self._outbox = TicketDeliveries(state, self.ops.effects)
        self._redelivery: asyncio.Task[None] | None = None
        self._retry_now = False
        self._timer: asyncio.Task[None] | None = None
        self._timer_at: Deadline | None = None
        self._timer_fired: Deadline | None = None
        # What the server already holds, so that only changes are upserted.
        self._indexed = dict(visibility.current_search_attributes(workflow.info()))
        # TicketSlaDue as the client computed it for the start request (a new ticket opened by
        # TicketClient): it differs from ours by the time the start took, within a tolerance.
        self._client_sla_due = visibility.client_sla_due(self._indexed, run.carried is None)
        # Signals received by this run (see SIGNALS_PER_RUN).
        self._signals = 0
        # The main loop is handing the ticket over to a new run. Only then are events refused
        # as BUSY: a validator's refusal leaves nothing in history and wakes nothing, so a
        # refusal on "the run is full" alone, before the loop noticed, would last until some
        # timer or accepted action woke it (minutes, or for good on a quiet ticket).
        self._handing_over = False

    @staticmethod
    def _opened_at() -> datetime:
        """When the SLA clock starts: the moment the ticket's workflow was started, not its
        first task, which a backlogged worker would push later (and every deadline with it).

        Earlier tickets used the first task's time. No ``workflow.patched`` guard: the change
        moves deadlines by the task's queueing delay but issues the same commands, so their
        histories replay cleanly (tests/histories/v1-*), and a patch marker would cost every
        ticket an extra search-attribute upsert (a billable action).
        """
        return workflow.info().workflow_start_time

    # --- the main loop ------------------------------------------------------------------------

    @workflow.run
    async def run(self, run: TicketRun) -> TicketStatus:
        while True:
            self._publish()
            if self.state.machine.state == "closed":
                break
            # The timer first, so that a deadline falling while this run waits to hand over
            # is acted on here (_continue_as_new returns for it).
            self._arm_timer(self.ops.next_deadline(workflow.now()))
            if self._should_continue_as_new():
                await self._continue_as_new(deadlines=True)
            await workflow.wait_condition(lambda: self._dirty or self._timer_fired is not None)
            self._dirty = False
            fired, self._timer_fired = self._timer_fired, None
            if fired is not None:
                self.ops.on_deadline(fired, workflow.now())
        await self._drain_effects()
        while True:
            while self.state.failing:
                # Closed, with messages still failing: they keep being retried to their
                # horizon, in runs of bounded history like an open ticket's.
                if self._should_continue_as_new():
                    await self._continue_as_new()
                await workflow.wait_condition(lambda: self._dirty)
                self._dirty = False
                self._publish()
            await self._drain_effects()
            self._publish()
            # The last deliveries may have handed back failures (and planned a message about
            # them): send and retry those too before the ticket ends.
            unfinished = bool(self._effects) or bool(self.state.failing)
            if not unfinished:
                break
            await self._drain_effects()
        self._report_metrics()
        return self.ops.status(workflow.now())

    async def _continue_as_new(self, *, deadlines: bool = False) -> None:
        """Hand the ticket to a new run. Never returns, except with ``deadlines`` when the
        timer fires while deliveries under way are awaited: the caller acts on the deadline
        first and tries again (a slow channel must not hold a deadline back)."""
        self._handing_over = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        # Wait for the deliveries under way only (their results belong to this run, and what a
        # receiver accepted must not be sent again by the next). What handlers plan meanwhile
        # travels to the next run, which sends it first: customer replies that keep arriving
        # would otherwise keep this run from ever ending.
        await workflow.wait_condition(
            lambda: not self._effects or (deadlines and self._timer_fired is not None)
        )
        if deadlines and self._timer_fired is not None:
            self._handing_over = False
            return
        self.state.undelivered = self.ops.take_effects()
        workflow.continue_as_new(
            self.ops.carry_over(workflow.info().run_id),
            # Under Worker Versioning a ticket is pinned to its worker's build while it runs,
            # and moves to the current build when it continues as new.
            initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE,
            search_attributes=visibility.typed_pairs(self._indexed),
        )

    def _should_continue_as_new(self) -> bool:
        if self._signals_spent():
            return True
        # A full timeline moves on to a new run whatever the history's length, so that no
        # query result and no continue-as-new input can outgrow Temporal's payload limit.
        if self.state.timeline_full:
            return True
        return self._history_full()

    def _signals_spent(self) -> bool:
        return self._signals >= SIGNALS_PER_RUN

    def _history_full(self) -> bool:
        info = workflow.info()
        limit = self.state.history_limit
        if limit is not None:
            return info.get_current_history_length() >= limit
        return info.is_continue_as_new_suggested()

    def _arm_timer(self, deadline: Deadline | None) -> None:
        """Keep one durable timer for the next deadline; re-arm only when it moves.

        Re-arming on every update would cost a timer (a billable action) per agent action.
        """
        if deadline == self._timer_at and self._timer is not None and not self._timer.done():
            return
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None
        if deadline is not None:
            self._timer = asyncio.create_task(self._sleep_until(deadline))

    async def _sleep_until(self, deadline: Deadline) -> None:
        delay = max(deadline.at - workflow.now(), timedelta(milliseconds=1))
        try:
            await workflow.sleep(delay, summary=deadline.summary)
        except asyncio.CancelledError:
            return
        if self._timer_at == deadline:
            self._timer_fired = deadline

    # --- publishing: effects, search attributes, UI details -----------------------------------

    def _publish(self) -> None:
        """Send planned side effects and bring the UI's view of the ticket up to date."""
        carried, self.state.undelivered = self.state.undelivered, []
        for batch in [*carried, *self.ops.take_effects()]:
            task = asyncio.create_task(self._deliver(batch))
            self._effects.add(task)
            task.add_done_callback(self._effects.discard)
        if self.state.failing and (self._redelivery is None or self._redelivery.done()):
            self._redelivery = asyncio.create_task(self._redeliver())
        now = workflow.now()
        current = visibility.search_attribute_values(self.state, views.sla_due(self.state, now))
        if self._client_sla_due is not None:
            current = visibility.settle_sla_due(current, self._client_sla_due)
        updates = visibility.search_attribute_updates(current, self._indexed)
        if updates:
            workflow.upsert_search_attributes(updates)
            self._indexed = current
            if current[sa.TICKET_SLA_DUE.name] != self._client_sla_due:
                self._client_sla_due = None  # ours from now on: compared exactly
        workflow.set_current_details(visibility.details_markdown(self.state, now))
        self._report_metrics()

    def _report_metrics(self) -> None:
        """Count what the timeline recorded since the last report (escalations, breaches,
        warnings, escalation lateness) on the workflow's replay-safe meter. No command."""
        s = self.state
        if s.timeline_total <= self._metered:
            return
        # Entries are only appended within a run, so the new ones are the last few.
        new = min(s.timeline_total - self._metered, len(s.timeline))
        fresh = s.timeline[len(s.timeline) - new :]
        self._metered = s.timeline_total
        found = samples(fresh)
        if found:
            if self._meters is None:
                self._meters = TicketMeters(workflow.metric_meter())
            self._meters.record(found)

    async def _deliver(self, batch: EffectBatch, *, held: bool = True) -> None:
        """Send ``batch``; keep what still fails for the ticket's own retries."""
        sending = self._outbox.hold_back(batch, workflow.now()) if held else batch
        if sending is not None:
            try:
                raw = await workflow.execute_activity(
                    DISPATCH_EFFECTS,
                    sending,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=DELIVERY_RETRY,
                    summary=sending.summary,
                )
            except ActivityError as err:
                self._outbox.failed_outright(sending, _cause(err), workflow.now())
            else:
                outcome = DISPATCH_OUTCOME.validate_python(raw)
                if isinstance(outcome, DispatchOutcome):
                    self._outbox.handed_back(sending, outcome, workflow.now())
                else:
                    self.ops.delivered(sending, outcome)
            following = self._outbox.finished(sending, workflow.now())
            if following is not None:
                # Items that waited for this batch's recipients go now, in their order.
                task = asyncio.create_task(self._deliver(following, held=False))
                self._effects.add(task)
                task.add_done_callback(self._effects.discard)
        self._dirty = True

    async def _redeliver(self) -> None:
        """Retry the failing items on the ticket's own timer (backoff capped at two minutes)
        until each one's horizon, or at once when an operator asks."""
        while self.state.failing:
            delay = self._outbox.next_delay(workflow.now())
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._retry_now or not self.state.failing,
                    timeout=delay,
                    timeout_summary="retry undelivered messages",
                )
            self._retry_now = False
            self._outbox.expire(workflow.now())
            self._dirty = True
            if not self.state.failing:
                break
            task = asyncio.create_task(self._deliver(self._outbox.retry_batch(), held=False))
            self._effects.add(task)
            task.add_done_callback(self._effects.discard)
            await task

    async def _drain_effects(self) -> None:
        while self._effects:
            await asyncio.gather(*list(self._effects))
