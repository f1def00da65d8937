"""``BrokerMetadataPublisher``: the one place where metadata changes become actions on this broker.

Metadata flows one way (Kafka's MetadataLoader -> BrokerMetadataPublisher): the store is followed by the
``MetadataCache``, which hands every new ``(image, delta)`` to ``publish``; ``publish`` turns it, in this order,
into

1. **dynamic broker configs**: when the delta touches the cluster-wide default (``/configs/brokers/<default>``)
   or this broker's own resource, the static configuration is layered under both (``dynamic_config``), set on the
   replica manager and handed to every config listener (the request handlers' services). A changed ``log.*``
   default changes every topic's LogConfig, so the next step then looks at every topic. The replication
   throttles' rates (``leader/follower.replication.throttled.rate``) are set from the configs in force, and each
   touched topic's throttled replica lists (``*.replication.throttled.replicas``) are applied for this broker
   (Kafka's BrokerConfigHandler and TopicConfigHandler over ``ReplicationQuotaManagers``);
2. **leader and follower transitions**: the replica manager is told the assignments of the topics the delta
   touched (``replica_assignments``) and creates, updates and deletes local replicas to match. It is awaited:
   logs are created in a worker thread, and the cache publishes the next image only after this one;
3. **coordinator elections**: for each registered coordinator topic (``__consumer_offsets`` now,
   ``__transaction_state`` later) a partition is *elected* here when the image names this broker its leader
   and its log exists here (step 2 made it); it is *resigned* when either stops being true. The coordinator is
   told ``on_elected(partition, leader_epoch)`` (again when the leader epoch grows: a new term) and
   ``on_resigned(partition, leader_epoch)`` with the partition's new epoch, or ``None`` when it is deleted.

If step 2 fails or is interrupted, the next ``publish`` looks at every topic (a full pass), so no change is lost.
The publisher sits above the coordinators in the import layers: it depends on replication, group (through the
Protocol below), metadata and config, which are independent of each other.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Protocol

from odradek.broker.config.broker import BrokerConfig
from odradek.broker.config.dynamic import load_dynamic
from odradek.broker.metadata.image import MetadataDelta, MetadataImage
from odradek.broker.quota.replication_quota_manager import (
    FOLLOWER_THROTTLED_RATE,
    LEADER_THROTTLED_RATE,
    ReplicationQuotaManagers,
)
from odradek.broker.replication.leader_end_point import BrokerEndPoint
from odradek.broker.replication.partition import PartitionState
from odradek.broker.replication.replica_manager import ReplicaAssignment

__all__ = [
    "BrokerMetadataPublisher",
    "ConfigListener",
    "PartitionCoordinator",
    "ReplicaManagerView",
    "dynamic_config",
    "inter_broker_endpoints",
    "replica_assignments",
]

log = logging.getLogger(__name__)

ConfigListener = Callable[[BrokerConfig], None]


class PartitionCoordinator(Protocol):
    """A coordinator whose state lives in the partitions of one internal topic (group, transaction)."""

    def on_elected(self, partition: int, leader_epoch: int) -> None:
        """This broker leads `partition` at `leader_epoch` and holds its log: load it and serve it."""
        ...

    def on_resigned(self, partition: int, leader_epoch: int | None) -> None:
        """This broker no longer leads `partition` (`leader_epoch`: the new leader's, None: deleted): unload it."""
        ...


class ReplicaManagerView(Protocol):
    """What the publisher needs of the ReplicaManager."""

    config: BrokerConfig

    @property
    def partitions(self) -> Mapping[tuple[str, int], object]:
        """The local replicas whose logs exist, by (topic, partition)."""
        ...

    async def apply_assignments(
        self, assignments: Iterable[ReplicaAssignment], topics: Collection[str] | None = None
    ) -> None: ...

    def update_brokers(
        self, brokers: Mapping[int, BrokerEndPoint], isr_eligible: Collection[int] | None = None
    ) -> None:
        """The inter-broker addresses of the registered brokers (followers fetch from them), and which of them
        may join an ISR (unfenced, not shutting down)."""
        ...


class BrokerMetadataPublisher:
    """Register it with ``MetadataCache.add_listener(publisher.publish)`` before the cache starts."""

    def __init__(
        self,
        node_id: int,
        static_config: BrokerConfig,
        replica_manager: ReplicaManagerView,
        replication_quotas: ReplicationQuotaManagers | None = None,
    ) -> None:
        self.node_id = node_id
        self._replication_quotas = replication_quotas
        self.static_config = static_config
        self.config = static_config
        self._replica_manager = replica_manager
        self._config_listeners: list[ConfigListener] = []
        self._coordinators: dict[str, PartitionCoordinator] = {}
        self._elected: dict[str, dict[int, int]] = {}  # topic -> partition -> leader epoch it was elected at
        self._full_pass = True  # look at every topic: at first, and after a failed or interrupted pass

    def add_config_listener(self, listener: ConfigListener) -> None:
        """``listener(config)`` runs whenever the dynamic broker configs in force change."""
        self._config_listeners.append(listener)

    def register_coordinator(self, topic: str, coordinator: PartitionCoordinator) -> None:
        """Elect `coordinator` for the partitions of `topic` that this broker leads (one coordinator a topic)."""
        if topic in self._coordinators:
            raise ValueError(f"a coordinator is already registered for {topic}")
        self._coordinators[topic] = coordinator
        self._elected[topic] = {}

    async def publish(self, image: MetadataImage, delta: MetadataDelta) -> None:
        topics: frozenset[str] | None = None if self._full_pass else delta.changed_topics  # only these changed ...
        if delta.changed_broker_configs & {"", str(self.node_id)}:
            topics = None  # ... unless a dynamic log.* default changed every topic's config
            self._update_config(dynamic_config(self.static_config, image, self.node_id))
        self._update_replication_quotas(image, topics)
        self._full_pass = True
        # Before the transitions: a partition made follower here is fetched from its leader's address.
        self._replica_manager.update_brokers(
            inter_broker_endpoints(image, self.config.inter_broker_listener[0]),
            [b for b, broker in image.brokers.items() if broker.active],
        )
        await self._replica_manager.apply_assignments(replica_assignments(image, topics), topics)
        self._full_pass = False
        for topic in self._coordinators:
            self._update_coordinator(topic, image)

    def _update_config(self, config: BrokerConfig) -> None:
        # The replica manager first: the assignments applied next compute every LogConfig from it.
        self.config = self._replica_manager.config = config
        for listener in self._config_listeners:
            listener(config)
        log.info(
            "dynamic broker configs in force: cluster-wide default %s, broker %s %s",
            dict(config.dynamic_default),
            self.node_id,
            dict(config.dynamic_broker),
        )

    def _update_replication_quotas(self, image: MetadataImage, topics: Collection[str] | None) -> None:
        """The throttles' rates from the configs in force, and the throttled replicas of `topics` (all: None)."""
        quotas = self._replication_quotas
        if quotas is None:
            return
        quotas.update_rates(self.config.get_int(LEADER_THROTTLED_RATE), self.config.get_int(FOLLOWER_THROTTLED_RATE))
        if topics is None:
            quotas.retain_topics(image.topics.keys())
        for topic in image.topics if topics is None else topics:
            found = image.topics.get(topic)
            quotas.update_topic(topic, None if found is None else found.configs)

    def _update_coordinator(self, topic: str, image: MetadataImage) -> None:
        coordinator, elected = self._coordinators[topic], self._elected[topic]
        leading = self.leading_partitions(image, topic)
        for partition in sorted(elected.keys() - leading.keys()):
            del elected[partition]
            now = image.partition(topic, partition)
            coordinator.on_resigned(partition, None if now is None else now.leader_epoch)
        for partition, epoch in sorted(leading.items()):
            if elected.get(partition, -1) < epoch:
                elected[partition] = epoch
                coordinator.on_elected(partition, epoch)

    def leading_partitions(self, image: MetadataImage, topic: str) -> dict[int, int]:
        """The partitions of `topic` the image says this broker leads and whose logs exist here, with their
        leader epochs."""
        found = image.topics.get(topic)
        if found is None:
            return {}
        local = self._replica_manager.partitions
        return {
            index: part.leader_epoch
            for index, part in found.partitions.items()
            if part.leader == self.node_id and (topic, index) in local
        }


def dynamic_config(static: BrokerConfig, image: MetadataImage, node_id: int) -> BrokerConfig:
    """The static configuration under the dynamic broker configs stored in `image` (invalid entries skipped)."""
    default, bad_default = load_dynamic(image.broker_configs.get("", {}), per_broker=False)
    own, bad_own = load_dynamic(image.broker_configs.get(str(node_id), {}), per_broker=True)
    for problem in bad_default:
        log.error("cluster-wide dynamic broker config ignored: %s", problem)
    for problem in bad_own:
        log.error("dynamic config of broker %s ignored: %s", node_id, problem)
    return static.with_dynamic(default, own)


def inter_broker_endpoints(image: MetadataImage, listener_name: str) -> dict[int, BrokerEndPoint]:
    """Each registered broker's listener named `listener_name` (inter.broker.listener.name), else its first
    listener, else its registered host and port."""
    endpoints = {}
    for broker_id, broker in image.brokers.items():
        chosen = next((e for e in broker.listeners if e.name == listener_name), None)
        if chosen is None and broker.listeners:
            chosen = broker.listeners[0]
        if chosen is None:
            endpoints[broker_id] = BrokerEndPoint(broker_id, broker.host, broker.port)
        else:
            endpoints[broker_id] = BrokerEndPoint(broker_id, chosen.host, chosen.port, chosen.security_protocol)
    return endpoints


def replica_assignments(image: MetadataImage, topics: Collection[str] | None = None) -> list[ReplicaAssignment]:
    """The assignments of every partition of `topics` (all topics: None) in the image."""
    chosen = image.topics.values() if topics is None else (image.topics[t] for t in topics if t in image.topics)
    assignments = []
    for topic in chosen:
        topic_id = uuid.UUID(topic.topic_id)
        assignments += [
            ReplicaAssignment(
                topic.name,
                part.partition,
                topic_id,
                topic.configs,
                PartitionState(part.leader, part.leader_epoch, part.partition_epoch, part.replicas, part.isr),
            )
            for part in topic.partitions.values()
        ]
    return assignments
