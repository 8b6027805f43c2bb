"""A property-based fuzz of the HTTP API from its own OpenAPI document (schemathesis).

The API is served by uvicorn on loopback with a real worker and the real dev server behind it;
schemathesis generates valid and invalid requests for every operation, a bounded number each,
and checks every answer: never a 5xx, every status code declared for its operation, every body
and content type as the document says. Generation is derandomized: the same cases every run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.interfaces.http_support import AUTH, serving
from tests.scale import scaled
from tests.workflows.support import fast_policy, ticket
from tierflow.client import TicketClient

# Examples per operation and generation mode: 24 operations x 2 modes x this many, kept small
# so that the whole fuzz stays well within a minute on two shared cores.
EXAMPLES = scaled(20, 300)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


# An operation of the OpenAPI document, whatever its parameter and schema types.
Operation = APIOperation[Any, Any, Any, Any]


def fuzz(document: dict[str, Any], base_url: str, live: list[str]) -> dict[str, int]:
    """Run every operation's strategies against the server; returns cases run per status.

    Valid cases on one ticket go to the ``live`` tickets in turn, so that actions and events
    with generated bodies reach real workflows, not only unknown ids."""
    schema = schemathesis.openapi.from_dict(document)
    seen: dict[str, int] = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the document has an operation schemathesis cannot read
            raise result.err()
        operation = result.ok()
        spec = document["paths"][operation.path][operation.method.lower()]
        takes_input = bool(spec.get("parameters") or spec.get("requestBody"))
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE][: 2 if takes_input else 1]
        for mode in modes:
            fuzz_operation(operation, mode, base_url, live, seen)
    return seen


def fuzz_operation(
    operation: Operation,
    mode: GenerationMode,
    base_url: str,
    live: list[str],
    seen: dict[str, int],
) -> None:
    """``EXAMPLES`` generated cases of one operation in one mode, each call checked."""
    valid = mode is GenerationMode.POSITIVE

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case[Operation]) -> None:
        if valid and case.path_parameters:
            case.path_parameters["ticket_id"] = live[sum(seen.values()) % len(live)]
        response = case.call(base_url=base_url, headers=AUTH, timeout=60)
        key = str(response.status_code)
        seen[key] = seen.get(key, 0) + 1
        case.validate_response(response, checks=CHECKS, headers=AUTH)

    run()


async def test_every_operation_answers_as_documented(tickets: TicketClient) -> None:
    """Generated requests, valid and not, get only documented, well-formed, non-5xx answers."""
    async with serving(tickets) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            document = (await http.get("/openapi.json")).json()
        started = time.monotonic()
        live = []
        for subject in ("Fuzzed one", "Fuzzed two", "Fuzzed three"):
            t = ticket(subject)
            await tickets.open(t, fast_policy(resolution="1h"))
            live.append(t.id)
        seen = await asyncio.to_thread(fuzz, document, url, live)
        elapsed = time.monotonic() - started
    total = sum(seen.values())
    print(f"schemathesis: {total} cases in {elapsed:.1f}s, by status {dict(sorted(seen.items()))}")
    assert not any(code.startswith("5") for code in seen)
    assert total >= 18 * 2 - 1  # every operation, both modes (/health has no inputs), ran
