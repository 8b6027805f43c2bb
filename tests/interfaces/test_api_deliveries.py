"""The delivery routes of the HTTP API over real HTTP, against the real dev server and a chat
receiver on loopback that answers 503 while it is "down": list what keeps failing, retry it
now, drop one item, find the tickets with failing deliveries; and what the routes refuse.

No test races the retry clock: each waits for an eventual condition (an item failing, the
list filter seeing it, the outbox empty).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client

from tests.activities.servers import SmtpCapture
from tests.interfaces.http_support import (
    AGENT_TOKEN,
    AUTH,
    SERVICE_TOKEN,
    bearer,
    quiet_history_length,
    serving,
)
from tests.interfaces.test_api_limits import assert_short_and_clean
from tests.waiting import eventually
from tests.workflows.support import fast_policy, running_worker, ticket, wait_for
from tests.workflows.test_deliveries import Outage, activities_for, chat_requests
from tierflow.client import TicketClient
from tierflow.statemachine import Policy
from tierflow.workflows.messages import Assign

AGENT = bearer(AGENT_TOKEN)  # Jo Park, an agent of tier 1 / frontline
SERVICE = bearer(SERVICE_TOKEN)  # crm, which the policy below lets act for agents


def policy() -> Policy:
    return fast_policy(
        resolution="600s", permissions={"services": [{"name": "crm", "may_act_for": ["agent"]}]}
    )


@dataclass
class Failing:
    """A ticket whose chat messages keep failing, the API serving it, and the receivers."""

    http: httpx.AsyncClient
    tickets: TicketClient
    outage: Outage
    ticket_id: str

    @property
    def path(self) -> str:
        return f"/tickets/{self.ticket_id}/deliveries"

    async def listed(self) -> list[dict[str, Any]]:
        response = await self.http.get(self.path)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    async def finals(self) -> list[dict[str, Any]]:
        return [
            e.model_dump(mode="json")
            for e in await self.tickets.timeline(self.ticket_id)
            if e.kind == "delivery_failure" and e.data.get("final") is True
        ]


@pytest_asyncio.fixture
async def failing(client: Client, task_queue: str) -> AsyncIterator[Failing]:
    """A tier-1 ticket assigned to Alex Kim while chat is down: the queue's and Alex's chat
    messages keep failing (at least two items)."""
    with SmtpCapture() as smtp, Outage() as outage:
        outage.down.add("/chat")
        acts = activities_for(smtp, outage)
        async with (
            running_worker(client, task_queue, acts) as tickets,
            serving(tickets) as url,
            httpx.AsyncClient(base_url=url, headers=AUTH) as http,
        ):
            t = ticket("Chat is down", customer={"email": "ana.private@example.com"})
            await tickets.open(t, policy())
            await wait_for(tickets, t.id, lambda s: s.state == "tier1")
            await tickets.assign(t.id, Assign(actor="Jordan Diaz", assignee="Alex Kim"))
            f = Failing(http, tickets, outage, t.id)

            async def two_failing() -> bool:
                return len(await f.listed()) >= 2

            await eventually(two_failing)
            yield f


class TestReading:
    async def test_the_list_says_what_fails_and_nothing_of_the_customer(
        self, failing: Failing
    ) -> None:
        """Each item: key, what, channel, recipient kind, attempts, last error, next retry,
        horizon; no message text, no address, nothing of the customer."""
        found = await failing.listed()
        assert {d["channel"] for d in found} == {"chat"}
        assert {d["recipient"] for d in found} == {"staff"}
        for d in found:
            assert set(d) == {
                "key", "what", "channel", "error", "attempts", "waiting", "first_failed_at",
                "give_up_at", "recipient", "next_retry_at",
            }  # fmt: skip
            assert d["waiting"] or d["attempts"] >= 1
            assert d["give_up_at"] > d["first_failed_at"]
            assert "503" in d["error"] or d["waiting"]
        text = (await failing.http.get(failing.path)).text
        assert "ana.private" not in text
        assert "Chat is down" not in text  # the subject is the message's, not the list's

        async def some_round_planned() -> bool:
            return any(d["next_retry_at"] for d in await failing.listed())

        await eventually(some_round_planned)

    async def test_the_ticket_list_filters_on_failing_deliveries(self, failing: Failing) -> None:
        """``?delivery_failing=true`` finds the ticket (visibility: eventually) and each row
        says so; ``false`` leaves it out."""

        async def listed() -> bool:
            response = await failing.http.get(
                "/tickets", params={"delivery_failing": "true", "limit": 1000}
            )
            rows = {r["ticket_id"]: r for r in response.json()}
            return failing.ticket_id in rows and rows[failing.ticket_id]["delivery_failing"]

        await eventually(listed)
        ok = await failing.http.get("/tickets", params={"delivery_failing": "false"})
        assert ok.status_code == 200
        assert failing.ticket_id not in {r["ticket_id"] for r in ok.json()}
        bad = await failing.http.get("/tickets", params={"delivery_failing": "maybe"})
        assert bad.status_code == 422
        assert "maybe" not in bad.text


class TestCommands:
    async def test_an_agent_retries_but_only_a_supervisor_drops(self, failing: Failing) -> None:
        """Jo Park (agent) may retry, not drop: 403 and nothing changes; nor may the crm
        service acting for Jo. Alex Kim (supervisor) drops one: it is gone, a final failure
        on the timeline under Alex's name; the rest stay."""
        http, path = failing.http, failing.path
        before = await failing.listed()
        retried = await http.post(f"{path}/retry", headers=AGENT)
        assert retried.status_code == 200, retried.text
        assert {d["key"] for d in retried.json()} == {d["key"] for d in before}

        key = before[0]["key"]
        refused = await http.post(f"{path}/drop", json={"key": key}, headers=AGENT)
        assert refused.status_code == 403
        assert refused.json() == {
            "detail": "only a supervisor, manager or director the policy names may "
            "drop_delivery; 'Jo Park' is an agent"
        }
        for_agent = await http.post(
            f"{path}/drop", json={"key": key}, headers={**SERVICE, "X-On-Behalf-Of": "Jo Park"}
        )
        assert for_agent.status_code == 403
        assert key in {d["key"] for d in await failing.listed()}
        assert await failing.finals() == []

        dropped = await http.post(f"{path}/drop", json={"key": key})
        assert dropped.status_code == 200, dropped.text
        assert key not in {d["key"] for d in dropped.json()}
        (final,) = await failing.finals()
        assert final["actor"] == "Alex Kim"
        assert final["data"]["key"] == key
        again = await http.post(f"{path}/drop", json={"key": key})
        assert again.status_code == 409
        assert again.json() == {"detail": "no failing delivery with that key"}

    async def test_retry_after_recovery_delivers_then_nothing_is_left(
        self, failing: Failing
    ) -> None:
        """Chat back, retry now: every item is delivered, the list empties, and another
        retry is a 409 (nothing failing)."""
        failing.outage.down.clear()
        keys = {d["key"] for d in await failing.listed()}
        response = await failing.http.post(f"{failing.path}/retry", json={})
        assert response.status_code == 200, response.text

        async def empty() -> bool:
            return await failing.listed() == []

        await eventually(empty, within=150)
        delivered = {
            r.header("Idempotency-Key") for r in chat_requests(failing.outage) if r.status == 200
        }
        assert keys <= delivered
        nothing = await failing.http.post(f"{failing.path}/retry")
        assert nothing.status_code == 409
        assert nothing.json() == {"detail": "no delivery of this ticket is failing"}


