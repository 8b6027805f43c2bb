"""The fault suite: tickets escalate while workers, the server and a channel fail.

Tickets are opened first, with deadlines spread evenly over a window; then, during the window,
the worker is killed with SIGKILL and started again (as a process manager would), the dev server
(SQLite on a file) is stopped once with SIGTERM and once with SIGKILL and started again on the
same port and file, and the chat webhook answers 503 for a while. The worker is Tierflow's own
``tierflow worker`` in a child process, with email (a loopback SMTP server) and chat (a loopback
webhook) configured; it waits for its server with backoff, and the suite starts it again should
it exit. Optionally a bare-Temporal baseline of the same shape (``benchmarks.baseline``) runs
beside it on its own task queue, and its worker is killed at the same moments.

Everything is then read from outside: histories (lost tickets, missed and duplicated
escalations, lateness after recovery, planned deliveries, recovery after each fault) and the
receivers' logs by idempotency key (deliveries missing and duplicated). Every ticket history is
replayed with the production worker's configuration (:mod:`tierflow.replay`): ``nondeterminism``
counts the runs whose replay diverged, and must be 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from tierflow.client import TicketClient, workflow_id_for
from tierflow.connect import connect_local
from tierflow.replay import replay_all

from . import baseline, fault_analysis, history, tickets
from .fault_analysis import Fate, Window
from .fault_targets import FileServer, Supervised
from .lateness import auto_lead
from .receivers import SmtpReceiver, WebhookReceiver
from .stats import summarize

Say = Callable[[str], None]
# The retry policy of the effects activity gives up after about 90 s of failures (8 attempts,
# backoff to 30 s); deliveries are awaited that long after the channel returns.
DELIVERY_GRACE = 150.0


@dataclass
class FaultConfig:
    tickets: int = 1000
    spread: float = 240.0
    lead: float | None = None
    worker_kills: int = 5
    channel_outage: float = 600.0
    # How long the server stays down each time before it is started again.
    server_down: float = 30.0
    sticky_timeout: float = 3.0
    cache: int = 2000
    sandbox: bool = True
    baseline: bool = True
    restart_delay: float = 1.0

    @classmethod
    def small(cls) -> FaultConfig:
        """The size ``make test`` runs: about a minute and a half."""
        return cls(
            tickets=30, spread=30.0, lead=10.0, worker_kills=2, channel_outage=15.0, server_down=5.0
        )


def schedule(cfg: FaultConfig) -> list[tuple[float, str]]:
    """(fraction of the deadline window, fault) in order: kills spread evenly from 10 % to
    90 %, the graceful server stop at 20 % (or between the first two kills) and the hard one
    at 60 %."""
    n = cfg.worker_kills
    kills = [0.1 + 0.8 * i / max(1, n - 1) for i in range(n)] if n > 1 else [0.5] * n
    plan = [(f, "worker_kill") for f in kills]
    plan += [(0.25, "server_sigterm"), (0.6, "server_sigkill")]
    return sorted(plan)


@dataclass
class Timeline:
    """When each fault happened (epoch seconds), as the suite did it."""

    worker_kills: list[dict[str, float]] = field(default_factory=list)
    server_stops: list[dict[str, Any]] = field(default_factory=list)
    channel_down: tuple[float, float] | None = None


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    """The host's environment without its Tierflow or Temporal settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIERFLOW_", "TEMPORAL_"))}
    return env | extra


