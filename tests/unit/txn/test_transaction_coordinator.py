"""TransactionCoordinator on the coordinator runtime with an in-memory __transaction_state, a MockTime, a
recording marker writer and an in-memory producer id stand-in: Kafka's answers for InitProducerId,
AddPartitionsToTxn and EndTxn, markers then the Complete state, timeouts that fence and abort, reloads that
finish what a dead coordinator left in PrepareCommit, transactional id expiration."""

from __future__ import annotations

import asyncio

import pytest
from odradek.broker.coordinator.memory import InMemoryCoordinatorLog
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.txn.api import TransactionConfig
from odradek.broker.txn.coordinator import TransactionCoordinator
from odradek.broker.txn.state import TransactionState
from odradek.broker.utils.time import MockTime
from txn_fakes import MarkerWriter, ProducerIds

pytestmark = pytest.mark.timeout(10)
E = ErrorCode
S = TransactionState
TID = "tx"
CONFIG = TransactionConfig(
    max_timeout_ms=60_000, transactional_id_expiration_ms=100_000, remove_expired_interval_ms=50_000
)


async def started(
    log: InMemoryCoordinatorLog | None = None, time: MockTime | None = None
) -> tuple[TransactionCoordinator, MockTime, MarkerWriter, InMemoryCoordinatorLog]:
    log = log or InMemoryCoordinatorLog()
    time = time or MockTime()
    markers = MarkerWriter()
    coordinator = TransactionCoordinator(CONFIG, log, lambda: 1, lambda tid, n: 0, time, ProducerIds(), markers)
    coordinator.on_elected(0, 3)
    await coordinator.wait_loaded()
    return coordinator, time, markers, log


def state(coordinator: TransactionCoordinator) -> tuple[str, int, int]:
    txn = coordinator.describe(TID)
    return txn.state, txn.producer_id, txn.producer_epoch


async def test_init_producer_id_allocates_then_bumps_the_epoch() -> None:
    coordinator, *_ = await started()
    assert await coordinator.init_producer_id(TID, 1000, -1, -1) == (E.NONE, 1001, 0)
    assert await coordinator.init_producer_id(TID, 1000, -1, -1) == (E.NONE, 1001, 1)
    assert await coordinator.init_producer_id(TID, 1000, 1001, 1) == (E.NONE, 1001, 2)  # KIP-360 bump
    assert await coordinator.init_producer_id(TID, 1000, 1001, 1) == (E.NONE, 1001, 2)  # a retry of that bump
    assert (await coordinator.init_producer_id(TID, 1000, 4242, 0))[0] is E.PRODUCER_FENCED
    assert (await coordinator.init_producer_id(TID, 1000, 1001, 0))[0] is E.PRODUCER_FENCED
    assert (await coordinator.init_producer_id(TID, 60_001, -1, -1))[0] is E.INVALID_TRANSACTION_TIMEOUT
    assert (await coordinator.init_producer_id(TID, 0, -1, -1))[0] is E.INVALID_TRANSACTION_TIMEOUT
    assert (await coordinator.init_producer_id("", 1000, -1, -1))[0] is E.INVALID_REQUEST
    assert state(coordinator) == ("Empty", 1001, 2)


