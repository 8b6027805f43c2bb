"""Capacity: the highest rate of due deadlines escalated with p99 lateness ≤ 1 s.

For one configuration (Tierflow or the bare baseline, on 1, 2 or 4 worker processes polling
one task queue) the rate of due deadlines climbs a ladder of steps. Each step opens
``rate * window`` tickets first (the lead: the opening is not part of the load measured),
with deadlines spaced ``1 / rate`` seconds apart over ``window`` seconds; each ticket's SLA
warning falls ``warning_gap`` seconds before its breach, so during the window the workers
take ``rate`` warnings and ``rate`` breaches per second, as at a steady state. Lateness is
read from the histories (as in :mod:`benchmarks.lateness`, of a sample of the step's tickets):
the escalating task's start minus the deadline. A ticket not escalated when the step gives up
counts with its lateness so far. A step passes when every ticket escalated and p99 ≤ 1 s;
the climb stops at the first step that fails. A configuration starts one step below the best
rate of the same kind on fewer processes (and walks down if that step fails), so a full run
stays in minutes.

The worker processes are ``benchmarks.worker_process`` children (:class:`WorkerProcess` x N
on one task queue), for Tierflow built by ``tierflow.worker.build_worker`` as
``tierflow worker --processes N`` builds each of its children; the baseline's workers run the
same way, which ``tierflow worker`` cannot host.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client

from . import history
from . import profile as profiling
from .lateness import SETTLED_SAMPLE, count_in, opener
from .lifecycle import Kind
from .profile import ProfileSummary
from .receivers import Slowness, WebhookReceiver
from .server import BenchServer, WorkerProcess
from .stats import percentile, summarize

TARGET_P99 = 1.0
# How the chat channel misbehaves in the repeats of the best step.
SLOW_CHANNELS: tuple[Slowness, ...] = ("delay", "hang")


@dataclass
class CapacityConfig:
    kinds: tuple[Kind, ...] = ("tierflow", "baseline")
    processes: tuple[int, ...] = (1, 2, 4)
    # Escalations (due deadlines) per second, step by step.
    rates: tuple[float, ...] = (5, 10, 20, 40, 60, 80, 120, 160, 240)
    window: float = 30.0
    warning_gap: float = 5.0
    # Histories read per step for the percentiles (all of them when fewer).
    sample: int = 1000
    # A step gives up waiting this long after its last deadline.
    drain: float = 30.0
    # First guess of the opening rate (tickets/s), refined by every step's own.
    open_rate: float = 40.0
    min_lead: float = 5.0
    max_p99: float = TARGET_P99
    cache: int = 1000
    sandbox: bool = True
    # Repeat Tierflow's best step with a slow and with a hanging chat channel.
    slow_channels: bool = True
    # Where py-spy's stacks of every worker process go (benchmarks.profile); None: no profile.
    profile: Path | None = None

    @classmethod
    def tiny(cls) -> CapacityConfig:
        """Seconds, not minutes: two small steps on one process (several processes are the
        worker's own feature, tested with it)."""
        return cls(
            processes=(1,),
            rates=(4, 8),
            window=2.0,
            # Not shorter: the dev server fires timers of under a second up to 0.6 s late.
            warning_gap=2.0,
            sample=100,
            drain=15.0,
            open_rate=20.0,
            min_lead=3.5,
            slow_channels=False,
        )


@dataclass
class Step:
    rate: float
    tickets: int
    lead: float
    open_s: float
    # First deadline minus the moment every ticket of the step sat in tier 1 (<0: the
    # opening's first tasks ran into the window).
    slack: float
    clamped: int
    escalated: int
    missing: int
    late: list[float] = field(default_factory=list)
    fired: list[float] = field(default_factory=list)
    # From the first start request until the workers had run every new ticket's first task.
    settled_s: float = 0.0

    def p99(self) -> float:
        return percentile(sorted(self.late), 99) if self.late else float("inf")

    @property
    def passed(self) -> bool:
        return self.missing == 0 and bool(self.late) and self.p99() <= TARGET_P99

    def steady(self, warning_gap: float) -> bool:
        """Whether the opening was over before the first warnings fell: otherwise the step
        measured its own opening, not the steady state, and is run again with a longer lead."""
        return self.slack >= warning_gap

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate_per_s": self.rate,
            "tickets": self.tickets,
            "lead_s": round(self.lead, 1),
            "open_s": round(self.open_s, 1),
            "settled_s": round(self.settled_s, 1),
            "slack_before_first_deadline_s": round(self.slack, 1),
            "clamped_deadlines": self.clamped,
            "escalated": self.escalated,
            "not_escalated": self.missing,
            "late_s": summarize(self.late).model_dump() if self.late else None,
            "timer_fired_late_s": summarize(self.fired).model_dump() if self.fired else None,
            "passed": self.passed,
        }


