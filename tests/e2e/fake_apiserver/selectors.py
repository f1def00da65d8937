"""Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and field selectors
(`metadata.name=x`, `involvedObject.uid!=y`: any dotted path of the object, compared as strings)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Json = dict[str, Any]
Predicate = Callable[[Json], bool]

_SET = re.compile(r"^\s*(!?)([\w./-]+)\s*(?:(notin|in)\s*\(([^)]*)\)|(==|!=|=)\s*([\w./-]*))?\s*$")


def _split(selector: str) -> list[str]:
    """Commas separate requirements, except inside `in (...)` lists."""
    parts, depth, current = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


class SelectorError(ValueError):
    pass


def label_selector(selector: str) -> Predicate:
    checks: list[Predicate] = []
    for part in _split(selector):
        m = _SET.match(part)
        if m is None:
            raise SelectorError(f"unable to parse requirement: {part!r}")
        negate, key, set_op, values, op, value = m.groups()
        checks.append(_requirement(negate == "!", key, set_op, values, op, value))

    def matches(obj: Json) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return matches


def _requirement(
    negate: bool, key: str, set_op: str | None, values: str | None, op: str | None, value: str | None
) -> Predicate:
    if set_op:
        allowed = {v.strip() for v in (values or "").split(",") if v.strip()}
        if set_op == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    if op in ("=", "=="):
        return lambda labels: labels.get(key) == value
    if op == "!=":
        return lambda labels: labels.get(key) != value
    if negate:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def _lookup(obj: Any, path: str) -> str:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    if obj is None:
        return ""
    if isinstance(obj, bool):
        return str(obj).lower()
    return str(obj)


def field_selector(selector: str) -> Predicate:
    checks: list[Predicate] = []
    for part in _split(selector):
        m = re.match(r"^\s*([\w.]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
        if m is None:
            raise SelectorError(f"invalid field selector: {part!r}")
        path, op, value = m.groups()
        checks.append(_field_requirement(path, op == "!=", value))
    return lambda obj: all(check(obj) for check in checks)


def _field_requirement(path: str, negate: bool, value: str) -> Predicate:
    def matches(obj: Json) -> bool:
        return (_lookup(obj, path) == value) != negate

    return matches
