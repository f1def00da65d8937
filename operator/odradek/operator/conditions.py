"""Status conditions as Strimzi writes them: `{type, status, reason, message, lastTransitionTime}`.

Every resource has a `Ready` condition: status "True" when the resource is as its spec asks, "False" with a reason
otherwise (Strimzi's topic operator convention for all three kinds, so that `kubectl wait --for=condition=Ready`
works everywhere). Extra conditions: `Warning` (status "True", the resource is applied but something needs
attention), `ReconciliationPaused` and `Unmanaged`. `lastTransitionTime` changes only when a condition's status
changes (Kubernetes API conventions), so a resource reconciled again with the same outcome keeps its times.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

READY = "Ready"
WARNING = "Warning"
PAUSED = "ReconciliationPaused"
UNMANAGED = "Unmanaged"

# Reasons (Strimzi's names where it has one; docs/operator.md "Conditions" explains each)
NOT_SUPPORTED = "NotSupported"
RESOURCE_CONFLICT = "ResourceConflict"
KAFKA_ERROR = "KafkaError"
INVALID_CONFIG = "InvalidConfig"
INVALID_RESOURCE = "InvalidResource"
INTERNAL_ERROR = "InternalError"
NO_CLUSTER = "NoCluster"
DELETION_DISABLED = "TopicDeletionDisabled"
PODS_NOT_READY = "PodsNotReady"
INVALID_REPLICATION_FACTOR = "InvalidReplicationFactor"
RF_CHANGE_IN_PROGRESS = "ReplicationFactorChangeInProgress"
SCALE_DOWN_BLOCKED = "ScaleDownBlocked"
SCALE_DOWN_IN_PROGRESS = "ScaleDownInProgress"


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: bool
    reason: str = ""
    message: str = ""


def ready() -> Condition:
    return Condition(READY, True)


def not_ready(reason: str, message: str) -> Condition:
    return Condition(READY, False, reason, message)


def warning(reason: str, message: str) -> Condition:
    return Condition(WARNING, True, reason, message)


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(conditions: Sequence[Condition], previous: Sequence[Mapping[str, Any]], now: str) -> list[dict[str, Any]]:
    """The status.conditions list for `conditions`, keeping each one's lastTransitionTime from `previous` when its
    type and status are unchanged. One condition per type (the CRDs declare a list-map keyed by type)."""
    before = {str(c.get("type")): c for c in previous}
    out: list[dict[str, Any]] = []
    for condition in conditions:
        status = "True" if condition.status else "False"
        old = before.get(condition.type)
        since = old.get("lastTransitionTime") if old and old.get("status") == status else None
        entry: dict[str, Any] = {"type": condition.type, "status": status, "lastTransitionTime": since or now}
        if condition.reason:
            entry["reason"] = condition.reason
        if condition.message:
            entry["message"] = condition.message
        out.append(entry)
    return out


def status(
    body: Mapping[str, Any], conditions: Sequence[Condition], now: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A whole status object: observedGeneration from the body's metadata.generation, the conditions, `fields`."""
    previous = (body.get("status") or {}).get("conditions") or []
    out: dict[str, Any] = {
        "observedGeneration": (body.get("metadata") or {}).get("generation", 0),
        "conditions": render(conditions, previous, now or now_rfc3339()),
    }
    out.update(fields)
    return out
