"""Reading untrusted input files (policies, tickets) with bounds, so that no file can hang or
crash the reader: a size cap checked before parsing, strict UTF-8, bounded nesting, a bounded
number of values (YAML aliases included, so no "billion laughs") and no absurdly long integers.

Every refusal is an :class:`InputError` whose message is one line that names the problem and
where it is, without echoing more than a few dozen characters of the input back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

import yaml
from yaml.resolver import Resolver

from tierflow.statemachine.errors import DomainError

MAX_FILE_BYTES: Final = 1024 * 1024  # policies and ticket files; real ones are a few KiB
MAX_DEPTH: Final = 32  # nested mappings/lists; the default policy needs 5
MAX_VALUES: Final = 100_000  # every key, value and list item, YAML aliases expanded
MAX_INT_DIGITS: Final = 30

_INT_TAG: Final = "tag:yaml.org,2002:int"
_RESOLVER: Final = Resolver()
_YAML_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 5x faster


class InputError(DomainError):
    """A file or text that cannot be read safely; the message is one line."""


def clip(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters (an echoed input must never be long)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: str, limit: int = 60) -> str:
    """``repr`` of ``value`` cut to about ``limit`` characters, for echoing it in a message."""
    return repr(clip(value, limit))


def size_text(n: int) -> str:
    """``1 MiB``, ``64 KiB`` or ``512 bytes``."""
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


# -- JSON ---------------------------------------------------------------------------------------


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise InputError(
            f"a number of {len(digits)} digits; at most {MAX_INT_DIGITS} digits are accepted"
        )
    return int(digits)


def _check_tree(data: Any) -> None:
    """Depth and size of already-parsed JSON data, walked without recursion."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise InputError(f"more than {MAX_VALUES} values")
        children: Iterable[Any] = ()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth + 1 > MAX_DEPTH:
            raise InputError(f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def load_json(text: str) -> Any:
    """Parse JSON text within the bounds above."""
    try:
        data = json.loads(text, parse_int=_bounded_int)
    except RecursionError:
        raise InputError(f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as err:
        raise InputError(
            f"not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from None
    _check_tree(data)
    return data


# -- YAML ---------------------------------------------------------------------------------------


def _where(event: yaml.Event) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "somewhere"


def _check_events(events: Iterable[yaml.Event]) -> None:
    """Bound depth, value count and integer length from the parser's event stream, before
    anything is built. Aliases count as the values and depth they expand to."""
    depth = 0
    values = 0
    expands: dict[str, tuple[int, int]] = {}  # anchor -> (values, depth) of what it names
    # Open collections: [anchor, values before it, its depth, the deepest level inside].
    open_: list[list[Any]] = []
    for event in events:
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, before, start, deepest = open_.pop()
            if anchor is not None:
                expands[anchor] = (values - before, deepest - start + 1)
            if open_:
                open_[-1][3] = max(open_[-1][3], deepest)
            depth -= 1
            continue
        if isinstance(event, yaml.AliasEvent):
            count, height = expands.get(event.anchor or "", (1, 0))
            values += count
            reach = depth + height
        elif isinstance(event, yaml.ScalarEvent):
            values += 1
            reach = depth
            _check_scalar(event)
            if event.anchor is not None:
                expands[event.anchor] = (1, 0)
        elif isinstance(event, yaml.CollectionStartEvent):
            values += 1
            depth += 1
            reach = depth
            open_.append([event.anchor, values - 1, depth, depth])
        else:
            continue
        if open_:
            open_[-1][3] = max(open_[-1][3], reach)
        if reach > MAX_DEPTH:
            raise InputError(f"nested deeper than {MAX_DEPTH} levels ({_where(event)})")
        if values > MAX_VALUES:
            raise InputError(
                f"more than {MAX_VALUES} values, YAML aliases expanded ({_where(event)})"
            )


def _check_scalar(event: yaml.ScalarEvent) -> None:
    value = event.value
    if len(value) <= MAX_INT_DIGITS:
        return
    plain = event.implicit[0] and not event.style  # libyaml says "", PyYAML None
    if event.tag == _INT_TAG or (plain and _resolve(value, event.implicit) == _INT_TAG):
        raise InputError(
            f"an integer of {len(value)} characters at {_where(event)}; "
            f"at most {MAX_INT_DIGITS} digits are accepted"
        )


def _resolve(value: str, implicit: tuple[bool, bool]) -> str:
    """The tag YAML gives a plain scalar (``tag:yaml.org,2002:int`` for ``0x1f``)."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    return tag


def _yaml_problem(err: yaml.YAMLError) -> str:
    if isinstance(err, yaml.MarkedYAMLError):
        what = err.problem or err.context or "malformed"
        mark = err.problem_mark or err.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return f"{clip(what, 120)}{where}"
    lines = str(err).splitlines()
    return clip(lines[0] if lines else type(err).__name__, 120)


def load_yaml(text: str) -> Any:
    """Parse one YAML document (safe tags only) within the bounds above."""
    try:
        _check_events(yaml.parse(text, Loader=_YAML_LOADER))
        return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader: plain data only
    except yaml.YAMLError as err:
        raise InputError(f"not valid YAML: {_yaml_problem(err)}") from None
    except (ValueError, TypeError, OverflowError, AttributeError) as err:
        # A safe constructor refusing an explicitly tagged value, e.g. `!!int x`.
        raise InputError(f"not valid YAML: {clip(str(err), 120)}") from None
