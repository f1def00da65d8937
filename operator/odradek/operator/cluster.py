"""KafkaCluster reconciliation: apply the children that resources/cluster.py builds, roll brokers whose pods run
an older revision of the StatefulSet (one at a time, through `roller.next_restart`), then report.

Status: Ready True when the StatefulSet reports every broker ready, else Ready False PodsNotReady with the count;
an invalid spec gives Ready False with the builder's reason (InvalidConfig names each refused key) and nothing is
applied. `readyBrokers`, `listeners` (bootstrap addresses) as Strimzi's. Warnings for settings that can never be
satisfied (`impossible_settings`, and partitions the roller finds at or below their min.insync.replicas), reported
instead of stalling. While brokers are being rolled, `rollingUpdate` says how many are left and what the roller did
last; a rollout held back by min.insync.replicas is a Warning with reason RollingUpdateBlocked naming the
partitions.

Dynamic broker configs (Strimzi's dynamic update, `update_dynamic_config` and config_diff.py): a change of
spec.kafka.config's dynamic keys (resources/update_modes.py) is applied to the running brokers with
IncrementalAlterConfigs and written to server.properties without changing the pods' config hash, so nothing
rolls; `dynamicConfigUpdate` in the status says what was applied and when. A change of a read-only key changes the
hash and rolls. A dynamic update that fails is a Warning DynamicConfigUpdateFailed, retried on the next reconcile.

Scale-down (`scale_down`, deciding with `reassignment.plan_scale_down`): while the brokers that a smaller
`spec.kafka.replicas` removes hold replicas, the StatefulSet keeps its current size and the status says why
(Warning ScaleDownBlocked naming brokers and topics; Ready False ScaleDownBlocked); with the annotation
`odradek.io/drain-on-scale-down: "true"` the operator reassigns their replicas to the remaining brokers (Ready
False ScaleDownInProgress) and shrinks the StatefulSet once ListPartitionReassignments lists none and no replica
is left on them; `odradek.io/skip-broker-scaledown-check` (or Strimzi's `strimzi.io/...`) skips the check.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odradek.operator import conditions as c
from odradek.operator import config_diff, reassignment, roller, telemetry
from odradek.operator.cluster_ca import ensure_tls
from odradek.operator.kafka_admin import AdminError, ClusterAdmin
from odradek.operator.kube import KubeApi
from odradek.operator.labels import drain_on_scale_down, paused, skip_scale_down_check
from odradek.operator.resources import cluster as model
from odradek.operator.resources.user import generate_password

log = logging.getLogger(__name__)

REVISION_LABEL = "controller-revision-hash"  # set by the StatefulSet controller on each pod
ROLLING_UPDATE_BLOCKED = "RollingUpdateBlocked"
DYNAMIC_UPDATE_FAILED = "DynamicConfigUpdateFailed"
UNSATISFIABLE_MIN_ISR = "MinIsrUnsatisfiable"


def impossible_settings(cluster: model.ClusterModel) -> list[str]:
    """Settings no number of ready brokers can satisfy (a Warning, never a stall)."""
    out: list[str] = []
    config = cluster.config
    try:
        min_isr = int(config.get("min.insync.replicas", "1"))
        for key in ("default.replication.factor", "offsets.topic.replication.factor"):
            if key in config and int(config[key]) > cluster.replicas:
                out.append(f"{key}={config[key]} is more than the {cluster.replicas} brokers")
        if "default.replication.factor" in config and min_isr > int(config["default.replication.factor"]):
            out.append(
                f"min.insync.replicas={min_isr} is more than default.replication.factor="
                f"{config['default.replication.factor']}: acks=all writes to such topics always fail"
            )
        if min_isr > cluster.replicas:
            out.append(f"min.insync.replicas={min_isr} is more than the {cluster.replicas} brokers")
    except ValueError as exc:
        out.append(f"a replication setting is not a number: {exc}")
    return out


def _operator_password(cluster: model.ClusterModel, kube: KubeApi) -> str:
    secret = kube.get("v1", "Secret", cluster.namespace, model.credentials_secret_name(cluster.name))
    raw = ((secret or {}).get("data") or {}).get("password")
    return base64.b64decode(raw).decode() if raw else generate_password()


def broker_pods(cluster: model.ClusterModel, kube: KubeApi) -> list[roller.BrokerPod]:
    """The cluster's broker pods as the roller sees them (broker id = the StatefulSet ordinal, as node.id)."""
    selector = ",".join(f"{k}={v}" for k, v in sorted(model.selector_labels(cluster).items()))
    out = []
    prefix = model.statefulset_name(cluster) + "-"
    for pod in kube.list("v1", "Pod", cluster.namespace, selector):
        meta = pod.get("metadata") or {}
        name = str(meta.get("name", ""))
        if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        ready = any(cond.get("type") == "Ready" and cond.get("status") == "True" for cond in conditions)
        revision = str((meta.get("labels") or {}).get(REVISION_LABEL, ""))
        deleting = bool(meta.get("deletionTimestamp"))
        out.append(roller.BrokerPod(name, int(name[len(prefix) :]), ready, revision, deleting))
    return sorted(out, key=lambda pod: pod.broker_id)


