"""A cluster of controller-side objects on one embedded store, in one process (for the controller tests).

Each ``Node`` is what one broker runs for the controller: a ``ControllerElection``, a fenced ``Controller`` and a
``ReplicationControlManager``. Brokers are registrations under leases on a ``FakeClock``: ``kill`` lets the lease
expire (SIGKILL), ``start`` registers fenced (clean or not), ``begin_shutdown`` marks it shutting down. Images are
read straight from the store (``image``), so a test decides exactly which image each manager sees.
"""

from __future__ import annotations

import random
from pathlib import Path

from metadata_testing import FakeClock
from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.election import ControllerElection
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.image import BrokerImage, ImageBuilder, MetadataImage, PartitionImage
from odradek.broker.metadata.registration import BrokerRegistration
from odradek.broker.metadata.replication_control import ReplicationControlManager
from odradek.broker.utils.time import MockTime

TTL_S = 9.0


class Node:
    def __init__(self, cluster: Cluster, broker_id: int) -> None:
        self.broker_id = broker_id
        self.election = ControllerElection(cluster.store, broker_id, ttl_s=TTL_S)
        self.controller = Controller(cluster.store, fence=self.election, rng=random.Random(broker_id))
        self.manager = ReplicationControlManager(self.controller, self.election, broker_id, MockTime())
        self.paused = False  # a paused node's controller claim is not renewed by Cluster.kill

    async def settle(self, image: MetadataImage, rounds: int = 10) -> int:
        """Runs passes on fresh images until one writes nothing; returns the records written."""
        total = 0
        for _ in range(rounds):
            self.manager.on_image(image)
            written = await self.manager.run_once()
            total += written
            if not written:
                return total
            image = await self.cluster.image()
        raise AssertionError("the controller did not reach a fixpoint")

    cluster: Cluster


class Cluster:
    def __init__(self, store: EmbeddedMetadataStore, clock: FakeClock) -> None:
        self.store = store
        self.clock = clock
        self.registrations: dict[int, BrokerRegistration] = {}
        self.nodes: list[Node] = []
        self.tools = Controller(store)  # unfenced: topic creation and test set-up

    @classmethod
    async def open(cls, path: Path) -> Cluster:
        clock = FakeClock()
        return cls(await EmbeddedMetadataStore.open(str(path), clock=clock, fsync=False), clock)

    def node(self, broker_id: int) -> Node:
        node = Node(self, broker_id)
        node.cluster = self
        self.nodes.append(node)
        return node

    async def image(self) -> MetadataImage:
        result = await self.store.range(b"/")
        return ImageBuilder.from_kvs(result.kvs, result.revision)[1]

    async def start(self, broker_id: int, *, clean: bool = True, rack: str | None = None) -> None:
        image = BrokerImage(broker_id, "127.0.0.1", 9000 + broker_id, rack, fenced=True, clean_shutdown=clean)
        registration = BrokerRegistration(self.store, self.tools, image, ttl_s=TTL_S)
        await registration._register()  # no keepalive task: the FakeClock decides when the lease ends
        self.registrations[broker_id] = registration

    async def kill(self, *broker_ids: int) -> None:
        """The brokers' leases run out (no keepalive for the TTL): their registrations disappear. Every other
        lease (registrations, controller claims of nodes not ``paused``) is renewed."""
        for broker_id in broker_ids:
            self.registrations.pop(broker_id, None)
        for step in (0.0, TTL_S / 2, TTL_S / 2 + 1):
            self.clock.advance(step)
            leases = [r.lease_id for r in self.registrations.values()]
            leases += [n.election.lease_id for n in self.nodes if n.election.lease_id and not n.paused]
            for lease in leases:
                await self.store.keepalive(lease)
        await self.store.expire_leases()

    async def begin_shutdown(self, broker_id: int) -> None:
        assert await self.registrations[broker_id].begin_controlled_shutdown()

    async def partition(self, topic: str, index: int = 0) -> PartitionImage:
        found = (await self.image()).partition(topic, index)
        assert found is not None
        return found

    async def set_isr(self, topic: str, index: int, isr: tuple[int, ...], leader: int | None = None) -> None:
        """What a leader's AlterPartition would do (repl's part), written directly."""
        await self.tools.update_partition(await self.partition(topic, index), isr=isr, leader=leader)
