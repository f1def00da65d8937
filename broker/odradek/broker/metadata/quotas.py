"""Client quota records in the metadata store (Kafka's QuotaRecord, one key per entity). Listed in ``image``'s key
layout.

Key layout (JSON compact with sorted keys)::

    /quotas/<type>=<name>[,<type>=<name>]   {"quotas": {"producer_byte_rate": 1048576.0, ...}}

``<type>`` is a Kafka quota entity type (``user``, ``client-id``), in that order; ``<name>`` is the entity name
percent-encoded (``urllib.parse.quote`` with no safe characters, as ZooKeeper-era Kafka sanitized user names), or
``<default>`` for the default entity of that type (Kafka's null name; ``<`` in a real name is encoded, so the two
never collide). Values are doubles, as on the wire. A key with no quota left is deleted, so every stored entity
has at least one value.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

QUOTAS_PREFIX = b"/quotas/"
DEFAULT_NAME = "<default>"
ENTITY_TYPE_ORDER = ("user", "client-id")

# An entity: (entity type, name or None for the type's default), in ENTITY_TYPE_ORDER.
QuotaEntityKey = tuple[tuple[str, str | None], ...]


def quota_entity(components: Mapping[str, str | None]) -> QuotaEntityKey:
    """The canonical entity of a {type: name or None} map (types outside ENTITY_TYPE_ORDER go last, sorted)."""
    order = {t: i for i, t in enumerate(ENTITY_TYPE_ORDER)}
    return tuple(sorted(components.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))


def quota_key(entity: QuotaEntityKey) -> bytes:
    parts = [
        f"{entity_type}={DEFAULT_NAME if name is None else urllib.parse.quote(name, safe='')}"
        for entity_type, name in entity
    ]
    return QUOTAS_PREFIX + ",".join(parts).encode()


def quota_entity_of(key: bytes) -> QuotaEntityKey | None:
    """The entity of a ``/quotas/`` key, else None (ValueError if the key is malformed)."""
    if not key.startswith(QUOTAS_PREFIX):
        return None
    components: dict[str, str | None] = {}
    for part in key[len(QUOTAS_PREFIX) :].decode().split(","):
        entity_type, equals, name = part.partition("=")
        if not equals or not entity_type or entity_type in components:
            raise ValueError(f"malformed quota entity {part!r}")
        components[entity_type] = None if name == DEFAULT_NAME else urllib.parse.unquote(name)
    return quota_entity(components)


@dataclass(frozen=True, slots=True)
class ClientQuotaRecord:
    """The quota values of one entity, by quota key (``producer_byte_rate``, ``consumer_byte_rate``,
    ``request_percentage``, ``controller_mutation_rate``)."""

    quotas: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps({"quotas": dict(self.quotas)}, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ClientQuotaRecord:
        doc = json.loads(raw)["quotas"]
        if not isinstance(doc, dict):
            raise ValueError(f"quotas: expected an object, got {doc!r}")
        quotas: dict[str, float] = {}
        for name, value in doc.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{name}: expected a number, got {value!r}")
            quotas[str(name)] = float(value)
        return cls(quotas)
