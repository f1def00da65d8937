"""Replication between in-process ReplicaManagers: followers fetch from leaders through a fake LeaderEndPoint that
calls the leader's ReplicaManager directly (no sockets), on one MockTime; AlterPartition is a CAS on an in-memory
partition record whose every change is published to all brokers, as the metadata image would be.

Covers HW propagation, acks=all waiting for every ISR member, ISR shrink after replica.lag.time.max.ms and
expansion after catch-up, min.insync.replicas, and the epoch-driven divergence cases of Kafka's replication tests
(KIP-101/279): a follower's uncommitted tail from an old epoch, both sides diverged, a follower without the leader's
epoch, a leader without epoch history, and a fetch offset below the leader's log start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import pytest
from odradek.broker.config.broker import build
from odradek.broker.config.topic import log_config
from odradek.broker.log.log import Log
from odradek.broker.log.manager import LogManager
from odradek.broker.metrics.broker import BrokerMetrics
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.quota.replication_quota_manager import ReplicationQuotaManagers
from odradek.broker.records.builder import build_batch
from odradek.broker.replication.alter_partition_manager import AlterPartitionItem, AlterPartitionResult
from odradek.broker.replication.api import (
    AppendOrigin,
    FetchIsolation,
    FetchParams,
    FetchPartition,
    ProduceEntry,
    ProduceResult,
)
from odradek.broker.replication.fetch_session import FetchMetadata, FetchSessionResponse, session_key
from odradek.broker.replication.leader_end_point import (
    BrokerEndPoint,
    EpochEndOffset,
    EpochRequest,
    FetchAnswer,
    FetchedPartition,
    FetchRequestData,
)
from odradek.broker.replication.partition import PartitionError, PartitionState
from odradek.broker.replication.replica_manager import ReplicaAssignment, ReplicaManager
from odradek.broker.utils.time import MockTime

TOPIC = "r"
KEY = (TOPIC, 0)
LAG_MS = 10_000
FETCH_VERSION = 12  # the handler's rules for a Fetch naming topics by name
BACKOFF_MS = 1_000  # replica.fetch.backoff.ms's default


class Cluster:
    def __init__(
        self,
        root: Path,
        broker_ids: Sequence[int],
        configs: dict[str, str] | None = None,
        broker_configs: dict[str, str] | None = None,
    ) -> None:
        self.time = MockTime()
        self.topic_id = uuid.uuid4()
        self.configs = configs or {}
        self.record: PartitionState | None = None
        self.blocked: dict[int, asyncio.Event] = {}  # follower id -> released when set
        self.epoch_answer: Callable[[EpochRequest], EpochEndOffset] | None = None
        self.alters: list[AlterPartitionItem] = []
        self.managers: dict[int, ReplicaManager] = {}
        self.quotas: dict[int, ReplicationQuotaManagers] = {}  # each broker's replication throttles (unbounded)
        self.endpoints: dict[tuple[int, int], DirectEndPoint] = {}  # (follower, leader) -> the latest made
        for broker_id in broker_ids:
            config = build(
                [
                    {
                        "log.dirs": str(root / str(broker_id)),
                        "replica.lag.time.max.ms": str(LAG_MS),
                        **(broker_configs or {}),
                    }
                ]
            )
            quotas = self.quotas[broker_id] = ReplicationQuotaManagers(broker_id, self.time)
            logs = LogManager.open([root / str(broker_id)], log_config({}, config))
            manager = ReplicaManager(
                broker_id,
                config,
                logs,
                BrokerMetrics(),
                self.time,
                endpoints=self._endpoint_factory(broker_id),
                alter_partition=FakeAlterPartition(self),
                leader_quota=quotas.leader,
                follower_quota=quotas.follower,
            )
            manager.start_isr_expiration()
            self.managers[broker_id] = manager
        endpoints = {b: BrokerEndPoint(b, "127.0.0.1", 9000 + b) for b in broker_ids}
        for manager in self.managers.values():
            manager.update_brokers(endpoints)

    def _endpoint_factory(self, follower: int) -> Callable[[BrokerEndPoint], DirectEndPoint]:
        return lambda source: DirectEndPoint(self, source.broker_id, follower)

    async def publish(self, state: PartitionState | None = None, only: Sequence[int] | None = None) -> None:
        """Apply the partition record (the new one if given) on every broker (or on `only`)."""
        if state is not None:
            self.record = state
        assert self.record is not None
        for broker_id, manager in self.managers.items():
            if only is None or broker_id in only:
                await manager.apply_assignments([ReplicaAssignment(TOPIC, 0, self.topic_id, self.configs, self.record)])

    def leader_move(self, leader: int, isr: Sequence[int] | None = None) -> PartitionState:
        assert self.record is not None
        return dataclasses.replace(
            self.record,
            leader_id=leader,
            leader_epoch=self.record.leader_epoch + 1,
            partition_epoch=self.record.partition_epoch + 1,
            isr=tuple(self.record.isr if isr is None else isr),
        )

    def block(self, follower: int) -> None:
        self.blocked[follower] = asyncio.Event()

    def release(self, follower: int) -> None:
        self.blocked.pop(follower).set()

    def log(self, broker_id: int) -> Any:
        return self.managers[broker_id].get_partition(*KEY).log

    def log_bytes(self, broker_id: int, up_to: int) -> bytes:
        log = self.log(broker_id)
        return log.read(log.log_start_offset, 1 << 30, up_to).read_bytes()

    def produce(self, leader: int, count: int, acks: int = -1) -> asyncio.Task[list[ProduceResult]]:
        batch = build_batch([(b"k%d" % i, b"v", (), self.time.wall_ms()) for i in range(count)])
        coro = self.managers[leader].produce([ProduceEntry(TOPIC, 0, batch)], acks, 30_000, AppendOrigin.CLIENT)
        return asyncio.ensure_future(coro)

    async def _settle(self) -> None:
        """Let the brokers run; a truncation in a worker thread (the replica fetcher's file work) is waited for, so
        that no mock time passes while it runs, however slow the machine."""
        for _ in range(30):
            await asyncio.sleep(0)
            for manager in list(self.managers.values()):
                for fetcher in list(manager.fetchers.fetchers.values()):
                    await asyncio.wait_for(fetcher._file_work.wait(), 30)

    async def run_until(self, predicate: Callable[[], bool], max_ms: int = 30_000, step_ms: int = 50) -> None:
        for _ in range(max_ms // step_ms):
            await self._settle()
            if predicate():
                return
            self.time.advance(step_ms)
        raise AssertionError("condition not reached")

    async def run_for(self, ms: int, step_ms: int = 50) -> None:
        for _ in range(ms // step_ms):
            await self._settle()
            self.time.advance(step_ms)

    async def stop(self) -> None:
        for blocked in list(self.blocked):
            self.release(blocked)
        for manager in self.managers.values():
            await manager.stop()


class DirectEndPoint:
    """The follower's LeaderEndPoint: the leader's ReplicaManager called directly."""

    def __init__(self, cluster: Cluster, source: int, follower: int) -> None:
        self.cluster, self.source, self.follower = cluster, source, follower
        self.requests: list[FetchRequestData] = []  # what the follower sent, and the leader answered
        self.answers: list[FetchSessionResponse] = []
        cluster.endpoints[(follower, source)] = self

    async def _gate(self) -> None:
        blocked = self.cluster.blocked.get(self.follower)
        if blocked is not None:
            await blocked.wait()

    async def fetch(self, params: FetchParams, request: FetchRequestData) -> FetchAnswer:
        """As the Fetch handler serves it (v12: topics by name): the leader's fetch session context says what is
        read and what is answered."""
        await self._gate()
        leader = self.cluster.managers[self.source]
        self.requests.append(request)
        context = leader.fetch_manager.new_context(
            FETCH_VERSION,
            request.metadata,
            params.is_from_follower,
            request.to_send,
            [session_key(p, uses_topic_ids=False) for p in request.to_forget],
        )
        partitions = context.partitions()
        results = await leader.fetch(params, partitions)
        if self.follower in self.cluster.blocked:  # cut while the fetch waited at the leader: the answer is lost
            await self._gate()
            raise ConnectionResetError("cut off")
        answer = context.update_and_generate_response_data(list(zip(partitions, results, strict=True)))
        self.answers.append(answer)
        return FetchAnswer(
            answer.error,
            answer.session_id,
            {
                (p.topic, p.partition): FetchedPartition(
                    r.error, r.high_watermark, r.log_start_offset, r.records.read_bytes() if r.records else b""
                )
                for p, r in answer.partitions
            },
        )

    async def fetch_epoch_end_offsets(self, requests: Sequence[EpochRequest]) -> list[EpochEndOffset]:
        await self._gate()
        answers = []
        for r in requests:
            if self.cluster.epoch_answer is not None:
                answers.append(self.cluster.epoch_answer(r))
                continue
            try:
                epoch, end = self.cluster.managers[self.source].end_offset_for_epoch(
                    r.topic, r.partition, r.current_leader_epoch, r.leader_epoch
                )
            except PartitionError as exc:
                answers.append(EpochEndOffset(exc.error_code))
            else:
                answers.append(EpochEndOffset(ErrorCode.NONE, epoch, end))
        return answers

    async def close(self) -> None:
        return None


class FakeAlterPartition:
    """AlterPartition semantics on the cluster's record; a success is published to every broker."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    async def submit(self, item: AlterPartitionItem) -> AlterPartitionResult:
        self.cluster.alters.append(item)
        record = self.cluster.record
        assert record is not None
        if record.leader_id != item.leader_id or record.leader_epoch != item.leader_epoch:
            return AlterPartitionResult(ErrorCode.FENCED_LEADER_EPOCH)
        if record.partition_epoch != item.partition_epoch:
            return AlterPartitionResult(ErrorCode.INVALID_UPDATE_VERSION)
        new = dataclasses.replace(record, isr=item.new_isr, partition_epoch=record.partition_epoch + 1)
        await self.cluster.publish(new)
        return AlterPartitionResult(ErrorCode.NONE, new.leader_epoch, new.partition_epoch, new.isr)


def run(root: Path, ids: Sequence[int], body: Callable[[Cluster], Coroutine[Any, Any, None]], **kw: Any) -> None:
    async def main() -> None:
        cluster = Cluster(root, ids, **kw)
        try:
            await body(cluster)
        finally:
            await cluster.stop()

    asyncio.run(main())


def state(leader: int, replicas: Sequence[int], isr: Sequence[int] | None = None, epoch: int = 0) -> PartitionState:
    return PartitionState(leader, epoch, 0, tuple(replicas), tuple(replicas if isr is None else isr))


def hw(cluster: Cluster, broker_id: int) -> int:
    return int(cluster.managers[broker_id].get_partition(*KEY).high_watermark)


def leo(cluster: Cluster, broker_id: int) -> int:
    return int(cluster.log(broker_id).log_end_offset)


def test_acks_all_waits_for_every_isr_member_and_the_hw_reaches_the_followers(tmp_path: Path) -> None:
    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2, 3)))
        c.block(3)
        produced = c.produce(1, 5)
        await c.run_until(lambda: leo(c, 2) == 5)
        await c.run_for(1_000)
        assert not produced.done()  # broker 3, in the ISR, has not fetched
        assert hw(c, 1) == 0
        c.release(3)
        await c.run_until(produced.done)
        assert produced.result()[0].error is ErrorCode.NONE
        assert hw(c, 1) == 5
        await c.run_until(lambda: hw(c, 2) == 5 and hw(c, 3) == 5)  # followers learn the HW from their fetches
        assert c.log_bytes(2, 5) == c.log_bytes(1, 5) == c.log_bytes(3, 5)
        assert c.log(2).epoch_cache.entries() == [(0, 0)]

    run(tmp_path, (1, 2, 3), body)


