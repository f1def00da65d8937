"""Adaptive coalescing of a coordinator's appends over the broker's kind of log (a NowaitCoordinatorLog): a lone
request per turn is written at once, a busy turn coalesces (issue 15 item 7; issue 9: one producer's transaction
state writes must not wait for the end of a turn)."""

from __future__ import annotations

import asyncio

import pytest
from odradek.broker.coordinator.memory import InMemoryNowaitCoordinatorLog
from odradek.broker.protocol.errors import ErrorCode
from test_runtime import make

pytestmark = pytest.mark.timeout(10)
E = ErrorCode


async def test_adaptive_a_lone_request_is_written_at_once_and_a_busy_turn_coalesces() -> None:
    """Over the broker's kind of log, with adaptive coalescing: one request per turn is written at once (its await
    does not suspend: a transaction's state writes wait for no turn's end); a second request in a turn switches to
    coalescing, which lasts until a flush carries one request."""
    log = InMemoryNowaitCoordinatorLog()
    runtime, _ = make(log)
    runtime.on_elected(0)
    await runtime.wait_loaded()
    context = runtime.shard(0).context
    assert runtime.direct_writes  # the default
    turns = 0

    def count_turn() -> None:
        nonlocal turns
        turns += 1

    asyncio.get_running_loop().call_soon(count_turn)
    assert await context.write([(b"a", b"1")]) == (E.NONE, 0)
    assert turns == 0  # answered without the task suspending
    await asyncio.sleep(0)
    assert log.batches == [1]
    # Two in one turn: the first at once, the second at the end of the turn; the next busy turn is one batch.
    assert await asyncio.gather(context.write([(b"b", b"2")]), context.write([(b"c", b"3")])) == [
        (E.NONE, 1),
        (E.NONE, 2),
    ]
    assert log.batches == [1, 1, 1]
    results = await asyncio.gather(*(context.write([(bytes([k]), b"v")]) for k in range(3)))
    assert results == [(E.NONE, 3), (E.NONE, 4), (E.NONE, 5)] and log.batches == [1, 1, 1, 3]
    # A turn with one request: flushed alone at the end of its turn, and the next lone request goes at once.
    assert await context.write([(b"d", b"4")]) == (E.NONE, 6)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    turns = 0
    asyncio.get_running_loop().call_soon(count_turn)
    assert await context.write([(b"e", b"5")]) == (E.NONE, 7)
    assert turns == 0 and log.batches == [1, 1, 1, 3, 1, 1]
    assert [offset for offset, _, _ in runtime.shard(0).replayed] == list(range(8))
