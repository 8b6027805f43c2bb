"""Run Tierflow's benchmarks against a Temporal server of their own.

    python -m benchmarks [--suite all|throughput|latency|lateness|cost|capacity|memory]
        [--target devserver|cluster]
        [--tickets N] [--agents 50] [--lateness-tickets 10000] [--spread-seconds 180]
        [--no-lateness-baseline] [--no-replay] [--json PATH] [--tiny]
        [--capacity-processes 1,2,4] [--capacity-kinds tierflow,baseline]
        [--capacity-rates 5,10,20,40,60,80,120,160,240] [--capacity-window 30]
    python -m benchmarks --suite memory [--memory-tickets 1000]
    python -m benchmarks --suite faults [--small] [--tickets 500] [--spread-seconds 240]
        [--worker-kills 5] [--worker-stops 2] [--channel-outage 600] [--sticky-timeout 3]
        [--small-cache 10] [--item-timeout 2] [--no-slow-channels] [--no-baseline]

Prints the figures and the targets' verdicts, and writes them as JSON
(``benchmarks/results/latest.json``, for the fault suite ``benchmarks/results/faults.json``,
unless ``--json`` says otherwise). Before its server stops, every ticket history is replayed with
the production worker's configuration (``--no-replay`` skips it, except in the fault suite);
nondeterminism makes the command fail. The fault suite (``benchmarks.faults``) runs alone: it starts
and breaks a server of its own. ``--target cluster`` runs any suite on a production-shaped cluster
of its own (``make cluster``'s, docs/cluster.md) instead of the Temporal CLI's dev server.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tierflow.cluster.layout import DEFAULT_SHARDS, HISTORY_PROCESSES, SERVER_VERSION
from tierflow.config import DEFAULT_CACHE_SIZE, MAX_WORKER_PROCESSES
from tierflow.replay import replay_all

from . import capacity, cost, faults, latency, lateness, lifecycle, memory, report
from .server import TARGETS, BenchServer, WorkerProcess, bench_server
from .worker_process import SLOTS_ENV

SUITES = ("throughput", "latency", "lateness", "cost", "capacity", "memory")
DEFAULT_JSON = Path(__file__).parent / "results" / "latest.json"
FAULTS_JSON = Path(__file__).parent / "results" / "faults.json"
# What each target (--target) runs Temporal on: every JSON document names it.
SERVERS = {
    "devserver": "Temporal CLI dev server",
    "cluster": f"Temporal server {SERVER_VERSION} cluster on PostgreSQL (make cluster: frontend, "
    f"{HISTORY_PROCESSES} history, matching, worker processes; {DEFAULT_SHARDS} history shards; "
    "mTLS)",
}
# ... and what the fault suite does to it.
FAULT_SERVERS = {
    "devserver": f"{SERVERS['devserver']} (SQLite file, stopped and restarted)",
    "cluster": f"{SERVERS['cluster']}, one process killed at a time, PostgreSQL restarted",
}


@dataclass
class Config:
    suites: tuple[str, ...]
    tickets: int = 500
    agents: int = 50
    tickets_per_agent: int = 2
    actions_per_agent: int = 20
    lateness_tickets: int = 10_000
    spread: float = 180.0
    lead: float | None = None
    # The same lateness run on bare Temporal, beside Tierflow's.
    lateness_baseline: bool = True
    cost_tickets: int = 50
    memory_tickets: int = 1000
    cache: int = DEFAULT_CACHE_SIZE
    sandbox: bool = True
    db_file: bool = False
    # Which Temporal the suites run on: one of server.TARGETS.
    target: str = "devserver"
    # Replay every ticket history with the production worker's configuration at the end.
    replay: bool = True
    shape: lifecycle.LifecycleShape = field(default_factory=lifecycle.LifecycleShape)
    capacity: capacity.CapacityConfig = field(default_factory=capacity.CapacityConfig)

    @classmethod
    def tiny(cls, suites: tuple[str, ...]) -> Config:
        """Sizes for a smoke test: every figure, in seconds."""
        return cls(
            suites=suites,
            tickets=6,
            agents=4,
            tickets_per_agent=1,
            actions_per_agent=4,
            lateness_tickets=12,
            spread=2.0,
            lead=4.0,
            cost_tickets=3,
            memory_tickets=10,
            shape=lifecycle.LifecycleShape(resolution=1.0, follow_up=0.5),
            capacity=capacity.CapacityConfig.tiny(),
        )


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


async def _throughput(server: BenchServer, cfg: Config, console: Console) -> dict[str, Any]:
    batches: dict[str, lifecycle.BatchResult] = {}
    for kind in ("baseline", "tierflow"):
        client = server.plain if kind == "baseline" else server.client
        with _progress(console) as bar:
            task = bar.add_task(f"throughput: {kind} lifecycles", total=cfg.tickets)
            async with WorkerProcess(server, kind, cfg.cache, cfg.sandbox) as worker:
                batches[kind] = await lifecycle.run_batch(
                    kind,
                    client,
                    worker.task_queue,
                    cfg.tickets,
                    shape=cfg.shape,
                    progress=functools.partial(bar.advance, task),
                )
    return report.throughput(batches["tierflow"], batches["baseline"])


async def _latency(server: BenchServer, cfg: Config, console: Console) -> dict[str, Any]:
    """Agents' round trips in two pairs, each Tierflow beside the bare workflow doing the same
    work: actions that only change the ticket (the policy notifies nobody on assignment), and
    assignments that tell the assignee and the host in an activity (Tierflow's default)."""
    results: dict[tuple[str, bool], latency.LatencyResult] = {}
    for notifying in (False, True):
        for kind in ("tierflow", "baseline"):
            label = f"agent actions ({kind}{', notifying' if notifying else ''})"
            client = server.client if kind == "tierflow" else server.plain
            with _progress(console) as bar:
                task = bar.add_task(label, total=cfg.agents * cfg.actions_per_agent)
                async with WorkerProcess(server, kind, cfg.cache, cfg.sandbox) as worker:
                    results[kind, notifying] = await latency.run(
                        client,
                        worker.task_queue,
                        kind="tierflow" if kind == "tierflow" else "baseline",
                        agents=cfg.agents,
                        tickets_per_agent=cfg.tickets_per_agent,
                        actions_per_agent=cfg.actions_per_agent,
                        progress=functools.partial(bar.advance, task),
                        notifying=notifying,
                    )
    return report.latency(
        results["tierflow", False],
        results["baseline", False],
        notifying=(results["tierflow", True], results["baseline", True]),
    )


async def _lateness_of(
    server: BenchServer, cfg: Config, console: Console, kind: str
) -> lateness.LatenessResult:
    n = cfg.lateness_tickets
    label = "lateness" if kind == "tierflow" else "lateness (bare)"
    client = server.client if kind == "tierflow" else server.plain
    with _progress(console) as bar:
        opening = bar.add_task(f"{label}: opening tickets", total=n)
        escalating = bar.add_task(f"{label}: escalated", total=n)
        reading = bar.add_task(f"{label}: reading histories", total=n)
        async with WorkerProcess(server, kind, cfg.cache, cfg.sandbox) as worker:
            result = await lateness.run(
                client,
                worker,
                count=n,
                spread=cfg.spread,
                lead=cfg.lead,
                on_opened=lambda k: bar.update(opening, completed=k),
                on_escalated=lambda k: bar.update(escalating, completed=k),
                on_read=lambda: bar.advance(reading),
            )
        result.peak_rss_mib = worker.peak_rss_mib
    return result


async def _lateness(server: BenchServer, cfg: Config, console: Console) -> dict[str, Any]:
    tierflow = await _lateness_of(server, cfg, console, "tierflow")
    bare = await _lateness_of(server, cfg, console, "baseline") if cfg.lateness_baseline else None
    return report.lateness(tierflow, bare)


async def run(cfg: Config, console: Console, out: Path | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "config": {k: v for k, v in vars(cfg).items() if k not in ("suites", "shape", "capacity")}
        | {"lifecycle_shape_s": vars(cfg.shape), "capacity": vars(cfg.capacity)}
        # None: Temporal's default.
        | {"tierflow_workflow_task_slots": os.environ.get(SLOTS_ENV)},
    }
    began = time.monotonic()

    def save() -> None:
        """Write the figures so far: a long run that dies keeps its finished suites."""
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(doc, indent=2, default=str) + "\n")

    async with bench_server(cfg.db_file, cfg.target) as server:
        label = SERVERS[cfg.target]
        if cfg.target == "devserver":
            label += " (SQLite file)" if cfg.db_file else " (SQLite in memory)"
        doc["temporal"] = {"target": cfg.target, "server": label}
        if "throughput" in cfg.suites:
            doc["throughput"] = await _throughput(server, cfg, console)
            save()
        if "latency" in cfg.suites:
            doc["latency"] = await _latency(server, cfg, console)
            save()
        if "cost" in cfg.suites:
            with console.status("cost: standard lifecycles, counting actions"):
                counted = {
                    kind: await cost.run(
                        server, kind, cfg.cost_tickets, cfg.cache, cfg.shape, cfg.sandbox
                    )
                    for kind in ("tierflow", "baseline")
                }
                doc["cost"] = report.cost(counted["tierflow"], counted["baseline"])
                doc["cost_baseline"] = report.cost(counted["baseline"])
            with console.status("cost: one UI view, one GET /tickets/{id}, one report row"):
                doc["cost_reads"] = report.read_costs(
                    await cost.read_costs(server, cfg.cache, cfg.sandbox)
                )
            save()
        if "lateness" in cfg.suites:
            doc["lateness"] = await _lateness(server, cfg, console)
            save()
        if "memory" in cfg.suites:
            # Sandbox as configured first (the target's figure), then the other way.
            sandboxes = (cfg.sandbox, not cfg.sandbox)
            with console.status("memory: tickets held in the worker's cache") as status:
                doc["memory"] = await memory.run(
                    server, cfg.memory_tickets, sandboxes=sandboxes, progress=status.update
                )
        if "capacity" in cfg.suites:
            cap = cfg.capacity
            cap.cache, cap.sandbox = cfg.cache, cfg.sandbox
            doc["capacity"] = report.capacity(await capacity.run(server, cap, console.print), cap)
        if cfg.replay:
            with console.status("replaying every ticket history (the replay net)"):
                doc["replay"] = (await replay_all(server.client)).as_dict()
    doc["elapsed_s"] = round(time.monotonic() - began, 1)
    save()
    return doc