class Suite:
    def __init__(self, cfg: FaultConfig, workdir: Path, say: Say) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.say = say
        self.server = FileServer(workdir)
        self.smtp = SmtpReceiver()
        self.hook = WebhookReceiver()
        self.queue = f"faults-{uuid.uuid4().hex[:8]}"
        self.base_queue = f"{self.queue}-bare"
        self.workers: list[Supervised] = []
        self.timeline = Timeline()
        self.ids: list[str] = []
        self.base_ids: list[str] = []

    def _workers(self) -> list[Supervised]:
        cfg, address = self.cfg, self.server.address
        common = (
            f"--address {address} --cache {cfg.cache} --sticky-timeout {cfg.sticky_timeout} "
            + ("--sandbox" if cfg.sandbox else "--no-sandbox")
        ).split()
        channels = {
            "TIERFLOW_SMTP_HOST": self.smtp.host,
            "TIERFLOW_SMTP_PORT": str(self.smtp.port),
            "TIERFLOW_CHAT_WEBHOOK_URL": self.hook.url,
        }
        workers = [
            Supervised(
                "tierflow",
                [
                    sys.executable,
                    "-m",
                    "tierflow.cli",
                    "worker",
                    "--task-queue",
                    self.queue,
                    *common,
                ],
                _child_env(channels),
                self.workdir / "worker-tierflow.log",
                restart_delay=cfg.restart_delay,
            )
        ]
        if cfg.baseline:
            ready = str(self.workdir / "baseline.ready")
            bare = ["--task-queue", self.base_queue, "--kind", "baseline", "--ready", ready]
            workers.append(
                Supervised(
                    "baseline",
                    [sys.executable, "-m", "benchmarks.worker_process", *bare, *common],
                    _child_env({}),
                    self.workdir / "worker-baseline.log",
                    restart_delay=cfg.restart_delay,
                )
            )
        return workers

    async def _open(self, client: Client, plain: Client, first_deadline: float) -> None:
        cfg = self.cfg
        tc = TicketClient(client, self.queue)
        gate = asyncio.Semaphore(32)

        def budget(i: int) -> float:
            deadline = first_deadline + cfg.spread * i / max(1, cfg.tickets - 1)
            return max(2.0, deadline - time.time())

        async def one(i: int) -> None:
            async with gate:
                b = budget(i)
                t = tickets.ticket("F")
                await tc.open(t, tickets.policy(timedelta(seconds=b), warning_fraction=0.75))
                self.ids.append(workflow_id_for(t.id))
                if not cfg.baseline:
                    return
                spec = baseline.BaselineSpec(
                    warning=0.75 * b, breach=b, tier2_warning=30 * 86400.0, follow_up=30 * 86400.0
                )
                handle = await tickets.start_baseline(plain, spec, self.base_queue, "FB")
                self.base_ids.append(handle.id)

        await asyncio.gather(*(one(i) for i in range(cfg.tickets)))

    async def _kill_workers(self) -> None:
        done = await asyncio.gather(*(w.kill_and_restart() for w in self.workers))
        entry = {"killed": min(k for k, _ in done)}
        for w, (_, started) in zip(self.workers, done, strict=True):
            entry[f"{w.name}_started"] = started
        self.timeline.worker_kills.append(entry)
        self.say(f"  worker kill {len(self.timeline.worker_kills)}: SIGKILL, started again")

    async def _stop_server(self, sig: signal.Signals) -> None:
        stopped = await self.server.stop(sig)
        await asyncio.sleep(self.cfg.server_down)
        listening = await self.server.start()
        self.timeline.server_stops.append(
            {"signal": sig.name, "stopped": stopped, "listening": listening}
        )
        self.say(
            f"  server {sig.name}: back on the same port and file in {listening - stopped:.1f} s"
        )

    async def _channel_outage(self, start: float) -> None:
        await asyncio.sleep(max(0.0, start - time.time()))
        self.hook.down = True
        began = time.time()
        self.say(f"  chat webhook down (503) for {self.cfg.channel_outage:.0f} s")
        await asyncio.sleep(self.cfg.channel_outage)
        self.hook.down = False
        self.timeline.channel_down = (began, time.time())
        self.say("  chat webhook back")

    async def _faults(self, first_deadline: float) -> None:
        actions: dict[str, Callable[[], Awaitable[None]]] = {
            "worker_kill": self._kill_workers,
            "server_sigterm": lambda: self._stop_server(signal.SIGTERM),
            "server_sigkill": lambda: self._stop_server(signal.SIGKILL),
        }
        for fraction, fault in schedule(self.cfg):
            await asyncio.sleep(max(0.0, first_deadline + fraction * self.cfg.spread - time.time()))
            await actions[fault]()

    async def _count(self, client: Client, queue: str, tier: str) -> int | None:
        try:
            query = f"TaskQueue = '{queue}' AND TicketTier = '{tier}'"
            return (await client.count_workflows(query)).count
        except RPCError:
            return None  # the server is down or starting: ask again later

    async def _wait_escalated(self, client: Client, give_up: float) -> None:
        want = [(self.queue, len(self.ids)), (self.base_queue, len(self.base_ids))]
        while time.time() < give_up:
            counts = [await self._count(client, q, "tier2") for q, _ in want]
            if all(c is not None and c >= n for c, (_, n) in zip(counts, want, strict=True)):
                return
            await asyncio.sleep(2.0)

    async def _read(self, client: Client, ids: list[str], *, bare: bool) -> list[Fate]:
        gate = asyncio.Semaphore(16)

        async def one(wid: str) -> Fate:
            async with gate:
                try:
                    events = await history.fetch(client, wid)
                except RPCError:
                    events = []
            return fault_analysis.fate(wid, events, baseline=bare)

        return list(await asyncio.gather(*(one(w) for w in ids)))

    async def _wait_delivered(self, client: Client, give_up: float) -> None:
        planned: dict[str, str] = {}
        for f in await self._read(client, self.ids, bare=False):
            planned.update(f.planned)
        while time.time() < give_up:
            got = {"email": self.smtp.accepted(), "chat": self.hook.accepted()}
            if all(got[ch][k] > 0 for k, ch in planned.items()):
                return
            await asyncio.sleep(2.0)

    async def run(self) -> dict[str, Any]:
        cfg, say = self.cfg, self.say
        self.smtp.start()
        self.hook.start()
        await self.server.start()
        self.workers = self._workers()
        try:
            client = await connect_local(self.server.address)
            plain = await Client.connect(self.server.address)
            for w in self.workers:
                await w.start()
            lead = auto_lead(cfg.tickets) if cfg.lead is None else cfg.lead
            t0 = time.time()
            first_deadline = t0 + lead
            say(
                f"opening {cfg.tickets} tickets, deadlines over {cfg.spread:.0f} s "
                f"from +{lead:.0f} s"
            )
            await self._open(client, plain, first_deadline)
            opened = time.time()
            outage = asyncio.create_task(self._channel_outage(first_deadline + 0.4 * cfg.spread))
            await self._faults(first_deadline)
            last_deadline = first_deadline + cfg.spread
            await self._wait_escalated(client, last_deadline + max(60.0, cfg.spread))
            await outage
            assert self.timeline.channel_down is not None
            await self._wait_delivered(client, self.timeline.channel_down[1] + DELIVERY_GRACE)
            await asyncio.sleep(2.0)  # let a straggling duplicate land before counting
            say("reading histories")
            fates = await self._read(client, self.ids, bare=False)
            bare = await self._read(client, self.base_ids, bare=True)
            doc = self._figures(fates, bare, t0, opened, first_deadline)
            say("replaying every ticket history with the production worker's configuration")
            replayed = await replay_all(client)
            doc["replay"] = replayed.as_dict()
            doc["nondeterminism"] = len(replayed.nondeterminism)
            doc["goal"]["no_nondeterminism"] = replayed.ok
            return doc
        finally:
            for w in self.workers:
                await w.stop()
            self.server.close()
            self.hook.stop()
            self.smtp.stop()

    def _windows(self, fates: list[Fate]) -> list[Window]:
        windows = [
            Window(
                "worker_kill",
                k["killed"],
                fault_analysis.first_completion_after(fates, k["killed"]),
            )
            for k in self.timeline.worker_kills
        ]
        # A server stop recovers with the first task completed once it listens again (a
        # server stopping gracefully still completes tasks while it drains).
        windows += [
            Window(
                s["signal"],
                s["stopped"],
                fault_analysis.first_completion_after(fates, s["listening"]),
            )
            for s in self.timeline.server_stops
        ]
        return sorted(windows, key=lambda w: w.began)

    def _back_polling(self, name: str) -> list[tuple[float, float | None]]:
        """Each worker kill and the moment the started-again worker ``name`` polled."""
        worker = next((w for w in self.workers if w.name == name), None)
        polled = [] if worker is None else worker.polling
        return [
            (k["killed"], min((p for p in polled if p > k["killed"]), default=None))
            for k in self.timeline.worker_kills
        ]

    def _after_polling(self, fates: list[Fate], name: str) -> dict[str, Any]:
        """Issue 14's recovery figure: tickets due while the worker was dead, escalated this
        long after the new worker polled (the timer fired; what is left is Temporal's hand-over
        of the dead worker's tickets — sticky queue, tasks in flight — and the backlog)."""
        back = self._back_polling(name)
        late: list[float] = []
        for killed, polled in back:
            if polled is not None:
                late += fault_analysis.escalated_after(fates, killed, polled)
        return {
            "polling_after_kill_s": [_r(p - k) if p is not None else None for k, p in back],
            "escalations_due_while_down": len(late),
            "escalated_after_polling_s": _summary(late),
        }

    def _restarted(self, windows: list[Window]) -> list[float]:
        """For each fault, the moment after which a completed task means recovery."""
        listening = {s["stopped"]: s["listening"] for s in self.timeline.server_stops}
        return [listening.get(w.began, w.began) for w in windows]

    def _figures(
        self, fates: list[Fate], bare: list[Fate], t0: float, opened: float, first: float
    ) -> dict[str, Any]:
        cfg, now = self.cfg, time.time()
        windows = self._windows(fates)
        t = fault_analysis.tally(fates, windows, now=now)
        planned: dict[str, str] = {}
        for f in fates:
            planned.update(f.planned)
        d = fault_analysis.deliveries(
            planned,
            {"email": dict(self.smtp.accepted()), "chat": dict(self.hook.accepted())},
            absorbed_chat=self.hook.absorbed(),
        )
        kill_recovery = [w.recovery_s for w in windows if w.kind == "worker_kill"]
        doc: dict[str, Any] = {
            "config": vars(cfg) | {"schedule": schedule(cfg)},
            "open_seconds": round(opened - t0, 1),
            "slack_s": round(first - opened, 1),
            "tickets": t.tickets,
            "tickets_lost": sum(t.lost.values()),
            "tickets_lost_by_kind": t.lost,
            "escalations_missed": t.missed,
            "escalations_duplicated": t.duplicated,
            "escalations_late_over_1s_after_recovery": t.late_over_1s,
            "late_after_recovery_s": _summary(t.late_after_recovery),
            "deliveries_planned": d.planned,
            "deliveries_received": d.received,
            "deliveries_missing": sum(d.missing.values()),
            "deliveries_missing_by_channel": d.missing,
            "deliveries_missing_keys": d.missing_keys,
            "deliveries_duplicated_email": d.duplicated_email,
            "deliveries_deduplicated_by_webhook": d.deduplicated_chat,
            "chat_attempts_refused_503": self.hook.refused(),
            "recovery_after_worker_kill_s": [_r(v) for v in kill_recovery],
            "recovery_after_worker_kill_summary_s": _summary(
                [v for v in kill_recovery if v is not None]
            ),
            "after_worker_kill": self._after_polling(fates, "tierflow"),
            "faults": [
                {
                    "kind": w.kind,
                    "at": fault_analysis.utc(w.began),
                    "at_s_after_first_deadline": _r(w.began - first),
                    "recovery_s": _r(w.recovery_s),
                }
                for w in windows
            ],
            "server_stops": [
                {"signal": s["signal"], "down_s": _r(s["listening"] - s["stopped"])}
                for s in self.timeline.server_stops
            ],
            "worker_exits_on_their_own": {w.name: len(w.exits) for w in self.workers},
            "channel_down_s": _r(
                self.timeline.channel_down[1] - self.timeline.channel_down[0]
                if self.timeline.channel_down
                else None
            ),
        }
        if bare:
            bw = [
                Window(w.kind, w.began, fault_analysis.first_completion_after(bare, after))
                for w, after in zip(windows, self._restarted(windows), strict=True)
            ]
            b = fault_analysis.tally(bare, bw, now=now)
            doc["baseline"] = {
                "tickets": b.tickets,
                "tickets_lost": sum(b.lost.values()),
                "escalations_missed": b.missed,
                "escalations_duplicated": b.duplicated,
                "escalations_late_over_1s_after_recovery": b.late_over_1s,
                "late_after_recovery_s": _summary(b.late_after_recovery),
                "recovery_after_worker_kill_s": [
                    _r(w.recovery_s) for w in bw if w.kind == "worker_kill"
                ],
                "after_worker_kill": self._after_polling(bare, "baseline"),
            }
        doc["goal"] = {
            "zero_lost_missed_duplicated": not (doc["tickets_lost"] or t.missed or t.duplicated),
            "every_delivery_made": doc["deliveries_missing"] == 0,
            "no_duplicate_email": d.duplicated_email == 0,
        }
        return doc


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {k: round(v, 3) for k, v in summarize(values).model_dump().items()}


async def run(cfg: FaultConfig, workdir: Path, say: Say) -> dict[str, Any]:
    return await Suite(cfg, workdir, say).run()
