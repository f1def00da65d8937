"""The rolling update of a KafkaCluster's brokers (Strimzi's KafkaRoller), as pure decisions.

The broker StatefulSet uses ``updateStrategy: OnDelete``: Kubernetes never restarts a broker by itself. On each
reconcile the operator compares every broker pod's ``controller-revision-hash`` label with the StatefulSet's
``status.updateRevision`` and asks ``next_restart`` which pod, if any, to delete now (the StatefulSet controller
then recreates it from the new template). At most one broker is restarted at a time:

1. Nothing is restarted while a pod is being deleted or a pod already on the new revision is not ready
   (readiness-gated: the previous restart must have come back first).
2. Stale pods that are not ready go first, without an availability check: a broker that does not serve cannot
   be taken further out of any ISR (Strimzi rolls unready pods first for the same reason).
3. Then stale ready pods in broker-id order, the active controller last (its restart moves the controller once).
   A ready broker is restarted only if ``availability_blockers`` finds no partition that the restart would take
   below its ``min.insync.replicas`` (Strimzi's KafkaAvailability.canRoll):
   - a partition already below min ISR with a replica on this broker blocks (wait for it to recover);
   - a partition exactly at min ISR with this broker in the ISR blocks.
   A blocked broker is passed over and the next candidate is tried, so one lagging partition does not stall
   brokers that do not host it.
4. Where Strimzi stalls for ever, this roller does not: a partition whose replication factor is at or below its
   ``min.insync.replicas`` (RF=1 with min ISR 1, RF=2 with min ISR 2) can never survive any restart with acks=all
   producers running, so waiting would never end. Such partitions do not block; ``unsatisfiable`` lists them and
   the cluster status carries a Warning naming them.

When the cluster cannot be asked (no ``ClusterView``: the AdminClient could not connect), ready brokers are
restarted as Strimzi does when it cannot connect: an unreachable cluster has no availability to protect, and
waiting would stall a rollout that is meant to repair it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "BrokerPod",
    "ClusterView",
    "PartitionReplicas",
    "RollAction",
    "RollDecision",
    "availability_blockers",
    "describe_unsatisfiable",
    "next_restart",
    "unsatisfiable",
]

BLOCKED_PREFIX = "restart would stall acks=all producers: "
MAX_LISTED = 5  # partitions named in one reason; the rest are counted


@dataclass(frozen=True, slots=True)
class PartitionReplicas:
    """One partition as DescribeTopics / Metadata answer it."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What the AdminClient says about the cluster: every partition, each topic's effective min.insync.replicas
    (topics not listed use ``default_min_isr``) and the active controller's id (-1: unknown)."""

    partitions: tuple[PartitionReplicas, ...]
    min_isr: Mapping[str, int]
    default_min_isr: int = 1
    controller_id: int = -1

    def min_isr_of(self, topic: str) -> int:
        return self.min_isr.get(topic, self.default_min_isr)


@dataclass(frozen=True, slots=True)
class BrokerPod:
    """A broker pod: its broker id (the StatefulSet ordinal), readiness, revision label and whether it is being
    deleted (``metadata.deletionTimestamp`` set)."""

    name: str
    broker_id: int
    ready: bool
    revision: str
    deleting: bool = False


class RollAction(Enum):
    DONE = "done"  # every pod runs the current revision
    RESTART = "restart"  # delete ``pod`` now
    WAIT = "wait"  # a restart is needed but not safe yet: ``reason`` says why


@dataclass(frozen=True, slots=True)
class RollDecision:
    action: RollAction
    pod: str | None = None
    reason: str = ""
    pending: int = 0  # stale pods left, this one included


def unsatisfiable(view: ClusterView) -> list[PartitionReplicas]:
    """Partitions whose replication factor is at or below their min.insync.replicas: any restart of one of their
    brokers stops acks=all writes to them, so they never block a rollout (the status warns instead)."""
    return [p for p in view.partitions if len(p.replicas) <= view.min_isr_of(p.topic)]


def availability_blockers(broker_id: int, view: ClusterView) -> list[str]:
    """Why restarting ``broker_id`` now would stall acks=all producers: one line per blocking partition, empty when
    the restart is safe."""
    out = []
    for p in view.partitions:
        if broker_id not in p.replicas:
            continue
        min_isr = view.min_isr_of(p.topic)
        if len(p.replicas) <= min_isr:
            continue  # unsatisfiable: never safe, never waited for
        if len(p.isr) < min_isr:
            out.append(f"{p.topic}-{p.partition} is below min.insync.replicas={min_isr} (ISR {list(p.isr)})")
        elif len(p.isr) == min_isr and broker_id in p.isr:
            out.append(f"{p.topic}-{p.partition} would go below min.insync.replicas={min_isr} (ISR {list(p.isr)})")
    return out


def next_restart(pods: Sequence[BrokerPod], update_revision: str, view: ClusterView | None) -> RollDecision:
    """The one pod to delete now, or why none is (module docstring)."""
    stale = [pod for pod in pods if pod.revision != update_revision and not pod.deleting]
    if not stale:
        return RollDecision(RollAction.DONE)
    pending = len(stale)
    deleting = [pod.name for pod in pods if pod.deleting]
    if deleting:
        return RollDecision(RollAction.WAIT, reason=f"waiting for {_names(deleting)} to restart", pending=pending)
    recovering = [pod.name for pod in pods if pod.revision == update_revision and not pod.ready]
    if recovering:
        return RollDecision(RollAction.WAIT, reason=f"waiting for {_names(recovering)} to be ready", pending=pending)
    unready = sorted((pod for pod in stale if not pod.ready), key=lambda pod: pod.broker_id)
    if unready:
        return RollDecision(RollAction.RESTART, unready[0].name, "not ready: restarted first", pending)
    controller = -1 if view is None else view.controller_id
    candidates = sorted(stale, key=lambda pod: (pod.broker_id == controller, pod.broker_id))
    if view is None:
        return RollDecision(
            RollAction.RESTART, candidates[0].name, "the cluster cannot be asked about availability", pending
        )
    blocked = []
    for pod in candidates:
        blockers = availability_blockers(pod.broker_id, view)
        if not blockers:
            reason = "the active controller, last" if pod.broker_id == controller else "safe for min.insync.replicas"
            return RollDecision(RollAction.RESTART, pod.name, reason, pending)
        blocked.append(f"{pod.name}: {_first(blockers)}")
    return RollDecision(RollAction.WAIT, reason=BLOCKED_PREFIX + "; ".join(blocked), pending=pending)


def describe_unsatisfiable(partitions: Iterable[PartitionReplicas], view: ClusterView) -> str:
    """The Warning message for ``unsatisfiable`` partitions."""
    items = [
        f"{p.topic}-{p.partition} (replicas {len(p.replicas)}, min.insync.replicas {view.min_isr_of(p.topic)})"
        for p in partitions
    ]
    return "every broker restart stops acks=all writes to " + _first(items, len(items))


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


def _first(items: Sequence[str], total: int | None = None) -> str:
    total = len(items) if total is None else total
    shown = "; ".join(items[:MAX_LISTED])
    return shown if total <= MAX_LISTED else f"{shown} and {total - MAX_LISTED} more"
