"""The Temporal server settings Tierflow runs under: what no caller of the namespace may write.

Signals cannot be refused by a workflow — Temporal writes each one to the history when it
arrives — so a limit on what a raw Temporal caller can send must come from the server. Every
server Tierflow starts (``tierflow server``, the test suite's dev server, the compose stack)
runs with these per-namespace dynamic-config values; docs/limits.md gives them for production.

``limit.blobSize.error`` (Temporal's default: 2 MiB) caps every single payload — a signal's or
an update's arguments, a workflow's start and continue-as-new input, an activity's input and
result, a query's answer. Tierflow's largest legitimate payloads, measured (encrypted,
``tests/workflows/test_server_limits.py``): a maximal ticket's start input, 352 KiB (a 256 KiB
policy, a 20,000-character description in 4-byte characters); its continue-as-new input,
419 KiB (the policy, the ticket, the carried timeline and escalations, 128 KiB of retried
messages and the effects of ten maximal actions planned while the run hands over); a timeline
answer, ≤ 512 KiB. 1.25 MiB keeps twice the largest; a raw caller's 1.9 MB signal is refused
before it reaches the history (``InvalidArgument``, "Blob data size exceeds limit").

``history.maximumSignalsPerExecution`` (Temporal's default: 10,000 per run): 32. It bounds a
flood of signals just under the blob limit — at most 32 signals of 1.25 MiB, 40 MiB per run,
under the 50 MiB history limit. A ticket hands over to a new run after 16 signals
(``SIGNALS_PER_RUN`` in ``workflows/ticket.py``), so the cap refuses a raw caller's signal only
while a flood keeps a run from handing over; Tierflow's own clients send customer events as
updates, which a full run refuses for a moment instead (docs/limits.md, Backpressure).

``limit.blobSize.warn`` (default 512 KiB, which a maximal continue-as-new input exceeds):
above every legitimate payload, so a warning in the server's log means one came near the
limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

BLOB_SIZE_ERROR: Final = 1_310_720  # 1.25 MiB
BLOB_SIZE_WARN: Final = 786_432  # 768 KiB
SIGNALS_PER_EXECUTION: Final = 32  # twice the ticket's SIGNALS_PER_RUN

DYNAMIC_CONFIG: Final[Mapping[str, int]] = {
    "limit.blobSize.error": BLOB_SIZE_ERROR,
    "limit.blobSize.warn": BLOB_SIZE_WARN,
    "history.maximumSignalsPerExecution": SIGNALS_PER_EXECUTION,
}


def dev_server_args() -> list[str]:
    """``--dynamic-config-value KEY=VALUE`` for each setting (``temporal server start-dev``)."""
    args: list[str] = []
    for key, value in DYNAMIC_CONFIG.items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    return args


def dynamic_config_yaml() -> str:
    """The settings as a server's dynamic-config file (docker-compose.yml mounts one)."""
    return "".join(
        f"{key}:\n  - value: {value}\n    constraints: {{}}\n"
        for key, value in DYNAMIC_CONFIG.items()
    )
