"""Transactional offset commits (TxnOffsetCommit) on the group coordinator, against an in-memory
__consumer_offsets: the offsets are written to the partition as a transactional batch of the producer, pending
until the producer's marker, and a reload rebuilds exactly that from the log (Kafka's loading of pending
transactional offsets): an open transaction's offsets are pending after a "crash", a COMMIT marker written after
the reload makes them visible, an ABORT marker discards them. Also the write-then-replay ordering of the runtime:
nothing is applied before its write succeeded, and a background group record requested before a tombstone goes
into the log ahead of it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from odradek.broker.coordinator.memory import InMemoryCoordinatorLog
from odradek.broker.coordinator.runtime import LogEntry
from odradek.broker.group.coordinator import GroupConfig, GroupCoordinator, OffsetCommitEntry
from odradek.broker.group.offsets_topic import GroupKey, OffsetKey, decode_key, encode_offset_key
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.txn.api import TransactionConfig
from odradek.broker.txn.coordinator import TransactionCoordinator
from odradek.broker.utils.time import MockTime

pytestmark = pytest.mark.timeout(10)
E = ErrorCode
PARTITIONS = 1
GROUP = "copier"
PID, EPOCH = 4000, 3
CONFIG = GroupConfig(initial_rebalance_delay_ms=0, min_session_timeout_ms=10)


async def started(log: InMemoryCoordinatorLog) -> GroupCoordinator:
    coordinator = GroupCoordinator(CONFIG, log, lambda: PARTITIONS, MockTime())
    coordinator.on_elected(0, 0)
    await coordinator.wait_loaded()
    assert coordinator.loaded == {0}
    return coordinator


def entries(offset: int, *partitions: int) -> list[OffsetCommitEntry]:
    return [OffsetCommitEntry("in", p, offset, -1, "m") for p in partitions]


async def txn_commit(coordinator: GroupCoordinator, offset: int, *partitions: int) -> list[ErrorCode]:
    return await coordinator.commit_transactional_offsets(GROUP, PID, EPOCH, -1, "", None, entries(offset, *partitions))


def committed(coordinator: GroupCoordinator) -> dict[tuple[str, int], int]:
    error, rows = coordinator.fetch_offsets(GROUP, None)
    assert error is E.NONE
    return {(t, p): v.offset for t, p, v in rows if v is not None}


def pending(coordinator: GroupCoordinator, partition: int) -> bool:
    return coordinator.has_pending_transactional_offset(GROUP, "in", partition)


async def test_the_offsets_are_written_in_the_transaction_and_pending_until_the_marker() -> None:
    log = InMemoryCoordinatorLog()
    coordinator = await started(log)
    assert await txn_commit(coordinator, 10, 0, 1) == [E.NONE, E.NONE]
    written = [e for e in log.read(0) if e.key is not None and isinstance(decode_key(e.key), OffsetKey)]
    assert [(e.producer_id, e.producer_epoch, e.transactional) for e in written] == [(PID, EPOCH, True)] * 2
    assert committed(coordinator) == {} and pending(coordinator, 0) and pending(coordinator, 1)
    assert await coordinator.complete_transaction(0, PID, EPOCH, 5, True) is E.NONE
    assert list(log.read(0))[-1] == LogEntry(len(list(log.read(0))) - 1, None, None, PID, EPOCH, True, True)
    assert committed(coordinator) == {("in", 0): 10, ("in", 1): 10}
    assert not pending(coordinator, 0)
    coordinator.close()


async def test_an_open_transaction_is_pending_after_a_crash_and_a_commit_marker_after_the_reload_applies_it() -> None:
    log = InMemoryCoordinatorLog()
    first = await started(log)
    await first.commit_offsets(GROUP, -1, "", None, entries(5, 0), E.ILLEGAL_GENERATION)
    assert await txn_commit(first, 10, 0, 1) == [E.NONE, E.NONE]
    first.close()  # the coordinator dies between the transaction's PrepareCommit and the marker
    second = await started(log)
    assert committed(second) == {("in", 0): 5}  # the plain commit; the transactional ones still pending
    assert pending(second, 0) and pending(second, 1)
    assert await second.complete_transaction(0, PID, EPOCH, 5, True) is E.NONE  # the resent marker
    assert committed(second) == {("in", 0): 10, ("in", 1): 10}
    second.close()
    third = await started(log)  # the marker is in the log: a reload agrees
    assert committed(third) == {("in", 0): 10, ("in", 1): 10} and not pending(third, 0)
    third.close()


async def test_an_abort_marker_after_the_reload_discards_the_pending_offsets() -> None:
    log = InMemoryCoordinatorLog()
    first = await started(log)
    await first.commit_offsets(GROUP, -1, "", None, entries(5, 0), E.ILLEGAL_GENERATION)
    await txn_commit(first, 10, 0)
    first.close()
    second = await started(log)
    assert pending(second, 0)
    assert await second.complete_transaction(0, PID, EPOCH + 1, 5, False) is E.NONE  # aborted at the fenced epoch
    assert committed(second) == {("in", 0): 5} and not pending(second, 0)
    second.close()
    third = await started(log)
    assert committed(third) == {("in", 0): 5} and not pending(third, 0)
    third.close()


async def test_a_newer_plain_commit_wins_over_an_older_transactional_one() -> None:
    """Kafka's rule at the COMMIT marker: the offset whose record is newer in the log is the committed one."""
    log = InMemoryCoordinatorLog()
    coordinator = await started(log)
    await txn_commit(coordinator, 10, 0)
    await coordinator.commit_offsets(GROUP, -1, "", None, entries(20, 0), E.ILLEGAL_GENERATION)
    await coordinator.complete_transaction(0, PID, EPOCH, 5, True)
    assert committed(coordinator) == {("in", 0): 20}
    coordinator.close()
    reloaded = await started(log)
    assert committed(reloaded) == {("in", 0): 20}
    reloaded.close()


