"""Producer ids: blocks reserved through the metadata store (Controller.allocate_producer_ids, a CAS on one key)
and handed out by `ProducerIdManager` with a prefetch of the next block."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.errors import ControllerError, ErrorCode
from odradek.broker.metadata.image import PRODUCER_IDS_KEY
from odradek.broker.txn.producer_id_manager import BLOCK_SIZE, ProducerIdManager


def test_blocks_are_disjoint_across_allocators_and_restarts(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path))
        one, two = Controller(store), Controller(store)
        firsts = await asyncio.gather(*(c.allocate_producer_ids(b, 1000) for b, c in [(1, one), (2, two)] * 5))
        assert sorted(firsts) == [i * 1000 for i in range(10)]
        kv = await store.get(PRODUCER_IDS_KEY)
        assert kv is not None and json.loads(kv.value)["next_producer_id"] == 10_000
        await store.close()
        reopened = await EmbeddedMetadataStore.open(str(tmp_path))
        assert await Controller(reopened).allocate_producer_ids(3, 1000) == 10_000
        await reopened.close()

    asyncio.run(main())


def test_allocation_stops_at_the_int64_limit(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path))
        await store.put(PRODUCER_IDS_KEY, json.dumps({"broker_id": 1, "next_producer_id": 2**63 - 1000}).encode())
        with pytest.raises(ControllerError) as raised:
            await Controller(store).allocate_producer_ids(1, 1000)
        assert raised.value.error_code == ErrorCode.UNKNOWN_SERVER_ERROR
        await store.close()

    asyncio.run(main())


class CountingAllocator:
    def __init__(self, start: int = 0) -> None:
        self.next = start
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, broker_id: int, count: int) -> int:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        first, self.next = self.next, self.next + count
        return first


def test_ids_are_unique_across_blocks_and_the_next_block_is_prefetched() -> None:
    async def main() -> None:
        allocate = CountingAllocator()
        manager = ProducerIdManager(1, allocate, block_size=10)
        ids = [await manager.generate_producer_id() for _ in range(9)]
        assert ids == list(range(9)) and allocate.calls == 1
        await manager.generate_producer_id()  # id 9: past 90% of the block
        await asyncio.sleep(0)
        assert allocate.calls == 2  # requested before the block ran out
        more = [await manager.generate_producer_id() for _ in range(25)]
        assert more == list(range(10, 35))
        await manager.close()

    asyncio.run(main())


def test_an_exhausted_block_waits_for_the_next() -> None:
    async def main() -> None:
        allocate = CountingAllocator(start=5000)
        manager = ProducerIdManager(1, allocate, block_size=2)
        assert [await manager.generate_producer_id() for _ in range(2)] == [5000, 5001]
        allocate.gate = asyncio.Event()
        allocate.next = 9000  # another broker took the blocks in between
        waiting = asyncio.ensure_future(manager.generate_producer_id())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        allocate.gate.set()
        assert await waiting == 9000
        await manager.close()

    asyncio.run(main())


def test_a_failed_allocation_is_retried_by_the_next_call() -> None:
    async def main() -> None:
        calls = 0

        async def flaky(broker_id: int, count: int) -> int:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ControllerError(ErrorCode.REQUEST_TIMED_OUT, "store busy")
            return 0

        manager = ProducerIdManager(1, flaky)
        with pytest.raises(ControllerError):
            await manager.generate_producer_id()
        assert await manager.generate_producer_id() == 0
        await manager.close()

    asyncio.run(main())


def test_the_default_block_is_kafkas() -> None:
    assert BLOCK_SIZE == 1000
