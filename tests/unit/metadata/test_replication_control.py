"""ReplicationControlManager and ClusterControlManager on one embedded store: broker loss, the last ISR member,
unclean election, unclean restarts, controlled shutdown, the fence against a paused controller, failover,
ElectLeaders and the auto rebalance."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from controller_cluster import Cluster
from metadata_testing import run
from odradek.broker.metadata.cluster_control import BrokerStates
from odradek.broker.metadata.controller import MAX_OPS_PER_TXN
from odradek.broker.metadata.errors import ControllerError, ErrorCode
from odradek.broker.metadata.image import PartitionImage
from odradek.broker.metadata.partition_change import NO_LEADER, Election
from odradek.broker.metadata.replication_control import imbalanced_partitions, leaders_of

TOPIC = "t"


async def three_brokers(tmp_path: Path, partitions: int = 3, configs: dict[str, str] | None = None) -> Cluster:
    cluster = await Cluster.open(tmp_path)
    node = cluster.node(1)
    await node.election.campaign()
    for broker in (1, 2, 3):
        await cluster.start(broker)
    assert await node.settle(await cluster.image()) == 3, "three registrations unfenced"
    image = await cluster.image()
    assert all(not b.fenced for b in image.brokers.values())
    assignments = {p: [(p + i) % 3 + 1 for i in range(3)] for p in range(partitions)}
    await cluster.tools.create_topic(TOPIC, configs=configs, assignments=assignments)
    return cluster


def test_a_lost_broker_leaves_every_isr_and_its_partitions_get_leaders_from_the_isr(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path)
        node = cluster.nodes[0]
        before = await cluster.partition(TOPIC, 0)
        assert (before.replicas, before.leader, before.isr) == ((1, 2, 3), 1, (1, 2, 3))
        await cluster.kill(1)
        assert await node.settle(await cluster.image()) == 3
        image = await cluster.image()
        leaders = {p: image.partition(TOPIC, p) for p in range(3)}
        assert {p: (s.leader, s.isr) for p, s in leaders.items() if s} == {
            0: (2, (2, 3)),  # replicas 1,2,3: the next in assignment order
            1: (2, (2, 3)),  # replicas 2,3,1: unchanged leader, 1 out of the ISR
            2: (3, (3, 2)),  # replicas 3,1,2
        }
        after = leaders[0]
        assert after is not None
        assert (after.leader_epoch, after.partition_epoch) == (before.leader_epoch + 1, before.partition_epoch + 1)
        unchanged_leader = leaders[1]
        assert unchanged_leader is not None and unchanged_leader.leader_epoch == 0
        await cluster.store.close()

    run(main())


def test_the_last_isr_member_lost_makes_the_partition_offline_until_it_returns(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path, partitions=1)
        node = cluster.nodes[0]
        await cluster.set_isr(TOPIC, 0, (1,))
        await cluster.kill(1)
        await node.settle(await cluster.image())
        offline = await cluster.partition(TOPIC)
        assert (offline.leader, offline.isr) == (NO_LEADER, (1,)), "live 2 and 3 are out of sync: no leader"
        await cluster.kill(2, 3)
        await cluster.start(2)
        await node.settle(await cluster.image())
        assert (await cluster.partition(TOPIC)).leader == NO_LEADER
        await cluster.start(1)
        await node.settle(await cluster.image())
        back = await cluster.partition(TOPIC)
        assert (back.leader, back.isr, back.leader_epoch) == (1, (1,), offline.leader_epoch + 1)
        await cluster.store.close()

    run(main())


@pytest.mark.parametrize("where", ["topic", "cluster-default"])
def test_unclean_election_elects_a_live_replica_outside_the_isr_when_enabled(tmp_path: Path, where: str) -> None:
    async def main() -> None:
        configs = {"unclean.leader.election.enable": "true"} if where == "topic" else None
        cluster = await three_brokers(tmp_path, partitions=1, configs=configs)
        if where == "cluster-default":
            await cluster.tools.alter_broker_configs("", {"unclean.leader.election.enable": "true"})
        node = cluster.nodes[0]
        await cluster.set_isr(TOPIC, 0, (1,))
        await cluster.kill(1)
        await node.settle(await cluster.image())
        after = await cluster.partition(TOPIC)
        assert (after.leader, after.isr) == (2, (2,)), "ISR reset to the unclean leader"
        await cluster.store.close()

    run(main())


def test_a_broker_back_from_an_unclean_shutdown_leaves_isrs_that_have_other_members(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path, partitions=2)
        await cluster.tools.create_topic("solo", assignments={0: [1]})
        node = cluster.nodes[0]
        # Broker 1 crashes and is back before this controller saw it go: its new registration is fenced, unclean.
        await cluster.kill(1)
        await cluster.start(1, clean=False)
        await node.settle(await cluster.image())
        image = await cluster.image()
        p0, p1, solo = image.partition(TOPIC, 0), image.partition(TOPIC, 1), image.partition("solo", 0)
        assert p0 is not None and p1 is not None and solo is not None
        assert (p0.leader, p0.isr) == (2, (2, 3)), "it led p0: leadership moved, it left the ISR"
        assert (p1.leader, p1.isr) == (2, (2, 3))
        assert (solo.leader, solo.isr) == (1, (1,)), "the only copy stays (and leads)"
        assert not image.brokers[1].fenced
        await cluster.set_isr(TOPIC, 0, (2, 3, 1))  # it caught up: its leader puts it back
        assert await node.settle(await cluster.image()) == 0, "handled once, not at every pass"
        await cluster.store.close()

    run(main())


def test_controlled_shutdown_moves_leadership_away_and_leaves_the_isrs(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path)
        await cluster.tools.create_topic("solo", assignments={0: [2]})
        node = cluster.nodes[0]
        await cluster.begin_shutdown(2)
        await node.settle(await cluster.image())
        image = await cluster.image()
        assert leaders_of(image, 2) == {}
        solo = image.partition("solo", 0)
        assert solo is not None and (solo.leader, solo.isr) == (NO_LEADER, (2,)), "RF 1: offline, as Kafka"
        assert all(2 not in p.isr for p in image.topics[TOPIC].partitions.values())
        await cluster.store.close()

    run(main())


def test_a_paused_controller_whose_claim_was_replaced_writes_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path, partitions=1)
        first = cluster.nodes[0]
        second = cluster.node(2)
        await second.election.campaign()
        assert not second.election.is_controller
        first.paused = True  # SIGSTOP: its claim is not renewed, but it still believes it holds it
        await cluster.kill(1)
        await second.election.campaign()
        assert second.election.is_controller and first.election.is_controller
        stale = await cluster.image()
        revision = cluster.store.revision
        with pytest.raises(ControllerError) as info:
            first.manager.on_image(stale)
            await first.manager.run_once()
        assert info.value.error_code == ErrorCode.NOT_CONTROLLER
        assert cluster.store.revision == revision, "nothing written by the ex-controller"
        await second.settle(stale)
        assert (await cluster.partition(TOPIC)).leader == 2
        await cluster.store.close()

    run(main())


def test_a_new_controller_reconciles_what_happened_while_there_was_none(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path)
        await cluster.nodes[0].election.stop()  # the controller is gone ...
        cluster.registrations.pop(1)
        await cluster.kill(3)  # ... and broker 3 dies meanwhile (1's registration expires with it)
        successor = cluster.node(2)
        await successor.election.campaign()
        assert await successor.settle(await cluster.image()) == 3
        image = await cluster.image()
        assert {p: image.topics[TOPIC].partitions[p].leader for p in range(3)} == {0: 2, 1: 2, 2: 2}
        assert all(p.isr == (2,) for p in image.topics[TOPIC].partitions.values())
        await cluster.store.close()

    run(main())


def test_a_broker_that_is_not_the_controller_never_writes(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path, partitions=1)
        other = cluster.node(2)
        await other.election.campaign()
        await cluster.kill(1)
        revision = cluster.store.revision
        other.manager.on_image(await cluster.image())
        assert await other.manager.run_once() == 0 and other.manager.passes == 0
        assert cluster.store.revision == revision
        await cluster.store.close()

    run(main())


def test_elect_leaders_preferred_and_unclean(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path)
        node = cluster.nodes[0]
        await cluster.kill(1)
        await node.settle(await cluster.image())
        await cluster.start(1)
        await node.settle(await cluster.image())
        node.manager.on_image(await cluster.image())
        results = await node.manager.elect_leaders(Election.PREFERRED, [(TOPIC, 0), (TOPIC, 1), (TOPIC, 2), ("x", 0)])
        assert {tp: e for tp, (e, _) in results.items()} == {
            (TOPIC, 0): ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,  # 1 is live but not back in the ISR
            (TOPIC, 1): ErrorCode.ELECTION_NOT_NEEDED,  # 2 leads and is preferred
            (TOPIC, 2): ErrorCode.ELECTION_NOT_NEEDED,
            ("x", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        }
        await cluster.set_isr(TOPIC, 0, (2, 3, 1))  # 1 caught up: its leader put it back
        node.manager.on_image(await cluster.image())
        everything = await node.manager.elect_leaders(Election.PREFERRED, None)
        assert {tp: e for tp, (e, _) in everything.items()} == {(TOPIC, 0): ErrorCode.NONE}, "only what needed one"
        after = await cluster.partition(TOPIC, 0)
        assert (after.leader, after.isr) == (1, (2, 3, 1))
        node.manager.on_image(await cluster.image())
        assert await node.manager.elect_leaders(Election.PREFERRED, None) == {}
        unclean = await node.manager.elect_leaders(Election.UNCLEAN, [(TOPIC, 1)])
        assert unclean[(TOPIC, 1)][0] == ErrorCode.ELECTION_NOT_NEEDED
        await cluster.store.close()

    run(main())


def test_auto_rebalance_gives_partitions_back_to_their_preferred_leader_over_the_imbalance(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path, partitions=6)
        node = cluster.nodes[0]
        await cluster.kill(1)
        await node.settle(await cluster.image())
        await cluster.start(1)
        await node.settle(await cluster.image())
        for p in (0, 3):  # broker 1 is preferred for p0 and p3; it caught up on both
            current = await cluster.partition(TOPIC, p)
            await cluster.set_isr(TOPIC, p, (*current.isr, 1))
        image = await cluster.image()
        states = BrokerStates(image.brokers)
        assert imbalanced_partitions(image, states, 100) == [], "2 of 2 elsewhere is 100 %: not over 100 %"
        assert sorted(imbalanced_partitions(image, states, 10)) == [(TOPIC, 0), (TOPIC, 3)]
        assert await node.manager.rebalance(image) == 2
        image = await cluster.image()
        assert image.partition(TOPIC, 0).leader == 1 and image.partition(TOPIC, 3).leader == 1  # type: ignore[union-attr]
        await cluster.store.close()

    run(main())


def test_controller_gauges(tmp_path: Path) -> None:
    from odradek.broker.metrics.controller import ControllerCollector
    from prometheus_client import CollectorRegistry, generate_latest

    async def main() -> None:
        cluster = await three_brokers(tmp_path)
        node, other = cluster.nodes[0], cluster.node(2)
        await cluster.set_isr(TOPIC, 0, (1,))
        await cluster.kill(1)
        await node.settle(await cluster.image())
        image = await cluster.image()
        node.manager.on_image(image)
        other.manager.on_image(image)
        stats = node.manager.stats()
        assert (stats.active, stats.offline_partitions, stats.global_partitions, stats.global_topics) == (True, 1, 3, 1)
        assert stats.preferred_replica_imbalance == 1, "p0 is offline: not led by its preferred replica 1"
        registry = CollectorRegistry()
        registry.register(ControllerCollector(node.manager.stats))
        text = generate_latest(registry).decode()
        assert "kafka_controller_kafkacontroller_activecontrollercount 1.0" in text
        assert "kafka_controller_kafkacontroller_offlinepartitionscount 1.0" in text
        quiet = CollectorRegistry()
        quiet.register(ControllerCollector(other.manager.stats))
        assert "kafka_controller_kafkacontroller_offlinepartitionscount 0.0" in generate_latest(quiet).decode()
        assert "kafka_controller_kafkacontroller_activecontrollercount 0.0" in generate_latest(quiet).decode()
        await cluster.store.close()

    run(main())


def test_a_tick_on_an_image_already_found_right_does_not_run_a_pass(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path, partitions=1)
        node = cluster.nodes[0]
        image = await cluster.image()
        node.manager.on_image(image)
        passes = node.manager.passes
        assert await node.manager.run_once() == 0 and node.manager.passes == passes + 1
        assert await node.manager.run_once() == 0 and node.manager.passes == passes + 1, "settled: skipped"
        await cluster.kill(1)
        node.manager.on_image(await cluster.image())
        assert await node.manager.run_once() == 1, "a new image: a pass"
        await cluster.store.close()

    run(main())


def test_writes_are_chunked_and_a_controller_replaced_mid_way_leaves_the_rest_to_its_successor(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path, partitions=250)
        first, second = cluster.nodes[0], cluster.node(2)
        sizes: list[int] = []
        original = first.controller.update_partitions

        async def update_then_pause(updates: Sequence[PartitionImage]) -> int:
            sizes.append(len(updates))
            revision = await original(updates)
            if len(sizes) == 1:  # after the first batch the controller is paused and replaced
                first.paused = True
                await cluster.kill()
                await second.election.campaign()
            return revision

        first.controller.update_partitions = update_then_pause  # type: ignore[method-assign]
        await cluster.kill(1)
        image = await cluster.image()
        led_by_1 = [p for p in image.topics[TOPIC].partitions.values() if 1 in p.isr]
        assert len(led_by_1) == 250
        first.manager.on_image(image)
        with pytest.raises(ControllerError) as info:
            await first.manager.run_once()
        assert info.value.error_code == ErrorCode.NOT_CONTROLLER
        assert sizes == [MAX_OPS_PER_TXN, MAX_OPS_PER_TXN], "batches of at most MAX_OPS_PER_TXN; the 2nd refused"
        halfway = await cluster.image()
        assert sum(1 for p in halfway.topics[TOPIC].partitions.values() if 1 in p.isr) == 250 - MAX_OPS_PER_TXN
        await second.settle(halfway)
        done = await cluster.image()
        assert all(1 not in p.isr and p.leader in (2, 3) for p in done.topics[TOPIC].partitions.values())
        await cluster.store.close()

    run(main())


def test_elect_leaders_unclean_brings_an_offline_partition_back_with_a_replica_outside_the_isr(tmp_path: Path) -> None:
    async def main() -> None:
        cluster = await three_brokers(tmp_path, partitions=2)
        node = cluster.nodes[0]
        await cluster.set_isr(TOPIC, 0, (1,))
        await cluster.set_isr(TOPIC, 1, (1,), leader=1)
        await cluster.kill(1, 3)
        await node.settle(await cluster.image())
        assert (await cluster.partition(TOPIC, 0)).leader == NO_LEADER, "unclean election is off for the topic"
        await cluster.kill(2)  # nobody left for partition 1 either
        await cluster.start(2)
        await node.settle(await cluster.image())
        node.manager.on_image(await cluster.image())
        results = await node.manager.elect_leaders(Election.UNCLEAN, [(TOPIC, 0), (TOPIC, 1)])
        assert {tp: e for tp, (e, _) in results.items()} == {(TOPIC, 0): ErrorCode.NONE, (TOPIC, 1): ErrorCode.NONE}
        after = await cluster.partition(TOPIC, 0)
        assert (after.leader, after.isr) == (2, (2,))
        await cluster.kill(2)
        await node.settle(await cluster.image())
        node.manager.on_image(await cluster.image())
        none_left = await node.manager.elect_leaders(Election.UNCLEAN, [(TOPIC, 0)])
        assert none_left[(TOPIC, 0)][0] == ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE
        await cluster.store.close()

    run(main())
