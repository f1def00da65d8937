"""ReplicationControlManager.alter_partition_reassignments on one embedded store: a move started, left alone while
the new replica is out of sync, completed by the pass once the leader's AlterPartition puts it in the ISR (the
removed leader replaced); a write that loses a race with an ISR change planned again on a newer image; and
NOT_CONTROLLER on a broker that is not the controller."""

from __future__ import annotations

from pathlib import Path

from controller_cluster import Cluster, Node
from metadata_testing import run
from odradek.broker.metadata.errors import ErrorCode
from odradek.broker.metadata.replication_control import list_reassignments

TOPIC = "t"


async def four_brokers(tmp_path: Path) -> tuple[Cluster, Node]:
    cluster = await Cluster.open(tmp_path)
    node = cluster.node(1)
    await node.election.campaign()
    for broker in (1, 2, 3, 4):
        await cluster.start(broker)
    await node.settle(await cluster.image())
    await cluster.tools.create_topic(TOPIC, assignments={0: [1, 2]})
    node.manager.on_image(await cluster.image())
    return cluster, node


def test_a_move_completes_when_the_new_replica_is_in_sync_and_the_removed_leader_is_replaced(tmp_path: Path) -> None:
    async def main() -> None:
        cluster, node = await four_brokers(tmp_path)

        async def sync() -> None:
            node.manager.on_image(await cluster.image())

        results = await node.manager.alter_partition_reassignments([(TOPIC, 0, [2, 3])], sync)
        assert results == {(TOPIC, 0): (ErrorCode.NONE, None)}
        moving = await cluster.partition(TOPIC)
        assert (moving.replicas, moving.adding_replicas, moving.removing_replicas) == ((2, 3, 1), (3,), (1,))
        assert (moving.leader, moving.isr, moving.leader_epoch) == (1, (1, 2), 0)
        assert list_reassignments(await cluster.image(), None) == {TOPIC: [moving]}
        assert await node.settle(await cluster.image()) == 0, "3 is not in sync yet: nothing to do"

        await cluster.set_isr(TOPIC, 0, (1, 2, 3))  # the leader's AlterPartition once 3 caught up
        assert await node.settle(await cluster.image()) == 1
        done = await cluster.partition(TOPIC)
        assert (done.replicas, done.isr, done.leader, done.leader_epoch) == ((2, 3), (2, 3), 2, 1)
        assert (done.adding_replicas, done.removing_replicas) == ((), ())
        assert list_reassignments(await cluster.image(), None) == {}

        cancel = await node.manager.alter_partition_reassignments([(TOPIC, 0, None)], sync)
        assert cancel[(TOPIC, 0)][0] == ErrorCode.NO_REASSIGNMENT_IN_PROGRESS
        await cluster.store.close()

    run(main())


def test_a_write_that_lost_a_race_with_an_isr_change_is_planned_again(tmp_path: Path) -> None:
    async def main() -> None:
        cluster, node = await four_brokers(tmp_path)
        stale = await cluster.image()
        await cluster.set_isr(TOPIC, 0, (1,))  # the leader shrank the ISR after the manager's image was taken
        node.manager.on_image(stale)
        syncs = []

        async def sync() -> None:
            syncs.append(1)
            node.manager.on_image(await cluster.image())

        results = await node.manager.alter_partition_reassignments([(TOPIC, 0, [1, 2, 3])], sync)
        assert results == {(TOPIC, 0): (ErrorCode.NONE, None)}
        assert syncs == [1], "one refused write, one retry on the newer image"
        growing = await cluster.partition(TOPIC)
        assert (growing.replicas, growing.isr, growing.adding_replicas) == ((1, 2, 3), (1,), (3,))
        await cluster.store.close()

    run(main())


def test_a_broker_that_is_not_the_controller_answers_not_controller(tmp_path: Path) -> None:
    async def main() -> None:
        cluster, _ = await four_brokers(tmp_path)
        other = cluster.node(2)
        other.manager.on_image(await cluster.image())

        async def sync() -> None:
            raise AssertionError("no retry without the controller claim")

        results = await other.manager.alter_partition_reassignments([(TOPIC, 0, [2, 3])], sync)
        assert results[(TOPIC, 0)][0] == ErrorCode.NOT_CONTROLLER
        assert (await cluster.partition(TOPIC)).replicas == (1, 2)
        await cluster.store.close()

    run(main())


def test_the_leaders_alter_partition_completes_a_reassignment_that_keeps_it_in_one_write(tmp_path: Path) -> None:
    """[1, 2] -> [1, 3]: the leader's AlterPartition that puts 3 in the ISR writes the completed record itself (Kafka's
    controller does the same), so the pass has nothing left to write; [1, 2] -> [2, 3] (the sender is being removed)
    waits for the pass, which elects the new leader."""

    async def main() -> None:
        cluster, node = await four_brokers(tmp_path)

        async def sync() -> None:
            node.manager.on_image(await cluster.image())

        await node.manager.alter_partition_reassignments([(TOPIC, 0, [1, 3])], sync)
        moving = await cluster.partition(TOPIC)
        assert (moving.replicas, moving.adding_replicas, moving.removing_replicas) == ((1, 3, 2), (3,), (2,))
        await node.settle(await cluster.image())
        stored = await cluster.tools.alter_partition(
            TOPIC, 0, 1, moving.leader_epoch, moving.partition_epoch, (1, 2, 3)
        )
        assert (stored.replicas, stored.isr, stored.leader, stored.leader_epoch) == ((1, 3), (1, 3), 1, 1)
        assert (stored.adding_replicas, stored.removing_replicas) == ((), ())
        assert stored.partition_epoch == moving.partition_epoch + 1
        assert await cluster.partition(TOPIC) == stored
        assert await node.settle(await cluster.image()) == 0, "completed by the AlterPartition: nothing to write"

        await node.manager.alter_partition_reassignments([(TOPIC, 0, [3, 4])], sync)
        moving = await cluster.partition(TOPIC)
        assert moving.removing_replicas == (1,), "the leader, 1, is being removed"
        stored = await cluster.tools.alter_partition(
            TOPIC, 0, 1, moving.leader_epoch, moving.partition_epoch, (1, 3, 4)
        )
        assert (stored.isr, stored.adding_replicas, stored.removing_replicas) == ((1, 3, 4), (4,), (1,))
        assert await node.settle(await cluster.image()) == 1
        done = await cluster.partition(TOPIC)
        assert (done.replicas, done.isr, done.leader, done.is_reassigning) == ((3, 4), (3, 4), 3, False)
        await cluster.store.close()

    run(main())
