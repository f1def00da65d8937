"""One partition replica on this broker: its log, its role, the followers' progress and the ISR.

State kept per partition (Kafka's `Partition`):
- `state` (`PartitionState`): leader, leader epoch, partition epoch, replicas and ISR from the cluster metadata;
- on the leader, one `ReplicaState` per follower (Kafka's `Replica`): its log end offset (LEO) from its last fetch,
  the time it was last caught up, and the leader's LEO and the time at its previous fetch;
- `pending_isr`: an ISR change sent to the controller (AlterPartition) and not yet answered (Kafka's
  PendingExpandIsr/PendingShrinkIsr). The "maximal ISR" is the ISR plus a pending expansion: HW decisions and
  acks=all count a replica being added at once, and a replica being removed until the removal is committed;
- the high watermark (HW): owned by the log (`Log.high_watermark`, checkpointed in
  replication-offset-checkpoint); a leader moves it to min LEO over the maximal ISR, never backwards; a follower
  sets it to min(leader's HW, own LEO) from each fetch response.

ISR rules (Kafka's): a follower is added when its LEO reaches the HW and the start of the current leader epoch
(`maybe_expand_isr`, on each of its fetches); a follower is removed when it has not been caught up to the leader's
LEO for `replica.lag.time.max.ms` (`maybe_shrink_isr`, the replica manager's isr-expiration timer). Both go through
`isr_changes` (the replica manager, which sends AlterPartition); the answer comes back as `apply_alter_result`.

Nothing waits here: the partition tells its `delayed_operations` (the replica manager) what moved after an
append or a high-watermark advance (`OffsetMove`), and the replica manager completes the delayed produces and
fetches watching it (replication/purgatory.py).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from odradek.broker.log.log import Log, LogAppendInfo
from odradek.broker.log.producer_state import AppendOrigin as LogAppendOrigin
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.batch import read_header

UNKNOWN_OFFSET = -1  # a follower's LEO before its first fetch in this leader epoch (Kafka's UnknownOffset)


class PartitionError(Exception):
    def __init__(self, error_code: ErrorCode, message: str = "") -> None:
        super().__init__(message or error_code.name)
        self.error_code = error_code
        self.message = message


class OffsetMove:
    """Bits of the offsets an event moved on a partition (each wakes the waits bounded by it). Plain ints rather
    than an enum.Flag: these are combined and tested on every append, where Flag operators cost microseconds."""

    NONE = 0
    LOG_END = 1
    HIGH_WATERMARK = 2
    LAST_STABLE_OFFSET = 4


class DelayedOperations(Protocol):
    def offsets_moved(self, partition: Partition, moved: int) -> None:
        """`moved`: OffsetMove bits."""


class IsrChanges(Protocol):
    def alter_isr(self, partition: Partition, new_isr: tuple[int, ...]) -> None:
        """Send AlterPartition for `partition` (its `pending_isr` is set); the answer comes back through
        `Partition.apply_alter_result`."""

    def is_isr_eligible(self, broker_id: int) -> bool:
        """Whether `broker_id` may join an ISR: registered, not fenced, not in controlled shutdown (Kafka's
        Partition.isReplicaIsrEligible, KIP-841)."""


@dataclass(slots=True)
class PartitionState:
    """The metadata-controlled part of a replica's state."""

    leader_id: int
    leader_epoch: int
    partition_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(slots=True)
class ReplicaState:
    """A follower as its leader sees it (Kafka's Replica/ReplicaState); times are monotonic ms."""

    log_end_offset: int = UNKNOWN_OFFSET
    last_caught_up_time_ms: float = 0.0
    last_fetch_leader_log_end_offset: int = UNKNOWN_OFFSET
    last_fetch_time_ms: float = 0.0

    def is_caught_up(self, leader_log_end_offset: int, now_ms: float, lag_time_max_ms: int) -> bool:
        return leader_log_end_offset == self.log_end_offset or now_ms - self.last_caught_up_time_ms <= lag_time_max_ms


@dataclass(frozen=True, slots=True)
class PendingIsr:
    """An AlterPartition in flight: the ISR asked for, at the partition epoch it was asked from."""

    isr: tuple[int, ...]
    partition_epoch: int
    leader_epoch: int


