"""The profile's top entries are read right from py-spy's raw stacks."""

from __future__ import annotations

from pathlib import Path

from benchmarks.profile import summarize

_RUN = "main (bench/worker.py:10);run (asyncio/runners.py:44)"
_SDK = "/x/site-packages/temporalio/worker/_workflow.py"
RAW = f"""\
{_RUN};activate ({_SDK}:5) 6
{_RUN};activate ({_SDK}:7) 2
{_RUN};to_payload (/x/site-packages/pydantic/main.py:3) 2
not a stack line
"""


class TestSummary:
    def test_self_and_total_shares_of_all_samples(self, tmp_path: Path) -> None:
        """A function's lines are one entry; self counts the innermost frame, total every
        stack a function is in; shares are of every sample, paths shown from the package."""
        raw = tmp_path / "w.raw"
        raw.write_text(RAW)
        s = summarize([raw, tmp_path / "absent.raw"])
        assert s.samples == 10
        own = {e.function: e.share for e in s.self_top}
        assert own == {
            "activate (temporalio/worker/_workflow.py)": 0.8,
            "to_payload (pydantic/main.py)": 0.2,
        }
        total = {e.function: e.share for e in s.total_top}
        assert total["main (bench/worker.py)"] == 1.0
        assert total["activate (temporalio/worker/_workflow.py)"] == 0.8
        assert "run (asyncio/runners.py)" not in total  # the loop's own frames are left out

    def test_no_samples_no_entries(self, tmp_path: Path) -> None:
        s = summarize([tmp_path / "absent.raw"])
        assert (s.samples, s.self_top, s.total_top) == (0, [], [])
