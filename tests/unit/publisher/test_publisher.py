"""BrokerMetadataPublisher: metadata (image, delta) in; replica transitions, coordinator elections and dynamic
config updates out. A fake replica manager and a fake coordinator record what they are told (no store, no logs)."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Collection, Iterable, Mapping

import pytest
from odradek.broker.config.broker import BrokerConfig, build
from odradek.broker.metadata.image import MetadataDelta, MetadataImage, PartitionImage, TopicImage
from odradek.broker.publisher import BrokerMetadataPublisher, replica_assignments
from odradek.broker.quota.replication_quota_manager import ReplicationQuotaManagers
from odradek.broker.replication.leader_end_point import BrokerEndPoint
from odradek.broker.replication.replica_manager import ReplicaAssignment
from odradek.broker.utils.time import MockTime

NODE = 1
OFFSETS = "__consumer_offsets"


class FakeReplicaManager:
    """Keeps a "log" for every assigned partition with this node among its replicas, except those in `broken`
    (their log creation fails silently, as a full disk would leave them)."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.partitions: dict[tuple[str, int], object] = {}
        self.calls: list[tuple[list[tuple[str, int]], frozenset[str] | None]] = []
        self.configs_seen: list[BrokerConfig] = []
        self.broken: set[tuple[str, int]] = set()
        self.fail_next = False
        self.brokers: dict[int, object] = {}
        self.isr_eligible: set[int] | None = None

    def update_brokers(
        self, brokers: Mapping[int, BrokerEndPoint], isr_eligible: Collection[int] | None = None
    ) -> None:
        self.brokers = dict(brokers)
        self.isr_eligible = None if isr_eligible is None else set(isr_eligible)

    async def apply_assignments(
        self, assignments: Iterable[ReplicaAssignment], topics: Collection[str] | None = None
    ) -> None:
        chosen = list(assignments)
        self.calls.append(([(a.topic, a.partition) for a in chosen], None if topics is None else frozenset(topics)))
        self.configs_seen.append(self.config)
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        wanted = {(a.topic, a.partition) for a in chosen if NODE in a.state.replicas}
        for key in [k for k in self.partitions if (topics is None or k[0] in topics) and k not in wanted]:
            del self.partitions[key]
        for key in wanted - self.broken:
            self.partitions[key] = object()


class FakeCoordinator:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, int | None]] = []

    def on_elected(self, partition: int, leader_epoch: int) -> None:
        self.events.append(("elected", partition, leader_epoch))

    def on_resigned(self, partition: int, leader_epoch: int | None) -> None:
        self.events.append(("resigned", partition, leader_epoch))


def topic(name: str, leaders: Mapping[int, tuple[int, int]], configs: Mapping[str, str] | None = None) -> TopicImage:
    """A topic whose partition p has replicas [1, 2], leader leaders[p][0] at epoch leaders[p][1]."""
    parts = {p: PartitionImage(name, p, (1, 2), leader, epoch, (1, 2), epoch) for p, (leader, epoch) in leaders.items()}
    return TopicImage(name, str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), len(parts), dict(configs or {}), parts)


def image(
    revision: int, *topics: TopicImage, broker_configs: Mapping[str, Mapping[str, str]] | None = None
) -> MetadataImage:
    return MetadataImage(revision, "cluster", {}, {t.name: t for t in topics}, dict(broker_configs or {}))


class Harness:
    def __init__(self) -> None:
        self.static = build([{"node.id": str(NODE)}])
        self.manager = FakeReplicaManager(self.static)
        self.coordinator = FakeCoordinator()
        self.quotas = ReplicationQuotaManagers(NODE, MockTime())
        self.publisher = BrokerMetadataPublisher(NODE, self.static, self.manager, self.quotas)
        self.publisher.register_coordinator(OFFSETS, self.coordinator)
        self.configs: list[BrokerConfig] = []
        self.publisher.add_config_listener(self.configs.append)
        self.current = MetadataImage()

    def publish(self, new: MetadataImage, topics: Iterable[str] = (), configs: Iterable[str] = ()) -> None:
        delta = MetadataDelta(self.current, new, frozenset(topics), frozenset(), frozenset(configs))
        self.current = new
        asyncio.run(self.publisher.publish(new, delta))


