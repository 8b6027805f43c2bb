"""Where a worker's time goes: py-spy attached to a benchmark worker process.

``--profile`` makes each capacity configuration sample its worker processes with py-spy
(attached by pid, non-blocking, so the worker is not paused) for the whole climb, and reduces
the samples to the entries that weigh most: the functions the worker spends its own time in
(*self*) and the functions under which it spends it (*total*), each as a share of all samples.
The raw stacks stay in the run's folder for a flame graph (``py-spy``'s ``--format raw``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

# "function (path/to/module.py:123)" as py-spy names a frame; the line is dropped so that one
# function is one entry.
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")
# Frames under which nearly everything runs (the event loop, threads, the entry point): left
# out of the *total* entries, where they would only crowd out what the worker does.
_PLUMBING = ("(asyncio/", "(threading.py", "(concurrent/", "(<frozen runpy>", "(benchmarks/")
# Paths are shown from the package down (site-packages/temporalio/… → temporalio/…).
_PACKAGE_ROOT = re.compile(r"^.*?/(?:site-packages|lib/python3\.\d+)/")


class ProfileEntry(BaseModel):
    function: str
    share: float  # of all samples, 0..1


class ProfileSummary(BaseModel):
    samples: int
    self_top: list[ProfileEntry]
    total_top: list[ProfileEntry]
    raw: str


def _frame_name(frame: str, root: str) -> str:
    m = _FRAME.match(frame)
    if m is None:
        return frame
    path = _PACKAGE_ROOT.sub("", m.group("file"))
    if path.startswith(root):
        path = path[len(root) :]
    return f"{m.group('func')} ({path})"


def _lines(raws: list[Path]) -> list[str]:
    return [
        line
        for raw in raws
        if raw.exists()
        for line in raw.read_text(errors="replace").splitlines()
    ]


def summarize(raws: list[Path], top: int = 12, root: str = "") -> ProfileSummary:
    """The heaviest functions of py-spy's raw (collapsed) stacks in the files ``raws``."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    samples = 0
    for line in _lines(raws):
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame_name(f, root) for f in stack.split(";")]
        # py-spy puts the thread ("process 123:"/"thread 0x…") first when asked; skip those.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        for name in set(frames):
            if not any(p in name for p in _PLUMBING):
                under[name] += n

    def entries(c: Counter[str]) -> list[ProfileEntry]:
        return [
            ProfileEntry(function=f, share=round(k / samples, 4))
            for f, k in c.most_common(top)
            if samples
        ]

    return ProfileSummary(
        samples=samples,
        self_top=entries(own),
        total_top=entries(under),
        raw=", ".join(str(r) for r in raws),
    )


def available() -> str | None:
    """The py-spy executable (a dev dependency), or None."""
    return shutil.which("py-spy") or _beside_python()


def _beside_python() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else None


@dataclass
class Sampler:
    """py-spy recording one process until :meth:`stop`."""

    pid: int
    out: Path
    rate: int = 100
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        exe = available()
        if exe is None:
            raise RuntimeError("--profile needs py-spy (pip install py-spy; it is a dev extra)")
        log = open(self.out.with_suffix(".log"), "wb")  # noqa: SIM115 - the child owns it
        self._proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(self.rate),
                "--nonblocking",
                # Only the thread holding the GIL: the Python work itself, not threads
                # waiting for it or for a socket.
                "--gil",
                "--format",
                "raw",
                "--output",
                str(self.out),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def stop(self) -> None:
        """Stop sampling; py-spy writes its file on SIGINT."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._proc.pid, signal.SIGINT)
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
