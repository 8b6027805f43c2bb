"""Policies shared across tickets: one object per distinct content, bounded, equal by value."""

from __future__ import annotations

import gc
import threading
from datetime import timedelta
from typing import Any

from tierflow.statemachine import Policy, default_policy, policy_from_data
from tierflow.statemachine.sharing import MAX_PARTS, _parts, shared_count, shared_policy


def _copy(policy: Policy) -> Policy:
    """A fresh object with the same content, as a decoded workflow input is."""
    return Policy.model_validate_json(policy.model_dump_json())


def _with_resolution(hours: float) -> Policy:
    data: dict[str, Any] = default_policy().model_dump(mode="json")
    for targets in data["sla"]["targets"].values():
        targets["resolution"] = f"{int(timedelta(hours=hours).total_seconds())}s"
    return policy_from_data(data)


class TestSharedPolicy:
    def test_equal_policies_share_one_object(self) -> None:
        """Two decoded copies of one policy become the same object."""
        a = shared_policy(_copy(default_policy()))
        b = shared_policy(_copy(default_policy()))
        assert a is b
        assert a == default_policy()

    def test_a_shared_policy_is_returned_as_is(self) -> None:
        """Sharing an already shared policy hands it back untouched."""
        a = shared_policy(_copy(default_policy()))
        assert shared_policy(a) is a

    def test_different_policies_stay_apart(self) -> None:
        """Policies that differ are different objects, each equal to its own content."""
        a = shared_policy(_with_resolution(5))
        b = shared_policy(_with_resolution(7))
        assert a is not b
        assert a == _with_resolution(5)
        assert b == _with_resolution(7)
        assert a.sla != b.sla

    def test_different_policies_share_their_equal_parts(self) -> None:
        """Policies differing only in their SLA share tiers, people, rules and the ladder."""
        a = shared_policy(_with_resolution(11))
        b = shared_policy(_with_resolution(13))
        assert a.tiers is b.tiers
        assert a.teams is b.teams
        assert a.rules is b.rules
        assert a.escalation is b.escalation
        assert a.sla is not b.sla

    def test_the_json_is_unchanged(self) -> None:
        """What a ticket carries (its policy as JSON) is the same after sharing."""
        original = _with_resolution(17)
        assert shared_policy(_copy(original)).model_dump_json() == original.model_dump_json()

    def test_policies_no_ticket_holds_are_released(self) -> None:
        """Shared policies live only as long as something holds them."""
        before = shared_count()
        held = [shared_policy(_with_resolution(100 + n)) for n in range(5)]
        assert shared_count() == before + 5
        del held
        gc.collect()
        assert shared_count() <= before

    def test_remembered_parts_are_bounded(self) -> None:
        """Endless distinct policies never grow the table of reusable parts past its bound."""
        for n in range(MAX_PARTS // 2):
            data: dict[str, Any] = default_policy().model_dump(mode="json")
            data["name"] = f"policy {n}"
            data["follow_up"]["survey_url"] = f"https://example.com/{n}/{{ticket_id}}"
            data["notify"]["sender"] = f"Support {n}"
            data["calendar"]["timezone"] = "UTC" if n % 2 else "Europe/Lisbon"
            shared_policy(policy_from_data(data))
        assert len(_parts) <= MAX_PARTS

    def test_threads_agree_on_one_object(self) -> None:
        """Workflows decode on worker threads: all of them get the same object."""
        policy = _with_resolution(23)
        copies = [_copy(policy) for _ in range(8)]
        got: list[Policy] = []

        def share(p: Policy) -> None:
            got.append(shared_policy(p))

        threads = [threading.Thread(target=share, args=(c,)) for c in copies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({id(p) for p in got}) == 1
