"""Checks of CustomResourceDefinition schemas as the Kubernetes API server makes them, without a server.

`structural_errors(schema)` lists where an openAPIV3Schema breaks the structural-schema rules of
apiextensions.k8s.io/v1 (k8s.io/apiextensions-apiserver, "Specifying a structural schema"): every node has a
`type` unless it is `x-kubernetes-int-or-string` or `x-kubernetes-preserve-unknown-fields`; `properties` and
`additionalProperties` are not both set; arrays have `items`; `x-kubernetes-list-map-keys` are required
properties of the items; every `x-kubernetes-validations` rule has a message without line breaks; a rule
that uses `oldSelf` sits where a value has an identity (never under an array without list-type map); defaults
validate against their own node.

`to_json_schema(schema)` turns the openAPIV3Schema into a JSON schema (draft 2020-12) so that manifests can be
validated against it with `jsonschema` (CEL rules are not evaluated there).
"""

from __future__ import annotations

from typing import Any

import jsonschema

_OPENAPI_ONLY = {"nullable", "format", "x-kubernetes-list-type", "x-kubernetes-list-map-keys"}


def _children(schema: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(path, child schema, under an array) for each child node."""
    out: list[tuple[str, dict[str, Any], bool]] = []
    for name, sub in schema.get("properties", {}).items():
        out.append((f"{path}.{name}", sub, False))
    if isinstance(schema.get("additionalProperties"), dict):
        out.append((f"{path}[*]", schema["additionalProperties"], False))
    if "items" in schema:
        out.append((f"{path}[]", schema["items"], schema.get("x-kubernetes-list-type") != "map"))
    return out


def structural_errors(schema: dict[str, Any], path: str = "", under_array: bool = False) -> list[str]:
    errors: list[str] = []
    special = schema.get("x-kubernetes-int-or-string") or schema.get("x-kubernetes-preserve-unknown-fields")
    if "type" not in schema and not special:
        errors.append(f"{path or '<root>'}: no type")
    if "properties" in schema and "additionalProperties" in schema:
        errors.append(f"{path}: both properties and additionalProperties")
    if schema.get("type") == "array" and "items" not in schema:
        errors.append(f"{path}: array without items")
    for key in schema.get("x-kubernetes-list-map-keys", []):
        if key not in schema.get("items", {}).get("required", []):
            errors.append(f"{path}: list-map key {key} is not required")
    for rule in schema.get("x-kubernetes-validations", []):
        if not rule.get("message") or "\n" in rule["message"]:
            errors.append(f"{path}: rule {rule.get('rule')!r} has no one-line message")
        if "oldSelf" in rule.get("rule", "") and under_array:
            errors.append(f"{path}: transition rule under an array without list-type map")
    if "default" in schema:
        try:
            jsonschema.validate(schema["default"], to_json_schema(schema))
        except jsonschema.ValidationError as exc:
            errors.append(f"{path}: default does not validate: {exc.message}")
    for child_path, child, array in _children(schema, path):
        errors += structural_errors(child, child_path, under_array or array)
    return errors


def to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _OPENAPI_ONLY or key.startswith("x-kubernetes-validations"):
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = to_json_schema(value)
        elif key == "x-kubernetes-int-or-string":
            out["type"] = ["integer", "string"]
        elif key == "x-kubernetes-preserve-unknown-fields":
            continue
        else:
            out[key] = value
    closed = "properties" in out and "additionalProperties" not in out
    # Kubernetes prunes unknown fields (and refuses them with fieldValidation=Strict, kubectl's default)
    if out.get("type") == "object" and closed and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out
