"""Old clients that Kafka 4.0's KIP-896 floor broke, end to end against a broker process (issue 15): Debian's Go
clients compiled offline from /usr/share/gocode (sarama 1.22 at its default version, Kafka 0.8.2: Produce v0 with
message format v0, Fetch v0, ListOffsets v0, OffsetCommit v1; at 0.10.0.0 and 2.2.0.0; segmentio kafka-go 0.2:
Produce v2 and Fetch v2 with message format v1), and kafka-python speaking the 0.8.2 / 0.9 / 0.10 protocol.
Records written by an old client are read back by confluent-kafka (stored as RecordBatch v2), commits are read back
with confluent-kafka's committed(), and ListOffsets v0 answers are checked against the watermarks.

The Go programs are tests/integration/go/*/main.go, built once per module with GOPATH=/usr/share/gocode,
GO111MODULE=off and GOPROXY=off (Debian's -dev packages, no network); install them with
tools/install-test-deps.sh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
from it_support import BrokerProcess, ck_consume, ck_create_topic, ck_produce, ck_watermarks, unique_topic

GO_DIR = Path(__file__).parent / "go"
GOPATH = Path("/usr/share/gocode")
SARAMA = GOPATH / "src/github.com/Shopify/sarama"
KAFKA_GO = GOPATH / "src/github.com/segmentio/kafka-go"
RUN_TIMEOUT_S = 120

needs_go = pytest.mark.skipif(
    shutil.which("go") is None or not SARAMA.is_dir() or not KAFKA_GO.is_dir(),
    reason="Debian's golang-go, golang-github-shopify-sarama-dev and golang-github-segmentio-kafka-go-dev "
    "are not installed (tools/install-test-deps.sh)",
)


@pytest.fixture(scope="module")
def go_clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("go-clients")
    env = {
        **os.environ,
        "GOPATH": str(GOPATH),
        "GO111MODULE": "off",
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOCACHE": str(out / "cache"),
    }
    built: dict[str, Path] = {}
    for name in ("sarama_client", "kafkago_client"):
        binary = out / name
        subprocess.run(
            ["go", "build", "-o", str(binary), "."],
            cwd=GO_DIR / name,
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
        built[name] = binary
    return built


def run(binary: Path, *args: str) -> dict[str, Any]:
    """Run one Go client; its JSON lines by kind. A failing client fails the test with its stderr."""
    done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == 0, f"{binary.name} {' '.join(args)} failed:\n{done.stderr}\n{done.stdout}"
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {line["kind"]: line["value"] for line in lines}


def committed(bootstrap: str, group: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        (tp,) = consumer.committed([TopicPartition(topic, 0)], timeout=30)
        return int(tp.offset)
    finally:
        consumer.close()


def values(bootstrap: str, topic: str, count: int) -> list[tuple[str, str]]:
    return [
        (m.key().decode(), m.value().decode())
        for m in ck_consume(bootstrap, topic, count, timeout=60.0)  # stored as v2, read by librdkafka
    ]


@needs_go
@pytest.mark.parametrize(
    ("version", "compression", "admin"),
    [
        ("", "none", False),  # 0.8.2: Produce v0 (magic 0), Fetch v0, ListOffsets v0, OffsetCommit v1
        ("", "gzip", False),  # a magic 0 gzip wrapper
        ("0.10.0.0", "gzip", False),  # Produce v2 (magic 1), Fetch v2; sarama has no admin below 0.10.1
        ("0.11.0.0", "none", True),  # CreateTopics v1, DeleteTopics v1, DescribeConfigs v0 (ListTopics)
        ("1.0.0", "none", True),
        ("2.2.0", "gzip", True),
    ],
)
def test_sarama(
    broker: BrokerProcess, go_clients: dict[str, Path], version: str, compression: str, admin: bool
) -> None:
    topic = unique_topic("sarama")
    ck_create_topic(broker.bootstrap, topic)
    group = unique_topic("sarama-group")
    args = ["-broker", broker.bootstrap, "-topic", topic, "-count", "5", "-group", group, "-commit", "3"]
    args += ["-compression", compression]
    if version:
        args += ["-version", version]
    if admin:
        args += ["-admin-topic", unique_topic("sarama-admin")]
    out = run(go_clients["sarama_client"], *args)
    assert out["version"] == (version or "0.8.2.0")
    assert out["produced"] == [0, 1, 2, 3, 4]
    assert out["consumed"] == [f"{i}:k{i}=v{i}" for i in range(5)]
    assert out["offsets"] == {"newest": 5, "oldest": 0}  # ListOffsets v0 below 0.10.1, v1 from 2.2
    assert out["committed"] == 3
    assert committed(broker.bootstrap, group, topic) == 3
    assert values(broker.bootstrap, topic, 5) == [(f"k{i}", f"v{i}") for i in range(5)]
    if admin:
        assert out["listed"] == {"found": True, "partitions": 2}
        assert "deleted" in out


@needs_go
def test_sarama_reads_what_a_modern_client_wrote(broker: BrokerProcess, go_clients: dict[str, Path]) -> None:
    """Records written as RecordBatch v2 (librdkafka, lz4) reach sarama 1.22 at 0.8.2 down-converted to
    message format v0 (Fetch v0), with the 5 records it produced after them."""
    topic = unique_topic("sarama-down")
    ck_create_topic(broker.bootstrap, topic)
    ck_produce(broker.bootstrap, topic, [f"w{i}".encode() for i in range(3)], extra={"compression.type": "lz4"})
    out = run(go_clients["sarama_client"], "-broker", broker.bootstrap, "-topic", topic, "-count", "8")
    assert out["produced"] == [3, 4, 5, 6, 7, 8, 9, 10]
    assert out["consumed"][:3] == [f"{i}:=w{i}" for i in range(3)]  # no key
    assert out["consumed"][3:] == [f"{i + 3}:k{i}=v{i}" for i in range(5)]


@needs_go
def test_kafka_go(broker: BrokerProcess, go_clients: dict[str, Path]) -> None:
    topic = unique_topic("kafka-go")
    ck_create_topic(broker.bootstrap, topic)
    out = run(go_clients["kafkago_client"], "-broker", broker.bootstrap, "-topic", topic, "-count", "5")
    assert out["written"] == 5
    assert sorted(out["read"]) == sorted(f"{i}:k{i}=v{i}" for i in range(5))
    assert sorted(values(broker.bootstrap, topic, 5)) == sorted((f"k{i}", f"v{i}") for i in range(5))
    assert ck_watermarks(broker.bootstrap, topic) == (0, 5)


@pytest.mark.parametrize("api_version", [(0, 8, 2), (0, 9), (0, 10)])
def test_kafka_python_at_old_protocol_versions(broker: BrokerProcess, api_version: tuple[int, ...]) -> None:
    """kafka-python 3 pinned to an old broker version: it then speaks the matching old requests (Produce v0/v1/v2
    with message format v0/v1, Fetch v0-v2)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = unique_topic("kafka-python-old")
    ck_create_topic(broker.bootstrap, topic)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, api_version=api_version, acks=1)
    try:
        for i in range(4):
            producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=0).get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, api_version=api_version, consumer_timeout_ms=10_000)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        got = [(m.offset, m.key, m.value) for _, m in zip(range(4), consumer, strict=False)]
    finally:
        consumer.close()
    assert got == [(i, f"k{i}".encode(), f"v{i}".encode()) for i in range(4)]
    assert values(broker.bootstrap, topic, 4) == [(f"k{i}", f"v{i}") for i in range(4)]


ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
BURROW = "Burrow"

