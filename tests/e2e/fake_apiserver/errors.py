"""Kubernetes `Status` failures, shaped as the API server sends them so that kubectl prints
`Error from server (<reason>): <message>` and kopf maps them by code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Cause:
    """One entry of `details.causes`: `field` is a dotted path (`spec.partitions`)."""

    reason: str
    message: str
    field: str = ""


@dataclass
class ApiError(Exception):
    code: int
    reason: str
    message: str
    name: str = ""
    group: str = ""
    kind: str = ""
    causes: list[Cause] = field(default_factory=list)
    retry_after: int | None = None

    def status(self) -> Json:
        details: Json = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [
                {"reason": c.reason, "message": c.message, **({"field": c.field} if c.field else {})}
                for c in self.causes
            ]
        body: Json = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            body["details"] = details
        return body


def not_found(qualified_plural: str, name: str, group: str, plural: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified_plural} "{name}" not found', name, group, plural)


def already_exists(qualified_plural: str, name: str, group: str, plural: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified_plural} "{name}" already exists', name, group, plural)


def conflict(qualified_plural: str, name: str, group: str, plural: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified_plural} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        name,
        group,
        plural,
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def invalid(qualified_kind: str, name: str, group: str, kind: str, causes: list[Cause]) -> ApiError:
    """422 Invalid with the apiserver's message: `Kind.group "name" is invalid: a: ..., or [a: ..., b: ...]`."""
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {joined}', name, group, kind, causes)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)
