"""The HTTP API over real HTTP: uvicorn on a loopback port, called with httpx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from tests.interfaces.http_support import AUTH, SERVICE_AUTH, serving
from tests.workflows.support import ticket, wait_for
from tierflow.client import TicketClient


@pytest_asyncio.fixture
async def http(tickets: TicketClient) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client authorised against the API served on a free loopback port."""
    async with serving(tickets) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as c:
        yield c


def ticket_json(**overrides: Any) -> dict[str, object]:
    return ticket(**overrides).model_dump(mode="json")


class TestAuth:
    async def test_credentials_required_except_health_and_docs(
        self, http: httpx.AsyncClient
    ) -> None:
        """Without valid credentials only /health and the OpenAPI documents answer; a 401
        carries the Bearer challenge (invalid_token when a credential was given)."""
        for path in ("/health", "/openapi.json", "/docs"):
            assert (await http.get(path, headers={"Authorization": ""})).status_code == 200
        missing = await http.get("/tickets", headers={"Authorization": ""})
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="tierflow"'
        wrong = await http.get("/tickets", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == 'Bearer realm="tierflow", error="invalid_token"'
        assert wrong.json() == {"detail": "unknown API key"}

    async def test_openapi_lists_every_action(self, http: httpx.AsyncClient) -> None:
        """Each action has its own route and body schema in the OpenAPI document."""
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert "/tickets/{ticket_id}/actions/request_escalation" in paths
        assert "/tickets/{ticket_id}/events" in paths

    async def test_openapi_declares_every_answer(self, http: httpx.AsyncClient) -> None:
        """Each route documents its errors with a model; opening documents 200 and 201."""
        paths = (await http.get("/openapi.json")).json()["paths"]
        for path, operations in paths.items():
            if path == "/health":
                continue
            if path.startswith("/codec/"):  # Temporal's codec server: never Temporal itself
                for operation in operations.values():
                    assert {"400", "401", "413", "422", "500"} <= set(operation["responses"])
                    error = operation["responses"]["400"]["content"]["application/json"]
                    assert error["schema"] == {"$ref": "#/components/schemas/ErrorDetail"}
                continue
            for method, operation in operations.items():
                codes = set(operation["responses"])
                assert {"400", "401", "413", "500", "503"} <= codes, (method, path)
                if operation.get("parameters") or operation.get("requestBody"):
                    assert "422" in codes, (method, path)
                if "{ticket_id}" in path:
                    assert "404" in codes, (method, path)
                if method == "post":
                    assert "409" in codes, (method, path)
                if "/actions/" in path:
                    assert "403" in codes, (method, path)
                error = operation["responses"]["409" if method == "post" else "401"]
                assert error["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorDetail"
                }
        assert {"200", "201"} <= set(paths["/tickets"]["post"]["responses"])


class TestTickets:
    async def test_open_is_201_then_200(self, http: httpx.AsyncClient) -> None:
        """Opening creates the ticket once; opening it again answers 200 with the same run."""
        body = ticket_json()
        first = await http.post("/tickets", json=body)
        assert first.status_code == 201, first.text
        second = await http.post("/tickets", json=body)
        assert second.status_code == 200
        assert second.json()["run_id"] == first.json()["run_id"]
        assert second.json()["created"] is False

    async def test_bad_ticket_is_422_with_field_errors(self, http: httpx.AsyncClient) -> None:
        """A malformed ticket names each offending field."""
        body = ticket_json()
        body["channel"] = "carrier-pigeon"
        response = await http.post("/tickets", json=body)
        assert response.status_code == 422
        assert ["body", "channel"] in [e["loc"] for e in response.json()["detail"]]

    async def test_actions_events_status_and_timeline(
        self, http: httpx.AsyncClient, tickets: TicketClient
    ) -> None:
        """Actions return the new status, events are accepted, reads show the result."""
        body = ticket_json()
        tid = str(body["id"])
        assert (await http.post("/tickets", json=body)).status_code == 201
        await wait_for(tickets, tid, lambda s: s.state == "tier1")
        assigned = await http.post(f"/tickets/{tid}/actions/assign", json={"assignee": "Alex Kim"})
        assert assigned.status_code == 200, assigned.text
        assert assigned.json()["assignee"] == "Alex Kim"
        waiting = await http.post(f"/tickets/{tid}/actions/wait_customer", json={})
        assert waiting.json()["state"] == "waiting"
        reply = await http.post(
            f"/tickets/{tid}/events",
            json={"type": "reply", "message": "hi"},
            headers=SERVICE_AUTH,
        )
        assert reply.status_code == 202
        await wait_for(tickets, tid, lambda s: s.state == "tier1")
        shown = await http.get(f"/tickets/{tid}")
        assert shown.json()["state"] == "tier1"
        kinds = [e["kind"] for e in (await http.get(f"/tickets/{tid}/timeline")).json()]
        assert kinds[:3] == ["opened", "triage", "transition"]
        assert "customer" in kinds

    async def test_invalid_action_is_409_with_the_domain_message(
        self, http: httpx.AsyncClient, tickets: TicketClient
    ) -> None:
        """An action the ticket's state does not allow is a conflict, with the reason."""
        body = ticket_json()
        tid = str(body["id"])
        await http.post("/tickets", json=body)
        await wait_for(tickets, tid, lambda s: s.state == "tier1")
        response = await http.post(f"/tickets/{tid}/actions/approve", json={})
        assert response.status_code == 409
        assert response.json()["detail"].startswith("cannot 'approve'")

    async def test_bad_action_body_is_422(self, http: httpx.AsyncClient) -> None:
        """An escalation without reasons is refused before it reaches Temporal."""
        response = await http.post("/tickets/T-x/actions/escalate", json={})
        assert response.status_code == 422
        assert ["body", "reasons"] in [e["loc"] for e in response.json()["detail"]]

    async def test_bad_event_is_422(self, http: httpx.AsyncClient) -> None:
        """Feedback outside 1..5 and unknown event types are field errors."""
        for event in ({"type": "feedback", "score": 9}, {"type": "shout"}):
            response = await http.post("/tickets/T-x/events", json=event, headers=SERVICE_AUTH)
            assert response.status_code == 422, event

    async def test_only_a_host_system_relays_customer_events(self, http: httpx.AsyncClient) -> None:
        """An agent's credential cannot speak as the customer: 403 before anything is sent."""
        response = await http.post("/tickets/T-x/events", json={"type": "reply", "message": "m"})
        assert response.status_code == 403
        assert "service credential" in response.json()["detail"]

    async def test_unknown_ticket_and_action_are_404(self, http: httpx.AsyncClient) -> None:
        """A ticket never opened, or an action that does not exist, is not found."""
        assert (await http.get("/tickets/NOPE-404")).status_code == 404
        assert (await http.get("/tickets/NOPE-404/timeline")).status_code == 404
        note = await http.post("/tickets/NOPE-404/actions/note", json={"text": "x"})
        assert note.status_code == 404
        assert note.json()["detail"] == "no ticket 'NOPE-404'"
        unknown = await http.post("/tickets/NOPE-404/actions/teleport", json={})
        assert unknown.status_code == 404

    async def test_list_filters(self, http: httpx.AsyncClient, tickets: TicketClient) -> None:
        """GET /tickets filters like the client; a bad priority is a 422."""
        body = ticket_json(priority="critical", customer={"status": "enterprise"})
        tid = str(body["id"])
        await http.post("/tickets", json=body)
        await wait_for(tickets, tid, lambda s: s.tier is not None)
        params = {"priority": "critical", "customer_status": "enterprise", "running_only": "true"}
        rows: list[dict[str, object]] = []
        for _ in range(50):  # visibility is eventually consistent
            rows = (await http.get("/tickets", params=params)).json()
            if tid in {r["ticket_id"] for r in rows}:
                break
            await asyncio.sleep(0.2)
        assert tid in {r["ticket_id"] for r in rows}
        assert {(r["priority"], r["customer_status"]) for r in rows} == {("critical", "enterprise")}
        assert (await http.get("/tickets", params={"priority": "asap"})).status_code == 422