needs_burrow = pytest.mark.skipif(
    shutil.which(BURROW) is None or shutil.which("java") is None or not ZOOKEEPER_JAR.is_file(),
    reason="Debian's burrow and zookeeper (Burrow 1.2 needs a ZooKeeper for its own locks) are not installed "
    "(tools/install-test-deps.sh)",
)


def _start(command: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _burrow_config(workdir: Path, zk_port: int, http_port: int, bootstrap: str) -> None:
    """Burrow 1.2's burrow.toml: one Kafka cluster (broker offsets by ListOffsets v0, as kafka-version 0.10.0
    makes sarama ask) and its __consumer_offsets consumer, in-memory storage, the HTTP API on loopback."""
    (workdir / "burrow.toml").write_text(
        f"""[general]
pidfile="{workdir}/burrow.pid"
[logging]
level="info"
[zookeeper]
servers=["127.0.0.1:{zk_port}"]
timeout=6
root-path="/burrow"
[client-profile.old]
client-id="burrow-old"
kafka-version="0.10.0"
[cluster.local]
class-name="kafka"
servers=["{bootstrap}"]
client-profile="old"
topic-refresh=5
offset-refresh=2
[consumer.local]
class-name="kafka"
cluster="local"
servers=["{bootstrap}"]
client-profile="old"
offsets-topic="__consumer_offsets"
start-latest=false
group-blacklist="^(console-consumer-|python-kafka-consumer-).*$"
[httpserver.default]
address="127.0.0.1:{http_port}"
[storage.default]
class-name="inmemory"
workers=4
intervals=10
expire-group=604800
min-distance=1
"""
    )


@needs_burrow
def test_burrow_reports_a_groups_lag(broker: BrokerProcess, tmp_path: Path) -> None:
    """Burrow 1.2.1 (Debian) reads the group's commits from __consumer_offsets (Fetch v2, down-converted to
    message format v1) and the partition's end offset with ListOffsets v0, and reports the lag between them."""
    import urllib.request

    from confluent_kafka import Consumer, TopicPartition
    from it_support import free_port, wait_for

    topic = unique_topic("burrow")
    group = unique_topic("burrow-group")
    ck_create_topic(broker.bootstrap, topic)
    ck_produce(broker.bootstrap, topic, [f"r{i}".encode() for i in range(10)])
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    finally:
        consumer.close()

    zk_port, http_port = free_port(), free_port()
    (tmp_path / "zk").mkdir()
    zookeeper = _start(
        [
            "java", "-Xmx128m", "-Dzookeeper.admin.enableServer=false",
            "-cp", f"{ZOOKEEPER_JAR}:/usr/share/java/*",
            "org.apache.zookeeper.server.ZooKeeperServerMain", str(zk_port), str(tmp_path / "zk"),
        ],
        tmp_path / "zookeeper.out",
        tmp_path,
    )  # fmt: skip
    burrow: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: _serving(zk_port), timeout=60, interval=0.5, what="ZooKeeper serving")
        _burrow_config(tmp_path, zk_port, http_port, broker.bootstrap)
        burrow = _start([BURROW, "-config-dir", str(tmp_path)], tmp_path / "burrow.out", tmp_path)
        url = f"http://127.0.0.1:{http_port}/v3/kafka/local/consumer/{group}/lag"

        def lag() -> dict[str, Any] | None:
            assert burrow is not None and burrow.poll() is None, (tmp_path / "burrow.out").read_text()[-3000:]
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    status = json.loads(response.read())["status"]
            except OSError:
                return None
            partitions = [p for p in status.get("partitions") or [] if p["topic"] == topic]
            if not partitions or partitions[0].get("end") is None:
                return None
            return dict(partitions[0])

        found = wait_for(lag, timeout=120, interval=1.0, what="Burrow reporting the group's lag")
        assert found["end"]["offset"] == 4  # the committed offset
        assert found["current_lag"] == 6  # the end offset 10 (ListOffsets v0) minus the commit
    finally:
        if burrow is not None:
            _stop(burrow)
        _stop(zookeeper)


