"""Partition reassignment and DescribeLogDirs on three broker processes over one etcd (issue 10).

- A partition moves from brokers [1, 2] to [2, 3] with `odradek reassign-partitions --execute` while an acks=all
  idempotent producer (confluent-kafka) keeps writing: every acknowledged record is read back, broker 1's log of it
  is deleted, --verify/--list/--generate answer as Kafka's tool does, and DescribeLogDirs (kafka-python's
  describe_log_dirs and `odradek log-dirs --describe`) shows where the replicas are.
- A replication factor raised from 1 to 3 with kafka-python's alter_partition_reassignments; the errors a client
  sees (unknown topic, unregistered broker, duplicate broker, cancel with nothing to cancel); and a reassignment
  that cannot complete (its new replica's broker was killed, still registered) listed with `--list`, refused a second
  `--execute` without `--additional`, and cancelled with `--cancel` (the original replicas and ISR come back).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cluster_support import logs_on_failure, start_brokers
from etcd_support import EtcdCluster, etcd_missing
from it_support import REPO, BrokerProcess, ck_admin, ck_consume, ck_produce, unique_topic, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing()))]

Factory = Callable[..., BrokerProcess]
CLIENT_TIMEOUT_S = 15
MOVE_TIMEOUT_S = 90.0  # generous: the machine is shared


def three_brokers(factory: Factory, url: str) -> dict[int, BrokerProcess]:
    common = {
        "replica.fetch.wait.max.ms": "200",
        "replica.lag.time.max.ms": "5000",
        "log.segment.delete.delay.ms": "500",
        "offsets.topic.num.partitions": "3",
        # A killed broker stays registered this long: the cancel scenario reassigns to one (see there).
        "broker.session.timeout.ms": "60000",
        "broker.heartbeat.interval.ms": "1000",
    }
    return start_brokers(factory, url, (1, 2, 3), common)


def create_topic(bootstrap: str, assignment: list[list[int]]) -> str:
    from confluent_kafka.admin import NewTopic

    topic = unique_topic("reassign")
    admin = ck_admin(bootstrap)
    new = NewTopic(topic, num_partitions=len(assignment), replication_factor=-1, replica_assignment=assignment)
    admin.create_topics([new])[topic].result(timeout=CLIENT_TIMEOUT_S)
    return topic


def replicas_and_isr(bootstrap: str, topic: str, partition: int = 0) -> tuple[list[int], list[int], int]:
    part = ck_admin(bootstrap).list_topics(topic, timeout=CLIENT_TIMEOUT_S).topics[topic].partitions[partition]
    return list(part.replicas), sorted(part.isrs), part.leader


def odradek(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "broker"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "odradek.cli", *argv], capture_output=True, text=True, timeout=120, env=env
    )


def replica_folders(broker: BrokerProcess, topic: str) -> list[str]:
    return sorted(p.name for p in broker.log_dir.iterdir() if p.name.startswith(f"{topic}-0"))


def kafka_python_admin(bootstrap: str) -> Any:
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=CLIENT_TIMEOUT_S * 1000)


class BackgroundProducer:
    """An acks=all idempotent producer writing numbered values until stopped; `acked` holds what was confirmed."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.acked: list[bytes] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(bootstrap, topic), daemon=True)

    def __enter__(self) -> BackgroundProducer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5})

        def delivered(err: Any, msg: Any) -> None:
            if err is None:
                self.acked.append(msg.value())
            else:
                self.errors.append(str(err))

        sent = 0
        deadline = time.monotonic() + 300  # bounded even if nobody stops it
        while not self._stop.is_set() and time.monotonic() < deadline:
            producer.produce(topic, b"v%06d" % sent, partition=0, on_delivery=delivered)
            sent += 1
            producer.poll(0.01)
        producer.flush(60)


