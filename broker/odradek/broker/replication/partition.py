"""One partition replica on this broker: its log, its role, and the high watermark.

State kept per partition (Kafka's `Partition`):
- `leader_id`, `leader_epoch`, `partition_epoch`, `replicas`, `isr`: from the cluster metadata;
- the log end offset (LEO) of each ISR member: the leader's own from its log, followers' from their fetches
  (replication comes in a later issue; today the ISR is the leader alone);
- the high watermark (HW) = the smallest LEO in the ISR, never moving backwards. Consumers read below it and
  acks=all produce requests complete when it passes their last offset.

Nothing waits here: the partition tells its `delayed_operations` (the replica manager) what moved after an
append or a high-watermark advance (`OffsetMove`), and the replica manager completes the delayed produces and
fetches watching it (replication/purgatory.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

from odradek.broker.log.log import Log, LogAppendInfo
from odradek.broker.log.producer_state import AppendOrigin as LogAppendOrigin
from odradek.broker.protocol.errors import ErrorCode


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


@dataclass(slots=True)
class PartitionState:
    """The metadata-controlled part of a replica's state."""

    leader_id: int
    leader_epoch: int
    partition_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(slots=True)
class Partition:
    topic: str
    index: int
    topic_id: uuid.UUID
    node_id: int
    log: Log
    state: PartitionState
    high_watermark: int = 0
    delayed_operations: DelayedOperations | None = None
    _follower_leo: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.high_watermark = min(self.high_watermark or self.log.log_end_offset, self.log.log_end_offset)
        self.log.update_high_watermark(self.high_watermark)  # the log's LSO is bounded by this HW from the start
        self.maybe_advance_high_watermark()

    @property
    def is_leader(self) -> bool:
        return self.state.leader_id == self.node_id

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

    def update_state(self, state: PartitionState) -> None:
        self.state = state
        self._follower_leo = {r: leo for r, leo in self._follower_leo.items() if r in state.isr}
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

    def append_records_as_leader(self, records: bytearray, coordinator: bool = False) -> LogAppendInfo:
        """Append validated records at the leader epoch, advance the HW if the ISR allows, and report what moved.
        `coordinator`: written by a coordinator (markers), which the producer-state checks do not refuse."""
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
        (Kafka's Partition.checkEnoughReplicasReachOffset)."""
        if not self.is_leader:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if self.high_watermark < required_offset:
            return None
        if len(self.state.isr) < self.log.config.min_insync_replicas:
            return ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
        return ErrorCode.NONE

    def record_follower_fetch(self, replica_id: int, fetch_offset: int) -> None:
        self._follower_leo[replica_id] = fetch_offset
        self.maybe_advance_high_watermark()

    def _advance_high_watermark(self) -> int:
        leos = [self.log.log_end_offset if r == self.node_id else self._follower_leo.get(r, 0) for r in self.state.isr]
        candidate = min(leos) if leos else self.log.log_end_offset
        if candidate <= self.high_watermark:
            return OffsetMove.NONE
        self.high_watermark = candidate
        self.log.update_high_watermark(candidate)
        return OffsetMove.HIGH_WATERMARK

    def _report(self, moved: int, stable_before: int) -> None:
        """Tell the delayed operations what moved (the LSO too, if it differs from `stable_before`)."""
        if self.last_stable_offset != stable_before:
            moved |= OffsetMove.LAST_STABLE_OFFSET
        if moved and self.delayed_operations is not None:
            self.delayed_operations.offsets_moved(self, moved)