def test_isr_shrinks_after_the_lag_time_and_expands_after_catch_up(tmp_path: Path) -> None:
    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2, 3)))
        c.block(3)
        first = c.produce(1, 2)
        await c.run_for(LAG_MS // 2)
        assert c.record is not None and c.record.isr == (1, 2, 3)  # not lagging long enough yet
        await c.run_until(lambda: c.record is not None and c.record.isr == (1, 2), max_ms=LAG_MS + 5_000)
        await c.run_until(first.done)
        assert first.result()[0].error is ErrorCode.NONE  # completes once the ISR no longer holds broker 3
        assert c.managers[1].get_partition(*KEY).state.isr == (1, 2)
        second = c.produce(1, 3)
        await c.run_until(second.done)
        assert second.result()[0].error is ErrorCode.NONE and hw(c, 1) == 5
        c.release(3)
        await c.run_until(lambda: c.record is not None and c.record.isr == (1, 2, 3))
        assert leo(c, 3) == 5
        assert [a.new_isr for a in c.alters] == [(1, 2), (1, 2, 3)]
        leader_metrics = scraped(c.managers[1].metrics)
        assert leader_metrics["kafka_server_replicamanager_isrshrinks_total"] == 1
        assert leader_metrics["kafka_server_replicamanager_isrexpands_total"] == 1
        assert scraped(c.managers[3].metrics)["kafka_server_replicafetchermanager_maxlag"] == 0, "caught up"

    run(tmp_path, (1, 2, 3), body)


def test_a_caught_up_follower_that_may_not_join_the_isr_stays_out_until_it_may(tmp_path: Path) -> None:
    """KIP-841: a broker fenced or in controlled shutdown keeps fetching but is not added back to the ISR (a CI run
    saw a broker in its controlled shutdown re-added by the new leader during its linger)."""

    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2, 3)))
        c.block(3)
        done = c.produce(1, 2)
        await c.run_until(lambda: c.record is not None and c.record.isr == (1, 2), max_ms=3 * LAG_MS)
        c.managers[1].update_brokers({}, isr_eligible=(1, 2))  # broker 3 shutting down, as the image says
        c.release(3)
        await c.run_until(done.done)
        await c.run_until(lambda: leo(c, 3) == leo(c, 1))
        await c.run_for(LAG_MS)
        assert c.record is not None and c.record.isr == (1, 2)
        assert [a.new_isr for a in c.alters] == [(1, 2)], "no AlterPartition for an ineligible replica"
        c.managers[1].update_brokers({}, isr_eligible=(1, 2, 3))  # eligible again
        c.produce(1, 1)
        await c.run_until(lambda: c.record is not None and c.record.isr == (1, 2, 3))

    run(tmp_path, (1, 2, 3), body)