async def test_commit_writes_prepare_then_markers_then_complete() -> None:
    coordinator, _, markers, _ = await started()
    _, pid, epoch = await coordinator.init_producer_id(TID, 1000, -1, -1)
    assert await coordinator.end_transaction(TID, pid, epoch, True) is E.INVALID_TXN_STATE  # nothing to end
    assert await coordinator.add_partitions(TID, pid, epoch, [("t", 0), ("t", 1)]) is E.NONE
    assert await coordinator.add_partitions(TID, pid, epoch, [("t", 1)]) is E.NONE  # already in: no write
    assert coordinator.verify_partition(TID, pid, epoch, ("t", 1)) is True
    assert coordinator.verify_partition(TID, pid, epoch, ("t", 2)) is False
    assert state(coordinator)[0] == "Ongoing"
    assert [t.transactional_id for t in coordinator.list_transactions({S.ONGOING}, {pid}, 0)] == [TID]
    assert coordinator.list_transactions({S.EMPTY}, set(), -1) == []
    assert coordinator.list_transactions(set(), {pid + 1}, -1) == []
    assert coordinator.list_transactions(set(), set(), 1) == []  # started just now: not longer than 1 ms
    assert await coordinator.end_transaction(TID, pid, epoch, True) is E.NONE
    await coordinator.wait_idle()
    assert markers.written == [(pid, epoch, True, (("t", 0), ("t", 1)))]
    assert state(coordinator) == ("CompleteCommit", pid, epoch)
    assert coordinator.describe(TID).partitions == ()
    assert await coordinator.end_transaction(TID, pid, epoch, True) is E.NONE  # a retried commit
    assert await coordinator.end_transaction(TID, pid, epoch, False) is E.INVALID_TXN_STATE


async def test_wrong_producers_and_epochs_get_kafkas_codes() -> None:
    coordinator, *_ = await started()
    assert await coordinator.end_transaction(TID, 1, 0, True) is E.INVALID_PRODUCER_ID_MAPPING  # unknown id
    assert await coordinator.add_partitions(TID, 1, 0, [("t", 0)]) is E.INVALID_PRODUCER_ID_MAPPING
    _, pid, epoch = await coordinator.init_producer_id(TID, 1000, -1, -1)
    assert await coordinator.add_partitions(TID, pid + 1, epoch, [("t", 0)]) is E.INVALID_PRODUCER_ID_MAPPING
    assert await coordinator.add_partitions(TID, pid, epoch + 1, [("t", 0)]) is E.PRODUCER_FENCED
    assert await coordinator.end_transaction(TID, pid, epoch - 1, False) is E.PRODUCER_FENCED
    assert coordinator.describe("unknown").error is E.TRANSACTIONAL_ID_NOT_FOUND


async def test_a_second_producer_fences_the_ongoing_transaction_and_aborts_it() -> None:
    coordinator, _, markers, _ = await started()
    _, pid, epoch = await coordinator.init_producer_id(TID, 1000, -1, -1)
    await coordinator.add_partitions(TID, pid, epoch, [("t", 0)])
    assert (await coordinator.init_producer_id(TID, 1000, -1, -1))[0] is E.CONCURRENT_TRANSACTIONS
    await coordinator.wait_idle()
    assert markers.written == [(pid, epoch + 1, False, (("t", 0),))]  # aborted at the fenced epoch
    assert state(coordinator) == ("CompleteAbort", pid, epoch + 1)
    assert await coordinator.init_producer_id(TID, 1000, -1, -1) == (E.NONE, pid, epoch + 2)
    assert await coordinator.add_partitions(TID, pid, epoch, [("t", 0)]) is E.PRODUCER_FENCED  # the zombie


async def test_requests_during_the_completion_get_concurrent_transactions() -> None:
    log = InMemoryCoordinatorLog()
    coordinator, _, _, _ = await started(log)
    _, pid, epoch = await coordinator.init_producer_id(TID, 1000, -1, -1)
    await coordinator.add_partitions(TID, pid, epoch, [("t", 0)])
    log.hold_acks = True
    end = asyncio.ensure_future(coordinator.end_transaction(TID, pid, epoch, True))
    for _ in range(10):  # the PrepareCommit write reaches the log at the end of the turn (coalesced appends)
        if log.held:
            break
        await asyncio.sleep(0)
    assert len(log.held) == 1
    assert await coordinator.add_partitions(TID, pid, epoch, [("t", 1)]) is E.CONCURRENT_TRANSACTIONS
    assert (await coordinator.init_producer_id(TID, 1000, -1, -1))[0] is E.CONCURRENT_TRANSACTIONS
    log.hold_acks = False
    log.release(0)
    assert await end is E.NONE
    await coordinator.wait_idle()
    assert state(coordinator)[0] == "CompleteCommit"


