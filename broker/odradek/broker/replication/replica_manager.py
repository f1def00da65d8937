"""The replica manager: this broker's partitions, and the produce, fetch and offset operations on them.

It follows the cluster metadata (`apply_assignments`): partitions assigned to this broker get a local log,
deleted topics lose theirs. File work never runs on the event loop: a partition costs a folder, files and
fsyncs (milliseconds; thousands of them held the loop for seconds). Removed partitions stop being served at once
and their folders are renamed for deletion in a worker thread; new logs are created in a worker thread,
`CREATE_CHUNK` partitions per call, and each chunk's partitions are served once their logs exist. Until then they
are "pending": `get_partition` answers NOT_LEADER_OR_FOLLOWER (Kafka's answer for a partition in the metadata
without a local replica yet) and `is_pending` lets Metadata report them LEADER_NOT_AVAILABLE.

`produce(entries, acks, timeout_ms, origin)` validates each partition's records (`log.validator`, Kafka's
LogValidator: in full for clients; a coordinator's `records.builder.BuiltBatch` only against the topic's
configuration) and appends them through the partition; acks=all then waits in the produce purgatory
(`DelayedProduce`) until each partition's high watermark passes its append, and the call returns the final,
immutable results. `fetch(params, requests)` reads every partition at the request's isolation; with fewer than
`min_bytes` it waits in the fetch purgatory (`DelayedFetch`) until enough arrives, an error, or `max_wait_ms`.
Partitions report what moved (`offsets_moved`: log end, high watermark, last stable offset) and the waits on
those keys are checked then; leadership changes and removals complete their waits with the partition's error at
once. Timeouts are timers on the injected `Time`: no polling loops.

Periodic storage work (retention, compaction, flush, checkpoints) runs in worker threads through
`asyncio.to_thread`, scheduled by `start()`; the log's own lock keeps that safe against appends.

A failed log dir (an I/O error while writing it: a full disk, log/log_dir_failure.py) is Kafka's
handleLogDirFailure: the write that failed is answered KAFKA_STORAGE_ERROR and never acknowledged, the dir's
partitions stop being served (KAFKA_STORAGE_ERROR) and followed, and the broker halts (`halt`, app.py: the process
exits at once, as Kafka's Exit.halt). A partially written batch is left for the next start's recovery, which
truncates the tail by CRC; until then no write lands after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from odradek.broker.config.broker import BrokerConfig
from odradek.broker.config.topic import log_config
from odradek.broker.log.cleaner import LogCleaner
from odradek.broker.log.config import LogConfig
from odradek.broker.log.log import (
    EARLIEST_LOCAL_TIMESTAMP,
    EARLIEST_TIMESTAMP,
    LATEST_TIERED_TIMESTAMP,
    LATEST_TIMESTAMP,
    Log,
    OffsetOutOfRange,
)
from odradek.broker.log.log_dir_failure import KafkaStorageError
from odradek.broker.log.manager import LogManager, LogSpec
from odradek.broker.log.producer_state import ProducerStateEntry, ProducerStateError
from odradek.broker.log.validator import (
    RecordValidationError,
    ValidationConfig,
    validate_coordinator_batch,
    validate_records,
)
from odradek.broker.metrics.broker import BrokerMetrics, PartitionStats
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.batch import InvalidRecordBatch
from odradek.broker.records.builder import BuiltBatch
from odradek.broker.replication.alter_partition_manager import AlterPartitionItem, AlterPartitionManager
from odradek.broker.replication.api import (
    CONSUMER_REPLICA_ID,
    AppendOrigin,
    FetchIsolation,
    FetchParams,
    FetchPartition,
    FetchResult,
    FileRecords,
    ProduceEntry,
    ProduceResult,
    TopicPartition,
)
from odradek.broker.replication.broker_blocking_sender import PLAINTEXT, ChannelSecurity
from odradek.broker.replication.delayed_fetch import DelayedFetch, FetchKey
from odradek.broker.replication.delayed_produce import DelayedProduce, ProducePartitionStatus, settle
from odradek.broker.replication.fetch_session import FetchManager, FetchSessionCache
from odradek.broker.replication.leader_end_point import BrokerEndPoint, RemoteLeaderEndPoint
from odradek.broker.replication.partition import OffsetMove, Partition, PartitionError, PartitionState, PendingIsr
from odradek.broker.replication.purgatory import DelayedOperationPurgatory
from odradek.broker.replication.replica_fetcher import FetcherConfig
from odradek.broker.replication.replica_fetcher_manager import EndPointFactory, ReplicaFetcherManager
from odradek.broker.replication.replica_quota import UNBOUNDED, ReplicaQuota
from odradek.broker.utils.file_work import FileWork
from odradek.broker.utils.time import Time, TimerHandle

logger = logging.getLogger(__name__)

_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")

VALID_ACKS = (-1, 0, 1)
INVALID_ACKS_RESULT = ProduceResult(ErrorCode.INVALID_REQUIRED_ACKS)

# New partitions whose logs one worker-thread call creates; the event loop registers them in between.
CREATE_CHUNK = 64
LATE_TRANSACTION_BUFFER_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class ReplicaAssignment:
    """What the metadata says about one partition (app.py translates the metadata image into these)."""

    topic: str
    partition: int
    topic_id: uuid.UUID
    configs: Mapping[str, str]
    state: PartitionState


# The fetch waits an offset move can satisfy: those bounded by that offset.
_FETCH_WAKES = (
    (OffsetMove.LOG_END, FetchIsolation.LOG_END),
    (OffsetMove.HIGH_WATERMARK, FetchIsolation.HIGH_WATERMARK),
    (OffsetMove.LAST_STABLE_OFFSET, FetchIsolation.TXN_COMMITTED),
)


class ReplicaManager:
    def __init__(
        self,
        node_id: int,
        config: BrokerConfig,
        logs: LogManager,
        metrics: BrokerMetrics,
        time: Time,
        endpoints: EndPointFactory | None = None,
        alter_partition: AlterPartitionManager | None = None,
        halt: Callable[[str], None] | None = None,
        security: ChannelSecurity = PLAINTEXT,
        leader_quota: ReplicaQuota = UNBOUNDED,
        follower_quota: ReplicaQuota = UNBOUNDED,
    ) -> None:
        """`endpoints` builds the follower's connection to a leader (default: `RemoteLeaderEndPoint` over
        `security`, the inter-broker listener's); `alter_partition` changes ISRs (None: ISRs stay as the metadata
        says); `halt(reason)` ends the process once a log dir failed (None: the dir's partitions stay offline, for
        tests); `leader_quota` throttles what followers out of the ISR fetch from here, `follower_quota` what the
        fetchers fetch for replicas out of sync (replica_quota.py)."""
        self.security = security
        self.leader_quota = leader_quota
        self.node_id = node_id
        self.config = config
        self.logs = logs
        self.metrics = metrics
        self.time = time
        self.produce_purgatory: DelayedOperationPurgatory[TopicPartition] = DelayedOperationPurgatory("Produce", time)
        self.fetch_purgatory: DelayedOperationPurgatory[FetchKey] = DelayedOperationPurgatory("Fetch", time)
        self._stopped = False
        self.partitions: dict[TopicPartition, Partition] = {}
        self._validation: dict[TopicPartition, ValidationConfig] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[TopicPartition, ReplicaAssignment] = {}
        self._file_work = FileWork()  # log creation and deletion in worker threads; `stop` waits for it
        self._cleaner = LogCleaner()
        self.alter_partition = alter_partition
        self._isr_eligible: frozenset[int] | None = None
        self._topic_ids: dict[str, uuid.UUID] = {}  # of the local replicas' topics (Fetch v13+ names topics by id)
        self._alter_tasks: set[asyncio.Task[None]] = set()
        self._isr_expiration: TimerHandle | None = None
        self.fetchers = ReplicaFetcherManager(
            self, endpoints or self._remote_endpoint, self._fetcher_config(), time, follower_quota
        )
        # KIP-227 sessions of the fetches this broker answers (clients' and followers'): the Fetch handler's
        sessions = FetchSessionCache(
            config.get_int("max.incremental.fetch.session.cache.slots"),
            config.get_int("min.incremental.fetch.session.eviction.ms"),
            metrics.fetch_session_evicted,
        )
        self.fetch_manager = FetchManager(time, sessions)
        metrics.watch_fetch_sessions(lambda: sessions.size, lambda: sessions.total_partitions)
        self.halt = halt
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        logs.failure_channel.add_listener(self._log_dir_offline)
        metrics.watch_partitions(self.partition_stats)

    def _fetcher_config(self) -> FetcherConfig:
        get = self.config.get_int
        return FetcherConfig(
            replica_id=self.node_id,
            fetch_wait_max_ms=get("replica.fetch.wait.max.ms"),
            fetch_min_bytes=get("replica.fetch.min.bytes"),
            fetch_max_bytes=get("replica.fetch.max.bytes"),
            fetch_response_max_bytes=get("replica.fetch.response.max.bytes"),
            fetch_backoff_ms=get("replica.fetch.backoff.ms"),
            socket_timeout_ms=get("replica.socket.timeout.ms"),
            num_fetchers=get("num.replica.fetchers"),
        )

    def _remote_endpoint(self, source: BrokerEndPoint) -> RemoteLeaderEndPoint:
        return RemoteLeaderEndPoint(
            source,
            self.node_id,
            self.config.get_int("replica.socket.timeout.ms"),
            self._topic_ids.get,
            security=self.security,
        )

    def update_brokers(
        self, brokers: Mapping[int, BrokerEndPoint], isr_eligible: Collection[int] | None = None
    ) -> None:
        """The inter-broker addresses of the registered brokers (the publisher, before each assignment), and
        which of them may join an ISR (None: all of them)."""
        self.fetchers.update_brokers({b: e for b, e in brokers.items() if b != self.node_id})
        self._isr_eligible = frozenset(brokers if isr_eligible is None else isr_eligible)

    def is_isr_eligible(self, broker_id: int) -> bool:
        """IsrChanges: registered, unfenced and not shutting down as of the last image (before any image: all)."""
        return self._isr_eligible is None or broker_id in self._isr_eligible

    # ---- metadata ----------------------------------------------------------------------------------------

    async def apply_assignments(
        self, assignments: Iterable[ReplicaAssignment], topics: Collection[str] | None = None
    ) -> None:
        """Create, update and delete local replicas so that exactly `assignments` exist here; with `topics`, the
        assignments are those of these topics only, and replicas of other topics are left as they are.

        Updates and deletions happen at once; new replicas are pending until their logs are created (in a
        worker thread, chunk by chunk) and are served from the moment their chunk is done. Returns when every
        new replica is served."""
        removed, new, becoming = self._update_assignments(assignments, topics)
        if becoming:
            await self._write_leader_epochs(becoming)
        if removed:
            # Before any creation: a topic deleted and re-created under the same name reuses the folder names.
            await self._in_worker(self.logs.delete_logs, removed)
        if new:
            await self._create_partitions(new)

    def _update_assignments(
        self, assignments: Iterable[ReplicaAssignment], topics: Collection[str] | None
    ) -> tuple[list[TopicPartition], list[ReplicaAssignment], list[Partition]]:
        """Apply what needs no file work: update replicas, stop serving removed ones. Returns the partitions whose
        logs are to be deleted, the assignments of the replicas to be created and the partitions made leader whose
        leader epoch checkpoint is to be written."""
        wanted: set[TopicPartition] = set()
        becoming: list[Partition] = []
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
            self._validation[key] = validation
            if self._transition(key, existing, assignment.state, new=False):
                becoming.append(existing)
        gone = [key for key in self.partitions if key not in wanted and (topics is None or key[0] in topics)]
        removed += [self._remove_partition(key) for key in gone]
        return removed, new, [p for p in becoming if self.partitions.get((p.topic, p.index)) is p]

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
                becoming = [
                    partition
                    for (assignment, _, validation), log in zip(chunk, logs, strict=True)
                    if (partition := self._add_partition(assignment, log, validation)) is not None
                ]
                if becoming:  # none: `_open_logs` wrote their epochs (a log already holding a later one is kept)
                    await self._write_leader_epochs(becoming)
        finally:
            for assignment in new:
                self._pending.pop((assignment.topic, assignment.partition), None)

    async def _in_worker(self, work: Callable[[_Arg], _Result], arg: _Arg) -> _Result:
        """`work(arg)` in a worker thread that a cancelled caller (shutdown) does not abandon (utils/file_work.py)."""
        return await self._file_work.run(work, arg)

    def _open_logs(self, chunk: list[tuple[ReplicaAssignment, LogConfig, ValidationConfig]]) -> list[Log]:
        """Worker thread: create (or open) the chunk's logs, and write the first leader epoch of those led here,
        so that no fsync of a new partition is left for the event loop."""
        specs = [LogSpec(a.topic, a.partition, a.topic_id, config) for a, config, _ in chunk]
        logs = self.logs.get_or_create_logs(specs)
        for (assignment, _, _), log in zip(chunk, logs, strict=True):
            if assignment.state.leader_id == self.node_id:
                _assign_epoch(log, assignment.state.leader_epoch)
        return logs

    def _add_partition(self, assignment: ReplicaAssignment, log: Log, validation: ValidationConfig) -> Partition | None:
        """Serve the new replica; returns it if its leader epoch checkpoint is still to be written."""
        key = (assignment.topic, assignment.partition)
        partition = Partition(
            assignment.topic, assignment.partition, assignment.topic_id, self.node_id, log, assignment.state
        )
        partition.delayed_operations = self
        partition.isr_changes = self
        self.partitions[key] = partition
        self._topic_ids[assignment.topic] = assignment.topic_id
        self._validation[key] = validation
        return partition if self._transition(key, partition, assignment.state, new=True) else None

    async def _write_leader_epochs(self, partitions: list[Partition]) -> None:
        """Write the leader epoch checkpoints of the partitions just made leader, all in one worker call, then let
        them take appends (`Partition.leader_epoch_unwritten`). Kafka writes the file in LeaderEpochFileCache.assign,
        under the partition's lock, before any append of the epoch; here the in-memory entry is made on the loop
        and the file written before the first append too, without an fsync per partition on the event loop. A
        partition whose write failed (its log dir goes offline) keeps refusing appends."""
        pending = [(partition, partition.leader_epoch_unwritten) for partition in partitions]
        written = await self._in_worker(self._flush_epoch_caches, [partition for partition, _ in pending])
        for (partition, epoch), ok in zip(pending, written, strict=True):
            if ok and partition.leader_epoch_unwritten == epoch:
                partition.leader_epoch_unwritten = None

    def _flush_epoch_caches(self, partitions: list[Partition]) -> list[bool]:
        """Worker thread: each partition's leader-epoch-checkpoint written; whether it was."""
        written: list[bool] = []
        for partition in partitions:
            try:
                with self.logs.guard(partition.log, "leader epoch checkpoint"):
                    partition.log.epoch_cache.flush()
            except KafkaStorageError:
                logger.error(
                    "%s-%s: its leader epoch checkpoint was not written: its log dir is offline",
                    partition.topic,
                    partition.index,
                )
                written.append(False)
            else:
                written.append(True)
        return written

    def _transition(self, key: TopicPartition, partition: Partition, state: PartitionState, new: bool) -> bool:
        """Kafka's makeLeader / makeFollower, from the partition record: a new leader epoch (or a new replica)
        makes this replica leader (the fetcher stops, follower tracking restarts, the epoch starts at the log end)
        or follower of the named leader (handed to the fetcher, which truncates first); `leader == -1` (offline)
        serves nothing and fetches nothing. Any change completes the partition's waits that it decides
        (NOT_LEADER_OR_FOLLOWER when leadership left). Returns True if the replica leads and its leader epoch
        checkpoint is still to be written (`_write_leader_epochs`, after the image's transitions)."""
        # Under the partition's lock: a truncation running in a worker thread (the replica fetcher) ends before
        # the role changes, and one starting later sees the new role and skips (Kafka's leaderIsrUpdateLock).
        with partition.leader_isr_update_lock:
            made = self._change_role(key, partition, state, new)
        if made:
            self._complete_delayed(key)
        return partition.is_leader and partition.leader_epoch_unwritten is not None

    def _change_role(self, key: TopicPartition, partition: Partition, state: PartitionState, new: bool) -> bool:
        old = partition.state
        epoch_changed = new or state.leader_epoch != old.leader_epoch or state.leader_id != old.leader_id
        if state.leader_id == self.node_id:
            if epoch_changed or not partition.is_leader:
                self._stop_following(key)
                try:
                    # In memory only: the file is written for the whole image in one worker call, and appends
                    # wait for it (`_write_leader_epochs`).
                    with self.logs.guard(partition.log, "leader epoch"):
                        if _assign_epoch(partition.log, state.leader_epoch, flush=False):
                            partition.leader_epoch_unwritten = state.leader_epoch
                except KafkaStorageError:
                    logger.error("%s-%s not made leader: its log dir is offline", *key)
                    return False
                partition.make_leader(state, self.time.monotonic_ms())
            else:
                partition.update_state(state)
        elif state.leader_id < 0:
            self._stop_following(key)
            partition.make_follower(state)
        elif epoch_changed or partition.is_leader or not self.fetchers.is_fetching(key):
            partition.make_follower(state)
            self.fetchers.add_fetcher_for_partitions({key: (state.leader_id, state.leader_epoch)})
        else:
            partition.update_state(state)
        return True

    def _stop_following(self, key: TopicPartition) -> None:
        self.fetchers.remove_fetcher_for_partitions([key])
        self.metrics.fetcher_lag_removed(key[0], key[1])

    def fetch_lag(self, key: TopicPartition, lag: int) -> None:
        """The replica fetcher's lag of one followed partition (metrics: kafka_server_replicafetchermanager_maxlag)."""
        self.metrics.fetcher_lag(key[0], key[1], lag)

    def follower_partition(self, key: TopicPartition, leader_epoch: int) -> Partition | None:
        """The replica fetcher's question: the local replica if it still follows at `leader_epoch`."""
        partition = self.partitions.get(key)
        if partition is None or partition.is_leader or partition.state.leader_epoch != leader_epoch:
            return None
        return partition

    def storage_guard(self, partition: Partition, message: str) -> contextlib.AbstractContextManager[None]:
        """The replica fetcher's local I/O on `partition` (truncation, appends): an OSError takes its log dir
        offline and is raised as KafkaStorageError."""
        return self.logs.guard(partition.log, message)

    # ---- failed log dirs ---------------------------------------------------------------------------------

    def _log_dir_offline(self, log_dir: Path) -> None:
        """The failure channel's listener, on whichever thread saw the error: handled on the event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a worker thread
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self.handle_log_dir_failure, log_dir)
            return
        self.handle_log_dir_failure(log_dir)

    def handle_log_dir_failure(self, log_dir: Path) -> None:
        """Kafka's ReplicaManager.handleLogDirFailure: the dir's partitions stop being followed and served (their
        waits are answered KAFKA_STORAGE_ERROR now), then the broker halts. Kafka keeps serving the other dirs of
        a JBOD broker and tells the controller; Odradek halts on the first failed dir (docs/not-implemented.md),
        which with one log dir is exactly Kafka's "all log dirs have failed". Called once per dir (the failure
        channel tells its listeners once); the dir's partitions answer KAFKA_STORAGE_ERROR from the moment the
        channel has it, on any thread, not only from this call on."""
        offline = [key for key, p in self.partitions.items() if p.log.dir.parent == log_dir]
        for key in offline:
            self._stop_following(key)
            self._complete_delayed(key)
        live = self.logs.live_log_dirs
        if live:
            reason = f"log dir {log_dir} has failed (a partial log dir failure is not served: halting)"
        else:
            reason = f"Shutdown broker because all log dirs in {', '.join(map(str, self.logs.log_dirs))} have failed"
        logger.critical("%s; %d partition(s) offline", reason, len(offline))
        if self.halt is not None:
            self.halt(reason)

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
        partition.delayed_operations = None
        partition.isr_changes = None
        self._stop_following(key)
        self._validation.pop(key, None)
        self._complete_delayed(key)  # answered UNKNOWN_TOPIC_OR_PARTITION now, not at their timeout
        return key

    def get_partition(self, topic: str, index: int) -> Partition:
        partition = self.partitions.get((topic, index))
        if partition is None:
            if (topic, index) in self._pending:
                raise PartitionError(ErrorCode.NOT_LEADER_OR_FOLLOWER, "the partition's log is being created")
            raise PartitionError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        if self.logs.is_offline(partition.log):
            raise PartitionError(ErrorCode.KAFKA_STORAGE_ERROR, f"log dir {partition.log.dir.parent} is offline")
        return partition

    def active_producers(self, topic: str, index: int) -> list[ProducerStateEntry]:
        """The producers the partition's log knows, by id (Kafka's ReplicaManager.activeProducerState); raises
        PartitionError (UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER) where Kafka answers those."""
        return self.get_leader(topic, index).log.active_producers()

    def has_ongoing_transaction(self, topic: str, index: int, producer_id: int, producer_epoch: int) -> bool:
        """Whether the producer has a transaction open in the partition's log here (False if not hosted)."""
        partition = self.partitions.get((topic, index))
        return partition is not None and partition.log.has_ongoing_transaction(producer_id, producer_epoch)

    def get_leader(self, topic: str, index: int, current_leader_epoch: int = -1) -> Partition:
        partition = self.get_partition(topic, index)
        partition.check_leader_epoch(current_leader_epoch)
        partition.require_leader()
        return partition

    # ---- produce -----------------------------------------------------------------------------------------

    async def produce(
        self, entries: Sequence[ProduceEntry], acks: int, timeout_ms: int, origin: AppendOrigin
    ) -> list[ProduceResult]:
        """Append each entry (in order) and return one final result per entry: at once for acks 0 and 1; for
        acks=all (-1) once every appended partition's HW passed its append, it failed, or `timeout_ms` ran out
        (REQUEST_TIMED_OUT for the partitions still waiting)."""
        results = self.produce_nowait(entries, acks, timeout_ms, origin)
        return results if isinstance(results, list) else await results

    def produce_nowait(
        self, entries: Sequence[ProduceEntry], acks: int, timeout_ms: int, origin: AppendOrigin
    ) -> list[ProduceResult] | asyncio.Future[list[ProduceResult]]:
        """`produce` without a coroutine (the coordinators' appends): the entries are appended now; the results at
        once if they are final (acks 0 or 1, a failure, or an HW already past the append), else the future of the
        wait for the ISR."""
        if origin is AppendOrigin.REPLICATION:
            raise ValueError("replicated records are appended by the replica fetcher, not produced")
        if acks not in VALID_ACKS:
            # Kafka's ReplicaManager.appendRecords: nothing is appended, every partition gets the same answer.
            return [INVALID_ACKS_RESULT] * len(entries)
        statuses = [self._append(entry, acks, origin) for entry in entries]
        if acks != -1 or settle(statuses, self):
            return [status.result for status in statuses]
        operation = DelayedProduce(max(timeout_ms, 0), statuses, self)
        self.produce_purgatory.try_complete_else_watch(operation, operation.waiting_keys)
        return operation.future

    def _append(self, entry: ProduceEntry, acks: int, origin: AppendOrigin) -> ProducePartitionStatus:
        """Validate and append one partition's records; the status says what acks=all must wait for."""
        key = (entry.topic, entry.partition)
        result = self._append_result(entry, acks, origin)
        if result.error is not ErrorCode.NONE:
            return ProducePartitionStatus(key, -1, result, acks_pending=False)
        return ProducePartitionStatus(key, result.last_offset + 1, result, acks_pending=acks == -1)

    def _append_result(self, entry: ProduceEntry, acks: int, origin: AppendOrigin) -> ProduceResult:
        if len(entry.records) == 0:
            return ProduceResult(ErrorCode.INVALID_RECORD, message="no records in the produce request")
        try:
            partition = self.get_leader(entry.topic, entry.partition)
            if acks == -1 and len(partition.state.isr) < partition.log.config.min_insync_replicas:
                raise PartitionError(ErrorCode.NOT_ENOUGH_REPLICAS)
            validation = self._validation[(entry.topic, entry.partition)]
            if origin is AppendOrigin.COORDINATOR and type(entry.records) is BuiltBatch:
                # Built by this broker (records.builder): no decoding, no second CRC pass (log.validator).
                checked = validate_coordinator_batch(bytearray(entry.records), validation, self.time.wall_ms())
            else:
                checked = validate_records(
                    bytearray(entry.records),
                    validation,
                    self.time.wall_ms(),
                    is_from_client=origin is AppendOrigin.CLIENT,
                )
            with self.logs.guard(partition.log, "append"):
                info = partition.append_records_as_leader(checked.records, origin is AppendOrigin.COORDINATOR)
        except KafkaStorageError as exc:
            self.metrics.produce_failed(entry.topic)
            return ProduceResult(ErrorCode.KAFKA_STORAGE_ERROR, message=str(exc))
        except ProducerStateError as exc:
            # Kafka's codes: OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, ...
            self.metrics.produce_failed(entry.topic)
            return ProduceResult(ErrorCode(exc.error_code), message=exc.message)
        except PartitionError as exc:
            self.metrics.produce_failed(entry.topic)
            return ProduceResult(exc.error_code, message=exc.message or None)
        except RecordValidationError as exc:
            self.metrics.produce_failed(entry.topic)
            return ProduceResult(ErrorCode(exc.error_code), record_errors=tuple(exc.record_errors), message=exc.message)
        except InvalidRecordBatch as exc:
            self.metrics.produce_failed(entry.topic)
            return ProduceResult(ErrorCode(exc.error_code), message=exc.message)
        if info.duplicate:
            # A retried batch already in the log: NONE with its original offsets, nothing appended (Kafka's
            # UnifiedLog.append returns the duplicate's LogAppendInfo; the client never sees
            # DUPLICATE_SEQUENCE_NUMBER).
            return ProduceResult(
                ErrorCode.NONE,
                info.first_offset,
                info.log_append_time_ms,
                partition.log_start_offset,
                last_offset=info.last_offset,
            )
        self.metrics.produced(entry.topic, checked.record_count, len(entry.records))
        return ProduceResult(
            ErrorCode.NONE,
            info.first_offset,
            checked.log_append_time_ms,
            partition.log_start_offset,
            last_offset=info.last_offset,
        )

    def check_enough_replicas_reach_offset(self, key: TopicPartition, required_offset: int) -> ErrorCode | None:
        """DelayedProduce's question: has the partition's HW reached `required_offset`, and with what answer?"""
        if self._stopped:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        partition = self.partitions.get(key)
        if partition is None:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        if self.logs.is_offline(partition.log):
            return ErrorCode.KAFKA_STORAGE_ERROR
        return partition.check_enough_replicas_reach_offset(required_offset)

    # ---- delayed operations ------------------------------------------------------------------------------

    def offsets_moved(self, partition: Partition, moved: int) -> None:
        """A partition's offsets moved (OffsetMove bits): complete the waits this can satisfy. Called on every
        append (Partition.delayed_operations), so nothing is built while nothing waits."""
        if moved & OffsetMove.HIGH_WATERMARK and self.produce_purgatory.watched:
            self.produce_purgatory.check_and_complete((partition.topic, partition.index))
        if self.fetch_purgatory.watched:
            for offset, isolation in _FETCH_WAKES:
                if moved & offset:
                    self.fetch_purgatory.check_and_complete((partition.topic, partition.index, isolation))

    def _complete_delayed(self, key: TopicPartition) -> None:
        """Leadership or existence changed: every wait on the partition looks again (and fails if it must)."""
        self.produce_purgatory.check_and_complete(key)
        for _, isolation in _FETCH_WAKES:
            self.fetch_purgatory.check_and_complete((*key, isolation))

    # ---- fetch -------------------------------------------------------------------------------------------

    async def fetch(self, params: FetchParams, requests: Sequence[FetchPartition]) -> list[FetchResult]:
        """Read every partition at `params.isolation`; answer at once with an error, `min_bytes` or more, or no
        wait allowed; otherwise wait in the fetch purgatory (at most `max_wait_ms`) and answer a fresh read."""
        results = self.read_all(params, requests, update_fetch_state=True)
        if (
            params.max_wait_ms <= 0
            or not requests
            or sum(result.size for result in results) >= params.min_bytes
            or any(result.error is not ErrorCode.NONE for result in results)
        ):
            return self._record_leader_throttled(params, requests, results)
        operation = DelayedFetch(params, requests, self)
        if any(result.size for result in results):  # some data, short of min_bytes: as Kafka, try it once more
            self.fetch_purgatory.try_complete_else_watch(operation, operation.keys)
        else:
            # Nothing readable at all, found with no await since: its try could only say the same (each
            # partition's read was a whole one, min_one included), so it is watched without one.
            self.fetch_purgatory.watch(operation, operation.keys)
        return self._record_leader_throttled(params, requests, await operation.future)

    def _record_leader_throttled(
        self, params: FetchParams, requests: Sequence[FetchPartition], results: list[FetchResult]
    ) -> list[FetchResult]:
        """A follower's fetch answered: the bytes of its throttled partitions count against the leader's
        replication quota, in sync or not (Kafka's KafkaApis: quotas.leader.record(sizeOfThrottledPartitions))."""
        if params.replica_id >= 0:
            quota = self.leader_quota
            pairs = zip(requests, results, strict=True)
            quota.record(sum(r.size for q, r in pairs if quota.is_throttled(q.topic, q.partition)))
        return results

    def should_leader_throttle(self, partition: Partition, replica_id: int) -> bool:
        """Kafka's shouldLeaderThrottle: the follower is out of the ISR, its replica throttled, the quota exceeded."""
        quota = self.leader_quota
        return (
            replica_id not in partition.state.isr
            and quota.is_throttled(partition.topic, partition.index)
            and quota.is_quota_exceeded()
        )

    def read_all(
        self, params: FetchParams, requests: Sequence[FetchPartition], update_fetch_state: bool = False
    ) -> list[FetchResult]:
        """One pass over the fetch's partitions, honouring the response-wide max_bytes (first one always gets data).

        `update_fetch_state`: a follower's fetch offsets are recorded (the first read of a fetch, Kafka's
        fetchMessages); a delayed fetch's completion reads again without recording them (DelayedFetch.onComplete
        calls only readFromLog), so an expired idle long-poll does not do the follower bookkeeping twice."""
        results = []
        budget = params.max_bytes
        for request in requests:
            result = self.read_partition(
                request,
                max(budget, 0),
                budget == params.max_bytes,
                params.isolation,
                params.replica_id,
                update_fetch_state,
            )
            budget -= result.size
            results.append(result)
        return results

    def read_partition(
        self,
        request: FetchPartition,
        max_bytes: int,
        min_one: bool,
        isolation: FetchIsolation,
        replica_id: int = CONSUMER_REPLICA_ID,
        update_fetch_state: bool = True,
    ) -> FetchResult:
        """Read one partition; a follower's read (`replica_id` >= 0) also records its fetch offset (its LEO)
        and time, which may expand the ISR and advance the HW (the answer carries the HW after that), unless
        `update_fetch_state` is False."""
        try:
            partition = self.get_leader(request.topic, request.partition, request.current_leader_epoch)
            if replica_id >= 0 and not partition.is_replica(replica_id):
                raise PartitionError(ErrorCode.NOT_LEADER_OR_FOLLOWER, f"broker {replica_id} is not a replica")
            leader_log_end = partition.log_end_offset
            limit = _fetch_limit(partition, isolation)
            size = min(max_bytes, request.max_bytes)
            if size < 0:
                # A negative partition_max_bytes: Kafka's LogSegment.read throws IllegalArgumentException once there
                # is something to read, answered for the partition as UNKNOWN_SERVER_ERROR (here a ValueError closed
                # the connection; found by fuzzing). An empty read is answered as usual.
                if partition.log.read(request.fetch_offset, 0, limit).slice is not None:
                    return FetchResult(ErrorCode.UNKNOWN_SERVER_ERROR)
                size = 0
            # A throttled follower gets no records; its offset is still checked (out of range answered as always)
            # and its fetch state recorded, as Kafka's readFromLog answers an empty FetchDataInfo.
            throttled = replica_id >= 0 and self.should_leader_throttle(partition, replica_id)
            data = partition.log.read(request.fetch_offset, 0 if throttled else size, limit, min_one and not throttled)
            if replica_id >= 0 and update_fetch_state:
                partition.update_follower_fetch_state(
                    replica_id, request.fetch_offset, leader_log_end, self.time.monotonic_ms()
                )
        except PartitionError as exc:
            return FetchResult(exc.error_code)
        except OffsetOutOfRange:
            return self._out_of_range(request)
        segment_slice = None if throttled else data.slice
        records = None
        if segment_slice is not None and segment_slice.size > 0:
            records = FileRecords(segment_slice.file.fileno(), segment_slice.position, segment_slice.size)
        aborted = None
        if isolation is FetchIsolation.TXN_COMMITTED:
            # Kafka bounds the lookup by the end of the fetched slice; the LSO bound is a superset, and a consumer
            # ignores aborted transactions it reads no batch of.
            found = partition.log.collect_aborted_transactions(request.fetch_offset, limit) if records else []
            aborted = tuple((txn.producer_id, txn.first_offset) for txn in found)
        return FetchResult(
            ErrorCode.NONE,
            partition.high_watermark,
            partition.last_stable_offset,
            partition.log_start_offset,
            records,
            aborted,
        )

    def bytes_available(self, params: FetchParams, request: FetchPartition) -> int | None:
        """DelayedFetch's question: bytes readable for `request` at `params.isolation`, at most its max_bytes
        (an index lookup, no record work); None when the partition answers an error."""
        if self._stopped:
            return None
        try:
            partition = self.get_leader(request.topic, request.partition, request.current_leader_epoch)
            if params.replica_id >= 0 and not partition.is_replica(params.replica_id):
                return None
            if params.replica_id >= 0 and self.should_leader_throttle(partition, params.replica_id):
                return 0  # a throttled partition adds nothing towards min_bytes (Kafka's DelayedFetch, case H)
            limit = _fetch_limit(partition, params.isolation)
            return partition.log.read(request.fetch_offset, max(request.max_bytes, 0), limit).size
        except (PartitionError, OffsetOutOfRange):
            return None

    def _out_of_range(self, request: FetchPartition) -> FetchResult:
        partition = self.partitions[(request.topic, request.partition)]
        return FetchResult(
            ErrorCode.OFFSET_OUT_OF_RANGE,
            partition.high_watermark,
            partition.last_stable_offset,
            partition.log_start_offset,
        )

    # ---- ISR ---------------------------------------------------------------------------------------------

    def alter_isr(self, partition: Partition, new_isr: tuple[int, ...]) -> None:
        """Partition.isr_changes: send AlterPartition in the background; the answer goes back to the partition."""
        pending = partition.pending_isr
        if self.alter_partition is None or pending is None or self._stopped:
            partition.pending_isr = None
            return
        task = asyncio.ensure_future(self._alter_isr(partition, pending))
        self._alter_tasks.add(task)
        task.add_done_callback(self._alter_tasks.discard)

    async def _alter_isr(self, partition: Partition, pending: PendingIsr) -> None:
        assert self.alter_partition is not None
        before = set(partition.state.isr)  # now: the new image may arrive before the answer
        item = AlterPartitionItem(
            partition.topic,
            partition.index,
            self.node_id,
            pending.leader_epoch,
            pending.partition_epoch,
            pending.isr,
        )
        try:
            result = await self.alter_partition.submit(item)
        except Exception:
            logger.exception("AlterPartition for %s-%s failed", partition.topic, partition.index)
            partition.apply_alter_result(pending, ErrorCode.UNKNOWN_SERVER_ERROR)
            return
        if result.error is not ErrorCode.NONE:
            self.metrics.isr_update_failed()
            logger.info(
                "AlterPartition for %s-%s to ISR %s refused: %s %s",
                partition.topic,
                partition.index,
                list(pending.isr),
                result.error.name,
                result.message,
            )
        else:
            after = set(result.isr)
            if after - before:
                self.metrics.isr_expand()
            if before - after:
                self.metrics.isr_shrink()
            logger.info("ISR of %s-%s is now %s", partition.topic, partition.index, list(result.isr))
        partition.apply_alter_result(pending, result.error, result.isr, result.partition_epoch)
        self._complete_delayed((partition.topic, partition.index))

    def maybe_shrink_isr(self) -> None:
        """Kafka's isr-expiration task: remove followers lagging more than replica.lag.time.max.ms."""
        lag = self.config.get_int("replica.lag.time.max.ms")
        now = self.time.monotonic_ms()
        for partition in list(self.partitions.values()):
            partition.maybe_shrink_isr(now, lag)

    def start_isr_expiration(self) -> None:
        """Run `maybe_shrink_isr` every replica.lag.time.max.ms / 2, on the injected Time."""
        interval = max(self.config.get_int("replica.lag.time.max.ms") / 2, 1)

        def tick() -> None:
            if self._stopped:
                return
            try:
                self.maybe_shrink_isr()
            finally:
                self._isr_expiration = self.time.call_later(interval, tick)

        self._isr_expiration = self.time.call_later(interval, tick)

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
        now = self.time.wall_ms()
        # Kafka's PartitionsWithLateTransactionsCount: transaction.max.timeout.ms plus a 5-minute buffer.
        late_after = self.config.get_int("transaction.max.timeout.ms") + LATE_TRANSACTION_BUFFER_MS
        for (topic, index), p in list(self.partitions.items()):
            producer_ids, late = p.log.transaction_stats(now, late_after)
            yield PartitionStats(
                topic,
                index,
                p.is_leader,
                p.log.size_in_bytes,
                p.log_start_offset,
                p.log_end_offset,
                p.high_watermark,
                last_stable_offset=p.log.last_stable_offset,
                producer_ids=producer_ids,
                late_transaction=late,
                replicas=len(p.state.replicas),
                isr=len(p.state.isr),
                min_insync_replicas=p.log.config.min_insync_replicas,
                offline=self.logs.is_offline(p.log),
            )

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        schedule = [
            (self.config.get_int("log.retention.check.interval.ms"), self._retention),
            (min(self.config.get_int("log.flush.offset.checkpoint.interval.ms"), 60_000), self._checkpoint),
            (self.config.get_int("replica.high.watermark.checkpoint.interval.ms"), self._checkpoint_high_watermarks),
            (5_000, self._delete_expired),
            (1_000, self._flush_due),
            (self.config.get_int("producer.id.expiration.check.interval.ms"), self._expire_producers),
        ]
        if self.config.get_bool("log.cleaner.enable"):
            schedule.append((self.config.get_int("log.cleaner.backoff.ms"), self._clean))
        for interval_ms, work in schedule:
            self._tasks.append(asyncio.create_task(self._every(interval_ms / 1000.0, work)))
        self.start_isr_expiration()

    async def _every(self, interval_s: float, work: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(work)
            except Exception:
                logger.exception("storage task %s failed", work.__name__)

    def _retention(self) -> None:
        self.logs.run_retention(self.time.wall_ms())

    def _checkpoint(self) -> None:
        self.logs.checkpoint_recovery_points()

    def _checkpoint_high_watermarks(self) -> None:
        self.logs.checkpoint_high_watermarks()

    def _delete_expired(self) -> None:
        self.logs.delete_expired_files(self.time.wall_ms())

    def _flush_due(self) -> None:
        self.logs.flush_dirty(self.time.wall_ms())

    def _expire_producers(self) -> None:
        expiration_ms = self.config.get_int("producer.id.expiration.ms")
        now = self.time.wall_ms()
        for log in self.logs.all_logs():
            log.remove_expired_producers(now, expiration_ms)

    def _clean(self) -> None:
        self._cleaner.clean_logs(self.logs.all_logs(), self.time.wall_ms())

    async def stop(self) -> None:
        await self.fetchers.shutdown()
        if self._isr_expiration is not None:
            self._isr_expiration.cancel()
        for alter in list(self._alter_tasks):
            alter.cancel()
        await asyncio.gather(*self._alter_tasks, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._file_work.wait()
        self._stopped = True  # every wait is answered now: produces NOT_LEADER_OR_FOLLOWER, fetches what is there
        for key in self.produce_purgatory.watched_keys():
            self.produce_purgatory.check_and_complete(key)
        for fetch_key in self.fetch_purgatory.watched_keys():
            self.fetch_purgatory.check_and_complete(fetch_key)
        self.logs.shutdown()


def _assign_epoch(log: Log, leader_epoch: int, flush: bool = True) -> bool:
    """A leader's epoch starts at its log end offset, unless the cache already has it (or a later one). Returns
    True if the cache changed (`flush` False: in memory only)."""
    latest = log.epoch_cache.latest_epoch
    if latest is None or leader_epoch > latest:
        return log.epoch_cache.assign(leader_epoch, log.log_end_offset, flush=flush)
    return False


def _fetch_limit(partition: Partition, isolation: FetchIsolation) -> int:
    """The offset a fetch at `isolation` reads below."""
    if isolation is FetchIsolation.LOG_END:
        return partition.log_end_offset
    if isolation is FetchIsolation.TXN_COMMITTED:
        return partition.last_stable_offset
    return partition.high_watermark


def _or_minus_one(value: int | None) -> int:
    return -1 if value is None else value
