"""InMemoryCoordinatorLog: a CoordinatorLog held in memory (Kafka's MockPartitionWriter), for tests and
simulations of coordinators; no replication, no files.

Each partition is a list of entries with offsets 0, 1, 2, ...: `LogEntry` values, or plain (offset, key, value)
triples that tests may put there directly (read as non-transactional records). A transaction marker takes one
offset, as a control batch does. An append takes its offsets at once (so appends keep the order of the calls, as
the real log does) and then completes after one event-loop turn; with `hold_acks` set it completes only when the
test calls `release(i)` for it, in any order, which is how a slow acknowledgement of an earlier append lets a
later one complete first. `fail` makes appends fail with that error and write nothing. `batches` counts
the records of each append call (a marker counts 0), so tests see how writes were coalesced.
`InMemoryNowaitCoordinatorLog` adds the synchronous appends of a `NowaitCoordinatorLog`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from odradek.broker.coordinator.runtime import AppendOutcome, LogEntry, Record, TxnProducer
from odradek.broker.protocol.errors import ErrorCode

Stored = LogEntry | tuple[int, bytes | None, bytes | None]


class InMemoryCoordinatorLog:
    def __init__(self) -> None:
        self.records: dict[int, list[Stored]] = {}
        self.fail: ErrorCode | None = None
        self.hold_acks = False
        self.held: list[asyncio.Future[None]] = []
        self.batches: list[int] = []  # records per append call, in call order (0: a marker)

    async def append(
        self, partition: int, records: Sequence[Record], producer: TxnProducer | None = None
    ) -> tuple[ErrorCode, int]:
        if self.fail is not None:
            self.batches.append(len(records))
            return self.fail, -1
        return ErrorCode.NONE, await self._acknowledged(self._store(partition, records, producer))

    async def append_marker(
        self, partition: int, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool
    ) -> tuple[ErrorCode, int]:
        if self.fail is not None:
            self.batches.append(0)
            return self.fail, -1
        return ErrorCode.NONE, await self._acknowledged(
            self._store_marker(partition, producer_id, producer_epoch, commit)
        )

    def _store(self, partition: int, records: Sequence[Record], producer: TxnProducer | None) -> int:
        self.batches.append(len(records))
        log = self.records.setdefault(partition, [])
        for key, value in records:
            if producer is None:
                log.append(LogEntry(len(log), key, value))
            else:
                log.append(LogEntry(len(log), key, value, producer.producer_id, producer.producer_epoch, True))
        return len(log) - 1

    def _store_marker(self, partition: int, producer_id: int, producer_epoch: int, commit: bool) -> int:
        self.batches.append(0)
        log = self.records.setdefault(partition, [])
        log.append(LogEntry(len(log), None, None, producer_id, producer_epoch, True, commit))
        return len(log) - 1

    async def _acknowledged(self, last: int) -> int:
        if self.hold_acks:
            ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.held.append(ack)
            await ack
        else:
            await asyncio.sleep(0)
        return last

    def release(self, index: int) -> None:
        """Complete the `index`-th held append (in the order the appends were made)."""
        self.held[index].set_result(None)

    def read(self, partition: int) -> Iterator[LogEntry]:
        for entry in list(self.records.get(partition, [])):
            yield entry if isinstance(entry, LogEntry) else LogEntry(*entry)


class InMemoryNowaitCoordinatorLog(InMemoryCoordinatorLog):
    """The same log, also a `NowaitCoordinatorLog` (as the broker's PartitionRecordLog is): `append_nowait`
    stores at once and is final at once, or with `hold_acks` gives a future completed by `release(i)`."""

    def append_nowait(
        self, partition: int, records: Sequence[Record], producer: TxnProducer | None = None
    ) -> AppendOutcome:
        if self.fail is not None:
            self.batches.append(len(records))
            return self.fail, -1
        return self._outcome(self._store(partition, records, producer))

    def append_marker_nowait(
        self, partition: int, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool
    ) -> AppendOutcome:
        if self.fail is not None:
            self.batches.append(0)
            return self.fail, -1
        return self._outcome(self._store_marker(partition, producer_id, producer_epoch, commit))

    def _outcome(self, last: int) -> AppendOutcome:
        if not self.hold_acks:
            return ErrorCode.NONE, last
        loop = asyncio.get_running_loop()
        ack: asyncio.Future[None] = loop.create_future()
        outcome: asyncio.Future[tuple[ErrorCode, int]] = loop.create_future()

        def acknowledged(_: asyncio.Future[None]) -> None:
            if not outcome.done():
                outcome.set_result((ErrorCode.NONE, last))

        ack.add_done_callback(acknowledged)
        self.held.append(ack)
        return outcome
