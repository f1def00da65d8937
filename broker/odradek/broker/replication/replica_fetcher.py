"""`ReplicaFetcherThread`: one asyncio task fetching every partition this broker follows from one source broker
(Kafka's AbstractFetcherThread + ReplicaFetcherThread).

Each partition has a fetch state (`PartitionFetchState`): TRUNCATING after it was added (a new leader or leader
epoch), then FETCHING at its log end offset; a partition that got an error is delayed `replica.fetch.backoff.ms`.
One round (`do_work`):

1. Truncation (KIP-101/279), for the partitions TRUNCATING: one OffsetForLeaderEpoch to the leader with each
   partition's latest local epoch. Answer (epoch L, end offset O), with the follower's LEO as E:
   - O undefined (-1): the leader has no such epoch history: truncate to the local HW (the pre-KIP-101 rule);
   - the follower's own end for epoch L is (L', O'): if L' == L truncate to min(O, O'); else truncate to O' and
     ask again with the now latest epoch (the largest common epoch is found in a few rounds); without any
     local epoch <= L, truncate to min(O, E);
   - a follower without any epoch truncates to its HW without asking.
2. One Fetch for all FETCHING partitions (replica id = this broker, current leader epoch = the epoch the
   partition was added at), long-polling: `replica.fetch.wait.max.ms`, `replica.fetch.min.bytes`,
   `replica.fetch.response.max.bytes` for the response, `replica.fetch.max.bytes` per partition, in an incremental
   fetch session (KIP-227, `fetch_session_handler.FetchSessionHandler`, as Kafka's fetchers): once the leader has
   opened one, a request names only the partitions added or whose fetch offset or epoch changed and forgets those
   no longer fetched (delayed, truncating, removed), and the answer holds only the partitions with records, a new
   HW or log start, or an error; an idle partition costs neither side any encoding. A session error answered at
   the top level makes the next request full, at once; another top-level error delays every partition. Per
   partition answered:
   - NONE without records: the HW and log start offset, each only when it changed;
   - NONE: the complete batches are appended (`Log.append_as_follower`: the leader's offsets and epochs, producer
     state with origin REPLICATION, the epoch cache from batch epochs); HW = min(leader's HW, LEO); the log start
     offset follows the leader's; an empty log whose start is inside the first batch restarts at that batch's
     base first;
   - OFFSET_OUT_OF_RANGE: below the leader's log start, the log is emptied and starts there
     (`truncate_fully_and_start_at`); otherwise (above the leader's end) the partition truncates again;
   - FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER and other errors: the partition is delayed
     and retried; a newer image re-adds it with the new leader and epoch.
   An I/O failure talking to the leader delays every partition (the end point reconnects on the next request).

Truncation is file work (segments cut or deleted, index files trimmed, the epoch checkpoint and producer state
rewritten; emptying a log, `start_at`, likewise): it runs in a worker thread (utils/file_work.py), one call per
round for all the partitions truncated, under each partition's `leader_isr_update_lock`, which the replica manager
also holds while it changes the partition's role.
The call re-checks there that the partition still follows at the epoch it was asked for, so a truncation never
lands on a replica that became leader meanwhile; the round waits for the call (shielded: a shutdown waits for it
too) before it fetches, so a partition's truncation and its appends stay in order.

A local storage error (an OSError from this broker's own log: a full disk) is not a network error: the log's dir
goes offline (`FollowerReplicas.storage_guard`, log/log_dir_failure.py) and the partition stops being fetched here
(Kafka's markPartitionFailed); the replica manager handles the failed dir.

Delays are `replica.fetch.backoff.ms`, except after an answer saying the leader has not applied the metadata this
follower already acts on (`LEADER_BEHIND`: NOT_LEADER_OR_FOLLOWER, UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_OR_PARTITION,
to a Fetch or an OffsetForLeaderEpoch): brokers apply a metadata change at slightly different moments, so a follower
told of a new leader (a created partition, a leader elected at failover) often asks it a few milliseconds before it
knows. Those retries start after `LEADER_BEHIND_FIRST_RETRY_MS` and double per answer up to the backoff, and a
successful fetch starts the doubling again (Kafka waits the whole backoff, 1 s by default: with acks=all every
first produce to a new RF>1 partition, and the first after a failover, waited for it; bench/RESULTS.md,
"Replication").

Replication throttle (`follower.replication.throttled.rate` over `follower.replication.throttled.replicas`, the
`quota`: replica_quota.py), Kafka's shouldFollowerThrottle: while the quota is exceeded, a partition whose replica
here is throttled and not in sync (its last fetch left it behind the leader's HW, or it has not fetched yet) is
left out of the fetch, so the session forgets it and names it again with its position once it is back under the
rate; the bytes appended for throttled partitions, in sync or not, are recorded against the quota. When every
ready partition is left out and the session has nothing to forget, the round waits `replica.fetch.backoff.ms`
(Kafka's fetcher with an empty request) or until a partition is added.

No polling: with nothing to fetch the task waits for a partition to be added or for the end of a delay, and the
Fetch itself waits at the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from odradek.broker.log.log import UnexpectedAppendOffset
from odradek.broker.log.log_dir_failure import KafkaStorageError
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.batch import complete_prefix_length
from odradek.broker.replication.api import FetchIsolation, FetchParams, FetchPartition, TopicPartition
from odradek.broker.replication.broker_blocking_sender import AuthenticationFailed
from odradek.broker.replication.fetch_session_handler import FetchSessionHandler
from odradek.broker.replication.leader_end_point import EpochRequest, FetchedPartition, LeaderEndPoint
from odradek.broker.replication.partition import Partition
from odradek.broker.replication.replica_quota import UNBOUNDED, ReplicaQuota
from odradek.broker.utils.file_work import FileWork
from odradek.broker.utils.time import Time

logger = logging.getLogger(__name__)


class FollowerReplicas(Protocol):
    def follower_partition(self, key: TopicPartition, leader_epoch: int) -> Partition | None:
        """The local replica if it still follows at `leader_epoch`, else None."""
        ...

    def fetch_lag(self, key: TopicPartition, lag: int) -> None:
        """After a fetch: the leader's high watermark minus this replica's next fetch offset (Kafka's
        FetcherLagMetrics, the ReplicaFetcherManager MaxLag gauge)."""
        ...

    def storage_guard(self, partition: Partition, message: str) -> AbstractContextManager[None]:
        """Around local I/O on `partition`: an OSError takes its log dir offline and leaves as
        KafkaStorageError (as does any I/O on an offline dir)."""
        ...


@dataclass(frozen=True, slots=True)
class FetcherConfig:
    replica_id: int
    fetch_wait_max_ms: int = 500
    fetch_min_bytes: int = 1
    fetch_max_bytes: int = 1_048_576
    fetch_response_max_bytes: int = 10_485_760
    fetch_backoff_ms: int = 1_000
    socket_timeout_ms: int = 30_000
    num_fetchers: int = 1


class FetchState(enum.Enum):
    TRUNCATING = "truncating"
    FETCHING = "fetching"


LEADER_BEHIND = frozenset(
    {ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.UNKNOWN_LEADER_EPOCH, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
)
LEADER_BEHIND_FIRST_RETRY_MS = 25
# Top-level Fetch errors about the session only: the session handler makes the next request full, sent at once.
SESSION_ERRORS = frozenset(
    {
        ErrorCode.FETCH_SESSION_ID_NOT_FOUND,
        ErrorCode.INVALID_FETCH_SESSION_EPOCH,
        ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR,
    }
)

SHUTDOWN_CANCEL_ROUNDS = 50  # cancellations tried at shutdown, each followed by a wait of:
SHUTDOWN_CANCEL_WAIT_S = 0.1


@dataclass(slots=True)
class PartitionFetchState:
    leader_epoch: int
    fetch_offset: int = -1
    state: FetchState = FetchState.TRUNCATING
    delayed_until_ms: float = 0.0
    leader_behind_retries: int = 0  # LEADER_BEHIND answers since the last successful fetch (sets the delay)
    lag: int | None = None  # the leader's HW minus the fetch offset after the last fetch (None: none yet)

    @property
    def is_replica_in_sync(self) -> bool:
        """Kafka's PartitionFetchState.isReplicaInSync: caught up to the leader's HW at the last fetch."""
        return self.lag is not None and self.lag <= 0


@dataclass(frozen=True, slots=True)
class Truncation:
    """One partition's truncation step: to its high watermark (`end_offset` None: no epoch to ask about, or the
    leader knows none), or from the leader's OffsetForLeaderEpoch answer (epoch, end offset)."""

    key: TopicPartition
    partition: Partition
    follower_epoch: int  # the leader epoch the partition follows at (it must still, when the step runs)
    leader_epoch: int = -1
    end_offset: int | None = None


