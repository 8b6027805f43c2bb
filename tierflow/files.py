"""The I/O edge for files a person hands Tierflow (policies, tickets, key files): read with
bounds and never from anything but a regular file, so that no path can hang or exhaust the
reader. The pure core (:mod:`tierflow.statemachine`) parses what this reads."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from tierflow.statemachine.errors import PolicyError
from tierflow.statemachine.inputs import MAX_FILE_BYTES, InputError, size_text
from tierflow.statemachine.policy import MAX_POLICY_BYTES, Policy, parse_policy


class NotARegularFileError(OSError):
    """A path that names a pipe, a device, a socket or a directory: never read (a FIFO would
    block the reader for ever, ``/dev/zero`` never ends)."""

    def __init__(self) -> None:
        super().__init__(errno.EINVAL, "not a regular file (a pipe, device or directory)")


def read_regular_file(path: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``path``, which must be a regular file.

    Opened without blocking (opening a FIFO for reading would wait for a writer) and checked
    on the open descriptor, so nothing can swap the file in between. Raises OSError (a
    :class:`NotARegularFileError` for anything but a regular file).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotARegularFileError
        stream = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with stream:
        return stream.read(limit + 1)


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The file's text, refused when it is not a regular file, over ``limit`` bytes (checked
    before parsing, reading at most ``limit + 1`` bytes) or not UTF-8."""
    try:
        data = read_regular_file(path, limit)
    except OSError as err:
        raise InputError(f"cannot read the file: {err.strerror or type(err).__name__}") from None
    if len(data) > limit:
        raise InputError(f"the file is larger than {size_text(limit)} (the limit)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (invalid byte at offset {err.start})") from None


def load_policy(path: str | Path) -> Policy:
    """Read, parse and validate a policy file of at most :data:`MAX_POLICY_BYTES`."""
    path = Path(path)
    try:
        text = read_text(path, MAX_POLICY_BYTES)
    except InputError as error:
        raise PolicyError([("", error.message)], str(path)) from None
    return parse_policy(text, str(path))