def roll(
    cluster: model.ClusterModel, kube: KubeApi, statefulset: Mapping[str, Any], admin: ClusterAdmin | None
) -> tuple[list[c.Condition], dict[str, Any] | None]:
    """One roller step: delete at most one stale broker pod. Returns conditions to report and the
    `rollingUpdate` status field (None when every pod runs the current revision)."""
    update_revision = str((statefulset.get("status") or {}).get("updateRevision") or "")
    if not update_revision:
        return [], None
    pods = broker_pods(cluster, kube)
    view = None
    if admin is not None and any(pod.revision != update_revision for pod in pods):
        try:
            view = admin.cluster_view()
        except AdminError as exc:
            log.warning("cluster %s/%s cannot be asked about availability: %s", cluster.namespace, cluster.name, exc)
    decision = roller.next_restart(pods, update_revision, view)
    conditions: list[c.Condition] = []
    if view is not None and (never_safe := roller.unsatisfiable(view)):
        conditions.append(c.warning(UNSATISFIABLE_MIN_ISR, roller.describe_unsatisfiable(never_safe, view)))
    if decision.action is roller.RollAction.DONE:
        return conditions, None
    if decision.action is roller.RollAction.RESTART and decision.pod is not None:
        log.info("rolling %s/%s: restarting %s (%s)", cluster.namespace, cluster.name, decision.pod, decision.reason)
        kube.delete("v1", "Pod", cluster.namespace, decision.pod)
        last = f"restarted {decision.pod}: {decision.reason}"
    else:
        last = decision.reason
        if decision.reason.startswith(roller.BLOCKED_PREFIX):
            conditions.append(c.warning(ROLLING_UPDATE_BLOCKED, decision.reason))
    return conditions, {"pendingBrokers": decision.pending, "lastAction": last}


@dataclass(frozen=True, slots=True)
class DynamicUpdate:
    """What `update_dynamic_config` did: `applied` is the dynamic_config_hash the running brokers now have (for the
    ConfigMap's annotation; "" when unknown, so that the next reconcile tries again), `done` describes the ops
    applied (empty: none), `error` why they could not be."""

    applied: str
    done: str = ""
    error: str = ""


def update_dynamic_config(cluster: model.ClusterModel, kube: KubeApi, admin: ClusterAdmin | None) -> DynamicUpdate:
    """Apply server.properties' dynamic keys (spec.kafka.config's: none of the operator's own keys is dynamic) to
    the running brokers with IncrementalAlterConfigs (config_diff.py) when they differ from what the ConfigMap's
    annotation says was applied last; no broker is asked otherwise.
    A cluster without a ConfigMap yet is new: its brokers start from server.properties, which has every key."""
    wanted = model.dynamic_config_hash(cluster)
    existing = kube.get("v1", "ConfigMap", cluster.namespace, model.config_map_name(cluster))
    if existing is None:
        return DynamicUpdate(wanted)
    applied = ((existing.get("metadata") or {}).get("annotations") or {}).get(model.DYNAMIC_CONFIG_ANNOTATION)
    if applied == wanted:
        return DynamicUpdate(wanted)
    if admin is None:
        return DynamicUpdate(applied or "", error="the cluster cannot be reached: no admin client")
    desired = model.broker_properties(cluster)  # the operator's keys too: one rule for every key of the file
    try:
        brokers = admin.broker_ids()
        ops = config_diff.dynamic_updates(
            desired,
            admin.describe_broker_configs(config_diff.CLUSTER_DEFAULT),
            {broker: admin.describe_broker_configs(str(broker)) for broker in brokers},
        )
        for item in ops:
            admin.alter_broker_configs(item.resource, item.set, item.delete)
        if ops:
            # a broker that started while a now-removed key was in the spec still runs its old value
            after = {broker: admin.describe_broker_configs(str(broker)) for broker in brokers}
            if restore := config_diff.restore_defaults(desired, after):
                admin.alter_broker_configs(restore.resource, restore.set, restore.delete)
                ops.append(restore)
    except AdminError as exc:
        log.warning("cluster %s/%s: dynamic update of broker configuration failed: %s", *_names(cluster), exc)
        return DynamicUpdate(applied or "", error=str(exc))
    done = config_diff.describe_ops(ops)
    if done:
        log.info("cluster %s/%s: dynamic update of broker configuration, without restart: %s", *_names(cluster), done)
    return DynamicUpdate(wanted, done)


def _names(cluster: model.ClusterModel) -> tuple[str, str]:
    return cluster.namespace, cluster.name


