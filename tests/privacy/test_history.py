"""On the real dev server: a ticket opened by an encrypting client and worker leaves no
personal data in clear anywhere Temporal keeps it — history, UI metadata, the current-details
query, search attributes — and the API's codec routes (and through them the `temporal` CLI)
give it back to whoever holds the token."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest_asyncio
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.workflowservice.v1 import QueryWorkflowRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests import replaynet
from tests.privacy.support import (
    TOKEN,
    Pii,
    codec_of,
    encrypting_client,
    key_file,
    new_pii,
    serving_api,
)
from tests.workflows.support import fast_policy, running_worker, wait_for_timeline
from tierflow.client import workflow_id_for
from tierflow.devserver import ensure_temporal_binary

UI_ORIGIN = "http://127.0.0.1:8233"


def printed_payload_data(output: str) -> bytes:
    """The payloads' data in `temporal workflow show --output json` (base64 there), decoded."""
    return b"\n".join(base64.b64decode(m) for m in re.findall(r'"data": "([^"]*)"', output))


def absent(pii: Pii, raw: bytes, where: str) -> None:
    """No personal string in ``raw``, as UTF-8 or as the base64 of a JSON document."""
    for text in pii.strings():
        assert text.encode() not in raw, f"{text!r} in clear in {where}"


@dataclass(frozen=True)
class Opened:
    pii: Pii
    ticket_id: str
    keys: Path
    api: str  # the API's base URL


@pytest_asyncio.fixture
async def opened(
    temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Opened]:
    """A ticket with personal data everywhere (start input, agent and customer replies, a
    note, deliveries), run by an encrypting worker; the API serves the codec routes."""
    address = temporal_env.client.service_client.config.target_host
    keys = key_file(tmp_path, "k2026")
    client = await encrypting_client(address, keys)
    pii = new_pii()
    async with running_worker(client, task_queue) as tickets:
        ticket = pii.ticket()
        replaynet.decoded_by(workflow_id_for(ticket.id), client.data_converter)
        await tickets.open(ticket, fast_policy(resolution="1h"))
        await tickets.act(ticket.id, "assign", {"actor": "Dana Fox", "assignee": "Casey Brown"})
        await tickets.act(
            ticket.id, "respond", {"actor": "Casey Brown", "message": pii.agent_reply}
        )
        await tickets.act(ticket.id, "note", {"actor": "Casey Brown", "text": pii.note})
        await tickets.customer_reply(ticket.id, {"message": pii.customer_reply})
        await wait_for_timeline(tickets, ticket.id, "replied")
        async with serving_api(tickets, codec_of(keys), origins=[UI_ORIGIN]) as api:
            yield Opened(pii, ticket.id, keys, api)


async def raw_metadata_query(client: Client, workflow_id: str) -> bytes:
    """The UI's current-details query, answered as the server returns it (undecoded)."""
    response = await client.workflow_service.query_workflow(
        QueryWorkflowRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id),
            query=WorkflowQuery(query_type="__temporal_workflow_metadata"),
        )
    )
    return response.query_result.SerializeToString()


class TestAtRest:
    async def test_no_personal_data_in_clear_anywhere_temporal_keeps_it(
        self, opened: Opened, client: Client
    ) -> None:
        """Read with a client that has no codec: the raw history (inputs, activity inputs
        and results, update and signal arguments, timer and activity summaries), the
        workflow's static summary and details, its search attributes and the current
        details query answer hold none of the personal strings."""
        handle = client.get_workflow_handle(workflow_id_for(opened.ticket_id))
        history = await handle.fetch_history()
        raw_events = [e.SerializeToString() for e in history.events]
        absent(opened.pii, b"".join(raw_events), "the history")
        absent(opened.pii, history.to_json().encode(), "the history as JSON")
        description = (await handle.describe()).raw_description
        absent(opened.pii, description.SerializeToString(), "the description (UI metadata)")
        metadata = description.execution_config.user_metadata
        assert metadata.summary.metadata["encoding"] == b"binary/encrypted"
        assert metadata.details.metadata["encoding"] == b"binary/encrypted"
        absent(opened.pii, await raw_metadata_query(client, handle.id), "the details query")
        # Start input, updates, signal, activity inputs and results, timer summaries.
        assert b"".join(raw_events).count(b"binary/encrypted") >= 8
        summaries = [e.user_metadata.summary for e in history.events if e.HasField("user_metadata")]
        assert len(summaries) >= 3  # the start, the SLA timer, the effects activities
        assert all(p.metadata["encoding"] == b"binary/encrypted" for p in summaries)
        kinds = {e.WhichOneof("attributes") for e in history.events}
        assert "activity_task_scheduled_event_attributes" in kinds

    async def test_search_attributes_hold_no_personal_data(
        self, opened: Opened, client: Client
    ) -> None:
        """Visibility (not encrypted by Temporal) has only policy names, states, counts,
        dates and the customer's status."""
        desc = await client.get_workflow_handle(workflow_id_for(opened.ticket_id)).describe()
        values = {k.name: v for k, v in ((p.key, p.value) for p in desc.typed_search_attributes)}
        assert values["TicketCustomerStatus"] == "vip"
        assert set(values) <= {
            "TicketState",
            "TicketTier",
            "TicketTeam",
            "TicketPriority",
            "TicketSlaDue",
            "TicketSlaBreached",
            "TicketEscalations",
            "TicketCustomerStatus",
            "TemporalChangeVersion",  # the server's own: patch ids
            "BuildIds",  # the server's own: worker build ids
        }
        absent(opened.pii, repr(values).encode(), "the search attributes")


