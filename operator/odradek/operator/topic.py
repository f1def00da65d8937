"""KafkaTopic reconciliation, from Kubernetes to Kafka only (Strimzi's unidirectional topic operator).

`plan_topic(spec, observed)` is the decision, a pure function: create the topic, add partitions, SET the spec's
configs that differ and DELETE the topic-level configs the spec does not name (a change made outside Kubernetes is
reverted), or refuse. Refusals change nothing in Kafka (a plan is applied whole or not at all):

| asked | answer |
|---|---|
| fewer partitions than the topic has | Ready False, NotSupported "Decreasing partitions not supported" |
| a replication factor above the live brokers | Ready False, InvalidReplicationFactor |

Another replication factor is a partition reassignment: `reassignment.change_replication_factor` places the
replicas (existing ones kept), AlterPartitionReassignments submits them, and the status is Ready False,
ReplicationFactorChangeInProgress until ListPartitionReassignments lists none of the topic's partitions and every
partition has `replicas` replicas (then Ready).
| a second KafkaTopic for a topic another one manages | Ready False, ResourceConflict, the older resource wins |

Decisions written down (docs/operator.md):
- A topic that exists in Kafka when a KafkaTopic for it is created is adopted: from then on it is managed, and its
  configs are made the spec's (partitions only grow). Topics no KafkaTopic names are left alone, not reported.
- `odradek.io/managed: "false"` stops managing (status Unmanaged) and deleting the resource leaves the topic.
- Deleting a KafkaTopic deletes the topic (the operator's finalizer holds the resource until Kafka answers);
  with `delete.topic.enable=false` the broker refuses and the resource stays with Ready False,
  TopicDeletionDisabled, until the annotation `odradek.io/managed: "false"` releases it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from odradek.operator import conditions as c
from odradek.operator import reassignment
from odradek.operator.kafka_admin import AdminError, ClusterAdmin, TopicState
from odradek.operator.labels import cluster_of, managed, paused
from odradek.operator.resources.broker_config import config_value


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int | None
    replicas: int | None
    config: Mapping[str, str]


def topic_spec(body: Mapping[str, Any]) -> TopicSpec:
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    return TopicSpec(
        name=str(spec.get("topicName") or meta["name"]),
        partitions=spec.get("partitions"),
        replicas=spec.get("replicas"),
        config={str(k): config_value(v) for k, v in (spec.get("config") or {}).items()},
    )


@dataclass(frozen=True, slots=True)
class TopicPlan:
    create: bool = False
    partitions: int | None = None  # the new total, when partitions are added
    set_config: Mapping[str, str] = field(default_factory=dict)
    delete_config: tuple[str, ...] = ()
    refusal: c.Condition | None = None
    reassign: Mapping[int, tuple[int, ...]] = field(default_factory=dict)  # partition -> new replicas
    in_progress: c.Condition | None = None  # a replication factor change not finished yet

    @property
    def empty(self) -> bool:
        return not (self.create or self.partitions or self.set_config or self.delete_config or self.reassign)


def replication_differs(spec: TopicSpec, observed: TopicState) -> bool:
    """Whether some partition's replica count is not the spec's (then the reconciler asks for the live brokers and
    the reassignments in progress, which a topic at its replication factor does not need)."""
    if spec.replicas is None:
        return False
    return {len(replicas) for replicas in observed.assignment} != {spec.replicas}


def plan_topic(
    spec: TopicSpec,
    observed: TopicState | None,
    brokers: Sequence[int] = (),
    ongoing: Sequence[int] = (),
) -> TopicPlan:
    """`brokers` are the live broker ids and `ongoing` the topic's partitions being reassigned (both needed only
    when `replication_differs`)."""
    if observed is None:
        return TopicPlan(create=True)
    if spec.partitions is not None and spec.partitions < observed.partitions:
        message = (
            f"Decreasing partitions not supported (the topic has {observed.partitions}, spec asks {spec.partitions})"
        )
        return TopicPlan(refusal=c.not_ready(c.NOT_SUPPORTED, message))
    reassign: dict[int, tuple[int, ...]] = {}
    in_progress = None
    if spec.replicas is not None and (ongoing or replication_differs(spec, observed)):
        if spec.replicas > len(brokers):
            message = (
                f"Replication factor {spec.replicas} is more than the {len(brokers)} live brokers (the topic has "
                f"{observed.replicas})"
            )
            return TopicPlan(refusal=c.not_ready(c.INVALID_REPLICATION_FACTOR, message))
        if not ongoing:
            reassign = reassignment.change_replication_factor(observed.assignment, spec.replicas, brokers)
        count = len(ongoing) or len(reassign)
        message = (
            f"Replication factor change from {observed.replicas} to {spec.replicas} in progress: {count} "
            "partition(s) being reassigned"
        )
        in_progress = c.not_ready(c.RF_CHANGE_IN_PROGRESS, message)
    grow = spec.partitions if spec.partitions is not None and spec.partitions > observed.partitions else None
    set_config = {k: v for k, v in spec.config.items() if observed.config.get(k) != v}
    delete = tuple(sorted(k for k in observed.config if k not in spec.config))
    return TopicPlan(
        partitions=grow, set_config=set_config, delete_config=delete, reassign=reassign, in_progress=in_progress
    )


CLAIM_METADATA = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp")


def claim(body: Mapping[str, Any]) -> dict[str, Any]:
    """What `conflict` reads of a KafkaTopic, copied out of its body: metadata name, namespace, uid,
    creationTimestamp, deletionTimestamp and labels, and spec.topicName. The operator keeps one per KafkaTopic in
    memory (main.topic_claims, a kopf index), so `conflict(body, claims)` answers as `conflict(body, bodies)`."""
    meta = body.get("metadata") or {}
    kept: dict[str, Any] = {key: meta.get(key) for key in CLAIM_METADATA if meta.get(key) is not None}
    kept["labels"] = dict(meta.get("labels") or {})
    return {"metadata": kept, "spec": {"topicName": (body.get("spec") or {}).get("topicName")}}


SNAPSHOT_DROPPED_ANNOTATIONS = ("kafka.odradek.io/last-handled-configuration",)


def snapshot(body: Mapping[str, Any]) -> dict[str, Any]:
    """A KafkaTopic's metadata, spec and status copied out of its body (without managedFields and kopf's copy of
    the last handled spec): what the operator keeps of every KafkaTopic for its cluster's resync."""
    meta = {k: copy.deepcopy(v) for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in SNAPSHOT_DROPPED_ANNOTATIONS}
    meta["annotations"] = annotations
    return {
        "metadata": meta,
        "spec": copy.deepcopy(dict(body.get("spec") or {})),
        "status": copy.deepcopy(dict(body.get("status") or {})),
    }


