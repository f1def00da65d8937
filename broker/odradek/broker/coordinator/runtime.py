"""CoordinatorRuntime: hosts one shard of coordinator state per partition of an internal topic.

Kafka's CoordinatorRuntime, reduced to what a single event loop needs. The runtime knows nothing about groups or
transactions; a coordinator supplies a shard factory, and the runtime owns everything around the shards:

- Ownership. `on_elected(partition, leader_epoch)` makes this broker the coordinator of `partition`: a fresh
  shard is built and the partition's records are replayed into it in a worker thread. Meanwhile `shard()`
  raises COORDINATOR_LOAD_IN_PROGRESS; for a partition not owned it raises NOT_COORDINATOR. The shard is
  published (and `on_loaded` called on the event loop) only when the replay finished and the partition is still
  owned by the same election: a resign during the load drops the half-built shard.
  `on_resigned(partition, leader_epoch)` unloads the shard: every timer of the partition is cancelled, then
  `on_unloaded` lets the shard fail its waiters.
  Epochs follow Kafka: an election with an epoch not above the current one is stale and ignored while owned; a
  resignation unloads when its epoch is None (partition gone, shutdown) or above the elected epoch. -1 means
  "unknown epoch" (callers that do not track epochs).
- Appends go through `CoordinatorLog` (the partition's leader append, acks=all); a context that no longer owns
  its partition refuses to append (NOT_LEADER_OR_FOLLOWER, which coordinators map to NOT_COORDINATOR).
- Appends are coalesced (Kafka's CoordinatorRuntime batches its writes; `group.coordinator.append.linger.ms`
  there, one event-loop turn here, so no added wait): the appends a partition's context is asked for in one
  turn (ten members' OffsetCommits handled in that turn, a group record, a background write) go to its write
  queue, and one flush task, run after the rest of the turn, appends the plain records of consecutive requests
  as one batch; a transactional batch or a marker stays a batch of its own, in its place. Each request is
  answered when its batch is durable, with its own records' last offset; a failed batch fails every request in
  it; a resign before the flush fails them all. One log append, batch header, CRC and HW move per turn instead
  of one per request. Adaptive over the broker's log (a `NowaitCoordinatorLog`): while requests come one per
  turn (one producer's transaction, one committer) each is written at once, so a lone writer never waits for
  the end of a turn; the second request of a turn switches the context to coalescing until a flush carries a
  single request again (Kafka 4.1's adaptive `append.linger.ms=-1` likewise flushes when nothing else is queued).
- Write-then-replay (Kafka's runtime: records first, state from the records): `ShardContext.write` appends
  records and, once they are durable (acknowledged by the ISR), replays exactly those records into the shard at
  their offsets through `CoordinatorShard.replay`, the code a load runs; `write_marker` appends a transaction
  marker and then replays it (`replay_end_transaction`). A failed write changes no state. So the state a shard
  builds while serving equals the state a reload of its log builds.
- Log order is request order: every append, a background write (`ShardContext.append_in_background`) too,
  takes its place in the write queue when it is requested, and the queue goes to the log in that order. Without
  this a record computed before a tombstone (a group that became Empty, then DeleteGroups in the same loop turn)
  could land after it and revive the group on the next load.
- Timers (`CoordinatorTimer`, keyed: scheduling a key again replaces its timer) run on the injected `Time`, so
  tests advance a MockTime; all of a partition's timers die with its shard.
- Background writes (`ShardContext.spawn`) are tracked tasks: their failures are logged, `wait_idle` awaits
  them, `close()` cancels them. No task is created without a reference.

Invariants: a partition is in at most one of loading / loaded; a loaded partition has exactly one shard; no timer
of a partition survives its resignation.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, runtime_checkable

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.utils.time import Time, TimerHandle

log = logging.getLogger("odradek.broker.coordinator")

Record = tuple[bytes, bytes | None]
"""A record of an internal topic: (key, value); value None is a tombstone."""

NO_PRODUCER_ID = -1


class LogEntry(NamedTuple):
    """One record of an internal topic as read back: (offset, key, value) first, so that a plain record still
    reads as the triple it was before transactions (a NamedTuple rather than a dataclass for that reason).

    `producer_id`/`producer_epoch` are the batch's (-1 if none); `transactional` marks a record of a transaction,
    pending until a marker of its producer; `control` is None for a data record, True for a COMMIT marker and
    False for an ABORT marker (key and value are then None)."""

    offset: int
    key: bytes | None
    value: bytes | None
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = -1
    transactional: bool = False
    control: bool | None = None


@dataclass(frozen=True, slots=True)
class TxnProducer:
    """The producer a transactional write is made for (Kafka's TxnOffsetCommit batches carry it)."""

    producer_id: int
    producer_epoch: int


class CoordinatorLog(Protocol):
    """A coordinator's internal topic (wired by app.py over the replica manager)."""

    async def append(
        self, partition: int, records: Sequence[Record], producer: TxnProducer | None = None
    ) -> tuple[ErrorCode, int]:
        """Append (key, value) records (value None = tombstone) as one batch and wait for the ISR; (error, last
        offset). With `producer`, the batch is transactional for that producer id and epoch.

        The append itself happens before the first suspension, so appends keep the order of the calls."""
        ...

    async def append_marker(
        self, partition: int, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool
    ) -> tuple[ErrorCode, int]:
        """Append a transaction marker (a COMMIT or ABORT control batch) and wait for the ISR; (error, offset)."""
        ...

    def read(self, partition: int) -> Iterator[LogEntry]:
        """Every record and transaction marker of the partition up to its high watermark, in offset order."""
        ...


AppendOutcome = tuple[ErrorCode, int] | asyncio.Future[tuple[ErrorCode, int]]
"""What a `NowaitCoordinatorLog` append gives: (error, last offset) when final, else the future of it."""


@runtime_checkable
class NowaitCoordinatorLog(Protocol):
    """A CoordinatorLog that can also append without a coroutine (the broker's PartitionRecordLog): the batch is
    in the log when the call returns, and the outcome is final at once when no replica has to acknowledge it.
    The runtime's flush then runs as a plain callback and answers the requests in the same turn."""

    def append_nowait(
        self, partition: int, records: Sequence[Record], producer: TxnProducer | None = None
    ) -> AppendOutcome: ...

    def append_marker_nowait(
        self, partition: int, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool
    ) -> AppendOutcome: ...


class CoordinatorError(Exception):
    """A request cannot be served by this coordinator; `error` is what the client gets."""

    def __init__(self, error: ErrorCode) -> None:
        super().__init__(error.name)
        self.error = error


class CoordinatorShard(Protocol):
    """The state of one partition (Kafka's CoordinatorShard). During a load `replay` and
    `replay_end_transaction` run in a worker thread on a shard nobody else sees yet; after it (write-then-replay)
    on the event loop. `on_loaded` and `on_unloaded` run on the event loop.

    `replay` gets the producer id of a transactional record (NO_PRODUCER_ID for a plain one): such a record is
    pending until `replay_end_transaction` of its producer (commit True: it takes effect; False: it is dropped)."""

    def replay(self, offset: int, producer_id: int, key: bytes, value: bytes | None) -> None: ...

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None: ...

    def on_loaded(self) -> None: ...

    def on_unloaded(self) -> None: ...


ShardT = TypeVar("ShardT", bound=CoordinatorShard)


class CoordinatorTimer:
    """A partition's timers by key (Kafka's CoordinatorTimer): `schedule` replaces the key's timer, a timer
    forgets its key when it fires, `cancel_all` runs on resignation."""

    def __init__(self, time: Time) -> None:
        self._time = time
        self._timers: dict[Hashable, tuple[TimerHandle, float]] = {}

    def schedule(self, key: Hashable, delay_ms: float, callback: Callable[..., object], *args: Any) -> None:
        self.cancel(key)
        handle = self._time.call_later(delay_ms, self._fire, key, callback, args)
        self._timers[key] = (handle, self._time.monotonic_ms() + max(delay_ms, 0.0))

    def _fire(self, key: Hashable, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self._timers.pop(key, None)
        callback(*args)

    def cancel(self, key: Hashable) -> None:
        entry = self._timers.pop(key, None)
        if entry is not None:
            entry[0].cancel()

    def is_scheduled(self, key: Hashable) -> bool:
        return key in self._timers

    def deadline(self, key: Hashable) -> float | None:
        """The monotonic time (ms) the key's timer fires at, or None."""
        entry = self._timers.get(key)
        return None if entry is None else entry[1]

    def cancel_all(self) -> None:
        for handle, _ in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def __len__(self) -> int:
        return len(self._timers)


class PartitionStatus(enum.Enum):
    LOADING = "loading"
    ACTIVE = "active"


@dataclass(eq=False, slots=True)
class _Write:
    """One append requested from a context and not in the log yet (an entry of its write queue).

    Plain records (`producer` and `marker` None) share a batch with the plain records queued next to them; a
    transactional batch or a marker is a batch of its own. `replay`: the records (or the marker) are replayed
    into the shard once durable (`ShardContext.write`/`write_marker`). `waiter` gets (error, last offset of these
    records); a background write has none and `description` names it in the log if it fails."""

    records: Sequence[Record]
    replay: bool
    waiter: asyncio.Future[tuple[ErrorCode, int]] | None
    producer: TxnProducer | None = None
    marker: tuple[int, int, int, bool] | None = None  # producer id, producer epoch, coordinator epoch, commit
    description: str = ""


@dataclass(eq=False)
class ShardContext:
    """What a shard may use of the runtime: its partition, the clock, timers, appends and background writes.

    Appends are coalesced (Kafka's CoordinatorRuntime batches the records of its write operations): every append
    requested in one event-loop turn joins the context's write queue, and one task (the flush, started by the
    first of them, run after the rest of the turn) writes the queue to the log in request order, the plain
    records of consecutive requests as ONE batch. Each request is answered when its batch is durable (the log's
    acks=all), with the last offset of its own records; a failed batch fails every request in it, and a context
    that lost its partition before the flush fails them all with NOT_LEADER_OR_FOLLOWER."""

    partition: int
    leader_epoch: int
    time: Time
    timer: CoordinatorTimer
    _runtime: CoordinatorRuntime[Any] = field(repr=False)
    # Appends requested and not handed to the log yet, in request order (their place in the log).
    _queue: list[_Write] = field(default_factory=list, repr=False)
    _flush_pending: bool = field(default=False, repr=False)
    # Adaptive coalescing (over a NowaitCoordinatorLog): while requests come one per turn, each is written at once
    # (no wait for the end of the turn); a second request in a turn that already wrote one at once is queued, and
    # from then on the first of each turn too, until a flush carries a single request again.
    _direct: bool = field(default=True, repr=False)
    _wrote_this_turn: bool = field(default=False, repr=False)
    _switched: bool = field(default=False, repr=False)

    @property
    def active(self) -> bool:
        """This context still owns its partition (elected and not resigned since)."""
        return self._runtime._contexts.get(self.partition) is self

    async def append(self, records: Sequence[Record]) -> tuple[ErrorCode, int]:
        """Append plain records (after the records requested before them); (error, last offset of these
        records). No records: nothing is appended, (NONE, -1) once the appends requested before are written."""
        return await self._request(_Write(records, False, None))

    def append_in_background(self, records: Sequence[Record], description: str) -> None:
        """Append `records` without waiting: they take their place in the log now (see the module docstring);
        a failure is logged."""
        if self.active:
            self._enqueue(_Write(list(records), False, None, description=f"{description} (partition {self.partition})"))

    async def write(self, records: Sequence[Record], producer: TxnProducer | None = None) -> tuple[ErrorCode, int]:
        """Append `records` (transactional for `producer` if given: a batch of its own) and, once durable, replay
        them into the shard at their offsets; (error, last offset). A failed append replays nothing."""
        return await self._request(_Write(records, True, None, producer))

    async def write_marker(
        self, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool
    ) -> tuple[ErrorCode, int]:
        """Append the transaction marker of `producer_id` and, once durable, replay it into the shard."""
        return await self._request(
            _Write((), True, None, marker=(producer_id, producer_epoch, coordinator_epoch, commit))
        )

    def spawn(self, write: Coroutine[Any, Any, None], description: str) -> None:
        """Run `write` in the background, tracked by the runtime (errors are logged, close() cancels it)."""
        self._runtime._spawn(write, f"{description} (partition {self.partition})")

    # ---- the write queue ----------------------------------------------------------------------------------

    async def _request(self, write: _Write) -> tuple[ErrorCode, int]:
        if not self.active:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER, -1
        if not write.records and write.marker is None and not self._queue:
            return ErrorCode.NONE, -1
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[ErrorCode, int]] = loop.create_future()
        write.waiter = waiter
        nowait = self._runtime._nowait
        if nowait is not None and not self._flush_pending:
            if self._wrote_this_turn:
                self._switched = True  # two requests in one turn: coalesce from the flush of this one on
            elif self._direct and self._runtime.direct_writes:
                self._wrote_this_turn = True
                loop.call_soon(self._turn_ended)
                self._queue.append(write)
                self._flush_nowait(nowait)  # the answer is usually there at once: the await does not suspend
                return await waiter
        self._enqueue(write)
        return await waiter

    def _turn_ended(self) -> None:
        self._wrote_this_turn = False

    def _enqueue(self, write: _Write) -> None:
        self._queue.append(write)
        if not self._flush_pending:
            self._flush_pending = True
            if self._runtime._nowait is not None:
                asyncio.get_running_loop().call_soon(self._flush_nowait, self._runtime._nowait)
            else:
                self._runtime._spawn(self._flush(), f"appending to partition {self.partition}")

    def _take_runs(self) -> list[list[_Write]] | None:
        """The queue as batches (consecutive plain writes together), emptied; None (every request answered
        NOT_LEADER_OR_FOLLOWER) if this context no longer owns its partition."""
        self._flush_pending = False
        queue, self._queue = self._queue, []
        if not self.active:
            _answer(queue, ErrorCode.NOT_LEADER_OR_FOLLOWER, -1)
            return None
        runs: list[list[_Write]] = []
        for write in queue:
            plain = write.producer is None and write.marker is None
            if plain and runs and runs[-1][0].producer is None and runs[-1][0].marker is None:
                runs[-1].append(write)
            else:
                runs.append([write])
        return runs

    def _flush_nowait(self, log_: NowaitCoordinatorLog) -> None:
        """The flush over a NowaitCoordinatorLog, as a callback: every batch appended now in queue order; the
        requests of a batch whose outcome is final are answered (and replayed) at once, the others when their
        acknowledgement arrives."""
        # A flush of one request (not the one that switched to coalescing): back to writing at once.
        self._direct = len(self._queue) == 1 and not self._switched
        self._switched = False
        runs = self._take_runs()
        for run in runs or ():
            first = run[0]
            try:
                if first.marker is not None:
                    outcome = log_.append_marker_nowait(self.partition, *first.marker)
                else:
                    records = _batch_records(run)
                    if not records:
                        outcome = (ErrorCode.NONE, -1)
                    elif first.producer is None:
                        outcome = log_.append_nowait(self.partition, records)
                    else:
                        outcome = log_.append_nowait(self.partition, records, first.producer)
            except Exception:
                log.exception("%s: appending to partition %d failed", self._runtime.name, self.partition)
                _answer(run, ErrorCode.NOT_LEADER_OR_FOLLOWER, -1)
                continue
            if isinstance(outcome, tuple):
                self._complete(run, *outcome)
            else:
                self._runtime._acks.add(outcome)
                outcome.add_done_callback(functools.partial(self._acknowledged, run))

    def _acknowledged(self, run: list[_Write], outcome: asyncio.Future[tuple[ErrorCode, int]]) -> None:
        self._runtime._acks.discard(outcome)
        if outcome.cancelled():
            _answer(run, ErrorCode.NOT_LEADER_OR_FOLLOWER, -1)
        elif (exc := outcome.exception()) is not None:
            log.error("%s: appending to partition %d failed", self._runtime.name, self.partition, exc_info=exc)
            _answer(run, ErrorCode.NOT_LEADER_OR_FOLLOWER, -1)
        else:
            self._complete(run, *outcome.result())

    async def _flush(self) -> None:
        """The flush over a plain CoordinatorLog, as a task: the queue (its state when this task runs: the
        requests of the turn that started it, and any made since) to the log in request order, then each request
        answered."""
        runs = self._take_runs()
        if not runs:
            return
        # Each batch goes into the log before the first suspension of its append (CoordinatorLog.append), so
        # starting them in queue order keeps that order in the log; their acknowledgements are awaited together.
        if len(runs) == 1:
            await self._write_run(runs[0])
        else:
            await asyncio.gather(*(self._write_run(run) for run in runs))

    async def _write_run(self, run: list[_Write]) -> None:
        """One batch: the plain records of `run`, or its one transactional batch or marker. Whatever happens (a
        cancelled flush, an exception from the log), every request of the run is answered."""
        try:
            error, last_offset = await self._append_run(run)
        except BaseException:
            _answer(run, ErrorCode.NOT_LEADER_OR_FOLLOWER, -1)
            raise
        self._complete(run, error, last_offset)

    def _complete(self, run: list[_Write], error: ErrorCode, last_offset: int) -> None:
        """The log's answer for the batch of `run`: replayed and answered, or every request failed."""
        if error is ErrorCode.NONE:
            self._replay(run, last_offset)
            return
        for write in run:
            if write.description:
                log.warning("%s: background write failed: %s: %s", self._runtime.name, write.description, error.name)
        _answer(run, error, -1)

    async def _append_run(self, run: list[_Write]) -> tuple[ErrorCode, int]:
        first, log_ = run[0], self._runtime.log
        if first.marker is not None:
            return await log_.append_marker(self.partition, *first.marker)
        records = _batch_records(run)
        if not records:
            return ErrorCode.NONE, -1
        if first.producer is None:
            return await log_.append(self.partition, records)
        return await log_.append(self.partition, records, first.producer)

    def _replay(self, run: list[_Write], last_offset: int) -> None:
        """Replay the durable writes of `run` (its batch ends at `last_offset`) and answer each request with the
        last offset of its own records."""
        shard = self._runtime._published_shard(self)
        offset = last_offset - sum(len(write.records) for write in run) + 1
        for write in run:
            if write.marker is not None:
                if shard is not None:
                    shard.replay_end_transaction(write.marker[0], write.marker[3])
                mine = last_offset
            else:
                if write.replay and shard is not None:
                    producer_id = NO_PRODUCER_ID if write.producer is None else write.producer.producer_id
                    for i, (key, value) in enumerate(write.records):
                        shard.replay(offset + i, producer_id, key, value)
                offset += len(write.records)
                mine = offset - 1 if write.records else -1
            if write.waiter is not None and not write.waiter.done():
                write.waiter.set_result((ErrorCode.NONE, mine))


def _batch_records(run: list[_Write]) -> Sequence[Record]:
    """The records of one batch: a run's plain writes together (or its one transactional write's)."""
    return run[0].records if len(run) == 1 else [r for write in run for r in write.records]


def _answer(writes: list[_Write], error: ErrorCode, last_offset: int) -> None:
    for write in writes:
        if write.waiter is not None and not write.waiter.done():
            write.waiter.set_result((error, last_offset))


@dataclass(eq=False)
class _Partition(Generic[ShardT]):
    context: ShardContext
    status: PartitionStatus = PartitionStatus.LOADING
    shard: ShardT | None = None
    load: asyncio.Task[None] | None = None


class CoordinatorRuntime(Generic[ShardT]):
    def __init__(self, name: str, log: CoordinatorLog, time: Time, new_shard: Callable[[ShardContext], ShardT]) -> None:
        self.name = name
        self.log = log
        self.time = time
        self._new_shard = new_shard
        self._partitions: dict[int, _Partition[ShardT]] = {}
        self._contexts: dict[int, ShardContext] = {}
        self._background: set[asyncio.Task[None]] = set()
        # A log that appends without a coroutine: flushes are callbacks; their acknowledgements still awaited.
        self._nowait = log if isinstance(log, NowaitCoordinatorLog) else None
        self.direct_writes = True  # adaptive coalescing (ShardContext); False: every request waits for the turn's end
        self._acks: set[asyncio.Future[tuple[ErrorCode, int]]] = set()
        # (monotonic ms when finished, duration ms) of the last loads, for the partition-load-time metrics
        self._load_times: deque[tuple[float, float]] = deque(maxlen=256)

    # ---- ownership --------------------------------------------------------------------------------------

    def on_elected(self, partition: int, leader_epoch: int = -1) -> None:
        """This broker leads `partition`: load it in the background (a repeated or stale election is a no-op)."""
        current = self._partitions.get(partition)
        if current is not None:
            current.context.leader_epoch = max(current.context.leader_epoch, leader_epoch)
            return
        context = ShardContext(partition, leader_epoch, self.time, CoordinatorTimer(self.time), self)
        entry: _Partition[ShardT] = _Partition(context)
        self._partitions[partition] = entry
        self._contexts[partition] = context
        entry.load = asyncio.get_running_loop().create_task(self._load(entry))

    def on_resigned(self, partition: int, leader_epoch: int | None = None) -> None:
        """Another broker leads `partition` (epoch given) or it is gone (None): unload its shard."""
        entry = self._partitions.get(partition)
        if entry is None:
            return
        if leader_epoch is not None and entry.context.leader_epoch >= 0 and leader_epoch <= entry.context.leader_epoch:
            return  # a stale resignation, older than the election we serve
        self._unload(entry)

    def _unload(self, entry: _Partition[ShardT]) -> None:
        partition = entry.context.partition
        del self._partitions[partition]
        del self._contexts[partition]
        if entry.load is not None and not entry.load.done():
            entry.load.cancel()
        if entry.shard is not None:
            entry.shard.on_unloaded()
        entry.context.timer.cancel_all()  # after on_unloaded, which may still touch timers
        log.info("%s resigned partition %d", self.name, partition)

    async def _load(self, entry: _Partition[ShardT]) -> None:
        partition = entry.context.partition
        started = self.time.monotonic_ms()
        try:
            shard = self._new_shard(entry.context)
            # Reading and decoding the partition is file I/O: a worker thread, not the event loop. The shard is
            # not published yet, so nothing else touches it meanwhile.
            count = await asyncio.to_thread(self._replay, shard, partition)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: loading partition %d failed", self.name, partition)
            if self._partitions.get(partition) is entry:
                self._unload(entry)
            return
        finally:
            entry.load = None
        if self._partitions.get(partition) is not entry:
            return  # resigned while loading (cancellation normally stops us first): drop what was read
        entry.shard = shard
        entry.status = PartitionStatus.ACTIVE
        finished = self.time.monotonic_ms()
        self._load_times.append((finished, finished - started))
        shard.on_loaded()
        log.log(
            logging.INFO if count else logging.DEBUG, "%s loaded partition %d: %d records", self.name, partition, count
        )

    def _replay(self, shard: ShardT, partition: int) -> int:
        count = 0
        for entry in self.log.read(partition):
            if entry.control is not None:
                shard.replay_end_transaction(entry.producer_id, entry.control)
            elif entry.key is not None:
                producer_id = entry.producer_id if entry.transactional else NO_PRODUCER_ID
                shard.replay(entry.offset, producer_id, entry.key, entry.value)
            else:
                continue
            count += 1
        return count

    def recent_load_times(self, window_ms: float) -> tuple[float, ...]:
        """Durations (ms) of the loads that finished in the last `window_ms` (any thread: a copy is taken)."""
        now = self.time.monotonic_ms()
        return tuple(duration for finished, duration in list(self._load_times) if now - finished <= window_ms)

    def _published_shard(self, context: ShardContext) -> ShardT | None:
        """The loaded shard of `context`'s partition while `context` still owns it."""
        entry = self._partitions.get(context.partition)
        if entry is None or entry.context is not context:
            return None
        return entry.shard

    # ---- access -----------------------------------------------------------------------------------------

    def shard(self, partition: int) -> ShardT:
        """The loaded shard of `partition`; CoordinatorError LOAD_IN_PROGRESS while loading, else NOT_COORDINATOR."""
        entry = self._partitions.get(partition)
        if entry is None:
            raise CoordinatorError(ErrorCode.NOT_COORDINATOR)
        if entry.shard is None:
            raise CoordinatorError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        return entry.shard

    def shards(self) -> list[ShardT]:
        """Every loaded shard, by partition."""
        return [e.shard for _, e in sorted(self._partitions.items()) if e.shard is not None]

    def context(self, partition: int) -> ShardContext | None:
        return self._contexts.get(partition)

    @property
    def loaded(self) -> frozenset[int]:
        return frozenset(p for p, e in self._partitions.items() if e.status is PartitionStatus.ACTIVE)

    @property
    def loading(self) -> frozenset[int]:
        return frozenset(p for p, e in self._partitions.items() if e.status is PartitionStatus.LOADING)

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(self._partitions)

    # ---- background writes ------------------------------------------------------------------------------

    def _spawn(self, write: Coroutine[Any, Any, None], description: str) -> None:
        task = asyncio.get_running_loop().create_task(write)
        self._background.add(task)
        task.add_done_callback(lambda done: self._write_done(done, description))

    def _write_done(self, task: asyncio.Task[None], description: str) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: background write failed: %s", self.name, description, exc_info=task.exception())

    @property
    def background_writes(self) -> int:
        return len(self._background)

    # ---- lifecycle --------------------------------------------------------------------------------------

    async def wait_loaded(self) -> None:
        """Wait for the loads in progress."""
        loads = [e.load for e in self._partitions.values() if e.load is not None]
        await asyncio.gather(*loads, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Wait for the loads and background writes in progress (including writes they start)."""
        while True:
            pending: list[asyncio.Future[Any]] = [e.load for e in self._partitions.values() if e.load is not None]
            pending += list(self._background)
            pending += list(self._acks)
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    def close(self) -> None:
        """Resign every partition and cancel the background writes and the waits for acknowledgements."""
        for entry in list(self._partitions.values()):
            self._unload(entry)
        for task in list(self._background):
            task.cancel()
        for ack in list(self._acks):  # their requests are answered NOT_LEADER_OR_FOLLOWER (_acknowledged)
            ack.cancel()
