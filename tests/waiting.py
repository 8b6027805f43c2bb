"""Waiting for an eventual condition: the one way integration tests wait (never a bare sleep
raced against a worker or a timer)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tierflow.errors import TicketBusy

T = TypeVar("T")


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], within: float = 60, every: float = 0.1
) -> None:
    """Return once ``check()`` (plain or awaitable) is true; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within:g} s")
        await asyncio.sleep(every)


async def resent_while_busy(send: Callable[[], Awaitable[T]], within: float = 60) -> T:
    """``send()``'s answer, sent again after each :class:`TicketBusy` (a host honouring the
    ticket's backpressure: nothing was written, so a resend is safe); fail after ``within``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await send()
        except TicketBusy as err:
            if loop.time() > deadline:
                raise AssertionError(f"still busy after {within:g} s") from err
            await asyncio.sleep(err.retry_after / 10)
