"""The defaulting a real API server does for built-in kinds, where clients read the result: a Secret's
`stringData` folded into base64 `data`; Service type, ports' protocol and targetPort and a cluster IP; a
StatefulSet's policies; a new Pod Pending. Applied to every write of these kinds, before validation.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from typing import Any

Json = dict[str, Any]
_cluster_ips = (f"10.96.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def _secret(obj: Json, old: Json | None) -> None:
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    obj.setdefault("type", "Opaque")


def _service(obj: Json, old: Json | None) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if "clusterIP" not in spec:
        previous = ((old or {}).get("spec") or {}).get("clusterIP")
        spec["clusterIP"] = previous or next(_cluster_ips)
    if spec["clusterIP"] != "None":
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _statefulset(obj: Json, old: Json | None) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    spec.setdefault("revisionHistoryLimit", 10)


def _pod(obj: Json, old: Json | None) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    for container in spec.get("containers") or []:
        container.setdefault("imagePullPolicy", "IfNotPresent")
    if old is None:
        obj["status"] = {"phase": "Pending"}


def _pvc(obj: Json, old: Json | None) -> None:
    if old is None:
        obj["status"] = {"phase": "Pending"}


DEFAULTERS: dict[tuple[str, str], Callable[[Json, Json | None], None]] = {
    ("", "Secret"): _secret,
    ("", "Service"): _service,
    ("apps", "StatefulSet"): _statefulset,
    ("", "Pod"): _pod,
    ("", "PersistentVolumeClaim"): _pvc,
}


def apply_defaults(group: str, kind: str, obj: Json, old: Json | None) -> None:
    """Default `obj` in place (`old`: the stored object on update, None on create)."""
    defaulter = DEFAULTERS.get((group, kind))
    if defaulter is not None:
        defaulter(obj, old)
