"""Compile Tierflow's workflow module once per process, not once per ticket.

Temporal's sandbox executes the workflow's module afresh for every workflow it loads (every
new ticket, every ticket that comes back into the cache), so that no workflow sees another's
module state. Executing it is cheap; loading its code is not always: where Python writes no
bytecode cache (``PYTHONDONTWRITEBYTECODE``, a read-only install) every load compiles
``workflows/ticket.py`` from source, ~10-20 ms of CPU and ~50 KB of code objects per ticket.

Code objects are immutable, so one compiled copy can serve every load: :func:`install` puts a
finder in front of ``sys.meta_path`` that, for Tierflow's own modules only, hands Python's
import system the code compiled on first load (recompiled if the file changes). The module is
still executed afresh in each sandbox, exactly as before — only the compilation is shared.

The sandbox also enters itself through a few lines of source it hands to ``exec``: to run an
activation, and — once for every payload sequence it encodes, decodes or stores — to ask the
workflow for its serialization context. ``exec`` of a string compiles it every time: under an
agents' burst that was a tenth of the worker's CPU (py-spy, docs/benchmarks.md).
:class:`SharedCodeRunner` is the SDK's sandboxed runner whose instances run those same lines
compiled once per process; what runs, in which globals, is unchanged.

Two of those entries only read: the serialization context and the external-store context of a
payload are built from the run's info and its pending commands (plain attribute reads and the
SDK's own dataclasses; no import, no workflow code). Entering the sandbox for them — swapping
the builtins and the import machinery in and out, for every payload sequence — was another
tenth of the worker's CPU, so these instances ask the workflow's in-sandbox object directly;
activations (the workflow's code) still run inside, as before.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import CodeType, ModuleType
from typing import Any, cast

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails

# Private parts of the SDK (its sandbox instance, the command a payload belongs to): their use
# is pinned by tests/test_sandbox_cost.py, so that an SDK that moves them fails there.
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance

# The name the SDK's instance gives the workflow's object in the sandbox's globals.
_IN_SANDBOX = "__temporal_in_sandbox"

PREFIX = "tierflow."

_lock = threading.Lock()
# (source path, mtime, size) -> the module's compiled code.
_codes: dict[tuple[str, int, int], CodeType] = {}


class _SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose ``get_code`` compiles each version of a file only once."""

    def get_code(self, fullname: str) -> CodeType:
        stat = os.stat(self.path)
        key = (self.path, stat.st_mtime_ns, stat.st_size)
        with _lock:
            code = _codes.get(key)
        if code is None:
            compiled = super().get_code(fullname)
            assert compiled is not None  # a source file always has code
            with _lock:
                code = _codes.setdefault(key, compiled)
        return code


class SharedCodeFinder(importlib.abc.MetaPathFinder):
    """Finds Tierflow's modules as Python would, loading their code through the cache."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(PREFIX):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return spec
        assert spec.origin is not None
        spec.loader = _SharedCodeLoader(fullname, spec.origin)
        return spec


def install() -> None:
    """Share compiled code of Tierflow's modules in this process (idempotent)."""
    with _lock:
        if not any(isinstance(f, SharedCodeFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, SharedCodeFinder())


def compiled_paths() -> set[str]:
    """The source files whose compiled code is shared (for tests)."""
    with _lock:
        return {path for path, _mtime, _size in _codes}


@lru_cache(maxsize=64)
def sandbox_entry(source: str) -> CodeType:
    """``source`` compiled as ``exec`` would compile it (the sandbox hands over a handful of
    fixed strings; the cache's bound only guards against an SDK that builds them)."""
    return compile(source, "<string>", "exec")


class _SharedEntryInstance(_Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # exec takes a code object as it takes a string: the same lines, compiled once.
        super()._run_code(cast(str, sandbox_entry(code)), **extra_globals)

    def _inside(self) -> Any:
        """The workflow's object inside the sandbox (None before it exists)."""
        return self.globals_and_locals.get(_IN_SANDBOX)

    def get_serialization_context(self, command_info: CommandInfo | None) -> Any:
        inside = self._inside()
        if inside is None:
            return super().get_serialization_context(command_info)
        return inside.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: CommandInfo | None) -> Any:
        inside = self._inside()
        if inside is None:
            return super().get_external_store_context(command_info)
        return inside.get_external_store_context(command_info)


@dataclass(frozen=True)
class SharedCodeRunner(SandboxedWorkflowRunner):
    """Temporal's sandboxed runner, entering each sandbox through code compiled once."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _SharedEntryInstance(det, self.runner_class, self.restrictions)
