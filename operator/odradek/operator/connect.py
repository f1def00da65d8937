"""KafkaConnect reconciliation: apply the children resources/connect.py builds, then report (Strimzi's status:
`url`, `replicas`, `connectorPlugins`, `labelSelector`, conditions).

Ready when the Deployment reports every worker ready (NotReady PodsNotReady with the count otherwise); an invalid
spec gives NotReady with the builder's reason and nothing is applied. `connectorPlugins` comes from
GET /connector-plugins when the REST API answers (it is left out, not an error, while the workers start).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from odradek.operator import conditions as c
from odradek.operator.connect_api import ConnectApi, ConnectApiError
from odradek.operator.kube import KubeApi
from odradek.operator.labels import paused
from odradek.operator.resources import connect as model


def reconcile_connect(
    body: Mapping[str, Any], kube: KubeApi, api: ConnectApi | None, default_image: str = model.DEFAULT_IMAGE
) -> dict[str, Any]:
    if paused(body.get("metadata") or {}):
        return c.status(body, [c.Condition(c.PAUSED, True)])
    try:
        connect = model.from_resource(body, default_image)
    except model.InvalidConnect as exc:
        return c.status(body, [c.not_ready(exc.reason, str(exc))])
    for manifest in model.manifests(connect):
        kube.apply(manifest)
    deployment = kube.get("apps/v1", "Deployment", connect.namespace, model.deployment_name(connect)) or {}
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    condition = (
        c.ready()
        if ready >= connect.replicas
        else c.not_ready(c.PODS_NOT_READY, f"{ready} of {connect.replicas} workers ready")
    )
    fields: dict[str, Any] = {
        "url": model.rest_url(connect.name, connect.namespace),
        "replicas": ready,
        "labelSelector": ",".join(f"{k}={v}" for k, v in sorted(model.selector_labels(connect).items())),
    }
    if api is not None and ready:
        with contextlib.suppress(ConnectApiError):  # the workers are starting: the next reconcile lists them
            fields["connectorPlugins"] = [
                {"class": p.get("class"), "type": p.get("type"), "version": p.get("version")} for p in api.plugins()
            ]
    return c.status(body, [condition], **fields)
