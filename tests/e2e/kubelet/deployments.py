"""A minimal Deployment controller for the fake API server, enough for the operator's KafkaConnect workers.
`reconcile(api, deployment)` is one pass; the kubelet calls it on every Deployment and pod event and on its
resync tick.

What it does, as the real controllers (pkg/controller/deployment and replicaset) do, without the ReplicaSet in
between (the pods are owned by the Deployment directly):

- Pods `<deployment>-<hash>-<5 characters>` from `spec.template`, labelled `pod-template-hash` = `<hash>` (10 hex of
  the template's sha256: the revision), with a controller ownerReference to the Deployment (so the fake's garbage
  collection removes them).
- `strategy` RollingUpdate (the default) with `maxSurge` and `maxUnavailable` (numbers or percentages; defaults 25 %
  each, surge rounded up and unavailable down, as Kubernetes does; both 0 is refused by Kubernetes, read as surge 1
  here): pods of the new revision are created while the total stays within replicas + maxSurge, and a pod of an
  old revision is deleted (not-ready ones first) while at least replicas - maxUnavailable pods stay ready.
  Recreate: every old pod is deleted first, and new ones are created once none is left.
- More pods of the current revision than `replicas` (a scale-down): the extra ones go, not-ready ones first.
- status: observedGeneration, replicas, readyReplicas, availableReplicas, updatedReplicas, unavailableReplicas and
  the Available condition (at least replicas - maxUnavailable pods ready).

Not done: ReplicaSet objects and revision history (`kubectl rollout undo`), `minReadySeconds`,
`progressDeadlineSeconds` and the Progressing condition, `paused`.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import secrets
from typing import Any

from fake_apiserver.errors import ApiError
from fake_apiserver.server import FakeApiServer

from .statefulsets import is_ready

Json = dict[str, Any]
HASH_LABEL = "pod-template-hash"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' rand.String alphabet (no vowels, no 0/1/3)


def template_hash(deployment: Json) -> str:
    template = json.dumps((deployment.get("spec") or {}).get("template") or {}, sort_keys=True)
    return hashlib.sha256(template.encode()).hexdigest()[:10]


def _amount(value: Any, replicas: int, default: str, round_up: bool) -> int:
    """An IntOrString of a rolling update (`2`, `"25%"`) as a number of pods."""
    value = default if value is None else value
    if isinstance(value, str) and value.endswith("%"):
        share = replicas * int(value[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value)


def rolling_limits(deployment: Json) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods (module docstring)."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = _amount(rolling.get("maxSurge"), replicas, "25%", round_up=True)
    unavailable = _amount(rolling.get("maxUnavailable"), replicas, "25%", round_up=False)
    if surge == 0 and unavailable == 0:
        surge = 1
    return surge, unavailable


def _owner(deployment: Json) -> Json:
    meta = deployment["metadata"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_manifest(deployment: Json) -> Json:
    meta, spec = deployment["metadata"], deployment["spec"]
    template = copy.deepcopy(spec.get("template") or {})
    template_meta = template.get("metadata") or {}
    revision = template_hash(deployment)
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(5))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{meta['name']}-{revision}-{suffix}",
            "namespace": meta["namespace"],
            "labels": {**(template_meta.get("labels") or {}), HASH_LABEL: revision},
            "annotations": dict(template_meta.get("annotations") or {}),
            "ownerReferences": [_owner(deployment)],
        },
        "spec": template.get("spec") or {},
    }


def _delete_pod(api: FakeApiServer, pod: Json) -> None:
    with contextlib.suppress(ApiError):  # already gone
        api.store.delete(api.resource("pods"), pod["metadata"]["namespace"], pod["metadata"]["name"])


def _not_ready_first(pods: list[Json]) -> list[Json]:
    return sorted(pods, key=lambda pod: (is_ready(pod), pod["metadata"]["name"]))


def reconcile(api: FakeApiServer, deployment: Json) -> None:
    """One pass over one Deployment (module docstring)."""
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    if meta.get("deletionTimestamp"):
        return
    namespace, name = meta["namespace"], meta["name"]
    replicas = int(spec.get("replicas", 1))
    revision = template_hash(deployment)
    owned = [
        pod
        for pod in api.list("pods", namespace)
        if any(o.get("uid") == meta["uid"] for o in (pod.get("metadata") or {}).get("ownerReferences") or [])
        and not pod["metadata"].get("deletionTimestamp")
    ]
    new = [pod for pod in owned if pod["metadata"]["labels"].get(HASH_LABEL) == revision]
    old = [pod for pod in owned if pod["metadata"]["labels"].get(HASH_LABEL) != revision]
    surge, unavailable = rolling_limits(deployment)
    if (spec.get("strategy") or {}).get("type") == "Recreate":
        for pod in old:
            _delete_pod(api, pod)
        if not old:
            for _ in range(replicas - len(new)):
                new.append(api.create(pod_manifest(deployment)))
        old = []
    else:
        while len(new) < replicas and len(new) + len(old) < replicas + surge:
            new.append(api.create(pod_manifest(deployment)))
        ready_count = sum(1 for pod in owned if is_ready(pod))
        for pod in _not_ready_first(old):
            if is_ready(pod) and ready_count - 1 < replicas - unavailable:
                break
            _delete_pod(api, pod)
            old.remove(pod)
            ready_count -= int(is_ready(pod))
    if not old and len(new) > replicas:
        for pod in _not_ready_first(new)[: len(new) - replicas]:
            _delete_pod(api, pod)
            new.remove(pod)
    ready = sum(1 for pod in [*new, *old] if is_ready(pod))
    available = ready >= replicas - unavailable
    wanted = {
        "observedGeneration": meta.get("generation", 1),
        "replicas": len(new) + len(old),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "updatedReplicas": len(new),
        "unavailableReplicas": max(0, replicas - ready),
    }
    status = deployment.get("status") or {}
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Available"), {})
    if any(status.get(key) != value for key, value in wanted.items()) or condition.get("status") != str(available):
        wanted["conditions"] = [
            {
                "type": "Available",
                "status": str(available),
                "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            }
        ]
        with contextlib.suppress(ApiError):  # deleted meanwhile
            api.patch_status("deployments", namespace, name, wanted)
