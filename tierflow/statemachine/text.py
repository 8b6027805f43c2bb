"""Bounded text: the one place that says how long, and how clean, caller-set text may be.

Every string a host, an agent or a customer can put into a ticket goes through one of these
types. The limits keep every payload Tierflow writes (update acceptance, signal, activity
input, continue-as-new input, query result, UI metadata) far below Temporal's 2 MB per payload:
the longest field, a description, is at most ``DESCRIPTION_MAX`` characters, about 80 KB even in
4-byte UTF-8. Text is also cleaned so that it can travel anywhere:

- a lone UTF-16 surrogate (which JSON allows as ``"\\ud800"``) cannot be encoded as UTF-8 and is
  refused with a clear error instead of failing deep inside Temporal's converter;
- a one-line field (subject, names, ids of people) has its line breaks, tabs and other control
  characters turned into single spaces, so no header, summary or detail line can be forged;
- free text keeps its line breaks and tabs; other control characters (NUL, escape, …) go.

Messages never repeat the offending value: it may be customer data, and it may be megabytes.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Final

from pydantic import AfterValidator, Field

LINE_MAX: Final = 200  # names of people, teams, tiers; categories; tags
ACTOR_MAX: Final = 120  # who acts
SUBJECT_MAX: Final = 300  # a ticket's subject
NOTE_MAX: Final = 10_000  # notes, replies, resolutions, reasons, comments
DESCRIPTION_MAX: Final = 20_000  # the ticket's description, as the customer wrote it
TAGS_MAX: Final = 20  # tags on one ticket
REASONS_MAX: Final = 7  # escalation reasons on one action (there are seven kinds)

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Invisible format characters that can make a line read as something else (bidi overrides and
# isolates, zero-width spaces); joiners inside emoji (U+200C/U+200D) are kept.
_DECEPTIVE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile("\r\n?|[\u2028\u2029\x85]")
_SPACES = re.compile(r"\s+")


def _encodable(value: str) -> str:
    if _SURROGATE.search(value):
        raise ValueError("contains a lone UTF-16 surrogate, which is not valid Unicode text")
    return value


def one_line(value: str) -> str:
    """``value`` on one line: control characters and runs of white space become one space;
    invisible bidi and zero-width characters go."""
    value = _DECEPTIVE.sub("", _encodable(value))
    return _SPACES.sub(" ", _CONTROLS.sub(" ", value)).strip()


def clean_text(value: str) -> str:
    """``value`` with ``\\n`` line breaks and tabs kept and every other control character gone."""
    return _TEXT_CONTROLS.sub("", _LINE_BREAKS.sub("\n", _encodable(value)))


def excerpt(value: str, max_chars: int) -> str:
    """``value`` cut to at most ``max_chars`` characters, with an ellipsis when cut."""
    if len(value) <= max_chars:
        return value
    return value[: max(max_chars - 1, 0)].rstrip() + "…"


# Characters a name may not hold at all: controls (Cc), format characters (Cf: zero-width
# spaces and joiners, bidi controls, soft hyphens), surrogates, private-use and unassigned code
# points, and the line and paragraph separators.
_NOT_IN_NAMES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class NotCanonicalError(ValueError):
    """A name that is not in its canonical form, saying why (never repeating the name)."""


def canonical_name(value: str) -> str:
    """The canonical form of a person's or service's name, the one form names are compared in.

    NFKC (a non-breaking or ideographic space becomes a space, full-width letters plain ones),
    runs of white space collapsed to one space, none at either end. Raises NotCanonicalError if the
    name holds a control, format (zero-width, bidi), private-use or unassigned character, or
    is blank: those make two names that read alike differ, and are refused, never stripped.
    """
    normal = unicodedata.normalize("NFKC", _encodable(value))
    if any(unicodedata.category(c) in _NOT_IN_NAMES for c in normal):
        raise NotCanonicalError(
            "holds control, format or zero-width characters (invisible, they make two names "
            "that read alike differ)"
        )
    canonical = _SPACES.sub(" ", normal).strip()
    if not canonical:
        raise NotCanonicalError("is blank")
    return canonical


def require_canonical(value: str) -> str:
    """``value`` if it is already its own canonical form; NotCanonicalError otherwise.

    Credentials (a token's subject, an API key's name) must name their principal exactly as
    the policy compares names: a subject that differs from a person's name only by spacing or
    a compatibility character is another account, not that person.
    """
    if canonical_name(value) != value:
        raise NotCanonicalError(
            "is not in canonical form (NFKC, single spaces between words, none at either end)"
        )
    return value


def name_key(value: str) -> str:
    """The form policy names are kept and compared in: canonical, but lenient for the policy's
    own text (older policies must load), whose invisible characters are dropped."""
    kept = []
    for c in unicodedata.normalize("NFKC", _encodable(value)):
        category = unicodedata.category(c)
        if category != "Cf":
            kept.append(" " if category in _NOT_IN_NAMES else c)
    return _SPACES.sub(" ", "".join(kept)).strip()


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _line(max_length: int, description: str) -> object:
    return Field(max_length=max_length, description=f"{description} (one line)")


# Types. ``max_length`` is checked on the text as given (and published in the API's schema);
# cleaning happens after, so cleaning never lets an over-long value through.
Line = Annotated[str, _line(LINE_MAX, "a name"), AfterValidator(one_line)]
"""A short one-line value; may be empty."""

Name = Annotated[
    str, _line(LINE_MAX, "a name"), AfterValidator(one_line), AfterValidator(_not_blank)
]
"""A person's, team's or tier's name: one line, not blank."""

ActorName = Annotated[
    str, _line(ACTOR_MAX, "who acts"), AfterValidator(one_line), AfterValidator(_not_blank)
]
"""Who performs an action."""

PersonName = Annotated[
    str,
    Field(min_length=1, max_length=LINE_MAX),
    AfterValidator(name_key),
    AfterValidator(_not_blank),
]
"""A name the policy gives a person or a service: kept in its canonical form (``name_key``),
so that it compares with the canonical names credentials carry."""

Subject = Annotated[
    str, _line(SUBJECT_MAX, "subject"), AfterValidator(one_line), AfterValidator(_not_blank)
]
"""A ticket's subject."""

Note = Annotated[str, Field(max_length=NOTE_MAX), AfterValidator(clean_text)]
"""Free text that may be empty: a note on an action, a reply, a comment."""

RequiredNote = Annotated[
    str, Field(max_length=NOTE_MAX), AfterValidator(clean_text), AfterValidator(_not_blank)
]
"""Free text that must say something: a resolution, a reason to reopen, an agent's note."""

Description = Annotated[str, Field(max_length=DESCRIPTION_MAX), AfterValidator(clean_text)]
"""A ticket's description."""