@dataclass(slots=True)
class Partition:
    topic: str
    index: int
    topic_id: uuid.UUID
    node_id: int
    log: Log
    state: PartitionState
    delayed_operations: DelayedOperations | None = None
    isr_changes: IsrChanges | None = None
    pending_isr: PendingIsr | None = None
    leader_epoch_start_offset: int = 0
    # The leader epoch made here whose checkpoint write (the replica manager's, in a worker thread) has not ended:
    # until it has, appends are refused NOT_LEADER_OR_FOLLOWER (retriable), so no record of the epoch reaches the
    # log, and a flush past it the recovery point, before the epoch's start offset is on disk.
    leader_epoch_unwritten: int | None = None
    _replicas: dict[int, ReplicaState] = field(default_factory=dict)
    # Held by the replica fetcher's truncation (in a worker thread) and by the replica manager while it makes this
    # replica leader (Kafka's leaderIsrUpdateLock): a leader epoch starts at the log end only once a truncation in
    # flight is done, so it never points above the truncated log.
    leader_isr_update_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # The log owns the HW; pinning it here stops it following the log end offset (a restarted replica's HW
        # is its checkpointed one, clamped by the log to [log start, log end]).
        self.log.update_high_watermark(self.log.high_watermark)

    @property
    def is_leader(self) -> bool:
        return self.state.leader_id == self.node_id

    @property
    def high_watermark(self) -> int:
        return self.log.high_watermark

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def last_stable_offset(self) -> int:
        """The log's last stable offset: min(first unstable offset, HW); the HW while no transaction is open."""
        return self.log.last_stable_offset

    @property
    def maximal_isr(self) -> tuple[int, ...]:
        """The ISR plus a pending expansion (a pending shrink counts only once committed)."""
        pending = self.pending_isr
        if pending is None:
            return self.state.isr
        return self.state.isr + tuple(r for r in pending.isr if r not in self.state.isr)

    # ---- transitions ---------------------------------------------------------------------------------------

    def make_leader(self, state: PartitionState, now_ms: float) -> None:
        """Kafka's makeLeader: followers' LEOs are unknown until they fetch in this epoch; ISR members count as
        caught up now (so they are not removed before they could fetch); the epoch starts at the log end."""
        self.state = state
        self.pending_isr = None
        self.leader_epoch_start_offset = self.log.log_end_offset
        self._replicas = {
            r: ReplicaState(last_caught_up_time_ms=now_ms if r in state.isr else 0.0)
            for r in state.replicas
            if r != self.node_id
        }
        self.maybe_advance_high_watermark()

    def make_follower(self, state: PartitionState) -> None:
        """Kafka's makeFollower: no follower tracking, no pending ISR change."""
        self.state = state
        self.pending_isr = None
        self._replicas = {}

    def update_state(self, state: PartitionState, now_ms: float = 0.0) -> None:
        """A new partition record for the same role and leader epoch (ISR, replicas or partition epoch moved). A
        record older than the state applied (an image from before this leader's AlterPartition was answered) is
        ignored, as Kafka ignores a stale partition epoch."""
        if state.leader_epoch == self.state.leader_epoch and state.partition_epoch < self.state.partition_epoch:
            return
        self.state = state
        pending = self.pending_isr
        if pending is not None and state.partition_epoch > pending.partition_epoch:
            self.pending_isr = None  # the controller decided (our change, or another that replaced it)
        if self.is_leader:
            for r in state.replicas:
                if r != self.node_id and r not in self._replicas:
                    self._replicas[r] = ReplicaState()
            for r in [r for r in self._replicas if r not in state.replicas]:
                del self._replicas[r]
            self.maybe_advance_high_watermark()

    def check_leader_epoch(self, current_leader_epoch: int) -> None:
        """KIP-320 fencing: -1 means the client does not know the epoch."""
        if current_leader_epoch < 0 or current_leader_epoch == self.state.leader_epoch:
            return
        if current_leader_epoch < self.state.leader_epoch:
            raise PartitionError(ErrorCode.FENCED_LEADER_EPOCH)
        raise PartitionError(ErrorCode.UNKNOWN_LEADER_EPOCH)

    def require_leader(self) -> None:
        if not self.is_leader:
            raise PartitionError(ErrorCode.NOT_LEADER_OR_FOLLOWER)

    # ---- leader: appends, HW, followers --------------------------------------------------------------------

    def append_records_as_leader(self, records: bytearray, coordinator: bool = False) -> LogAppendInfo:
        """Append validated records at the leader epoch, advance the HW if the ISR allows, and report what moved.
        `coordinator`: written by a coordinator (markers), which the producer-state checks do not refuse."""
        if self.leader_epoch_unwritten is not None:
            raise PartitionError(ErrorCode.NOT_LEADER_OR_FOLLOWER, "becoming leader: its leader epoch is being written")
        stable = self.last_stable_offset
        origin = LogAppendOrigin.COORDINATOR if coordinator else LogAppendOrigin.CLIENT
        info = self.log.append_as_leader(records, self.state.leader_epoch, origin=origin)
        self._report(OffsetMove.LOG_END | self._advance_high_watermark(), stable)
        return info

    def maybe_advance_high_watermark(self) -> bool:
        stable = self.last_stable_offset
        moved = self._advance_high_watermark()
        self._report(moved, stable)
        return bool(moved)

    def check_enough_replicas_reach_offset(self, required_offset: int) -> ErrorCode | None:
        """An acks=all append ending before `required_offset`: None while the HW is below it, else its answer
        (Kafka's Partition.checkEnoughReplicasReachOffset, over the maximal ISR)."""
        if not self.is_leader:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if self.high_watermark < required_offset:
            return None
        if len(self.maximal_isr) < self.log.config.min_insync_replicas:
            return ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
        return ErrorCode.NONE

    def is_replica(self, replica_id: int) -> bool:
        return replica_id in self._replicas

    def update_follower_fetch_state(
        self, replica_id: int, fetch_offset: int, leader_log_end_offset: int, now_ms: float
    ) -> None:
        """A follower fetched from `fetch_offset` while the leader's LEO was `leader_log_end_offset` (Kafka's
        Replica.updateFetchStateOrThrow, then maybeExpandIsr and, if the follower's LEO changed,
        maybeIncrementLeaderHW)."""
        replica = self._replicas.get(replica_id)
        if replica is None:
            raise PartitionError(ErrorCode.NOT_LEADER_OR_FOLLOWER, f"replica {replica_id} is not a replica")
        if fetch_offset >= leader_log_end_offset:
            replica.last_caught_up_time_ms = max(replica.last_caught_up_time_ms, now_ms)
        elif fetch_offset >= replica.last_fetch_leader_log_end_offset:
            replica.last_caught_up_time_ms = max(replica.last_caught_up_time_ms, replica.last_fetch_time_ms)
        moved = replica.log_end_offset != fetch_offset
        replica.log_end_offset = fetch_offset
        replica.last_fetch_leader_log_end_offset = leader_log_end_offset
        replica.last_fetch_time_ms = now_ms
        self.maybe_expand_isr(replica_id)
        if moved:  # Kafka's rule: the HW can only move through this follower when its LEO did (idle fetches skip it)
            self.maybe_advance_high_watermark()

    def record_follower_fetch(self, replica_id: int, fetch_offset: int, now_ms: float = 0.0) -> None:
        """A follower fetched from `fetch_offset` with the leader's LEO as it is now."""
        self.update_follower_fetch_state(replica_id, fetch_offset, self.log.log_end_offset, now_ms)

    def maybe_expand_isr(self, replica_id: int) -> None:
        """Add a follower outside the ISR whose LEO reached the HW and the start of this leader epoch, unless its
        broker may not join an ISR (fenced, shutting down: a broker in its controlled shutdown keeps fetching
        until it stops, and must not come back into the ISRs it was taken out of)."""
        if not self.is_leader or self.pending_isr is not None or self.isr_changes is None:
            return
        if replica_id in self.state.isr:
            return
        replica = self._replicas.get(replica_id)
        if replica is None:
            return
        leo = replica.log_end_offset
        if (
            leo >= self.high_watermark
            and leo >= self.leader_epoch_start_offset
            and self.isr_changes.is_isr_eligible(replica_id)
        ):
            self._send_isr((*self.state.isr, replica_id))

    def out_of_sync_replicas(self, now_ms: float, lag_time_max_ms: int) -> list[int]:
        """ISR followers not caught up to the leader's LEO within the lag time (Kafka's getOutOfSyncReplicas)."""
        leo = self.log.log_end_offset
        return [
            r
            for r in self.state.isr
            if r != self.node_id
            and (replica := self._replicas.get(r)) is not None
            and not replica.is_caught_up(leo, now_ms, lag_time_max_ms)
        ]

    def maybe_shrink_isr(self, now_ms: float, lag_time_max_ms: int) -> bool:
        """Remove the out-of-sync followers from the ISR (through AlterPartition). True if a change was sent."""
        if not self.is_leader or self.pending_isr is not None or self.isr_changes is None:
            return False
        lagging = self.out_of_sync_replicas(now_ms, lag_time_max_ms)
        if not lagging:
            return False
        self._send_isr(tuple(r for r in self.state.isr if r not in lagging))
        return True

    def _send_isr(self, new_isr: tuple[int, ...]) -> None:
        assert self.isr_changes is not None
        self.pending_isr = PendingIsr(new_isr, self.state.partition_epoch, self.state.leader_epoch)
        self.maybe_advance_high_watermark()  # an expansion counts at once
        self.isr_changes.alter_isr(self, new_isr)

    def apply_alter_result(
        self, pending: PendingIsr, error: ErrorCode, isr: tuple[int, ...] = (), partition_epoch: int = -1
    ) -> None:
        """The controller's answer to `pending`: on success the ISR and partition epoch are this leader's at
        once (Kafka applies the AlterPartition response); on an error the pending change is dropped and the next
        fetch or expiration check decides again (after the next image for FENCED_LEADER_EPOCH and
        INVALID_UPDATE_VERSION)."""
        if self.pending_isr != pending:
            return  # answered after a transition or a newer image: no longer ours to apply
        self.pending_isr = None
        if error is ErrorCode.NONE and self.is_leader and partition_epoch > self.state.partition_epoch:
            self.state = PartitionState(
                self.state.leader_id, self.state.leader_epoch, partition_epoch, self.state.replicas, isr
            )
        self.maybe_advance_high_watermark()

    def _advance_high_watermark(self) -> int:
        """Kafka's maybeIncrementLeaderHW: min LEO over the maximal ISR (a follower not fetched yet in this epoch
        holds it), never backwards."""
        if not self.is_leader:
            return OffsetMove.NONE
        candidate = self.log.log_end_offset
        for r in self.maximal_isr:
            if r == self.node_id:
                continue
            replica = self._replicas.get(r)
            leo = UNKNOWN_OFFSET if replica is None else replica.log_end_offset
            candidate = min(candidate, leo)
        if candidate <= self.high_watermark:
            return OffsetMove.NONE
        self.log.update_high_watermark(candidate)
        return OffsetMove.HIGH_WATERMARK

    # ---- follower ------------------------------------------------------------------------------------------

    def append_records_as_follower(
        self, records: bytes | bytearray | memoryview, leader_hw: int
    ) -> LogAppendInfo | None:
        """Append fetched batches (offsets and epochs the leader's), then HW = min(leader's HW, own LEO).
        UnexpectedAppendOffset when the first batch starts below the log end (see `follower_restart_offset`)."""
        info = self.log.append_as_follower(records) if records else None
        self.update_follower_high_watermark(leader_hw)
        return info

    def follower_restart_offset(self, records: bytes | bytearray | memoryview) -> int | None:
        """Where an empty log restarts when the leader's log start is inside the first fetched batch: that
        batch's base offset, as Kafka's Partition.appendRecordsToFollowerOrFutureReplica does (None: the records
        do not start so, and the follower truncates again). The restart is file work: the caller's, off the
        event loop."""
        log = self.log
        header = read_header(records, 0)
        if log.log_end_offset == log.log_start_offset and header.base_offset < log.log_end_offset <= header.last_offset:
            return header.base_offset
        return None

    def update_follower_high_watermark(self, leader_hw: int) -> None:
        if leader_hw >= 0:
            self.log.update_high_watermark(min(leader_hw, self.log.log_end_offset))

    def _report(self, moved: int, stable_before: int) -> None:
        """Tell the delayed operations what moved (the LSO too, if it differs from `stable_before`)."""
        if self.last_stable_offset != stable_before:
            moved |= OffsetMove.LAST_STABLE_OFFSET
        if moved and self.delayed_operations is not None:
            self.delayed_operations.offsets_moved(self, moved)
