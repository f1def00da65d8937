"""The scale subresource's `autoscaling/v1` Scale, read from an object through the (specReplicasPath,
statusReplicasPath, labelSelectorPath) of its type, and the merge patch that sets the replicas."""

from __future__ import annotations

from typing import Any

from .tables import json_path

Json = dict[str, Any]


def _selector_string(value: Any) -> str:
    if isinstance(value, dict):  # a workload's spec.selector (matchLabels only)
        return ",".join(f"{k}={v}" for k, v in sorted((value.get("matchLabels") or {}).items()))
    return str(value or "")


def scale_of(obj: Json, paths: tuple[str, str, str]) -> Json:
    spec_path, status_path, selector_path = paths
    spec = json_path(obj, spec_path)
    status = json_path(obj, status_path)
    selector = json_path(obj, selector_path) if selector_path else []
    if not selector and obj.get("kind") in ("StatefulSet", "Deployment"):
        selector = json_path(obj, ".spec.selector")
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        },
        "spec": {"replicas": spec[0] if spec else 0},
        "status": {
            "replicas": status[0] if status else 0,
            "selector": _selector_string(selector[0] if selector else ""),
        },
    }


def replicas_patch(spec_path: str, replicas: int) -> Json:
    """`.spec.replicas` -> {"spec": {"replicas": n}}."""
    patch: Json = {}
    node = patch
    parts = [p for p in spec_path.split(".") if p]
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = replicas
    return patch
