"""The fault suite: tickets escalate while workers, the server and a channel fail.

Tickets are opened first, with deadlines spread evenly over a window; then, during the window,
the workers are killed with SIGKILL or stopped with SIGTERM and started again (as a process
manager would), the dev server (SQLite on a file) is stopped once with SIGTERM and once with
SIGKILL and started again on the same port and file, and the chat webhook answers 503 for a
while. The workers are Tierflow's own ``tierflow worker`` in child processes (one with the
default cache, one with ``--cache 10``, each on its own task queue), with email (a loopback SMTP
server), chat (a loopback webhook) and the customer webhook (HTTPS on loopback) configured; they
wait for their server with backoff, and the suite starts them again should they exit.

Each worker's tickets come in groups (:data:`GROUPS`) with the same deadlines: a healthy control
group, and one group per slow channel, for which the receivers misbehave from the opening until
the end of the window — a relay that sits on ``DATA``, a chat webhook that never answers or
trickles its answer, a customer webhook whose TLS handshake never completes. Optionally a
bare-Temporal baseline of the same shape (``benchmarks.baseline``) runs beside them on its own
task queue, and its worker is killed and stopped at the same moments.

Everything is then read from outside: histories (lost tickets, missed and duplicated
escalations, lateness after recovery, planned deliveries, recovery after each fault, workflow
tasks failed or timed out), each ticket's status and timeline through Tierflow's client (wedged
tickets, skipped warnings, the escalation's own lateness by group) and the receivers' logs by
idempotency key (deliveries missing, and every resend with its reason). Every ticket
history is then replayed with the production worker's configuration (:mod:`tierflow.replay`):
``nondeterminism`` counts the runs whose replay diverged, and must be 0.
"""

from __future__ import annotations

import asyncio
import re
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
from tierflow.replay import replay_all
from tierflow.statemachine import Ticket

from . import baseline, fault_analysis, history, tickets
from .fault_analysis import Fate, Window
from .fault_targets import CLUSTER_FAULTS, ClusterServer, FileServer, Supervised
from .lateness import auto_lead
from .receivers import (
    SelfSignedCert,
    Slowness,
    SmtpReceiver,
    WebhookReceiver,
    make_self_signed_cert,
)
from .server import worker_env
from .stats import summarize

Say = Callable[[str], None]
# The retry policy of the effects activity gives up after about 90 s of failures (8 attempts,
# backoff to 30 s); deliveries are awaited that long after the channel returns.
DELIVERY_GRACE = 150.0
# The effects activity's start-to-close (workflows/ticket.py): an attempt that delivered an item
# at t has ended by t + this, so only a crash in that span can have kept it from recording it.
ATTEMPT_REACH = 30.0
# How long every ticket gets to answer its status and show no failing workflow task at the end.
WEDGE_WAIT = 60.0
# After a fault, until the workers are back (polling again, or the server listening) and this
# much longer, a deadline's timing is Temporal's hand-over, not the channels': the dead worker's
# sticky queue times out (sticky timeout), a task it held waits out its 10 s task timeout.
SETTLE = 12.0

# Every Tierflow worker's tickets, by the letter in their ids: the control group with healthy
# channels, and one group per slow channel (slow only for that group's items).
CONTROL = "H"
GROUPS = {
    CONTROL: "healthy channels (control)",
    "R": "slow relay: SMTP answers DATA only after relay_delay",
    "N": "chat webhook that reads the request and never answers",
    "T": "chat webhook that trickles its answer one byte a second",
    "S": "customer webhook (HTTPS) whose TLS handshake never completes",
}
_SLOW_CHAT: dict[str, Slowness] = {"N": "hang", "T": "trickle"}
# A ticket's id: worker letter, group letter, "-", random; its keys start with its workflow id.
_KEY_GROUP = re.compile(r"^ticket-[A-Z]([A-Z])-")


def group_of(key: str) -> str | None:
    """The group of the ticket an idempotency key (or workflow id) belongs to."""
    found = _KEY_GROUP.match(key)
    return found.group(1) if found else None


