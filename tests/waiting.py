"""Waiting for an eventual condition: the one way integration tests wait (never a bare sleep
raced against a worker or a timer)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


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
