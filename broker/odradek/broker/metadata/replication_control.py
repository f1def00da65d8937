"""``ReplicationControlManager``: what the active controller decides about partition leaders and ISRs.

Every broker runs one; only the broker whose ``ControllerElection`` holds the claim acts, and every write goes
through the fenced ``Controller`` (a paused ex-controller's writes are refused with NOT_CONTROLLER). It is a
``MetadataCache`` listener and *level-triggered*: each pass looks at the whole latest image and writes what is
needed to make it right, so a new controller (or one that missed events) reconciles everything at once, and a pass
on an image that is already right writes nothing. A pass after a write waits for an image that includes it.

One pass (``reconcile``), first step that has work wins, the next image does the rest:

1. **fenced brokers** (new registrations, ``cluster_control.BROKER_LIFECYCLE``): a broker that restarted after an
   unclean shutdown is removed from every ISR that has other members (it may have lost its unflushed tail, so it
   must not lead before it has caught up: KIP-966's idea), then every fenced broker is unfenced;
2. **every partition**: brokers that are not registered or are shutting down leave the ISR (unless they are all of
   it: the last ISR is kept, ``partition_change``), and a leader that is gone, fenced, shutting down or out of the
   ISR is replaced by the first valid replica, or by an unclean election where ``unclean.leader.election.enable``
   is on for the topic (topic override, then this broker's and the cluster-wide dynamic configs, then the static
   config), else the partition is offline (leader -1) until an ISR member comes back.

Step 2 also completes partition reassignments (``partition_change.build``) that the leader's AlterPartition could
not complete itself (``Controller.alter_partition`` does when the leader stays): once the ISR holds every target
replica, the pass writes the target replicas, clears adding/removing and elects a new leader in place of the
removed one. AlterPartitionReassignments (``alter_partition_reassignments``,
``plan_reassignment``: start, change or cancel) and ListPartitionReassignments (``list_reassignments``) are
Kafka's ``ReplicationControlManager.alterPartitionReassignments``/``listPartitionReassignments``
(``partition_reassignment`` describes the steps).

Writes are batched, at most ``MAX_OPS_PER_TXN`` partitions a transaction; a batch refused because a partition
changed meanwhile (a leader's AlterPartition) is retried one partition at a time. Preferred leader elections
(ElectLeaders, ``elect_leaders``) and the periodic ``auto.leader.rebalance.enable`` check use the same path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol

from odradek.broker.metadata.cluster_control import BrokerStates, ClusterControlManager
from odradek.broker.metadata.controller import MAX_OPS_PER_TXN, Controller, validate_manual_partition_assignment
from odradek.broker.metadata.errors import ControllerError, ErrorCode
from odradek.broker.metadata.image import BrokerImage, MetadataDelta, MetadataImage, PartitionImage, TopicImage
from odradek.broker.metadata.partition_change import NO_LEADER, Election, build, is_unclean, without
from odradek.broker.metadata.partition_reassignment import PartitionReassignmentReplicas, PartitionReassignmentRevert
from odradek.broker.metadata.store import MetadataStoreError
from odradek.broker.metrics.controller import ControllerStats
from odradek.broker.utils.time import Time, TimerHandle

__all__ = [
    "ActiveController",
    "ElectionOutcome",
    "ReplicationControlManager",
    "imbalanced_partitions",
    "leaders_of",
    "list_reassignments",
    "plan_election",
    "plan_partitions",
    "plan_reassignment",
    "plan_unclean_shutdown",
    "unclean_leader_election_enabled",
]

log = logging.getLogger(__name__)

UNCLEAN_KEY = "unclean.leader.election.enable"
ElectionOutcome = tuple[ErrorCode, str | None]
# One partition of AlterPartitionReassignments: (topic, partition, target replicas or None to cancel).
ReassignmentTarget = tuple[str, int, Sequence[int] | None]
REASSIGNMENT_ATTEMPTS = 3  # a partition whose write lost a race (an ISR change) is planned again on a newer image
CHANGED = (ErrorCode.UNKNOWN_SERVER_ERROR, "The partition changed during the reassignment; retry.")


class ActiveController(Protocol):
    """``ControllerElection``: whether this broker holds the controller claim now."""

    @property
    def is_controller(self) -> bool: ...


def _parse_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() == "true"


def unclean_leader_election_enabled(image: MetadataImage, topic: TopicImage, node_id: int, static: bool) -> bool:
    """Kafka's ``uncleanLeaderElectionEnabledForTopic``: the topic's override, else this (controller) broker's
    dynamic config, else the cluster-wide dynamic default, else the static broker config."""
    for source in (
        topic.configs,
        image.broker_configs.get(str(node_id), {}),
        image.broker_configs.get("", {}),
    ):
        found = _parse_bool(source.get(UNCLEAN_KEY))
        if found is not None:
            return found
    return static


def plan_unclean_shutdown(image: MetadataImage, broker_id: int) -> list[PartitionImage]:
    """Removes ``broker_id`` (registered after an unclean shutdown) from every ISR with other members; where it
    led, another valid replica takes over (or none: the partition waits offline for the others)."""
    states = BrokerStates(image.brokers, never_active=frozenset({broker_id}))
    changes = []
    for topic in image.topics.values():
        for partition in topic.partitions.values():
            if broker_id in partition.isr and len(partition.isr) > 1:
                after = build(partition, states.acceptable, target_isr=without(partition.isr, broker_id))
                if after is not None:
                    changes.append(after)
    return changes


def plan_partitions(
    image: MetadataImage, states: BrokerStates, unclean: Callable[[TopicImage], bool]
) -> list[PartitionImage]:
    """Step 2 of a pass over every partition (the module docstring)."""
    changes = []
    for topic in image.topics.values():
        election = Election.UNCLEAN if unclean(topic) else Election.ONLINE
        for partition in topic.partitions.values():
            target = tuple(b for b in partition.isr if states.keeps_isr(b))
            after = build(partition, states.acceptable, target_isr=target, election=election)
            if after is not None:
                changes.append(after)
    return changes


def plan_election(
    image: MetadataImage, states: BrokerStates, topic: str, partition: int, election: Election
) -> tuple[PartitionImage | None, ElectionOutcome]:
    """One partition of ElectLeaders (Kafka's ``ReplicationControlManager.electLeader``): the change, and the
    partition's result (ELECTION_NOT_NEEDED when it already has the preferred leader, or any leader for UNCLEAN;
    PREFERRED_LEADER_NOT_AVAILABLE / ELIGIBLE_LEADERS_NOT_AVAILABLE when no election can change it)."""
    current = image.partition(topic, partition)
    if current is None:
        if topic not in image.topics:
            return None, (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {topic}")
        return None, (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such partition as {topic}-{partition}")
    preferred = current.replicas[0] if current.replicas else NO_LEADER
    if election is Election.PREFERRED and current.leader == preferred:
        return None, (ErrorCode.ELECTION_NOT_NEEDED, None)
    if election is Election.UNCLEAN and current.leader != NO_LEADER:
        return None, (ErrorCode.ELECTION_NOT_NEEDED, None)
    after = build(current, states.acceptable, election=election)
    if after is None:
        if election is Election.PREFERRED:
            return None, (ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE, None)
        return None, (ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE, None)
    return after, (ErrorCode.NONE, None)


def plan_reassignment(
    image: MetadataImage,
    states: BrokerStates,
    target: ReassignmentTarget,
    *,
    unclean: bool = False,
    allow_replication_factor_change: bool = True,
) -> tuple[PartitionImage | None, ElectionOutcome]:
    """One partition of AlterPartitionReassignments (Kafka's ``ReplicationControlManager.alterPartitionReassignment``):
    the change to write (``None``: nothing to write) and the partition's result.

    - UNKNOWN_TOPIC_OR_PARTITION: no such topic or partition;
    - replicas ``None`` (cancel): NO_REASSIGNMENT_IN_PROGRESS when none is; the original replicas and ISR
      otherwise (``PartitionReassignmentRevert``), INVALID_REPLICA_ASSIGNMENT when that would need an unclean
      election and ``unclean`` (the topic's ``unclean.leader.election.enable``) is off;
    - a list: INVALID_REPLICA_ASSIGNMENT when it is empty, repeats a broker or names an unregistered broker;
      INVALID_REPLICATION_FACTOR when ``allow_replication_factor_change`` is false (v1) and its length differs from
      the original replica count (KIP-860); else the reassignment from the stored replicas (the merged list of a
      reassignment in flight) to it, completed at once where the ISR already allows it. Unlike Kafka, which keeps
      an in-flight reassignment's adding/removing lists when the new target equals the merged list, the target
      asked for always becomes the final replica list."""
    topic, index, replicas = target
    current = image.partition(topic, index)
    if current is None:
        if topic not in image.topics:
            return None, (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Unable to find a topic named {topic}.")
        return None, (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Unable to find partition {topic}:{index}.")
    if replicas is None:
        return _plan_cancel(current, states, unclean)
    try:
        validate_manual_partition_assignment(replicas, image.brokers)
    except ControllerError as e:
        return None, (e.error_code, e.message)
    ongoing = PartitionReassignmentReplicas(current.removing_replicas, current.adding_replicas, current.replicas)
    original = ongoing.original_replicas()
    if not allow_replication_factor_change and len(replicas) != len(original):
        return None, (
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"The replication factor of {topic}:{index} would change from {len(original)} to {len(replicas)}, "
            "but allowReplicationFactorChange is false.",
        )
    reassignment = PartitionReassignmentReplicas.of(current.replicas, replicas)
    after = build(
        current,
        states.acceptable,
        target_replicas=reassignment.replicas,
        target_adding=reassignment.adding,
        target_removing=reassignment.removing,
    )
    return after, (ErrorCode.NONE, None)


def _plan_cancel(
    current: PartitionImage, states: BrokerStates, unclean: bool
) -> tuple[PartitionImage | None, ElectionOutcome]:
    if not current.is_reassigning:
        return None, (ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, "No partition reassignment is in progress.")
    revert = PartitionReassignmentRevert.of(
        current.replicas, current.isr, current.adding_replicas, current.removing_replicas
    )
    if revert.unclean and not unclean:
        return None, (
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            f"Unable to revert partition assignment for {current.topic}:{current.partition} because it would "
            "require an unclean leader election.",
        )
    after = build(
        current,
        states.acceptable,
        target_isr=revert.isr,
        election=Election.UNCLEAN if unclean else Election.ONLINE,
        target_replicas=revert.replicas,
        target_adding=(),
        target_removing=(),
    )
    return after, (ErrorCode.NONE, None)


def list_reassignments(
    image: MetadataImage, topics: Sequence[tuple[str, Sequence[int]]] | None
) -> dict[str, list[PartitionImage]]:
    """ListPartitionReassignments (Kafka's ``listPartitionReassignments``): the reassigning partitions of
    ``topics`` (``None``: of every topic), by topic; unknown topics and partitions, and partitions that are not
    being reassigned, are left out (no error), as are topics with none left."""
    wanted = [(t.name, list(t.partitions)) for t in image.topics.values()] if topics is None else list(topics)
    found: dict[str, list[PartitionImage]] = {}
    for name, indexes in wanted:
        parts = [p for i in indexes if (p := image.partition(name, i)) is not None and p.is_reassigning]
        if parts:
            found.setdefault(name, []).extend(parts)
    return found


def imbalanced_partitions(image: MetadataImage, states: BrokerStates, percentage: int) -> list[tuple[str, int]]:
    """ZooKeeper-era Kafka's ``checkAndTriggerAutoLeaderRebalance``: for each broker, the partitions it is the
    preferred leader (first replica) of; if more than ``percentage`` % of them are led by others, those whose
    preferred leader may lead and is in the ISR are returned for a preferred election."""
    by_preferred: dict[int, list[PartitionImage]] = {}
    for topic in image.topics.values():
        for partition in topic.partitions.values():
            if partition.replicas:
                by_preferred.setdefault(partition.replicas[0], []).append(partition)
    chosen = []
    for broker, partitions in sorted(by_preferred.items()):
        elsewhere = [p for p in partitions if p.leader != broker]
        if not elsewhere or len(elsewhere) * 100 <= percentage * len(partitions):
            continue
        chosen += [(p.topic, p.partition) for p in elsewhere if states.acceptable(broker) and broker in p.isr]
    return chosen


class ReplicationControlManager:
    """Register ``on_image`` with the ``MetadataCache``; ``start()`` once, ``stop()`` at shutdown."""

    def __init__(
        self,
        controller: Controller,
        active: ActiveController,
        node_id: int,
        time: Time,
        *,
        unclean_default: Callable[[], bool] = lambda: False,
        tick_ms: float = 2000.0,
        auto_rebalance: bool = True,
        rebalance_interval_ms: float = 300_000.0,
        imbalance_percentage: int = 10,
    ) -> None:
        self._controller = controller
        self._cluster = ClusterControlManager(controller)
        self._active = active
        self._node_id = node_id
        self._time = time
        self._unclean_default = unclean_default
        self._tick_ms = tick_ms
        self._auto_rebalance = auto_rebalance
        self._rebalance_interval_ms = rebalance_interval_ms
        self._imbalance_percentage = imbalance_percentage
        self._image: MetadataImage | None = None
        self._written_revision = 0  # a pass waits for an image at least this new (its own last write)
        self._settled_revision = -1  # the image revision of the last pass that found nothing to write
        self._wake = asyncio.Event()
        self._rebalance_due = False
        self._tick_timer: TimerHandle | None = None
        self._rebalance_timer: TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one pass or ElectLeaders at a time
        self.passes = 0  # passes that ran as the active controller (tests)

    @property
    def image(self) -> MetadataImage | None:
        return self._image

    @property
    def is_active(self) -> bool:
        """Whether this broker holds the controller claim now."""
        return self._active.is_controller

    def on_image(self, image: MetadataImage, delta: MetadataDelta | None = None) -> None:
        """The MetadataCache listener: remembers the newest image and wakes the pass loop."""
        self._image = image
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="replication-control")
        self._arm_tick()
        if self._auto_rebalance:
            self._arm_rebalance()

    async def stop(self) -> None:
        for timer in (self._tick_timer, self._rebalance_timer):
            if timer is not None:
                timer.cancel()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def stats(self) -> ControllerStats:
        """The controller gauges (metrics/controller.py), from the latest image."""
        image = self._image
        if image is None:
            return ControllerStats(active=self._active.is_controller)
        parts = [p for t in image.topics.values() for p in t.partitions.values()]
        return ControllerStats(
            active=self._active.is_controller,
            offline_partitions=sum(1 for p in parts if p.leader == NO_LEADER),
            preferred_replica_imbalance=sum(1 for p in parts if p.replicas and p.leader != p.replicas[0]),
            global_partitions=len(parts),
            global_topics=len(image.topics),
        )

    # -- timers (on the injected Time: tests advance a MockTime) -------------------------------------------

    def _arm_tick(self) -> None:
        # Periodic wake-up: a broker that just won the controller claim acts without waiting for a metadata change.
        self._tick_timer = self._time.call_later(self._tick_ms, self._on_tick)

    def _on_tick(self) -> None:
        self._wake.set()
        self._arm_tick()

    def _arm_rebalance(self) -> None:
        self._rebalance_timer = self._time.call_later(self._rebalance_interval_ms, self._on_rebalance)

    def _on_rebalance(self) -> None:
        self._rebalance_due = True
        self._wake.set()
        self._arm_rebalance()

    # -- the pass loop -------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.run_once()
            except ControllerError as e:
                log.info("controller pass stopped: %s", e)
            except MetadataStoreError as e:
                log.warning("controller pass failed (%s); retrying at the next tick", e)
            except Exception:
                log.exception("controller pass failed; retrying at the next tick")

    async def run_once(self) -> int:
        """One pass on the latest image, if this broker is the controller and the image includes its last write;
        returns the partitions and brokers written. The loop calls it; tests may too."""
        image = self._image
        if image is None or not self._active.is_controller or image.revision < self._written_revision:
            self._settled_revision = -1  # whoever is the controller next starts with a full pass
            return 0
        if image.revision == self._settled_revision and not self._rebalance_due:
            return 0  # a tick on an image already found right: nothing can have changed
        async with self._lock:
            self.passes += 1
            written = await self.reconcile(image)
            if not written and self._rebalance_due:
                self._rebalance_due = False
                written = await self.rebalance(image)
            self._settled_revision = -1 if written else image.revision
            return written

    async def reconcile(self, image: MetadataImage) -> int:
        """Steps 1 and 2 of the module docstring on ``image``; returns how many records were written."""
        fenced = ClusterControlManager.fenced_brokers(image)
        if fenced:
            written = await self._process_registrations(image, fenced)
            if written:
                return written
            # Nothing went through (their registrations changed meanwhile): step 2 must not wait on them.
        states = BrokerStates(image.brokers)
        changes = plan_partitions(image, states, lambda t: self._unclean(image, t))
        return len(await self.write(image, changes, "broker changes"))

    async def _process_registrations(self, image: MetadataImage, brokers: Sequence[BrokerImage]) -> int:
        written = 0
        for broker in brokers:
            if not broker.clean_shutdown:
                changes = plan_unclean_shutdown(image, broker.broker_id)
                count = len(await self.write(image, changes, f"unclean shutdown of broker {broker.broker_id}"))
                if count < len(changes):
                    return written + count  # not everything went through: the next image tries again
                written += count
        for broker in brokers:
            revision = await self._cluster.unfence(broker)
            if revision:
                written += 1
                self._written_revision = max(self._written_revision, revision)
        return written

    async def rebalance(self, image: MetadataImage) -> int:
        """The ``auto.leader.rebalance.enable`` check: preferred elections where a broker's imbalance is over
        ``leader.imbalance.per.broker.percentage``."""
        states = BrokerStates(image.brokers)
        chosen = imbalanced_partitions(image, states, self._imbalance_percentage)
        changes = [c for t, p in chosen if (c := plan_election(image, states, t, p, Election.PREFERRED)[0])]
        return len(await self.write(image, changes, "preferred leader rebalance"))

    async def elect_leaders(
        self, election: Election, partitions: Iterable[tuple[str, int]] | None
    ) -> dict[tuple[str, int], ElectionOutcome]:
        """ElectLeaders (PREFERRED or UNCLEAN) on the latest image; ``None``: every partition, reporting only those
        that needed an election (Kafka's rule). NOT_CONTROLLER for all when this broker is not the controller."""
        image = self._image
        wanted = (
            [(t.name, p) for t in image.topics.values() for p in t.partitions]
            if partitions is None and image is not None
            else list(partitions or [])
        )
        if image is None or not self._active.is_controller:
            return {tp: (ErrorCode.NOT_CONTROLLER, "This broker is not the controller.") for tp in wanted}
        async with self._lock:
            states = BrokerStates(image.brokers)
            results: dict[tuple[str, int], ElectionOutcome] = {}
            changes = {}
            for topic, index in wanted:
                change, outcome = plan_election(image, states, topic, index, election)
                if partitions is None and outcome[0] == ErrorCode.ELECTION_NOT_NEEDED:
                    continue
                results[(topic, index)] = outcome
                if change is not None:
                    changes[(topic, index)] = change
            done = await self.write(image, list(changes.values()), f"{election.value} leader election")
            for tp in changes.keys() - {(c.topic, c.partition) for c in done}:
                results[tp] = (ErrorCode.UNKNOWN_SERVER_ERROR, "The partition changed during the election; retry.")
            return results

    async def alter_partition_reassignments(
        self,
        targets: Sequence[ReassignmentTarget],
        sync: Callable[[], Awaitable[None]],
        *,
        allow_replication_factor_change: bool = True,
    ) -> dict[tuple[str, int], ElectionOutcome]:
        """AlterPartitionReassignments (``plan_reassignment`` per partition) on the latest image. A partition whose
        write lost a race with another change (a leader's AlterPartition) is planned again after ``sync()`` (wait
        until the image includes every committed write), at most ``REASSIGNMENT_ATTEMPTS`` times. NOT_CONTROLLER
        for all when this broker is not the controller."""
        results: dict[tuple[str, int], ElectionOutcome] = {}
        pending = list(targets)
        for _ in range(REASSIGNMENT_ATTEMPTS):
            image = self._image
            if image is None or not self._active.is_controller:
                not_controller = (ErrorCode.NOT_CONTROLLER, "This broker is not the controller.")
                return {(t, p): not_controller for t, p, _ in targets}
            async with self._lock:
                pending = await self._reassign(image, pending, results, allow_replication_factor_change)
            if not pending:
                break
            await sync()
        return results

    async def _reassign(
        self,
        image: MetadataImage,
        targets: Sequence[ReassignmentTarget],
        results: dict[tuple[str, int], ElectionOutcome],
        allow_rf_change: bool,
    ) -> list[ReassignmentTarget]:
        """One attempt: records each partition's result; returns the targets whose write was refused."""
        states = BrokerStates(image.brokers)
        changes: dict[tuple[str, int], tuple[PartitionImage, ReassignmentTarget]] = {}
        for target in targets:
            topic = image.topics.get(target[0])
            unclean = topic is not None and self._unclean(image, topic)
            change, outcome = plan_reassignment(
                image, states, target, unclean=unclean, allow_replication_factor_change=allow_rf_change
            )
            results[(target[0], target[1])] = outcome
            if change is not None:
                changes[(target[0], target[1])] = (change, target)
        done = await self.write(image, [c for c, _ in changes.values()], "partition reassignment")
        refused = changes.keys() - {(c.topic, c.partition) for c in done}
        for tp in refused:
            results[tp] = CHANGED
        return [changes[tp][1] for tp in refused]

    # -- writes --------------------------------------------------------------------------------------------

    async def write(self, image: MetadataImage, changes: Sequence[PartitionImage], why: str) -> list[PartitionImage]:
        """Writes ``changes`` in batches; a refused batch is retried one partition at a time. Returns the changes
        written; NOT_CONTROLLER (ControllerError) stops it."""
        written: list[PartitionImage] = []
        for start in range(0, len(changes), MAX_OPS_PER_TXN):
            chunk = changes[start : start + MAX_OPS_PER_TXN]
            revision = await self._controller.update_partitions(chunk)
            if revision:
                written += chunk
                self._written_revision = max(self._written_revision, revision)
                continue
            for change in chunk:
                revision = await self._controller.update_partitions([change])
                if revision:
                    written.append(change)
                    self._written_revision = max(self._written_revision, revision)
        if changes:
            self._log(image, changes, why, len(written))
        return written

    @staticmethod
    def _log(image: MetadataImage, changes: Sequence[PartitionImage], why: str, written: int) -> None:
        for change in changes:
            before = image.partition(change.topic, change.partition)
            if before is not None and is_unclean(before, change):
                log.warning(
                    "unclean leader election for %s-%d: leader %d (epoch %d) was not in the ISR %s; records may be lost",  # noqa: E501
                    change.topic,
                    change.partition,
                    change.leader,
                    change.leader_epoch,
                    list(before.isr),
                )
        offline = sum(1 for c in changes if c.leader == NO_LEADER)
        log.info(
            "%s: changed %d of %d partition(s)%s", why, written, len(changes), f", {offline} offline" if offline else ""
        )

    def _unclean(self, image: MetadataImage, topic: TopicImage) -> bool:
        return unclean_leader_election_enabled(image, topic, self._node_id, self._unclean_default())


def leaders_of(image: MetadataImage, broker_id: int) -> Mapping[tuple[str, int], int]:
    """The partitions ``broker_id`` leads in ``image``, with their leader epochs (controlled shutdown waits for
    this to be empty)."""
    return {
        (t.name, p.partition): p.leader_epoch
        for t in image.topics.values()
        for p in t.partitions.values()
        if p.leader == broker_id
    }
