"""KafkaMirrorMaker2 reconciliation: apply the children resources/mirror.py builds, then report Ready when the
mirror-maker pod is ready (NotReady PodsNotReady otherwise); an invalid spec gives NotReady with the builder's
reason and nothing is applied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from odradek.operator import conditions as c
from odradek.operator.kube import KubeApi
from odradek.operator.labels import paused
from odradek.operator.resources import mirror as model


def reconcile_mirror(
    body: Mapping[str, Any], kube: KubeApi, default_image: str = model.DEFAULT_IMAGE
) -> dict[str, Any]:
    if paused(body.get("metadata") or {}):
        return c.status(body, [c.Condition(c.PAUSED, True)])
    try:
        mirror = model.from_resource(body, default_image)
    except model.InvalidMirror as exc:
        return c.status(body, [c.not_ready(exc.reason, str(exc))])
    for manifest in model.manifests(mirror):
        kube.apply(manifest)
    statefulset = kube.get("apps/v1", "StatefulSet", mirror.namespace, model.statefulset_name(mirror)) or {}
    ready = int((statefulset.get("status") or {}).get("readyReplicas") or 0)
    condition = c.ready() if ready >= 1 else c.not_ready(c.PODS_NOT_READY, "the mirror-maker pod is not ready")
    return c.status(body, [condition], replicas=ready, connectCluster=mirror.connect_cluster)
