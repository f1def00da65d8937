"""`ProducerIdManager`: producer ids unique across restarts and brokers (Kafka's RPCProducerIdManager over the
controller's ProducerIdControlManager).

Ids are handed out from blocks of `BLOCK_SIZE` (Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE, 1000) reserved
through the metadata store (`allocate_producer_ids(broker_id, count)`: a CAS on one key, so blocks never overlap
whoever asks). Once 90% of the current block is used (Kafka's prefetch point) the next block is requested in the
background, so `generate_producer_id` rarely waits; if the block runs out before the next arrives, the caller waits
for it. Ids never repeat after a restart: an unused rest of a block is simply skipped, as in Kafka. Unlike Kafka
(which answers COORDINATOR_LOAD_IN_PROGRESS and lets the client retry), a caller waits for the allocation here;
an allocation failure is raised to it (the handler answers with the error's code).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

BLOCK_SIZE = 1000
PREFETCH_FRACTION = 0.9

Allocate = Callable[[int, int], Awaitable[int]]  # (broker id, count) -> first id of the reserved block


@dataclass(frozen=True, slots=True)
class ProducerIdsBlock:
    """Ids [first, first + size) reserved for `broker_id` (Kafka's ProducerIdsBlock)."""

    broker_id: int
    first_producer_id: int
    size: int

    @property
    def last_producer_id(self) -> int:
        return self.first_producer_id + self.size - 1

    @property
    def prefetch_producer_id(self) -> int:
        """The id whose hand-out triggers the request for the next block."""
        return self.first_producer_id + int(self.size * PREFETCH_FRACTION)


class ProducerIdManager:
    def __init__(self, broker_id: int, allocate: Allocate, block_size: int = BLOCK_SIZE) -> None:
        self.broker_id = broker_id
        self._allocate = allocate
        self._block_size = block_size
        self._block: ProducerIdsBlock | None = None
        self._next_id = 0
        self._next_block: asyncio.Task[ProducerIdsBlock] | None = None
        self._lock = asyncio.Lock()

    async def _fetch_block(self) -> ProducerIdsBlock:
        first = await self._allocate(self.broker_id, self._block_size)
        return ProducerIdsBlock(self.broker_id, first, self._block_size)

    def _request_next_block(self) -> asyncio.Task[ProducerIdsBlock]:
        if self._next_block is None:
            self._next_block = asyncio.create_task(self._fetch_block())
        return self._next_block

    async def generate_producer_id(self) -> int:
        """A producer id no broker handed out before (Kafka's generateProducerId)."""
        async with self._lock:
            block = self._block
            if block is None or self._next_id > block.last_producer_id:
                task = self._request_next_block()
                try:
                    block = await task
                finally:
                    self._next_block = None  # a failed allocation is retried by the next call
                self._block, self._next_id = block, block.first_producer_id
            producer_id = self._next_id
            self._next_id += 1
            if producer_id >= block.prefetch_producer_id:
                self._request_next_block()
            return producer_id

    async def close(self) -> None:
        """Cancel a background allocation (its block, if it completed in the store, is simply never used)."""
        task, self._next_block = self._next_block, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # closing: nothing to report it to
                await task
