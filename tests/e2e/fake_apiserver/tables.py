"""Server-side printing: `meta.k8s.io/v1` Table answers for clients that ask for them (kubectl get sends
`Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`), so `kubectl get` shows a CRD's
`additionalPrinterColumns` as on a real cluster. Built-in kinds get NAME and AGE only (a real server prints more).

Printer column `jsonPath`s: dotted fields (a backslash escapes a dot in a key, as in
`.metadata.labels.odradek\\.io/cluster`), `[n]` indexes and `[?(@.field=="value")]` filters (what CRDs use,
e.g. `.status.conditions[?(@.type=="Ready")].status`).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

Json = dict[str, Any]
_STEP = re.compile(r"\.((?:[\w/-]|\\\.)+)|\[(\d+)\]|\[\?\(@\.([\w.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]")


def json_path(obj: Any, path: str) -> list[Any]:
    """Every value `path` selects in `obj` (empty when nothing matches)."""
    values = [obj]
    for m in _STEP.finditer(path.strip().lstrip("{").rstrip("}")):
        field_name, index, filter_field, filter_value = m.groups()
        selected: list[Any] = []
        for value in values:
            if field_name is not None and isinstance(value, dict):
                key = field_name.replace("\\.", ".")
                if key in value:
                    selected.append(value[key])
            elif index is not None and isinstance(value, list) and int(index) < len(value):
                selected.append(value[int(index)])
            elif filter_field is not None and isinstance(value, list):
                selected.extend(v for v in value if _matches(v, filter_field, filter_value))
        values = selected
    return values


def _matches(value: Any, field_path: str, expected: str) -> bool:
    found = json_path(value, "." + field_path)
    return bool(found) and str(found[0]) == expected


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    created = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    seconds = int((datetime.datetime.now(datetime.UTC) - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _cell(value: list[Any], column_type: str) -> Any:
    if not value:
        return None
    first = value[0]
    if column_type == "date":
        return _age(first) if isinstance(first, str) else first
    if isinstance(first, dict | list):
        return str(first)
    return first if len(value) == 1 else ",".join(str(v) for v in value)


def table(objects: list[Json], columns: list[Json], resource_version: str) -> Json:
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    definitions += [
        {
            "name": c["name"],
            "type": "string" if c.get("type") == "date" else c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": c.get("priority", 0),
        }
        for c in columns
    ]
    has_age = any(c.get("jsonPath") == ".metadata.creationTimestamp" for c in columns)
    if not has_age:
        definitions.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    rows = []
    for obj in objects:
        cells = [obj["metadata"]["name"]]
        cells += [_cell(json_path(obj, c["jsonPath"]), c.get("type", "string")) for c in columns]
        if not has_age:
            cells.append(_age(obj["metadata"].get("creationTimestamp")))
        rows.append({"cells": cells, "object": obj})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    return "as=Table" in accept and "g=meta.k8s.io" in accept
