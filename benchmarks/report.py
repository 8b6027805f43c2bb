"""The figures as one JSON document, the tables printed from it, and the targets' verdicts."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from .capacity import CapacityConfig, ConfigResult
from .cost import CostResult, ReadCost
from .latency import LatencyResult
from .lateness import LatenessResult
from .lifecycle import BatchResult
from .stats import summarize

TARGET_LATENESS_P99 = 1.0
TARGET_RATIO = 0.9
# Agents' round trips (p50 and p99): at most this many times the bare workflow's, same run.
TARGET_ROUND_TRIP_VS_BARE = 1.25
# Memory counts as bounded when it grows by at most this much once the cache is full.
TARGET_MEMORY_GROWTH = 1.25


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration):
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024**2, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def throughput(tierflow: BatchResult, bare: BatchResult) -> dict[str, Any]:
    ratio = tierflow.per_second / bare.per_second
    return {
        "tickets": tierflow.tickets,
        "tierflow_per_s": round(tierflow.per_second, 2),
        "baseline_per_s": round(bare.per_second, 2),
        "ratio": round(ratio, 3),
        "tierflow_elapsed_s": round(tierflow.elapsed, 2),
        "baseline_elapsed_s": round(bare.elapsed, 2),
        "tierflow_lifecycle_s": tierflow.duration_summary().model_dump(),
        "baseline_lifecycle_s": bare.duration_summary().model_dump(),
        "target": {"ratio_at_least": TARGET_RATIO, "met": ratio >= TARGET_RATIO},
    }


def _latency_figures(r: LatencyResult) -> dict[str, Any]:
    return {
        "agents": r.agents,
        "tickets": r.tickets,
        "actions": r.actions,
        "elapsed_s": round(r.elapsed, 2),
        "actions_per_s": round(r.actions / r.elapsed, 1),
        "round_trip_ms": summarize([t * 1000 for t in r.round_trips]).model_dump(),
        "by_action_ms": {
            k: summarize([t * 1000 for t in v]).model_dump() for k, v in r.by_action.items() if v
        },
    }


def latency(
    r: LatencyResult,
    bare: LatencyResult | None = None,
    notifying: tuple[LatencyResult, LatencyResult] | None = None,
) -> dict[str, Any]:
    """Tierflow's update round trips; with ``bare``, the bare workflow's doing the same work
    beside them and the ratios (Tierflow over bare: above 1, Tierflow answers slower); with
    ``notifying``, the same pair again with assignments that notify (``"notifying"``)."""
    doc = _latency_figures(r)
    if bare is not None:
        doc["baseline"] = _latency_figures(bare)
        doc["round_trip_vs_baseline"] = ratios(
            doc["round_trip_ms"], doc["baseline"]["round_trip_ms"], ("p50", "p95", "p99")
        )
        doc["target"] = _round_trip_target(doc["round_trip_vs_baseline"])
    if notifying is not None:
        doc["notifying"] = latency(*notifying)
    return doc


def _round_trip_target(ratio: dict[str, float | None]) -> dict[str, Any]:
    return {
        "p50_p99_vs_bare_at_most": TARGET_ROUND_TRIP_VS_BARE,
        "met": all(
            (x := ratio.get(k)) is not None and x <= TARGET_ROUND_TRIP_VS_BARE
            for k in ("p50", "p99")
        ),
    }


def _lateness_figures(r: LatenessResult) -> dict[str, Any]:
    return {
        "tickets": r.tickets,
        "escalated": len(r.acted),
        "not_escalated": r.missing,
        "not_escalated_late_at_least_s": summarize(r.not_yet_late).model_dump()
        if r.not_yet_late
        else None,
        "spread_s": r.spread,
        "lead_s": round(r.lead, 1),
        "open_s": round(r.open_seconds, 1),
        "opened_per_s": round(r.tickets / r.open_seconds, 1),
        "slack_before_first_deadline_s": round(r.slack, 1),
        "clamped_deadlines": r.clamped,
        "late_s": summarize(r.acted).model_dump() if r.acted else None,
        "late_committed_s": summarize(r.committed).model_dump() if r.committed else None,
        "timer_fired_late_s": summarize(r.fired).model_dump() if r.fired else None,
        "max_cached_workflows": r.cache,
        "worker_peak_rss_mib": round(r.peak_rss_mib, 1),
        "worker_rss_mib": {k: round(v, 1) for k, v in r.rss_checkpoints.items()},
    }


def ratios(
    tierflow: dict[str, Any] | None, bare: dict[str, Any] | None, keys: tuple[str, ...]
) -> dict[str, float | None]:
    """Tierflow's figure over the baseline's, per key (None where the baseline's is 0)."""
    if not tierflow or not bare:
        return {}
    return {k: round(tierflow[k] / bare[k], 2) if bare[k] > 0 else None for k in keys}


def lateness(r: LatenessResult, bare: LatenessResult | None = None) -> dict[str, Any]:
    """Tierflow's lateness figures; with ``bare``, the baseline's beside them and the ratios
    of lateness (Tierflow over bare: above 1, Tierflow escalates later)."""
    acted = summarize(r.acted) if r.acted else None
    growth = None
    full = r.rss_checkpoints.get("10% open") if r.tickets >= 10 * r.cache else None
    if full:
        growth = r.rss_checkpoints.get("end", r.peak_rss_mib) / full
    doc = _lateness_figures(r)
    if bare is not None:
        b = _lateness_figures(bare)
        doc["baseline"] = b
        doc["late_vs_baseline"] = ratios(doc["late_s"], b["late_s"], ("p50", "p95", "p99", "max"))
    doc["target"] = {
        "p99_at_most_s": TARGET_LATENESS_P99,
        "met": acted is not None and acted.p99 <= TARGET_LATENESS_P99 and r.missing == 0,
        "memory_growth_after_cache_full": round(growth, 3) if growth else None,
        "memory_bounded": growth <= TARGET_MEMORY_GROWTH if growth else None,
    }
    return doc


def _over(value: float | None, base: float | None) -> float | None:
    return round(value / base, 2) if value and base else None


def capacity(results: list[ConfigResult], cfg: CapacityConfig) -> dict[str, Any]:
    """Per configuration its steps and the highest rate sustained with p99 <= 1 s; per process
    count Tierflow's over the baseline's, and each kind's scaling over one process."""
    sustained: dict[str, dict[str, float | None]] = {}
    for r in results:
        sustained.setdefault(r.kind, {})[str(r.processes)] = r.sustained
    bare = sustained.get("baseline", {})
    ratio = {n: _over(v, bare.get(n)) for n, v in sustained.get("tierflow", {}).items()}
    scaling = {
        kind: {n: _over(v, by_n.get("1")) for n, v in by_n.items()}
        for kind, by_n in sustained.items()
    }
    return {
        "window_s": cfg.window,
        "warning_gap_s": cfg.warning_gap,
        "rates_per_s": list(cfg.rates),
        "p99_at_most_s": cfg.max_p99,
        "sustained_per_s": sustained,
        "tierflow_vs_baseline": ratio,
        # Per process count: Tierflow sustains at least the bare workflow's rate.
        "target_met": {n: r is not None and r >= 1.0 for n, r in ratio.items()},
        "scaling_over_one_process": scaling,
        "configurations": [
            {
                "kind": r.kind,
                "processes": r.processes,
                "sustained_per_s": r.sustained,
                "workers_peak_rss_mib": round(r.peak_rss_mib, 1),
                "steps": [step.as_dict() for step in r.steps],
            }
            | ({"profile": r.profile.model_dump()} if r.profile is not None else {})
            | (
                {"slow_channel": {k: step.as_dict() for k, step in r.slow_channel.items()}}
                if r.slow_channel
                else {}
            )
            for r in results
        ],
    }


def read_costs(reads: list[ReadCost]) -> list[dict[str, Any]]:
    return [
        {
            "read": r.read,
            "code_path": r.path,
            "billable_actions": r.queries,
            "server_action_metric": round(r.server_actions, 2),
        }
        for r in reads
    ]


def cost(r: CostResult, bare: CostResult | None = None) -> dict[str, Any]:
    """Billable actions per lifecycle; with ``bare``, the target: at most the bare workflow's
    of the same shape, counted in the same run."""
    return {
        "lifecycles": r.lifecycles,
        "per_lifecycle": {k: round(v, 2) for k, v in r.per_lifecycle.items()},
        "total_per_lifecycle": round(r.total, 2),
        "history_events_per_ticket": round(r.events_per_ticket, 1),
        "server_action_metric_per_lifecycle": {
            k: round(v, 2) for k, v in r.server_actions_per_lifecycle.items()
        },
        "server_action_metric_total": round(r.server_total, 2),
        "patch_bookkeeping_per_lifecycle": round(r.patch_bookkeeping_per_lifecycle, 2),
    } | (
        {"target": {"at_most": round(bare.total, 2), "met": r.total <= bare.total}}
        if bare is not None
        else {}
    )


def _seconds_list(values: list[float | None]) -> str:
    return ", ".join("—" if x is None else f"{x:.1f}" for x in values) + " s"


def _late_rows(table: Table, who: str, lt: dict[str, Any]) -> None:
    """Lateness p50 / p99 / max after the deadline, and the server's own timer lateness."""
    for key, what in (("late_s", "escalated late"), ("timer_fired_late_s", "timer fired late")):
        if s := lt.get(key):
            table.add_row(
                "",
                f"{who}: {what} p50 / p99 / max",
                f"{s['p50']:.3f} / {s['p99']:.3f} / {s['max']:.3f} s",
            )
    if lt["not_escalated"]:
        table.add_row("", f"{who}: not escalated", str(lt["not_escalated"]))


def _render_capacity(cap: dict[str, Any], console: Console) -> None:
    table = Table(
        title=(
            f"Capacity: escalations/s sustained with p99 lateness <= {cap['p99_at_most_s']:g} s "
            f"({cap['window_s']:g} s steps)"
        )
    )
    table.add_column("worker processes", justify="right")
    table.add_column("Tierflow", justify="right")
    table.add_column("bare Temporal", justify="right")
    table.add_column("ratio", justify="right")
    tf = cap["sustained_per_s"].get("tierflow", {})
    bare = cap["sustained_per_s"].get("baseline", {})

    def rate(v: float | None) -> str:
        return "below the first step" if v is None else f"{v:g}/s"

    for n in sorted(set(tf) | set(bare), key=int):
        r = cap["tierflow_vs_baseline"].get(n)
        table.add_row(
            n,
            rate(tf[n]) if n in tf else "—",
            rate(bare[n]) if n in bare else "—",
            "—" if r is None else f"{r:g}",
        )
    console.print(table)
    for c in cap["configurations"]:
        steps = ", ".join(
            f"{s['rate_per_s']:g}/s p99 "
            + ("—" if s["late_s"] is None else f"{s['late_s']['p99']:.2f}s")
            + ("" if s["passed"] else " ✗")
            for s in c["steps"]
        )
        console.print(f"  {c['kind']}, {c['processes']} processes: {steps}")


def _ratios_text(r: dict[str, Any], keys: tuple[str, ...]) -> str:
    """``1.03 / 1.12 / …`` for ``keys`` of a ratios dict, ``—`` where the baseline's was 0."""
    return " / ".join("—" if r.get(k) is None else f"{r[k]:g}" for k in keys)


def _latency_pairs(a: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """The agents' pairs of the latency figures that ran, each with its label."""
    pairs = ((a, "actions only"), (a.get("notifying"), "assignments notify"))
    return [(pair, label) for pair, label in pairs if pair]


def _verdict(met: bool | None) -> str:
    return "[green]met[/]" if met else ("[dim]n/a[/]" if met is None else "[red]missed[/]")


def render(doc: dict[str, Any], console: Console) -> None:
    """Print the figures of ``doc`` (the JSON document) as tables."""
    m = doc["machine"]
    console.print(
        f"\n[bold]Tierflow benchmarks[/] — {m['cores']} cores, {m['cpu']}, "
        f"{m['memory_gib']} GiB, Python {m['python']}"
    )
    table = Table(title="Figures", show_lines=False)
    table.add_column("benchmark")
    table.add_column("figure")
    table.add_column("value", justify="right")
    if t := doc.get("throughput"):
        table.add_row(
            "throughput",
            f"Tierflow ({t['tickets']} lifecycles)",
            f"{t['tierflow_per_s']} tickets/s",
        )
        table.add_row("", "bare Temporal baseline", f"{t['baseline_per_s']} tickets/s")
        table.add_row("", "ratio", f"{t['ratio']:.2f}")
    if a := doc.get("latency"):
        table.add_row(
            "agent actions",
            f"{a['agents']} agents, {a['actions']} updates",
            f"{a['actions_per_s']} updates/s",
        )
        for pair, label in _latency_pairs(a):
            for who, figures in (("Tierflow", pair), ("bare Temporal", pair.get("baseline"))):
                if figures:
                    rt = figures["round_trip_ms"]
                    table.add_row(
                        "",
                        f"{label}, {who}: round trip p50 / p95 / p99",
                        f"{rt['p50']:.0f} / {rt['p95']:.0f} / {rt['p99']:.0f} ms "
                        f"({figures['actions_per_s']}/s)",
                    )
            if r := pair.get("round_trip_vs_baseline"):
                table.add_row(
                    "",
                    f"{label}: ratio p50 / p95 / p99 (Tierflow ÷ bare)",
                    _ratios_text(r, ("p50", "p95", "p99")),
                )
    if lt := doc.get("lateness"):
        table.add_row(
            "escalation lateness",
            f"{lt['tickets']} open tickets, {lt['spread_s']:.0f} s spread",
            f"{lt['escalated']} escalated",
        )
        _late_rows(table, "Tierflow", lt)
        if b := lt.get("baseline"):
            _late_rows(table, "bare Temporal", b)
            r = lt["late_vs_baseline"]
            table.add_row(
                "",
                "ratio p50 / p99 / max (Tierflow ÷ bare)",
                _ratios_text(r, ("p50", "p99", "max")),
            )
        table.add_row(
            "",
            f"worker peak RSS (cache {lt['max_cached_workflows']})",
            f"{lt['worker_peak_rss_mib']} MiB",
        )
    for key, label in (("cost", "cost (Tierflow)"), ("cost_baseline", "cost (baseline)")):
        if c := doc.get(key):
            table.add_row(
                label,
                f"billable actions per lifecycle ({c['lifecycles']} runs)",
                f"{c['total_per_lifecycle']:.1f}",
            )
            parts = ", ".join(f"{k} {v:g}" for k, v in c["per_lifecycle"].items() if v)
            table.add_row("", parts, f"{c['history_events_per_ticket']:.0f} events")
    for i, read in enumerate(doc.get("cost_reads", [])):
        table.add_row(
            "cost of a read" if i == 0 else "",
            f"{read['read']} (server metric {read['server_action_metric']:g})",
            f"{read['billable_actions']} action{'s' if read['billable_actions'] != 1 else ''}",
        )
    if table.row_count:
        console.print(table)
    if cap := doc.get("capacity"):
        _render_capacity(cap, console)

    targets = Table(title="Targets")
    targets.add_column("target")
    targets.add_column("measured", justify="right")
    targets.add_column("verdict")
    if lt := doc.get("lateness"):
        p99 = lt["late_s"]["p99"] if lt["late_s"] else float("nan")
        targets.add_row("lateness p99 <= 1 s", f"{p99:.3f} s", _verdict(lt["target"]["met"]))
        g = lt["target"]["memory_growth_after_cache_full"]
        targets.add_row(
            "memory bounded by cache size",
            f"x{g} after cache full" if g else "too few tickets",
            _verdict(lt["target"]["memory_bounded"]),
        )
    if t := doc.get("throughput"):
        targets.add_row(
            "throughput >= 0.9 x baseline", f"{t['ratio']:.2f}", _verdict(t["target"]["met"])
        )
    if (c := doc.get("cost")) and "target" in c:
        targets.add_row(
            "billable actions per lifecycle <= bare's",
            f"{c['total_per_lifecycle']:.1f} vs {c['target']['at_most']:.1f}",
            _verdict(c["target"]["met"]),
        )
    if a := doc.get("latency"):
        for pair, label in _latency_pairs(a):
            if "target" in pair:
                r = pair["round_trip_vs_baseline"]
                targets.add_row(
                    f"agents' round trip p50, p99 <= {TARGET_ROUND_TRIP_VS_BARE:g} x bare, {label}",
                    f"{r['p50']} / {r['p99']}",
                    _verdict(pair["target"]["met"]),
                )
    if m := doc.get("memory"):
        t = m["target"]
        targets.add_row(
            f"memory per cached ticket <= {t['per_ticket_vs_bare_at_most']:g} x bare",
            f"{t['ratio']}",
            _verdict(t["met"]),
        )
    if cap := doc.get("capacity"):
        for n, met in cap["target_met"].items():
            tf, bare = (cap["sustained_per_s"].get(k, {}).get(n) for k in ("tierflow", "baseline"))
            targets.add_row(
                f"capacity, {n} worker process{'es' if n != '1' else ''}: >= bare's",
                f"{tf} vs {bare} /s",
                _verdict(met),
            )
    if r := doc.get("replay"):
        targets.add_row(
            f"no nondeterminism ({r['replayed']} ticket histories replayed)",
            str(r["nondeterminism"]),
            _verdict(r["nondeterminism"] == 0),
        )
    if targets.row_count:
        console.print(targets)


def _seconds(s: dict[str, Any] | None) -> str:
    if not s:
        return "—"
    return f"{s['p50']:.2f} / {s['p99']:.2f} / {s['max']:.2f} s"


def render_faults(f: dict[str, Any], console: Console) -> None:
    """The fault suite's figures: what was lost, missed, duplicated or late, and recovery."""
    cfg = f["config"]
    table = Table(
        title=(
            f"Fault suite: {f['tickets']} tickets over {cfg['spread']:.0f} s, "
            f"{cfg['worker_kills']} worker kills, "
            + (
                "cluster: history, matching, frontend SIGKILL, PostgreSQL restart, "
                if cfg.get("target") == "cluster"
                else "server SIGTERM + SIGKILL, "
            )
            + f"chat down {f['channel_down_s']:.0f} s, sticky timeout {cfg['sticky_timeout']:g} s"
        )
    )
    table.add_column("figure")
    table.add_column("Tierflow", justify="right")
    table.add_column("bare Temporal", justify="right")
    b = f.get("baseline") or {}

    def row(label: str, key: str, fmt: Callable[[Any], str] = str) -> None:
        table.add_row(label, fmt(f[key]), fmt(b[key]) if key in b else "—")

    row("tickets lost", "tickets_lost")
    row("escalations missed", "escalations_missed")
    row("escalations duplicated", "escalations_duplicated")
    row("escalations > 1 s late after recovery", "escalations_late_over_1s_after_recovery")
    row("late after recovery p50 / p99 / max", "late_after_recovery_s", _seconds)
    row("recovery after each worker kill", "recovery_after_worker_kill_s", _seconds_list)
    after, b_after = f["after_worker_kill"], b.get("after_worker_kill") or {}
    table.add_row(
        "new worker polling, after each kill",
        _seconds_list(after["polling_after_kill_s"]),
        _seconds_list(b_after["polling_after_kill_s"]) if b_after else "—",
    )
    table.add_row(
        "tickets due while down: escalated after polling p50 / p99 / max",
        _seconds(after["escalated_after_polling_s"]),
        _seconds(b_after["escalated_after_polling_s"]) if b_after else "—",
    )
    planned = f["deliveries_planned"]
    table.add_row(
        "deliveries planned (email, chat)",
        f"{planned.get('email', 0)}, {planned.get('chat', 0)}",
        "—",
    )
    table.add_row("deliveries missing", str(f["deliveries_missing"]), "—")
    table.add_row(
        "duplicated emails (receiver keeps both)", str(f["deliveries_duplicated_email"]), "—"
    )
    table.add_row(
        "repeats the chat webhook deduplicated", str(f["deliveries_deduplicated_by_webhook"]), "—"
    )
    for s in f["server_stops"]:
        table.add_row(f"server {s['signal']}: down", f"{s['down_s']:.1f} s", "")
    bare_recovery = [w["recovery_s"] for w in b.get("faults", [])]
    for i, w in enumerate(f["faults"]):
        if w["kind"] != "worker_kill":
            bare = f"{bare_recovery[i]} s" if i < len(bare_recovery) else ""
            table.add_row(f"recovery after server {w['kind']}", f"{w['recovery_s']} s", bare)
    table.add_row(
        "worker exits on their own (restarted)",
        str(f["worker_exits_on_their_own"].get("tierflow", 0)),
        str(f["worker_exits_on_their_own"].get("baseline", "—")),
    )
    table.add_row(
        "nondeterminism (ticket histories replayed)",
        f"{f['nondeterminism']} ({f['replay']['replayed']})",
        "—",
    )
    console.print(table)
    _render_slow(f.get("slow_channels"), console)
    goal = f["goal"]
    console.print(
        "goal — zero tickets lost, escalations missed or duplicated: "
        f"{_verdict(goal['zero_lost_missed_duplicated'])}; every delivery made after the channel "
        f"returned: {_verdict(goal['every_delivery_made'])}; no email twice: "
        f"{_verdict(goal['no_duplicate_email'])}; slow channels touch no ticket: "
        f"{_verdict(goal['slow_channels_touch_no_ticket'])}; every history replays "
        f"(no nondeterminism): {_verdict(goal['no_nondeterminism'])}"
    )


def _render_slow(slow: dict[str, Any] | None, console: Console) -> None:
    """The slow channels' figures: what they did to the tickets, group by group."""
    if not slow:
        return
    table = Table(title="Slow channels (groups against the control group H of each worker)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, key in (
        ("workflow tasks failed on nondeterminism", "nondeterminism_errors"),
        ("workflow tasks timed out (hand-over after faults)", "workflow_task_timeouts"),
        ("tickets wedged (no status, or a failing task)", "tickets_wedged"),
        ("warnings skipped (due outside the faults)", "warnings_skipped"),
        ("warnings not given: due during a fault", "warnings_not_given_as_due_during_a_fault"),
        ("groups whose p99 lateness > control's + 1 s", "groups_later_than_control_over_1s"),
        (
            "escalations > 1 s later than their control twin",
            "escalations_later_than_same_deadline_control_over_1s",
        ),
        ("resent: earlier copy never confirmed", "resent_unconfirmed"),
        ("resent: confirmed, a crash within the attempt", "resent_after_crash"),
        ("resent: confirmed, unexplained", "resent_after_confirmed_unexplained"),
        ("emails held by the slow relay", "emails_held_by_slow_relay"),
        ("chat requests never answered", "chat_requests_never_answered"),
        ("chat answers trickled, unfinished", "chat_answers_trickled_unfinished"),
        ("TLS connections stalled", "tls_connections_stalled"),
    ):
        table.add_row(label, str(slow[key]))
    for worker, groups in slow["escalation_lateness_by_group"].items():
        for group, g in sorted(groups.items()):
            table.add_row(
                f"{worker} {group}: lateness p50 / p99 (n), p99 over control",
                f"{g['p50_s']} / {g['p99_s']} s ({g['count']}), {g['p99_over_control_s']:+} s",
            )
    console.print(table)
