"""`odradek mirror-maker` between two real Odradek brokers, one per cluster (A and B).

- A topic of A is copied to B as `A.<topic>` with keys, values, headers and timestamps, per partition in order.
- A consumer group's committed offsets on A are checkpointed to `A.checkpoints.internal` on B in Kafka's format and,
  with sync.group.offsets.enabled, committed to the (empty) group on B: the group resumes on B at the translated
  offset, at most offset.lag.max records before its position on A and never after it (nothing skipped).
- Heartbeats reach B's `heartbeats` in Kafka's format.
- SIGTERM then restart on the same offset files: records produced meanwhile are copied, nothing is copied twice.
- Active/active A<->B: each side's topic is copied once, nothing comes back as `B.A.<topic>` (cycle prevention).
- SIGKILL mid-copy: nothing lost; a source broker restart mid-copy: copy, offset syncs and checkpoints resume.
- A retention gap and a re-created source topic are reported when a task resumes.
- IdentityReplicationPolicy keeps names and still syncs group offsets.
Every wait is bounded; the mirror process is killed in a finalizer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from it_support import BrokerProcess, ck_create_topic, free_port, scrape_samples, unique_topic, wait_for
from mirror_support import (
    MirrorProcess,
    as_tuples,
    expected_tuples,
    produce_records,
    read_partition,
    source_records,
    topic_names,
)
from odradek.mirror.client import MirrorClient
from odradek.mirror.formats import Checkpoint, Heartbeat, OffsetSync

pytestmark = pytest.mark.integration

COPY_TIMEOUT_S = 60.0
LAG_MAX = 5
OFFSET_SYNCS = "mm2-offset-syncs.B.internal"


@pytest.fixture
def mirrors() -> Iterator[list[MirrorProcess]]:
    started: list[MirrorProcess] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.cleanup()


def mm2_props(a: BrokerProcess, b: BrokerProcess, **extra: str) -> dict[str, str]:
    return {
        "clusters": "A, B",
        "A.bootstrap.servers": a.bootstrap,
        "B.bootstrap.servers": b.bootstrap,
        "replication.factor": "1",
        "offset-syncs.topic.replication.factor": "1",
        "checkpoints.topic.replication.factor": "1",
        "heartbeats.topic.replication.factor": "1",
        "offset.flush.interval.ms": "500",
        "refresh.topics.interval.seconds": "2",
        "refresh.groups.interval.seconds": "2",
        "emit.checkpoints.interval.seconds": "1",
        "sync.group.offsets.interval.seconds": "1",
        "offset.lag.max": str(LAG_MAX),
        **extra,
    }


def dynamic_configs(bootstrap: str, topic: str) -> dict[str, str]:
    from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType

    client = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = client.describe_configs([resource])[resource].result(10)
    return {n: e.value for n, e in entries.items() if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}


def commit_group(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit offsets for an empty group (retried while the new broker's coordinator is still loading)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    def attempt() -> bool:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
            return True
        except KafkaException:
            return False
        finally:
            consumer.close()

    wait_for(attempt, 20.0, 0.5, f"offsets of {group} committed")


# A new broker answers these while its group coordinator comes up; librdkafka's committed() hands NOT_COORDINATOR
# back as a non-retriable error (Kafka's Java consumer looks the coordinator up again and retries).
_COORDINATOR_NOT_READY = {"NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE"}


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offsets; none yet while a new broker's group coordinator is still coming up (the callers
    poll this in a bounded wait, as commit_group retries)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        result = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in result if tp.offset >= 0}
    except KafkaException as exc:
        if exc.args[0].name() not in _COORDINATOR_NOT_READY:
            raise
        return {}
    finally:
        consumer.close()


def test_copy_checkpoint_group_sync_and_restart(
    broker_factory: Callable[..., BrokerProcess], mirrors: list[MirrorProcess], tmp_path: Path
) -> None:
    a, b = broker_factory(), broker_factory()
    topic, group = unique_topic("orders"), unique_topic("billing")
    ck_create_topic(a.bootstrap, topic, 2, config={"retention.ms": "86400000", "min.insync.replicas": "1"})
    records = source_records(2, 30)
    produce_records(a.bootstrap, topic, records)
    positions = {0: 20, 1: 13}
    commit_group(a.bootstrap, group, topic, positions)

    props = mm2_props(a, b, **{"A->B.enabled": "true", "A->B.topics": topic, "sync.group.offsets.enabled": "true"})
    mirror = MirrorProcess(tmp_path / "mirror", props).start()
    mirrors.append(mirror)
    remote = f"A.{topic}"

    for p in (0, 1):
        copied = wait_for(
            lambda p=p: len(m := read_partition(b.bootstrap, remote, p)) >= 30 and m,
            COPY_TIMEOUT_S,
            0.5,
            f"{remote}[{p}] copied",
        )
        assert as_tuples(copied) == expected_tuples(records, p)

    # Topic configs copied, minus Kafka's exclusions (sync.topic.configs.enabled).
    remote_configs = wait_for(
        lambda: (c := dynamic_configs(b.bootstrap, remote)).get("retention.ms") and c, 30.0, 0.5, "configs synced"
    )
    assert remote_configs["retention.ms"] == "86400000" and "min.insync.replicas" not in remote_configs

    # Checkpoints in Kafka's format, then the group committed on B at the translated offsets, never past the group's
    # position. How close below depends on which syncs the store still holds: it keeps them spaced exponentially back
    # from the latest (OffsetSyncStore), so once p0's last sync (29) is read, the group at 20 translates through 12
    # (to 13), not 18, and a checkpoint taken before that sync arrived stays at 19 (never moved back). So wait for the
    # sync to settle (unchanged over a few checkpoint and group-sync intervals of 1 s) rather than for a closeness.
    def group_settled() -> dict[int, int] | None:
        offsets = committed(b.bootstrap, group, remote, 2)
        assert all(offsets[p] <= positions[p] for p in offsets), (offsets, positions)
        if len(offsets) < 2:
            return None
        time.sleep(3.0)
        return offsets if committed(b.bootstrap, group, remote, 2) == offsets else None

    synced = wait_for(group_settled, COPY_TIMEOUT_S, 0.5, "group offsets synced to B")
    # ... through one of the offset syncs the source task wrote: its downstream offset, + 1 past its upstream one.
    # (The syncs topic is on the source cluster, Kafka's default offset-syncs.topic.location.)
    syncs = [OffsetSync.deserialize(m.key(), m.value()) for m in read_partition(a.bootstrap, OFFSET_SYNCS, 0)]
    for p in (0, 1):
        usable = [s for s in syncs if (s.topic, s.partition) == (topic, p) and s.upstream_offset <= positions[p]]
        assert synced[p] in {s.downstream_offset + (s.upstream_offset < positions[p]) for s in usable}, (p, syncs)
    checkpoints = [
        Checkpoint.deserialize(m.key(), m.value()) for m in read_partition(b.bootstrap, "A.checkpoints.internal", 0)
    ]
    latest = {(c.topic, c.partition): c for c in checkpoints if c.group == group}
    assert {k: (c.upstream_offset, c.downstream_offset) for k, c in latest.items()} == {
        (remote, p): (positions[p], synced[p]) for p in (0, 1)
    }
    # Kafka's RemoteClusterUtils.translateOffsets, from the checkpoints.
    assert MirrorClient({"bootstrap.servers": b.bootstrap}).remote_consumer_offsets(group, "A") == {
        (remote, p): synced[p] for p in (0, 1)
    }
    heartbeats = [Heartbeat.deserialize(m.key(), m.value()) for m in read_partition(b.bootstrap, "heartbeats", 0)]
    assert heartbeats and {(h.source_alias, h.target_alias) for h in heartbeats} == {("A", "B")}

    # The group resumes on B where the translation says: nothing after its A position is skipped.
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.subscribe([remote])
        seen: dict[int, list[int]] = {0: [], 1: []}
        deadline = time.monotonic() + COPY_TIMEOUT_S
        while (len(seen[0]) < 30 - synced[0] or len(seen[1]) < 30 - synced[1]) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                seen[msg.partition()].append(msg.offset())
        for p in (0, 1):
            assert seen[p][:1] == [synced[p]] and seen[p] == list(range(synced[p], 30))
    finally:
        consumer.close()

    # Restart: records produced while the mirror was down are copied once, nothing is copied twice.
    assert mirror.stop() == 0
    more = source_records(2, 10, start=30)
    produce_records(a.bootstrap, topic, more)
    mirror.start()
    for p in (0, 1):
        copied = wait_for(
            lambda p=p: len(m := read_partition(b.bootstrap, remote, p)) >= 40 and m,
            COPY_TIMEOUT_S,
            0.5,
            f"{remote}[{p}] copied after restart",
        )
        time.sleep(1.0)
        copied = read_partition(b.bootstrap, remote, p)
        assert as_tuples(copied) == expected_tuples(records + more, p)
    assert mirror.stop() == 0
    assert "Kafka MirrorMaker stopped" in mirror.output()


def test_active_active_without_cycles(
    broker_factory: Callable[..., BrokerProcess], mirrors: list[MirrorProcess], tmp_path: Path
) -> None:
    a, b = broker_factory(), broker_factory()
    orders, payments = unique_topic("orders"), unique_topic("payments")
    ck_create_topic(a.bootstrap, orders)
    ck_create_topic(b.bootstrap, payments)
    produce_records(a.bootstrap, orders, source_records(1, 5))
    produce_records(b.bootstrap, payments, source_records(1, 5))
    props = mm2_props(a, b, **{"A->B.enabled": "true", "B->A.enabled": "true"})
    mirrors.append(MirrorProcess(tmp_path / "mirror", props).start())

    wait_for(lambda: len(read_partition(b.bootstrap, f"A.{orders}", 0)) == 5, COPY_TIMEOUT_S, 0.5, "A->B copy")
    wait_for(lambda: len(read_partition(a.bootstrap, f"B.{payments}", 0)) == 5, COPY_TIMEOUT_S, 0.5, "B->A copy")
    wait_for(lambda: "B.heartbeats" in topic_names(a.bootstrap), COPY_TIMEOUT_S, 0.5, "heartbeats copied to A")
    time.sleep(6.0)  # three topic refreshes: a cycle would have shown up by now
    on_a, on_b = topic_names(a.bootstrap), topic_names(b.bootstrap)
    assert not [t for t in on_a if t.startswith("B.A.")], on_a
    assert not [t for t in on_b if t.startswith("A.B.")], on_b
    assert "A.heartbeats" in on_b and "B.heartbeats" in on_a
    assert MirrorClient({"bootstrap.servers": a.bootstrap}).upstream_clusters() == {"B"}
    assert MirrorClient({"bootstrap.servers": b.bootstrap}).remote_topics("A") == {f"A.{orders}"}


def test_sigkill_mid_copy_loses_nothing(
    broker_factory: Callable[..., BrokerProcess], mirrors: list[MirrorProcess], tmp_path: Path
) -> None:
    """At-least-once across a SIGKILL: after the restart every source record is on B, in source order; records
    copied after the last offset flush may appear twice, only as a replay of a contiguous run."""
    a, b = broker_factory(), broker_factory()
    topic = unique_topic("orders")
    ck_create_topic(a.bootstrap, topic)
    records = source_records(1, 3000)
    produce_records(a.bootstrap, topic, records)
    props = mm2_props(a, b, **{"A->B.enabled": "true", "A->B.topics": topic, "emit.checkpoints.enabled": "false"})
    mirror = MirrorProcess(tmp_path / "mirror", props).start()
    mirrors.append(mirror)
    remote = f"A.{topic}"
    wait_for(lambda: len(read_partition(b.bootstrap, remote, 0)) > 0, COPY_TIMEOUT_S, 0.05, "copy started")
    assert mirror.proc is not None
    mirror.proc.kill()
    mirror.proc.wait(10)
    mirror.start()

    def all_copied() -> list[Any] | None:
        got = read_partition(b.bootstrap, remote, 0)
        return got if len({m.value() for m in got}) == 3000 else None

    copied = wait_for(
        all_copied,
        COPY_TIMEOUT_S,
        0.5,
        "every record copied after the restart",
    )
    values = [m.value() for m in copied]
    expected = [r["value"] for r in records]
    # Remove the replayed run: what is left must be the source sequence exactly.
    first_dup = next(
        (i for i in range(1, len(values)) if expected.index(values[i]) <= expected.index(values[i - 1])), None
    )
    if first_dup is None:
        assert values == expected
    else:
        restart_at = expected.index(values[first_dup])
        assert values[:first_dup] == expected[:first_dup] and values[first_dup:] == expected[restart_at:]


def test_retention_gap_and_recreated_topic_are_reported(
    broker_factory: Callable[..., BrokerProcess], mirrors: list[MirrorProcess], tmp_path: Path
) -> None:
    """Records deleted on the source while the mirror was down are reported as a gap (Kafka continues silently),
    the copy resumes at the source's log start; a re-created source topic is reported and copied again."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    a, b = broker_factory(), broker_factory()
    topic = unique_topic("orders")
    ck_create_topic(a.bootstrap, topic)
    produce_records(a.bootstrap, topic, source_records(1, 10))
    props = mm2_props(a, b, **{"A->B.enabled": "true", "A->B.topics": topic, "emit.checkpoints.enabled": "false"})
    mirror = MirrorProcess(tmp_path / "mirror", props).start()
    mirrors.append(mirror)
    remote = f"A.{topic}"
    wait_for(lambda: len(read_partition(b.bootstrap, remote, 0)) == 10, COPY_TIMEOUT_S, 0.5, "first copy")
    assert mirror.stop() == 0

    produce_records(a.bootstrap, topic, source_records(1, 10, start=10))
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    admin.delete_records([TopicPartition(topic, 0, 15)])[TopicPartition(topic, 0, 15)].result(15)
    mirror.start()
    copied = wait_for(lambda: len(m := read_partition(b.bootstrap, remote, 0)) >= 15 and m, COPY_TIMEOUT_S, 0.5, "x")
    assert [m.value() for m in copied[10:]] == [f"v0-{i}".encode() for i in range(15, 20)]
    assert "gap: source offsets 10 to 14 were deleted before they were copied" in mirror.output()

    # Re-created: the new partition is shorter than what was copied.
    assert mirror.stop() == 0
    admin.delete_topics([topic])[topic].result(15)
    wait_for(lambda: topic not in topic_names(a.bootstrap), 15.0, 0.2, "topic deleted")
    ck_create_topic(a.bootstrap, topic)
    produce_records(a.bootstrap, topic, source_records(1, 3, start=100))
    mirror.start()
    copied = wait_for(lambda: len(m := read_partition(b.bootstrap, remote, 0)) >= 18 and m, COPY_TIMEOUT_S, 0.5, "y")
    assert [m.value() for m in copied[15:]] == [b"v0-100", b"v0-101", b"v0-102"]
    assert "topic re-created or truncated; copying it again from its beginning" in mirror.output()


