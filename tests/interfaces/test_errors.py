"""How failures reach callers: Temporal's errors in Tierflow's words, and the HTTP answer for
each kind (503 to retry, a generic 500 for a bug, logged without the message)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tests.interfaces.http_support import AUTH, serving
from tierflow.client import TicketClient
from tierflow.errors import (
    InvalidInput,
    TemporalUnavailable,
    TicketNotFound,
    UnexpectedError,
    rpc_error,
    translated,
)
from tierflow.workflows.messages import TicketStatus

SECRET = "customer secret 4111-1111"


class TestTranslation:
    @pytest.mark.parametrize(
        ("status", "message", "expected"),
        [
            (RPCStatusCode.NOT_FOUND, "workflow not found for ID: ticket-T-1", TicketNotFound),
            (RPCStatusCode.UNAVAILABLE, "tcp connect error", TemporalUnavailable),
            (RPCStatusCode.DEADLINE_EXCEEDED, "context deadline exceeded", TemporalUnavailable),
            (RPCStatusCode.INVALID_ARGUMENT, "Blob data size exceeds limit.", InvalidInput),
            (RPCStatusCode.INTERNAL, f"boom {SECRET}", UnexpectedError),
        ],
    )
    def test_rpc_errors_become_ticket_errors_without_grpc_text(
        self, status: RPCStatusCode, message: str, expected: type[Exception]
    ) -> None:
        """Each gRPC status maps to one TicketError subclass; gRPC's text stays out."""
        err = rpc_error("T-1", "status", RPCError(message, status, b""))
        assert isinstance(err, expected)
        assert message not in str(err)
        assert "T-1" in str(err)

    def test_anything_else_is_unexpected_with_its_cause_chained(self) -> None:
        """A stray exception becomes UnexpectedError; its message is not repeated."""
        with pytest.raises(UnexpectedError) as caught, translated("T-1", "status"):
            raise KeyError(SECRET)
        assert SECRET not in str(caught.value)
        assert isinstance(caught.value.__cause__, KeyError)


class _Failing(TicketClient):
    """A ticket client whose reads fail the way a broken deployment would."""

    def __init__(self, client: Client, error: Exception) -> None:
        super().__init__(client)
        self.error = error

    async def status(self, ticket_id: str) -> TicketStatus:
        raise self.error


@pytest_asyncio.fixture
async def failing(client: Client) -> AsyncIterator[tuple[_Failing, httpx.AsyncClient]]:
    tickets = _Failing(client, RuntimeError("unset"))
    async with serving(tickets) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as c:
        yield tickets, c


class TestHttpAnswers:
    async def test_unavailable_is_503(self, failing: tuple[_Failing, httpx.AsyncClient]) -> None:
        """Temporal or a worker not answering: 503 with Tierflow's one line."""
        tickets, http = failing
        tickets.error = TemporalUnavailable("Temporal did not answer; try again")
        response = await http.get("/tickets/T-1")
        assert response.status_code == 503
        assert response.json() == {"detail": "Temporal did not answer; try again"}

    @pytest.mark.parametrize(
        "error", [UnexpectedError("the status failed"), RuntimeError(SECRET), KeyError(SECRET)]
    )
    async def test_a_bug_is_a_generic_500_logged_without_its_message(
        self, failing: tuple[_Failing, httpx.AsyncClient], error: Exception
    ) -> None:
        """No traceback, no message in the answer or the log: the type and where it was."""
        tickets, http = failing
        tickets.error = error
        with capture_logs() as logs:
            response = await http.get("/tickets/T-1")
        assert response.status_code == 500
        assert response.json() == {"detail": "internal error"}
        (entry,) = [e for e in logs if e["event"] == "api.internal_error"]
        assert entry["error_type"] == type(error).__name__
        assert entry["route"] == "/tickets/{ticket_id}"
        assert SECRET not in repr(entry)