@dataclass
class ConfigResult:
    kind: Kind
    processes: int
    steps: list[Step] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    profile: ProfileSummary | None = None
    # The best step again with a slow chat channel, by slowness (Tierflow only).
    slow_channel: dict[str, Step] = field(default_factory=dict)
    # Tickets the workers took in per second, as the last step measured.
    open_rate: float = 0.0

    @property
    def sustained(self) -> float | None:
        """The highest rate that passed (None: none did)."""
        rates = [s.rate for s in self.steps if s.passed]
        return max(rates) if rates else None


async def _step(
    client: Client,
    kind: Kind,
    task_queue: str,
    rate: float,
    cfg: CapacityConfig,
    open_rate: float,
) -> Step:
    escalated_before = await count_in(client, task_queue, "tier2")
    n = max(1, round(rate * cfg.window))
    # The opening (every ticket's first tasks) must be over before the first warnings fall,
    # ``warning_gap`` before the first deadline: the step measures the steady state only.
    lead = max(cfg.min_lead, cfg.warning_gap + 1.0, 1.3 * n / open_rate + cfg.warning_gap + 2.0)
    open_one = opener(kind, client, task_queue)
    gate = asyncio.Semaphore(64)
    t0 = time.time()
    first = t0 + lead
    clamped = 0
    ids: list[str] = []

    async def one(i: int) -> None:
        nonlocal clamped
        async with gate:
            budget = first + i / rate - time.time()
            if budget < cfg.warning_gap + 0.5:
                clamped += 1
                budget = cfg.warning_gap + 0.5
            ids.append(await open_one(budget, budget - cfg.warning_gap))

    await asyncio.gather(*(one(i) for i in range(n)))
    open_s = time.time() - t0
    # Until the last new tickets ran their first task: the opening's own load is done.
    await history.first_tasks_done(client, ids[-SETTLED_SAMPLE:], until=first + cfg.window)
    settled_s = time.time() - t0
    slack = first - time.time()
    last = first + (n - 1) / rate
    give_up = last + cfg.drain
    escalated = 0
    await asyncio.sleep(max(0.0, last - time.time()))
    while time.time() < give_up:
        escalated = await count_in(client, task_queue, "tier2") - escalated_before
        if escalated >= n:
            break
        await asyncio.sleep(1.0)
    await asyncio.sleep(1.0)
    stopped = datetime.now(UTC).replace(tzinfo=None)
    step = Step(rate, n, lead, open_s, slack, clamped, 0, 0, settled_s=settled_s)
    sample = ids if len(ids) <= cfg.sample else random.Random(n).sample(ids, cfg.sample)
    read_gate = asyncio.Semaphore(32)

    async def read(workflow_id: str) -> None:
        async with read_gate:
            e = history.breach_escalation(await history.fetch(client, workflow_id))
        if e.acted is None or e.fired is None:
            step.missing += 1
            step.late.append(e.late(stopped))  # at least this late
        else:
            step.late.append(e.late(e.acted))
            step.fired.append(e.late(e.fired))

    await asyncio.gather(*(read(i) for i in sample))
    # Tickets outside the sample count too: escalated or not, from the visibility count.
    step.escalated = min(n, escalated)
    step.missing = max(step.missing, n - step.escalated)
    return step


def _start_index(rates: Sequence[float], best: float | None) -> int:
    """One step below ``best`` (the same kind's best on fewer processes), else the first."""
    if best is None or best not in rates:
        return 0
    return max(0, list(rates).index(best) - 1)