def parse_args(argv: list[str] | None = None) -> tuple[Config | faults.FaultConfig, Path]:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--suite", choices=["all", *SUITES, "faults"], default="all")
    p.add_argument("--tickets", type=int, help="lifecycles for throughput (default 500)")
    p.add_argument("--agents", type=int, help="concurrent agents (default 50)")
    p.add_argument("--actions-per-agent", type=int, help="updates per agent (default 20)")
    p.add_argument("--lateness-tickets", type=int, help="open tickets (default 10000)")
    p.add_argument("--spread-seconds", type=float, help="deadline window (default 180)")
    p.add_argument("--lead-seconds", type=float, help="open phase before the first deadline")
    p.add_argument("--lateness-baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="run the lateness suite on bare Temporal too (default: on)")  # fmt: skip
    p.add_argument("--cost-tickets", type=int, help="lifecycles whose cost is counted (default 50)")
    p.add_argument("--memory-tickets", type=int, help="open tickets held in cache (default 1000)")
    p.add_argument("--cache", type=int, help=f"max_cached_workflows (default {DEFAULT_CACHE_SIZE})")
    p.add_argument(
        "--sandbox",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run workflows in Temporal's Python sandbox (default: on, as the worker does)",
    )
    p.add_argument(
        "--workflow-task-slots",
        type=int,
        help="workflow tasks a Tierflow worker process runs at once (default: Tierflow's)",
    )
    p.add_argument(
        "--db-file", action="store_true", help="server database on disk (default: in memory)"
    )
    p.add_argument("--target", choices=TARGETS, default="devserver",
                   help="Temporal: the dev server or make cluster's (docs/cluster.md)")  # fmt: skip
    c = p.add_argument_group("capacity suite (--suite capacity)")
    c.add_argument("--capacity-processes", type=_ints, help="worker process counts (1,2,4)")
    c.add_argument("--capacity-kinds", type=_kinds, help="tierflow,baseline (default both)")
    c.add_argument("--capacity-rates", type=_floats,
                   help="escalations/s per step (5,10,20,40,60,80,120,160,240)")  # fmt: skip
    c.add_argument("--capacity-window", type=float, help="seconds each step lasts (default 30)")
    c.add_argument("--capacity-sample", type=int, help="histories read per step (default 1000)")
    c.add_argument("--profile", type=Path, metavar="DIR",
                   help="py-spy the workers into DIR; report the top entries")  # fmt: skip
    p.add_argument(
        "--replay",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="replay every ticket history at the end; nondeterminism fails the run (default: on)",
    )
    p.add_argument("--json", type=Path, help="where to write the figures")
    p.add_argument("--tiny", action="store_true", help="smoke-test sizes (seconds, not minutes)")
    f = p.add_argument_group("fault suite (--suite faults)")
    f.add_argument("--small", action="store_true", help="30 tickets a worker, 2 kills, 15 s outage")
    f.add_argument("--worker-kills", type=int, help="SIGKILLs of the workers (default 5)")
    f.add_argument("--worker-stops", type=int, help="SIGTERMs of the workers (default 2)")
    f.add_argument("--small-cache", type=int,
                   help="a second Tierflow worker's cache (default 10; 0: none)")  # fmt: skip
    f.add_argument("--item-timeout", type=float, help="the workers' delivery item timeout (2)")
    f.add_argument("--slow-channels", action=argparse.BooleanOptionalAction, default=True,
                   help="slow-channel groups beside the control (default: on)")  # fmt: skip
    f.add_argument("--channel-outage", type=float, help="seconds the chat webhook answers 503")
    f.add_argument("--sticky-timeout", type=float, help="the workers' sticky-queue timeout (3)")
    f.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="kill a bare-Temporal baseline's worker alike (default: on)")  # fmt: skip
    args = p.parse_args(argv)
    if args.db_file and args.target != "devserver":
        p.error("--db-file is the dev server's: the cluster's database is PostgreSQL")
    if args.workflow_task_slots is not None:
        if args.workflow_task_slots < 2:
            p.error("--workflow-task-slots: at least 2")
        # The worker processes read it (benchmarks.worker_process).
        os.environ[SLOTS_ENV] = str(args.workflow_task_slots)
    if args.suite == "faults":
        return _fault_config(args), args.json or FAULTS_JSON
    suites = SUITES if args.suite == "all" else (args.suite,)
    cfg = Config.tiny(suites) if args.tiny else Config(suites=suites)
    cfg.db_file = args.db_file
    cfg.target = args.target
    cfg.sandbox = args.sandbox
    cfg.lateness_baseline = args.lateness_baseline
    cfg.replay = args.replay
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        cfg.capacity.profile = args.profile
    for flag, attr in (
        ("tickets", "tickets"),
        ("agents", "agents"),
        ("actions_per_agent", "actions_per_agent"),
        ("lateness_tickets", "lateness_tickets"),
        ("spread_seconds", "spread"),
        ("lead_seconds", "lead"),
        ("cost_tickets", "cost_tickets"),
        ("memory_tickets", "memory_tickets"),
        ("cache", "cache"),
    ):
        if getattr(args, flag) is not None:
            setattr(cfg, attr, getattr(args, flag))
    for flag, attr in (
        ("capacity_processes", "processes"),
        ("capacity_kinds", "kinds"),
        ("capacity_rates", "rates"),
        ("capacity_window", "window"),
        ("capacity_sample", "sample"),
    ):
        if getattr(args, flag) is not None:
            setattr(cfg.capacity, attr, getattr(args, flag))
    return cfg, args.json or DEFAULT_JSON