@dataclass
class FaultConfig:
    # Per Tierflow worker, in len(GROUPS) groups of equal size with the same deadlines.
    tickets: int = 500
    spread: float = 240.0
    lead: float | None = None
    worker_kills: int = 5
    # Graceful worker stops (SIGTERM) and restarts, between the kills.
    worker_stops: int = 2
    channel_outage: float = 600.0
    # How long the server stays down each time before it is started again.
    server_down: float = 30.0
    sticky_timeout: float = 3.0
    cache: int = 2000
    sandbox: bool = True
    baseline: bool = True
    restart_delay: float = 1.0
    # A second Tierflow worker with this cache size (0: none), its tickets alike.
    small_cache: int = 10
    # Slow channels: the slow groups' receivers misbehave from the opening to the window's end.
    slow_channels: bool = True
    # The workers' TIERFLOW_DELIVERY_ITEM_TIMEOUT, and how long the slow relay sits on DATA.
    item_timeout: float = 2.0
    relay_delay: float = 6.0
    # The faults fall in this first part of the window; in the rest the slow channels stay
    # slow with the workers and server up, so those deadlines compare with the control's.
    fault_span: float = 0.6
    # What runs Temporal: "devserver" (stopped with SIGTERM and SIGKILL) or "cluster" (one
    # history process, matching and the frontend SIGKILLed, PostgreSQL restarted).
    target: str = "devserver"

    @classmethod
    def small(cls) -> FaultConfig:
        """The size ``make test`` runs: about two minutes."""
        return cls(
            tickets=30,
            spread=30.0,
            fault_span=1.0,
            lead=10.0,
            worker_kills=2,
            worker_stops=1,
            channel_outage=15.0,
            server_down=5.0,
        )


def schedule(cfg: FaultConfig) -> list[tuple[float, str]]:
    """(fraction of the deadline window, fault) in order, within its first ``fault_span``:
    kills spread evenly from 10 % to 90 % of that span, graceful worker stops from 45 % to
    80 %; the dev server's graceful stop at 25 % and its hard one at 60 %, or the cluster's
    faults (:data:`CLUSTER_FAULTS`) evenly from 20 % to 80 %."""
    n, m = cfg.worker_kills, cfg.worker_stops
    kills = [0.1 + 0.8 * i / max(1, n - 1) for i in range(n)] if n > 1 else [0.5] * n
    stops = [0.45 + 0.35 * i / max(1, m - 1) for i in range(m)]
    plan = [(f, "worker_kill") for f in kills] + [(f, "worker_sigterm") for f in stops]
    if cfg.target == "cluster":
        step = 0.6 / max(1, len(CLUSTER_FAULTS) - 1)
        plan += [(0.2 + step * i, kind) for i, kind in enumerate(CLUSTER_FAULTS)]
    else:
        plan += [(0.25, "server_sigterm"), (0.6, "server_sigkill")]
    return sorted((round(f * cfg.fault_span, 4), fault) for f, fault in plan)


@dataclass(frozen=True)
class TierflowWorker:
    """One ``tierflow worker`` of the suite: its name, the letter its tickets' ids start with,
    its cache and task queue, and its tickets by group."""

    name: str
    letter: str
    cache: int
    queue: str
    ids: dict[str, list[str]] = field(default_factory=dict)

    def all_ids(self) -> list[str]:
        return [i for group in self.ids.values() for i in group]


@dataclass
class Timeline:
    """When each fault happened (epoch seconds), as the suite did it."""

    worker_kills: list[dict[str, float]] = field(default_factory=list)
    worker_stops: list[dict[str, float]] = field(default_factory=list)
    server_stops: list[dict[str, Any]] = field(default_factory=list)
    channel_down: tuple[float, float] | None = None
    healed: float | None = None


