"""What the sandbox does again for every ticket is kept small: the workflow module is
compiled once per process, and the workflow's pure helper modules are shared, not re-run."""

from __future__ import annotations

import importlib.util
import os
import pkgutil
from pathlib import Path
from types import ModuleType

from temporalio import workflow
from temporalio.api.common.v1 import Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter
from temporalio.worker import WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox._runner import _fake_info, _Instance

import tierflow.workflows
from tierflow._codecache import (
    SharedCodeFinder,
    SharedCodeRunner,
    _SharedEntryInstance,
    compiled_paths,
    sandbox_entry,
)
from tierflow.plugin import SANDBOX_PASSTHROUGH, _runner
from tierflow.workflows.ticket import TicketWorkflow


def _load(name: str, path: list[str]) -> ModuleType:
    """Load ``name`` afresh through the finder, as the sandbox does for each workflow."""
    spec = SharedCodeFinder().find_spec(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestSharedCode:
    def test_fresh_modules_share_their_code(self) -> None:
        """Two fresh executions of a Tierflow module are distinct modules running one
        compiled code object."""
        path = list(tierflow.workflows.__path__)
        a = _load("tierflow.workflows.views", path)
        b = _load("tierflow.workflows.views", path)
        assert a is not b
        assert a.sla_views is not b.sla_views
        assert a.sla_views.__code__ is b.sla_views.__code__
        assert a.__file__ in compiled_paths()

    def test_other_modules_are_left_to_python(self) -> None:
        """Modules outside Tierflow are not the finder's business."""
        assert SharedCodeFinder().find_spec("json", None) is None

    def test_a_changed_file_is_compiled_again(self, tmp_path: Path) -> None:
        """A new version of a file (another size or time) gets its own compilation."""
        source = tmp_path / "probe.py"
        source.write_text("def answer():\n    return 1\n")
        first = _load("tierflow.probe", [str(tmp_path)])
        source.write_text("def answer():\n    return 22\n")
        stat = source.stat()
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        second = _load("tierflow.probe", [str(tmp_path)])
        assert (first.answer(), second.answer()) == (1, 22)


def _ticket_details() -> WorkflowInstanceDetails:
    """What the worker hands a runner for a ticket, with the SDK's stand-in run info (as its
    own ``prepare_workflow`` check does)."""
    return WorkflowInstanceDetails(
        payload_converter_factory=DataConverter.default._new_payload_converter,
        failure_converter_class=DataConverter.default.failure_converter_class,
        interceptor_classes=[],
        defn=workflow._Definition.must_from_class(TicketWorkflow),
        info=_fake_info,
        randomness_seed=-1,
        extern_functions={},
        disable_eager_activity_execution=False,
        worker_level_failure_exception_types=[],
        patch_activation_callback=None,
        last_completion_result=Payloads(),
        last_failure=Failure(),
    )


class TestSharedEntry:
    def test_the_plugins_runner_enters_the_sandbox_through_shared_code(self) -> None:
        """The worker's sandboxed runner is the SDK's, with its instances' entry lines compiled
        once (a new SDK whose private instance class moved fails here, not in production)."""
        runner = _runner(None, sandboxed=True)
        assert isinstance(runner, SharedCodeRunner)
        assert issubclass(_SharedEntryInstance, _Instance)
        assert _Instance._run_code.__code__.co_varnames[:2] == ("self", "code")

    async def test_contexts_read_directly_are_the_ones_the_sandbox_gives(self) -> None:
        """The serialization and external-store contexts a ticket's instance gives without
        entering the sandbox equal the SDK's own answers from inside it."""
        runner = _runner(None, sandboxed=True)
        instance = runner.create_instance(_ticket_details())
        assert isinstance(instance, _SharedEntryInstance)
        assert instance._inside() is not None
        for read in ("get_serialization_context", "get_external_store_context"):
            direct = getattr(instance, read)(None)
            assert direct == getattr(_Instance, read)(instance, None)
            assert direct is not None

    def test_an_entry_is_compiled_once_and_runs_like_the_string(self) -> None:
        source = "__result = 6 * 7\n"
        assert sandbox_entry(source) is sandbox_entry(source)
        scope: dict[str, object] = {}
        exec(sandbox_entry(source), scope, scope)
        assert scope["__result"] == 42
        assert sandbox_entry(source).co_filename == "<string>"  # tracebacks read as before


class TestPassedThrough:
    def test_every_helper_of_the_workflow_is_shared(self) -> None:
        """Each module of ``tierflow.workflows`` but the workflow's own is passed through the
        sandbox by name (a new one left out would run again for every ticket)."""
        names = {m.name for m in pkgutil.iter_modules(tierflow.workflows.__path__)}
        helpers = {f"tierflow.workflows.{n}" for n in names - {"ticket"}}
        assert helpers <= set(SANDBOX_PASSTHROUGH)

    def test_the_workflow_module_itself_is_not(self) -> None:
        """The workflow module stays the sandbox's to load afresh for each ticket."""
        assert not any("tierflow.workflows.ticket".startswith(m) for m in SANDBOX_PASSTHROUGH)