class TestOutsider:
    async def test_made_up_keys_never_drop_anything(self, failing: Failing) -> None:
        """A supervisor sends 120 made-up keys (seeded: the same every run) — any script,
        control characters, near misses of real keys, 0 to 400 characters, non-strings: each
        is a 409 or a 422 that repeats nothing, and every failing item is still there."""
        before = await failing.listed()
        real = [d["key"] for d in before]
        rng = random.Random(14)
        alphabet = "aZ09-_/.:%\u202e\u200b\x00\x1b\n\t\"'<>{}é中🙂\U0010fffd"
        keys: list[object] = [
            *(k + rng.choice([" ", "/", "\x00", "é"]) for k in real),
            *(k.upper() for k in real),
            *(k[:-1] for k in real),
            "",
            "k" * 300,
            "k" * 301,
            -1,
            2**64,
            1.5,
            True,
            None,
            [real[0]],
            {"key": real[0]},
        ]
        while len(keys) < 120:
            keys.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400))))
        seen: dict[int, int] = {}
        for key in keys:
            response = await failing.http.post(f"{failing.path}/drop", json={"key": key})
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code in (409, 422), (key, response.text)
            assert_short_and_clean(response)
            if isinstance(key, str) and len(key) > 20:
                assert key not in response.text
        assert seen[409] > 50
        assert seen[422] >= 5
        after = await failing.listed()
        assert {d["key"] for d in after} == set(real)
        assert await failing.finals() == []


# --- what the routes refuse ----------------------------------------------------------------

LONG = "k" * 301


@pytest_asyncio.fixture
async def api(tickets: TicketClient) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(tickets) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as c:
        yield c