TRUNCATE_AGAIN = -1  # a step's result: ask again with the (now lower) latest local epoch
SKIPPED = -2  # a step's result: the partition no longer follows at that epoch; nothing done


def truncate_step(step: Truncation) -> int:
    """Worker thread: decide and truncate (Kafka's AbstractFetcherThread.getOffsetTruncationState), under the
    partition's `leader_isr_update_lock`. Returns the new log end offset to fetch from, TRUNCATE_AGAIN or SKIPPED.

    - no end offset, or an undefined one (-1): truncate to the local HW (the pre-KIP-101 rule);
    - an undefined leader epoch: to min(end offset, LEO);
    - the follower's own end for epoch L is (L', O'): L' == L: to min(O, O'); L' < L: cut to O' and ask again;
      no local epoch <= L: to min(O, LEO)."""
    partition = step.partition
    with partition.leader_isr_update_lock:
        if partition.is_leader or partition.state.leader_epoch != step.follower_epoch:
            return SKIPPED
        log = partition.log
        log_end = log.log_end_offset
        if step.end_offset is None or step.end_offset < 0:
            return _truncate_to(partition, partition.high_watermark)
        if step.leader_epoch < 0:
            return _truncate_to(partition, min(step.end_offset, log_end))
        local_epoch, local_end = log.epoch_cache.end_offset_for(step.leader_epoch, log_end)
        if local_epoch < 0 or local_end < 0:
            return _truncate_to(partition, min(step.end_offset, log_end))  # no local epoch <= L: the leader's end
        if local_epoch == step.leader_epoch:
            return _truncate_to(partition, min(step.end_offset, local_end))
        # The follower has no epoch L: cut to where its largest epoch below L ends and ask again with that epoch
        # (the epochs asked strictly decrease, so this ends).
        log.truncate_to(local_end)
        return TRUNCATE_AGAIN