def scale_down(
    cluster: model.ClusterModel, kube: KubeApi, admin: ClusterAdmin | None, metadata: Mapping[str, Any]
) -> reassignment.ScaleDown:
    """The broker count to apply now, after asking the cluster when `spec.kafka.replicas` shrinks the existing
    StatefulSet; submits the drain's reassignments (an AdminError from them becomes a REFUSE with its text)."""
    existing = kube.get("apps/v1", "StatefulSet", cluster.namespace, model.statefulset_name(cluster)) or {}
    current = (existing.get("spec") or {}).get("replicas")
    if current is None or cluster.replicas >= int(current):
        return reassignment.ScaleDown(reassignment.ScaleDownAction.NONE, cluster.replicas)
    skip, drain = skip_scale_down_check(metadata), drain_on_scale_down(metadata)
    partitions = None
    ongoing: list[tuple[str, int]] = []
    if admin is not None and not skip:
        try:
            partitions = admin.cluster_view().partitions
            ongoing = sorted(admin.list_reassignments())
        except AdminError as exc:
            log.warning("cluster %s/%s cannot be asked about a scale-down: %s", cluster.namespace, cluster.name, exc)
            partitions = None
    decision = reassignment.plan_scale_down(int(current), cluster.replicas, partitions, ongoing, drain, skip)
    if decision.action is reassignment.ScaleDownAction.DRAIN and admin is not None:
        log.info("cluster %s/%s: %s", cluster.namespace, cluster.name, decision.reason)
        try:
            admin.alter_reassignments(decision.reassignments)
        except AdminError as exc:
            reason = f"{decision.reason}; the reassignment was refused: {exc}"
            return reassignment.ScaleDown(reassignment.ScaleDownAction.REFUSE, decision.replicas, reason)
    return decision


def reconcile_cluster(
    body: Mapping[str, Any],
    kube: KubeApi,
    default_image: str = model.DEFAULT_IMAGE,
    admin: ClusterAdmin | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """`now` (for certificate validity) defaults to the current time."""
    if paused(body.get("metadata") or {}):
        return c.status(body, [c.Condition(c.PAUSED, True)])
    try:
        cluster = model.from_resource(body, default_image)
    except model.InvalidCluster as exc:
        return c.status(body, [c.not_ready(exc.reason, str(exc))])
    tls = ensure_tls(kube, cluster, now or datetime.datetime.now(datetime.UTC)) if cluster.needs_tls else None
    if tls is not None:
        for ca_type, ca in (("cluster-ca", tls.cluster_ca), ("clients-ca", tls.clients_ca)):
            telemetry.certificate_expiration(
                cluster.namespace, cluster.name, ca_type, ca.certificate.not_valid_after_utc
            )
    shrink = scale_down(cluster, kube, admin, body.get("metadata") or {})
    # A held scale-down applies the current broker count (everything else as the spec says); the status below
    # reports the spec's count and why it is not there yet.
    applied = dataclasses.replace(cluster, replicas=shrink.replicas) if shrink.held else cluster
    dynamic = update_dynamic_config(cluster, kube, admin)  # before the ConfigMap: it records what was applied
    for manifest in model.manifests(applied, _operator_password(cluster, kube), tls, dynamic.applied):
        kube.apply(manifest)
    statefulset = kube.get("apps/v1", "StatefulSet", cluster.namespace, model.statefulset_name(cluster)) or {}
    ready_brokers = int((statefulset.get("status") or {}).get("readyReplicas") or 0)
    result = [
        c.ready()
        if ready_brokers >= cluster.replicas
        else c.not_ready(c.PODS_NOT_READY, f"{ready_brokers} of {cluster.replicas} brokers ready")
    ]
    blocked = shrink.action is reassignment.ScaleDownAction.REFUSE
    if shrink.held:
        result = [c.not_ready(c.SCALE_DOWN_BLOCKED if blocked else c.SCALE_DOWN_IN_PROGRESS, shrink.reason)]
    roll_conditions, rolling = roll(applied, kube, statefulset, admin)
    warnings = roll_conditions[::-1]  # a blocked rollout first: it is what needs attention now
    if blocked:
        warnings.insert(0, c.warning(c.SCALE_DOWN_BLOCKED, shrink.reason))
    if dynamic.error:
        warnings.append(c.warning(DYNAMIC_UPDATE_FAILED, f"dynamic update of broker configuration: {dynamic.error}"))
    if impossible := impossible_settings(cluster):
        warnings.append(c.warning("ImpossibleSetting", "; ".join(impossible)))
    if warnings:
        # One condition per type (the CRD's list-map keyed by type): the first reason, every message.
        result.append(c.warning(warnings[0].reason, "; ".join(w.message for w in warnings)))
    ca_pem = tls.cluster_ca.cert_pem if tls is not None else None
    fields: dict[str, Any] = {"readyBrokers": ready_brokers, "listeners": model.listener_status(cluster, ca_pem)}
    if rolling is not None:
        fields["rollingUpdate"] = rolling
    if dynamic.done:
        # kept by the status merge patch until the next dynamic update replaces it
        fields["dynamicConfigUpdate"] = {"lastTransitionTime": c.now_rfc3339(), "applied": dynamic.done}
    return c.status(body, result, **fields)
