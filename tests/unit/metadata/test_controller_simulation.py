"""Seeded random sequences of broker and controller events against the controller (``controller_cluster``),
checking Kafka's invariants after every step. The seed is in the test id; a failure names it.

Events: a broker killed (lease expiry), started clean or after an unclean shutdown, shutting down; a leader
changing its ISR (what repl's AlterPartition does: the leader stays, only registered active brokers are added); the
active controller paused past its lease while another takes over (the paused one must not write).
Invariants: a leader is -1 or an active registered broker in the ISR; the ISR is a non-empty subset of the
replicas; a registered member is removed from it only by the rules, so an ISR that still holds a dead or
shutting-down broker holds nothing else; epochs never go back and every change bumps the partition epoch; a
partition with an acceptable ISR member has a leader (ONLINE topics); nothing is written by a paused controller.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from controller_cluster import Cluster, Node
from metadata_testing import run
from odradek.broker.metadata.cluster_control import BrokerStates
from odradek.broker.metadata.errors import ControllerError, ErrorCode
from odradek.broker.metadata.image import MetadataImage
from odradek.broker.metadata.partition_change import NO_LEADER

BROKERS = (1, 2, 3, 4)
STEPS = 40


def check(image: MetadataImage, seen: dict[tuple[str, int], tuple[int, int, object]]) -> None:
    states = BrokerStates(image.brokers)
    for topic in image.topics.values():
        for p in topic.partitions.values():
            where = f"{p.topic}-{p.partition} {p}"
            assert p.isr and set(p.isr) <= set(p.replicas), where
            if p.leader != NO_LEADER:
                assert p.leader in p.isr and states.acceptable(p.leader), where
            if any(not states.keeps_isr(b) for b in p.isr):
                assert not any(states.keeps_isr(b) for b in p.isr), where
            if topic.configs.get("unclean.leader.election.enable") != "true":
                assert p.leader != NO_LEADER or not any(states.acceptable(b) for b in p.isr), where
            previous = seen.get((p.topic, p.partition))
            if previous is not None:
                leader_epoch, partition_epoch, state = previous
                assert p.leader_epoch >= leader_epoch and p.partition_epoch >= partition_epoch, where
                if (p.leader, p.isr) != state:
                    assert p.partition_epoch > partition_epoch, where
            seen[(p.topic, p.partition)] = (p.leader_epoch, p.partition_epoch, (p.leader, p.isr))


async def simulate(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    cluster = await Cluster.open(tmp_path)
    nodes = [cluster.node(b) for b in (1, 2, 3)]
    active: Node = nodes[0]
    await active.election.campaign()
    for broker in BROKERS:
        await cluster.start(broker)
    await active.settle(await cluster.image())
    await cluster.tools.create_topic("rf3", 8, 3)
    await cluster.tools.create_topic("rf1", 2, 1)
    await cluster.tools.create_topic("dirty", 2, 2, configs={"unclean.leader.election.enable": "true"})
    seen: dict[tuple[str, int], tuple[int, int, object]] = {}
    for _ in range(STEPS):
        image = await cluster.image()
        live = sorted(cluster.registrations)
        action = rng.choice(["kill", "start", "start", "shutdown", "isr", "isr", "failover"])
        if action == "kill" and live:
            await cluster.kill(rng.choice(live))
        elif action == "start":
            down = [b for b in BROKERS if b not in cluster.registrations]
            if down:
                await cluster.start(rng.choice(down), clean=rng.random() < 0.5)
        elif action == "shutdown" and live:
            await cluster.begin_shutdown(rng.choice(live))
        elif action == "isr":
            led = [p for t in image.topics.values() for p in t.partitions.values() if p.leader != NO_LEADER]
            if led:
                p = rng.choice(led)
                states = BrokerStates(image.brokers)
                others = [r for r in p.replicas if r != p.leader and states.acceptable(r) and rng.random() < 0.6]
                await cluster.set_isr(p.topic, p.partition, (p.leader, *others))
        elif action == "failover":
            successor = rng.choice([n for n in nodes if n is not active])
            active.paused = True
            await cluster.kill()  # the paused controller's claim expires
            await successor.election.campaign()
            assert successor.election.is_controller
            revision = cluster.store.revision
            await cluster.set_isr("rf3", 0, (await cluster.partition("rf3", 0)).isr)  # an image it has not seen
            revision = cluster.store.revision
            active.manager.on_image(await cluster.image())
            try:
                await active.manager.run_once()
            except ControllerError as e:
                assert e.error_code == ErrorCode.NOT_CONTROLLER
            assert cluster.store.revision == revision, "a paused ex-controller wrote"
            active.paused = False
            await active.election.campaign()  # it resumes, finds its lease gone, and loses
            assert not active.election.is_controller
            active = successor
        await active.settle(await cluster.image())
        check(await cluster.image(), seen)
    await cluster.store.close()


@pytest.mark.parametrize("seed", range(12))
def test_random_broker_and_controller_events_keep_the_invariants(tmp_path: Path, seed: int) -> None:
    run(simulate(tmp_path, seed), timeout=60)
