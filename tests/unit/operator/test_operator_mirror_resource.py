"""KafkaMirrorMaker2: the mm2.properties its spec makes, the one-pod StatefulSet, refusals, readiness."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from odradek.operator import mirror
from odradek.operator.resources import mirror as model
from operator_fakes import FakeKube

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = yaml.safe_load((ROOT / "examples" / "kafka-mirror-maker-2.yaml").read_text())


def body(**spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(EXAMPLE)
    doc["metadata"].update({"namespace": "kafka", "uid": "uid-m", "generation": 1})
    doc["spec"].update(spec)
    return dict(doc)


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def test_the_spec_becomes_mirror_makers_properties() -> None:
    props = model.from_resource(body()).properties
    assert props["clusters"] == "source, target"
    assert props["source.bootstrap.servers"] == "source-kafka-bootstrap:9092"
    assert props["source->target.enabled"] == "true"
    assert props["source->target.topics"] == "orders.*" and props["source->target.groups"] == ".*"
    assert props["source->target.tasks.max"] == "2"
    assert props["source->target.replication.factor"] == "3"
    assert props["source->target.sync.group.offsets.enabled"] == "true"
    assert props["source->target.emit.checkpoints.enabled"] == "true"
    assert props["source->target.emit.heartbeats.enabled"] == "true"
    assert "target->source.enabled" not in props


def test_a_mirror_without_checkpoints_or_heartbeats_turns_them_off() -> None:
    spec = copy.deepcopy(EXAMPLE["spec"])
    del spec["mirrors"][0]["checkpointConnector"], spec["mirrors"][0]["heartbeatConnector"]
    props = model.from_resource(body(**spec)).properties
    assert props["source->target.emit.checkpoints.enabled"] == "false"
    assert props["source->target.emit.heartbeats.enabled"] == "false"


def test_children_one_pod_with_its_offsets_volume_and_the_target_only() -> None:
    kube = FakeKube()
    status = mirror.reconcile_mirror(body(), kube)
    assert kube.applied == ["ConfigMap/my-mirror-mirrormaker2-config", "StatefulSet/my-mirror-mirrormaker2"]
    sts = kube.objects[("StatefulSet", "kafka", "my-mirror-mirrormaker2")]["spec"]
    assert sts["replicas"] == 1
    assert sts["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    command = sts["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["odradek", "mirror-maker", "/etc/odradek-mirror/mm2.properties"]
    assert command[3:] == ["--clusters", "target", "--offsets-dir", "/var/lib/odradek-mirror"]
    assert ready(status)["reason"] == "PodsNotReady"
    kube.objects[("StatefulSet", "kafka", "my-mirror-mirrormaker2")]["status"] = {"readyReplicas": 1}
    assert ready(mirror.reconcile_mirror(body(), kube))["status"] == "True"


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"replicas": 2}, "NotSupported"),
        ({"connectCluster": "elsewhere"}, "InvalidResource"),
        (
            {"mirrors": [{"sourceCluster": "target", "targetCluster": "source", "sourceConnector": {}}]},
            "InvalidResource",
        ),
        ({"mirrors": []}, "InvalidResource"),
    ],
)
def test_refusals_apply_nothing(spec: dict[str, Any], reason: str) -> None:
    kube = FakeKube()
    assert ready(mirror.reconcile_mirror(body(**spec), kube))["reason"] == reason
    assert kube.applied == []


def test_worker_keys_in_the_connect_clusters_config_are_not_given_to_its_clients() -> None:
    spec = copy.deepcopy(EXAMPLE["spec"])
    spec["clusters"][1]["config"] = {
        "offset.flush.interval.ms": 500,
        "config.storage.replication.factor": 3,
        "security.protocol": "SASL_SSL",
    }
    props = model.from_resource(body(**spec)).properties
    assert props["offset.flush.interval.ms"] == "500" and "target.offset.flush.interval.ms" not in props
    assert not any("config.storage" in key for key in props)
    assert props["target.security.protocol"] == "SASL_SSL"
