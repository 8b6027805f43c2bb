"""Neutralising ticket text for the channel it reaches.

Subjects, names and bodies come from customers and agents, so every channel adapter passes
them through these functions before they reach a header, a chat message or an SMS:

- `one_line` for single-line places (email headers, chat titles): line breaks of every kind
  (CR, LF, VT, FF, NEL, U+2028/U+2029, ...) become spaces, other control characters and the
  bidirectional embedding/override/isolate controls (U+202A-U+202E, U+2066-U+2069, which can
  make a subject read backwards) are removed, whitespace runs collapse, and the result is
  bounded with an ellipsis.
- `plain_text` for bodies: line breaks are normalised to `\\n`, tabs kept, every other
  control character (NUL, ESC, DEL, C1) and the bidi controls removed.
- `slack_escape` for chat (Slack mrkdwn and its "compatible" imitators): `&`, `<` and `>`
  become entities, so `<!channel>`, `<@U123>` and `<https://evil|bank.com>` arrive as text,
  and plain-text broadcasts (`@channel`, `@here`, `@everyone`, `@all`) that Mattermost,
  Rocket.Chat and Discord honour are broken with an invisible word joiner.

Lone surrogates (which cannot be encoded) become U+FFFD. All functions are pure;
`one_line` and `plain_text` are idempotent.
"""

from __future__ import annotations

import re

from tierflow.statemachine.text import excerpt

__all__ = ["ELLIPSIS", "bounded", "one_line", "plain_text", "slack_escape"]

ELLIPSIS = "…"

# Every character str.splitlines() breaks on, except the CR LF pair handled first.
_LINE_BREAK = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_BIDI_CONTROL = "\u202a-\u202e\u2066-\u2069"
_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls other than tab and the line breaks, DEL, C1 controls other than NEL, bidi.
_OTHER_CONTROL = re.compile(f"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f{_BIDI_CONTROL}]")
_ANY_BREAK = re.compile(f"\r\n|[{_LINE_BREAK}]")
_WHITESPACE_RUN = re.compile(r"\s+")
_SLACK_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SLACK_SPECIAL = re.compile("[&<>]")
_BROADCAST = re.compile(r"(?<![\w@])@(?=(?:channel|here|everyone|all)\b)", re.IGNORECASE)
_WORD_JOINER = "\u2060"


def bounded(text: str, limit: int | None) -> str:
    """`text`, or its first `limit - 1` characters and an ellipsis when it is longer."""
    return text if limit is None else excerpt(text, limit)


def one_line(text: str, limit: int | None = None) -> str:
    """`text` as one clean line of at most `limit` characters (see the module docstring)."""
    text = _SURROGATE.sub("\ufffd", text)
    text = _OTHER_CONTROL.sub("", text)
    text = _WHITESPACE_RUN.sub(" ", _ANY_BREAK.sub(" ", text)).strip()
    return bounded(text, limit)


def plain_text(text: str, limit: int | None = None) -> str:
    """`text` with `\\n` line ends and no control characters but tab and newline."""
    text = _SURROGATE.sub("\ufffd", text)
    text = _OTHER_CONTROL.sub("", text)
    text = _ANY_BREAK.sub("\n", text)
    return bounded(text, limit)


def slack_escape(text: str) -> str:
    """`text` safe to place in a Slack mrkdwn message: no mention, link or broadcast.

    Only `&`, `<` and `>` have to be escaped (Slack's "Escaping text" rules); Tierflow's own
    formatting around the escaped text (`*bold*`) keeps working.
    """
    escaped = _SLACK_SPECIAL.sub(lambda m: _SLACK_ENTITIES[m.group()], text)
    return _BROADCAST.sub("@" + _WORD_JOINER, escaped)
