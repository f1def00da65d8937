"""The labels and annotations the operator reads, with Strimzi's spellings accepted beside Odradek's own.

- `odradek.io/cluster` (or `strimzi.io/cluster`) on a KafkaTopic or KafkaUser names its KafkaCluster, in the same
  namespace.
- `odradek.io/pause-reconciliation: "true"` (or `strimzi.io/...`) stops reconciling the resource; its status says
  ReconciliationPaused.
- `odradek.io/managed: "false"` (or `strimzi.io/...`) on a KafkaTopic: the operator stops managing the topic and
  leaves it in Kafka when the resource is deleted.
- `odradek.io/drain-on-scale-down: "true"` on a KafkaCluster: a scale-down whose brokers hold replicas moves them
  to the remaining brokers (partition reassignment) instead of being refused.
- `odradek.io/skip-broker-scaledown-check: "true"` (or `strimzi.io/...`) on a KafkaCluster: scale down without
  checking whether the removed brokers hold replicas (their replicas are lost to the cluster).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CLUSTER_LABEL = "odradek.io/cluster"
STRIMZI_CLUSTER_LABEL = "strimzi.io/cluster"
PAUSE_ANNOTATION = "odradek.io/pause-reconciliation"
STRIMZI_PAUSE_ANNOTATION = "strimzi.io/pause-reconciliation"
MANAGED_ANNOTATION = "odradek.io/managed"
STRIMZI_MANAGED_ANNOTATION = "strimzi.io/managed"
KIND_LABEL = "odradek.io/kind"
DRAIN_ANNOTATION = "odradek.io/drain-on-scale-down"
SKIP_SCALEDOWN_CHECK_ANNOTATION = "odradek.io/skip-broker-scaledown-check"
STRIMZI_SKIP_SCALEDOWN_CHECK_ANNOTATION = "strimzi.io/skip-broker-scaledown-check"


def cluster_of(metadata: Mapping[str, Any]) -> str | None:
    labels = metadata.get("labels") or {}
    value = labels.get(CLUSTER_LABEL) or labels.get(STRIMZI_CLUSTER_LABEL)
    return str(value) if value else None


def _annotation(metadata: Mapping[str, Any], *names: str) -> str | None:
    annotations = metadata.get("annotations") or {}
    for name in names:
        if name in annotations:
            return str(annotations[name]).strip().lower()
    return None


def paused(metadata: Mapping[str, Any]) -> bool:
    return _annotation(metadata, PAUSE_ANNOTATION, STRIMZI_PAUSE_ANNOTATION) == "true"


def managed(metadata: Mapping[str, Any]) -> bool:
    return _annotation(metadata, MANAGED_ANNOTATION, STRIMZI_MANAGED_ANNOTATION) != "false"


def drain_on_scale_down(metadata: Mapping[str, Any]) -> bool:
    return _annotation(metadata, DRAIN_ANNOTATION) == "true"


def skip_scale_down_check(metadata: Mapping[str, Any]) -> bool:
    names = (SKIP_SCALEDOWN_CHECK_ANNOTATION, STRIMZI_SKIP_SCALEDOWN_CHECK_ANNOTATION)
    return _annotation(metadata, *names) == "true"
