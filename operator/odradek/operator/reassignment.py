"""Partition reassignments the operator asks for, as pure functions over AdminClient answers.

Two users: a KafkaTopic whose `replicas` changes (`change_replication_factor`) and a KafkaCluster whose
`spec.kafka.replicas` decreases (`plan_scale_down`, which may `drain` the brokers that go). The operator submits
the targets with AlterPartitionReassignments and watches ListPartitionReassignments until none is left.

Placement rules (both functions, deterministic so that a repeated reconcile submits the same targets):
- existing replicas are kept in their order (the first one is the preferred leader), so a reassignment moves as
  little data as it can;
- a new replica goes to the allowed broker with the fewest replicas of the partitions considered (the topic, or
  every partition for a drain), counting the targets already chosen; ties go to the broker that follows the
  partition's first replica in broker-id order (Kafka's round-robin followers), for a drain to the lower id;
- a replication factor decrease drops replicas from the end (the preferred leader stays), replicas on brokers
  that are not live first.

Scale-down (Strimzi's broker scale-down check, `plan_scale_down`): a StatefulSet scales down by removing its
highest ordinals, and the broker id is the ordinal, so the brokers that go are `desired .. current-1`. While any
partition has a replica on one of them, the scale-down is refused with the brokers and topics named, unless the
user asks for a drain (the replicas are reassigned to the remaining brokers, and the StatefulSet shrinks once no
reassignment is left and no replica is left on them) or to skip the check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from odradek.operator.roller import PartitionReplicas

__all__ = [
    "ScaleDown",
    "ScaleDownAction",
    "change_replication_factor",
    "drain",
    "plan_scale_down",
]

MAX_LISTED = 5  # topics named in one reason; the rest are counted

TopicPartition = tuple[str, int]


def _least_loaded(candidates: Iterable[int], load: Mapping[int, int], ring: Sequence[int] = (), after: int = 0) -> int:
    """The candidate with the fewest replicas; ties go to the first after position `after` of `ring` (the sorted
    live brokers), or to the lowest id without a ring."""

    def distance(broker: int) -> int:
        return (ring.index(broker) - after) % len(ring) if broker in ring else broker

    return min(candidates, key=lambda broker: (load.get(broker, 0), distance(broker)))


def change_replication_factor(
    assignment: Sequence[Sequence[int]], factor: int, brokers: Iterable[int]
) -> dict[int, tuple[int, ...]]:
    """The new replicas of each partition of a topic (`assignment[p]` is partition p's replicas) for replication
    factor `factor` over the live `brokers`; only partitions that change are returned. ValueError when `factor` is
    below 1 or above the number of live brokers."""
    live = sorted(set(brokers))
    if factor < 1 or factor > len(live):
        raise ValueError(f"replication factor {factor} needs between 1 and {len(live)} (the live brokers)")
    load: dict[int, int] = {broker: 0 for broker in live}
    for replicas in assignment:
        for broker in replicas:
            load[broker] = load.get(broker, 0) + 1
    out: dict[int, tuple[int, ...]] = {}
    for partition, replicas in enumerate(assignment):
        target = list(replicas)
        while len(target) > factor:
            # drop from the end, a replica on a broker that is not live first
            gone = next((b for b in reversed(target) if b not in live), target[-1])
            target.remove(gone)
            load[gone] -= 1
        after = live.index(target[0]) if target and target[0] in live else partition % len(live)
        while len(target) < factor:
            chosen = _least_loaded((b for b in live if b not in target), load, live, after)
            target.append(chosen)
            load[chosen] += 1
        if tuple(target) != tuple(replicas):
            out[partition] = tuple(target)
    return out


def drain(
    partitions: Sequence[PartitionReplicas], removed: Iterable[int], remaining: Iterable[int]
) -> dict[TopicPartition, tuple[int, ...]]:
    """Targets moving every replica on a `removed` broker to a `remaining` one (in its place in the list, so a
    partition's preferred leader order is otherwise kept); only partitions that change are returned. ValueError
    naming the partition when one has more replicas than there are remaining brokers."""
    gone, keep = set(removed), sorted(set(remaining) - set(removed))
    load: dict[int, int] = {broker: 0 for broker in keep}
    for p in partitions:
        for broker in p.replicas:
            if broker in load:
                load[broker] += 1
    out: dict[TopicPartition, tuple[int, ...]] = {}
    for p in sorted(partitions, key=lambda p: (p.topic, p.partition)):
        if not gone.intersection(p.replicas):
            continue
        target = list(p.replicas)
        for i, broker in enumerate(target):
            if broker not in gone:
                continue
            free = [b for b in keep if b not in target]
            if not free:
                raise ValueError(
                    f"{p.topic}-{p.partition} has {len(p.replicas)} replicas, more than the {len(keep)} brokers "
                    "that remain"
                )
            chosen = _least_loaded(free, load)
            target[i] = chosen
            load[chosen] += 1
        out[(p.topic, p.partition)] = tuple(target)
    return out


class ScaleDownAction(Enum):
    NONE = "none"  # no scale-down asked: apply the spec's replicas
    PROCEED = "proceed"  # the removed brokers hold nothing (or the check is skipped): shrink now
    REFUSE = "refuse"  # keep the current replicas; `reason` names the brokers and topics
    DRAIN = "drain"  # keep the current replicas and submit `reassignments`
    WAIT = "wait"  # keep the current replicas: a reassignment is still in progress


@dataclass(frozen=True, slots=True)
class ScaleDown:
    """What to do about a broker count change: the StatefulSet replicas to apply now (`replicas`), the
    reassignments to submit (DRAIN only) and a reason for the status (every action but NONE and PROCEED)."""

    action: ScaleDownAction
    replicas: int
    reason: str = ""
    reassignments: Mapping[TopicPartition, tuple[int, ...]] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        """Whether the StatefulSet keeps its current size (REFUSE, DRAIN, WAIT: `replicas` is the current count)."""
        return self.action in (ScaleDownAction.REFUSE, ScaleDownAction.DRAIN, ScaleDownAction.WAIT)


def _topics(partitions: Iterable[PartitionReplicas]) -> str:
    names = sorted({p.topic for p in partitions})
    listed = ", ".join(names[:MAX_LISTED])
    return listed + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def plan_scale_down(
    current: int,
    desired: int,
    partitions: Sequence[PartitionReplicas] | None,
    ongoing: Iterable[TopicPartition] = (),
    drain_requested: bool = False,
    skip_check: bool = False,
) -> ScaleDown:
    """The scale-down decision (module docstring). `current` is the StatefulSet's replicas now, `desired` the
    spec's; `partitions` is every partition's replicas (None: the cluster could not be asked), `ongoing` the
    partitions ListPartitionReassignments lists. The skip wins over the drain (it is the user saying "do it")."""
    if desired >= current:
        return ScaleDown(ScaleDownAction.NONE, desired)
    if skip_check:
        return ScaleDown(ScaleDownAction.PROCEED, desired)
    removed = set(range(desired, current))
    ids = ", ".join(str(b) for b in sorted(removed))
    if partitions is None:
        return ScaleDown(
            ScaleDownAction.REFUSE,
            current,
            f"cannot scale down from {current} to {desired} brokers: the cluster could not be asked whether "
            f"brokers {ids} hold replicas",
        )
    holding = [p for p in partitions if removed.intersection(p.replicas)]
    in_progress = sorted(set(ongoing))
    if in_progress and (holding or drain_requested):
        return ScaleDown(
            ScaleDownAction.WAIT,
            current,
            f"scale-down from {current} to {desired} brokers waits for {len(in_progress)} partition "
            f"reassignment(s) in progress",
        )
    if not holding:
        return ScaleDown(ScaleDownAction.PROCEED, desired)
    if not drain_requested:
        return ScaleDown(
            ScaleDownAction.REFUSE,
            current,
            f"cannot scale down from {current} to {desired} brokers: brokers {ids} hold replicas of "
            f"{len(holding)} partition(s) of topics {_topics(holding)}; reassign them first, or set the annotation "
            'odradek.io/drain-on-scale-down: "true" to have the operator move them',
        )
    try:
        targets = drain(partitions, removed, range(desired))
    except ValueError as exc:
        return ScaleDown(ScaleDownAction.REFUSE, current, f"cannot drain brokers {ids}: {exc}")
    return ScaleDown(
        ScaleDownAction.DRAIN,
        current,
        f"draining brokers {ids} before scaling down from {current} to {desired}: reassigning {len(targets)} "
        f"partition(s) of topics {_topics(holding)}",
        targets,
    )
