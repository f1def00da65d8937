"""Helpers shared by the metadata tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run(coro: Coroutine[Any, Any, T], timeout: float = 20) -> T:
    """Runs a test coroutine on a fresh event loop with an overall time limit."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def next_batch(stream: AsyncIterator[T], timeout: float = 2) -> T:
    """The next item of an async iterator, failing the test if none comes within ``timeout`` seconds."""
    return await asyncio.wait_for(anext(stream), timeout)
