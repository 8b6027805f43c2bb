"""structlog configuration for the worker, the CLI and the API: JSON when not on a terminal.

Tracebacks never show local variables: a failed delivery's frames hold the SMTP password and
the SMS token. In JSON they are structured (``exception``: a list of frames), on a terminal
they are rich but without locals.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

import structlog


def configure_logging(
    level: str = "INFO", *, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging (Temporal's own loggers) through one renderer.

    Lines go to ``stream`` (stderr by default). ``json`` defaults to "it is not a terminal",
    so containers and CI get JSON lines and a developer at a terminal readable colour output.
    """
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if json:
        # Frames as data, locals off (structlog's default for dict tracebacks keeps none).
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False)
        )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if json:
        # What CPython itself writes to stderr goes through the same renderer, so that a JSON
        # stream holds nothing but JSON lines (a log pipeline, or a supervisor's parent
        # reading its children's lines): warnings (the "py.warnings" logger) and exceptions
        # raised where nothing can catch them, such as a finalizer interrupted by Ctrl-C.
        logging.captureWarnings(True)
        sys.unraisablehook = _log_unraisable
    # `transitions` logs every state change at INFO; the ticket's timeline already says it,
    # and on a busy worker those lines cost a tenth of the CPU.
    logging.getLogger("transitions").setLevel(max(logging.WARNING, root.level))
    # httpx logs every request's full URL at INFO (httpcore its wire steps at DEBUG); a chat
    # webhook's URL is its secret. Delivery outcomes are logged by Tierflow, without URLs.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _log_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """CPython's "Exception ignored in: …" as one log line (type and where, no locals)."""
    where = unraisable.err_msg or "Exception ignored in"
    # A function's qualified name, else the object's type: never its repr (customer text).
    thing = unraisable.object
    name = getattr(thing, "__qualname__", None) or type(thing).__name__
    obj = "" if thing is None else f" {name}"
    logging.getLogger("tierflow.unraisable").warning(
        "%s%s: %s",
        where,
        obj,
        unraisable.exc_type.__name__,
        exc_info=(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)
        if unraisable.exc_value is not None
        else None,
    )


ACCESS_LOGGERS = ("uvicorn.access",)
_QUERY = re.compile(r"\?([^\s\"]*)")
_QUERY_VALUE = re.compile(r"=[^&;]*")


def _redact_query(text: str) -> str:
    """``/me?api_key=tfk_…&limit=5`` → ``/me?api_key=<redacted>&limit=<redacted>``."""
    return _QUERY.sub(lambda m: "?" + _QUERY_VALUE.sub("=<redacted>", m.group(1)), text)


class RedactQueryStrings(logging.Filter):
    """Removes the values of every query parameter from an access log line.

    A caller may put a credential in the query (``?api_key=…``, ``?access_token=…``): the API
    refuses it (credentials go in the Authorization header) but the server's access log would
    still write it down. Parameter names stay, so a misconfigured caller can still be spotted.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args
            )
        if isinstance(record.msg, str) and "?" in record.msg:
            record.msg = _redact_query(record.msg)
        return True


def redact_access_log_queries() -> None:
    """Put :class:`RedactQueryStrings` on the ASGI server's access loggers (once each)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryStrings) for f in logger.filters):
            logger.addFilter(RedactQueryStrings())
