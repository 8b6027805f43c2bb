"""`make demo` end to end: its own dev server on free ports, six tickets, a readable report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow import demo
from tierflow.devserver import free_port


class TestDemo:
    async def test_demo_runs_every_story_and_says_where_the_ui_is(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], temporal_binary: Path
    ) -> None:
        """Every demo ticket reaches its story's end, and the report names each one (on the
        dev server the demo starts from ``temporal_binary``)."""
        port, ui_port = free_port(), free_port()
        await demo.run_demo(keep_running=False, data_dir=tmp_path, port=port, ui_port=ui_port)
        out = capsys.readouterr().out
        assert "Starting the Temporal dev server" in out
        assert out.count("opened DEMO-") == 6
        for word in ("closed", "tier2/billing", "tier3/engineering", "sla_breach", "urgent"):
            assert word in out
        assert "An invalid action is refused" in out
        assert f"http://127.0.0.1:{ui_port}/namespaces/default/workflows" in out
        assert (tmp_path / "temporal.db").exists()  # the server persisted to the data folder
