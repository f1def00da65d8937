"""Storage work in worker threads that a cancelled caller must not abandon (the replica manager's log creation
and deletion, the replica fetcher's truncation).

`FileWork.run(work, arg)` runs `work(arg)` through `asyncio.to_thread`, shielded: cancelling the awaiting task (a
shutdown) does not stop the thread, which may be halfway through cutting a segment or writing a checkpoint.
`wait()` returns once every call started so far has ended, so that an owner closes its logs after, never under,
a thread still using them. A result nobody awaits any more is dropped (the shield marks its exception retrieved).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["FileWork"]

_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")


class FileWork:
    """The worker-thread calls of one owner still running."""

    __slots__ = ("_running",)

    def __init__(self) -> None:
        self._running: set[asyncio.Future[Any]] = set()

    async def run(self, work: Callable[[_Arg], _Result], arg: _Arg) -> _Result:
        future = asyncio.ensure_future(asyncio.to_thread(work, arg))
        self._running.add(future)
        future.add_done_callback(self._running.discard)
        return await asyncio.shield(future)

    async def wait(self) -> None:
        """Until every call started so far has ended (their errors are the callers', not raised here)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