def test_a_move_from_1_2_to_2_3_under_acks_all_load_loses_no_acknowledged_record(
    broker_factory: Factory, etcd: EtcdCluster, tmp_path: Path
) -> None:
    brokers = three_brokers(broker_factory, etcd.url("/it/move"))
    with logs_on_failure(brokers):
        _move_scenario(brokers, tmp_path)


def _move_scenario(brokers: dict[int, BrokerProcess], tmp_path: Path) -> None:
    bootstrap = ",".join(b.bootstrap for b in brokers.values())
    topic = create_topic(bootstrap, [[1, 2]])
    wait_for(lambda: replicas_and_isr(bootstrap, topic)[1] == [1, 2], timeout=30, what="ISR [1, 2]")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": [2, 3]}]}))
    topics_file = tmp_path / "topics.json"
    topics_file.write_text(json.dumps({"version": 1, "topics": [{"topic": topic}]}))

    generated = odradek(
        "reassign-partitions", "--bootstrap-server", bootstrap, "--generate",
        "--topics-to-move-json-file", str(topics_file), "--broker-list", "2,3",
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    lines = generated.stdout.splitlines()
    assert lines[0] == "Current partition replica assignment"
    assert json.loads(lines[1]) == {
        "version": 1,
        "partitions": [{"topic": topic, "partition": 0, "replicas": [1, 2], "log_dirs": ["any", "any"]}],
    }
    assert lines[3] == "Proposed partition reassignment configuration"
    assert sorted(json.loads(lines[4])["partitions"][0]["replicas"]) == [2, 3]

    with BackgroundProducer(bootstrap, topic) as producer:
        wait_for(lambda: len(producer.acked) >= 200, timeout=60, what="records acknowledged before the move")
        executed = odradek(
            "reassign-partitions", "--bootstrap-server", bootstrap, "--execute",
            "--reassignment-json-file", str(plan), "--throttle", "50000000",
        )  # fmt: skip
        assert executed.returncode == 0, executed.stderr
        rollback = json.dumps(
            {
                "version": 1,
                "partitions": [{"topic": topic, "partition": 0, "replicas": [1, 2], "log_dirs": ["any", "any"]}],
            },
            separators=(",", ":"),
        )
        assert executed.stdout.splitlines() == [
            "Current partition replica assignment",
            "",
            rollback,
            "",
            "Save this to use as the --reassignment-json-file option during rollback",
            "Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle "
            "is removed.",
            "The inter-broker throttle limit was set to 50000000 B/s",
            f"Successfully started partition reassignment for {topic}-0",
        ]

        def verified() -> bool:
            out = odradek("reassign-partitions", "--bootstrap-server", bootstrap, "--verify",
                          "--reassignment-json-file", str(plan))  # fmt: skip
            return f"Reassignment of partition {topic}-0 is completed." in out.stdout

        wait_for(verified, timeout=MOVE_TIMEOUT_S, interval=1.0, what="the reassignment to complete")
        acked_at_move = len(producer.acked)
        wait_for(lambda: len(producer.acked) >= acked_at_move + 200, timeout=60, what="records after the move")
    assert producer.errors == []

    replicas, isr, leader = replicas_and_isr(bootstrap, topic)
    assert (sorted(replicas), isr) == ([2, 3], [2, 3]) and leader in (2, 3)
    values = [m.value() for m in ck_consume(brokers[leader].bootstrap, topic, len(producer.acked), timeout=60)]
    assert set(producer.acked) <= set(values), "an acknowledged record is missing"
    assert len(values) == len(set(values)), "a record was written twice"
    wait_for(lambda: replica_folders(brokers[1], topic) == [], timeout=30, what="broker 1's replica to be deleted")
    assert replica_folders(brokers[3], topic) == [f"{topic}-0"]

    verify = odradek("reassign-partitions", "--bootstrap-server", bootstrap, "--verify",
                     "--reassignment-json-file", str(plan))  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.splitlines() == [
        "Status of partition reassignment:",
        f"Reassignment of partition {topic}-0 is completed.",
        "",
        "Clearing broker-level throttles on brokers 1,2,3",
        f"Clearing topic-level throttles on topic {topic}",
    ]
    listed = odradek("reassign-partitions", "--bootstrap-server", bootstrap, "--list")
    assert listed.stdout.splitlines() == ["No partition reassignments found."], listed.stderr

    _describe_log_dirs(brokers, bootstrap, topic, len(values))


def _describe_log_dirs(brokers: dict[int, BrokerProcess], bootstrap: str, topic: str, records: int) -> None:
    admin = kafka_python_admin(bootstrap)
    try:
        answers = {a["broker"]: a["log_dirs"] for a in admin.describe_log_dirs(brokers=[1, 2, 3])}
    finally:
        admin.close()
    for broker_id, broker in brokers.items():
        (result,) = answers[broker_id]
        assert result["error_code"] == 0
        assert Path(result["log_dir"]).resolve() == broker.log_dir.resolve()
        assert 0 < result["usable_bytes"] <= result["total_bytes"]  # v4
        ours = [t for t in result["topics"] if t["name"] == topic]
        if broker_id == 1:
            assert ours == []
            continue
        (described,) = ours
        (part,) = described["partitions"]
        assert part["partition_index"] == 0 and part["is_future_key"] is False and part["offset_lag"] == 0
        assert part["partition_size"] > records * 7  # every record's value is 7 bytes, plus batch overhead

    shown = odradek("log-dirs", "--describe", "--bootstrap-server", bootstrap, "--topic-list", topic)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[:2] == ["Querying brokers for log directories information",
                         "Received log directory information from brokers 1,2,3"]  # fmt: skip
    document = json.loads(lines[2])
    assert lines[2].startswith('{"brokers":[{"broker":1,"logDirs":[{"partitions":[')
    assert document["version"] == 1
    by_broker = {b["broker"]: b["logDirs"][0] for b in document["brokers"]}
    assert by_broker[1]["partitions"] == [] and by_broker[1]["error"] is None
    for broker_id in (2, 3):
        (entry,) = by_broker[broker_id]["partitions"]
        assert entry["partition"] == f"{topic}-0" and entry["offsetLag"] == 0 and entry["isFuture"] is False
        assert entry["size"] > 0
    missing = odradek("log-dirs", "--describe", "--bootstrap-server", bootstrap, "--broker-list", "1,7")
    assert missing.returncode == 1
    assert "The given brokers do not exist from --broker-list: 7. Current existent brokers: 1,2,3" in missing.stderr


def test_replication_factor_1_to_3_errors_and_a_cancelled_reassignment(
    broker_factory: Factory, etcd: EtcdCluster, tmp_path: Path
) -> None:
    brokers = three_brokers(broker_factory, etcd.url("/it/rf"))
    with logs_on_failure(brokers):
        _rf_scenario(brokers, tmp_path)


def _rf_scenario(brokers: dict[int, BrokerProcess], tmp_path: Path) -> None:
    from kafka import TopicPartition
    from kafka.errors import (
        InvalidReplicationAssignmentError,
        NoReassignmentInProgressError,
        UnknownTopicOrPartitionError,
    )

    bootstrap = ",".join(b.bootstrap for b in brokers.values())
    topic = create_topic(bootstrap, [[1]])
    values = [b"r%d" % i for i in range(100)]
    ck_produce(bootstrap, topic, values, extra={"acks": "all"})
    admin = kafka_python_admin(bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        assert admin.alter_partition_reassignments({tp: [1, 2, 3]}) == {tp: None}

        def grown() -> bool:
            in_sync = replicas_and_isr(bootstrap, topic)[:2] == ([1, 2, 3], [1, 2, 3])
            return in_sync and not admin.list_partition_reassignments()

        wait_for(grown, timeout=MOVE_TIMEOUT_S, interval=0.5, what="replication factor 3 with every replica in sync")
        for broker in brokers.values():
            assert [m.value() for m in ck_consume(broker.bootstrap, topic, 100, timeout=60)] == values

        errors = admin.alter_partition_reassignments(
            {
                TopicPartition("no-such-topic", 0): [1],
                TopicPartition(topic, 5): [1],
                TopicPartition(topic, 0): [1, 9],
            }
        )
        assert errors[TopicPartition("no-such-topic", 0)] is UnknownTopicOrPartitionError
        assert errors[TopicPartition(topic, 5)] is UnknownTopicOrPartitionError
        assert errors[TopicPartition(topic, 0)] is InvalidReplicationAssignmentError
        assert admin.alter_partition_reassignments({tp: [2, 2]}) == {tp: InvalidReplicationAssignmentError}
        assert admin.alter_partition_reassignments({tp: None}) == {tp: NoReassignmentInProgressError}

        controller = admin.describe_cluster()["controller_id"]
    finally:
        admin.close()
    _cancel_scenario(brokers, bootstrap, tmp_path, controller)


def _cancel_scenario(brokers: dict[int, BrokerProcess], bootstrap: str, tmp_path: Path, controller: int) -> None:
    """A reassignment whose new replica cannot catch up (its broker was killed with SIGKILL and is still registered
    until its session times out) stays in progress until cancelled."""
    dead = next(b for b in brokers if b != controller)
    others = [b for b in brokers if b != dead]
    topic = create_topic(bootstrap, [others])
    wait_for(lambda: replicas_and_isr(bootstrap, topic)[1] == sorted(others), timeout=30, what="the ISR")
    ck_produce(bootstrap, topic, [b"x"] * 10, extra={"acks": "all"})
    target = [controller, dead]
    plan = tmp_path / "cancel.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": target}]}))
    live = ",".join(brokers[b].bootstrap for b in others)
    brokers[dead].kill()
    executed = odradek("reassign-partitions", "--bootstrap-server", live, "--execute",
                       "--reassignment-json-file", str(plan))  # fmt: skip
    assert executed.returncode == 0, executed.stderr
    removing = [b for b in others if b not in target]
    merged = ",".join(str(b) for b in [*target, *removing])
    listed = odradek("reassign-partitions", "--bootstrap-server", live, "--list")
    assert listed.stdout.splitlines() == [
        "Current partition reassignments:",
        f"{topic}-0: replicas: {merged}. adding: {dead}. removing: {removing[0]}.",
    ], listed.stderr
    described = odradek("topics", "--bootstrap-server", live, "--describe", "--topic", topic)
    assert f"\tReplicas: {merged}\t" in described.stdout, described.stderr
    assert f"\tAdding Replicas: {dead}\tRemoving Replicas: {removing[0]}" in described.stdout
    again = odradek("reassign-partitions", "--bootstrap-server", live, "--execute",
                    "--reassignment-json-file", str(plan))  # fmt: skip
    assert again.returncode == 1
    assert "Cannot execute because there is an existing partition assignment" in again.stderr
    cancelled = odradek("reassign-partitions", "--bootstrap-server", live, "--cancel",
                        "--reassignment-json-file", str(plan), "--preserve-throttles")  # fmt: skip
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout == (
        f"Successfully cancelled partition reassignment for: {topic}-0\n"
        "None of the specified partition moves are active."
    )
    replicas, isr, _ = replicas_and_isr(live, topic)
    assert (replicas, isr) == (others, sorted(others))
    none_left = odradek("reassign-partitions", "--bootstrap-server", live, "--list")
    assert none_left.stdout.splitlines() == ["No partition reassignments found."]
    again_cancelled = odradek("reassign-partitions", "--bootstrap-server", live, "--cancel",
                              "--reassignment-json-file", str(plan), "--preserve-throttles")  # fmt: skip
    assert again_cancelled.stdout.startswith("None of the specified partition reassignments are active.\n")
    # The partition keeps serving on its original replicas.
    ck_produce(live, topic, [b"after"], extra={"acks": "all"})
    assert [m.value() for m in ck_consume(live, topic, 11, timeout=60)] == [b"x"] * 10 + [b"after"]