def scraped(metrics: BrokerMetrics) -> dict[str, float]:
    """Unlabelled (or single-row) samples by name, as Prometheus would read them."""
    out: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            out.setdefault(sample.name, sample.value)
    return out


def test_min_insync_replicas_with_a_real_isr(tmp_path: Path) -> None:
    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2, 3)))
        c.block(2)
        c.block(3)
        waiting = c.produce(1, 1)
        await c.run_until(lambda: c.record is not None and c.record.isr == (1,), max_ms=3 * LAG_MS)
        await c.run_until(waiting.done)
        # Appended with ISR {1,2,3}; the HW passed it only once the ISR was {1}.
        assert waiting.result()[0].error is ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
        refused = c.produce(1, 1)
        await c.run_until(refused.done)
        assert refused.result()[0].error is ErrorCode.NOT_ENOUGH_REPLICAS
        assert leo(c, 1) == 1  # nothing appended
        acks_one = c.produce(1, 1, acks=1)
        await c.run_until(acks_one.done)
        assert acks_one.result()[0].error is ErrorCode.NONE

    run(tmp_path, (1, 2, 3), body, configs={"min.insync.replicas": "2"})


def test_a_fetch_from_a_non_replica_or_with_a_stale_epoch_is_refused(tmp_path: Path) -> None:
    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2), epoch=3))
        leader = c.managers[1]
        params = FetchParams(7, 0, 1, 1 << 20, FetchIsolation.LOG_END)
        assert (await leader.fetch(params, [FetchPartition(TOPIC, 0, 0, 1 << 20, 3)]))[0].error is (
            ErrorCode.NOT_LEADER_OR_FOLLOWER
        )
        follower = dataclasses.replace(params, replica_id=2)
        results = await leader.fetch(follower, [FetchPartition(TOPIC, 0, 0, 1 << 20, 2)])
        assert results[0].error is ErrorCode.FENCED_LEADER_EPOCH
        results = await leader.fetch(follower, [FetchPartition(TOPIC, 0, 0, 1 << 20, 4)])
        assert results[0].error is ErrorCode.UNKNOWN_LEADER_EPOCH
        # A follower is refused consumer-style reads of a partition it follows: no fetching from followers.
        consumer = dataclasses.replace(params, replica_id=-1)
        assert (await c.managers[2].fetch(consumer, [FetchPartition(TOPIC, 0, 0, 1 << 20)]))[0].error is (
            ErrorCode.NOT_LEADER_OR_FOLLOWER
        )

    run(tmp_path, (1, 2), body)


