"""No input, valid or not, breaks the HTTP API: bodies too large, JSON that is not JSON, text
that is not Unicode, values out of bounds. Each is refused with a short 4xx that never repeats
the input, and nothing reaches the ticket (no workflow started, no history written)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client

from tests.interfaces.http_support import (
    AUTH,
    SERVICE_AUTH,
    exists,
    history_length,
    listing_the_service,
    quiet_history_length,
    serving,
)
from tests.interfaces.support import settle
from tests.workflows.support import fast_policy, ticket, wait_for
from tierflow.client import TicketClient


@pytest_asyncio.fixture
async def http(tickets: TicketClient) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(tickets) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as c:
        yield c


def ticket_text(**overrides: Any) -> tuple[str, str]:
    """A valid ticket as JSON text, with ``overrides`` spliced in as raw JSON text."""
    data = ticket().model_dump(mode="json")
    for key in overrides:
        data[key] = f"@@{key}@@"
    text = json.dumps(data)
    for key, raw in overrides.items():
        text = text.replace(f'"@@{key}@@"', raw)
    return str(data["id"]), text


def assert_short_and_clean(response: httpx.Response, *, limit: int = 4096) -> None:
    """A small JSON answer that is valid UTF-8 and says no more than field errors."""
    assert len(response.content) < limit, response.content[:200]
    body = response.json()
    assert isinstance(body["detail"], str | list)
    if isinstance(body["detail"], list):
        for error in body["detail"]:
            assert set(error) == {"loc", "msg", "type"}


async def post_raw(
    http: httpx.AsyncClient, path: str, content: bytes | str, **headers: str
) -> httpx.Response:
    return await http.post(
        path, content=content, headers={"Content-Type": "application/json", **headers}
    )


class TestRefusedOpens:
    """Bad opens: each is a short 4xx and starts no workflow."""

    @pytest.mark.parametrize(
        ("field", "raw"),
        [
            ("impacted_customers", "NaN"),
            ("impacted_customers", "Infinity"),
            ("impacted_customers", "-Infinity"),
            ("impacted_customers", "1e999"),
            ("impacted_customers", "9" * 5000),
            ("impacted_customers", "1" + "0" * 40),
            ("subject", '"\\ud800 lone surrogate"'),
            ("description", '"\\udfff"'),
            ("channel", '"\\ud800"'),
            ("tags", "[" * 20000 + "]" * 20000),
        ],
    )
    async def test_not_json_or_out_of_bounds_is_422(
        self, http: httpx.AsyncClient, client: Client, field: str, raw: str
    ) -> None:
        """NaN, Infinity, integers of 5,000 digits, lone surrogates, deep nesting: 422."""
        tid, text = ticket_text(**{field: raw})
        response = await post_raw(http, "/tickets", text)
        assert response.status_code == 422, response.text[:300]
        assert_short_and_clean(response)
        assert not await exists(client, tid)

    async def test_body_over_the_limit_is_413_before_parsing(
        self, http: httpx.AsyncClient, client: Client
    ) -> None:
        """A 300 KiB body is refused by its Content-Length, a 1 MB subject too."""
        for size in (300 * 1024, 1024 * 1024):
            tid, text = ticket_text(subject=json.dumps("x" * size))
            response = await post_raw(http, "/tickets", text)
            assert response.status_code == 413
            assert response.json() == {"detail": "request body over 256 KiB"}
            assert not await exists(client, tid)

    async def test_streamed_body_over_the_limit_is_413(
        self, http: httpx.AsyncClient, client: Client
    ) -> None:
        """Without a Content-Length (chunked), the body is counted as it arrives."""
        tid, text = ticket_text(description=json.dumps("y" * (400 * 1024)))

        async def chunks() -> AsyncIterator[bytes]:
            data = text.encode()
            for i in range(0, len(data), 16 * 1024):
                yield data[i : i + 16 * 1024]

        response = await http.post(
            "/tickets", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert not await exists(client, tid)

    async def test_long_subject_under_the_body_limit_is_422_without_echo(
        self, http: httpx.AsyncClient, client: Client
    ) -> None:
        """A 200 KiB subject is a field error naming the field, not repeating it."""
        tid, text = ticket_text(subject=json.dumps("z" * (200 * 1024)))
        response = await post_raw(http, "/tickets", text)
        assert response.status_code == 422
        assert_short_and_clean(response, limit=1024)
        assert "zzz" not in response.text
        assert ["body", "subject"] in [e["loc"] for e in response.json()["detail"]]
        assert not await exists(client, tid)

    @pytest.mark.parametrize(
        ("content", "content_type"),
        [
            (b"\xff\xfe{not utf-8", "application/json"),
            (b"\xff\xfe{not utf-8", "text/plain"),
            (b'{"id": "T-1",', "application/json"),
            (b"", "application/json"),
            (b"[]", "application/json"),
        ],
    )
    async def test_malformed_bodies_are_422(
        self, http: httpx.AsyncClient, content: bytes, content_type: str
    ) -> None:
        """Bad UTF-8, truncated JSON, no body, the wrong shape: all field errors."""
        response = await http.post(
            "/tickets", content=content, headers={"Content-Type": content_type}
        )
        assert response.status_code == 422, response.text[:300]
        assert_short_and_clean(response)

    async def test_unknown_keys_are_named_briefly(self, http: httpx.AsyncClient) -> None:
        """Many unknown keys, some long: a few short errors, not thousands of echoed keys."""
        _, text = ticket_text()
        data = json.loads(text)
        data.update({f"k{i}-" + "q" * 1000: i for i in range(200)})
        response = await http.post("/tickets", json=data)
        assert response.status_code == 422
        assert_short_and_clean(response, limit=8192)
        assert len(response.json()["detail"]) <= 20

    async def test_no_workflow_was_started_by_any_refused_open(
        self, http: httpx.AsyncClient, tickets: TicketClient, task_queue: str
    ) -> None:
        """After refused opens, the test's task queue holds only the one valid ticket."""
        for field, raw in (("impacted_customers", "NaN"), ("subject", '"\\ud800"')):
            _, text = ticket_text(**{field: raw})
            assert (await post_raw(http, "/tickets", text)).status_code == 422
        _, big = ticket_text(subject=json.dumps("x" * 300 * 1024))
        assert (await post_raw(http, "/tickets", big)).status_code == 413
        sentinel = ticket()
        assert (await http.post("/tickets", json=sentinel.model_dump(mode="json"))).is_success
        rows = await settle(lambda: tickets.list(task_queue=task_queue), expected=1)
        assert [r.ticket_id for r in rows] == [sentinel.id]


