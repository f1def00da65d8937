"""Controller writes on the embedded store: topics, partitions, configs, brokers, error codes."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from metadata_testing import run
from odradek.broker.metadata.controller import AdminFence, Controller, new_cluster_id, validate_topic_name
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.errors import ControllerError, ErrorCode
from odradek.broker.metadata.image import Endpoint, broker_key, partition_key, topic_key
from odradek.broker.metadata.placement import assign_replicas
from odradek.broker.metadata.store import Compare, CompareResult, Op, TxnResult, TxnTooLargeError

Body = Callable[[EmbeddedMetadataStore, Controller], Awaitable[None]]


def with_cluster(path: Path, body: Body, brokers: int = 3, **kwargs: object) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(path))
        try:
            controller = Controller(store, rng=random.Random(0), **kwargs)  # type: ignore[arg-type]
            for broker_id in range(1, brokers + 1):
                lease = await store.grant_lease(60)
                await controller.register_broker(broker_id, "127.0.0.1", 9090 + broker_id, lease_id=lease)
            await body(store, controller)
        finally:
            await store.close()

    run(main())


async def expect_error(code: ErrorCode, call: Awaitable[object]) -> ControllerError:
    with pytest.raises(ControllerError) as info:
        await call
    assert info.value.error_code == code, info.value
    return info.value


def test_cluster_id_is_created_once(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        first = await controller.ensure_cluster_id()
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", first)
        assert await controller.ensure_cluster_id() == first
        assert await Controller(store).ensure_cluster_id("ignored-once-set") == first

    with_cluster(tmp_path, body)
    assert len(new_cluster_id()) == 22


def test_cluster_id_can_be_seeded(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        assert await controller.ensure_cluster_id("MkU3OEVBNTcwNTJENDM2Qk") == "MkU3OEVBNTcwNTJENDM2Qk"
        assert await controller.ensure_cluster_id() == "MkU3OEVBNTcwNTJENDM2Qk"

    with_cluster(tmp_path, body)


def test_create_topic_writes_topic_and_partitions(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        topic = await controller.create_topic("orders", 6, 2, {"cleanup.policy": "compact"})
        assert topic.num_partitions == 6 and sorted(topic.partitions) == list(range(6))
        assert topic.mod_revision == store.revision
        leaders = [p.leader for p in topic.partitions.values()]
        assert sorted(leaders) == [1, 1, 2, 2, 3, 3], "leaders are spread round-robin"
        for p in topic.partitions.values():
            assert len(set(p.replicas)) == 2 and p.leader == p.replicas[0] and p.isr == p.replicas
            assert p.leader_epoch == 0 and p.partition_epoch == 0
        stored = json.loads((await store.get(topic_key("orders"))).value)  # type: ignore[union-attr]
        assert stored == {
            "topic_id": topic.topic_id,
            "partitions": 6,
            "configs": {"cleanup.policy": "compact"},
        }
        part = json.loads((await store.get(partition_key("orders", 3))).value)  # type: ignore[union-attr]
        assert set(part) == {"replicas", "leader", "leader_epoch", "isr", "partition_epoch"}
        assert await controller.describe_topic("orders") == topic

    with_cluster(tmp_path, body)


def test_create_topic_defaults_and_validate_only(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        revision = store.revision
        dry = await controller.create_topic("dry", 4, 3, validate_only=True)
        assert dry.num_partitions == 4 and store.revision == revision
        assert await store.get(topic_key("dry")) is None
        topic = await controller.create_topic("defaults")
        assert topic.num_partitions == 2 and all(len(p.replicas) == 3 for p in topic.partitions.values())

    with_cluster(tmp_path, body, default_num_partitions=2, default_replication_factor=3)


def test_create_topic_with_manual_assignment(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        topic = await controller.create_topic("manual", assignments={0: [3, 1], 1: [2, 3]})
        assert topic.partitions[0].replicas == (3, 1) and topic.partitions[0].leader == 3
        assert topic.partitions[1].leader == 2

    with_cluster(tmp_path, body)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"name": ""}, ErrorCode.INVALID_TOPIC_EXCEPTION),
        ({"name": "."}, ErrorCode.INVALID_TOPIC_EXCEPTION),
        ({"name": ".."}, ErrorCode.INVALID_TOPIC_EXCEPTION),
        ({"name": "a/b"}, ErrorCode.INVALID_TOPIC_EXCEPTION),
        ({"name": "sp ace"}, ErrorCode.INVALID_TOPIC_EXCEPTION),
        ({"name": "x" * 250}, ErrorCode.INVALID_TOPIC_EXCEPTION),
        ({"name": "t", "num_partitions": 0}, ErrorCode.INVALID_PARTITIONS),
        ({"name": "t", "num_partitions": -5}, ErrorCode.INVALID_PARTITIONS),
        ({"name": "t", "num_partitions": 10**9}, ErrorCode.INVALID_PARTITIONS),
        ({"name": "t", "replication_factor": 0}, ErrorCode.INVALID_REPLICATION_FACTOR),
        ({"name": "t", "replication_factor": 4}, ErrorCode.INVALID_REPLICATION_FACTOR),
        ({"name": "t", "num_partitions": 2, "assignments": {0: [1]}}, ErrorCode.INVALID_REQUEST),
        ({"name": "t", "assignments": {}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        ({"name": "t", "assignments": {0: [1], 2: [2]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        ({"name": "t", "assignments": {0: []}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        ({"name": "t", "assignments": {0: [1, 1]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        ({"name": "t", "assignments": {0: [1, 9]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        ({"name": "t", "assignments": {0: [1, 2], 1: [3]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        ({"name": "t", "configs": {"bogus.key": "1"}}, ErrorCode.INVALID_CONFIG),
    ],
)
def test_create_topic_errors(tmp_path: Path, kwargs: dict[str, object], code: ErrorCode) -> None:
    def validate(configs: dict[str, str]) -> None:
        unknown = set(configs) - {"cleanup.policy", "retention.ms"}
        if unknown:
            raise ControllerError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {sorted(unknown)[0]}")

    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        revision = store.revision
        await expect_error(code, controller.create_topic(**kwargs))  # type: ignore[arg-type]
        assert store.revision == revision, "a refused request writes nothing"

    with_cluster(tmp_path, body, validate_configs=validate, max_partitions=1000)


def test_topic_name_rules() -> None:
    for good in ["a", "A-b_c.d", "x" * 249, "...a"]:
        validate_topic_name(good)


def test_create_existing_topic_fails(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        await controller.create_topic("dup", 1, 1)
        await expect_error(ErrorCode.TOPIC_ALREADY_EXISTS, controller.create_topic("dup", 1, 1))
        await expect_error(ErrorCode.TOPIC_ALREADY_EXISTS, controller.create_topic("dup", 1, 1, validate_only=True))

    with_cluster(tmp_path, body)


def test_delete_topic_removes_everything_in_one_revision(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        await controller.create_topic("gone", 3, 1)
        await controller.create_topic("gone2", 1, 1)
        revision = store.revision
        deleted = await controller.delete_topic("gone")
        assert deleted.num_partitions == 3
        assert store.revision == revision + 1
        assert [kv.key for kv in (await store.range(b"/partitions/")).kvs] == [b"/partitions/gone2/0"]
        assert await store.get(topic_key("gone")) is None
        await expect_error(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, controller.delete_topic("gone"))
        recreated = await controller.create_topic("gone", 1, 1)
        assert recreated.topic_id != deleted.topic_id

    with_cluster(tmp_path, body)


def test_create_partitions(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        await controller.create_topic("grow", 2, 2, {"retention.ms": "1"})
        topic = await controller.create_partitions("grow", 5)
        assert topic.num_partitions == 5 and sorted(topic.partitions) == [0, 1, 2, 3, 4]
        assert all(len(p.replicas) == 2 for p in topic.partitions.values())
        assert topic.configs == {"retention.ms": "1"}
        assert await controller.describe_topic("grow") == topic
        manual = await controller.create_partitions("grow", 6, [[3, 2]])
        assert manual.partitions[5].replicas == (3, 2)
        dry = await controller.create_partitions("grow", 7, validate_only=True)
        assert dry.num_partitions == 7 and (await controller.describe_topic("grow")).num_partitions == 6
        await expect_error(ErrorCode.INVALID_PARTITIONS, controller.create_partitions("grow", 6))
        await expect_error(ErrorCode.INVALID_PARTITIONS, controller.create_partitions("grow", 3))
        await expect_error(ErrorCode.INVALID_REPLICA_ASSIGNMENT, controller.create_partitions("grow", 8, [[1, 2]]))
        await expect_error(ErrorCode.INVALID_REPLICA_ASSIGNMENT, controller.create_partitions("grow", 7, [[1]]))
        await expect_error(ErrorCode.INVALID_REPLICA_ASSIGNMENT, controller.create_partitions("grow", 7, [[1, 7]]))
        await expect_error(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, controller.create_partitions("nope", 3))

    with_cluster(tmp_path, body)


def test_alter_topic_configs(tmp_path: Path) -> None:
    seen: list[dict[str, str]] = []

    def validate(configs: dict[str, str]) -> None:
        seen.append(configs)
        if "bad" in configs:
            raise ControllerError(ErrorCode.INVALID_CONFIG, "bad")

    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        await controller.create_topic("cfg", 1, 1, {"a": "1", "b": "2"})
        topic = await controller.alter_topic_configs("cfg", {"c": "3", "a": "9"}, ["b"])
        assert topic.configs == {"a": "9", "c": "3"}
        assert (await controller.describe_topic("cfg")).configs == {"a": "9", "c": "3"}
        assert seen[-1] == {"a": "9", "c": "3"}
        await expect_error(ErrorCode.INVALID_CONFIG, controller.alter_topic_configs("cfg", {"bad": "x"}))
        dry = await controller.alter_topic_configs("cfg", {"d": "4"}, validate_only=True)
        assert dry.configs == {"a": "9", "c": "3", "d": "4"}
        replaced = await controller.alter_topic_configs("cfg", {"z": "1"}, replace=True)
        assert (await controller.describe_topic("cfg")).configs == {"z": "1"} == replaced.configs
        await expect_error(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, controller.alter_topic_configs("nope", {}))

    with_cluster(tmp_path, body, validate_configs=validate)


def test_register_broker_is_lease_bound_and_exclusive(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        lease = await store.grant_lease(30)
        listeners = [Endpoint("PLAINTEXT", "h", 9092)]
        broker = await controller.register_broker(7, "h", 9092, rack="r1", listeners=listeners, lease_id=lease)
        assert (await controller.live_brokers())[7] == broker
        assert (await store.get(broker_key(7))).lease == lease  # type: ignore[union-attr]
        again = await controller.register_broker(7, "h2", 9093, lease_id=lease)
        assert (await controller.live_brokers())[7] == again
        other = await store.grant_lease(30)
        await expect_error(
            ErrorCode.DUPLICATE_BROKER_REGISTRATION, controller.register_broker(7, "x", 1, lease_id=other)
        )
        await store.revoke(lease)
        assert 7 not in await controller.live_brokers()
        await controller.register_broker(7, "x", 1, lease_id=other)

    with_cluster(tmp_path, body, brokers=0)


def test_update_partition_bumps_epochs_and_detects_conflicts(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        topic = await controller.create_topic("p", 1, 3)
        p0 = topic.partitions[0]
        shrunk = await controller.update_partition(p0, isr=p0.replicas[:2])
        assert (shrunk.leader_epoch, shrunk.partition_epoch, shrunk.isr) == (0, 1, p0.replicas[:2])
        moved = await controller.update_partition(shrunk, leader=p0.replicas[1])
        assert (moved.leader, moved.leader_epoch, moved.partition_epoch) == (p0.replicas[1], 1, 2)
        assert (await controller.describe_topic("p")).partitions[0] == moved
        await expect_error(ErrorCode.INVALID_UPDATE_VERSION, controller.update_partition(shrunk, isr=[1]))

    with_cluster(tmp_path, body)


def test_fencing_failure_is_not_controller(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        held = await store.put(b"/controller", b"me")

        class HeldFence:
            controller_id = 1

            def compares(self) -> list[Compare]:
                return [Compare.create_revision(b"/controller", CompareResult.EQUAL, held.create_revision)]

        fenced = Controller(store, fence=HeldFence())
        await fenced.create_topic("ok", 1, 1)
        await store.delete(b"/controller")
        await store.put(b"/controller", b"someone else")
        await expect_error(ErrorCode.NOT_CONTROLLER, fenced.create_topic("late", 1, 1))
        await expect_error(ErrorCode.NOT_CONTROLLER, fenced.delete_topic("ok"))

    with_cluster(tmp_path, body)


def test_admin_writes_of_a_broker_that_is_not_the_controller_succeed_and_stay_ordered(tmp_path: Path) -> None:
    """Any broker serves CreateTopics and the other admin writes (AdminFence: the keys' own compares order them);
    its fenced Controller, the one for leader decisions, is refused NOT_CONTROLLER."""

    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        await store.put(b"/controller", b"another broker")

        class NotHeld:
            controller_id = 2

            def compares(self) -> list[Compare]:
                return [Compare.create_revision(b"/controller", CompareResult.EQUAL, -1)]

        fenced = Controller(store, fence=NotHeld())
        admin = Controller(store, fence=AdminFence(NotHeld()))
        assert admin.controller_id == 2
        await expect_error(ErrorCode.NOT_CONTROLLER, fenced.create_topic("by-controller-only", 1, 1))
        await admin.create_topic("from-any-broker", 2, 1)
        await admin.alter_topic_configs("from-any-broker", {"retention.ms": "1000"})
        assert (await controller.describe_topic("from-any-broker")).configs == {"retention.ms": "1000"}
        await expect_error(ErrorCode.TOPIC_ALREADY_EXISTS, admin.create_topic("from-any-broker", 1, 1))
        await admin.delete_topic("from-any-broker")
        await expect_error(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, admin.describe_topic("from-any-broker"))

    with_cluster(tmp_path, body)


def test_concurrent_alters_all_apply_through_retries(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        import asyncio

        await controller.create_topic("race", 1, 1)
        await asyncio.gather(*(controller.alter_topic_configs("race", {f"k{i}": str(i)}) for i in range(8)))
        assert (await controller.describe_topic("race")).configs == {f"k{i}": str(i) for i in range(8)}

    with_cluster(tmp_path, body, max_retries=20)


def test_placement_matches_kafka_example() -> None:
    # The example in Kafka's AdminUtils scaladoc: 5 brokers, 10 partitions, RF 3, start index 0, shift 0.
    plan = assign_replicas([0, 1, 2, 3, 4], 10, 3, start_index=0, replica_shift=0)
    assert plan[0] == [0, 1, 2] and plan[4] == [4, 0, 1]
    assert plan[5] == [0, 2, 3] and plan[9] == [4, 1, 2]
    with pytest.raises(ValueError):
        assign_replicas([1], 1, 2)


def test_alter_partition_is_a_cas_with_alter_partition_semantics(tmp_path: Path) -> None:
    """The leader's ISR change: fenced by leader and leader epoch, by partition epoch, and by the CAS itself; the
    ISR must hold the leader within the replicas, added brokers must be registered; unknown fields survive."""

    class NotTheController:
        controller_id = 9

        def compares(self) -> list[Compare]:
            return [Compare.absent(b"/never-absent")]

    async def body(store: EmbeddedMetadataStore, controller: Controller) -> None:
        await controller.create_topic("t", 1, 3)
        key = partition_key("t", 0)
        kv = await store.get(key)
        assert kv is not None
        doc = json.loads(kv.value)
        leader, replicas = doc["leader"], doc["replicas"]
        others = [r for r in replicas if r != leader]
        doc["eligible"] = [1]  # a field another part of the controller may add
        await store.put(key, json.dumps(doc).encode())
        # Not fenced by the controller claim: a fence that always fails does not stop it.
        fenced_out = Controller(store, fence=NotTheController())  # type: ignore[arg-type]
        shrunk = await fenced_out.alter_partition("t", 0, leader, 0, 0, [leader, others[0]])
        assert (shrunk.isr, shrunk.partition_epoch, shrunk.leader_epoch) == ((leader, others[0]), 1, 0)
        stored = json.loads((await store.get(key)).value)  # type: ignore[union-attr]
        assert stored["eligible"] == [1] and stored["isr"] == [leader, others[0]]
        await expect_error(ErrorCode.INVALID_UPDATE_VERSION, controller.alter_partition("t", 0, leader, 0, 0, [leader]))
        await expect_error(
            ErrorCode.FENCED_LEADER_EPOCH, controller.alter_partition("t", 0, others[0], 0, 1, [others[0]])
        )
        await expect_error(ErrorCode.FENCED_LEADER_EPOCH, controller.alter_partition("t", 0, leader, 1, 1, [leader]))
        await expect_error(ErrorCode.INVALID_REQUEST, controller.alter_partition("t", 0, leader, 0, 1, [others[0]]))
        await expect_error(ErrorCode.INVALID_REQUEST, controller.alter_partition("t", 0, leader, 0, 1, [leader, 42]))
        await expect_error(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, controller.alter_partition("u", 0, 1, 0, 0, [1]))
        # Adding a broker that is not registered: INELIGIBLE_REPLICA.
        await store.delete(broker_key(others[1]))
        await expect_error(
            ErrorCode.INELIGIBLE_REPLICA,
            controller.alter_partition("t", 0, leader, 0, 1, [leader, others[0], others[1]]),
        )
        expanded = await controller.alter_partition("t", 0, leader, 0, 1, [leader])
        assert (expanded.isr, expanded.partition_epoch) == ((leader,), 2)
        # Adding a broker that is fenced or in controlled shutdown: INELIGIBLE_REPLICA too (KIP-841).
        for flag in ("fenced", "shutting_down"):
            kv = await store.get(broker_key(others[0]))
            assert kv is not None
            registration = json.loads(kv.value)
            await store.put(broker_key(others[0]), json.dumps({**registration, flag: True}).encode())
            await expect_error(
                ErrorCode.INELIGIBLE_REPLICA, controller.alter_partition("t", 0, leader, 0, 2, [leader, others[0]])
            )
            await store.put(broker_key(others[0]), kv.value)
        back = await controller.alter_partition("t", 0, leader, 0, 2, [leader, others[0]])
        assert back.isr == (leader, others[0])

    with_cluster(tmp_path, body)


class LimitedStore(EmbeddedMetadataStore):
    """The embedded store refusing transactions of more than `limit` operations, as etcd's --max-txn-ops does."""

    limit = 128

    async def txn(self, compares: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        if len(compares) > self.limit or len(success) > self.limit or len(failure) > self.limit:
            raise TxnTooLargeError("etcdserver: too many operations in txn request (test)")
        return await super().txn(compares, success, failure)


def test_a_topic_too_large_for_one_store_transaction_is_a_policy_violation_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        store = await LimitedStore.open(str(tmp_path))
        try:
            controller = Controller(store, rng=random.Random(0))
            lease = await store.grant_lease(60)
            await controller.register_broker(1, "127.0.0.1", 9091, lease_id=lease)
            error = await expect_error(ErrorCode.POLICY_VIOLATION, controller.create_topic("wide", 500, 1))
            assert "--max-txn-ops" in error.message
            assert await store.get(topic_key("wide")) is None
            assert (await controller.create_topic("narrow", 100, 1)).num_partitions == 100  # under the limit
        finally:
            await store.close()

    run(main())