async def _replicated(c: Cluster, count: int) -> None:
    """Broker 1 leads (1, 2) at epoch 0 and both hold `count` committed records."""
    await c.publish(state(1, (1, 2)))
    produced = c.produce(1, count)
    await c.run_until(produced.done)
    assert produced.result()[0].error is ErrorCode.NONE
    await c.run_until(lambda: hw(c, 2) == count)


def test_follower_truncates_an_uncommitted_tail_of_an_old_epoch(tmp_path: Path) -> None:
    """KIP-101: broker 1 (leader, epoch 0) has 3 records broker 2 never got; broker 2 leads at epoch 1 and writes
    2 more; broker 1, now follower, truncates to the end of epoch 0 on broker 2 and then equals it."""

    async def body(c: Cluster) -> None:
        await _replicated(c, 5)
        c.block(2)
        c.produce(1, 3, acks=1)
        await c.run_until(lambda: leo(c, 1) == 8)
        await c.publish(c.leader_move(2, isr=(2,)))
        c.release(2)
        written = c.produce(2, 2, acks=1)
        await c.run_until(written.done)
        await c.run_until(lambda: leo(c, 1) == 7 and c.log_bytes(1, 7) == c.log_bytes(2, 7))
        assert c.log(1).epoch_cache.entries() == [(0, 0), (1, 5)]

    run(tmp_path, (1, 2), body)


