"""Discovery and OpenAPI documents, computed from the store's current resource types.

- `/api`, `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`: the legacy (non-aggregated) documents. kubectl asks
  for aggregated discovery first (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,
  ...,application/json`) and falls back to these when the answer is a plain APIGroupList.
- `/openapi/v3` lists one document per group-version; each declares, for every resource, a PATCH operation with the
  `fieldValidation` parameter and `x-kubernetes-group-version-kind`: kubectl then validates server-side
  (`fieldValidation=Strict`) instead of needing an OpenAPI v2 schema.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .kinds import ALL_VERBS, BUILTIN_GROUPS, ResourceType

Json = dict[str, Any]


def version_info() -> Json:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-odradek-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(address: str) -> Json:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def _group_versions(types: list[ResourceType]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for rt in types:
        if rt.group:
            versions = groups.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
    order = {g: i for i, g in enumerate(BUILTIN_GROUPS)}
    return dict(sorted(groups.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def api_group(group: str, versions: list[str]) -> Json:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0]}


def group_list(types: list[ResourceType]) -> Json:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [api_group(g, vs) for g, vs in _group_versions(types).items()],
    }


def group_doc(types: list[ResourceType], group: str) -> Json | None:
    versions = _group_versions(types).get(group)
    return api_group(group, versions) if versions else None


def resource_list(types: list[ResourceType], group: str, version: str) -> Json | None:
    selected = [rt for rt in types if rt.group == group and rt.version == version]
    if not selected:
        return None
    resources: list[Json] = []
    for rt in sorted(selected, key=lambda r: r.plural):
        entry: Json = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(ALL_VERBS),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        if rt.scale is not None:
            resources.append(
                {
                    "name": f"{rt.plural}/scale",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }
            )
        if rt.status_subresource:
            resources.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": rt.api_version, "resources": resources}


def _prefix(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def openapi_document(types: list[ResourceType], group: str, version: str) -> Json | None:
    selected = [rt for rt in types if rt.group == group and rt.version == version]
    if not selected:
        return None
    paths: Json = {}
    for rt in selected:
        base = f"/{_prefix(group, version)}" + ("/namespaces/{namespace}" if rt.namespaced else "")
        gvk = {"group": group, "version": version, "kind": rt.kind}
        operation = {
            "operationId": f"patch{rt.kind}",
            "parameters": [
                {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                for name in ("dryRun", "fieldManager", "fieldValidation", "force")
            ],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        }
        paths[f"{base}/{rt.plural}/{{name}}"] = {"patch": operation}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def openapi_root(types: list[ResourceType]) -> Json:
    paths: Json = {}
    for gv in sorted({(rt.group, rt.version) for rt in types}):
        doc = openapi_document(types, *gv)
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
        paths[_prefix(*gv)] = {"serverRelativeURL": f"/openapi/v3/{_prefix(*gv)}?hash={digest}"}
    return {"paths": paths}
