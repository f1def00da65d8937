"""KafkaTopic reconciliation, from Kubernetes to Kafka only (Strimzi's unidirectional topic operator).

`plan_topic(spec, observed)` is the decision, a pure function: create the topic, add partitions, SET the spec's
configs that differ and DELETE the topic-level configs the spec does not name (a change made outside Kubernetes is
reverted), or refuse. Refusals change nothing in Kafka (a plan is applied whole or not at all):

| asked | answer |
|---|---|
| fewer partitions than the topic has | Ready False, NotSupported "Decreasing partitions not supported" |
| another replication factor | Ready False, NotSupported (reassignment: the replication issue) |
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from odradek.operator import conditions as c
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

    @property
    def empty(self) -> bool:
        return not (self.create or self.partitions or self.set_config or self.delete_config)


def plan_topic(spec: TopicSpec, observed: TopicState | None) -> TopicPlan:
    if observed is None:
        return TopicPlan(create=True)
    if spec.partitions is not None and spec.partitions < observed.partitions:
        message = (
            f"Decreasing partitions not supported (the topic has {observed.partitions}, spec asks {spec.partitions})"
        )
        return TopicPlan(refusal=c.not_ready(c.NOT_SUPPORTED, message))
    if spec.replicas is not None and spec.replicas != observed.replicas:
        message = (
            f"Replication factor change not supported (the topic has {observed.replicas}, spec asks "
            f"{spec.replicas}): it needs a partition reassignment, which is not built yet"
        )
        return TopicPlan(refusal=c.not_ready(c.NOT_SUPPORTED, message))
    grow = spec.partitions if spec.partitions is not None and spec.partitions > observed.partitions else None
    set_config = {k: v for k, v in spec.config.items() if observed.config.get(k) != v}
    delete = tuple(sorted(k for k in observed.config if k not in spec.config))
    return TopicPlan(partitions=grow, set_config=set_config, delete_config=delete)


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
    try:
        observed = admin.describe_topic(spec.name)
        plan = plan_topic(spec, observed)
        if plan.refusal is not None:
            topic_id = observed.topic_id if observed else None
            return c.status(body, [plan.refusal], topicName=spec.name, **_id(topic_id))
        if plan.create:
            admin.create_topic(spec.name, spec.partitions, spec.replicas, spec.config)
            observed = admin.describe_topic(spec.name)
        else:
            if plan.partitions:
                admin.create_partitions(spec.name, plan.partitions)
            if plan.set_config or plan.delete_config:
                admin.alter_topic_config(spec.name, plan.set_config, plan.delete_config)
    except AdminError as exc:
        reason = c.INVALID_CONFIG if exc.code in ("INVALID_CONFIG", "POLICY_VIOLATION") else c.KAFKA_ERROR
        return c.status(body, [c.not_ready(reason, str(exc))], topicName=spec.name)
    return c.status(body, [c.ready()], topicName=spec.name, **_id(observed.topic_id if observed else None))


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
