"""A fake of the operator's Kubernetes edge (`KubeApi`) over a dictionary, for unit and integration tests: objects
kept as the API server would return them (stringData folded into base64 data, status kept across applies),
equality label selectors, deletion marking deletionTimestamp as a pod's does."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.applied: list[str] = []
        self.deleted: list[str] = []
        self.status_patches: list[str] = []

    def put(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[(str(obj["kind"]), str(meta.get("namespace", "default")), str(meta["name"]))] = dict(obj)

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        obj = {k: v for k, v in manifest.items() if k != "stringData"}
        if "stringData" in manifest:
            obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in manifest["stringData"].items()}
        old = self.objects.get((obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]))
        if old and "status" in old:
            obj["status"] = old["status"]
        self.put(obj)
        self.applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return obj

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    def list(self, api_version: str, kind: str, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        wanted = dict(term.split("=", 1) for term in label_selector.split(",") if term)  # equality terms only
        return [
            o
            for (k, ns, _), o in self.objects.items()
            if k == kind
            and ns == namespace
            and all((o.get("metadata") or {}).get("labels", {}).get(key) == value for key, value in wanted.items())
        ]

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        self.deleted.append(f"{kind}/{name}")
        obj = self.objects.get((kind, namespace, name))
        if obj is not None:  # as the API server does for a pod: deletion starts, the object stays for a while
            obj.setdefault("metadata", {})["deletionTimestamp"] = "2026-12-01T00:00:00Z"

    def patch_status(self, api_version: str, kind: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        obj = self.objects.get((kind, namespace, name))
        if obj is not None:
            self.status_patches.append(f"{kind}/{name}")
            obj["status"] = {**(obj.get("status") or {}), **status}


def secret_value(secret: Mapping[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()
