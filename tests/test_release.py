"""The release spine: one version, read from pyproject.toml, said alike by the package, the
command line and the HTTP API; and the public names of ``tierflow``, imported only when used."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tierflow
from tierflow.api import create_app
from tierflow.cli import app
from tierflow.cli.entry import run

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# What a host system codes against (docs/hosting-and-embedding.md).
# A name added or removed here is a change of the public surface: say so in CHANGELOG.md.
PUBLIC_NAMES = [
    "ActionForbidden",
    "ActionRejected",
    "AddNote",
    "Assign",
    "Channel",
    "Close",
    "Customer",
    "CustomerFeedback",
    "CustomerReply",
    "CustomerStatus",
    "Decide",
    "DropDelivery",
    "Escalate",
    "InvalidInput",
    "Policy",
    "Priority",
    "Reopen",
    "RequestEscalation",
    "Resolve",
    "Respond",
    "RetryDeliveries",
    "SetPriority",
    "Settings",
    "SyncTicketClient",
    "TemporalUnavailable",
    "Ticket",
    "TicketBusy",
    "TicketClient",
    "TicketClosed",
    "TicketError",
    "TicketNotFound",
    "TicketNotReady",
    "TierflowActivities",
    "TierflowPlugin",
    "UnexpectedError",
    "WaitCustomer",
    "__version__",
    "default_policy",
    "verify_signature",
]


def _project_version() -> str:
    with PYPROJECT.open("rb") as file:
        project = tomllib.load(file)["project"]
    assert "version" not in project.get("dynamic", []), "the version is written in pyproject"
    return str(project["version"])


class TestOneVersion:
    def test_the_package_reads_pyproject_version(self) -> None:
        """``tierflow.__version__`` is the installed distribution's, which is pyproject's."""
        installed = version("tierflow")
        assert installed == _project_version(), "pyproject changed: reinstall (make install)"
        assert tierflow.__version__ == installed

    def test_this_release_is_1_0_0(self) -> None:
        """The version pyproject.toml holds is the one being released."""
        assert _project_version() == "1.0.0"

    def test_the_command_line_prints_it(self) -> None:
        """``tierflow --version`` prints the name and version and exits 0, running nothing."""
        result = CliRunner().invoke(app, ["--version"])
        assert result.exit_code == 0, result.output
        assert result.output == f"tierflow {tierflow.__version__}\n"

    def test_the_console_script_prints_it(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The console script's own runner exits 0 after the version, before any command."""
        assert run(["--version", "worker"]) == 0
        assert capsys.readouterr().out == f"tierflow {tierflow.__version__}\n"

    def test_the_http_api_documents_it(self) -> None:
        """The OpenAPI document's ``info.version`` is the package's version."""
        api = create_app(insecure_no_auth=True, codec=None)
        assert api.openapi()["info"]["version"] == tierflow.__version__


class TestPublicSurface:
    def test_public_names_are_pinned(self) -> None:
        """``tierflow.__all__`` is exactly the pinned list, sorted."""
        assert sorted(tierflow.__all__) == PUBLIC_NAMES
        assert len(set(tierflow.__all__)) == len(tierflow.__all__)

    @pytest.mark.parametrize("name", PUBLIC_NAMES)
    def test_each_name_resolves(self, name: str) -> None:
        """Every public name can be read from ``tierflow`` and is what its module defines."""
        value = getattr(tierflow, name)
        assert value is not None
        assert name in dir(tierflow)

    def test_the_names_are_the_modules_own(self) -> None:
        """The lazily imported names are the very objects of their modules, not copies."""
        from tierflow.client import TicketClient
        from tierflow.errors import TicketError
        from tierflow.plugin import TierflowPlugin

        assert tierflow.TicketClient is TicketClient
        assert tierflow.TicketError is TicketError
        assert tierflow.TierflowPlugin is TierflowPlugin
        assert issubclass(tierflow.TicketBusy, tierflow.TicketError)

    def test_an_unknown_name_is_an_attribute_error(self) -> None:
        """A name Tierflow does not export raises AttributeError, as for any module."""
        with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
            _ = tierflow.nonesuch  # type: ignore[attr-defined]
        assert not hasattr(tierflow, "nonesuch")

    @pytest.mark.parametrize(
        "statement", ["import tierflow", "import tierflow.workflows"], ids=["package", "workflows"]
    )
    def test_importing_stays_light(self, statement: str) -> None:
        """``import tierflow`` (which the workflow sandbox runs for every ticket) and the
        workflow package load neither the client, the worker, httpx nor FastAPI."""
        heavy = ["tierflow.client", "tierflow.worker", "tierflow.api", "httpx", "fastapi"]
        probe = (
            f"import sys, json; {statement}; "
            f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
        )
        assert json.loads(done.stdout) == []
