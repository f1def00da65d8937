"""KafkaCluster reconciliation: apply the children that resources/cluster.py builds, then report.

Status: Ready True when the StatefulSet reports every broker ready, else Ready False PodsNotReady with the count;
an invalid spec gives Ready False with the builder's reason (InvalidConfig names each refused key) and nothing is
applied. `readyBrokers`, `listeners` (bootstrap addresses) as Strimzi's. Warnings for settings that can never be
satisfied (`impossible_settings`), reported instead of stalling.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from odradek.operator import conditions as c
from odradek.operator.kube import KubeApi
from odradek.operator.labels import paused
from odradek.operator.resources import cluster as model
from odradek.operator.resources.user import generate_password


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


def reconcile_cluster(
    body: Mapping[str, Any], kube: KubeApi, default_image: str = model.DEFAULT_IMAGE
) -> dict[str, Any]:
    if paused(body.get("metadata") or {}):
        return c.status(body, [c.Condition(c.PAUSED, True)])
    try:
        cluster = model.from_resource(body, default_image)
    except model.InvalidCluster as exc:
        return c.status(body, [c.not_ready(exc.reason, str(exc))])
    for manifest in model.manifests(cluster, _operator_password(cluster, kube)):
        kube.apply(manifest)
    statefulset = kube.get("apps/v1", "StatefulSet", cluster.namespace, model.statefulset_name(cluster)) or {}
    ready_brokers = int((statefulset.get("status") or {}).get("readyReplicas") or 0)
    result = [
        c.ready()
        if ready_brokers >= cluster.replicas
        else c.not_ready(c.PODS_NOT_READY, f"{ready_brokers} of {cluster.replicas} brokers ready")
    ]
    warnings = impossible_settings(cluster)
    if warnings:
        result.append(c.warning("ImpossibleSetting", "; ".join(warnings)))
    return c.status(body, result, readyBrokers=ready_brokers, listeners=model.listener_status(cluster))