def test_source_broker_restart_mid_copy(
    broker_factory: Callable[..., BrokerProcess], mirrors: list[MirrorProcess], tmp_path: Path
) -> None:
    """The source broker goes down and comes back while the mirror runs: copying resumes with nothing lost or
    duplicated, and offset syncs and checkpoints resume by themselves (strimzi #5533: MM2 needed a restart)."""
    a, b = broker_factory(), broker_factory()
    topic, group = unique_topic("orders"), unique_topic("billing")
    ck_create_topic(a.bootstrap, topic)
    first = source_records(1, 200)
    produce_records(a.bootstrap, topic, first)
    props = mm2_props(a, b, **{"A->B.enabled": "true", "A->B.topics": topic})
    mirror = MirrorProcess(tmp_path / "mirror", props).start()
    mirrors.append(mirror)
    remote = f"A.{topic}"
    wait_for(lambda: len(read_partition(b.bootstrap, remote, 0)) == 200, COPY_TIMEOUT_S, 0.5, "first copy")

    assert a.stop() == 0
    time.sleep(3.0)
    a.restart()
    more = source_records(1, 200, start=200)
    produce_records(a.bootstrap, topic, more)
    copied = wait_for(lambda: len(m := read_partition(b.bootstrap, remote, 0)) >= 400 and m, COPY_TIMEOUT_S, 0.5, "z")
    time.sleep(1.0)
    assert as_tuples(read_partition(b.bootstrap, remote, 0)) == expected_tuples(first + more, 0) == as_tuples(copied)

    # Offset syncs resumed after the outage: the latest one is for the last record copied.
    def latest_sync() -> OffsetSync | None:
        messages = read_partition(a.bootstrap, "mm2-offset-syncs.B.internal", 0)
        syncs = [OffsetSync.deserialize(m.key(), m.value()) for m in messages]
        return syncs[-1] if syncs and syncs[-1].upstream_offset == 399 else None

    assert wait_for(latest_sync, COPY_TIMEOUT_S, 0.5, "offset syncs after the outage").downstream_offset == 399

    # A group that consumed everything on A is checkpointed at the end on B. (A task reading the syncs topic from its
    # start keeps only the latest sync, KAFKA-12468, so a group behind it waits for newer syncs.)
    commit_group(a.bootstrap, group, topic, {0: 400})

    def checkpointed() -> Checkpoint | None:
        messages = read_partition(b.bootstrap, "A.checkpoints.internal", 0)
        found = [c for m in messages if (c := Checkpoint.deserialize(m.key(), m.value())).group == group]
        return found[-1] if found else None

    checkpoint = wait_for(checkpointed, COPY_TIMEOUT_S, 0.5, "a checkpoint translated through post-outage syncs")
    assert (checkpoint.upstream_offset, checkpoint.downstream_offset) == (400, 400)


