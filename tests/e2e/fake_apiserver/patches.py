"""The four PATCH content types, as pure functions from (stored object, patch) to the patched object.

- `application/merge-patch+json`: RFC 7386 (null deletes, objects merge, everything else replaces).
- `application/json-patch+json`: RFC 6902 through the `jsonpatch` package; a failed `test` op or a bad path is a
  `PatchFailed` (the server answers 422, which kopf's finalizer patches rely on).
- `application/strategic-merge-patch+json`: lists of objects merge by their Kubernetes merge key (MERGE_KEYS),
  primitive lists with patchStrategy merge (finalizers) are unions; directives `$patch` (replace, delete, merge),
  `$setElementOrder/<list>`, `$retainKeys` and `$deleteFromPrimitiveList/<list>`. Built-in kinds only.
- `application/apply-patch+yaml` (server-side apply): `apply()` merges the applied configuration as a strategic
  merge would, after removing the fields that the same field manager applied last time and no longer applies.
  Field ownership and conflicts between managers are not modelled.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch  # type: ignore[import-untyped]
import jsonpointer  # type: ignore[import-untyped]

Json = dict[str, Any]

# Field name -> merge key of its list elements (from the Kubernetes API types' patchMergeKey tags). `ports` depends
# on the parent: containerPort inside a container, port in a Service.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ownerReferences": "uid",
    "conditions": "type",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "volumeClaimTemplates": "metadata.name",
}
# Primitive lists whose patch strategy is merge (a union), not replace.
PRIMITIVE_MERGE_LISTS = frozenset({"finalizers"})


class PatchFailed(Exception):
    """A patch that cannot be applied (failed `test`, missing path, malformed directive): 422 on the wire."""


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Json, operations: Any) -> Json:
    if not isinstance(operations, list):
        raise PatchFailed("a JSON patch must be a list of operations")
    try:
        result: Json = jsonpatch.JsonPatch(operations).apply(target)
    except jsonpatch.JsonPatchTestFailed as e:
        raise PatchFailed(f"the server rejected our request due to an error in our request: {e}") from e
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, TypeError) as e:
        raise PatchFailed(f"the server rejected our request due to an error in our request: {e}") from e
    return result


def _merge_key(field: str, parent_path: tuple[str, ...]) -> str | None:
    if field == "ports":
        return "containerPort" if any(p in ("containers", "initContainers") for p in parent_path) else "port"
    return MERGE_KEYS.get(field)


def _key_of(item: Any, merge_key: str) -> Any:
    for part in merge_key.split("."):
        if not isinstance(item, dict):
            return None
        item = item.get(part)
    return item


def strategic_merge(target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name) or [] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, path)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value, (*path, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    for key, order in patch.items():
        if key.startswith("$setElementOrder/"):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list):
                result[name] = _ordered(name, result[name], order, path)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, stored: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    current: list[Any] = list(stored) if isinstance(stored, list) else []
    if patch and isinstance(patch[0], dict) and patch[0].get("$patch") == "replace":
        return [copy.deepcopy(v) for v in patch[1:]]
    if field in PRIMITIVE_MERGE_LISTS:
        return current + [v for v in patch if v not in current]
    merge_key = _merge_key(field, path)
    if merge_key is None or not all(isinstance(v, dict) for v in patch):
        return [copy.deepcopy(v) for v in patch]
    for element in patch:
        key = _key_of(element, merge_key)
        index = next((i for i, c in enumerate(current) if _key_of(c, merge_key) == key), None)
        if element.get("$patch") == "delete":
            if index is not None:
                del current[index]
        elif index is None:
            current.append(strategic_merge({}, element, (*path, field)))
        else:
            current[index] = strategic_merge(current[index], element, (*path, field))
    return current


def _ordered(field: str, items: list[Any], order: list[Any], path: tuple[str, ...]) -> list[Any]:
    merge_key = _merge_key(field, path)
    keys = [_key_of(o, merge_key) if merge_key and isinstance(o, dict) else o for o in order]

    def rank(item: Any) -> int:
        key = _key_of(item, merge_key) if merge_key and isinstance(item, dict) else item
        return keys.index(key) if key in keys else len(keys)

    return sorted(items, key=rank)


def removed_fields(previous: Any, current: Any) -> Any:
    """The part of `previous` (a manager's last applied configuration) that `current` no longer sets, as a
    merge patch of nulls; lists are left to the merge of `current` (they replace or merge by key)."""
    if not isinstance(previous, dict):
        return {}
    out: Json = {}
    cur = current if isinstance(current, dict) else {}
    for key, value in previous.items():
        if key not in cur:
            out[key] = None
        elif isinstance(value, dict) and isinstance(cur[key], dict):
            nested = removed_fields(value, cur[key])
            if nested:
                out[key] = nested
    return out


def apply(target: Json | None, applied: Json, previously_applied: Json | None) -> Json:
    base = merge_patch(target or {}, removed_fields(previously_applied, applied)) if previously_applied else target
    result: Json = strategic_merge(base or {}, applied)
    return result
