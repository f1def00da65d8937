"""Survivors of the mutation run after the issue-8 refactor (docs/mutation-testing.md), replication/partition.py:
KIP-320 epoch fencing, the high watermark a replica starts with, follower LEOs kept across metadata updates,
and which offset moves a partition reports. Each test's docstring names the mutants it kills."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import pytest
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.api import AppendOrigin, ProduceEntry
from odradek.broker.replication.partition import OffsetMove, Partition, PartitionError

if TYPE_CHECKING:
    from conftest import Replicas


class Moves:
    """A partition's `delayed_operations` that records the OffsetMove bits it is told."""

    def __init__(self) -> None:
        self.moves: list[int] = []

    def offsets_moved(self, partition: Partition, moved: int) -> None:
        self.moves.append(moved)


def test_partition_error_carries_its_code_and_message() -> None:
    """A PartitionError's text is its message, else the error's name; `message` stays "" when none was given
    (the produce result's error message is then None). Kills the default message "XXXX", `super().__init__(None)`,
    `message and error_code.name` and `self.message = None`."""
    plain = PartitionError(ErrorCode.NOT_LEADER_OR_FOLLOWER)
    assert (str(plain), plain.message, plain.error_code) == ("NOT_LEADER_OR_FOLLOWER", "", plain.error_code)
    explained = PartitionError(ErrorCode.NOT_LEADER_OR_FOLLOWER, "being created")
    assert (str(explained), explained.message) == ("being created", "being created")


def test_a_failed_produce_has_no_error_message_unless_the_partition_gave_one(replicas: Replicas) -> None:
    """UNKNOWN_TOPIC_OR_PARTITION is answered without an error message (kills PartitionError's default message
    "" -> "XXXX", which reached the v8+ produce response)."""

    async def scenario() -> None:
        (result,) = await replicas.manager.produce(
            [ProduceEntry("nope", 0, replicas.batch())], 1, 0, AppendOrigin.CLIENT
        )
        assert (result.error, result.message) == (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("current", "error"),
    [(-1, None), (1, None), (0, ErrorCode.FENCED_LEADER_EPOCH), (2, ErrorCode.UNKNOWN_LEADER_EPOCH)],
)
def test_leader_epoch_fencing(replicas: Replicas, current: int, error: ErrorCode | None) -> None:
    """KIP-320 with the leader at epoch 1: -1 (unknown) and 1 pass, an older epoch, 0 included, is
    FENCED_LEADER_EPOCH and a newer one UNKNOWN_LEADER_EPOCH (kills `current_leader_epoch < 0` -> `<= 0` / `< 1`,
    which let epoch 0 through, and `PartitionError(None)` for the fenced case)."""
    partition = replicas.manager.get_partition("t", 0)
    partition.update_state(dataclasses.replace(partition.state, leader_epoch=1))
    if error is None:
        partition.check_leader_epoch(current)
        return
    with pytest.raises(PartitionError) as raised:
        partition.check_leader_epoch(current)
    assert raised.value.error_code is error


def test_a_replica_starts_with_the_high_watermark_it_is_given_bounded_by_the_log_end(replicas: Replicas) -> None:
    """Partition's initial HW: the log's (its owner: checkpointed, at most the log end), or the log end when the
    log has none (a log dir without replication-offset-checkpoint), even with a follower in the ISR that has not
    fetched yet."""

    async def scenario() -> None:
        await replicas.manager.produce([ProduceEntry("r", 0, replicas.batch(5))], 1, 0, AppendOrigin.CLIENT)

    asyncio.run(scenario())
    existing = replicas.manager.get_partition("r", 0)
    assert existing.log_end_offset == 5 and existing.high_watermark == 0  # the follower has fetched nothing

    def reopened(high_watermark: int | None) -> Partition:
        existing.log.update_high_watermark(high_watermark)  # as LogManager does from the checkpoint
        return Partition("r", 0, existing.topic_id, 1, existing.log, existing.state)

    assert reopened(None).high_watermark == 5
    assert reopened(2).high_watermark == 2
    assert reopened(9).high_watermark == 5


def test_a_metadata_update_keeps_the_log_end_offsets_of_isr_followers(replicas: Replicas) -> None:
    """`update_state` forgets the LEOs of replicas that left the ISR only: a follower still in it keeps its
    fetch position, so the HW moves when the last follower catches up (kills `r in state.isr` -> `r not in`)."""

    async def scenario() -> None:
        await replicas.manager.produce([ProduceEntry("r", 0, replicas.batch(5))], 1, 0, AppendOrigin.CLIENT)

    asyncio.run(scenario())
    partition = replicas.manager.get_partition("r", 0)
    three = dataclasses.replace(partition.state, replicas=(1, 2, 3), isr=(1, 2, 3))
    partition.update_state(three)
    partition.record_follower_fetch(2, 5)
    assert partition.high_watermark == 0  # replica 3 has fetched nothing
    partition.update_state(dataclasses.replace(three, partition_epoch=1))
    partition.record_follower_fetch(3, 5)
    assert partition.high_watermark == 5


def test_only_offsets_that_moved_are_reported(replicas: Replicas) -> None:
    """An append reports the log end, plus the HW and LSO only when they moved; an HW check that moved nothing
    reports nothing and returns False (kills `stable = None` and `_report(..., None)` in
    append_records_as_leader and maybe_advance_high_watermark, which reported an LSO move every time and woke
    read_committed fetches for nothing, and `return bool(None)`)."""
    partition = replicas.manager.get_partition("r", 0)  # a follower in the ISR: appends do not move the HW
    moves = Moves()
    partition.delayed_operations = moves
    partition.append_records_as_leader(bytearray(replicas.batch(2)))
    assert moves.moves == [OffsetMove.LOG_END]
    assert partition.maybe_advance_high_watermark() is False
    assert moves.moves == [OffsetMove.LOG_END]
    partition.record_follower_fetch(2, 2)
    assert moves.moves[1:] == [OffsetMove.HIGH_WATERMARK | OffsetMove.LAST_STABLE_OFFSET]
    partition.record_follower_fetch(2, 2)  # nothing new
    assert len(moves.moves) == 2
    alone = replicas.manager.get_partition("t", 0)
    alone.delayed_operations = moves
    alone.log.append_as_leader(bytearray(replicas.batch()), 0)  # behind the partition's back: the HW lags
    assert alone.maybe_advance_high_watermark() is True
    assert moves.moves[2:] == [OffsetMove.HIGH_WATERMARK | OffsetMove.LAST_STABLE_OFFSET]