def conflict(body: Mapping[str, Any], others: Sequence[Mapping[str, Any]]) -> str | None:
    """The KafkaTopic that manages this one's topic if it is not this one: of all resources of the same cluster
    naming the same topic, the oldest (creationTimestamp, then name) wins, as in Strimzi."""
    spec, cluster = topic_spec(body), cluster_of(body.get("metadata") or {})
    rivals = [
        other
        for other in others
        if cluster_of(other.get("metadata") or {}) == cluster
        and topic_spec(other).name == spec.name
        and not (other.get("metadata") or {}).get("deletionTimestamp")
    ]

    def age(resource: Mapping[str, Any]) -> tuple[str, str]:
        meta = resource.get("metadata") or {}
        return (str(meta.get("creationTimestamp") or ""), str(meta.get("name")))

    if not rivals:
        return None
    winner = min(rivals, key=age)
    me = body.get("metadata") or {}
    winner_meta = winner.get("metadata") or {}
    if winner_meta.get("uid") == me.get("uid") and winner_meta.get("name") == me.get("name"):
        return None
    return f"{winner_meta.get('namespace') or me.get('namespace')}/{winner_meta.get('name')}"


def reconcile_topic(
    body: Mapping[str, Any], admin: ClusterAdmin | None, others: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """Bring the topic to its spec; returns the status to write. `admin` is None when the KafkaCluster is not
    known (no label, or its credentials are not there yet)."""
    early = precheck(body, admin, others)
    if early is not None or admin is None:
        return early or {}
    spec = topic_spec(body)
    try:
        observed = admin.describe_topic(spec.name)
    except AdminError as exc:
        return _kafka_error(body, spec, exc)
    return converge(body, admin, observed)


def precheck(
    body: Mapping[str, Any], admin: ClusterAdmin | None, others: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The status of a KafkaTopic that Kafka is not asked about (paused, unmanaged, no cluster, a conflict lost, no
    AdminClient), or None when the topic is to be brought to its spec."""
    meta = body.get("metadata") or {}
    spec = topic_spec(body)
    if paused(meta):
        return c.status(body, [c.Condition(c.PAUSED, True)], topicName=spec.name)
    if not managed(meta):
        return c.status(body, [c.ready(), c.Condition(c.UNMANAGED, True)], topicName=spec.name)
    if cluster_of(meta) is None:
        message = "the KafkaTopic needs the label odradek.io/cluster naming its KafkaCluster"
        return c.status(body, [c.not_ready(c.NO_CLUSTER, message)], topicName=spec.name)
    winner = conflict(body, others)
    if winner:
        return c.status(body, [c.not_ready(c.RESOURCE_CONFLICT, f"Managed by {winner}")], topicName=spec.name)
    if admin is None:
        message = f"KafkaCluster {cluster_of(meta)} is not ready to be managed (no bootstrap or credentials yet)"
        return c.status(body, [c.not_ready(c.NO_CLUSTER, message)], topicName=spec.name)
    return None


def converge(body: Mapping[str, Any], admin: ClusterAdmin, observed: TopicState | None) -> dict[str, Any]:
    """Bring the topic to its spec from `observed` (Kafka's answer about it; None: it does not exist); returns the
    status to write."""
    spec = topic_spec(body)
    try:
        brokers: tuple[int, ...] = ()
        ongoing: list[int] = []
        # The last status is read back on purpose: while an increase is in progress Metadata already lists the
        # target replicas (every count is the spec's), so only ListPartitionReassignments says it is not done; asking
        # it on every reconcile of every topic would cost a kafka-python client each time.
        if (
            observed is not None
            and spec.replicas is not None
            and (replication_differs(spec, observed) or _was_in_progress(body))
        ):
            brokers = admin.broker_ids()
            ongoing = sorted(p for _, p in admin.list_reassignments(spec.name))
        plan = plan_topic(spec, observed, brokers, ongoing)
        if plan.refusal is not None:
            topic_id = observed.topic_id if observed else None
            return c.status(body, [plan.refusal], topicName=spec.name, **_id(topic_id))
        created_id = None
        if plan.create:
            admin.create_topic(spec.name, spec.partitions, spec.replicas, spec.config)
            # only the id is needed: the topic is as the spec says or CreateTopics would have refused it (one
            # DescribeConfigs fewer per created topic; 1,000 at once, bench/operator.py)
            created_id = admin.topic_id(spec.name)
        else:
            if plan.partitions:
                admin.create_partitions(spec.name, plan.partitions)
            if plan.set_config or plan.delete_config:
                admin.alter_topic_config(spec.name, plan.set_config, plan.delete_config)
            if plan.reassign:
                admin.alter_reassignments({(spec.name, p): replicas for p, replicas in plan.reassign.items()})
        if plan.in_progress is not None:
            topic_id = observed.topic_id if observed else None
            return c.status(body, [plan.in_progress], topicName=spec.name, **_id(topic_id))
    except AdminError as exc:
        return _kafka_error(body, spec, exc)
    return c.status(body, [c.ready()], topicName=spec.name, **_id(observed.topic_id if observed else created_id))


def resync_topics(
    bodies: Sequence[Mapping[str, Any]],
    admin: ClusterAdmin | None,
    rivals: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[tuple[Mapping[str, Any], dict[str, Any]]]:
    """The periodic reconcile of every KafkaTopic of one cluster at once (Strimzi's full reconciliation, batched):
    ONE `describe_topic_states` (a DescribeTopics and a DescribeConfigs request) for every topic to be brought to its
    spec, then each is converged from its own answer, as `reconcile_topic` would. A topic whose answer is an error
    gets it in its status, the others are unaffected. Resources being deleted are left to their finalizer, and
    those whose status does not describe their spec yet (`settled`) to their create or update handler: a resync
    must not converge a topic to a spec older than the one that handler is applying.
    `rivals` are the claims (`claim`) of the KafkaTopics of the namespace by Kafka topic name, for the conflict
    check. Returns (body, status) per resource."""
    live = [body for body in bodies if settled(body) and not (body.get("metadata") or {}).get("deletionTimestamp")]
    out: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
    to_describe: list[Mapping[str, Any]] = []
    for body in live:
        early = precheck(body, admin, rivals.get(topic_spec(body).name, ()))
        if early is not None:
            out.append((body, early))
        else:
            to_describe.append(body)
    if admin is None or not to_describe:
        return out
    names = sorted({topic_spec(body).name for body in to_describe})
    try:
        observed = admin.describe_topic_states(names)
    except AdminError as exc:
        return out + [(body, _kafka_error(body, topic_spec(body), exc)) for body in to_describe]
    for body in to_describe:
        answer = observed.get(topic_spec(body).name)
        if isinstance(answer, AdminError):
            out.append((body, _kafka_error(body, topic_spec(body), answer)))
        else:
            out.append((body, converge(body, admin, answer)))
    return out


def settled(body: Mapping[str, Any]) -> bool:
    """Whether the resource's status describes its current spec (status.observedGeneration is metadata.generation):
    its last create, update or resume reconcile has finished."""
    generation = (body.get("metadata") or {}).get("generation")
    return generation is not None and (body.get("status") or {}).get("observedGeneration") == generation


def _kafka_error(body: Mapping[str, Any], spec: TopicSpec, exc: AdminError) -> dict[str, Any]:
    reason = c.INVALID_CONFIG if exc.code in ("INVALID_CONFIG", "POLICY_VIOLATION") else c.KAFKA_ERROR
    return c.status(body, [c.not_ready(reason, str(exc))], topicName=spec.name)


def in_progress(status: Mapping[str, Any]) -> bool:
    """Whether a status says a replication factor change is in progress (the handler then checks again soon)."""
    return any(
        x.get("type") == c.READY and x.get("reason") == c.RF_CHANGE_IN_PROGRESS for x in status.get("conditions") or []
    )


def _was_in_progress(body: Mapping[str, Any]) -> bool:
    return in_progress(body.get("status") or {})


def _id(topic_id: str | None) -> dict[str, str]:
    return {"topicId": topic_id} if topic_id else {}


class DeletionRefused(Exception):
    """The topic cannot be deleted now; `status` says why (the handler keeps the finalizer and retries)."""

    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(status["conditions"][0].get("message", ""))
        self.status = status


def delete_topic(body: Mapping[str, Any], admin: ClusterAdmin | None) -> None:
    """Delete the topic of a KafkaTopic being deleted; nothing for unmanaged or paused resources, for a resource
    that lost a conflict, or when the topic is already gone. DeletionRefused when Kafka refuses."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    ready: Mapping[str, Any] = next((x for x in status.get("conditions") or [] if x.get("type") == c.READY), {})
    if paused(meta) or not managed(meta) or ready.get("reason") == c.RESOURCE_CONFLICT or admin is None:
        return
    name = topic_spec(body).name
    try:
        admin.delete_topic(name)
    except AdminError as exc:
        if exc.code in ("UNKNOWN_TOPIC_OR_PART", "UNKNOWN_TOPIC_OR_PARTITION", "UNKNOWN_TOPIC_ID"):
            return
        reason = c.DELETION_DISABLED if exc.code == "TOPIC_DELETION_DISABLED" else c.KAFKA_ERROR
        message = str(exc)
        if reason == c.DELETION_DISABLED:
            message += '; set the annotation odradek.io/managed: "false" to delete the resource and keep the topic'
        raise DeletionRefused(c.status(body, [c.not_ready(reason, message)], topicName=name)) from exc