async def test_the_next_transaction_waits_for_the_completion_of_the_previous_one() -> None:
    """A producer's AddPartitionsToTxn right after its EndTxn was answered (markers still being written) waits for
    the completion instead of getting CONCURRENT_TRANSACTIONS (which costs the client a 20 ms retry backoff)."""
    coordinator, _, markers, _ = await started()
    _, pid, epoch = await coordinator.init_producer_id(TID, 1000, -1, -1)
    await coordinator.add_partitions(TID, pid, epoch, [("t", 0)])
    markers.gate = asyncio.Event()
    assert await coordinator.end_transaction(TID, pid, epoch, True) is E.NONE  # answered once PrepareCommit is written
    assert state(coordinator)[0] == "PrepareCommit"
    add = asyncio.ensure_future(coordinator.add_partitions(TID, pid, epoch, [("t", 1)]))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not add.done()
    assert await coordinator.add_partitions(TID, pid + 1, epoch, [("t", 1)]) is E.INVALID_PRODUCER_ID_MAPPING
    markers.gate.set()
    assert await add is E.NONE
    assert markers.written == [(pid, epoch, True, (("t", 0),))]
    assert state(coordinator)[0] == "Ongoing"
    assert coordinator.describe(TID).partitions == (("t", 1),)


async def test_a_completion_that_takes_longer_than_the_wait_gets_concurrent_transactions() -> None:
    from odradek.broker.txn.transaction_state_manager import COMPLETION_WAIT_MS

    coordinator, time, markers, _ = await started()
    _, pid, epoch = await coordinator.init_producer_id(TID, 1000, -1, -1)
    await coordinator.add_partitions(TID, pid, epoch, [("t", 0)])
    markers.gate = asyncio.Event()
    assert await coordinator.end_transaction(TID, pid, epoch, False) is E.NONE
    add = asyncio.ensure_future(coordinator.add_partitions(TID, pid, epoch, [("t", 0)]))
    for _ in range(5):
        await asyncio.sleep(0)
    time.advance(COMPLETION_WAIT_MS - 1)
    for _ in range(5):
        await asyncio.sleep(0)
    assert not add.done()
    time.advance(1)
    assert await add is E.CONCURRENT_TRANSACTIONS
    assert state(coordinator)[0] == "PrepareAbort"
    markers.gate.set()
    await coordinator.wait_idle()
    assert state(coordinator)[0] == "CompleteAbort"
    assert await coordinator.add_partitions(TID, pid, epoch, [("t", 0)]) is E.NONE


async def test_a_transaction_past_its_timeout_is_fenced_and_aborted() -> None:
    coordinator, time, markers, _ = await started()
    _, pid, epoch = await coordinator.init_producer_id(TID, 5000, -1, -1)
    await coordinator.add_partitions(TID, pid, epoch, [("t", 0)])
    time.advance(4999)
    await coordinator.wait_idle()
    assert state(coordinator)[0] == "Ongoing"
    time.advance(1)
    await coordinator.wait_idle()
    assert markers.written == [(pid, epoch + 1, False, (("t", 0),))]
    assert state(coordinator) == ("CompleteAbort", pid, epoch + 1)
    assert await coordinator.end_transaction(TID, pid, epoch, True) is E.PRODUCER_FENCED


async def test_failed_markers_are_retried_after_the_backoff() -> None:
    coordinator, time, markers, _ = await started()
    _, pid, epoch = await coordinator.init_producer_id(TID, 1000, -1, -1)
    await coordinator.add_partitions(TID, pid, epoch, [("t", 0), ("u", 0)])
    markers.errors = {("u", 0): E.NOT_LEADER_OR_FOLLOWER}
    assert await coordinator.end_transaction(TID, pid, epoch, False) is E.NONE
    for _ in range(5):
        await asyncio.sleep(0)
    assert state(coordinator)[0] == "PrepareAbort"
    markers.errors = {}
    time.advance(CONFIG.retry_backoff_ms)
    await coordinator.wait_idle()
    assert [w[3] for w in markers.written] == [(("t", 0), ("u", 0)), (("u", 0),)]
    assert state(coordinator)[0] == "CompleteAbort"