async def run_config(
    server: BenchServer,
    kind: Kind,
    processes: int,
    cfg: CapacityConfig,
    start_at: float | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> ConfigResult:
    client = server.client if kind == "tierflow" else server.plain
    task_queue = f"capacity-{uuid.uuid4().hex[:10]}"
    result = ConfigResult(kind, processes)
    where = cfg.profile or server.workdir
    raws = [where / f"{kind}-{processes}p-{k}.raw" for k in range(processes)]
    workers = [
        WorkerProcess(
            server,
            kind,
            cfg.cache,
            cfg.sandbox,
            task_queue=task_queue,
            instance=k,
            profile=raws[k] if cfg.profile is not None else None,
        )
        for k in range(processes)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        open_rate = cfg.open_rate
        index = _start_index(cfg.rates, start_at)
        walking_down = False
        again = False
        while 0 <= index < len(cfg.rates):
            rate = cfg.rates[index]
            step = await _step(client, kind, task_queue, rate, cfg, open_rate)
            # The next lead from how fast the workers took this step's tickets in (not only
            # how fast the server accepted the starts).
            open_rate = max(5.0, step.tickets / max(step.open_s, step.settled_s))
            if not step.steady(cfg.warning_gap) and not again:
                say(
                    f"capacity {kind}, {processes} worker processes: {rate:g}/s opened into "
                    "its window; again with a longer lead"
                )
                again = True
                await asyncio.sleep(2.0)
                continue
            again = False
            result.steps.append(step)
            say(
                f"capacity {kind}, {processes} worker processes: {rate:g}/s → "
                f"p99 {step.p99():.3f} s, {step.missing} not escalated: "
                f"{'passed' if step.passed else 'failed'}"
            )
            if step.passed:
                if walking_down:
                    break
                index += 1
            elif walking_down or (len(result.steps) == 1 and index > 0):
                walking_down = True
                index -= 1
            else:
                break
            # Let the last step's stragglers and the histories' reads settle.
            await asyncio.sleep(2.0)
        result.open_rate = open_rate
    result.peak_rss_mib = sum(w.peak_rss_mib for w in workers)
    if cfg.profile is not None:
        result.profile = profiling.summarize(raws)
        say(f"profile {kind}, {processes} worker processes ({result.profile.samples} samples):")
        for e in result.profile.self_top[:8]:
            say(f"  self {e.share:6.1%}  {e.function}")
        for e in result.profile.total_top[:12]:
            say(f"  total {e.share:6.1%}  {e.function}")
    return result


async def with_slow_channel(
    server: BenchServer,
    result: ConfigResult,
    cfg: CapacityConfig,
    slowness: Slowness,
    say: Callable[[str], None] = lambda _: None,
) -> Step | None:
    """Tierflow's best step again, on fresh workers whose chat channel (a loopback webhook)
    answers every message only after two seconds (``delay``) or never (``hang``): a deadline's
    task must not wait on a channel, so the step must hold as it did."""
    rate = result.sustained
    if rate is None:
        return None
    hook = WebhookReceiver()
    hook.slow = lambda key: slowness
    hook.start()
    task_queue = f"capacity-{slowness}-{uuid.uuid4().hex[:8]}"
    try:
        async with contextlib.AsyncExitStack() as stack:
            for k in range(result.processes):
                await stack.enter_async_context(
                    WorkerProcess(
                        server,
                        "tierflow",
                        cfg.cache,
                        cfg.sandbox,
                        task_queue=task_queue,
                        instance=k,
                        chat_webhook=hook.url,
                    )
                )
            step = await _step(
                server.client, "tierflow", task_queue, rate, cfg, result.open_rate or cfg.open_rate
            )
    finally:
        await asyncio.to_thread(hook.stop)
    say(
        f"capacity tierflow, {result.processes} worker processes, chat channel {slowness}: "
        f"{rate:g}/s → p99 {step.p99():.3f} s, {step.missing} not escalated: "
        f"{'held' if step.passed else 'did not hold'}"
    )
    return step


async def run(
    server: BenchServer, cfg: CapacityConfig, say: Callable[[str], None] = lambda _: None
) -> list[ConfigResult]:
    results: list[ConfigResult] = []
    best: dict[Kind, float | None] = dict.fromkeys(cfg.kinds)
    # Process count by process count, both kinds in turn: whatever else the machine does
    # meanwhile weighs on both alike.
    for n in sorted(cfg.processes):
        for kind in cfg.kinds:
            r = await run_config(server, kind, n, cfg, start_at=best[kind], say=say)
            results.append(r)
            best[kind] = r.sustained if r.sustained is not None else best[kind]
            if kind == "tierflow" and cfg.slow_channels:
                for slowness in SLOW_CHANNELS:
                    step = await with_slow_channel(server, r, cfg, slowness, say)
                    if step is not None:
                        r.slow_channel[slowness] = step
    return results