async def test_a_failed_write_applies_nothing() -> None:
    log = InMemoryCoordinatorLog()
    coordinator = await started(log)
    log.fail = E.NOT_LEADER_OR_FOLLOWER
    assert await txn_commit(coordinator, 10, 0) == [E.NOT_COORDINATOR]
    assert not pending(coordinator, 0)
    assert (await coordinator.commit_offsets(GROUP, -1, "", None, entries(5, 0), E.ILLEGAL_GENERATION)) == [
        E.NOT_COORDINATOR
    ]
    assert committed(coordinator) == {}
    log.fail = None
    await txn_commit(coordinator, 10, 0)
    log.fail = E.NOT_LEADER_OR_FOLLOWER
    assert await coordinator.complete_transaction(0, PID, EPOCH, 5, True) is E.NOT_LEADER_OR_FOLLOWER
    assert committed(coordinator) == {} and pending(coordinator, 0)  # the marker is retried: still pending
    coordinator.close()


async def test_a_background_group_record_goes_into_the_log_before_a_later_tombstone() -> None:
    """The runtime's ordering: a record requested in the background takes its place when requested. A group
    record deferred before a DeleteGroups in the same loop turn lands before the tombstone."""
    log = InMemoryCoordinatorLog()
    coordinator = await started(log)
    await coordinator.commit_offsets(GROUP, -1, "", None, entries(5, 0), E.ILLEGAL_GENERATION)
    context = coordinator.runtime.context(0)
    assert context is not None
    shard = coordinator.runtime.shard(0)
    group = shard.groups.groups[GROUP]
    late = encode_offset_key(OffsetKey("other", "t", 0))
    context.append_in_background([(late, None)], "a late record")  # requested first
    assert await coordinator.delete_groups([GROUP]) == [E.NONE]
    await coordinator.runtime.wait_idle()
    keys = [decode_key(e.key) for e in log.read(0) if e.key is not None]
    assert keys.index(decode_key(late)) < keys.index(GroupKey(GROUP))
    assert group.group_id not in shard.groups.groups
    coordinator.close()


class OffsetsMarkers:
    """A TxnMarkerWriter that hands `__consumer_offsets` partitions to the group coordinator (as
    ReplicaTxnMarkerWriter does); `dead` makes it hang, as a coordinator killed before its markers."""

    def __init__(self, groups: GroupCoordinator, dead: bool = False) -> None:
        self.groups = groups
        self.dead = dead

    async def write_markers(
        self, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool, partitions: Any
    ) -> dict[tuple[str, int], ErrorCode]:
        if self.dead:
            await asyncio.get_running_loop().create_future()  # never answers
        return {
            (topic, index): await self.groups.complete_transaction(
                index, producer_id, producer_epoch, coordinator_epoch, commit
            )
            for topic, index in partitions
        }


class ProducerIds:
    def __init__(self) -> None:
        self.next = PID

    async def generate_producer_id(self) -> int:
        self.next += 1
        return self.next


async def both(
    group_log: InMemoryCoordinatorLog, txn_log: InMemoryCoordinatorLog, dead: bool
) -> tuple[GroupCoordinator, TransactionCoordinator]:
    groups = await started(group_log)
    config = TransactionConfig(max_timeout_ms=60_000)
    txns = TransactionCoordinator(
        config, txn_log, lambda: 1, lambda tid, n: 0, MockTime(), ProducerIds(), OffsetsMarkers(groups, dead)
    )
    txns.on_elected(0, 1)
    await txns.wait_loaded()
    return groups, txns


@pytest.mark.parametrize("commit", [True, False])
async def test_a_reloaded_transaction_coordinator_resends_the_marker_and_the_offsets_follow(commit: bool) -> None:
    """Both coordinators die after PrepareCommit/PrepareAbort, before any marker: after both reload, the
    transaction coordinator resends the marker to __consumer_offsets and the group's offsets are applied or
    discarded accordingly."""
    group_log, txn_log = InMemoryCoordinatorLog(), InMemoryCoordinatorLog()
    groups, txns = await both(group_log, txn_log, dead=True)
    error, pid, epoch = await txns.init_producer_id("tx", 10_000, -1, -1)
    assert error is E.NONE
    assert await txns.add_partitions("tx", pid, epoch, [("__consumer_offsets", 0)]) is E.NONE
    assert await groups.commit_transactional_offsets(GROUP, pid, epoch, -1, "", None, entries(10, 0)) == [E.NONE]
    assert await txns.end_transaction("tx", pid, epoch, commit) is E.NONE
    await asyncio.sleep(0)
    assert txns.describe("tx").state == ("PrepareCommit" if commit else "PrepareAbort")
    txns.close()
    groups.close()
    groups, txns = await both(group_log, txn_log, dead=False)  # the load resends the marker
    await txns.wait_idle()
    assert txns.describe("tx").state == ("CompleteCommit" if commit else "CompleteAbort")
    assert committed(groups) == ({("in", 0): 10} if commit else {}) and not pending(groups, 0)
    txns.close()
    groups.close()
