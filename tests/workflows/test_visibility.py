"""What operators see: search attributes kept current, filtering with the stock Temporal CLI,
the static summary and the current-details Markdown, with customer text made inert."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tierflow.client import workflow_id_for
from tierflow.devserver import ensure_temporal_binary
from tierflow.statemachine import default_policy
from tierflow.workflows import search_attributes as sa
from tierflow.workflows.state import TicketState
from tierflow.workflows.visibility import (
    MAX_ITEMS,
    MAX_SUBJECT,
    details_markdown,
    md_text,
    static_details,
    static_summary,
)

from .support import fast_policy, running_worker, ticket, wait_for

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
HOSTILE = st.text(
    st.one_of(
        st.characters(),
        st.sampled_from("\r\n\v\f\x00\x1b\x85\u2028\u2029\u202e*_`~[]()<>&!#-+|\\"),
    ),
    max_size=300,
)
_INLINE = "\\`*_~[]<>&"


async def cli_list(env: WorkflowEnvironment, query: str) -> list[str]:
    """Workflow ids the stock ``temporal workflow list --query`` returns."""
    address = env.client.service_client.config.target_host
    out = await asyncio.to_thread(
        subprocess.run,
        [
            str(ensure_temporal_binary()),
            "workflow",
            "list",
            "--address",
            address,
            "--query",
            query,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(out.stdout or "[]")
    return [row["execution"]["workflowId"] for row in rows]


class TestSearchAttributes:
    async def test_attributes_follow_the_ticket(self, client: Client, task_queue: str) -> None:
        """After an automatic escalation the attributes show the new tier, team and count."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Sync fails", customer={"status": "enterprise"}, priority="high")
            opened = await tickets.open(t, fast_policy(resolution="3s"))
            await wait_for(tickets, t.id, lambda s: s.tier == "tier2", timeout=20)
            desc = await client.get_workflow_handle(opened.workflow_id).describe()
            attrs = desc.typed_search_attributes
            assert attrs.get(sa.TICKET_STATE) == "tier2"
            assert attrs.get(sa.TICKET_TIER) == "tier2"
            assert attrs.get(sa.TICKET_TEAM) == "technical"
            assert attrs.get(sa.TICKET_PRIORITY) == "high"
            assert attrs.get(sa.TICKET_ESCALATIONS) == 1
            assert attrs.get(sa.TICKET_CUSTOMER_STATUS) == "enterprise"
            assert attrs.get(sa.TICKET_SLA_BREACHED) is False
            assert attrs.get(sa.TICKET_SLA_DUE) is not None

    async def test_stock_cli_filters_by_tier_and_breach(
        self, temporal_env: WorkflowEnvironment, task_queue: str
    ) -> None:
        """`temporal workflow list --query` finds tickets by Tierflow's attributes."""
        async with running_worker(temporal_env.client, task_queue) as tickets:
            breached = ticket("Nobody answers", customer={"status": "vip"})
            calm = ticket("Question", customer={"status": "vip"})
            levels = [
                {"name": "notify", "after": "0s", "actions": ["notify_owner"]},
                {"name": "sup", "after": "60s", "actions": ["notify_supervisor"]},
                {"name": "mgr", "after": "70s", "actions": ["notify_manager"]},
                {"name": "dir", "after": "80s", "actions": ["notify_director"]},
            ]
            await tickets.open(breached, fast_policy(resolution="2s", levels=levels))
            await tickets.open(calm, fast_policy(resolution="300s", levels=levels))
            await wait_for(tickets, breached.id, lambda s: s.breached, timeout=20)
            query = f"TicketTier='tier2' AND TicketSlaBreached=true AND TaskQueue='{task_queue}'"
            for _ in range(50):  # visibility is eventually consistent
                found = await cli_list(temporal_env, query)
                if found:
                    break
                await asyncio.sleep(0.2)
            assert found == [workflow_id_for(breached.id)]


class TestSummaries:
    async def test_static_summary_and_current_details(
        self, client: Client, task_queue: str
    ) -> None:
        """The list shows "[priority] id — subject"; the details show state, owner and SLA."""
        async with running_worker(client, task_queue) as tickets:
            t = ticket("Cannot pay invoice", priority="urgent")
            opened = await tickets.open(t, fast_policy(resolution="120s"))
            await wait_for(tickets, t.id, lambda s: s.state == "tier2")
            handle = client.get_workflow_handle(opened.workflow_id)
            desc = await handle.describe()
            assert await desc.static_summary() == f"[urgent] {t.id} — Cannot pay invoice"
            details = await handle.query("__temporal_workflow_metadata")
            text = details.current_details
            assert "**State:** tier2" in text
            assert "billing" in text
            assert "resolution: due" in text

    async def test_customer_markdown_is_shown_as_text(
        self, client: Client, task_queue: str
    ) -> None:
        """Links, images, HTML and emphasis in a subject or name arrive escaped in the UI."""
        async with running_worker(client, task_queue) as tickets:
            subject = "Pay [here](https://evil.example) ![x](y) <img src=x> **now**"
            t = ticket(subject, customer={"name": "Eve <b>_Admin_</b>"})
            opened = await tickets.open(t, fast_policy(resolution="120s"))
            await wait_for(tickets, t.id, lambda s: s.tier is not None)
            handle = client.get_workflow_handle(opened.workflow_id)
            summary = await (await handle.describe()).static_summary()
            details = (await handle.query("__temporal_workflow_metadata")).current_details

        escaped = r"Pay \[here\](https://evil.example) !\[x\](y) \<img src=x\> \*\*now\*\*"
        assert summary == f"[normal] {t.id} — {escaped}"
        assert f"**{t.id}** — {escaped}" in details
        assert r"**Customer:** Eve \<b\>\_Admin\_\</b\> (standard)" in details