THROTTLE_BPS = 300_000  # --throttle: bytes/s on each side
MOVED_BYTES = 3_000_000  # 3 000 records of 1 000 bytes


def test_a_throttled_move_is_bounded_by_the_throttle_and_verify_clears_it(
    broker_factory: Factory, etcd: EtcdCluster, tmp_path: Path
) -> None:
    """`--throttle 300000` on 3 MB: the new replica is in sync no sooner than the throttle allows (Kafka's
    SimpleRate lets the first 1 MB fetch through at once, then about 300 KB/s: ~6.7 s at the least; asserted >= 4 s),
    while the same move without a throttle, after --verify cleared the throttles, is quick."""
    brokers = three_brokers(broker_factory, etcd.url("/it/throttle"))
    with logs_on_failure(brokers):
        _throttle_scenario(brokers, tmp_path)


def _move_seconds(bootstrap: str, topic: str, plan: Path, target: list[int], *throttle: str) -> float:
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": target}]}))
    started = time.monotonic()
    executed = odradek(
        "reassign-partitions", "--bootstrap-server", bootstrap, "--execute", "--reassignment-json-file", str(plan),
        *throttle,
    )  # fmt: skip
    assert executed.returncode == 0, executed.stderr
    wait_for(
        lambda: replicas_and_isr(bootstrap, topic)[1] == sorted(target),
        timeout=MOVE_TIMEOUT_S,
        interval=0.1,
        what=f"ISR {target}",
    )
    return time.monotonic() - started


