"""What the quota handlers share: the image's quota records as the quota managers' entities (and the metadata listener
that keeps the managers current), Kafka's entity and value checks, and the throttling steps KafkaApis takes.

Throttling follows KIP-219 (Kafka 2.0+): a request over its quota is answered at once with ``throttle_time_ms`` set,
then its connection is muted for that long (the server reads nothing more from it; ``RequestThrottle.throttle_ms``
is what the dispatcher hands the connection). Produce records its request size against ``producer_byte_rate``, Fetch
its response size against ``consumer_byte_rate`` (a throttled fetch is answered without data, and what it read is
taken back), and every request not exempt records its handler time against ``request_percentage``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from odradek.broker.handlers.context import RequestContext
from odradek.broker.metadata.image import MetadataDelta, MetadataImage
from odradek.broker.metadata.quotas import QuotaEntityKey
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.quota.entity import DEFAULT, LONG_QUOTA_KEYS, QUOTA_KEYS, ClientQuotaEntity, EntityName
from odradek.broker.quota.manager import ClientQuotaManager, QuotaManagers, request_percentage

USER = "user"
CLIENT_ID = "client-id"
IP = "ip"

# Kafka exempts these from the request quota: cluster actions between brokers, and the APIs a client needs to connect
# and authenticate (ApiVersions, SaslHandshake, SaslAuthenticate).
REQUEST_QUOTA_EXEMPT = frozenset({18, 17, 36, 27})  # ApiVersions, SaslHandshake, SaslAuthenticate, WriteTxnMarkers


def quota_entity(entity: QuotaEntityKey) -> ClientQuotaEntity | None:
    """The managers' entity of a stored one (None: a type the managers do not enforce)."""
    names: dict[str, EntityName] = {t: (DEFAULT if n is None else n) for t, n in entity}
    if set(names) - {USER, CLIENT_ID} or not names:
        return None
    return ClientQuotaEntity(names.get(USER), names.get(CLIENT_ID))


def quota_values(image: MetadataImage) -> dict[ClientQuotaEntity, Mapping[str, float]]:
    out: dict[ClientQuotaEntity, Mapping[str, float]] = {}
    for stored, record in image.client_quotas.items():
        entity = quota_entity(stored)
        if entity is not None:
            out[entity] = record.quotas
    return out


def quota_listener(quotas: QuotaManagers) -> Callable[[MetadataImage, MetadataDelta], None]:
    """A metadata listener keeping the quota managers equal to the image's quotas (every broker applies them from the
    store's watch)."""

    def publish(image: MetadataImage, delta: MetadataDelta) -> None:
        if delta.client_quotas_changed:
            quotas.update(quota_values(image))

    return publish


def entity_refusal(components: list[tuple[str, str | None]]) -> tuple[int, str] | None:
    """Kafka's ClientQuotaControlManager.validateEntity and configKeysForEntityType, in its order and words; IP
    entities (connection_creation_rate) are refused: not implemented here."""
    if not components:
        return ErrorCode.INVALID_REQUEST, "Invalid empty client quota entity"
    seen: set[str] = set()
    for entity_type, name in components:
        if entity_type in seen:
            return ErrorCode.INVALID_REQUEST, f"Invalid empty client quota entity, duplicate entity entry {entity_type}"
        seen.add(entity_type)
        if entity_type == IP:
            return ErrorCode.INVALID_REQUEST, "IP quotas (connection_creation_rate) are not supported by this broker"
        if entity_type not in (USER, CLIENT_ID):
            return ErrorCode.INVALID_REQUEST, f"Unhandled client quota entity type: {entity_type}"
        if name is not None and not name:
            return ErrorCode.INVALID_REQUEST, f"Empty {entity_type} not supported"
    return None


def value_refusal(key: str, value: float) -> tuple[int, str] | None:
    """Kafka's validateQuotaKeyValue: a known key; a LONG key's value whole (within 1e-6)."""
    if key not in QUOTA_KEYS:
        return ErrorCode.INVALID_REQUEST, f"Invalid configuration key {key}"
    if key in LONG_QUOTA_KEYS and abs(float(int(value + 1e-6)) - value) > 1e-6:
        return ErrorCode.INVALID_REQUEST, f"Configuration {key} must be a Long value"
    return None


# -- throttling -------------------------------------------------------------------------------------------------


def user_of(ctx: RequestContext) -> str:
    """The quota user: the principal's name (``ANONYMOUS`` before or without authentication, as Kafka)."""
    return ctx.principal.name


def record_request_quota(ctx: RequestContext) -> int:
    """Records the handler time so far against ``request_percentage``; returns the throttle time (0: within it)."""
    ctx.throttle.request_recorded = True
    if ctx.header.api_key in REQUEST_QUOTA_EXEMPT:
        return 0
    manager = ctx.services.quotas.request
    if not manager.quotas_enabled:
        return 0
    elapsed_ms = time.monotonic() * 1000.0 - ctx.throttle.started_ms  # real handler time, as Kafka's thread time
    return manager.record_and_get_throttle_time_ms(user_of(ctx), ctx.client_id, request_percentage(elapsed_ms))


def throttle(ctx: RequestContext, manager: ClientQuotaManager, throttle_ms: int) -> None:
    """Mute the connection for ``throttle_ms`` once the response is out (Kafka's RequestHelper.throttle), and keep
    the throttle time in the manager's throttle-time average."""
    if throttle_ms <= 0:
        return
    manager.record_throttle(user_of(ctx), ctx.client_id, throttle_ms)
    ctx.throttle.throttle_ms = max(ctx.throttle.throttle_ms, throttle_ms)


def throttle_larger(ctx: RequestContext, bandwidth_ms: int, manager: ClientQuotaManager, request_ms: int) -> int:
    """Kafka's produce/fetch step: the larger of the bandwidth and request throttle times is the response's, and the
    connection is throttled on the quota that gave it."""
    if bandwidth_ms > request_ms:
        throttle(ctx, manager, bandwidth_ms)
    else:
        throttle(ctx, ctx.services.quotas.request, request_ms)
    return max(bandwidth_ms, request_ms)
