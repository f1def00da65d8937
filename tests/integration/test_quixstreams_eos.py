"""A stream-processing application in its exactly-once mode runs unmodified (issue 9, section 3): quixstreams.

quixstreams 3.28 requires confluent-kafka < 2.13 while Odradek's tests pin 2.16.1, so it lives in a virtual
environment of its own, `build/venv-quixstreams`, made by `tools/install-quixstreams-venv.sh` (run by
`make install-test`) from the pinned `tools/quixstreams-requirements.txt`. The application,
`quix_app/count_per_key.py`, is a plain quixstreams program (`processing_guarantee="exactly-once"`): it counts
records per key in its RocksDB state store (backed by a changelog topic) and maps each to an output record.
It runs as a subprocess with that venv's python; the checks use Odradek's own confluent-kafka with
`isolation.level=read_committed`:

- every input record has exactly one output, the counts per key are 1, 2, ... in input order, and the group's
  committed offsets reach the end of the input;
- after a SIGKILL of the application mid-stream (output already committed, input still being produced) and a
  restart with its state folder wiped (so the counts can only come from the changelog topic), the same holds for
  all the input;
- read_uncommitted sees every committed output record at the same offset (and may see aborted duplicates, which
  read_committed never returns).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from it_support import REPO, BrokerProcess, ck_create_topic, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

VENV_PYTHON = REPO / "build" / "venv-quixstreams" / "bin" / "python"
APP = Path(__file__).resolve().parent / "quix_app" / "count_per_key.py"
INSTALL_STEP = "tools/install-quixstreams-venv.sh (run by `make install-test`)"
PARTITIONS = 2
KEYS = [f"k{i}" for i in range(7)]
FIRST = 300  # records before the first check
SECOND = 900  # records produced while the application is killed and restarted
TIMEOUT_S = 120.0
COMMIT_INTERVAL_S = 0.5  # the application's commit_interval (quixstreams' default is 5 s)
STOP_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def venv_python() -> Path:
    """quixstreams' own interpreter: missing it fails under CI (a skip would, too) and names the install step."""
    if VENV_PYTHON.exists():
        return VENV_PYTHON
    message = f"quixstreams venv missing ({VENV_PYTHON}): created by {INSTALL_STEP}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class QuixApp:
    """The quixstreams application as a subprocess; output appended to `<workdir>/quix.out` across restarts."""

    def __init__(self, python: Path, workdir: Path, env: dict[str, str]) -> None:
        self.python = python
        self.out_path = workdir / "quix.out"
        self.state_dir = workdir / "state"
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        self.env = {**base, **env, "STATE_DIR": str(self.state_dir), "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.out_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(self.python), str(APP)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.out_path.parent,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT_S)

    def assert_running(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"quix app exited: {self.tail()}"

    def tail(self) -> str:
        return self.out_path.read_text(errors="replace")[-4000:] if self.out_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM (quixstreams' clean stop), then SIGKILL if it does not end in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)


Output = list[tuple[int, int, dict[str, Any]]]  # (partition, offset, value) in log order per partition


def _read_output(bootstrap: str, topic: str, isolation: str, timeout: float = 30.0) -> Output:
    """Every record of every partition from offset 0 up to the end at the time of the read (the LSO for
    read_committed): a new consumer each time, since librdkafka reports a partition's end once per assignment."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": isolation,
        }
    )
    records: Output = []
    at_end: set[int] = set()
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        deadline = time.monotonic() + timeout
        while len(at_end) < PARTITIONS and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                at_end.add(msg.partition())
                continue
            records.append((msg.partition(), msg.offset(), json.loads(msg.value())))
    finally:
        consumer.close()
    assert len(at_end) == PARTITIONS, f"{topic} ({isolation}): only {sorted(at_end)} read to the end in {timeout} s"
    return records


def _produce(bootstrap: str, topic: str, seqs: range, pause_s: float = 0.0) -> None:
    """Input `{"key", "seq"}` keyed by key (the default partitioner spreads keys over both partitions)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    for seq in seqs:
        key = KEYS[seq % len(KEYS)]
        producer.produce(topic, key=key.encode(), value=json.dumps({"key": key, "seq": seq}).encode())
        if pause_s and seq % 20 == 0:
            producer.flush(30)
            time.sleep(pause_s)
    assert producer.flush(30) == 0


def _assert_exactly_once(records: Output, produced: int) -> None:
    """One output per input seq; per key, in log order, seqs ascending and counts 1, 2, 3, ..."""
    values = [value for _, _, value in sorted(records, key=lambda r: (r[0], r[1]))]
    seqs = Counter(value["seq"] for value in values)
    duplicated = sorted(seq for seq, n in seqs.items() if n > 1)
    missing = sorted(set(range(produced)) - set(seqs))
    assert not duplicated and not missing, f"duplicated {duplicated[:20]}, missing {missing[:20]}"
    assert len(values) == produced
    for key in KEYS:
        mine = [(value["seq"], value["count"]) for value in values if value["key"] == key]
        expected_seqs = [seq for seq in range(produced) if KEYS[seq % len(KEYS)] == key]
        assert mine == list(zip(expected_seqs, range(1, len(expected_seqs) + 1), strict=True)), key
    assert all(value["tag"] == "seen" for value in values)


def _committed_at_end(bootstrap: str, group: str, topic: str) -> bool:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=15)
        ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] for p in range(PARTITIONS)]
        return [tp.offset for tp in committed] == ends
    finally:
        consumer.close()


