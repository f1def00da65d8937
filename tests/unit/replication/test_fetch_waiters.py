"""Idle fetch long-polls must not leave operations or timers behind (one per poll would grow without bound), and
a long-poll is woken by an append, not by its max wait."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.api import (
    AppendOrigin,
    FetchIsolation,
    FetchParams,
    FetchPartition,
    ProduceEntry,
)

if TYPE_CHECKING:
    from conftest import Replicas


def params(max_wait_ms: int) -> FetchParams:
    return FetchParams(-1, max_wait_ms, 1, 1 << 20, FetchIsolation.HIGH_WATERMARK)


def test_idle_long_polls_leave_no_waiters(replicas: Replicas) -> None:
    async def polls() -> None:
        for _ in range(20):
            fetch = asyncio.create_task(replicas.manager.fetch(params(5), [FetchPartition("t", 0, 0, 1 << 20)]))
            await replicas.settle()
            assert not fetch.done()
            replicas.time.advance(5)
            results = await fetch
            assert results[0].size == 0 and results[0].error == ErrorCode.NONE

    asyncio.run(polls())
    assert replicas.manager.fetch_purgatory.watched == 0
    assert replicas.manager.fetch_purgatory.watched_keys() == []
    assert replicas.time.pending_timers == 0


def test_long_poll_wakes_on_append(replicas: Replicas) -> None:
    async def scenario() -> None:
        fetch = asyncio.create_task(replicas.manager.fetch(params(10_000), [FetchPartition("t", 0, 0, 1 << 20)]))
        await replicas.settle()
        assert not fetch.done()
        (result,) = await replicas.manager.produce(
            [ProduceEntry("t", 0, replicas.batch())], 1, 1000, AppendOrigin.CLIENT
        )
        assert result.error == ErrorCode.NONE
        await replicas.settle()
        assert fetch.done()  # woken by the append: no time has passed
        assert fetch.result()[0].size > 0

    asyncio.run(scenario())
    assert replicas.manager.fetch_purgatory.watched == 0
    assert replicas.time.pending_timers == 0  # the max-wait timer was cancelled