def _throttle_scenario(brokers: dict[int, BrokerProcess], tmp_path: Path) -> None:
    from confluent_kafka.admin import ConfigResource, ResourceType

    bootstrap = ",".join(b.bootstrap for b in brokers.values())
    value = b"t" * 1000
    throttled, free = create_topic(bootstrap, [[1]]), create_topic(bootstrap, [[1]])
    for topic in (throttled, free):
        ck_produce(bootstrap, topic, [value] * (MOVED_BYTES // len(value)), extra={"acks": "all"})

    slow = _move_seconds(bootstrap, throttled, tmp_path / "slow.json", [1, 2], "--throttle", str(THROTTLE_BPS))
    admin = ck_admin(bootstrap)

    def described(kind: ResourceType, name: str, key: str) -> str:
        resource = ConfigResource(kind, name)
        return str(admin.describe_configs([resource])[resource].result(timeout=CLIENT_TIMEOUT_S)[key].value or "")

    assert described(ResourceType.BROKER, "1", "leader.replication.throttled.rate") == str(THROTTLE_BPS)
    assert described(ResourceType.TOPIC, throttled, "follower.replication.throttled.replicas") == "0:2"
    verify = odradek("reassign-partitions", "--bootstrap-server", bootstrap, "--verify",
                     "--reassignment-json-file", str(tmp_path / "slow.json"))  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert f"Clearing topic-level throttles on topic {throttled}" in verify.stdout
    assert described(ResourceType.BROKER, "1", "leader.replication.throttled.rate") == str(2**63 - 1)
    assert described(ResourceType.BROKER, "2", "follower.replication.throttled.rate") == str(2**63 - 1)
    assert described(ResourceType.TOPIC, throttled, "leader.replication.throttled.replicas") == ""

    quick = _move_seconds(bootstrap, free, tmp_path / "quick.json", [1, 3])
    assert slow >= 4.0, f"a {MOVED_BYTES} B move throttled at {THROTTLE_BPS} B/s took {slow:.1f} s"
    assert quick < slow / 2, f"unthrottled {quick:.1f} s against throttled {slow:.1f} s"
    for broker in (brokers[2], brokers[3]):
        topic = throttled if broker is brokers[2] else free
        assert len(ck_consume(broker.bootstrap, topic, MOVED_BYTES // len(value), timeout=60)) == 3000
