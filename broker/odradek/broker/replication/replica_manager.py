"""The replica manager: this broker's partitions, and the produce, fetch and offset operations on them.

It follows the cluster metadata (`apply_assignments`): partitions assigned to this broker get a local log,
deleted topics lose theirs. File work never runs on the event loop: a partition costs a folder, files and
fsyncs (milliseconds; thousands of them held the loop for seconds). Removed partitions stop being served at once
and their folders are renamed for deletion in a worker thread; new logs are created in a worker thread,
`CREATE_CHUNK` partitions per call, and each chunk's partitions are served once their logs exist. Until then they
are "pending": `get_partition` answers NOT_LEADER_OR_FOLLOWER (Kafka's answer for a partition in the metadata
without a local replica yet) and `is_pending` lets Metadata report them LEADER_NOT_AVAILABLE.

Produce appends go through `log.validator` (Kafka's LogValidator) and the partition's log; acks=all waits for
the high watermark (a future, completed by the partition when the HW moves). A fetch that finds fewer than
`min_bytes` waits on the partitions' new-data futures until `max_wait_ms`: no polling.

Periodic storage work (retention, compaction, flush, checkpoints) runs in worker threads through
`asyncio.to_thread`, scheduled by `start()`; the log's own lock keeps that safe against appends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from odradek.broker.config.broker import BrokerConfig
from odradek.broker.config.topic import log_config
from odradek.broker.log.cleaner import LogCleaner
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import (
    EARLIEST_LOCAL_TIMESTAMP,
    EARLIEST_TIMESTAMP,
    LATEST_TIERED_TIMESTAMP,
    LATEST_TIMESTAMP,
    FetchDataInfo,
    Log,
    OffsetOutOfRange,
)
from odradek.broker.log.manager import LogManager, LogSpec
from odradek.broker.log.validator import RecordValidationError, ValidationConfig, validate_records
from odradek.broker.metrics.broker import BrokerMetrics, PartitionStats
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.batch import InvalidRecordBatch
from odradek.broker.replication.partition import Partition, PartitionError, PartitionState

logger = logging.getLogger(__name__)

TopicPartition = tuple[str, int]

_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")

# New partitions whose logs one worker-thread call creates; the event loop registers them in between.
CREATE_CHUNK = 64


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
        self._pending: dict[TopicPartition, ReplicaAssignment] = {}
        self._file_work: asyncio.Future[Any] | None = None
        self._cleaner = LogCleaner()
        metrics.watch_partitions(self.partition_stats)

    # ---- metadata ----------------------------------------------------------------------------------------

    async def apply_assignments(
        self, assignments: Iterable[ReplicaAssignment], topics: Collection[str] | None = None
    ) -> None:
        """Create, update and delete local replicas so that exactly `assignments` exist here; with `topics`, the
        assignments are those of these topics only, and replicas of other topics are left as they are.

        Updates and deletions happen at once; new replicas are pending until their logs are created (in a
        worker thread, chunk by chunk) and are served from the moment their chunk is done. Returns when every
        new replica is served."""
        removed, new = self._update_assignments(assignments, topics)
        if removed:
            # Before any creation: a topic deleted and re-created under the same name reuses the folder names.
            await self._in_worker(self.logs.delete_logs, removed)
        if new:
            await self._create_partitions(new)

    def _update_assignments(
        self, assignments: Iterable[ReplicaAssignment], topics: Collection[str] | None
    ) -> tuple[list[TopicPartition], list[ReplicaAssignment]]:
        """Apply what needs no file work: update replicas, stop serving removed ones. Returns the partitions whose
        logs are to be deleted and the assignments of the replicas to be created."""
        wanted: set[TopicPartition] = set()
        removed: list[TopicPartition] = []
        new: list[ReplicaAssignment] = []
        configs: dict[str, tuple[Mapping[str, str], LogConfig, ValidationConfig]] = {}
        for assignment in assignments:
            if self.node_id not in assignment.state.replicas:
                continue
            key = (assignment.topic, assignment.partition)
            wanted.add(key)
            existing = self.partitions.get(key)
            if existing is not None and existing.topic_id != assignment.topic_id:
                removed.append(self._remove_partition(key))  # deleted and re-created under the same name
                existing = None
            if existing is None:
                new.append(assignment)
                continue
            config, validation = self._configs_for(assignment, configs)
            if existing.log.config != config:
                existing.log.update_config(config)
            existing.update_state(assignment.state)
            self._validation[key] = validation
            self._assign_leader_epoch(existing)
        gone = [key for key in self.partitions if key not in wanted and (topics is None or key[0] in topics)]
        removed += [self._remove_partition(key) for key in gone]
        return removed, new

    def _configs_for(
        self,
        assignment: ReplicaAssignment,
        seen: dict[str, tuple[Mapping[str, str], LogConfig, ValidationConfig]],
    ) -> tuple[LogConfig, ValidationConfig]:
        """The topic's log and validation configs, computed once per topic and call (all its partitions share
        the same configs mapping)."""
        cached = seen.get(assignment.topic)
        if cached is None or cached[0] is not assignment.configs:
            config = log_config(assignment.configs, self.config)
            cached = (assignment.configs, config, ValidationConfig.from_log_config(config))
            seen[assignment.topic] = cached
        return cached[1], cached[2]

    async def _create_partitions(self, new: list[ReplicaAssignment]) -> None:
        configs: dict[str, tuple[Mapping[str, str], LogConfig, ValidationConfig]] = {}
        pending = [(assignment, *self._configs_for(assignment, configs)) for assignment in new]
        for assignment in new:
            self._pending[(assignment.topic, assignment.partition)] = assignment
        try:
            for start in range(0, len(pending), CREATE_CHUNK):
                chunk = pending[start : start + CREATE_CHUNK]
                logs = await self._in_worker(self._open_logs, chunk)
                for (assignment, _, validation), log in zip(chunk, logs, strict=True):
                    self._add_partition(assignment, log, validation)
        finally:
            for assignment in new:
                self._pending.pop((assignment.topic, assignment.partition), None)

    async def _in_worker(self, work: Callable[[_Arg], _Result], arg: _Arg) -> _Result:
        """`work(arg)` in a worker thread, shielded: a cancelled caller (shutdown) must not abandon a thread still
        creating or deleting logs; `stop` waits for it before closing the logs."""
        future = asyncio.ensure_future(asyncio.to_thread(work, arg))
        self._file_work = future
        return await asyncio.shield(future)

    def _open_logs(self, chunk: list[tuple[ReplicaAssignment, LogConfig, ValidationConfig]]) -> list[Log]:
        """Worker thread: create (or open) the chunk's logs, and write the first leader epoch of those led here,
        so that no fsync of a new partition is left for the event loop."""
        specs = [LogSpec(a.topic, a.partition, a.topic_id, config) for a, config, _ in chunk]
        logs = self.logs.get_or_create_logs(specs)
        for (assignment, _, _), log in zip(chunk, logs, strict=True):
            if assignment.state.leader_id == self.node_id:
                _assign_epoch(log, assignment.state.leader_epoch)
        return logs

    def _add_partition(self, assignment: ReplicaAssignment, log: Log, validation: ValidationConfig) -> None:
        key = (assignment.topic, assignment.partition)
        partition = Partition(
            assignment.topic, assignment.partition, assignment.topic_id, self.node_id, log, assignment.state
        )
        self.partitions[key] = partition
        self._validation[key] = validation
        self._assign_leader_epoch(partition)

    def _assign_leader_epoch(self, partition: Partition) -> None:
        if partition.is_leader:
            _assign_epoch(partition.log, partition.state.leader_epoch)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def is_pending(self, topic: str, index: int) -> bool:
        """True while the partition is led here but its log is still being created."""
        assignment = self._pending.get((topic, index))
        return assignment is not None and assignment.state.leader_id == self.node_id

    def _remove_partition(self, key: TopicPartition) -> TopicPartition:
        """Stop serving the partition; its log is left for the caller to delete."""
        partition = self.partitions.pop(key)
        self._validation.pop(key, None)
        partition.fail_waiters(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        return key

    def get_partition(self, topic: str, index: int) -> Partition:
        partition = self.partitions.get((topic, index))
        if partition is None:
            if (topic, index) in self._pending:
                raise PartitionError(ErrorCode.NOT_LEADER_OR_FOLLOWER, "the partition's log is being created")
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
        if self._file_work is not None:
            await asyncio.gather(self._file_work, return_exceptions=True)
        for partition in self.partitions.values():
            partition.fail_waiters(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        self.logs.shutdown()


def _assign_epoch(log: Log, leader_epoch: int) -> None:
    """A leader's epoch starts at its log end offset, unless the cache already has it (or a later one)."""
    latest = log.epoch_cache.latest_epoch
    if latest is None or leader_epoch > latest:
        log.epoch_cache.assign(leader_epoch, log.log_end_offset)


def _or_minus_one(value: int | None) -> int:
    return -1 if value is None else value