class TestRefusedActions:
    """Bad actions and events on a live ticket: refused, and its history is unchanged."""

    @pytest_asyncio.fixture
    async def live(self, http: httpx.AsyncClient, tickets: TicketClient) -> str:
        t = ticket("Quiet ticket")
        # The host system relays customer events: the ticket's policy lists it.
        await tickets.open(t, listing_the_service(fast_policy(resolution="1h")))
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        return t.id

    async def test_bad_bodies_write_nothing(
        self, http: httpx.AsyncClient, client: Client, live: str
    ) -> None:
        """Oversize notes, NaN, surrogates, 5 MB resolutions, early feedback: nothing written."""
        before = await quiet_history_length(client, live)
        cases: list[tuple[str, bytes | str, int]] = [
            ("actions/note", json.dumps({"text": "n" * 10_001}), 422),
            ("actions/note", '{"text": "\\ud800"}', 422),
            ("actions/note", '{"text": NaN}', 422),
            ("actions/set_priority", '{"priority": Infinity}', 422),
            ("actions/resolve", json.dumps({"resolution": "r" * 5_000_000}), 413),
            ("actions/approve", "{}", 409),
            ("events", '{"type": "feedback", "score": 1e999}', 422),
            ("events", '{"type": "feedback", "score": ' + "9" * 5000 + "}", 422),
            ("events", '{"type": "reply", "message": "\\udc00"}', 422),
            ("events", json.dumps({"type": "reply", "message": "m" * 10_001}), 422),
            ("events", '{"type": "feedback", "score": 2}', 409),
        ]
        for path, body, expected in cases:
            headers = SERVICE_AUTH if path == "events" else {}
            response = await post_raw(http, f"/tickets/{live}/{path}", body, **headers)
            assert response.status_code == expected, (path, response.text[:300])
            assert_short_and_clean(response)
        assert await history_length(client, live) == before

    async def test_early_feedback_says_when_it_counts(
        self, http: httpx.AsyncClient, live: str
    ) -> None:
        """Feedback before resolution is refused up front, with the reason."""
        response = await http.post(
            f"/tickets/{live}/events", json={"type": "feedback", "score": 5}, headers=SERVICE_AUTH
        )
        assert response.status_code == 409
        assert response.json()["detail"].startswith("feedback counts once the ticket is resolved")

    async def test_bad_ticket_ids_and_query_values_are_422(self, http: httpx.AsyncClient) -> None:
        """Ids and filters are checked against their patterns before any Temporal call."""
        for path in (
            "/tickets/%20bad%20id",
            "/tickets/" + "a" * 200,
            "/tickets/T-1/timeline?limit=0",
            "/tickets/T-1/timeline?limit=1001",
            "/tickets/T-1/timeline?before=" + "9" * 5000,
            "/tickets?team=x'%20OR%20true",
            "/tickets?tier=%ED%A0%80",
        ):
            response = await http.get(path)
            assert response.status_code == 422, (path, response.text[:200])
            assert_short_and_clean(response)


async def test_concurrent_requests_stay_independent(http: httpx.AsyncClient) -> None:
    """Refused requests in flight together do not disturb each other (no shared state)."""
    _, text = ticket_text(impacted_customers="NaN")
    answers = await asyncio.gather(*(post_raw(http, "/tickets", text) for _ in range(8)))
    assert {a.status_code for a in answers} == {422}


class TestUiMetadata:
    async def test_static_details_are_escaped_and_bounded(
        self, client: Client, tickets: TicketClient
    ) -> None:
        """A customer name full of Markdown and HTML reaches the UI's static details as text."""
        name = "**URGENT** [Click](https://evil.example) <img src=x onerror=alert(1)> " + "n" * 120
        t = ticket("Phishing attempt", customer={"name": name})
        opened = await tickets.open(t)
        desc = await client.get_workflow_handle(opened.workflow_id).describe()
        details = await desc.static_details()
        assert details is not None
        # Markdown's own escapes: each special character is preceded by a backslash.
        for raw in ("*", "<", ">", "[", "]"):
            assert re.search(rf"(?<!\\){re.escape(raw)}", details.split(" (standard)")[0]) is None
        assert len(details) < 300
