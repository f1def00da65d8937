"""The coordinators' append path (issue 15 item 7, issue 9): a `BuiltBatch` appended with origin COORDINATOR is
checked against the topic's configuration only, and the log holds exactly the bytes the validating path writes;
client batches are validated in full whatever their Python type."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest
from odradek.broker.log.validator import ValidationConfig, validate_coordinator_batch, validate_records
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.records.builder import BuiltBatch, build_batch, build_control_batch, build_coordinator_batch
from odradek.broker.replication.api import AppendOrigin, ProduceEntry, ProduceResult
from odradek.broker.replication.partition import PartitionState
from odradek.broker.replication.replica_manager import ReplicaAssignment

if TYPE_CHECKING:
    from conftest import Replicas

ALONE = PartitionState(leader_id=1, leader_epoch=3, partition_epoch=0, replicas=(1,), isr=(1,))
RECORDS = [(b"key-a", b"value-a"), (b"key-b", None), (b"key-c", b"c" * 300)]
CONFIGS = {
    "default": {},
    "compacted": {"cleanup.policy": "compact"},
    "log-append-time": {"cleanup.policy": "compact", "message.timestamp.type": "LogAppendTime"},
    "gzip": {"compression.type": "gzip"},
    "bounded-timestamps": {"message.timestamp.before.max.ms": "86400000"},
}


async def _topic(replicas: Replicas, name: str, configs: dict[str, str], partitions: int = 2) -> None:
    await replicas.manager.apply_assignments(
        [ReplicaAssignment(name, i, uuid.uuid4(), configs, ALONE) for i in range(partitions)], topics=[name]
    )


async def _produce(replicas: Replicas, entry: ProduceEntry, origin: AppendOrigin) -> ProduceResult:
    (result,) = await replicas.manager.produce([entry], -1, 5_000, origin)
    return result


def _log_bytes(replicas: Replicas, topic: str, index: int) -> bytes:
    partition = replicas.manager.get_partition(topic, index)
    return partition.log.read(0, 1 << 20, partition.log_end_offset).read_bytes()


def test_the_coordinator_batch_is_the_batch_build_batch_writes() -> None:
    now = 1_700_000_000_000
    plain = build_coordinator_batch(RECORDS, now)
    assert type(plain) is BuiltBatch
    assert plain == build_batch([(k, v, (), now) for k, v in RECORDS])
    transactional = build_coordinator_batch(RECORDS, now, producer_id=7, producer_epoch=2, transactional=True)
    assert transactional == build_batch(
        [(k, v, (), now) for k, v in RECORDS], producer_id=7, producer_epoch=2, base_sequence=0, transactional=True
    )
    assert type(build_control_batch(True, 7, 2, 5, 0, now)) is BuiltBatch
    with pytest.raises(ValueError, match="at least one record"):
        build_coordinator_batch([], now)
    with pytest.raises(ValueError, match="has a key"):
        build_coordinator_batch([(None, b"v")], now)  # type: ignore[list-item]


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_the_coordinator_path_appends_the_same_bytes_as_full_validation(replicas: Replicas, config: str) -> None:
    """Partition 0 gets the BuiltBatch (coordinator path), partition 1 the same bytes as plain bytes (validated
    as a non-client batch, the path before this change): the logs must be byte for byte the same."""
    now = replicas.time.wall_ms()
    built = build_coordinator_batch(RECORDS, now)
    marker = build_control_batch(True, producer_id=9, producer_epoch=0, coordinator_epoch=4, timestamp=now)

    async def scenario() -> None:
        await _topic(replicas, "c", CONFIGS[config])
        for batch in (built, marker, built):
            fast = await _produce(replicas, ProduceEntry("c", 0, batch), AppendOrigin.COORDINATOR)
            full = await _produce(replicas, ProduceEntry("c", 1, bytes(batch)), AppendOrigin.COORDINATOR)
            assert fast == full
            assert fast.error is ErrorCode.NONE
        assert _log_bytes(replicas, "c", 0) == _log_bytes(replicas, "c", 1)
        assert len(_log_bytes(replicas, "c", 0)) > 0
        leader = replicas.manager.get_partition("c", 0)
        assert (leader.log_end_offset, leader.high_watermark) == (7, 7)  # HW follows the ISR of one at once

    asyncio.run(scenario())


def test_the_coordinator_validator_matches_full_validation_of_a_built_batch() -> None:
    now = 1_700_000_000_000
    built = build_coordinator_batch(RECORDS, now, producer_id=3, producer_epoch=1, transactional=True)
    for config in (ValidationConfig(), ValidationConfig(compacted=True), ValidationConfig(log_append_time=True)):
        fast = validate_coordinator_batch(bytearray(built), config, now + 5)
        full = validate_records(bytearray(built), config, now + 5, is_from_client=False)
        assert fast == full


def test_a_coordinator_batch_over_max_message_bytes_is_refused(replicas: Replicas) -> None:
    big = build_coordinator_batch([(b"k", b"v" * 2_000)], replicas.time.wall_ms())

    async def scenario() -> None:
        await _topic(replicas, "small", {"max.message.bytes": "1000"})
        result = await _produce(replicas, ProduceEntry("small", 0, big), AppendOrigin.COORDINATOR)
        assert result.error is ErrorCode.MESSAGE_TOO_LARGE
        assert replicas.manager.get_partition("small", 0).log_end_offset == 0

    asyncio.run(scenario())


def _corrupt(batch: bytes) -> bytes:
    """The last byte of the records flipped: the CRC-32C (over bytes 21..end) no longer matches."""
    return batch[:-1] + bytes([batch[-1] ^ 0xFF])


@pytest.mark.parametrize("origin", [AppendOrigin.CLIENT, AppendOrigin.COORDINATOR])
def test_a_corrupt_batch_that_the_broker_did_not_build_is_refused(replicas: Replicas, origin: AppendOrigin) -> None:
    corrupt = _corrupt(replicas.batch(3))

    async def scenario() -> None:
        for records in (corrupt, bytearray(corrupt), memoryview(corrupt)):
            result = await _produce(replicas, ProduceEntry("t", 0, records), origin)
            assert result.error is ErrorCode.CORRUPT_MESSAGE
            assert result.message is not None and result.message.startswith("Record is corrupt")
        assert replicas.manager.get_partition("t", 0).log_end_offset == 0

    asyncio.run(scenario())


def test_a_client_batch_is_validated_in_full_even_as_a_built_batch(replicas: Replicas) -> None:
    """Skipping is for the broker's own writes only: the CLIENT origin always gets every check."""
    now = replicas.time.wall_ms()
    corrupt = BuiltBatch(_corrupt(build_coordinator_batch(RECORDS, now)))
    marker = build_control_batch(True, producer_id=7, producer_epoch=0, timestamp=now)

    async def scenario() -> None:
        result = await _produce(replicas, ProduceEntry("t", 0, corrupt), AppendOrigin.CLIENT)
        assert result.error is ErrorCode.CORRUPT_MESSAGE
        result = await _produce(replicas, ProduceEntry("t", 0, marker), AppendOrigin.CLIENT)
        assert (result.error, result.message) == (
            ErrorCode.INVALID_RECORD,
            "Clients are not allowed to write control records",
        )
        assert replicas.manager.get_partition("t", 0).log_end_offset == 0

    asyncio.run(scenario())


