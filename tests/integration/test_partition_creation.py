"""Creating many partitions does not stall the broker's event loop, and every partition created is usable and durable.

A fuzzing pass found partition creation costing milliseconds per partition on the event loop (folder, segment
files, partition.metadata and leader-epoch checkpoint fsyncs, and a scan of every log per new one): a 3,000-partition
CreateTopics held every other client for ~25 s and cost the broker its metadata lease. The logs are now created in
a worker thread. Here one connection sends ApiVersions round trips back to back while CreateTopics creates
`PARTITIONS` partitions; the longest round trip is the stall. On the 2-core development machine it was 850-1,820 ms
for 300 partitions before the fix (the whole creation), 3-18 ms after (five runs each). The partitions are then
produced to, and read back after a restart.

With a CreateTopics timeout_ms shorter than the creation, the answer comes first, and Metadata reports the
partitions whose log does not exist yet LEADER_NOT_AVAILABLE; a producer retries until they are served.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import NewTopic
from it_support import (
    CLIENT_TIMEOUT_S,
    BrokerProcess,
    ck_admin,
    ck_consume,
    ck_produce,
    parse_api_versions_v0,
    raw_connect,
    recv_frame,
    request_frame,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PARTITIONS = 300
MAX_STALL_S = 0.25
SPOT_CHECKS = (0, 1, PARTITIONS // 2, PARTITIONS - 1)


class ApiVersionsProber:
    """ApiVersions v0 round trips back to back on one connection, from a thread; records each latency."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latencies: list[float] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="api-versions-prober", daemon=True)

    def __enter__(self) -> ApiVersionsProber:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            with raw_connect(self.port, timeout=60) as sock:
                correlation_id = 0
                while not self._stop.is_set():
                    correlation_id += 1
                    sent = time.monotonic()
                    sock.sendall(request_frame(18, 0, correlation_id, b""))
                    frame = recv_frame(sock)
                    assert frame is not None, "the broker closed the probe connection"
                    parse_api_versions_v0(frame, correlation_id, expect_error=0)
                    self.latencies.append(time.monotonic() - sent)
                    time.sleep(0.001)
        except BaseException as exc:
            self.error = exc


def partition_states(bootstrap: str, topic: str) -> dict[int, tuple[Any, int]]:
    """partition -> (error, leader) as Metadata reports them."""
    meta = ck_admin(bootstrap).list_topics(topic, timeout=CLIENT_TIMEOUT_S)
    found = meta.topics[topic]
    assert found.error is None, found.error
    return {index: (p.error, p.leader) for index, p in found.partitions.items()}


def test_creating_many_partitions_keeps_serving_others(
    broker_factory: Callable[..., BrokerProcess], topic: str
) -> None:
    broker = broker_factory()
    admin = ck_admin(broker.bootstrap)
    with ApiVersionsProber(broker.port) as prober:
        time.sleep(0.3)
        before = len(prober.latencies)
        start = time.monotonic()
        futures = admin.create_topics([NewTopic(topic, PARTITIONS, 1)], request_timeout=60)
        futures[topic].result(timeout=60)
        took = time.monotonic() - start
        time.sleep(0.3)
    assert prober.error is None, repr(prober.error)
    during = prober.latencies[before:]
    assert len(during) >= 10, f"only {len(during)} probes answered during {took:.2f} s"
    stall = max(during)
    print(f"{PARTITIONS} partitions in {took:.2f} s; {len(during)} probes, max stall {stall * 1000:.1f} ms")
    assert stall < MAX_STALL_S, (
        f"a concurrent ApiVersions waited {stall * 1000:.0f} ms while {PARTITIONS} partitions were created"
        f" ({took:.2f} s, {len(during)} probes)"
    )
    # CreateTopics answers once the logs exist: every partition is led, and usable at once.
    states = partition_states(broker.bootstrap, topic)
    assert sorted(states) == list(range(PARTITIONS))
    assert all(error is None and leader == 1 for error, leader in states.values()), states
    for partition in SPOT_CHECKS:
        acked = ck_produce(broker.bootstrap, topic, [f"p{partition}-{i}".encode() for i in range(3)], partition)
        assert [offset for _, offset, _ in acked] == [0, 1, 2]
    assert all((broker.partition_dir(topic, p) / "partition.metadata").exists() for p in range(PARTITIONS))

    broker.stop()
    broker.restart()
    states = partition_states(broker.bootstrap, topic)
    assert len(states) == PARTITIONS and all(error is None for error, _ in states.values())
    for partition in SPOT_CHECKS:
        records = ck_consume(broker.bootstrap, topic, 3, partition)
        assert [r.value() for r in records] == [f"p{partition}-{i}".encode() for i in range(3)]
    more = ck_produce(broker.bootstrap, topic, [b"after-restart"], PARTITIONS - 1)
    assert more[0][1] == 3
    assert "Traceback" not in broker.output() and " ERROR " not in broker.output()


def test_partitions_still_being_created_are_leader_not_available_then_usable(
    broker_factory: Callable[..., BrokerProcess], topic: str
) -> None:
    broker = broker_factory()
    admin = ck_admin(broker.bootstrap)
    start = time.monotonic()
    # timeout_ms 1: the response does not wait for the logs (as KRaft answers once the topic is committed).
    futures = admin.create_topics([NewTopic(topic, PARTITIONS, 1)], operation_timeout=0.001, request_timeout=60)
    futures[topic].result(timeout=60)
    acked = time.monotonic() - start
    states = partition_states(broker.bootstrap, topic)
    assert sorted(states) == list(range(PARTITIONS))
    pending = [p for p, (error, leader) in states.items() if error is not None]
    print(f"answered after {acked * 1000:.0f} ms; then {len(pending)} of {PARTITIONS} partitions not led yet")
    assert pending, "every log already existed: the response waited for them"
    assert all(states[p][0].code() == KafkaError.LEADER_NOT_AVAILABLE and states[p][1] == -1 for p in pending)
    # A producer told LEADER_NOT_AVAILABLE retries until the partition is served.
    last = max(pending)
    acked_records = ck_produce(broker.bootstrap, topic, [b"first"], last)
    assert acked_records[0][1] == 0
    wait_for(
        lambda: all(error is None for error, _ in partition_states(broker.bootstrap, topic).values()),
        timeout=60,
        what="every partition led",
    )
    assert [r.value() for r in ck_consume(broker.bootstrap, topic, 1, last)] == [b"first"]
