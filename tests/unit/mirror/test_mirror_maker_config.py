"""mm2.properties as connect-mirror-maker.sh reads it (Kafka's MirrorMakerConfig), and the connectors' settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from odradek.mirror.checkpoint import checkpoint_topic, is_more_recent
from odradek.mirror.config import MirrorConfig, decode_partitions, encode_partitions, round_robin
from odradek.mirror.formats import Checkpoint
from odradek.mirror.maker import BYTE_ARRAY_CONVERTER, MirrorMakerConfig, MirrorMakerConfigError, SourceAndTarget
from odradek.mirror.policy import DefaultReplicationPolicy

PROPS = {
    "clusters": "A, B, C",
    "A.bootstrap.servers": "a:9092",
    "A.security.protocol": "SASL_SSL",
    "A.consumer.fetch.min.bytes": "10",
    "B.bootstrap.servers": "b:9092",
    "B.producer.linger.ms": "7",
    "C.bootstrap.servers": "c:9092",
    "A->B.enabled": "true",
    "A->B.topics": "orders.*",
    "B->A.enabled": "true",
    "C->B.enabled": "false",
    "replication.factor": "1",
    "topics": ".*",
    "offset.flush.interval.ms": "500",
}


def test_flows_and_clusters_option() -> None:
    config = MirrorMakerConfig(PROPS)
    assert config.flows() == [SourceAndTarget("A", "B"), SourceAndTarget("B", "A")]
    assert config.flows(["A"]) == [SourceAndTarget("B", "A")]
    with pytest.raises(MirrorMakerConfigError, match="not in clusters"):
        config.flows(["Z"])
    with pytest.raises(MirrorMakerConfigError, match="clusters"):
        MirrorMakerConfig({}).flows()


def test_connector_config_layers_cluster_and_flow_settings() -> None:
    flow = SourceAndTarget("A", "B")
    props = MirrorMakerConfig(PROPS).connector_config(flow, "MirrorSourceConnector", "x.Source")
    assert props["source.cluster.alias"] == "A" and props["target.cluster.alias"] == "B"
    assert props["topics"] == "orders.*"  # A->B.topics beats the top-level topics
    assert props["replication.factor"] == "1"
    assert props["key.converter"] == props["value.converter"] == props["header.converter"] == BYTE_ARRAY_CONVERTER
    assert "offset.flush.interval.ms" not in props and "enabled" not in props
    config = MirrorConfig.parse(props)
    assert config.client("source", "consumer") == {
        "bootstrap.servers": "a:9092",
        "security.protocol": "SASL_SSL",
        "fetch.min.bytes": "10",
    }
    assert config.client("source", "admin") == {"bootstrap.servers": "a:9092", "security.protocol": "SASL_SSL"}
    assert config.client("target", "producer") == {"bootstrap.servers": "b:9092", "linger.ms": "7"}


def test_worker_props_point_at_the_target(tmp_path: Path) -> None:
    props = MirrorMakerConfig(PROPS).worker_props(SourceAndTarget("A", "B"), tmp_path)
    assert props["bootstrap.servers"] == "b:9092"
    assert props["producer.linger.ms"] == "7"
    assert props["offset.flush.interval.ms"] == "500"
    assert props["offset.storage.file.filename"] == str(tmp_path / "mm2-offsets.A.B.json")
    assert props["value.converter"] == BYTE_ARRAY_CONVERTER


def test_offset_syncs_topic_location() -> None:
    base = {"source.cluster.alias": "A", "target.cluster.alias": "B"}
    assert MirrorConfig.parse(base).offset_syncs_topic() == "mm2-offset-syncs.B.internal"
    on_target = MirrorConfig.parse({**base, "offset-syncs.topic.location": "target"})
    assert on_target.offset_syncs_topic() == "mm2-offset-syncs.A.internal"
    assert on_target.offset_syncs_side() == "target"


def test_task_assignment_round_robin_and_encoding() -> None:
    partitions = [("a-b", 0), ("a-b", 1), ("c", 0), ("c", 1), ("c", 2)]
    groups = round_robin(partitions, 2)
    assert groups == [[("a-b", 0), ("c", 0), ("c", 2)], [("a-b", 1), ("c", 1)]]
    assert round_robin(partitions[:1], 4) == [[("a-b", 0)]]
    assert decode_partitions(encode_partitions(partitions)) == partitions


def test_checkpoint_topic_names_and_failback() -> None:
    policy = DefaultReplicationPolicy()
    assert checkpoint_topic(policy, "A", "B", "orders") == "A.orders"
    assert checkpoint_topic(policy, "A", "B", "B.orders") == "orders"  # B's own data mirrored to A, back home
    assert checkpoint_topic(policy, "A", "B", "C.orders") == "A.C.orders"


def test_checkpoints_are_monotonic_unless_the_group_rewinds() -> None:
    last = Checkpoint("g", "A.t", 0, 100, 50)
    assert is_more_recent(Checkpoint("g", "A.t", 0, 120, 60), last)
    assert not is_more_recent(Checkpoint("g", "A.t", 0, 120, 50), last)
    assert not is_more_recent(Checkpoint("g", "A.t", 0, 130, 40), last)  # translation went back: not emitted
    assert is_more_recent(Checkpoint("g", "A.t", 0, 10, 5), last)  # the group itself was reset upstream
    assert is_more_recent(last, None)


def test_metrics_port_is_the_process_s_not_the_connectors() -> None:
    assert MirrorMakerConfig(PROPS).metrics_port == 0  # off unless set
    config = MirrorMakerConfig({**PROPS, "metrics.port": "9404", "metrics.host": "0.0.0.0"})
    assert (config.metrics_port, config.metrics_host) == (9404, "0.0.0.0")
    connector = config.connector_config(SourceAndTarget("A", "B"), "MirrorSourceConnector", "x")
    assert "metrics.port" not in connector and "metrics.host" not in connector
    for bad in ("http", "-1", "70000"):
        with pytest.raises(MirrorMakerConfigError, match=r"metrics\.port"):
            _ = MirrorMakerConfig({**PROPS, "metrics.port": bad}).metrics_port
