"""The Temporal UI shows an encrypted ticket decoded, through the API's codec routes, in a real
headless browser (Debian's chromium, driven by Playwright): the dev server is started by
Tierflow's own launcher with ``--ui-codec-endpoint`` pointing at the API on loopback."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import async_playwright

from tests.privacy.support import (
    Pii,
    codec_of,
    encrypting_client,
    key_file,
    new_pii,
    serving_api,
)
from tests.workflows.support import fast_policy, running_worker
from tierflow.client import workflow_id_for
from tierflow.devserver import DevServer, ensure_temporal_binary, free_port

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous but finite: the UI's first load compiles a large bundle on two shared cores.
PAGE_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's chromium, installed by `make browser` if it is missing (as `make test` does);
    skipped only when it cannot be installed here."""
    if not CHROMIUM.exists() and shutil.which("make"):
        subprocess.run(["make", "-s", "browser"], cwd=REPO, check=False, timeout=900)
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed and `make browser` could not install it")
    return CHROMIUM


@dataclass(frozen=True)
class Stack:
    ui: str  # the UI's base URL
    workflow_id: str
    run_id: str
    pii: Pii


@pytest_asyncio.fixture
async def stack(tmp_path: Path, task_queue: str) -> AsyncIterator[Stack]:
    """A dev server whose UI decodes through the API, an encrypting worker and one ticket."""
    api_port = free_port()
    dev = DevServer(
        binary=ensure_temporal_binary(),
        data_dir=tmp_path / "temporal",
        port=free_port(),
        ui_port=free_port(),
        codec_endpoint=f"http://127.0.0.1:{api_port}/codec",
    )
    dev.start()
    try:
        await dev.wait_ready()
        keys = key_file(tmp_path, "ui-test")
        client = await encrypting_client(dev.address, keys)
        pii = new_pii()
        async with running_worker(client, task_queue) as tickets:
            ticket = pii.ticket()
            opened = await tickets.open(ticket, fast_policy(resolution="1h"))
            # The UI's browser calls the API from the UI's origin, without a token: the dev
            # UI has no way to send one (docs/privacy.md).
            async with serving_api(
                tickets,
                codec_of(keys),
                token=None,
                origins=[dev.ui_url],
                port=api_port,
            ):
                yield Stack(dev.ui_url, workflow_id_for(ticket.id), opened.run_id, pii)
    finally:
        dev.stop()


class TestTemporalUi:
    async def test_the_workflow_page_shows_the_decoded_summary_and_details(
        self, stack: Stack, chromium: Path, tmp_path: Path
    ) -> None:
        """The ticket's page shows the subject (static summary) and the customer (static
        details), which Temporal holds only as ciphertext."""
        url = f"{stack.ui}/namespaces/default/workflows/{stack.workflow_id}/{stack.run_id}/history"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"),
                executable_path=str(chromium),
                headless=True,
                args=CHROMIUM_ARGS,
            )
            try:
                page = await browser.new_page()
                page.set_default_timeout(PAGE_TIMEOUT_MS)
                await page.goto(url, wait_until="domcontentloaded")
                await page.get_by_text(stack.pii.subject).first.wait_for(state="visible")
                await page.get_by_text(stack.pii.name).first.wait_for(state="visible")
                text = await page.inner_text("body")
            finally:
                await browser.close()
        assert stack.pii.subject in text
        assert stack.pii.name in text
