"""Request handlers: one module per API key (API_KEY, VERSIONS, async handle(request, context))."""

from __future__ import annotations

from types import ModuleType


def all_handlers() -> list[ModuleType]:
    from odradek.broker.handlers import (
        alter_configs,
        api_versions,
        create_partitions,
        create_topics,
        delete_groups,
        delete_records,
        delete_topics,
        describe_cluster,
        describe_configs,
        describe_groups,
        describe_producers,
        fetch,
        find_coordinator,
        heartbeat,
        incremental_alter_configs,
        init_producer_id,
        join_group,
        leave_group,
        list_groups,
        list_offsets,
        metadata,
        offset_commit,
        offset_delete,
        offset_fetch,
        offset_for_leader_epoch,
        produce,
        sync_group,
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
        offset_commit,
        offset_fetch,
        find_coordinator,
        join_group,
        heartbeat,
        leave_group,
        sync_group,
        describe_groups,
        list_groups,
        delete_groups,
        offset_delete,
        init_producer_id,
        describe_producers,
    ]