def _ints(text: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.split(","))
    if not values or any(not 1 <= v <= MAX_WORKER_PROCESSES for v in values):
        raise argparse.ArgumentTypeError(f"process counts of 1 to {MAX_WORKER_PROCESSES}")
    return values


def _floats(text: str) -> tuple[float, ...]:
    values = tuple(float(v) for v in text.split(","))
    if not values or any(v <= 0 for v in values) or list(values) != sorted(values):
        raise argparse.ArgumentTypeError("rising positive rates, e.g. 10,20,40")
    return values


def _kinds(text: str) -> tuple[lifecycle.Kind, ...]:
    kinds: list[lifecycle.Kind] = []
    for v in text.split(","):
        if v not in ("tierflow", "baseline"):
            raise argparse.ArgumentTypeError("tierflow and/or baseline")
        kinds.append("tierflow" if v == "tierflow" else "baseline")
    return tuple(kinds)


def _fault_config(args: argparse.Namespace) -> faults.FaultConfig:
    cfg = faults.FaultConfig.small() if args.small or args.tiny else faults.FaultConfig()
    cfg.sandbox = args.sandbox
    cfg.baseline = args.baseline
    cfg.slow_channels = args.slow_channels
    cfg.target = args.target
    for flag, attr in (
        ("tickets", "tickets"),
        ("spread_seconds", "spread"),
        ("lead_seconds", "lead"),
        ("cache", "cache"),
        ("worker_kills", "worker_kills"),
        ("worker_stops", "worker_stops"),
        ("small_cache", "small_cache"),
        ("item_timeout", "item_timeout"),
        ("channel_outage", "channel_outage"),
        ("sticky_timeout", "sticky_timeout"),
    ):
        if getattr(args, flag) is not None:
            setattr(cfg, attr, getattr(args, flag))
    return cfg


