"""The Mirror connectors inside a Connect worker (`odradek connect-standalone`), configured through its REST API, as
Kafka users run MirrorMaker 2 on a Connect cluster: the worker's cluster is the target B; MirrorSourceConnector and
MirrorHeartbeatConnector are created with PUT /connectors/<name>/config and copy A's topic to B as `A.<topic>`
(keys, values, headers, timestamps, in order) and heartbeats to B's `heartbeats`. Every wait is bounded."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from connect_support import ConnectProcess
from it_support import REPO, BrokerProcess, ck_create_topic, unique_topic, wait_for
from mirror_support import as_tuples, expected_tuples, produce_records, read_partition, source_records
from odradek.mirror.formats import Heartbeat

pytestmark = pytest.mark.integration

BYTES = "org.apache.kafka.connect.converters.ByteArrayConverter"


def test_connectors_configured_through_rest(
    broker_factory: Callable[..., BrokerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker subprocess imports odradek.mirror from this repository.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO / "mirror"), os.environ.get("PYTHONPATH")]))
    )
    a, b = broker_factory(), broker_factory()
    topic = unique_topic("orders")
    ck_create_topic(a.bootstrap, topic)
    records = source_records(1, 20)
    produce_records(a.bootstrap, topic, records)
    worker = ConnectProcess(tmp_path / "connect", b.bootstrap)
    try:
        worker.start()
        common = {
            "source.cluster.alias": "A",
            "target.cluster.alias": "B",
            "source.cluster.bootstrap.servers": a.bootstrap,
            "target.cluster.bootstrap.servers": b.bootstrap,
            "key.converter": BYTES,
            "value.converter": BYTES,
            "header.converter": BYTES,
            "replication.factor": "1",
            "offset-syncs.topic.replication.factor": "1",
            "heartbeats.topic.replication.factor": "1",
        }
        for name, cls in (
            ("mirror-source", "odradek.mirror.source.MirrorSourceConnector"),
            ("mirror-heartbeat", "odradek.mirror.heartbeat.MirrorHeartbeatConnector"),
        ):
            status, body, _ = worker.rest(
                "PUT", f"/connectors/{name}/config", {**common, "connector.class": cls, "topics": topic}
            )
            assert status == 201, body
        remote = f"A.{topic}"
        copied = wait_for(lambda: len(m := read_partition(b.bootstrap, remote, 0)) >= 20 and m, 60.0, 0.5, "copy")
        assert as_tuples(copied) == expected_tuples(records, 0)
        beats = wait_for(lambda: read_partition(b.bootstrap, "heartbeats", 0), 30.0, 0.5, "heartbeats")
        assert Heartbeat.deserialize(beats[0].key(), beats[0].value()).source_alias == "A"
        status, body, _ = worker.rest("GET", "/connectors/mirror-source/status")
        assert status == 200 and body["connector"]["state"] == "RUNNING" and body["tasks"][0]["state"] == "RUNNING"
        assert worker.stop() == 0
    finally:
        worker.cleanup()
