"""Errors raised by the domain core.

Every error carries a plain-language ``message`` so that the workflow can hand it straight back
to the agent (a rejected Temporal update) or the operator (a bad policy file) without rewording.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class DomainError(Exception):
    """Base class: something the caller asked for breaks a rule of the domain."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# The public names are fixed by the API other modules code against, hence no 'Error' suffix.
class InvalidAction(DomainError):  # noqa: N818
    """An action that the ticket's current state does not allow."""

    def __init__(
        self,
        action: str,
        state: str,
        allowed: Sequence[str],
        reason: str | None = None,
    ) -> None:
        self.action = action
        self.state = state
        self.allowed = list(allowed)
        self.reason = reason
        allowed_text = ", ".join(self.allowed) if self.allowed else "nothing"
        if reason is None:
            message = f"cannot {action!r} a ticket in state {state!r}; allowed here: {allowed_text}"
        else:
            message = f"cannot {action!r} a ticket in state {state!r}: {reason}"
        super().__init__(message)


class Forbidden(DomainError):  # noqa: N818
    """An action the caller is not allowed to take: unknown to the policy, a role without the
    permission, a decision outside their tier or team, the requester deciding their own request,
    or a caller using the workflow's own name. Its message names who may."""


class UnknownTarget(DomainError):  # noqa: N818
    """A tier, team, assignee or recipient that the policy does not know."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = list(known)
        known_text = ", ".join(self.known) if self.known else "none"
        # The name was given by the caller: quote only its beginning.
        shown = name if len(name) <= 60 else name[:59] + "…"
        super().__init__(f"unknown {kind} {shown!r}; known: {known_text}")


class PolicyError(DomainError):
    """A policy file that cannot be used, with every problem located by its key path."""

    def __init__(self, problems: Sequence[tuple[str, str]], source: str = "<policy>") -> None:
        self.problems = list(problems)
        self.source = source
        lines = [
            f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in problems
        ]
        super().__init__("\n".join(lines) if lines else f"{source}: invalid policy")

    def with_source(self, source: str) -> PolicyError:
        """The same problems, reported against another file name."""
        return PolicyError(self.problems, source)
