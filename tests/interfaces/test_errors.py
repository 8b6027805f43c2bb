"""How failures reach callers: Temporal's errors in Tierflow's words, and the HTTP answer for
each kind (503 to retry, a generic 500 for a bug, logged without the message)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from google.protobuf.any_pb2 import Any as AnyProto
from google.rpc.status_pb2 import Status
from structlog.testing import capture_logs
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.errordetails.v1 import WorkflowNotReadyFailure
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from tests.interfaces.http_support import serving
from tierflow._unready import cause_name
from tierflow.client import TicketClient
from tierflow.errors import (
    InvalidInput,
    TemporalUnavailable,
    TicketBusy,
    TicketNotFound,
    TicketNotReady,
    UnexpectedError,
    rpc_error,
    translated,
)
from tierflow.workflows.messages import TicketStatus

SECRET = "customer secret 4111-1111"
CLOSED_REASON = "a worker cannot replay its history (nondeterminism error)"


def _not_ready_rpc() -> RPCError:
    """The server's refusal of an update while the workflow task is failing, as gRPC sends
    it: FAILED_PRECONDITION with a WorkflowNotReadyFailure detail."""
    detail = AnyProto()
    detail.Pack(WorkflowNotReadyFailure())
    status = Status(
        code=RPCStatusCode.FAILED_PRECONDITION,
        message="Unable to perform workflow execution update due to Workflow Task in failed state.",
        details=[detail],
    )
    return RPCError(status.message, RPCStatusCode.FAILED_PRECONDITION, status.SerializeToString())


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

    @pytest.mark.parametrize(
        "message",
        [
            "Too many in-flight updates for this workflow",
            "workflow operation can not be applied because workflow is closing",
        ],
    )
    def test_a_ticket_that_cannot_take_an_update_yet_is_busy(self, message: str) -> None:
        """Too many updates at once, or a run handing over: nothing was written, so the
        caller is told to send it again (TicketBusy), not that Temporal is down."""
        err = rpc_error(
            "T-1", "customer reply", RPCError(message, RPCStatusCode.RESOURCE_EXHAUSTED, b"")
        )
        assert isinstance(err, TicketBusy)
        assert "send it again" in str(err)

    def test_workflow_task_in_failed_state_is_not_ready(self) -> None:
        """Temporal's passing "workflow task in failed state" is retry-later, not a bug."""
        err = rpc_error("T-1", "note", _not_ready_rpc())
        assert isinstance(err, TicketNotReady)
        assert str(err) == (
            "ticket 'T-1' cannot take 'note' now: its workflow task is failing; nothing was "
            "written; retry later"
        )

    def test_a_failed_replay_is_not_ready_without_the_workflow_text(self) -> None:
        """A worker's failed answer names the kind of failure, never its text."""
        text = f"[TMPRL1100] Nondeterminism error: {SECRET}"
        with pytest.raises(TicketNotReady) as caught, translated("T-1", "status"):
            raise WorkflowQueryFailedError(text)
        assert str(caught.value) == f"ticket 'T-1' cannot be read now: {CLOSED_REASON}; retry later"
        with pytest.raises(TicketNotReady) as other, translated("T-1", "status"):
            raise WorkflowQueryFailedError(f"ValueError: {SECRET}")
        assert SECRET not in str(other.value)
        assert other.value.reason == "a worker failed replaying it or answering the query"

    @pytest.mark.parametrize(
        ("cause", "words"),
        [
            (
                WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
                "nondeterminism error",
            ),
            (
                WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                "the workflow code raised an error",
            ),
            (
                WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
                "force close command",
            ),
            (9999, "failure"),
        ],
    )
    def test_causes_in_words(self, cause: int, words: str) -> None:
        assert cause_name(cause) == words

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
    # Without authentication: no read check (which reads the ticket's policy) comes first.
    async with serving(tickets, insecure_no_auth=True) as url, httpx.AsyncClient(base_url=url) as c:
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