def hostile_state(subject: str, name: str, assignee: str, followers: list[str]) -> TicketState:
    """A ticket state holding arbitrary text, as a ticket opened before input checks would."""
    t = ticket("placeholder").model_copy(update={"id": "T-1", "subject": subject})
    t = t.model_copy(update={"customer": t.customer.model_copy(update={"name": name})})
    return TicketState(
        ticket=t,
        policy=default_policy(),
        opened_by="api",
        opened_at=NOW,
        priority=t.priority,
        tier="tier1",
        team="frontline",
        assignee=assignee or None,
        followers=followers,
    )


def unescaped_inline(text: str) -> list[str]:
    """Markdown inline characters in `text` that no backslash escapes."""
    found, escaped = [], False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _INLINE:
            found.append(char)
    return found


class TestMarkdownText:
    """`md_text` and the summaries built from it are one inert, bounded line."""

    def test_line_breaks_cannot_forge_detail_lines(self) -> None:
        """A subject or owner with line breaks stays on its own line of the details."""
        state = hostile_state(
            "Help\n- **State:** resolved\r\n# Paid",
            "Ana\u2028- **Owner:** nobody",
            "Bob\n\n**SLA**",
            [],
        )

        lines = details_markdown(state, NOW).split("\n")

        assert lines[0] == r"**T-1** — Help - \*\*State:\*\* resolved # Paid"
        assert [line for line in lines if line.startswith("- **State:**")] == ["- **State:** new"]
        assert r"- **Owner:** Bob \*\*SLA\*\*" in lines
        assert "**SLA**" not in lines

    def test_long_text_is_cut_with_an_ellipsis(self) -> None:
        """A subject is at most 200 characters (before escaping) in the details and summary."""
        state = hostile_state("s" * 5000, "n" * 5000, "", [f"agent{i}" for i in range(50)])

        details = details_markdown(state, NOW)
        summary = static_summary(state.ticket)

        assert f"— {'s' * (MAX_SUBJECT - 1)}…\n" in details
        assert "n" * 100 not in details
        assert f"agent{MAX_ITEMS - 1} (+{50 - MAX_ITEMS} more)" in details
        assert len(summary) <= 200
        assert summary.endswith("…")
        assert len(details) < 2000

    def test_entities_and_bidi_overrides_are_inert(self) -> None:
        """`&#x202E;` stays text; a real right-to-left override becomes a space."""
        assert md_text("a &#x202E; b\u202ec") == r"a \&#x202E; b c"

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(subject=HOSTILE, name=HOSTILE, assignee=HOSTILE, followers=st.lists(HOSTILE, max_size=3))
    def test_details_keep_their_lines_whatever_the_text(
        self, subject: str, name: str, assignee: str, followers: list[str]
    ) -> None:
        """Arbitrary text never adds, removes or restarts a line of the details."""
        benign = details_markdown(hostile_state("s", "n", "a", ["f"] if followers else []), NOW)
        hostile = details_markdown(hostile_state(subject, name, assignee, followers), NOW)

        benign_lines, hostile_lines = benign.split("\n"), hostile.split("\n")
        assert len(hostile.splitlines()) == len(hostile_lines) == len(benign_lines)
        for ours, theirs in zip(benign_lines, hostile_lines, strict=True):
            assert theirs.startswith(re.split(r"(?<=:\*\*) |(?<=—) ", ours)[0])

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(text=HOSTILE, limit=st.one_of(st.none(), st.integers(1, 300)))
    def test_md_text_is_one_inert_bounded_line(self, text: str, limit: int | None) -> None:
        """No line break, no unescaped inline Markdown, at most `limit` visible characters."""
        out = md_text(text, limit)

        assert len(out.splitlines()) <= 1
        assert unescaped_inline(out) == []
        assert limit is None or len(re.sub(r"\\(.)", r"\1", out)) <= limit

    @settings(deadline=None)  # shared 2-core machines: no timing flakes
    @given(subject=HOSTILE.filter(lambda s: s.strip()), name=HOSTILE)
    def test_static_summary_and_details_are_one_line(self, subject: str, name: str) -> None:
        """The summary and static details are single inert lines within their bounds."""
        t = hostile_state(subject, name, "", []).ticket

        for text in (static_summary(t), static_details(t)):
            assert len(text.splitlines()) == 1
        assert len(static_summary(t)) <= 200
