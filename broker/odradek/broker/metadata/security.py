"""Security records in the metadata store: SCRAM credentials and ACLs (Kafka's UserScramCredentialRecord and
AccessControlEntryRecord), their keys and JSON. Listed in ``image``'s key layout.

Key layout (JSON compact with sorted keys; bytes fields are standard base64)::

    /scram/<mechanism>/<user>    {"salt": "<b64>", "stored_key": "<b64>", "server_key": "<b64>",
                                  "iterations": 4096}       mechanism SCRAM-SHA-256 or SCRAM-SHA-512; the user
                                  name is the rest of the key (it may contain any character)
    /acls/<id>                   {"resource_type": 2, "resource_name": "orders", "pattern_type": 3,
                                  "principal": "User:alice", "host": "*", "operation": 3,
                                  "permission_type": 3}     id: a uuid4 (Kafka's StandardAcl id); the codes
                                  are Kafka's (ResourceType, PatternType, AclOperation, AclPermissionType)

Never a password: a SCRAM record holds what RFC 5802 lets a server keep. Records that fail to parse are logged
and skipped by readers, like every other record.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

SCRAM_PREFIX = b"/scram/"
ACLS_PREFIX = b"/acls/"
SECURITY_PREFIXES = (SCRAM_PREFIX, ACLS_PREFIX)


def scram_key(mechanism: str, user: str) -> bytes:
    return SCRAM_PREFIX + mechanism.encode() + b"/" + user.encode()


def scram_user_prefix(mechanism: str) -> bytes:
    return SCRAM_PREFIX + mechanism.encode() + b"/"


def scram_id(key: bytes) -> tuple[str, str] | None:
    """(mechanism, user) of a ``/scram/`` key, else None."""
    if not key.startswith(SCRAM_PREFIX):
        return None
    mechanism, slash, user = key[len(SCRAM_PREFIX) :].decode().partition("/")
    return (mechanism, user) if slash and mechanism and user else None


def acl_key(acl_id: str) -> bytes:
    return ACLS_PREFIX + acl_id.encode()


def acl_id(key: bytes) -> str | None:
    return key[len(ACLS_PREFIX) :].decode() if key.startswith(ACLS_PREFIX) else None


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def _int(doc: dict[str, Any], name: str) -> int:
    value = doc[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    return value


def _str(doc: dict[str, Any], name: str) -> str:
    value = doc[name]
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ScramCredentialRecord:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def __repr__(self) -> str:
        return f"ScramCredentialRecord(iterations={self.iterations})"

    def to_json(self) -> bytes:
        return _dumps(
            {
                "salt": base64.b64encode(self.salt).decode(),
                "stored_key": base64.b64encode(self.stored_key).decode(),
                "server_key": base64.b64encode(self.server_key).decode(),
                "iterations": self.iterations,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> ScramCredentialRecord:
        doc = json.loads(raw)
        return cls(
            base64.b64decode(_str(doc, "salt"), validate=True),
            base64.b64decode(_str(doc, "stored_key"), validate=True),
            base64.b64decode(_str(doc, "server_key"), validate=True),
            _int(doc, "iterations"),
        )


@dataclass(frozen=True, slots=True)
class AclRecord:
    """One ACL (Kafka's AccessControlEntryRecord without the id, which is the key)."""

    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission_type: int

    def to_json(self) -> bytes:
        return _dumps(
            {
                "resource_type": self.resource_type,
                "resource_name": self.resource_name,
                "pattern_type": self.pattern_type,
                "principal": self.principal,
                "host": self.host,
                "operation": self.operation,
                "permission_type": self.permission_type,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> AclRecord:
        doc = json.loads(raw)
        return cls(
            _int(doc, "resource_type"),
            _str(doc, "resource_name"),
            _int(doc, "pattern_type"),
            _str(doc, "principal"),
            _str(doc, "host"),
            _int(doc, "operation"),
            _int(doc, "permission_type"),
        )