def _truncate_to(partition: Partition, offset: int) -> int:
    log = partition.log
    if offset < log.log_end_offset:
        logger.info("truncating %s to %s (log end %s)", log.dir.name, offset, log.log_end_offset)
        log.truncate_to(max(offset, 0))
    return log.log_end_offset


def start_at(partition: Partition, follower_epoch: int, offset: int) -> int:
    """Worker thread: empty the log and start it at `offset` (the leader's log start, which the follower fell
    below, or the base of the leader's batch holding it). Returns the offset to fetch from, or SKIPPED."""
    with partition.leader_isr_update_lock:
        if partition.is_leader or partition.state.leader_epoch != follower_epoch:
            return SKIPPED
        logger.info("%s: emptied, starting at the leader's offset %s", partition.log.dir.name, offset)
        partition.log.truncate_fully_and_start_at(offset)
        return offset


def complete_batches(records: bytes) -> bytes:
    """The prefix of `records` made of whole batches (a fetch slice may end inside one)."""
    length = complete_prefix_length(records)
    return records if length == len(records) else records[:length]


class ReplicaFetcherThread:
    def __init__(
        self,
        name: str,
        source_broker: int,
        leader: LeaderEndPoint,
        replicas: FollowerReplicas,
        config: FetcherConfig,
        time: Time,
        quota: ReplicaQuota = UNBOUNDED,
    ) -> None:
        self.name = name
        self.quota = quota
        self.source_broker = source_broker
        self.leader = leader
        self.replicas = replicas
        self.config = config
        self.time = time
        self.states: dict[TopicPartition, PartitionFetchState] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._file_work = FileWork()  # truncations in a worker thread; `shutdown` waits for them
        self.session = FetchSessionHandler(source_broker)  # KIP-227: this fetcher's session at its leader

    # ---- partitions --------------------------------------------------------------------------------------

    def add_partitions(self, partitions: Mapping[TopicPartition, int]) -> None:
        """Start (or restart) `partitions` (key -> leader epoch) with truncation."""
        for key, epoch in partitions.items():
            self.states[key] = PartitionFetchState(epoch)
        self._changed.set()

    def remove_partitions(self, keys: Iterable[TopicPartition]) -> None:
        for key in keys:
            self.states.pop(key, None)

    @property
    def partition_count(self) -> int:
        return len(self.states)

    # ---- the task ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def shutdown(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            # Cancelled again until it ends: Python 3.11's asyncio.wait_for loses a cancellation that arrives as its
            # inner call completes, and the task would then go on fetching (seen as a broker that never stopped).
            for _ in range(SHUTDOWN_CANCEL_ROUNDS):
                task.cancel()
                done, _ = await asyncio.wait([task], timeout=SHUTDOWN_CANCEL_WAIT_S)
                if done:
                    break
            if task.done() and not task.cancelled():
                with contextlib.suppress(Exception):
                    task.result()
        await self._file_work.wait()  # a truncation still running in its thread: the logs must not close under it
        await self.leader.close()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.do_work()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s: unexpected error; backing off", self.name)
                await self.time.sleep(self.config.fetch_backoff_ms)

    async def do_work(self) -> None:
        """One round: wait for something to do, truncate, fetch."""
        now = self.time.monotonic_ms()
        ready = {k: s for k, s in self.states.items() if s.delayed_until_ms <= now}
        if not ready:
            await self._wait_for_work(now)
            return
        truncating = {k: s for k, s in ready.items() if s.state is FetchState.TRUNCATING}
        if truncating:
            await self._guarded(self._truncate(truncating), truncating)
        fetching = {
            k: s
            for k, s in ready.items()
            if s.state is FetchState.FETCHING and self.states.get(k) is s and not self._should_follower_throttle(k, s)
        }
        if fetching or self.session.would_forget(fetching):
            await self._guarded(self._fetch(fetching), fetching)
        elif any(s.state is FetchState.FETCHING for s in ready.values()) and not truncating:
            await self._wait_for_work(now, now + self.config.fetch_backoff_ms)  # all throttled: Kafka's backoff
        # A round answered at once (data ready, or errors) must still let the rest of the loop run.
        await asyncio.sleep(0)

    def _should_follower_throttle(self, key: TopicPartition, state: PartitionFetchState) -> bool:
        """Kafka's shouldFollowerThrottle: not in sync, throttled here, over the quota (in-sync replicas never are,
        so that a throttle cannot shrink the ISR)."""
        quota = self.quota
        return not state.is_replica_in_sync and quota.is_throttled(*key) and quota.is_quota_exceeded()

    async def _wait_for_work(self, now: float, until_ms: float | None = None) -> None:
        """Until a partition is added, or the earliest delay (or `until_ms`) ends."""
        self._changed.clear()
        delays = [s.delayed_until_ms for s in self.states.values() if s.delayed_until_ms > now]
        delays += [] if until_ms is None else [until_ms]
        waiter = asyncio.ensure_future(self._changed.wait())
        sleeper = asyncio.ensure_future(self.time.sleep(min(delays) - now)) if delays else None
        try:
            await asyncio.wait([f for f in (waiter, sleeper) if f is not None], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if sleeper is not None:
                sleeper.cancel()

    async def _guarded(self, work: object, states: Mapping[TopicPartition, PartitionFetchState]) -> None:
        assert asyncio.iscoroutine(work)
        try:
            await work
        except AuthenticationFailed as exc:  # a configuration problem, not a passing one: said loudly (as Kafka)
            logger.error(
                "%s: inter-broker authentication to broker %s failed, not replicating from it: %s; backing off",
                self.name,
                self.source_broker,
                exc,
            )
            self._delay(states.values())
            await self.time.sleep(self.config.fetch_backoff_ms)
        except (OSError, EOFError, TimeoutError) as exc:
            logger.info("%s: error talking to broker %s (%s); backing off", self.name, self.source_broker, exc)
            self._delay(states.values())
            await self.time.sleep(self.config.fetch_backoff_ms)

    def _delay(self, states: Iterable[PartitionFetchState], error: ErrorCode | None = None) -> None:
        """Retry `states` after the backoff; after a LEADER_BEHIND `error`, after a doubling short delay."""
        now = self.time.monotonic_ms()
        backoff = self.config.fetch_backoff_ms
        for state in states:
            if error in LEADER_BEHIND:
                shift = min(state.leader_behind_retries, 16)
                state.delayed_until_ms = now + min(backoff, LEADER_BEHIND_FIRST_RETRY_MS << shift)
                state.leader_behind_retries += 1
            else:
                state.delayed_until_ms = now + backoff

    # ---- truncation --------------------------------------------------------------------------------------

    async def _truncate(self, states: Mapping[TopicPartition, PartitionFetchState]) -> None:
        steps: list[tuple[PartitionFetchState, Truncation]] = []
        asks: list[tuple[TopicPartition, PartitionFetchState, int]] = []
        for key, state in states.items():
            partition = self.replicas.follower_partition(key, state.leader_epoch)
            if partition is None:
                continue
            latest = partition.log.epoch_cache.latest_epoch
            if latest is None:
                steps.append((state, Truncation(key, partition, state.leader_epoch)))  # to the HW, without asking
            else:
                asks.append((key, state, latest))
        if asks:
            answers = await self.leader.fetch_epoch_end_offsets(
                [EpochRequest(key[0], key[1], state.leader_epoch, epoch) for key, state, epoch in asks]
            )
            for (key, state, _), answer in zip(asks, answers, strict=True):
                if self.states.get(key) is not state:
                    continue  # removed or re-added meanwhile
                partition = self.replicas.follower_partition(key, state.leader_epoch)
                if partition is None:
                    continue
                if answer.error is not ErrorCode.NONE:
                    logger.info("%s: OffsetForLeaderEpoch for %s-%s: %s", self.name, *key, answer.error.name)
                    self._delay([state], answer.error)
                    continue
                steps.append(
                    (state, Truncation(key, partition, state.leader_epoch, answer.leader_epoch, answer.end_offset))
                )
        if steps:
            results = await self._file_work.run(self._truncate_all, [step for _, step in steps])
            for (state, step), result in zip(steps, results, strict=True):
                self._truncated(step.key, state, result)

    def _truncate_all(self, steps: Sequence[Truncation]) -> list[int | KafkaStorageError]:
        """Worker thread: every step, each guarded on its own (one failed log dir fails only its partitions)."""
        results: list[int | KafkaStorageError] = []
        for step in steps:
            try:
                with self.replicas.storage_guard(step.partition, "follower truncation"):
                    results.append(truncate_step(step))
            except KafkaStorageError as exc:
                results.append(exc)
        return results

    def _truncated(self, key: TopicPartition, state: PartitionFetchState, result: int | KafkaStorageError) -> None:
        if isinstance(result, KafkaStorageError):
            self._failed(key, state, result)
        elif result == SKIPPED or self.states.get(key) is not state:
            return  # the partition changed role or was re-added meanwhile: its new state truncates again
        elif result != TRUNCATE_AGAIN:
            state.fetch_offset = result
            state.state = FetchState.FETCHING

    def _failed(self, key: TopicPartition, state: PartitionFetchState, exc: KafkaStorageError) -> None:
        """Kafka's markPartitionFailed: a local storage error stops fetching the partition here."""
        logger.error("%s: %s-%s failed locally (%s); no longer fetched", self.name, *key, exc)
        if self.states.get(key) is state:
            del self.states[key]

    # ---- fetch -------------------------------------------------------------------------------------------

    async def _fetch(self, states: Mapping[TopicPartition, PartitionFetchState]) -> None:
        config = self.config
        wanted = {
            key: FetchPartition(key[0], key[1], state.fetch_offset, config.fetch_max_bytes, state.leader_epoch)
            for key, state in states.items()
        }
        params = FetchParams(
            config.replica_id,
            config.fetch_wait_max_ms,
            config.fetch_min_bytes,
            config.fetch_response_max_bytes,
            FetchIsolation.LOG_END,
        )
        request = self.session.build(wanted)
        try:
            answer = await self.leader.fetch(params, request)
        except BaseException:  # failed or cancelled: the leader may or may not have moved the session on
            self.session.handle_error()
            raise
        if not self.session.handle_response(answer.error, answer.session_id, answer.partitions.keys()):
            # A session error: the next request is full, sent at once. Anything else (another top-level error, or
            # an answer naming partitions the session does not hold) backs off, so that it cannot loop hot.
            if answer.error not in SESSION_ERRORS:
                logger.info("%s: fetch from broker %s: %s; backing off", self.name, self.source_broker, answer.error)
                self._delay(states.values(), answer.error)
            return
        for key, fetched in answer.partitions.items():
            state = states.get(key)
            if state is None or self.states.get(key) is not state or state.fetch_offset != wanted[key].fetch_offset:
                continue
            partition = self.replicas.follower_partition(key, state.leader_epoch)
            if partition is None:
                continue
            if fetched.error is ErrorCode.NONE:
                try:
                    await self._append_fetched(key, partition, state, fetched)
                except KafkaStorageError as exc:
                    self._failed(key, state, exc)
            elif fetched.error is ErrorCode.OFFSET_OUT_OF_RANGE:
                await self._out_of_range(key, partition, state, fetched.log_start_offset)
            else:
                logger.info("%s: fetch of %s-%s: %s; backing off", self.name, *key, fetched.error.name)
                self._delay([state], fetched.error)

    async def _append_fetched(
        self, key: TopicPartition, partition: Partition, state: PartitionFetchState, answer: FetchedPartition
    ) -> None:
        """Append a fetch's complete batches. An empty log whose start is inside the first batch is restarted at
        that batch's base first, in the worker (`start_at`), and the batches appended then."""
        if not answer.records:
            self._caught_up(partition, state, answer)
            return
        batches = complete_batches(answer.records)
        with self.replicas.storage_guard(partition, "follower append"):
            restart = self._append(partition, state, batches, answer.high_watermark, answer.log_start_offset)
        if restart is None:
            return
        log_start = partition.log.log_start_offset
        if await self._file_work.run(self._start_at, (partition, state.leader_epoch, restart)) == SKIPPED:
            return
        if self.states.get(key) is not state:
            return
        with self.replicas.storage_guard(partition, "follower append"):
            self._append(partition, state, batches, answer.high_watermark, answer.log_start_offset)
            if partition.log.log_end_offset >= log_start:  # appended (else it truncates again)
                partition.log.maybe_increment_log_start_offset(log_start)

    def _caught_up(self, partition: Partition, state: PartitionFetchState, answer: FetchedPartition) -> None:
        """An answer without records (an idle partition's): nothing to append (Kafka's appendAsFollower returns
        at once for no batches); only what moved is applied, the HW and the log start, each when it changed."""
        log = partition.log
        leader_hw = answer.high_watermark
        if leader_hw >= 0 and min(leader_hw, log.log_end_offset) != log.high_watermark:
            partition.update_follower_high_watermark(leader_hw)
        if log.log_start_offset < answer.log_start_offset <= log.log_end_offset:
            with self.replicas.storage_guard(partition, "follower log start"):
                log.maybe_increment_log_start_offset(answer.log_start_offset)
        state.fetch_offset = log.log_end_offset
        state.leader_behind_retries = 0
        state.lag = max(leader_hw - state.fetch_offset, 0)
        self.replicas.fetch_lag((partition.topic, partition.index), leader_hw - state.fetch_offset)

    def _append(
        self, partition: Partition, state: PartitionFetchState, batches: bytes, leader_hw: int, leader_start: int
    ) -> int | None:
        """Append on the event loop (a write to the page cache). Returns the offset the empty log must restart at
        first (`Partition.follower_restart_offset`), else None."""
        try:
            partition.append_records_as_follower(batches, leader_hw)
        except UnexpectedAppendOffset as exc:
            restart = partition.follower_restart_offset(batches)
            if restart is not None:
                return restart
            logger.warning("%s: %s; truncating again", self.name, exc)
            state.state = FetchState.TRUNCATING
            return None
        if self.quota.is_throttled(partition.topic, partition.index):
            self.quota.record(len(batches))  # in sync or not: all replication of throttled replicas counts
        log = partition.log
        if log.log_start_offset < leader_start <= log.log_end_offset:
            log.maybe_increment_log_start_offset(leader_start)
        state.fetch_offset = log.log_end_offset
        state.leader_behind_retries = 0
        state.lag = max(leader_hw - state.fetch_offset, 0)
        self.replicas.fetch_lag((partition.topic, partition.index), leader_hw - state.fetch_offset)
        return None

    async def _out_of_range(
        self, key: TopicPartition, partition: Partition, state: PartitionFetchState, leader_start: int
    ) -> None:
        if leader_start >= 0 and state.fetch_offset < leader_start:
            try:
                result = await self._file_work.run(self._start_at, (partition, state.leader_epoch, leader_start))
            except KafkaStorageError as exc:
                self._failed(key, state, exc)
                return
            if result != SKIPPED and self.states.get(key) is state:
                state.fetch_offset = result
        else:
            state.state = FetchState.TRUNCATING  # ahead of the leader: find the common point again

    def _start_at(self, arg: tuple[Partition, int, int]) -> int:
        partition, follower_epoch, leader_start = arg
        with self.replicas.storage_guard(partition, "follower log start"):
            return start_at(partition, follower_epoch, leader_start)
