"""A minimal StatefulSet controller for the fake API server (which runs no controllers), enough for the operator's
broker and etcd StatefulSets. `reconcile(api, statefulset)` is one pass; the kubelet calls it on every StatefulSet
and pod event and on its resync tick.

What it does, as the real controller (pkg/controller/statefulset) does:

- Pods `<set>-<ordinal>` for ordinals 0..replicas-1 from `spec.template`, with the labels
  `controller-revision-hash` (`<set>-<10 hex of the template's sha256>`: the revision), `statefulset.kubernetes.io/
  pod-name` and `apps.kubernetes.io/pod-index`, `hostname` = pod name and `subdomain` = `spec.serviceName` (the pod's
  DNS name), and a controller ownerReference to the StatefulSet (so the fake's garbage collection removes them).
- `podManagementPolicy` Parallel creates every missing pod at once; OrderedReady creates ordinal n only when every
  lower ordinal is Ready.
- `volumeClaimTemplates`: a PVC `<claim>-<pod>` per pod (created once, kept when the pod goes: its data survives a
  restart), Bound at once; the pod gets a `persistentVolumeClaim` volume of that name.
- `updateStrategy` OnDelete (the operator's brokers): a pod of an older revision stays until someone deletes it;
  its replacement is built from the current template. RollingUpdate: when every pod is Ready, the highest-ordinal
  pod of an older revision is deleted (no partition, no maxUnavailable).
- Ordinals at or above `replicas` are deleted, highest first, one per pass (scale-down).
- status: observedGeneration, replicas, readyReplicas, availableReplicas, currentReplicas, updatedReplicas,
  currentRevision (the update revision once every pod runs it), updateRevision.

Not done: ControllerRevision objects, `minReadySeconds`, `ordinals.start`, `persistentVolumeClaimRetentionPolicy`
(claims are always retained), pod-level backoff.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from typing import Any

from fake_apiserver.errors import ApiError
from fake_apiserver.server import FakeApiServer

Json = dict[str, Any]
REVISION_LABEL = "controller-revision-hash"


def revision(statefulset: Json) -> str:
    template = json.dumps((statefulset.get("spec") or {}).get("template") or {}, sort_keys=True)
    return f"{statefulset['metadata']['name']}-{hashlib.sha256(template.encode()).hexdigest()[:10]}"


def is_ready(pod: Json | None) -> bool:
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _owner(statefulset: Json) -> Json:
    meta = statefulset["metadata"]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _claim(api: FakeApiServer, statefulset: Json, template: Json, pod_name: str) -> str:
    namespace = statefulset["metadata"]["namespace"]
    name = f"{template['metadata']['name']}-{pod_name}"
    if api.get("persistentvolumeclaims", namespace, name) is None:
        claim = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict((template.get("metadata") or {}).get("labels") or {}),
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        api.create(claim)
        api.patch_status("persistentvolumeclaims", namespace, name, {"phase": "Bound"})
    return name


def pod_manifest(api: FakeApiServer, statefulset: Json, ordinal: int) -> Json:
    meta, spec = statefulset["metadata"], statefulset["spec"]
    template = copy.deepcopy(spec.get("template") or {})
    name = f"{meta['name']}-{ordinal}"
    template_meta = template.get("metadata") or {}
    labels = {
        **(template_meta.get("labels") or {}),
        REVISION_LABEL: revision(statefulset),
        "statefulset.kubernetes.io/pod-name": name,
        "apps.kubernetes.io/pod-index": str(ordinal),
    }
    pod_spec = template.get("spec") or {}
    pod_spec["hostname"] = name
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    volumes = pod_spec.setdefault("volumes", [])
    for claim_template in spec.get("volumeClaimTemplates") or []:
        claim = _claim(api, statefulset, claim_template, name)
        volumes.append({"name": claim_template["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": dict(template_meta.get("annotations") or {}),
            "ownerReferences": [_owner(statefulset)],
        },
        "spec": pod_spec,
    }


def _delete_pod(api: FakeApiServer, namespace: str, name: str) -> None:
    with contextlib.suppress(ApiError):  # already gone
        api.store.delete(api.resource("pods"), namespace, name)


def reconcile(api: FakeApiServer, statefulset: Json) -> None:
    """One pass over one StatefulSet (module docstring)."""
    meta, spec = statefulset["metadata"], statefulset.get("spec") or {}
    if meta.get("deletionTimestamp"):
        return
    namespace, name = meta["namespace"], meta["name"]
    replicas = int(spec.get("replicas", 1))
    update_revision = revision(statefulset)
    pods: dict[int, Json] = {}
    for pod in api.list("pods", namespace):
        owners = (pod.get("metadata") or {}).get("ownerReferences") or []
        if any(o.get("uid") == meta["uid"] for o in owners):
            suffix = pod["metadata"]["name"][len(name) + 1 :]
            if suffix.isdigit():
                pods[int(suffix)] = pod
    parallel = spec.get("podManagementPolicy") == "Parallel"
    for ordinal in range(replicas):
        if ordinal in pods:
            continue
        if not parallel and not all(is_ready(pods.get(lower)) for lower in range(ordinal)):
            break
        with contextlib.suppress(ApiError):  # the previous pod of that name is still there: next pass
            pods[ordinal] = api.create(pod_manifest(api, statefulset, ordinal))
    extra = sorted((o for o in pods if o >= replicas), reverse=True)
    if extra:
        _delete_pod(api, namespace, pods.pop(extra[0])["metadata"]["name"])
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    stale = [o for o, pod in pods.items() if pod["metadata"]["labels"].get(REVISION_LABEL) != update_revision]
    if strategy == "RollingUpdate" and stale and all(is_ready(pod) for pod in pods.values()):
        _delete_pod(api, namespace, pods[max(stale)]["metadata"]["name"])
    ready = sum(1 for pod in pods.values() if is_ready(pod))
    updated = len(pods) - len(stale)
    status = statefulset.get("status") or {}
    current_revision = update_revision if not stale else status.get("currentRevision") or update_revision
    current = sum(1 for pod in pods.values() if pod["metadata"]["labels"].get(REVISION_LABEL) == current_revision)
    wanted = {
        "observedGeneration": meta.get("generation", 1),
        "replicas": len(pods),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
    }
    if any(status.get(key) != value for key, value in wanted.items()):
        with contextlib.suppress(ApiError):  # deleted meanwhile
            api.patch_status("statefulsets", namespace, name, wanted)
