"""One partition replica on this broker: its log, its role, and the high watermark.

State kept per partition (Kafka's `Partition`):
- `leader_id`, `leader_epoch`, `partition_epoch`, `replicas`, `isr`: from the cluster metadata;
- the log end offset (LEO) of each ISR member: the leader's own from its log, followers' from their fetches
  (replication comes in a later issue; today the ISR is the leader alone);
- the high watermark (HW) = the smallest LEO in the ISR, never moving backwards. Consumers read below it and
  acks=all produce requests complete when it passes their last offset.

Waiting is event-driven: `wait_for_hw(offset)` returns a future completed when the HW moves past the offset, and
`new_data_future()` one completed at the next HW move; nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from odradek.broker.log.log import Log
from odradek.broker.protocol.errors import ErrorCode


class PartitionError(Exception):
    def __init__(self, error_code: ErrorCode, message: str = "") -> None:
        super().__init__(message or error_code.name)
        self.error_code = error_code
        self.message = message


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
    _follower_leo: dict[int, int] = field(default_factory=dict)
    _hw_waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)
    _data_waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.high_watermark = min(self.high_watermark or self.log.log_end_offset, self.log.log_end_offset)
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
        """No transactions yet: the LSO is the HW (transactions come in a later issue)."""
        return self.high_watermark

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

    def maybe_advance_high_watermark(self) -> bool:
        leos = [self.log.log_end_offset if r == self.node_id else self._follower_leo.get(r, 0) for r in self.state.isr]
        candidate = min(leos) if leos else self.log.log_end_offset
        if candidate <= self.high_watermark:
            return False
        self.high_watermark = candidate
        self.log.update_high_watermark(candidate)
        self._complete_waiters()
        return True

    def record_follower_fetch(self, replica_id: int, fetch_offset: int) -> None:
        self._follower_leo[replica_id] = fetch_offset
        self.maybe_advance_high_watermark()

    def wait_for_hw(self, offset: int) -> asyncio.Future[None]:
        """A future completed once the HW is above `offset` (the last offset of an acks=all append)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.high_watermark > offset:
            future.set_result(None)
        else:
            self._hw_waiters.append((offset, future))
        return future

    def new_data_future(self) -> asyncio.Future[None]:
        """A future completed at the next HW move (a fetch long-poll waits on these)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._data_waiters.append(future)
        return future

    def discard_waiter(self, future: asyncio.Future[None]) -> None:
        """Forget a new-data waiter that timed out, so idle long-polls do not pile up futures."""
        future.cancel()
        with contextlib.suppress(ValueError):
            self._data_waiters.remove(future)

    @property
    def waiter_count(self) -> int:
        return len(self._data_waiters) + len(self._hw_waiters)

    def _complete_waiters(self) -> None:
        still: list[tuple[int, asyncio.Future[None]]] = []
        for offset, future in self._hw_waiters:
            if future.done():
                continue
            if self.high_watermark > offset:
                future.set_result(None)
            else:
                still.append((offset, future))
        self._hw_waiters = still
        waiters, self._data_waiters = self._data_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    def fail_waiters(self, error: ErrorCode) -> None:
        """Leadership lost or partition deleted: every waiter learns it now rather than at its timeout."""
        waiters: Sequence[asyncio.Future[None]] = [f for _, f in self._hw_waiters] + self._data_waiters
        self._hw_waiters, self._data_waiters = [], []
        for future in waiters:
            if not future.done():
                future.set_exception(PartitionError(error))
