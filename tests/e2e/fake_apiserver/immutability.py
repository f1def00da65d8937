"""Update rules of built-in kinds that a real API server enforces and an operator must cope with (422 Invalid,
messages as the apiserver's): a StatefulSet's spec beyond replicas/template/updateStrategy/...; a Pod's spec
beyond images, activeDeadlineSeconds and added tolerations; a PVC's spec beyond resources.requests; a Service's
clusterIP; a Deployment's selector; a RoleBinding's roleRef; data of an `immutable` ConfigMap or Secret.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from .errors import Cause

Json = dict[str, Any]
Rule = Callable[[Json, Json], list[Cause]]

STATEFULSET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _without(spec: Any, keys: tuple[str, ...]) -> Any:
    return {k: v for k, v in (spec or {}).items() if k not in keys}


def _statefulset(old: Json, new: Json) -> list[Cause]:
    if _without(old.get("spec"), STATEFULSET_MUTABLE) == _without(new.get("spec"), STATEFULSET_MUTABLE):
        return []
    return [
        Cause(
            "FieldValueForbidden",
            "Forbidden: updates to statefulset spec for fields other than 'replicas', "
            "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
            "'minReadySeconds' are forbidden",
            "spec",
        )
    ]


def _pod_comparable(spec: Any) -> Any:
    spec = copy.deepcopy(spec or {})
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            container.pop("image", None)
    spec.pop("activeDeadlineSeconds", None)
    spec.pop("tolerations", None)
    return spec


def _pod(old: Json, new: Json) -> list[Cause]:
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    kept = all(t in (new_spec.get("tolerations") or []) for t in old_spec.get("tolerations") or [])
    if _pod_comparable(old_spec) == _pod_comparable(new_spec) and kept:
        return []
    return [
        Cause(
            "FieldValueForbidden",
            "Forbidden: pod updates may not change fields other than "
            "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
            "`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
            "(allow it to be set to 1 if it was previously negative)",
            "spec",
        )
    ]


def _pvc(old: Json, new: Json) -> list[Cause]:
    def comparable(spec: Any) -> Any:
        spec = copy.deepcopy(spec or {})
        (spec.get("resources") or {}).pop("requests", None)
        spec.pop("volumeAttributesClassName", None)
        return spec

    if comparable(old.get("spec")) == comparable(new.get("spec")):
        return []
    return [
        Cause(
            "FieldValueForbidden",
            "Forbidden: spec is immutable after creation except resources.requests and "
            "volumeAttributesClassName for bound claims",
            "spec",
        )
    ]


def _immutable_field(path: tuple[str, ...], message: str = "field is immutable") -> Rule:
    def rule(old: Json, new: Json) -> list[Cause]:
        before, after = _at(old, path), _at(new, path)
        if before is None or before == after:
            return []
        return [Cause("FieldValueInvalid", f"Invalid value: {json.dumps(after)}: {message}", ".".join(path))]

    return rule


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _immutable_data(old: Json, new: Json) -> list[Cause]:
    if not old.get("immutable"):
        return []
    causes = [
        Cause("FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set", field)
        for field in ("data", "binaryData")
        if old.get(field) != new.get(field)
    ]
    if not new.get("immutable"):
        causes.append(
            Cause("FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set", "immutable")
        )
    return causes


RULES: dict[tuple[str, str], tuple[Rule, ...]] = {
    ("apps", "StatefulSet"): (_statefulset,),
    ("apps", "Deployment"): (_immutable_field(("spec", "selector")),),
    ("", "Pod"): (_pod,),
    ("", "PersistentVolumeClaim"): (_pvc,),
    ("", "Service"): (_immutable_field(("spec", "clusterIP"), "may not change once set"),),
    ("", "ConfigMap"): (_immutable_data,),
    ("", "Secret"): (_immutable_data, _immutable_field(("type",))),
    ("rbac.authorization.k8s.io", "RoleBinding"): (_immutable_field(("roleRef",), "cannot change roleRef"),),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): (_immutable_field(("roleRef",), "cannot change roleRef"),),
}


def update_causes(group: str, kind: str, old: Json, new: Json) -> list[Cause]:
    """Why updating `old` to `new` is refused (empty when it is allowed)."""
    return [cause for rule in RULES.get((group, kind), ()) for cause in rule(old, new)]
