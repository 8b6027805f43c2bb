"""Helpers for the interface tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def settle(
    fetch: Callable[[], Awaitable[list[Any]]], expected: int, within: float = 15.0
) -> list[Any]:
    """Poll a visibility listing until it holds ``expected`` rows (it is eventually
    consistent), then once more to be sure nothing else arrives."""
    deadline = asyncio.get_running_loop().time() + within
    rows = await fetch()
    while len(rows) != expected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
        rows = await fetch()
    await asyncio.sleep(0.3)
    return await fetch()