def run_faults(cfg: faults.FaultConfig, console: Console, out: Path) -> dict[str, Any]:
    began = time.monotonic()
    doc: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "temporal": {"target": cfg.target, "server": FAULT_SERVERS[cfg.target]},
    }
    with tempfile.TemporaryDirectory(prefix="tierflow-faults-") as tmp:
        doc["faults"] = asyncio.run(faults.run(cfg, Path(tmp), console.print))
    doc["elapsed_s"] = round(time.monotonic() - began, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return doc


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cfg, out = parse_args(argv)
    console = Console()
    if isinstance(cfg, faults.FaultConfig):
        doc = run_faults(cfg, console, out)
        report.render_faults(doc["faults"], console)
        console.print(f"on {doc['temporal']['server']}; figures written to {out}")
        return doc
    doc = asyncio.run(run(cfg, console, out))
    report.render(doc, console)
    if "memory" in doc:
        memory.render(doc["memory"], console)
    console.print(f"on {doc['temporal']['server']}; figures written to {out}")
    return doc


def nondeterminism(doc: dict[str, Any]) -> int:
    """How many ticket runs the replay net found nondeterministic in ``doc`` (a run's JSON)."""
    counted = doc.get("faults", {}).get("nondeterminism")
    if counted is None:
        counted = doc.get("replay", {}).get("nondeterminism", 0)
    return int(counted)


if __name__ == "__main__":
    found = nondeterminism(main())
    if found:
        raise SystemExit(f"replay net: {found} ticket histories replay nondeterministically")
