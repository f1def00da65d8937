"""FileWork (utils/file_work.py): a cancelled caller does not abandon its worker thread, and `wait` returns only
once every call started has ended, not only the latest."""

from __future__ import annotations

import asyncio
import threading

from odradek.broker.utils.file_work import FileWork


def test_wait_covers_every_call_in_flight_even_after_their_callers_were_cancelled() -> None:
    first_release, second_release = threading.Event(), threading.Event()
    ended: list[str] = []

    def slow(name_and_gate: tuple[str, threading.Event]) -> str:
        name, gate = name_and_gate
        gate.wait(10)
        ended.append(name)
        return name

    async def main() -> None:
        work = FileWork()
        first = asyncio.create_task(work.run(slow, ("first", first_release)))
        second = asyncio.create_task(work.run(slow, ("second", second_release)))
        await asyncio.sleep(0.05)
        first.cancel()  # a shutdown cancelling the callers
        second.cancel()
        threading.Timer(0.1, second_release.set).start()
        threading.Timer(0.3, first_release.set).start()  # the older call ends last
        await asyncio.wait_for(work.wait(), 10)
        assert sorted(ended) == ["first", "second"], "wait returned while a thread was still working"
        assert first.cancelled() and second.cancelled()
        assert await work.run(slow, ("third", first_release)) == "third"

    asyncio.run(main())