# ---- leader and follower transitions ------------------------------------------------------------------------


def test_the_first_image_is_a_full_pass_and_later_deltas_touch_only_their_topics() -> None:
    h = Harness()
    a, b = topic("a", {0: (1, 0), 1: (2, 0)}), topic("b", {0: (1, 0)})
    h.publish(image(1, a, b), topics=["a", "b"])
    assert h.manager.calls == [([("a", 0), ("a", 1), ("b", 0)], None)]
    a2 = topic("a", {0: (2, 1), 1: (2, 0)})
    h.publish(image(2, a2, b), topics=["a"])
    assert h.manager.calls[1] == ([("a", 0), ("a", 1)], frozenset({"a"}))


def test_assignments_carry_the_partition_state_of_the_image() -> None:
    a = topic("a", {0: (2, 7)}, {"cleanup.policy": "compact"})
    [assignment] = replica_assignments(image(1, a))
    assert (assignment.topic, assignment.partition, assignment.topic_id) == ("a", 0, uuid.UUID(a.topic_id))
    assert assignment.configs == {"cleanup.policy": "compact"}
    state = assignment.state
    assert (state.leader_id, state.leader_epoch, state.replicas, state.isr) == (2, 7, (1, 2), (1, 2))
    assert replica_assignments(image(1, a), ["gone"]) == []


def test_after_a_failed_pass_the_next_one_looks_at_every_topic() -> None:
    h = Harness()
    a, b = topic("a", {0: (1, 0)}), topic("b", {0: (1, 0)})
    h.publish(image(1, a, b), topics=["a", "b"])
    h.manager.fail_next = True
    with pytest.raises(OSError):
        h.publish(image(2, topic("a", {0: (1, 1)}), b), topics=["a"])
    h.publish(image(3, topic("a", {0: (1, 1)}), topic("b", {0: (1, 1)})), topics=["b"])
    assert h.manager.calls[-1][1] is None


# ---- coordinator elections ----------------------------------------------------------------------------------


def test_elected_for_the_partitions_this_broker_leads_and_holds() -> None:
    h = Harness()
    h.manager.broken.add((OFFSETS, 2))  # led here in the image, but its log could not be created
    h.publish(image(1, topic(OFFSETS, {0: (1, 3), 1: (2, 0), 2: (1, 0)})), topics=[OFFSETS])
    assert h.coordinator.events == [("elected", 0, 3)]


def test_leadership_moving_away_resigns_with_the_new_epoch_and_coming_back_elects_again() -> None:
    h = Harness()
    h.publish(image(1, topic(OFFSETS, {0: (1, 0), 1: (1, 0)})), topics=[OFFSETS])
    h.coordinator.events.clear()
    h.publish(image(2, topic(OFFSETS, {0: (2, 1), 1: (1, 0)})), topics=[OFFSETS])
    assert h.coordinator.events == [("resigned", 0, 1)]
    h.publish(image(3, topic(OFFSETS, {0: (1, 2), 1: (1, 0)})), topics=[OFFSETS])
    assert h.coordinator.events == [("resigned", 0, 1), ("elected", 0, 2)]


def test_a_new_leader_epoch_while_still_leader_is_a_new_election_and_a_repeat_is_not() -> None:
    h = Harness()
    h.publish(image(1, topic(OFFSETS, {0: (1, 0)})), topics=[OFFSETS])
    h.publish(image(2, topic(OFFSETS, {0: (1, 0)}), topic("other", {0: (1, 0)})), topics=["other"])
    h.publish(image(3, topic(OFFSETS, {0: (1, 4)})), topics=[OFFSETS])
    assert h.coordinator.events == [("elected", 0, 0), ("elected", 0, 4)]


