"""`sync_ticket` pushes the ticket's state to the host system, signed."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from tests.activities import factories
from tests.activities.conftest import SYNC_SECRET
from tests.activities.servers import HttpRecorder
from tierflow.activities import TierflowActivities, verify_signature


class TestSyncTicket:
    """The sync webhook receives the ticket's state."""

    async def test_posts_signed_state(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """The body is the sync, the key is sent, the signature verifies with the sync secret."""
        s = factories.ticket_sync()

        result = await activities.sync_ticket(s)

        [request] = http.requests
        assert request.path == "/sync"
        assert request.json() == {"type": "ticket.sync", "sync": s.model_dump(mode="json")}
        assert request.json()["sync"]["at"] == "2026-11-24T11:00:00Z"
        assert request.header("Idempotency-Key") == s.idempotency_key
        assert verify_signature(
            SYNC_SECRET,
            request.header("X-Tierflow-Timestamp") or "",
            request.body,
            request.header("X-Tierflow-Signature") or "",
        )
        assert result.status == "sent"

    async def test_host_refusal_is_permanent(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """A 422 from the host system is not retried."""
        http.script(422)

        with pytest.raises(ApplicationError) as caught:
            await activities.sync_ticket(factories.ticket_sync())

        assert caught.value.non_retryable

    async def test_host_outage_is_retried(
        self, activities: TierflowActivities, http: HttpRecorder
    ) -> None:
        """A 500 from the host system is retried."""
        http.script(500)

        with pytest.raises(ApplicationError) as caught:
            await activities.sync_ticket(factories.ticket_sync())

        assert not caught.value.non_retryable