class TestCodecRoutes:
    async def test_decode_gives_the_plaintext_back(self, opened: Opened, client: Client) -> None:
        """The UI's request (proto JSON, X-Namespace, the token) decodes the start input and
        the UI metadata to the customer's data."""
        handle = client.get_workflow_handle(workflow_id_for(opened.ticket_id))
        meta = (await handle.describe()).raw_description.execution_config.user_metadata
        history = await handle.fetch_history()
        start = history.events[0].workflow_execution_started_event_attributes.input.payloads
        body = json_format.MessageToDict(Payloads(payloads=[meta.summary, meta.details, *start]))
        async with httpx.AsyncClient(base_url=opened.api) as http:
            answer = await http.post(
                "/codec/decode",
                json=body,
                headers={"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"},
            )
        assert answer.status_code == 200, answer.text
        decoded = [base64.b64decode(p["data"]) for p in answer.json()["payloads"]]
        assert opened.pii.subject.encode() in decoded[0]
        assert opened.pii.name.encode() in decoded[1]
        assert opened.pii.email.encode() in b"".join(decoded[2:])
        assert opened.pii.card.encode() in b"".join(decoded[2:])

    async def test_encode_then_decode_round_trips(self, opened: Opened) -> None:
        plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": ""}
        plain["data"] = base64.b64encode(b'"hello"').decode()
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=opened.api, headers=auth) as http:
            encoded = (await http.post("/codec/encode", json={"payloads": [plain]})).json()
            [sealed] = encoded["payloads"]
            assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
            assert base64.b64decode(sealed["metadata"]["encryption-key-id"]) == b"k2026"
            decoded = (await http.post("/codec/decode", json=encoded)).json()
        assert decoded == {"payloads": [plain]}

    async def test_without_the_token_nothing_is_decoded(self, opened: Opened) -> None:
        async with httpx.AsyncClient(base_url=opened.api) as http:
            answer = await http.post("/codec/decode", json={"payloads": []})
            wrong = await http.post(
                "/codec/decode", json={"payloads": []}, headers={"Authorization": "Bearer no"}
            )
        assert answer.status_code == wrong.status_code == 401

    async def test_a_tampered_payload_is_a_clear_400(self, opened: Opened) -> None:
        codec = codec_of(opened.keys)
        [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
        sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
        body = json_format.MessageToDict(Payloads(payloads=[sealed]))
        async with httpx.AsyncClient(base_url=opened.api) as http:
            answer = await http.post(
                "/codec/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
            )
        assert answer.status_code == 400
        assert "fails authentication" in answer.json()["detail"]

    async def test_cors_answers_the_ui_origin_only(self, opened: Opened) -> None:
        """The browser's preflight from the UI is allowed (with the UI's headers); another
        origin gets no CORS grant; the ticket routes grant CORS to nobody."""
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
        }
        async with httpx.AsyncClient(base_url=opened.api) as http:
            ok = await http.options("/codec/decode", headers={**preflight, "Origin": UI_ORIGIN})
            other = await http.options(
                "/codec/decode", headers={**preflight, "Origin": "http://evil.example"}
            )
            tickets = await http.options("/tickets", headers={**preflight, "Origin": UI_ORIGIN})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == UI_ORIGIN
        assert "x-namespace" in ok.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-origin" not in other.headers
        assert "access-control-allow-origin" not in tickets.headers


class TestTemporalCli:
    async def test_workflow_show_prints_ciphertext_unless_given_the_codec_endpoint(
        self, opened: Opened, temporal_env: WorkflowEnvironment
    ) -> None:
        """`temporal workflow show` without a codec shows no personal data; with
        `--codec-endpoint` (and the token in TEMPORAL_CODEC_AUTH) it shows the customer."""
        address = temporal_env.client.service_client.config.target_host
        binary = str(ensure_temporal_binary())
        base = [binary, "workflow", "show", "--address", address, "--output", "json"]
        base += ["--workflow-id", workflow_id_for(opened.ticket_id)]

        async def run(*extra: str, env: dict[str, str] | None = None) -> str:
            process = await asyncio.create_subprocess_exec(
                *base,
                *extra,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **(env or {})},
            )
            out, err = await asyncio.wait_for(process.communicate(), timeout=60)
            assert process.returncode == 0, err.decode()
            return out.decode()

        raw = await run()
        absent(opened.pii, raw.encode(), "`temporal workflow show`")
        assert base64.b64encode(b"binary/encrypted").decode() in raw
        decoded = await run(
            "--codec-endpoint",
            f"{opened.api}/codec",
            env={"TEMPORAL_CODEC_AUTH": f"Bearer {TOKEN}"},
        )
        # Search attributes (json/plain, never encoded by Temporal) are all it shows in clear.
        assert opened.pii.name.encode() not in printed_payload_data(raw)
        shown = printed_payload_data(decoded)
        for text in (opened.pii.name, opened.pii.subject, opened.pii.card, opened.pii.note):
            assert text.encode() in shown
