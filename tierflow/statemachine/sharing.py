"""One copy of each policy per process, however many tickets carry it.

Every ticket carries a snapshot of its policy (it keeps the policy it opened with), and each
ticket's workflow input decodes into a fresh :class:`~tierflow.statemachine.policy.Policy` of
some 50 KB of objects. Most tickets carry the same policy, so :func:`shared_policy` hands out
one object per distinct content: identical policies (same JSON) share one ``Policy``, and
policies that differ in a part (say, the SLA targets) still share the parts that are the same
(tiers, teams, people, rules, calendar ...).

Policies are immutable (frozen models, never changed in place), so sharing them changes no
behaviour. Nothing grows without bound: whole policies are held weakly (one lives as long as a
ticket holds it), and the parts a new policy may reuse sit in a small least-recently-used
table. Thread-safe: workflows decode their inputs on worker threads.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from typing import Any, Final

from pydantic_core import to_json

from tierflow.statemachine.policy import Policy

# Parts of a policy shared between policies that differ elsewhere.
SHARED_PARTS: Final = (
    "tiers",
    "teams",
    "recipients",
    "sla",
    "escalation",
    "calendar",
    "follow_up",
    "rules",
    "notify",
    "permissions",
)
# Distinct parts remembered for reuse (each is a few KB at most).
MAX_PARTS: Final = 256

_lock = threading.Lock()
# Content digest -> the one Policy with that content, while any ticket holds it.
_policies: weakref.WeakValueDictionary[bytes, Policy] = weakref.WeakValueDictionary()
# id() of every Policy handed out -> itself (weakly): a shared policy is recognised at once.
_handed_out: weakref.WeakValueDictionary[int, Policy] = weakref.WeakValueDictionary()
_parts: OrderedDict[tuple[str, bytes], Any] = OrderedDict()


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=20).digest()


def policy_json(policy: Policy) -> bytes:
    """The policy as JSON, the form in which a ticket carries it."""
    return policy.__pydantic_serializer__.to_json(policy)


def _shared_part(name: str, value: Any) -> Any:
    """The remembered part equal to ``value``, else ``value`` (now remembered)."""
    key = (name, _digest(to_json(value)))
    found = _parts.get(key)
    if found is not None:
        _parts.move_to_end(key)
        return found
    _parts[key] = value
    if len(_parts) > MAX_PARTS:
        _parts.popitem(last=False)
    return value


def shared_policy(policy: Policy, json: bytes | None = None) -> Policy:
    """The process's one policy with ``policy``'s content (``json``: its JSON, if known)."""
    with _lock:
        if _handed_out.get(id(policy)) is policy:
            return policy
    key = _digest(json if json is not None else policy_json(policy))
    with _lock:
        found = _policies.get(key)
        if found is not None:
            return found
        parts = {name: _shared_part(name, getattr(policy, name)) for name in SHARED_PARTS}
        shared = policy.model_copy(update=parts)
        _policies[key] = shared
        _handed_out[id(shared)] = shared
        return shared


def shared_count() -> int:
    """Distinct policies alive in this process (for tests and benchmarks)."""
    return len(_policies)