def test_both_diverged_and_the_follower_lacks_the_leaders_epoch(tmp_path: Path) -> None:
    """KIP-279: broker 1 has epoch 0 at 0..4 and epoch 2 at 5..6; broker 2 has epoch 0 at 0..2, epoch 1 at 3..7
    and epoch 3 at 8. Broker 1 asks for epoch 2: broker 2's largest epoch below it is 1, ending at 8; broker 1 has
    no epoch 1 (its epoch 0 ends at 5), so it cuts to 5 and asks again with epoch 0, which ends at 3 on broker 2:
    it cuts to 3 (a single round would keep its divergent offsets 3..4) and fetches epochs 1 and 3."""

    async def body(c: Cluster) -> None:
        await _replicated(c, 3)  # both: epoch 0 at 0..2
        c.block(2)
        tail = c.produce(1, 2, acks=1)  # broker 1 only: epoch 0 at 3..4
        await c.run_until(tail.done)
        # Broker 2 leads epoch 1 alone (offsets 3..7), while broker 1 is cut off.
        await c.publish(c.leader_move(2, isr=(2,)), only=[2])
        for _ in range(5):  # one batch per record: a fetch from any of these offsets starts exactly there
            first = c.produce(2, 1, acks=1)
            await c.run_until(first.done)
        # Broker 1 leads epoch 2 alone (offsets 5..6), never hearing of epoch 1.
        assert c.record is not None
        await c.publish(dataclasses.replace(c.record, leader_id=1, leader_epoch=2, isr=(1,)), only=[1])
        mine = c.produce(1, 2, acks=1)
        await c.run_until(mine.done)
        assert c.log(1).epoch_cache.entries() == [(0, 0), (2, 5)]
        # Broker 2 leads epoch 3 (offset 8), broker 1 follows it.
        assert c.record is not None
        await c.publish(dataclasses.replace(c.record, leader_id=2, leader_epoch=3, isr=(2,)), only=[2])
        third = c.produce(2, 1, acks=1)
        await c.run_until(third.done)
        c.release(2)
        await c.publish()
        await c.run_until(lambda: leo(c, 1) == 9)
        assert c.log_bytes(1, 9) == c.log_bytes(2, 9)
        assert c.log(1).epoch_cache.entries() == [(0, 0), (1, 3), (3, 8)]

    run(tmp_path, (1, 2), body)