@pytest.fixture
def quix_app(venv_python: Path, broker: BrokerProcess, tmp_path: Path) -> Iterator[QuixApp]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "BROKER": broker.bootstrap,
        "GROUP": f"quix-{suffix}",
        "INPUT_TOPIC": f"quix-in-{suffix}",
        "OUTPUT_TOPIC": f"quix-out-{suffix}",
        "TRANSACTION_TIMEOUT_MS": "10000",
        "SESSION_TIMEOUT_MS": "6000",
        "COMMIT_INTERVAL_S": str(COMMIT_INTERVAL_S),
    }
    app = QuixApp(venv_python, tmp_path, env)
    try:
        yield app
    finally:
        app.stop()


def test_quixstreams_exactly_once_survives_sigkill(broker: BrokerProcess, quix_app: QuixApp) -> None:
    bootstrap, env = broker.bootstrap, quix_app.env
    source, sink, group = env["INPUT_TOPIC"], env["OUTPUT_TOPIC"], env["GROUP"]
    ck_create_topic(bootstrap, source, partitions=PARTITIONS)
    ck_create_topic(bootstrap, sink, partitions=PARTITIONS)

    def committed_output(count: int) -> Output | None:
        quix_app.assert_running()
        records = _read_output(bootstrap, sink, "read_committed")
        return records if len(records) >= count else None

    _produce(bootstrap, source, range(FIRST))
    quix_app.start()
    first = wait_for(lambda: committed_output(FIRST), timeout=TIMEOUT_S, interval=0.5, what="the first output")
    _assert_exactly_once(first, FIRST)
    wait_for(lambda: _committed_at_end(bootstrap, group, source), timeout=TIMEOUT_S, what="the committed offsets")

    # More input while the application runs; SIGKILL it once some of that is committed: mid-stream.
    producing = threading.Thread(target=_produce, args=(bootstrap, source, range(FIRST, FIRST + SECOND), 0.05))
    producing.start()
    try:
        wait_for(lambda: committed_output(FIRST + 60), timeout=TIMEOUT_S, interval=0.1, what="output mid-stream")
        time.sleep(COMMIT_INTERVAL_S / 2)  # into the next transaction (input arrives every ~0.05 s): likely open
        quix_app.kill()
        assert producing.is_alive(), "the input ended before the kill: not mid-stream"
        # As on a new machine: the counts can only come back from the changelog topic.
        shutil.rmtree(quix_app.state_dir)
        quix_app.start()
    finally:
        producing.join(TIMEOUT_S)
    assert not producing.is_alive()

    total = FIRST + SECOND
    wait_for(lambda: committed_output(total), timeout=TIMEOUT_S, interval=0.5, what="all the output")
    time.sleep(1.0)  # nothing more may arrive (a duplicate would)
    committed = _read_output(bootstrap, sink, "read_committed")
    _assert_exactly_once(committed, total)
    wait_for(lambda: _committed_at_end(bootstrap, group, source), timeout=TIMEOUT_S, what="the committed offsets")

    everything = {(p, o): value for p, o, value in _read_output(bootstrap, sink, "read_uncommitted")}
    assert all(everything.get((p, o)) == value for p, o, value in committed)
    print(f"read_uncommitted saw {len(everything) - total} aborted output record(s) that read_committed never returned")
