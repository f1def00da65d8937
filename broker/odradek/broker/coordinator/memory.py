"""InMemoryCoordinatorLog: a CoordinatorLog held in memory (Kafka's MockPartitionWriter), for tests and
simulations of coordinators; no replication, no files.

Each partition is a list of (offset, key, value) with offsets 0, 1, 2, ... An append takes its offsets at once (so
appends keep the order of the calls, as the real log does) and then completes after one event-loop turn; with
`hold_acks` set it completes only when the test calls `release(i)` for it, in any order, which is how a slow
acknowledgement of an earlier append lets a later one complete first. `fail` makes appends fail with that error
and write nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from odradek.broker.coordinator.runtime import Record
from odradek.broker.protocol.errors import ErrorCode


class InMemoryCoordinatorLog:
    def __init__(self) -> None:
        self.records: dict[int, list[tuple[int, bytes | None, bytes | None]]] = {}
        self.fail: ErrorCode | None = None
        self.hold_acks = False
        self.held: list[asyncio.Future[None]] = []

    async def append(self, partition: int, records: Sequence[Record]) -> tuple[ErrorCode, int]:
        if self.fail is not None:
            return self.fail, -1
        log = self.records.setdefault(partition, [])
        for key, value in records:
            log.append((len(log), key, value))
        last = len(log) - 1
        if self.hold_acks:
            ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.held.append(ack)
            await ack
        else:
            await asyncio.sleep(0)
        return ErrorCode.NONE, last

    def release(self, index: int) -> None:
        """Complete the `index`-th held append (in the order the appends were made)."""
        self.held[index].set_result(None)

    def read(self, partition: int) -> Iterator[tuple[int, bytes | None, bytes | None]]:
        yield from list(self.records.get(partition, []))
