"""The replica manager: this broker's partitions, and the produce, fetch and offset operations on them.

It follows the cluster metadata (`apply_assignments`): partitions assigned to this broker get a local log,
deleted topics lose theirs. Produce appends go through `log.validator` (Kafka's LogValidator) and the
partition's log; acks=all waits for the high watermark (a future, completed by the partition when the HW
moves). A fetch that finds fewer than `min_bytes` waits on the partitions' new-data futures until
`max_wait_ms`: no polling.

Periodic storage work (retention, compaction, flush, checkpoints) runs in worker threads through
`asyncio.to_thread`, scheduled by `start()`; the log's own lock keeps that safe against appends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from odradek.broker.config.broker import BrokerConfig
from odradek.broker.config.topic import log_config
from odradek.broker.log.cleaner import LogCleaner
from odradek.broker.log.log import FetchDataInfo, OffsetOutOfRange
from odradek.broker.log.manager import LogManager
from odradek.broker.log.validator import RecordValidationError, ValidationConfig, validate_records
from odradek.broker.metrics.broker import BrokerMetrics, PartitionStats
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.batch import InvalidRecordBatch
from odradek.broker.replication.partition import Partition, PartitionError, PartitionState

logger = logging.getLogger(__name__)

TopicPartition = tuple[str, int]

EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4
LATEST_TIERED_TIMESTAMP = -5


@dataclass(frozen=True, slots=True)
class ReplicaAssignment:
    """What the metadata says about one partition (app.py translates the metadata image into these)."""

    topic: str
    partition: int
    topic_id: uuid.UUID
    configs: Mapping[str, str]
    state: PartitionState


@dataclass(slots=True)
class ProduceResult:
    error: ErrorCode = ErrorCode.NONE
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    record_errors: list[tuple[int, str]] = field(default_factory=list)
    message: str | None = None


@dataclass(frozen=True, slots=True)
class FetchPartition:
    topic: str
    partition: int
    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = -1


@dataclass(slots=True)
class FetchResult:
    error: ErrorCode = ErrorCode.NONE
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    data: FetchDataInfo | None = None

    @property
    def size(self) -> int:
        return self.data.size if self.data is not None else 0


class ReplicaManager:
    def __init__(
        self,
        node_id: int,
        config: BrokerConfig,
        logs: LogManager,
        metrics: BrokerMetrics,
        now_ms: Callable[[], int],
    ) -> None:
        self.node_id = node_id
        self.config = config
        self.logs = logs
        self.metrics = metrics
        self.now_ms = now_ms
        self.partitions: dict[TopicPartition, Partition] = {}
        self._validation: dict[TopicPartition, ValidationConfig] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._cleaner = LogCleaner()
        metrics.watch_partitions(self.partition_stats)

    # ---- metadata ----------------------------------------------------------------------------------------

    def apply_assignments(self, assignments: Iterable[ReplicaAssignment]) -> None:
        """Create, update and delete local replicas so that exactly `assignments` exist here."""
        wanted: set[TopicPartition] = set()
        for assignment in assignments:
            if self.node_id in assignment.state.replicas:
                wanted.add((assignment.topic, assignment.partition))
                self._ensure_partition(assignment)
        for key in [key for key in self.partitions if key not in wanted]:
            self._remove_partition(key)

    def _ensure_partition(self, assignment: ReplicaAssignment) -> None:
        key = (assignment.topic, assignment.partition)
        config = log_config(assignment.configs, self.config)
        existing = self.partitions.get(key)
        if existing is not None:
            if existing.log.config != config:
                existing.log.update_config(config)
            existing.update_state(assignment.state)
        else:
            log = self.logs.get_or_create_log(assignment.topic, assignment.partition, assignment.topic_id, config)
            self.partitions[key] = Partition(
                assignment.topic,
                assignment.partition,
                assignment.topic_id,
                self.node_id,
                log,
                assignment.state,
            )
        self._validation[key] = ValidationConfig.from_log_config(config)
        partition = self.partitions[key]
        latest = partition.log.epoch_cache.latest_epoch
        if partition.is_leader and (latest is None or assignment.state.leader_epoch > latest):
            partition.log.epoch_cache.assign(assignment.state.leader_epoch, partition.log_end_offset)

    def _remove_partition(self, key: TopicPartition) -> None:
        partition = self.partitions.pop(key)
        self._validation.pop(key, None)
        partition.fail_waiters(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        self.logs.delete_log(key[0], key[1])

    def get_partition(self, topic: str, index: int) -> Partition:
        partition = self.partitions.get((topic, index))
        if partition is None:
            raise PartitionError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        return partition

    def get_leader(self, topic: str, index: int, current_leader_epoch: int = -1) -> Partition:
        partition = self.get_partition(topic, index)
        partition.check_leader_epoch(current_leader_epoch)
        partition.require_leader()
        return partition

    # ---- produce -----------------------------------------------------------------------------------------

    def append_to_partition(
        self, topic: str, index: int, records: memoryview, acks: int
    ) -> tuple[ProduceResult, Partition | None, int]:
        """Validate and append one partition's records; returns the result and the offset acks=all waits for."""
        try:
            partition = self.get_leader(topic, index)
            if acks == -1 and len(partition.state.isr) < partition.log.config.min_insync_replicas:
                raise PartitionError(ErrorCode.NOT_ENOUGH_REPLICAS)
            checked = validate_records(bytearray(records), self._validation[(topic, index)], self.now_ms())
            info = partition.log.append_as_leader(checked.records, partition.state.leader_epoch)
        except PartitionError as exc:
            self.metrics.produce_failed(topic)
            return ProduceResult(exc.error_code, message=exc.message or None), None, -1
        except RecordValidationError as exc:
            self.metrics.produce_failed(topic)
            return (
                ProduceResult(ErrorCode(exc.error_code), record_errors=list(exc.record_errors), message=exc.message),
                None,
                -1,
            )
        except InvalidRecordBatch as exc:
            self.metrics.produce_failed(topic)
            return ProduceResult(ErrorCode(exc.error_code), message=exc.message), None, -1
        partition.maybe_advance_high_watermark()
        self.metrics.produced(topic, checked.record_count, len(records))
        result = ProduceResult(
            ErrorCode.NONE, info.first_offset, checked.log_append_time_ms, partition.log_start_offset
        )
        return result, partition, info.last_offset

    async def wait_for_acks(self, pending: Iterable[tuple[ProduceResult, Partition, int]], timeout_ms: int) -> None:
        """acks=all: wait until each partition's HW passes its last appended offset, or time out."""
        pending = [(r, p, last) for r, p, last in pending if p.high_watermark <= last]
        if not pending:
            return  # already replicated (always so with one replica): no timer, no extra loop turn
        waits = {partition.wait_for_hw(last): result for result, partition, last in pending}
        done, not_done = await asyncio.wait(waits, timeout=max(timeout_ms, 0) / 1000.0)
        for future in not_done:
            future.cancel()
            waits[future].error = ErrorCode.REQUEST_TIMED_OUT
        for future in done:
            exc = future.exception()
            if isinstance(exc, PartitionError):
                waits[future].error = exc.error_code

    # ---- fetch -------------------------------------------------------------------------------------------

    def read_partition(
        self, request: FetchPartition, max_bytes: int, min_one: bool, committed_only: bool
    ) -> FetchResult:
        try:
            partition = self.get_leader(request.topic, request.partition, request.current_leader_epoch)
            limit = partition.last_stable_offset if committed_only else partition.high_watermark
            size = min(max_bytes, request.max_bytes)
            if size < 0:
                # A negative partition_max_bytes: Kafka's LogSegment.read throws IllegalArgumentException once there
                # is something to read, answered for the partition as UNKNOWN_SERVER_ERROR (here a ValueError closed
                # the connection; found by fuzzing). An empty read is answered as usual.
                if partition.log.read(request.fetch_offset, 0, limit).slice is not None:
                    return FetchResult(ErrorCode.UNKNOWN_SERVER_ERROR)
                size = 0
            data = partition.log.read(request.fetch_offset, size, limit, min_one)
        except PartitionError as exc:
            return FetchResult(exc.error_code)
        except OffsetOutOfRange:
            return self._out_of_range(request)
        return FetchResult(
            ErrorCode.NONE,
            partition.high_watermark,
            partition.last_stable_offset,
            partition.log_start_offset,
            data,
        )

    def _out_of_range(self, request: FetchPartition) -> FetchResult:
        partition = self.partitions[(request.topic, request.partition)]
        return FetchResult(
            ErrorCode.OFFSET_OUT_OF_RANGE,
            partition.high_watermark,
            partition.last_stable_offset,
            partition.log_start_offset,
        )

    def read_all(self, requests: list[FetchPartition], max_bytes: int, committed_only: bool) -> list[FetchResult]:
        """One pass over the fetch's partitions, honouring the response-wide max_bytes (first one always gets data)."""
        results = []
        budget = max_bytes
        for request in requests:
            result = self.read_partition(
                request, max(budget, 0), min_one=budget == max_bytes, committed_only=committed_only
            )
            budget -= result.size
            results.append(result)
        return results

    async def fetch(
        self,
        requests: list[FetchPartition],
        max_wait_ms: int,
        min_bytes: int,
        max_bytes: int,
        committed_only: bool,
    ) -> list[FetchResult]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(max_wait_ms, 0) / 1000.0
        while True:
            results = self.read_all(requests, max_bytes, committed_only)
            available = sum(r.size for r in results)
            errors = any(r.error is not ErrorCode.NONE for r in results)
            remaining = deadline - loop.time()
            if available >= min_bytes or errors or remaining <= 0 or not requests:
                return results
            waiting = [
                (partition, partition.new_data_future())
                for partition in (self.partitions.get((r.topic, r.partition)) for r in requests)
                if partition is not None
            ]
            if not waiting:
                return self.read_all(requests, max_bytes, committed_only)
            try:
                await asyncio.wait([f for _, f in waiting], timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for partition, future in waiting:
                    partition.discard_waiter(future)

    # ---- offsets -----------------------------------------------------------------------------------------

    def list_offset(
        self, topic: str, index: int, timestamp: int, current_leader_epoch: int, committed_only: bool
    ) -> tuple[int, int, int]:
        """(offset, timestamp, leader_epoch) for ListOffsets; -1 fields where Kafka answers -1."""
        partition = self.get_leader(topic, index, current_leader_epoch)
        log = partition.log
        if timestamp == LATEST_TIMESTAMP:
            offset = partition.last_stable_offset if committed_only else partition.high_watermark
            return offset, -1, _or_minus_one(log.epoch_cache.latest_epoch)
        if timestamp == LATEST_TIERED_TIMESTAMP:
            return -1, -1, -1
        found = log.offset_for_timestamp(timestamp)
        if found is None:
            return -1, -1, -1
        offset, ts, epoch = found
        if timestamp not in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP) and offset >= partition.high_watermark:
            return -1, -1, -1
        return offset, ts, epoch

    def delete_records(self, topic: str, index: int, offset: int) -> int:
        """Advance the log start offset (DeleteRecords; -1: up to the high watermark). Returns the low watermark."""
        partition = self.get_leader(topic, index)
        target = partition.high_watermark if offset == -1 else offset
        if target < 0 or target > partition.high_watermark:
            raise PartitionError(ErrorCode.OFFSET_OUT_OF_RANGE)
        partition.log.maybe_increment_log_start_offset(target)
        return partition.log_start_offset

    def end_offset_for_epoch(
        self, topic: str, index: int, current_leader_epoch: int, leader_epoch: int
    ) -> tuple[int, int]:
        partition = self.get_leader(topic, index, current_leader_epoch)
        return partition.log.epoch_cache.end_offset_for(leader_epoch, partition.log_end_offset)

    # ---- housekeeping ------------------------------------------------------------------------------------

    def partition_stats(self) -> Iterator[PartitionStats]:
        for (topic, index), p in list(self.partitions.items()):
            yield PartitionStats(
                topic,
                index,
                p.is_leader,
                len(p.state.isr) < len(p.state.replicas),
                p.log.size_in_bytes,
                p.log_start_offset,
                p.log_end_offset,
                p.high_watermark,
            )

    def start(self) -> None:
        schedule = [
            (self.config.get_int("log.retention.check.interval.ms"), self._retention),
            (min(self.config.get_int("log.flush.offset.checkpoint.interval.ms"), 60_000), self._checkpoint),
            (5_000, self._delete_expired),
            (1_000, self._flush_due),
        ]
        if self.config.get_bool("log.cleaner.enable"):
            schedule.append((self.config.get_int("log.cleaner.backoff.ms"), self._clean))
        for interval_ms, work in schedule:
            self._tasks.append(asyncio.create_task(self._every(interval_ms / 1000.0, work)))

    async def _every(self, interval_s: float, work: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(work)
            except Exception:
                logger.exception("storage task %s failed", work.__name__)

    def _retention(self) -> None:
        self.logs.run_retention(self.now_ms())

    def _checkpoint(self) -> None:
        self.logs.checkpoint_recovery_points()

    def _delete_expired(self) -> None:
        self.logs.delete_expired_files(self.now_ms())

    def _flush_due(self) -> None:
        self.logs.flush_dirty(self.now_ms())

    def _clean(self) -> None:
        self._cleaner.clean_logs(self.logs.all_logs(), self.now_ms())

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for partition in self.partitions.values():
            partition.fail_waiters(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        self.logs.shutdown()


def _or_minus_one(value: int | None) -> int:
    return -1 if value is None else value
