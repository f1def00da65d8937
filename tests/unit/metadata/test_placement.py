"""Rack-aware replica placement against Kafka's own expected outputs (AdminRackAwareTest)."""

from __future__ import annotations

from collections import Counter

from odradek.broker.metadata.placement import assign_replicas, rack_alternated_brokers

RACKS = {0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}


def test_rack_alternated_broker_list() -> None:
    assert rack_alternated_brokers(RACKS) == [0, 3, 1, 5, 4, 2]
    assert rack_alternated_brokers({b: r for b, r in RACKS.items() if b != 5}) == [0, 3, 1, 4, 2]


def test_kafkas_rack_aware_assignment_for_a_fixed_start() -> None:
    plan = assign_replicas(list(RACKS), 7, 3, start_index=0, replica_shift=0, racks=RACKS)
    assert plan == {
        0: [0, 3, 1],
        1: [3, 1, 5],
        2: [1, 5, 4],
        3: [5, 4, 2],
        4: [4, 2, 0],
        5: [2, 0, 3],
        6: [0, 4, 2],
    }


def test_every_partition_spans_every_rack_and_leaders_are_even() -> None:
    racks = {b: f"r{b % 3}" for b in range(9)}
    plan = assign_replicas(list(racks), 90, 3, racks=racks)
    assert all(len({racks[b] for b in replicas}) == 3 for replicas in plan.values())
    assert set(Counter(replicas[0] for replicas in plan.values()).values()) == {10}


def test_rack_unaware_when_some_broker_has_no_rack() -> None:
    racks: dict[int, str | None] = {0: "a", 1: "a", 2: None}
    assert assign_replicas([0, 1, 2], 3, 2, start_index=0, replica_shift=0, racks=racks) == assign_replicas(
        [0, 1, 2], 3, 2, start_index=0, replica_shift=0
    )


def test_create_topic_places_replicas_over_racks(tmp_path: object) -> None:
    import asyncio
    import random
    from pathlib import Path

    from odradek.broker.metadata.controller import Controller
    from odradek.broker.metadata.embedded import EmbeddedMetadataStore

    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(Path(str(tmp_path))), fsync=False)
        controller = Controller(store, rng=random.Random(3))
        lease = await store.grant_lease(600)
        for broker, rack in RACKS.items():
            await controller.register_broker(broker, "127.0.0.1", 9000 + broker, rack=rack, lease_id=lease)
        topic = await controller.create_topic("racked", 12, 3)
        assert all(len({RACKS[b] for b in p.replicas}) == 3 for p in topic.partitions.values())
        grown = await controller.create_partitions("racked", 18)
        assert all(len({RACKS[b] for b in p.replicas}) == 3 for p in grown.partitions.values())
        await store.close()

    asyncio.run(main())