@pytest.mark.parametrize(("config", "full"), [("default", False), ("compacted", False), ("log-append-time", True)])
def test_a_built_batch_skips_the_full_validation_unless_the_topic_changes_its_bytes(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch, config: str, full: bool
) -> None:
    """The point of the coordinator path: no CRC pass and, on a compacted topic (__consumer_offsets), no decoding
    of every record, for a BuiltBatch; plain bytes of the same batch still take the full path."""
    from odradek.broker.log import validator
    from odradek.broker.replication import replica_manager

    calls: list[int] = []
    real = validator.validate_records

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(replica_manager, "validate_records", counted)
    monkeypatch.setattr(validator, "validate_records", counted)  # validate_coordinator_batch's fallback
    built = build_coordinator_batch(RECORDS, replicas.time.wall_ms())

    async def scenario() -> None:
        await _topic(replicas, "c", CONFIGS[config])
        assert (await _produce(replicas, ProduceEntry("c", 0, built), AppendOrigin.COORDINATOR)).error is ErrorCode.NONE
        assert len(calls) == int(full)
        assert (await _produce(replicas, ProduceEntry("c", 1, bytes(built)), AppendOrigin.COORDINATOR)).error is (
            ErrorCode.NONE
        )
        assert len(calls) == int(full) + 1

    asyncio.run(scenario())