def test_identity_policy_copies_under_the_same_name_and_syncs_groups(
    broker_factory: Callable[..., BrokerProcess], mirrors: list[MirrorProcess], tmp_path: Path
) -> None:
    """IdentityReplicationPolicy (migrations): `orders` on A becomes `orders` on B, heartbeats still `A.heartbeats`
    style, and group offsets are translated and synced too (strimzi #4498 reported this broken in MM2)."""
    a, b = broker_factory(), broker_factory()
    topic, group = unique_topic("orders"), unique_topic("billing")
    ck_create_topic(a.bootstrap, topic)
    records = source_records(1, 20)
    produce_records(a.bootstrap, topic, records)
    commit_group(a.bootstrap, group, topic, {0: 20})
    props = mm2_props(
        a,
        b,
        **{
            "A->B.enabled": "true",
            "A->B.topics": topic,
            "replication.policy.class": "org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
            "sync.group.offsets.enabled": "true",
        },
    )
    mirrors.append(MirrorProcess(tmp_path / "mirror", props).start())
    copied = wait_for(lambda: len(m := read_partition(b.bootstrap, topic, 0)) >= 20 and m, COPY_TIMEOUT_S, 0.5, "copy")
    assert as_tuples(copied) == expected_tuples(records, 0)

    def group_synced() -> int | None:
        offset = committed(b.bootstrap, group, topic, 1).get(0)
        assert offset is None or offset <= 20
        return offset if offset is not None and offset >= 20 - LAG_MAX - 1 else None

    wait_for(group_synced, COPY_TIMEOUT_S, 0.5, "group synced")


