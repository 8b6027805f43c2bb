"""The words the customer reads, one template per kind of update.

Templates are `string.Template` strings: a first line `Subject: ...`, then the body. The
built-in set below is in plain words; a host system overrides any of them by dropping
`<kind>.txt` into `Settings.templates_dir`. Placeholders are checked when the templates are
loaded (so a typo stops the worker at start-up) and again at render.

Placeholders available to every template:

    $customer_name  $first_name  $greeting  $subject  $ticket_id  $team
    $estimate  $estimate_sentence  $survey_url  $request

`$request` (on `waiting`) is what the agent asked of the customer, several lines allowed.

Customer text is placed, never interpreted: `string.Template` substitutes each placeholder
once, so a subject such as `${greeting}` or `{customer.__class__}` arrives as written. The
single-line values (`$subject`, `$customer_name`, `$first_name`, `$team`) are made one bounded
line first, so a line break in a subject cannot write paragraphs of its own into the
customer's message, and a rendered subject is always one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import get_args

from tierflow.activities.safe_text import one_line, plain_text
from tierflow.contracts import CustomerUpdate, CustomerUpdateKind

__all__ = [
    "DEFAULT_TEMPLATES",
    "KINDS",
    "MAX_NAME",
    "MAX_SUBJECT",
    "PLACEHOLDERS",
    "RenderedMessage",
    "TemplateError",
    "TemplateSet",
    "format_estimate",
]

KINDS: tuple[CustomerUpdateKind, ...] = get_args(CustomerUpdateKind)

PLACEHOLDERS = frozenset(
    {
        "customer_name",
        "first_name",
        "greeting",
        "subject",
        "ticket_id",
        "team",
        "estimate",
        "estimate_sentence",
        "survey_url",
        "request",
    }
)

DEFAULT_TEMPLATES: dict[CustomerUpdateKind, str] = {
    "received": """\
Subject: We have received your request "$subject"
$greeting, thank you for getting in touch. We have received your request "$subject" \
(reference $ticket_id) and our $team is looking at it. $estimate_sentence

We will keep you updated.""",
    "transferred": """\
Subject: Your request "$subject" is with our $team
$greeting, your request "$subject" has been passed to our $team, who specialise in this. \
$estimate_sentence

You do not need to do anything; we will let you know as soon as there is news.""",
    "waiting": """\
Subject: We need something from you for "$subject"
$greeting, to carry on with your request "$subject" our $team needs something from you:

$request

Simply reply to this message; we pick it up again as soon as you do.""",
    "resolved": """\
Subject: Your request "$subject" has been resolved
$greeting, we believe your request "$subject" is now resolved. If anything is still not \
right, simply reply to this message and we will pick it up again.""",
    "survey": """\
Subject: How did we do with "$subject"?
$greeting, your request "$subject" was resolved recently. Would you tell us how we did? \
It takes a minute: $survey_url

If the problem came back, reply to this message and we will reopen it.""",
    "reopened": """\
Subject: We have reopened your request "$subject"
$greeting, we have reopened your request "$subject" and our $team is on it again. \
$estimate_sentence""",
}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SUBJECT_PREFIX = "Subject:"
# Bounds of the customer's own words inside a message written in Tierflow's name.
MAX_SUBJECT = 200
MAX_NAME = 100
MAX_REQUEST = 2_000


class TemplateError(ValueError):
    """A template is malformed, uses an unknown placeholder, or lacks what it needs."""


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A rendered customer message."""

    subject: str
    body: str


def format_estimate(when: datetime) -> str:
    """`Tue 24 Nov, 15:00 UTC`, independent of the process locale. Naive times are UTC."""
    utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return f"{_DAYS[utc.weekday()]} {utc.day} {_MONTHS[utc.month - 1]}, {utc:%H:%M} UTC"


def _placeholder_values(update: CustomerUpdate) -> dict[str, str]:
    name = one_line(update.customer_name, MAX_NAME)
    first_name = name.split()[0] if name else ""
    estimate = format_estimate(update.estimate) if update.estimate else ""
    return {
        "customer_name": name,
        "first_name": first_name,
        "greeting": f"Hi {first_name}" if first_name else "Hello",
        "subject": one_line(update.subject, MAX_SUBJECT),
        "ticket_id": one_line(update.ticket_id),
        "team": f"{one_line(update.team_label)} team" if update.team_label else "support team",
        "estimate": estimate,
        "estimate_sentence": (
            f"You can expect an answer by {estimate}."
            if estimate
            else "We will tell you as soon as we can give you a time."
        ),
        "survey_url": update.survey_url or "",
        "request": (
            plain_text(update.request, MAX_REQUEST)
            if update.request
            else "a reply with any details you can add"
        ),
    }


@dataclass(frozen=True, slots=True)
class _ParsedTemplate:
    subject: Template
    body: Template

    @classmethod
    def parse(cls, source: str, origin: str) -> _ParsedTemplate:
        first_line, _, rest = source.partition("\n")
        if not first_line.startswith(_SUBJECT_PREFIX):
            raise TemplateError(f'{origin}: the first line must be "Subject: ..."')
        parsed = cls(Template(first_line.removeprefix(_SUBJECT_PREFIX).strip()), Template(rest))
        for part in (parsed.subject, parsed.body):
            if not part.is_valid():
                raise TemplateError(f"{origin}: malformed placeholder (a lone $? write $$)")
            unknown = sorted(set(part.get_identifiers()) - PLACEHOLDERS)
            if unknown:
                raise TemplateError(
                    f"{origin}: unknown placeholder(s) {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(PLACEHOLDERS))}"
                )
        return parsed

    def uses(self, placeholder: str) -> bool:
        identifiers = self.subject.get_identifiers() + self.body.get_identifiers()
        return placeholder in identifiers


class TemplateSet:
    """The customer templates in force: built-ins, overridden by files in `directory`."""

    def __init__(self, directory: Path | None = None) -> None:
        """Load and check every template now, so mistakes surface at start-up."""
        self._templates: dict[CustomerUpdateKind, _ParsedTemplate] = {}
        for kind in KINDS:
            source, origin = DEFAULT_TEMPLATES[kind], f"built-in template {kind!r}"
            override = directory / f"{kind}.txt" if directory else None
            if override is not None and override.is_file():
                source, origin = override.read_text(encoding="utf-8"), str(override)
            self._templates[kind] = _ParsedTemplate.parse(source, origin)

    def render(self, update: CustomerUpdate) -> RenderedMessage:
        """The subject and body for `update`, with every placeholder filled in."""
        template = self._templates[update.kind]
        if template.uses("survey_url") and not update.survey_url:
            raise TemplateError(f"the {update.kind!r} template needs a survey_url")
        values = _placeholder_values(update)
        try:
            subject = template.subject.substitute(values)
            body = template.body.substitute(values)
        except (KeyError, ValueError) as exc:  # pragma: no cover - parse() rules these out
            raise TemplateError(f"cannot render {update.kind!r}: {exc}") from exc
        return RenderedMessage(subject=one_line(subject), body=body.strip() + "\n")