def test_a_leader_without_the_epoch_makes_the_follower_truncate_to_its_high_watermark(tmp_path: Path) -> None:
    async def body(c: Cluster) -> None:
        await _replicated(c, 5)
        c.block(2)
        c.produce(1, 3, acks=1)  # uncommitted tail 5..7 on broker 1
        await c.run_until(lambda: leo(c, 1) == 8)
        c.epoch_answer = lambda r: EpochEndOffset(ErrorCode.NONE, -1, -1)  # as a leader with no epoch history
        await c.publish(c.leader_move(2, isr=(2,)))
        c.release(2)
        await c.run_until(lambda: leo(c, 1) == 5)  # broker 1's HW was 5
        assert c.log_bytes(1, 5) == c.log_bytes(2, 5)

    run(tmp_path, (1, 2), body)


@pytest.mark.parametrize("batches", [1, 8])
def test_a_fetch_below_the_leaders_log_start_starts_the_follower_there(
    tmp_path: Path, batches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new replica's fetch from 0 is out of range: it starts at the leader's log start (6), at a batch boundary
    (8 batches) or inside the leader's first batch (1 batch of 8: it starts at that batch's base). Emptying the log
    is file work: every restart runs in a worker thread, not on the event loop."""
    on_loop: list[bool] = []
    real_start = Log.truncate_fully_and_start_at

    def start(self: Log, offset: int, now_ms: int | None = None) -> None:
        on_loop.append(threading.current_thread() is threading.main_thread())
        real_start(self, offset, now_ms)

    monkeypatch.setattr(Log, "truncate_fully_and_start_at", start)

    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1,), isr=(1,)))
        for _ in range(batches):
            produced = c.produce(1, 8 // batches)
            await c.run_until(produced.done)
        c.managers[1].delete_records(TOPIC, 0, 6)
        assert c.record is not None
        await c.publish(dataclasses.replace(c.record, replicas=(1, 2), partition_epoch=1))
        await c.run_until(lambda: c.record is not None and c.record.isr == (1, 2))
        assert (c.log(2).log_start_offset, leo(c, 2)) == (6, 8)
        # Emptied and restarted at the leader's log start (or at the base of the batch holding it).
        assert c.log(2).segments[0].base_offset == (6 if batches == 8 else 0)
        assert c.log_bytes(2, 8) == c.log_bytes(1, 8)
        assert on_loop == [False] * (1 if batches == 8 else 2)  # at 6; inside the batch also at its base 0

    run(tmp_path, (1, 2), body)


def test_waits_of_a_leader_that_becomes_follower_answer_not_leader(tmp_path: Path) -> None:
    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2)))
        c.block(2)
        waiting = c.produce(1, 1)
        await c.run_for(200)
        assert not waiting.done()
        await c.publish(c.leader_move(2))
        await c.run_until(waiting.done)
        assert waiting.result()[0].error is ErrorCode.NOT_LEADER_OR_FOLLOWER

    run(tmp_path, (1, 2), body)


def test_an_image_older_than_the_applied_isr_change_is_ignored(tmp_path: Path) -> None:
    """The leader applies its AlterPartition answer at once; an image from before it (lower partition epoch)
    arriving later does not bring the old ISR back."""

    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2, 3)))
        before = c.record
        c.block(3)
        c.produce(1, 1)
        await c.run_until(lambda: c.record is not None and c.record.isr == (1, 2), max_ms=3 * LAG_MS)
        assert before is not None
        await c.managers[1].apply_assignments([ReplicaAssignment(TOPIC, 0, c.topic_id, c.configs, before)])
        partition = c.managers[1].get_partition(*KEY)
        assert (partition.state.isr, partition.state.partition_epoch) == ((1, 2), 1)

    run(tmp_path, (1, 2, 3), body)


def test_followers_fetch_in_incremental_sessions(tmp_path: Path) -> None:
    """KIP-227 between brokers: after the first full Fetch, an idle follower's requests name no partition and the
    leader's answers hold none; a produce makes the partition appear in the answer that carries it and in the next
    request (its offset moved); a leader that lost the session answers FETCH_SESSION_ID_NOT_FOUND and the follower
    opens a new one with a full request, replication going on."""

    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2, 3)))
        produced = c.produce(1, 3)
        await c.run_until(produced.done)
        await c.run_for(4_000)
        leader = c.managers[1]
        cache = leader.fetch_manager.cache
        assert cache.size == 2 and all(s.privileged for s in cache.sessions.values())
        assert cache.total_partitions == 2
        endpoint = c.endpoints[(2, 1)]
        assert endpoint.requests[0].metadata.epoch == 0 and len(endpoint.requests[0].to_send) == 1
        idle = endpoint.requests[-3:]
        assert all(r.metadata.epoch > 0 and r.to_send == () and r.to_forget == () for r in idle)
        quiet = endpoint.answers[-2:]  # the HW reached 3 a little before
        assert all(a.partitions == [] and a.session_id == idle[0].metadata.session_id for a in quiet)
        sent = len(endpoint.requests)
        produced = c.produce(1, 2)
        await c.run_until(lambda: produced.done() and hw(c, 2) == 5 and hw(c, 3) == 5)
        carrying = [a for a in endpoint.answers[sent - 1 :] if a.partitions and a.partitions[0][1].size > 0]
        assert len(carrying) == 1
        assert any(r.to_send and r.to_send[0].fetch_offset == 5 for r in endpoint.requests[sent:])
        # The leader forgets every session (as after a restart): one error, one full request, then a new session.
        for session_id in list(cache.sessions):
            cache.remove(session_id)
        await c.run_for(1_500)
        lost = [a for a in endpoint.answers[sent:] if a.error is ErrorCode.FETCH_SESSION_ID_NOT_FOUND]
        assert len(lost) == 1
        assert cache.size == 2
        produced = c.produce(1, 1)
        await c.run_until(lambda: produced.done() and hw(c, 2) == 6 and hw(c, 3) == 6)
        assert produced.result()[0].error is ErrorCode.NONE
        assert c.log_bytes(2, 6) == c.log_bytes(1, 6) == c.log_bytes(3, 6)
        # A request lost on the way back (the leader moved the session on): the next one is full, closing it.
        in_flight = endpoint.requests[-1].metadata
        assert in_flight.epoch > 0
        c.block(2)
        await c.run_for(1_000)
        sent = len(endpoint.requests)
        c.release(2)
        await c.run_for(2_500)
        assert endpoint.requests[sent].metadata == FetchMetadata(in_flight.session_id, 0)

    run(tmp_path, (1, 2, 3), body)


@pytest.mark.parametrize(
    ("answer", "delayed"),
    [
        (FetchAnswer(ErrorCode.INVALID_FETCH_SESSION_EPOCH), False),  # a session error: a full request at once
        (FetchAnswer(ErrorCode.FETCH_SESSION_ID_NOT_FOUND), False),
        (FetchAnswer(ErrorCode.NONE, 5, {("elsewhere", 0): FetchedPartition(ErrorCode.NONE)}), True),  # not ours
        (FetchAnswer(ErrorCode.UNKNOWN_SERVER_ERROR), True),
    ],
)
def test_an_answer_the_session_cannot_use_is_retried_as_full(
    tmp_path: Path, answer: FetchAnswer, delayed: bool
) -> None:
    async def body(c: Cluster) -> None:
        await c.publish(state(1, (1, 2)))
        await c.run_until(lambda: bool(c.endpoints[(2, 1)].answers) and c.endpoints[(2, 1)].answers[-1].session_id)
        endpoint = c.endpoints[(2, 1)]
        real = endpoint.fetch
        sent: list[FetchRequestData] = []

        async def once(params: FetchParams, request: FetchRequestData) -> FetchAnswer:
            sent.append(request)
            endpoint.fetch = real  # type: ignore[method-assign]
            return answer

        endpoint.fetch = once  # type: ignore[method-assign]
        before = len(endpoint.requests)
        await c.run_until(lambda: bool(sent), step_ms=10)
        assert sent[0].metadata.epoch > 0
        (fetcher,) = c.managers[2].fetchers.fetchers.values()
        now = c.time.monotonic_ms()
        assert (fetcher.states[KEY].delayed_until_ms > now) is delayed
        await c.run_until(lambda: len(endpoint.requests) > before, step_ms=10)
        assert (c.time.monotonic_ms() - now >= BACKOFF_MS) is delayed
        following = endpoint.requests[before]
        assert following.metadata.epoch == 0 and [p.partition for p in following.to_send] == [0]  # full

    run(tmp_path, (1, 2), body)
