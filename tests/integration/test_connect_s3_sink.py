"""The S3 sink end to end: confluent-kafka produces to an Odradek broker, `odradek connect-standalone` runs
io.confluent.connect.s3.S3SinkConnector against moto's S3 server (its own process, tests/s3_support.py).

- Objects appear under Confluent's exact keys with the records' JSON lines, `flush.size` records each, for two
  partitions; the consumer group's committed offsets stop at the last uploaded record.
- The worker is killed with SIGKILL while records stream in, then restarted on the same settings: every record is
  in S3 exactly once (no object is missing, none holds a record of another, the lines in key order are the records
  in offset order), and the group commits up to the end.
- Two `connect-distributed` workers run the sink's two tasks over two partitions; one worker is killed with
  SIGKILL mid-stream, its task and partitions move to the survivor, and again every record is in S3 exactly once.
- `PUT /connector-plugins/S3SinkConnector/config/validate` answers per-key errors; a bad connector is refused with
  the REST API's error shape naming the key.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from connect_support import ConnectProcess, DistributedConnectProcess, write_properties
from it_support import BrokerProcess, ck_create_topic, ck_produce, unique_topic, wait_for
from s3_support import MotoServer, moto_missing

pytestmark = pytest.mark.integration

if (why := moto_missing()) is not None:
    pytest.fail(why, pytrace=False)

FLUSH = 10


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[str], ConnectProcess]]:
    started: list[ConnectProcess] = []

    def make(bootstrap: str) -> ConnectProcess:
        proc = ConnectProcess(tmp_path / "worker", bootstrap)
        started.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in started:
            proc.cleanup()


def sink_file(path: Path, moto: MotoServer, bucket: str, topic: str, flush: int = FLUSH) -> Path:
    return write_properties(
        path,
        {
            "name": "s3-sink",
            "connector.class": "io.confluent.connect.s3.S3SinkConnector",
            "topics": topic,
            "tasks.max": "1",
            "format.class": "io.confluent.connect.s3.format.json.JsonFormat",
            "flush.size": str(flush),
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            **moto.connector_settings(bucket),
        },
    )


def value(partition: int, i: int) -> bytes:
    return json.dumps({"p": partition, "i": i}, separators=(",", ":")).encode()


def expected_key(topic: str, partition: int, start: int) -> str:
    return f"topics/{topic}/partition={partition}/{topic}+{partition}+{start:010d}.json"


def committed(bootstrap: str, topic: str, partitions: int) -> list[int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "connect-s3-sink"})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return [tp.offset for tp in tps]
    finally:
        consumer.close()


def new_bucket(moto: MotoServer) -> str:
    name = f"it-{uuid.uuid4().hex[:10]}"
    moto.client().create_bucket(Bucket=name)
    return name


def test_objects_have_confluent_keys_and_contents(
    broker: BrokerProcess, moto: MotoServer, workers: Callable[[str], ConnectProcess], tmp_path: Path
) -> None:
    topic, bucket = unique_topic("s3"), new_bucket(moto)
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    ck_produce(broker.bootstrap, topic, [value(0, i) for i in range(45)], partition=0)
    ck_produce(broker.bootstrap, topic, [value(1, i) for i in range(20)], partition=1)
    worker = workers(broker.bootstrap).start([sink_file(tmp_path / "s3.properties", moto, bucket, topic)])
    want = {expected_key(topic, 0, s) for s in range(0, 40, FLUSH)} | {expected_key(topic, 1, s) for s in (0, 10)}
    wait_for(lambda: set(moto.objects(bucket)) >= want, timeout=60, what="the S3 objects")
    objects = moto.objects(bucket)
    assert set(objects) == want  # offsets 40-44 of partition 0 wait for the next 5 records
    for key, body in objects.items():
        partition, start = int(key.split("partition=")[1][0]), int(key.rsplit("+", 1)[1].split(".")[0])
        assert body == b"".join(value(partition, i) + b"\n" for i in range(start, start + FLUSH)), key
    wait_for(lambda: committed(broker.bootstrap, topic, 2) == [40, 20], timeout=30, what="committed offsets")
    time.sleep(1.5)  # several offset flushes later the group still waits for offsets 40-44 to be uploaded
    assert committed(broker.bootstrap, topic, 2) == [40, 20]
    ck_produce(broker.bootstrap, topic, [value(0, i) for i in range(45, 50)], partition=0)
    wait_for(lambda: expected_key(topic, 0, 40) in moto.objects(bucket), timeout=30, what="the 5th object")
    wait_for(lambda: committed(broker.bootstrap, topic, 2) == [50, 20], timeout=30, what="committed offsets")

    code, body, _ = worker.rest(
        "PUT",
        "/connector-plugins/S3SinkConnector/config/validate",
        {
            "connector.class": "S3SinkConnector",
            "name": "v",
            "topics": topic,
            "format.class": "JsonFormat",
            "flush.size": "0",
        },
    )
    assert code == 200 and body["error_count"] == 2, body
    bad = {c["value"]["name"]: c["value"]["errors"] for c in body["configs"] if c["value"]["errors"]}
    assert sorted(bad) == ["flush.size", "s3.bucket.name"], bad
    code, body, _ = worker.rest(
        "POST",
        "/connectors",
        {"name": "bad-s3", "config": {"connector.class": "S3Sink", "topics": topic, **moto.connector_settings(bucket),
                                      "format.class": "JsonFormat", "flush.size": "-3"}},
    )  # fmt: skip
    assert code == 400 and body["error_code"] == 400 and "flush.size" in body["message"], body
    assert worker.stop() == 0


# A fault test of the slow set (`make slow`, about 60 s); the default run keeps the distributed kill below
# (test_distributed_workers_one_killed_every_record_once), which checks the same every-record-once rule.
@pytest.mark.slow
def test_sigkill_mid_stream_then_restart_leaves_every_record_once(
    broker: BrokerProcess, moto: MotoServer, workers: Callable[[str], ConnectProcess], tmp_path: Path
) -> None:
    # flush.size 7 divides neither the worker's consume batches (up to 500) nor the producer's chunks (37), so an
    # offset committed for records consumed rather than uploaded would fall inside an object.
    flush = 7
    topic, bucket, total = unique_topic("s3-kill"), new_bucket(moto), 430 * flush
    ck_create_topic(broker.bootstrap, topic)
    files = [sink_file(tmp_path / "s3.properties", moto, bucket, topic, flush)]
    worker = workers(broker.bootstrap).start(files)

    def produce() -> None:
        for start in range(0, total, 37):
            ck_produce(broker.bootstrap, topic, [value(0, i) for i in range(start, min(start + 37, total))])
            time.sleep(0.02)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_for(lambda: len(moto.objects(bucket)) >= 30, timeout=60, what="30 objects before the kill")
        wait_for(lambda: committed(broker.bootstrap, topic, 1)[0] > 0, timeout=30, what="a commit before the kill")
        assert worker.proc is not None
        worker.proc.kill()
        worker.proc.wait(timeout=10)
        killed_with = len(moto.objects(bucket))
        at_kill = committed(broker.bootstrap, topic, 1)[0]
    finally:
        producer.join(timeout=120)
    assert not producer.is_alive()
    assert killed_with < total // flush, "the kill came after everything was uploaded: nothing was tested"
    # Only uploaded objects are committed: the group's offset is the start of an object, at most the next one.
    assert at_kill % flush == 0 and at_kill <= killed_with * flush, (at_kill, killed_with)
    worker.start(files)
    want = {expected_key(topic, 0, s) for s in range(0, total, flush)}
    wait_for(lambda: set(moto.objects(bucket)) >= want, timeout=120, what="every object after the restart")
    objects = moto.objects(bucket)
    assert set(objects) == want
    lines = [line for key in sorted(objects) for line in objects[key].splitlines()]
    assert lines == [value(0, i) for i in range(total)]
    wait_for(lambda: committed(broker.bootstrap, topic, 1) == [total], timeout=30, what="the group at the end")
    assert worker.stop() == 0


def test_distributed_workers_one_killed_every_record_once(
    broker: BrokerProcess, moto: MotoServer, tmp_path: Path
) -> None:
    topic, bucket, flush, per_partition = unique_topic("s3-dist"), new_bucket(moto), 7, 140 * 7
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    prefix = unique_topic("s3-connect")
    timing = {
        "scheduled.rebalance.max.delay.ms": "3000",
        "session.timeout.ms": "6000",
        "consumer.session.timeout.ms": "6000",
        "consumer.heartbeat.interval.ms": "1000",
    }
    workers = [DistributedConnectProcess(tmp_path / f"w{i}", broker.bootstrap, prefix, timing) for i in range(2)]
    try:
        for w in workers:
            w.start()
        props = dict(line.split("=", 1) for line in (
            sink_file(tmp_path / "s3.properties", moto, bucket, topic, flush).read_text().splitlines()
        ))  # fmt: skip
        props["tasks.max"] = "2"

        def create() -> bool:
            code, _, _ = workers[0].rest("PUT", f"/connectors/{props['name']}/config", props)
            return code in (200, 201)

        wait_for(create, timeout=60, interval=0.5, what="the connector created outside a rebalance")

        def tasks_on() -> dict[int, str] | None:
            code, body, _ = workers[0].rest("GET", f"/connectors/{props['name']}/status")
            tasks = body.get("tasks", []) if code == 200 else []
            if len(tasks) != 2 or any(t["state"] != "RUNNING" for t in tasks):
                return None
            return {t["id"]: t["worker_id"] for t in tasks}

        placed = wait_for(tasks_on, timeout=60, interval=0.5, what="two running tasks")
        assert set(placed.values()) == {w.worker_id for w in workers}, placed  # one task on each worker

        def produce() -> None:
            for start in range(0, per_partition, 37):
                for p in (0, 1):
                    chunk = range(start, min(start + 37, per_partition))
                    ck_produce(broker.bootstrap, topic, [value(p, i) for i in chunk], partition=p)
                time.sleep(0.02)

        producer = threading.Thread(target=produce)
        producer.start()
        try:
            wait_for(lambda: len(moto.objects(bucket)) >= 20, timeout=60, what="20 objects before the kill")
            victim = workers[1]
            assert victim.proc is not None
            victim.kill()
        finally:
            producer.join(timeout=120)
        assert not producer.is_alive()
        want = {expected_key(topic, p, s) for p in (0, 1) for s in range(0, per_partition, flush)}
        wait_for(lambda: set(moto.objects(bucket)) >= want, timeout=180, what="every object after the kill")
        objects = moto.objects(bucket)
        assert set(objects) == want
        for p in (0, 1):
            keys = sorted(k for k in objects if f"/partition={p}/" in k)
            lines = [line for key in keys for line in objects[key].splitlines()]
            assert lines == [value(p, i) for i in range(per_partition)], p
        wait_for(
            lambda: committed(broker.bootstrap, topic, 2) == [per_partition, per_partition],
            timeout=60,
            what="the group at the end",
        )
        survivors = tasks_on()
        assert survivors is not None and set(survivors.values()) == {workers[0].worker_id}, survivors
    finally:
        for w in workers:
            w.cleanup()
