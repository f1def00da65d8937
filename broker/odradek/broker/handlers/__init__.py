"""Request handlers: one module per API key (API_KEY, VERSIONS, async handle(request, context))."""

from __future__ import annotations

from types import ModuleType


def all_handlers() -> list[ModuleType]:
    from odradek.broker.handlers import (
        alter_configs,
        api_versions,
        create_partitions,
        create_topics,
        delete_records,
        delete_topics,
        describe_cluster,
        describe_configs,
        fetch,
        incremental_alter_configs,
        list_offsets,
        metadata,
        offset_for_leader_epoch,
        produce,
    )

    return [
        produce,
        fetch,
        list_offsets,
        metadata,
        offset_for_leader_epoch,
        api_versions,
        create_topics,
        delete_topics,
        delete_records,
        describe_configs,
        alter_configs,
        create_partitions,
        incremental_alter_configs,
        describe_cluster,
    ]
