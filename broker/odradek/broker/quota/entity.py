"""Quota entities and Kafka's precedence between them (KIP-55, DefaultQuotaCallback).

An entity is a (user, client id) pair where each side is a name, ``DEFAULT`` (Kafka's ``<default>``, the null name
on the wire) or ``None`` (the side is not part of the entity). For a request of user U with client id C, the quota
of a type is the value of the first of these eight entities that has one (``PRECEDENCE``):

    1. user=U, client-id=C            5. user=<default>, client-id=<default>
    2. user=U, client-id=<default>    6. user=<default>
    3. user=U                         7. client-id=C
    4. user=<default>, client-id=C    8. client-id=<default>

The level that applies also says who shares one rate (Kafka's quota metric tags): levels 1, 2, 4 and 5 are
measured per (U, C), levels 3 and 6 per U over all its client ids, levels 7 and 8 (and no quota at all) per C over
all users. U is the principal's name (``ANONYMOUS`` on a PLAINTEXT listener, as Kafka).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


class _Default(enum.Enum):
    DEFAULT = "<default>"

    def __repr__(self) -> str:
        return "<default>"


DEFAULT: Final = _Default.DEFAULT
EntityName = str | _Default | None


@dataclass(frozen=True, slots=True)
class ClientQuotaEntity:
    user: EntityName = None
    client_id: EntityName = None


class QuotaType(enum.Enum):
    """A quota key, with Kafka's sensor group and rate metric name (``kafka.server:type=<group>,user=..,
    client-id=..`` attributes ``<metric>`` and ``throttle-time``)."""

    PRODUCE = ("producer_byte_rate", "Produce", "byte-rate")
    FETCH = ("consumer_byte_rate", "Fetch", "byte-rate")
    REQUEST = ("request_percentage", "Request", "request-time")
    CONTROLLER_MUTATION = ("controller_mutation_rate", "ControllerMutation", "mutation-rate")

    def __init__(self, key: str, group: str, metric: str) -> None:
        self.key = key
        self.group = group
        self.metric = metric


QUOTA_KEYS: Final = {t.key: t for t in QuotaType}
# Kafka's types: the byte rates are LONG configs (a value must be whole), the others DOUBLE.
LONG_QUOTA_KEYS: Final = frozenset({QuotaType.PRODUCE.key, QuotaType.FETCH.key})


def precedence(user: str, client_id: str) -> tuple[ClientQuotaEntity, ...]:
    """The eight entities a request of (user, client_id) is looked up in, first match wins."""
    return (
        ClientQuotaEntity(user, client_id),
        ClientQuotaEntity(user, DEFAULT),
        ClientQuotaEntity(user, None),
        ClientQuotaEntity(DEFAULT, client_id),
        ClientQuotaEntity(DEFAULT, DEFAULT),
        ClientQuotaEntity(DEFAULT, None),
        ClientQuotaEntity(None, client_id),
        ClientQuotaEntity(None, DEFAULT),
    )


# Per precedence level (index): whether the rate is kept per user, per client id, or both.
_SHARED_BY: Final = ("both", "both", "user", "both", "both", "user", "client", "client")


@dataclass(frozen=True, slots=True)
class ResolvedQuota:
    """The quota that applies to one (user, client id) and the (user, client id) tags its rate is kept under ("" for a
    side that is not part of it). ``limit`` None: no quota (level 0 in ``level``)."""

    limit: float | None
    user_tag: str
    client_id_tag: str
    level: int  # 1..8 as in PRECEDENCE, 0 for none


def resolve(quotas: Mapping[ClientQuotaEntity, float], user: str, client_id: str) -> ResolvedQuota:
    """Kafka's DefaultQuotaCallback.quotaMetricTags then quotaLimit, for one quota type's values."""
    for level, entity in enumerate(precedence(user, client_id), start=1):
        limit = quotas.get(entity)
        if limit is not None:
            shared = _SHARED_BY[level - 1]
            return ResolvedQuota(
                limit,
                user if shared != "client" else "",
                client_id if shared != "user" else "",
                level,
            )
    return ResolvedQuota(None, "", client_id, 0)