async def test_a_reload_finishes_a_prepared_commit_and_rearms_timeouts() -> None:
    coordinator, _, markers, log = await started()
    _, pid, epoch = await coordinator.init_producer_id(TID, 1000, -1, -1)
    await coordinator.add_partitions(TID, pid, epoch, [("t", 0)])
    markers.block = True  # the coordinator "dies" after writing PrepareCommit, before any marker
    assert await coordinator.end_transaction(TID, pid, epoch, True) is E.NONE
    await asyncio.sleep(0)
    coordinator.close()
    second, _, markers, _ = await started(log)
    await second.wait_idle()
    assert markers.written == [(pid, epoch, True, (("t", 0),))]
    assert state(second) == ("CompleteCommit", pid, epoch)
    # An Ongoing transaction found at load times out from its start.
    _, pid, epoch = await second.init_producer_id(TID, 1000, -1, -1)
    await second.add_partitions(TID, pid, epoch, [("t", 0)])
    second.close()
    third, time, markers, _ = await started(log)
    time.advance(999)
    await third.wait_idle()
    assert state(third)[0] == "Ongoing"
    time.advance(1)
    await third.wait_idle()
    assert state(third) == ("CompleteAbort", pid, epoch + 1)


async def test_idle_transactional_ids_expire() -> None:
    coordinator, time, _, log = await started()
    await coordinator.init_producer_id(TID, 1000, -1, -1)
    time.advance(CONFIG.remove_expired_interval_ms)
    await coordinator.wait_idle()
    assert coordinator.describe(TID).error is E.NONE
    time.advance(CONFIG.remove_expired_interval_ms * 2)
    await coordinator.wait_idle()
    assert coordinator.describe(TID).error is E.TRANSACTIONAL_ID_NOT_FOUND
    assert log.records[0][-1][2] is None  # a tombstone
    assert coordinator.list_transactions(set(), set(), -1) == []


async def test_the_metrics_snapshot_counts_states_marker_retries_and_complete_retries() -> None:
    coordinator, time, markers, log = await started()
    assert coordinator.stats().load_times_ms == (0.0,)  # one load, MockTime does not move during it
    _, pid, epoch = await coordinator.init_producer_id(TID, 1000, -1, -1)
    await coordinator.add_partitions(TID, pid, epoch, [("t", 0), ("t", 1)])
    assert coordinator.stats().transactional_ids == {"Ongoing": 1}
    markers.errors = {("t", 1): E.NOT_LEADER_OR_FOLLOWER}  # its leader is not here: NOT_LEADER_OR_FOLLOWER
    assert await coordinator.end_transaction(TID, pid, epoch, True) is E.NONE
    for _ in range(5):
        await asyncio.sleep(0)
    stats = coordinator.stats()
    assert stats.unknown_destination_markers == 1 and stats.transactional_ids == {"PrepareCommit": 1}
    markers.errors = {}
    log.fail = E.NOT_ENOUGH_REPLICAS  # the Complete write fails: it waits in the retry queue
    time.advance(CONFIG.retry_backoff_ms)
    for _ in range(10):
        await asyncio.sleep(0)
    stats = coordinator.stats()
    assert stats.unknown_destination_markers == 0 and stats.log_append_retries == 1
    log.fail = None
    time.advance(CONFIG.retry_backoff_ms)
    await coordinator.wait_idle()
    assert coordinator.stats().log_append_retries == 0
    assert coordinator.stats().transactional_ids == {"CompleteCommit": 1}
    time.advance(30_001)
    assert coordinator.stats().load_times_ms == ()  # older than the 30 s window
