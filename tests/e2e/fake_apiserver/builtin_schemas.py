"""Built-in kinds validated against the JSON schemas `kubernetes-validate` bundles (Kubernetes 1.32), with one
compiled validator per (kind, apiVersion, strict) kept for the server's life: `kubernetes_validate.validate()`
re-reads the 10 MB definitions file on every call (about 25 ms a write; this is under 1 ms).

The strict schemas differ only by `additionalProperties: false`, which is how unknown fields are found.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import referencing
from kubernetes_validate import utils  # type: ignore[import-untyped]

Json = dict[str, Any]
SCHEMA_VERSION = "1.32.0"


@dataclass(frozen=True, slots=True)
class SchemaError:
    """The first error found: its dotted path (`spec.replicas`, `spec.template.spec.containers.0`) and message."""

    path: str
    message: str


@functools.lru_cache(maxsize=128)
def _validator(kind: str, api_version: str, strict: bool) -> jsonschema.protocols.Validator | None:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"v{SCHEMA_VERSION}-local" + ("-strict" if strict else "")
    try:
        schema = utils.schema_contents(
            f"kubernetes-json-schema/{folder}/{kind.lower()}-{group_version}.json", SCHEMA_VERSION
        )
    except FileNotFoundError:
        return None
    definitions = _definitions(folder)
    registry: referencing.Registry[Any] = referencing.Resource.from_contents(schema) @ referencing.Registry()
    registry = definitions @ registry
    validator: jsonschema.protocols.Validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    return validator


@functools.lru_cache(maxsize=2)
def _definitions(folder: str) -> referencing.Resource[Any]:
    return referencing.Resource.from_contents(
        utils.schema_contents(f"kubernetes-json-schema/{folder}/_definitions.json", SCHEMA_VERSION)
    )


def first_error(obj: Json, strict: bool) -> SchemaError | None:
    """The first schema violation of `obj`, or None (also None for a kind without a bundled schema)."""
    validator = _validator(obj.get("kind", ""), obj.get("apiVersion", ""), strict)
    if validator is None:
        return None
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is None:
        return None
    return SchemaError(".".join(str(p) for p in error.absolute_path), error.message)
