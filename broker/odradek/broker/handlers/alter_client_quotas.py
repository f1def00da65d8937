"""AlterClientQuotas (key 49), v0-v1: set and remove quota values of user, client-id and (user, client-id)
entities, named or ``<default>`` (a null name) (KIP-546).

Needs ALTER_CONFIGS on the cluster (else every entry CLUSTER_AUTHORIZATION_FAILED). Per entry, Kafka's
ClientQuotaControlManager checks, in its order and words (INVALID_REQUEST): an entity named twice in the request
("Ignoring duplicate entity": every entry of it, and none is applied, where Kafka applies the first), a key altered
twice for one entity, an empty entity or one with a type twice, an unknown type, an empty name, an unknown key, a
fractional byte rate. IP entities are refused (not implemented). ``validate_only`` checks without writing. Each
entity is written under a CAS on its key (``Controller``).
"""

from __future__ import annotations

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.handlers.context import RequestContext
from odradek.broker.handlers.quotas import entity_refusal, value_refusal
from odradek.broker.metadata.errors import ControllerError
from odradek.broker.metadata.quotas import QuotaEntityKey, quota_entity
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages.alter_client_quotas_request import AlterClientQuotasRequest, EntryData
from odradek.broker.protocol.messages.alter_client_quotas_response import (
    AlterClientQuotasResponse,
    EntityData,
)
from odradek.broker.protocol.messages.alter_client_quotas_response import (
    EntryData as ResponseEntry,
)

API_KEY = 49
VERSIONS = (0, 1)


def _components(entry: EntryData) -> list[tuple[str, str | None]]:
    return [(e.entity_type, e.entity_name) for e in entry.entity]


def _identity(entry: EntryData) -> frozenset[tuple[str, str | None]]:
    return frozenset(_components(entry))


def _response_entry(entry: EntryData, code: int, message: str | None) -> ResponseEntry:
    return ResponseEntry(
        error_code=code,
        error_message=message,
        entity=[EntityData(entity_type=e.entity_type, entity_name=e.entity_name) for e in entry.entity],
    )


def _refusal(entry: EntryData) -> tuple[int, str] | None:
    keys: set[str] = set()
    for op in entry.ops:
        if op.key in keys:
            return ErrorCode.INVALID_REQUEST, f"Duplicate quota key {op.key} not updating quota for this entity"
        keys.add(op.key)
    refusal = entity_refusal(_components(entry))
    if refusal is not None:
        return refusal
    for op in entry.ops:
        if not op.remove:
            refusal = value_refusal(op.key, op.value)
            if refusal is not None:
                return refusal
    return None


async def handle(request: AlterClientQuotasRequest, ctx: RequestContext) -> AlterClientQuotasResponse:
    if not ctx.authorize(AclOperation.ALTER_CONFIGS, ResourceType.CLUSTER):
        return AlterClientQuotasResponse(
            entries=[
                _response_entry(e, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "Cluster authorization failed.")
                for e in request.entries
            ]
        )
    counts: dict[frozenset[tuple[str, str | None]], int] = {}
    for entry in request.entries:
        counts[_identity(entry)] = counts.get(_identity(entry), 0) + 1
    results: list[ResponseEntry] = []
    for entry in request.entries:
        refusal: tuple[int, str] | None
        if counts[_identity(entry)] > 1:
            refusal = ErrorCode.INVALID_REQUEST, "Ignoring duplicate entity"
        else:
            refusal = _refusal(entry) or await _apply(ctx, quota_entity(dict(_components(entry))), entry, request)
        code, message = refusal or (ErrorCode.NONE, None)
        results.append(_response_entry(entry, code, message))
    await ctx.services.sync_metadata()
    return AlterClientQuotasResponse(entries=results)


async def _apply(
    ctx: RequestContext, entity: QuotaEntityKey, entry: EntryData, request: AlterClientQuotasRequest
) -> tuple[int, str] | None:
    alterations = {op.key: (None if op.remove else op.value) for op in entry.ops}
    try:
        await ctx.services.controller.alter_client_quotas(entity, alterations, request.validate_only)
    except ControllerError as exc:
        return exc.error_code, exc.message
    return None
