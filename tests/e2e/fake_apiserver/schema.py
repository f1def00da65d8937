"""Custom resources checked against their CRD's structural `openAPIV3Schema`, in the apiserver's order:
prune unknown fields (reporting them, for fieldValidation=Strict and Warn), apply defaults, then validate.

Messages follow apiextensions-apiserver's, so kubectl shows what a real cluster shows, for example
`spec.partitions: Invalid value: "x": spec.partitions in body must be of type integer: "x"` and
`spec.replicas: Required value`.

Supported: type (object, array, string, integer, number, boolean), nullable, properties, additionalProperties,
items, required, enum, minimum/maximum (and exclusive), minLength/maxLength, pattern, minItems/maxItems,
minProperties/maxProperties, x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields,
x-kubernetes-embedded-resource, x-kubernetes-list-type set/map (duplicates), allOf/anyOf/oneOf/not (value
validations only, as structural schemas allow), and `x-kubernetes-validations` CEL rules for the forms `cel.py`
evaluates (with `message`, `reason`, `fieldPath`; transition rules only on update, against the old object; list
items are correlated with their old selves only in `x-kubernetes-list-type: map` lists). A rule `cel.py` cannot
compile is skipped and recorded in `Outcome.unsupported_rules`. Not checked: format.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import cel
from .errors import Cause

Json = dict[str, Any]
ROOT_FIELDS = ("apiVersion", "kind", "metadata")


@dataclass
class Outcome:
    """What checking one object found: its pruned and defaulted form, invalid fields, pruned (unknown) fields."""

    obj: Json
    causes: list[Cause] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unsupported_rules: list[str] = field(default_factory=list)


_MISSING = object()
_RULE_REASONS = {
    "FieldValueForbidden": "Forbidden: {message}",
    "FieldValueRequired": "Required value: {message}",
    "FieldValueDuplicate": "Duplicate value: {message}",
}


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def check(obj: Json, schema: Json, old: Json | None = None) -> Outcome:
    """Prune, default and validate `obj` (`old`: the stored object on update, for CEL transition rules)."""
    outcome = Outcome(copy.deepcopy(obj))
    root = dict(outcome.obj)
    for name in ROOT_FIELDS:
        root.pop(name, None)
    pruned = _prune_default(root, schema, "", outcome.unknown)
    for name in ROOT_FIELDS:
        if name in outcome.obj:
            pruned[name] = outcome.obj[name]
    outcome.obj = pruned
    body = {k: v for k, v in pruned.items() if k not in ROOT_FIELDS}
    _validate(
        body,
        {**schema, "properties": {k: v for k, v in schema.get("properties", {}).items() if k not in ROOT_FIELDS}},
        "",
        outcome.causes,
    )
    if not outcome.causes:
        _cel(pruned, _MISSING if old is None else old, schema, "", outcome)
    return outcome


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _prune_default(value: Any, schema: Json, path: str, unknown: list[str]) -> Any:
    if schema.get("x-kubernetes-embedded-resource") and isinstance(value, dict):
        # Embedded objects keep apiVersion, kind and metadata as a resource's root does.
        inner = {k: v for k, v in value.items() if k not in ROOT_FIELDS}
        result = _prune_default(
            inner, {k: v for k, v in schema.items() if k != "x-kubernetes-embedded-resource"}, path, unknown
        )
        return {**{k: value[k] for k in ROOT_FIELDS if k in value}, **result}
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema):
        properties: Json = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        result = {}
        for key, item in value.items():
            if key in properties:
                result[key] = _prune_default(item, properties[key], _join(path, key), unknown)
            elif isinstance(additional, dict):
                result[key] = _prune_default(item, additional, _join(path, key), unknown)
            elif additional is True or preserve:
                result[key] = item
            else:
                unknown.append(_join(path, key))
        for key, sub in properties.items():
            if key not in result and "default" in sub:
                result[key] = _prune_default(copy.deepcopy(sub["default"]), sub, _join(path, key), unknown)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune_default(item, schema["items"], f"{path}[{i}]", unknown) for i, item in enumerate(value)]
    return value


def _type_ok(value: Any, schema: Json) -> bool:
    expected = schema.get("type")
    actual = _type_of(value)
    if schema.get("x-kubernetes-int-or-string"):
        return actual in ("integer", "string")
    if expected is None:
        return True
    if expected == "number":
        return actual in ("number", "integer")
    return bool(expected == actual)


def _validate(value: Any, schema: Json, path: str, causes: list[Cause]) -> None:
    name = path or "<root>"
    if value is None:
        if not schema.get("nullable") and schema.get("type"):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "null": {name} in body must be of type {schema["type"]}: "null"',
                    path,
                )
            )
        return
    if not _type_ok(value, schema):
        causes.append(
            Cause(
                "FieldValueTypeInvalid",
                f"Invalid value: {_show(value)}: {name} in body must be of type "
                f'{schema.get("type")}: "{_type_of(value)}"',
                path,
            )
        )
        return
    before = len(causes)
    _value_checks(value, schema, path, causes)
    for combinator in ("allOf", "anyOf", "oneOf"):
        options = schema.get(combinator)
        if not options:
            continue
        results = []
        for option in options:
            found: list[Cause] = []
            _value_checks(value, option, path, found)
            results.append(found)
        if combinator == "allOf":
            for found in results:
                causes.extend(found)
        elif combinator == "anyOf" and all(results):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_show(value)}: {name} in body must match at least one schema in anyOf",
                    path,
                )
            )
        elif combinator == "oneOf" and sum(1 for r in results if not r) != 1:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_show(value)}: {name} in body must match exactly one schema in oneOf",
                    path,
                )
            )
    if "not" in schema:
        found = []
        _value_checks(value, schema["not"], path, found)
        if not found:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_show(value)}: {name} in body must not validate the schema (not)",
                    path,
                )
            )
    if len(causes) > before:
        return
    if isinstance(value, dict):
        properties: Json = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                causes.append(Cause("FieldValueRequired", "Required value", _join(path, key)))
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, additional if isinstance(additional, dict) else None)
            if sub is not None:
                _validate(item, sub, _join(path, key), causes)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _validate(item, schema["items"], f"{path}[{i}]", causes)


def _value_checks(value: Any, schema: Json, path: str, causes: list[Cause]) -> None:
    """The value validations of one schema node (no recursion into children)."""
    name = path or "<root>"

    def bad(message: str, reason: str = "FieldValueInvalid") -> None:
        causes.append(Cause(reason, message, path))

    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(json.dumps(v) for v in schema["enum"])
        bad(f"Unsupported value: {_show(value)}: supported values: {supported}", "FieldValueNotSupported")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema:
            if schema.get("exclusiveMinimum") is True and value <= schema["minimum"]:
                bad(f"Invalid value: {_show(value)}: {name} in body should be greater than {schema['minimum']}")
            elif value < schema["minimum"]:
                bad(
                    f"Invalid value: {_show(value)}: {name} in body should be greater than or equal to "
                    f"{schema['minimum']}"
                )
        if "maximum" in schema:
            if schema.get("exclusiveMaximum") is True and value >= schema["maximum"]:
                bad(f"Invalid value: {_show(value)}: {name} in body should be less than {schema['maximum']}")
            elif value > schema["maximum"]:
                bad(
                    f"Invalid value: {_show(value)}: {name} in body should be less than or equal to {schema['maximum']}"
                )
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            bad(f"Too long: may not be more than {schema['maxLength']} bytes", "FieldValueTooLong")
        if "minLength" in schema and len(value) < schema["minLength"]:
            bad(f"Invalid value: {_show(value)}: {name} in body should be at least {schema['minLength']} chars long")
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            bad(f"Invalid value: {_show(value)}: {name} in body should match '{schema['pattern']}'")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            bad(f"Too many: {len(value)}: must have at most {schema['maxItems']} items", "FieldValueTooMany")
        if "minItems" in schema and len(value) < schema["minItems"]:
            bad(f"Invalid value: {len(value)}: {name} in body should have at least {schema['minItems']} items")
        _list_type_checks(value, schema, path, causes)
    if isinstance(value, dict):
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            bad(f"Too many: {len(value)}: must have at most {schema['maxProperties']} items", "FieldValueTooMany")
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            bad(
                f"Invalid value: {len(value)}: {name} in body should have at least {schema['minProperties']} properties"
            )


def _list_type_checks(value: list[Any], schema: Json, path: str, causes: list[Cause]) -> None:
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                causes.append(Cause("FieldValueDuplicate", f"Duplicate value: {_show(item)}", f"{path}[{i}]"))
            seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        seen_keys: list[tuple[Any, ...]] = []
        for i, item in enumerate(value):
            key = tuple(item.get(k) for k in keys) if isinstance(item, dict) else (item,)
            if key in seen_keys:
                shown = ", ".join(f'"{k}":{json.dumps(v)}' for k, v in zip(keys, key, strict=False))
                causes.append(
                    Cause(
                        "FieldValueDuplicate", f"Duplicate value: map[string]interface {{}}{{{shown}}}", f"{path}[{i}]"
                    )
                )
            seen_keys.append(key)


def _cel(value: Any, old: Any, schema: Json, path: str, outcome: Outcome) -> None:
    """Evaluate the CEL rules of `schema` on `value` (with `old` as oldSelf), then those of its children."""
    for rule in schema.get("x-kubernetes-validations", []):
        _cel_rule(rule, value, old, path, outcome)
    if isinstance(value, dict):
        properties: Json = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, additional if isinstance(additional, dict) else None)
            if sub is not None:
                old_item = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
                _cel(item, old_item, sub, _join(path, key), outcome)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        keys = schema.get("x-kubernetes-list-map-keys", []) if schema.get("x-kubernetes-list-type") == "map" else []
        for i, item in enumerate(value):
            _cel(item, _correlated(item, old, keys), schema["items"], f"{path}[{i}]", outcome)


def _correlated(item: Any, old: Any, keys: list[str]) -> Any:
    """The old element of a `x-kubernetes-list-type: map` list with the same keys as `item` (or _MISSING)."""
    if not keys or not isinstance(old, list) or not isinstance(item, dict):
        return _MISSING
    return next((o for o in old if isinstance(o, dict) and all(o.get(k) == item.get(k) for k in keys)), _MISSING)


def _cel_rule(rule: Json, value: Any, old: Any, path: str, outcome: Outcome) -> None:
    text = rule.get("rule", "")
    try:
        node = cel.compile_rule(text)
    except cel.CelError:
        outcome.unsupported_rules.append(text)
        return
    if cel.uses_old_self(node) and old is _MISSING and not rule.get("optionalOldSelf"):
        return
    field_path = (path + rule["fieldPath"]) if rule.get("fieldPath") else path
    try:
        result = cel.evaluate(node, {"self": value, "oldSelf": None if old is _MISSING else old})
    except cel.CelError as e:
        message = f'Invalid value: "{_type_of(value)}": {e} evaluating rule: {text}'
        outcome.causes.append(Cause("FieldValueInvalid", message, field_path.lstrip(".")))
        return
    if result is True:
        return
    message = rule.get("message") or f"failed rule: {text}"
    reason = rule.get("reason", "FieldValueInvalid")
    template = _RULE_REASONS.get(reason, 'Invalid value: "{kind}": {message}')
    outcome.causes.append(Cause(reason, template.format(kind=_type_of(value), message=message), field_path.lstrip(".")))