def test_metrics_endpoint_serves_mirror_maker_2_names(
    broker_factory: Callable[..., BrokerProcess], mirrors: list[MirrorProcess], tmp_path: Path
) -> None:
    a, b = broker_factory(), broker_factory()
    topic, group = unique_topic("metered"), unique_topic("metered-group")
    ck_create_topic(a.bootstrap, topic, 2)
    produced_ms = int(time.time() * 1000)
    records = [{**r, "timestamp": produced_ms} for r in source_records(2, 10)]
    produce_records(a.bootstrap, topic, records)
    commit_group(a.bootstrap, group, topic, {0: 5, 1: 10})
    port = free_port()
    props = mm2_props(a, b, **{"A->B.enabled": "true", "A->B.topics": topic, "metrics.port": str(port)})
    mirrors.append(MirrorProcess(tmp_path / "mirror", props).start())
    remote, source = f"A.{topic}", "kafka_connect_mirror_source_connector_"

    def labels(p: int) -> tuple[tuple[str, str], ...]:
        return (("destination", "B"), ("partition", str(p)), ("topic", remote))

    wait_for(
        lambda: [scrape_samples(port).get((source + "record_count", labels(p))) for p in (0, 1)] == [10, 10],
        COPY_TIMEOUT_S,
        0.5,
        "record_count of both partitions",
    )
    metrics = scrape_samples(port)
    since_produced_ms = time.time() * 1000 - produced_ms
    for p in (0, 1):
        value_bytes = sum(len(r["value"]) for r in records if r["partition"] == p)
        assert metrics[(source + "byte_count", labels(p))] == value_bytes
        assert metrics[(source + "byte_rate", labels(p))] > 0 and metrics[(source + "record_rate", labels(p))] > 0
        for name in ("replication_latency_ms", "record_age_ms"):
            low, high = metrics[(source + name + "_min", labels(p))], metrics[(source + name + "_max", labels(p))]
            assert 0 <= low <= metrics[(source + name + "_avg", labels(p))] <= high <= since_produced_ms, name
    checkpoint = "kafka_connect_mirror_checkpoint_connector_checkpoint_latency_ms"

    def checkpoint_latencies() -> dict[str, float]:
        found = scrape_samples(port)
        return {
            dict(k[1])["partition"]: v for k, v in found.items() if k[0] == checkpoint and dict(k[1])["group"] == group
        }

    latencies = wait_for(lambda: len(c := checkpoint_latencies()) == 2 and c, COPY_TIMEOUT_S, 0.5, "checkpoint latency")
    assert all(0 <= v < COPY_TIMEOUT_S * 1000 for v in latencies.values()), latencies
    assert (
        checkpoint,
        (("group", group), ("partition", "0"), ("source", "A"), ("target", "B"), ("topic", remote)),
    ) in (scrape_samples(port))