def _serving(port: int) -> bool:
    """ZooKeeper's `srvr` four-letter command names its mode once the server serves requests (before that, the
    port accepts connections and drops sessions, which Burrow does not retry)."""
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"srvr")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    except OSError:
        return False
    return b"Mode:" in answer


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (Debian package kcat)")
@pytest.mark.parametrize(("fallback", "codec"), [("0.8.2.2", "lz4"), ("0.8.2.2", "snappy"), ("0.9.0", "gzip")])
def test_kcat_as_a_pre_0_10_client(broker: BrokerProcess, fallback: str, codec: str) -> None:
    """librdkafka (Debian's kcat) without ApiVersions, told the broker is 0.8.2 or 0.9: Produce v0/v1 with message
    format v0 (its lz4 frames carry KAFKA-3160's header checksum, which Kafka ignores for magic 0), Fetch v0/v1."""
    topic = unique_topic("kcat-old")
    ck_create_topic(broker.bootstrap, topic)
    old = ["-b", broker.bootstrap, "-t", topic, "-p", "0", "-X", "api.version.request=false"]
    old += ["-X", f"broker.version.fallback={fallback}"]
    produced = subprocess.run(
        ["kcat", "-P", *old, "-z", codec], input=b"a\nb\nc\n", capture_output=True, timeout=RUN_TIMEOUT_S
    )
    assert produced.returncode == 0 and b"failed" not in produced.stderr, produced.stderr.decode()
    consumed = subprocess.run(
        ["kcat", "-C", *old, "-o", "beginning", "-e", "-f", "%o:%s\\n"], capture_output=True, timeout=RUN_TIMEOUT_S
    )
    assert consumed.returncode == 0, consumed.stderr.decode()
    assert consumed.stdout.decode().split() == ["0:a", "1:b", "2:c"]
    assert [m.value() for m in ck_consume(broker.bootstrap, topic, 3)] == [b"a", b"b", b"c"]


@pytest.mark.parametrize("api_version", [(0, 8, 2), (0, 9), (0, 10)])
def test_kafka_python_groups_and_commits_at_old_protocol_versions(
    broker: BrokerProcess, api_version: tuple[int, ...]
) -> None:
    """kafka-python 3 as a 0.8.2 client commits with OffsetCommit v1 (no group membership, generation -1); as a
    0.9/0.10 client it joins with JoinGroup/SyncGroup v0, reads with Fetch v1/v2 and commits with OffsetCommit
    v2. The commits are read back by confluent-kafka."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from kafka import KafkaConsumer, TopicPartition
        from kafka.structs import OffsetAndMetadata

    topic = unique_topic("kafka-python-group")
    group = unique_topic("kafka-python-old-group")
    ck_create_topic(broker.bootstrap, topic)
    ck_produce(broker.bootstrap, topic, [b"a", b"b", b"c"])
    common: dict[str, Any] = {"bootstrap_servers": broker.bootstrap, "api_version": api_version, "group_id": group}
    common |= {"enable_auto_commit": False, "consumer_timeout_ms": 15_000}
    if api_version == (0, 8, 2):
        consumer = KafkaConsumer(**common)
        consumer.assign([TopicPartition(topic, 0)])
    else:
        consumer = KafkaConsumer(topic, auto_offset_reset="earliest", **common)
    try:
        if api_version != (0, 8, 2):
            assert [m.value for _, m in zip(range(3), consumer, strict=False)] == [b"a", b"b", b"c"]
        consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(2, "", -1)})
        assert consumer.committed(TopicPartition(topic, 0)) == 2
    finally:
        consumer.close()
    assert committed(broker.bootstrap, group, topic) == 2
