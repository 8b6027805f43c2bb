"""Ticket data: priorities ordered by urgency, and field-level validation."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from tierflow.statemachine import Priority, Ticket
from tierflow.statemachine.testing import make_customer, make_ticket


class TestPriority:
    def test_ranks(self) -> None:
        """Ranks run from low (0) to critical (4)."""
        assert [p.rank for p in Priority] == [0, 1, 2, 3, 4]

    def test_ordering_is_by_urgency_not_alphabet(self) -> None:
        """Critical outranks low although 'c' < 'l'."""
        assert Priority.CRITICAL > Priority.LOW
        assert Priority.HIGH > Priority.NORMAL
        assert sorted([Priority.URGENT, Priority.LOW, Priority.CRITICAL]) == [
            Priority.LOW,
            Priority.URGENT,
            Priority.CRITICAL,
        ]

    def test_max_of_two(self) -> None:
        """Priority.max picks the more urgent."""
        assert Priority.max(Priority.HIGH, Priority.URGENT) == Priority.URGENT
        assert Priority.highest(Priority.LOW, Priority.CRITICAL, Priority.HIGH) == "critical"

    def test_raised_stops_at_critical(self) -> None:
        """Raising a priority never goes past critical."""
        assert Priority.NORMAL.raised() == Priority.HIGH
        assert Priority.URGENT.raised(5) == Priority.CRITICAL


class TestTicket:
    def test_naive_created_at_is_refused(self) -> None:
        """created_at must carry a time zone."""
        with pytest.raises(ValidationError, match="created_at"):
            make_ticket(created_at=datetime(2024, 1, 1, 9, 0))

    @pytest.mark.parametrize("ticket_id", ["", "-leading-dash", "has space", "x" * 129])
    def test_bad_ids_are_refused(self, ticket_id: str) -> None:
        """Ids are host-system ids: a safe character set, up to 128 characters."""
        with pytest.raises(ValidationError, match="id"):
            make_ticket(id=ticket_id)

    def test_subject_length(self) -> None:
        """Subjects are 1 to 300 characters."""
        with pytest.raises(ValidationError, match="subject"):
            make_ticket(subject="")
        with pytest.raises(ValidationError, match="subject"):
            make_ticket(subject="x" * 301)

    def test_impacted_customers_at_least_one(self) -> None:
        """A ticket affects at least its own customer."""
        with pytest.raises(ValidationError, match="impacted_customers"):
            make_ticket(impacted_customers=0)

    def test_phone_is_normalised(self) -> None:
        """Phone numbers are kept in E.164 form."""
        assert make_customer(phone="+49 (30) 123-456").phone == "+4930123456"

    def test_bad_phone_is_refused(self) -> None:
        """A local number without country code is refused."""
        with pytest.raises(ValidationError, match="phone"):
            make_customer(phone="030 123456")

    def test_bad_email_is_refused(self) -> None:
        """An email address needs an @ and a domain."""
        with pytest.raises(ValidationError, match="email"):
            make_customer(email="nobody")

    def test_frozen_change_with_model_copy(self) -> None:
        """Tickets are immutable; model_copy(update=...) makes a changed one."""
        ticket = make_ticket()

        with pytest.raises(ValidationError):
            ticket.priority = Priority.HIGH  # type: ignore[misc]
        assert ticket.model_copy(update={"priority": Priority.HIGH}).priority == "high"

    def test_json_round_trip(self) -> None:
        """Tickets travel through JSON unchanged."""
        ticket = make_ticket(tags=["a"])

        assert Ticket.model_validate_json(ticket.model_dump_json()) == ticket