class TestRefusals:
    async def test_an_unknown_ticket_is_404_on_every_route(self, api: httpx.AsyncClient) -> None:
        for method, path, body in (
            ("GET", "/tickets/NOPE-1/deliveries", None),
            ("POST", "/tickets/NOPE-1/deliveries/retry", None),
            ("POST", "/tickets/NOPE-1/deliveries/drop", {"key": "x"}),
        ):
            response = await api.request(method, path, json=body)
            assert response.status_code == 404, (path, response.text)
            assert response.json() == {"detail": "no ticket 'NOPE-1'"}

    async def test_a_closed_ticket_lists_nothing_and_takes_no_command(
        self, api: httpx.AsyncClient, tickets: TicketClient
    ) -> None:
        """Closed: the list answers (empty); retry and drop are 409, saying it is closed."""
        t = ticket("Closing time")
        await tickets.open(t, fast_policy(resolution="1h"))
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        for action, body in (("resolve", {"resolution": "done"}), ("close", {})):
            response = await api.post(f"/tickets/{t.id}/actions/{action}", json=body)
            assert response.status_code == 200, response.text
        listed = await api.get(f"/tickets/{t.id}/deliveries")
        assert (listed.status_code, listed.json()) == (200, [])
        commands: list[tuple[str, dict[str, str] | None]] = [
            ("retry", None),
            ("drop", {"key": "x"}),
        ]
        for path, command in commands:
            response = await api.post(f"/tickets/{t.id}/deliveries/{path}", json=command)
            assert response.status_code == 409, response.text
            assert "closed" in response.json()["detail"]

    @pytest.mark.parametrize(
        ("method", "path", "body", "status"),
        [
            ("POST", "drop", {"key": LONG}, 422),
            ("POST", "drop", {"key": ""}, 422),
            ("POST", "drop", {"key": -1}, 422),
            ("POST", "drop", {"key": None}, 422),
            ("POST", "drop", {}, 422),
            ("POST", "drop", None, 422),
            ("POST", "drop", {"key": "x", "extra": 1}, 422),
            ("POST", "drop", {"key": "x", "actor": "Morgan Lee"}, 422),
            ("POST", "drop", {"key": "\u202e\U0001f4a5é\x00"}, 409),
            ("POST", "drop", {"key": "../../retry"}, 409),
            ("POST", "retry", {"actor": "Someone Else"}, 422),
            ("POST", "retry", [], 422),
            ("POST", "retry", {"attempts": -1}, 422),
            ("POST", "retry", "NaN", 422),
            ("POST", "drop", "SURROGATE", 422),
            ("POST", "drop", "DEEP", 422),
            ("GET", "retry", None, 405),
            ("GET", "drop", None, 405),
            ("DELETE", "", None, 405),
            ("PUT", "", None, 405),
            ("POST", "", {}, 405),
            ("POST", "k/drop", {}, 404),
        ],
    )
    async def test_hostile_input_is_a_clear_4xx_and_changes_nothing(
        self,
        api: httpx.AsyncClient,
        tickets: TicketClient,
        client: Client,
        method: str,
        path: str,
        body: object,
        status: int,
    ) -> None:
        """Oversize, empty, mistyped, unicode and made-up keys, extra fields, someone else as
        actor, wrong methods and paths: a short 4xx that repeats nothing of the input, and
        the ticket's history is as it was (a refused command writes nothing)."""
        t = ticket("Hostile")
        await tickets.open(t, fast_policy(resolution="1h"))
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        before = await quiet_history_length(client, t.id)
        url = f"/tickets/{t.id}/deliveries" + (f"/{path}" if path else "")
        raw = {"NaN": b"NaN", "SURROGATE": b'{"key": "\\ud800"}', "DEEP": b"[" * 100_000}
        if isinstance(body, str) and body in raw:
            response = await api.request(
                method, url, content=raw[body], headers={"Content-Type": "application/json"}
            )
        else:
            response = await api.request(method, url, json=body)
        assert response.status_code == status, response.text
        assert_short_and_clean(response)
        assert LONG not in response.text
        assert "\U0001f4a5" not in response.text
        assert await quiet_history_length(client, t.id) == before

    async def test_a_bad_ticket_id_or_a_huge_body_is_refused_before_temporal(
        self, api: httpx.AsyncClient
    ) -> None:
        too_long = "T" * 129
        for path in (f"/tickets/{too_long}/deliveries", "/tickets/%E2%80%AE/deliveries"):
            response = await api.get(path)
            assert response.status_code == 422, response.text
            assert too_long not in response.text
        huge = await api.post("/tickets/T-1/deliveries/drop", json={"key": "k" * (300 * 1024)})
        assert huge.status_code == 413
        no_auth = await api.post("/tickets/T-1/deliveries/retry", headers={"Authorization": ""})
        assert no_auth.status_code == 401

    async def test_acting_for_someone_takes_a_service_and_a_plain_name(
        self, api: httpx.AsyncClient, tickets: TicketClient
    ) -> None:
        """A person naming someone to act for: 403; a name that is not ASCII in the header,
        or one that differs from the body's: 422 — before anything reaches the ticket."""
        t = ticket("On behalf")
        await tickets.open(t, fast_policy(resolution="1h"))
        await wait_for(tickets, t.id, lambda s: s.state == "tier1")
        url = f"/tickets/{t.id}/deliveries"
        person = await api.post(f"{url}/retry", headers={"X-On-Behalf-Of": "Jo Park"})
        assert person.status_code == 403
        assert person.json() == {"detail": "only a service may act on behalf of someone"}
        odd = await api.post(
            f"{url}/drop", json={"key": "k"}, headers={"X-On-Behalf-Of": "Jo\x7fPark"}
        )
        assert odd.status_code == 422, odd.text
        differs = await api.post(
            f"{url}/drop",
            json={"key": "k", "on_behalf_of": "Robin Ortiz"},
            headers={**SERVICE, "X-On-Behalf-Of": "Jo Park"},
        )
        assert differs.status_code == 422
        assert "Robin" not in differs.text