def test_deleting_the_topic_resigns_every_partition_without_an_epoch() -> None:
    h = Harness()
    h.publish(image(1, topic(OFFSETS, {0: (1, 0), 1: (1, 0)})), topics=[OFFSETS])
    h.coordinator.events.clear()
    h.publish(image(2), topics=[OFFSETS])
    assert h.coordinator.events == [("resigned", 0, None), ("resigned", 1, None)]


def test_one_coordinator_per_topic() -> None:
    h = Harness()
    with pytest.raises(ValueError):
        h.publisher.register_coordinator(OFFSETS, FakeCoordinator())


# ---- dynamic broker configs ---------------------------------------------------------------------------------


def test_a_dynamic_default_reaches_the_replica_manager_before_its_assignments_and_the_listeners() -> None:
    h = Harness()
    a = topic("a", {0: (1, 0)})
    h.publish(image(1, a), topics=["a"])
    h.publish(image(2, a, broker_configs={"": {"log.retention.ms": "1234"}}), configs=[""])
    assert h.manager.calls[-1][1] is None  # every topic's LogConfig may have changed
    assert h.manager.configs_seen[-1].get_int("log.retention.ms") == 1234
    assert h.manager.config.get_int("log.retention.ms") == 1234
    assert [c.get_int("log.retention.ms") for c in h.configs] == [1234]
    h.publish(
        image(3, a, broker_configs={"": {"log.retention.ms": "1234"}, "1": {"log.retention.ms": "99"}}), configs=["1"]
    )
    assert h.configs[-1].get_int("log.retention.ms") == 99  # this broker's own value wins


def test_another_brokers_configs_change_nothing_here() -> None:
    h = Harness()
    a = topic("a", {0: (1, 0)})
    h.publish(image(1, a), topics=["a"])
    h.publish(image(2, a, broker_configs={"2": {"log.retention.ms": "1234"}}), configs=["2"])
    assert h.configs == []
    assert h.manager.calls[-1][1] == frozenset()
    assert h.manager.config is h.static


# ---- replication throttles ---------------------------------------------------------------------------------


def test_throttle_rates_and_throttled_replicas_reach_the_replication_quotas() -> None:
    h = Harness()
    throttled = {"leader.replication.throttled.replicas": "0:1,1:2", "follower.replication.throttled.replicas": "1:1"}
    a, b = topic("a", {0: (1, 0), 1: (2, 0)}, throttled), topic("b", {0: (1, 0)})
    h.publish(image(1, a, b), topics=["a", "b"])
    assert h.quotas.leader.is_throttled("a", 0) and not h.quotas.leader.is_throttled("a", 1)
    assert h.quotas.follower.is_throttled("a", 1) and not h.quotas.follower.is_throttled("b", 0)
    assert h.quotas.leader.upper_bound == math.inf  # no rate set: unbounded
    rates = {"1": {"leader.replication.throttled.rate": "1000", "follower.replication.throttled.rate": "2000"}}
    h.publish(image(2, a, b, broker_configs=rates), configs=["1"])
    assert (h.quotas.leader.upper_bound, h.quotas.follower.upper_bound) == (1000, 2000)
    cleared = topic("a", {0: (1, 0), 1: (2, 0)})  # reassign-partitions --verify removes both lists
    h.publish(image(3, cleared, b, broker_configs=rates), topics=["a"])
    assert not h.quotas.leader.is_throttled("a", 0) and not h.quotas.follower.is_throttled("a", 1)
    h.publish(image(4, cleared, b), configs=["1"])  # the rates removed
    assert h.quotas.leader.upper_bound == math.inf and h.quotas.follower.upper_bound == math.inf
    h.publish(image(5, a, b), topics=["a"])
    h.publish(image(6, b), topics=["a"])  # deleted: its throttles go
    assert not h.quotas.leader.is_throttled("a", 0)