def _ticket(prefix: str) -> Ticket:
    """A plain ticket; group S's customer came through the web, with no address of their own,
    so Tierflow tells them through the host's webhook."""
    t = tickets.ticket(prefix)
    if not prefix.endswith("S"):
        return t
    data = t.model_dump(mode="json")
    data["channel"] = "web"
    data["customer"]["email"] = None
    return Ticket.model_validate(data)


class Suite:
    def __init__(self, cfg: FaultConfig, workdir: Path, say: Say) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.say = say
        self.server: FileServer | ClusterServer = (
            ClusterServer(workdir) if cfg.target == "cluster" else FileServer(workdir)
        )
        self.cert: SelfSignedCert = make_self_signed_cert(workdir)
        self.smtp = SmtpReceiver()
        self.hook = WebhookReceiver()
        # A loaded machine can answer late (the receivers' threads share it with the suite):
        # past the workers' item timeout an answer confirmed nothing to them.
        self.hook.answer_within = cfg.item_timeout
        # Customers on the web are told through the host's webhook: HTTPS, stalled for group S.
        self.web = WebhookReceiver(tls=self.cert.server_context())
        queue = f"faults-{uuid.uuid4().hex[:8]}"
        self.tierflow = [TierflowWorker("tierflow", "F", cfg.cache, queue)]
        if cfg.small_cache:
            self.tierflow.append(
                TierflowWorker(
                    f"tierflow-cache{cfg.small_cache}", "C", cfg.small_cache, f"{queue}-c"
                )
            )
        self.base_queue = f"{queue}-bare"
        self.workers: list[Supervised] = []
        self.timeline = Timeline()
        self.base_ids: list[str] = []
        self.slot_of: dict[str, int] = {}
        # Each Tierflow ticket's warning and deadline (epoch s), as opened.
        self.due_of: dict[str, tuple[float, float]] = {}

    @property
    def ids(self) -> list[str]:
        return [i for w in self.tierflow for i in w.all_ids()]

    @property
    def slots(self) -> int:
        """Deadlines per group: every group of every worker has one ticket due at each."""
        return max(1, self.cfg.tickets // len(GROUPS))

    def _slow(self) -> None:
        """The slow groups' receivers misbehave (until healed)."""
        if not self.cfg.slow_channels:
            return
        relay = self.cfg.relay_delay
        self.smtp.hold = lambda key: relay if group_of(key) == "R" else 0.0
        self.hook.slow = lambda key: _SLOW_CHAT.get(group_of(key) or "")
        self.web.stalled = True

    def _slowness_met(self) -> bool:
        """Each slow behaviour has held up at least one delivery attempt."""
        return (
            any(a.accepted and not a.confirmed for a in self.smtp.arrivals)
            and any(not a.accepted and group_of(a.key) == "N" for a in self.hook.arrivals)
            and any(a.accepted and not a.confirmed for a in self.hook.arrivals)
            and self.web.stalled_connections > 0
        )

    def _heal(self) -> None:
        for receiver in (self.smtp, self.hook, self.web):
            receiver.heal()
        self.timeline.healed = time.time()
        self.say("  slow channels healthy again")

    def _workers(self) -> list[Supervised]:
        cfg, address = self.cfg, self.server.address
        flags = f"--address {address} --sticky-timeout {cfg.sticky_timeout} " + (
            "--sandbox" if cfg.sandbox else "--no-sandbox"
        )
        channels = {
            "TIERFLOW_SMTP_HOST": self.smtp.host,
            "TIERFLOW_SMTP_PORT": str(self.smtp.port),
            "TIERFLOW_CHAT_WEBHOOK_URL": self.hook.url,
            "TIERFLOW_WEBHOOK_URL": self.web.url,
            "TIERFLOW_WEBHOOK_SECRET": "faults-webhook-secret",
            "TIERFLOW_DELIVERY_ITEM_TIMEOUT": str(cfg.item_timeout),
            # httpx trusts the loopback webhook's certificate through this.
            "SSL_CERT_FILE": str(self.cert.cert_file),
            # The cluster's client certificate and CA (TEMPORAL_TLS_*), as in production.
            **self.server.client_env(),
        }
        workers = [
            Supervised(
                w.name,
                [
                    *(sys.executable, "-m", "tierflow.cli", "worker"),
                    *("--task-queue", w.queue, "--cache", str(w.cache)),
                    *flags.split(),
                ],
                worker_env(channels),
                self.workdir / f"worker-{w.name}.log",
                restart_delay=cfg.restart_delay,
            )
            for w in self.tierflow
        ]
        if cfg.baseline:
            ready = str(self.workdir / "baseline.ready")
            bare = ["--task-queue", self.base_queue, "--kind", "baseline", "--ready", ready]
            workers.append(
                Supervised(
                    "baseline",
                    [
                        *(sys.executable, "-m", "benchmarks.worker_process", *bare),
                        *("--cache", str(cfg.cache), *flags.split()),
                    ],
                    worker_env(self.server.client_env()),
                    self.workdir / "worker-baseline.log",
                    restart_delay=cfg.restart_delay,
                )
            )
        return workers

    async def _open(self, client: Client, plain: Client, first_deadline: float) -> None:
        cfg, slots = self.cfg, self.slots
        gate = asyncio.Semaphore(32)

        def budget(slot: int) -> float:
            deadline = first_deadline + cfg.spread * slot / max(1, slots - 1)
            return max(2.0, deadline - time.time())

        async def one(w: TierflowWorker, group: str, slot: int) -> None:
            async with gate:
                t = _ticket(w.letter + group)
                b = budget(slot)
                await TicketClient(client, w.queue).open(
                    t, tickets.policy(timedelta(seconds=b), warning_fraction=0.75)
                )
                wid = workflow_id_for(t.id)
                w.ids.setdefault(group, []).append(wid)
                self.slot_of[wid] = slot
                now = time.time()
                self.due_of[wid] = (now + 0.75 * b, now + b)

        async def bare(slot: int) -> None:
            async with gate:
                b = budget(slot)
                spec = baseline.BaselineSpec(
                    warning=0.75 * b, breach=b, tier2_warning=30 * 86400.0, follow_up=30 * 86400.0
                )
                handle = await tickets.start_baseline(plain, spec, self.base_queue, "FB")
                self.base_ids.append(handle.id)

        opening = [one(w, g, k) for k in range(slots) for w in self.tierflow for g in GROUPS]
        if cfg.baseline:
            opening += [bare(k) for k in range(slots) for _ in GROUPS]
        await asyncio.gather(*opening)

    async def _restart_workers(self, sig: signal.Signals) -> None:
        done = await asyncio.gather(*(w.restart(sig) for w in self.workers))
        entry = {"signalled": min(k for k, _ in done)}
        for w, (_, started) in zip(self.workers, done, strict=True):
            entry[f"{w.name}_started"] = started
        record = self.timeline.worker_kills if sig == signal.SIGKILL else self.timeline.worker_stops
        record.append(entry | ({"killed": entry["signalled"]} if sig == signal.SIGKILL else {}))
        self.say(f"  workers {sig.name}: started again")

    async def _cluster_fault(self, kind: str) -> None:
        assert isinstance(self.server, ClusterServer)
        entry = await self.server.fault(kind, self.cfg.server_down)
        self.timeline.server_stops.append(entry)
        self.say(f"  cluster {kind}: back in {entry['listening'] - entry['stopped']:.1f} s")

    async def _stop_server(self, sig: signal.Signals) -> None:
        assert isinstance(self.server, FileServer)
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
            "worker_kill": lambda: self._restart_workers(signal.SIGKILL),
            "worker_sigterm": lambda: self._restart_workers(signal.SIGTERM),
            "server_sigterm": lambda: self._stop_server(signal.SIGTERM),
            "server_sigkill": lambda: self._stop_server(signal.SIGKILL),
        }
        for kind in CLUSTER_FAULTS:
            actions[kind] = lambda kind=kind: self._cluster_fault(kind)  # type: ignore[misc]
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
        want = [(w.queue, len(w.all_ids())) for w in self.tierflow]
        want.append((self.base_queue, len(self.base_ids)))
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

    def _receivers(self) -> dict[str, WebhookReceiver | SmtpReceiver]:
        return {"email": self.smtp, "chat": self.hook, "webhook": self.web}

    async def _wait_delivered(self, client: Client, give_up: float) -> None:
        planned: dict[str, str] = {}
        for f in await self._read(client, self.ids, bare=False):
            planned.update(f.planned)
        while time.time() < give_up:
            got = {ch: r.accepted() for ch, r in self._receivers().items()}
            if all(got[ch][k] > 0 for k, ch in planned.items()):
                return
            await asyncio.sleep(2.0)

    async def _ticket_records(self, client: Client) -> dict[str, Any]:
        """Each Tierflow ticket through Tierflow's own client once everything is over: whether
        it answers its status and has no failing workflow task (else: wedged, with the
        reason), its warning before the breach, its escalation's own lateness."""
        gate = asyncio.Semaphore(8)
        wedged: dict[str, str] = {}
        records: dict[str, fault_analysis.Record] = {}

        async def one(w: TierflowWorker, wid: str) -> None:
            tc = TicketClient(client, w.queue)
            tid = wid.removeprefix(workflow_id_for(""))
            reason = "never answered"
            async with gate:
                give_up = time.time() + WEDGE_WAIT
                while time.time() < give_up:
                    try:
                        await tc.status(tid)
                        desc = await client.get_workflow_handle(wid).describe()
                        pending = desc.raw_description.pending_workflow_task
                        if pending.attempt > 1:
                            raise RuntimeError(f"workflow task failing (attempt {pending.attempt})")
                        entries = await tc.timeline(tid)
                    except Exception as err:
                        reason = f"{type(err).__name__}: {err}"[:300]
                        await asyncio.sleep(2.0)
                        continue
                    records[wid] = fault_analysis.record([e.model_dump() for e in entries])
                    return
            wedged[wid] = reason

        await asyncio.gather(*(one(w, wid) for w in self.tierflow for wid in w.all_ids()))
        return {"wedged": wedged, "records": records}

    async def run(self) -> dict[str, Any]:
        cfg, say = self.cfg, self.say
        for receiver in self._receivers().values():
            receiver.start()
        self._slow()
        try:
            await self.server.start()
            self.workers = self._workers()
            client, plain = await self.server.clients()
            for w in self.workers:
                await w.start()
            lead = auto_lead(len(self.tierflow) * cfg.tickets) if cfg.lead is None else cfg.lead
            t0 = time.time()
            first_deadline = t0 + lead
            say(
                f"opening {self.slots * len(GROUPS)} tickets on each of {len(self.tierflow)} "
                f"Tierflow workers, deadlines over {cfg.spread:.0f} s from +{lead:.0f} s"
            )
            await self._open(client, plain, first_deadline)
            opened = time.time()
            outage = asyncio.create_task(self._channel_outage(first_deadline + 0.4 * cfg.spread))
            await self._faults(first_deadline)
            last_deadline = first_deadline + cfg.spread
            await asyncio.sleep(max(0.0, last_deadline + 1.0 - time.time()))
            # On a loaded machine the workers may have spent the window starting again: the
            # channels stay slow until each slow behaviour has met a worker (at most a minute).
            give_up = time.time() + 60.0
            while cfg.slow_channels and not self._slowness_met() and time.time() < give_up:  # noqa: ASYNC110 (polls receivers in other threads)
                await asyncio.sleep(1.0)
            self._heal()
            await self._wait_escalated(client, last_deadline + max(60.0, cfg.spread))
            await outage
            assert self.timeline.channel_down is not None
            back = max(self.timeline.channel_down[1], self.timeline.healed or 0.0)
            await self._wait_delivered(client, back + DELIVERY_GRACE)
            await asyncio.sleep(2.0)  # let a straggling duplicate land before counting
            say("reading tickets and histories")
            tickets_read = await self._ticket_records(client)
            fates = await self._read(client, self.ids, bare=False)
            bare = await self._read(client, self.base_ids, bare=True)
            doc = self._figures(fates, bare, tickets_read, t0, opened, first_deadline)
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
            for receiver in self._receivers().values():
                receiver.stop()

    def _windows(self, fates: list[Fate]) -> list[Window]:
        windows = [
            Window(
                kind, k["signalled"], fault_analysis.first_completion_after(fates, k["signalled"])
            )
            for kind, entries in (
                ("worker_kill", self.timeline.worker_kills),
                ("worker_sigterm", self.timeline.worker_stops),
            )
            for k in entries
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

    def _disturbed(self) -> list[tuple[float, float]]:
        """Spans in which deadlines are timed by the faults (see ``SETTLE``)."""
        polled = sorted(p for w in self.workers if w.name.startswith("tierflow") for p in w.polling)
        spans = []
        for k in [*self.timeline.worker_kills, *self.timeline.worker_stops]:
            back = [p for p in polled if p > k["signalled"]]
            # Back once every Tierflow worker polls again (the last of them).
            n = len(self.tierflow)
            spans.append(
                (k["signalled"] - 1.0, (back[n - 1] if len(back) >= n else float("inf")) + SETTLE)
            )
        spans += [(s["stopped"] - 1.0, s["listening"] + SETTLE) for s in self.timeline.server_stops]
        return spans

    def _quiet(self, moment: float) -> bool:
        return not any(lo <= moment <= hi for lo, hi in self._disturbed())

    def _crashes(self) -> list[tuple[float, float]]:
        """Worker SIGKILLs and server stops: what may keep an attempt from recording."""
        kills = [(k["signalled"], k["signalled"]) for k in self.timeline.worker_kills]
        return kills + [(s["stopped"], s["listening"]) for s in self.timeline.server_stops]

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
        self,
        fates: list[Fate],
        bare: list[Fate],
        read: dict[str, Any],
        t0: float,
        opened: float,
        first: float,
    ) -> dict[str, Any]:
        cfg, now = self.cfg, time.time()
        windows = self._windows(fates)
        t = fault_analysis.tally(fates, windows, now=now)
        planned: dict[str, str] = {}
        for f in fates:
            planned.update(f.planned)
        d = fault_analysis.deliveries(
            planned,
            {ch: dict(r.accepted()) for ch, r in self._receivers().items()},
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
            "worker_stops_sigterm": len(self.timeline.worker_stops),
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
                # Each fault's recovery beside Tierflow's (doc["faults"]), in the same order.
                "faults": [{"kind": w.kind, "recovery_s": _r(w.recovery_s)} for w in bw],
                "after_worker_kill": self._after_polling(bare, "baseline"),
            }
        slow = self._slow_figures([*fates, *bare], read, t0)
        doc["slow_channels"] = slow
        doc["goal"] = {
            "zero_lost_missed_duplicated": not (doc["tickets_lost"] or t.missed or t.duplicated),
            "every_delivery_made": doc["deliveries_missing"] == 0,
            "no_duplicate_email": d.duplicated_email == 0,
            "slow_channels_touch_no_ticket": not any(
                slow[k]
                for k in (
                    "nondeterminism_errors",
                    "tickets_wedged",
                    "warnings_skipped",
                    "groups_later_than_control_over_1s",
                    "resent_after_confirmed_unexplained",
                )
            ),
        }
        return doc

    def _slow_figures(self, every: list[Fate], read: dict[str, Any], t0: float) -> dict[str, Any]:
        """What the slow channels did to the tickets (see docs/benchmarks.md, Fault suite)."""
        records: dict[str, fault_analysis.Record] = read["records"]
        wedged: dict[str, str] = read["wedged"]
        failures: dict[str, int] = {}
        for f in every:
            for cause, n in f.task_failures.items():
                failures[cause] = failures.get(cause, 0) + n
        skipped = sorted(wid for wid, r in records.items() if not r.warned)
        # A warning due while the workers or the server were away may rightly come with the
        # breach (a target that breached is not warned about): owed are the others.
        owed = [wid for wid in skipped if self._quiet(self.due_of[wid][0])]
        lateness: dict[str, Any] = {}
        by_slot: dict[str, Any] = {}
        later_pairs = 0
        for w in self.tierflow:
            late_s = {
                g: [
                    late / 1000
                    for wid in ids
                    if wid in records
                    and (late := records[wid].late_ms) is not None
                    and self._quiet(self.due_of[wid][1])
                ]
                for g, ids in w.ids.items()
            }
            groups = fault_analysis.group_lateness(late_s, CONTROL)
            lateness[w.name] = {g: vars(v) for g, v in groups.items()}
            by_slot[w.name] = {
                g: [
                    records[wid].late_ms if wid in records else None
                    for wid in sorted(ids, key=self.slot_of.__getitem__)
                ]
                for g, ids in w.ids.items()
            }
            later_pairs += self._later_than_twin(w, records)
        resent = {
            ch: fault_analysis.resends(r.arrivals, self._crashes(), reach=ATTEMPT_REACH)
            for ch, r in self._receivers().items()
        }
        hung = [a for a in self.hook.arrivals if not a.accepted and group_of(a.key) == "N"]
        return {
            "groups": GROUPS,
            "slow_s": _r((self.timeline.healed or t0) - t0),
            "nondeterminism_errors": sum(f.nondeterministic for f in every),
            "workflow_task_failures_by_cause": failures,
            "workflow_task_timeouts": sum(f.task_timeouts for f in every),
            "tickets_read": len(records),
            "tickets_wedged": len(wedged),
            "wedged": dict(sorted(wedged.items())[:20]),
            "warnings_skipped": len(owed),
            "warnings_skipped_tickets": owed[:20],
            "warnings_not_given_as_due_during_a_fault": len(skipped) - len(owed),
            "disturbed_spans_s": [
                [_r(lo - t0), _r(hi - t0)] for lo, hi in sorted(self._disturbed())
            ],
            "escalation_lateness_by_group": lateness,
            "escalation_late_ms_by_slot": by_slot,
            "groups_later_than_control_over_1s": sum(
                v["p99_over_control_s"] > 1.0
                for groups in lateness.values()
                for v in groups.values()
            ),
            "escalations_later_than_same_deadline_control_over_1s": later_pairs,
            "resends_by_channel": {ch: vars(r) for ch, r in resent.items()},
            "resent_unconfirmed": sum(r.unconfirmed for r in resent.values()),
            "resent_after_crash": sum(r.after_crash for r in resent.values()),
            "resent_after_confirmed_unexplained": sum(r.unexplained for r in resent.values()),
            "emails_held_by_slow_relay": sum(
                1 for a in self.smtp.arrivals if a.accepted and not a.confirmed
            ),
            "chat_requests_never_answered": len(hung),
            "chat_answers_trickled_unfinished": sum(
                1 for a in self.hook.arrivals if a.accepted and not a.confirmed
            ),
            "tls_connections_stalled": self.web.stalled_connections,
        }

    def _later_than_twin(self, w: TierflowWorker, records: dict[str, fault_analysis.Record]) -> int:
        """Slow-group escalations more than 1 s later than the control ticket due with them,
        of those due outside the faults' spans (the same for both: they share a deadline)."""
        control = {
            self.slot_of[wid]: records[wid].late_ms
            for wid in w.ids.get(CONTROL, [])
            if wid in records and self._quiet(self.due_of[wid][1])
        }
        later = 0
        for g, ids in w.ids.items():
            if g == CONTROL:
                continue
            for wid in ids:
                twin = control.get(self.slot_of[wid])
                mine = records[wid].late_ms if wid in records else None
                later += twin is not None and mine is not None and mine - twin > 1000
        return later


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {k: round(v, 3) for k, v in summarize(values).model_dump().items()}


async def run(cfg: FaultConfig, workdir: Path, say: Say) -> dict[str, Any]:
    return await Suite(cfg, workdir, say).run()
