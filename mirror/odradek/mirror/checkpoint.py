"""MirrorCheckpointConnector and MirrorCheckpointTask: translate the source's consumer group offsets to the target
and emit them as checkpoints (Kafka's classes of the same names).

Connector: lists the source's consumer groups (`groups` / `groups.exclude`), creates `<source>.checkpoints.internal`
on the target, deals the groups round-robin to at most `tasks.max` tasks, and looks again every
`refresh.groups.interval.seconds`. No tasks when `emit.checkpoints.enabled=false`.

Task: reads the offset syncs topic from its beginning into an OffsetSyncStore (translation starts once it has read
to the end, KAFKA-12468). Every `emit.checkpoints.interval.seconds`, for each assigned group and each committed
source partition of a replicated topic, it translates the upstream offset; a translation of -1 or none is skipped.
A checkpoint is emitted only when it is the first for that partition, when its downstream offset is higher than the
last one emitted (checkpoints never rewind), or when the group itself rewound upstream. The checkpoint names the topic
as the target knows it: `<source>.t`, or `t` for a topic that came from the target (fail-back).

`sync.group.offsets.enabled`: every `sync.group.offsets.interval.seconds`, for each group that is EMPTY on the
target or does not exist there, the last checkpointed offsets are committed to it, per partition only where that
raises the target's committed offset (never backwards) and the target topic exists.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any

from odradek.connect.api.connector import SourceConnector, SourceTask, Task
from odradek.connect.api.data import OPTIONAL_BYTES_SCHEMA
from odradek.connect.api.records import SourceRecord
from odradek.connect.config.configdef import ConfigDef
from odradek.mirror import VERSION, admin
from odradek.mirror.config import TASK_ASSIGNED_GROUPS, MirrorConfig, mirror_config_def, round_robin
from odradek.mirror.formats import Checkpoint, FormatError, OffsetSync
from odradek.mirror.metrics import MirrorCheckpointMetrics
from odradek.mirror.offsets import OffsetSyncStore
from odradek.mirror.policy import DefaultReplicationPolicy
from odradek.mirror.scheduler import Scheduler

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.5
READER_POLL_S = 0.5


def list_groups(admin_client: Any) -> list[tuple[str, str]]:
    """(group id, state name) of every consumer group of a cluster."""
    result = admin_client.list_consumer_groups(request_timeout=admin.TIMEOUT_S).result(timeout=admin.TIMEOUT_S)
    return [(g.group_id, getattr(g.state, "name", str(g.state))) for g in result.valid]


def committed_offsets(admin_client: Any, group: str) -> dict[tuple[str, int], tuple[int, str]]:
    """(topic, partition) -> (offset, metadata) committed by `group` (partitions without an offset left out)."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    request = [ConsumerGroupTopicPartitions(group)]
    futures = admin_client.list_consumer_group_offsets(request, request_timeout=admin.TIMEOUT_S)
    result = futures[group].result(timeout=admin.TIMEOUT_S)
    return {
        (tp.topic, tp.partition): (tp.offset, tp.metadata or "")
        for tp in result.topic_partitions or ()
        if tp.offset >= 0 and tp.error is None
    }


def checkpoint_topic(policy: DefaultReplicationPolicy, source: str, target: str, topic: str) -> str:
    """The target's name of source topic `topic` (Kafka's MirrorCheckpointTask.renameTopicPartition)."""
    if policy.topic_source(topic) == target:
        upstream = policy.upstream_topic(topic)
        if upstream is not None:
            return upstream
    return policy.format_remote_topic(source, topic)


def is_more_recent(new: Checkpoint, last: Checkpoint | None) -> bool:
    """Emit `new` if nothing was emitted for its partition, the upstream group rewound, or the downstream advanced."""
    return last is None or new.upstream_offset < last.upstream_offset or new.downstream_offset > last.downstream_offset


class MirrorCheckpointConnector(SourceConnector):
    def __init__(self) -> None:
        self.mirror: MirrorConfig | None = None
        self.groups: list[str] = []
        self.lock = threading.Lock()
        self.scheduler: Scheduler | None = None
        self.source_admin: Any = None

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return mirror_config_def()

    def task_class(self) -> type[Task]:
        return MirrorCheckpointTask

    def start(self, props: dict[str, str]) -> None:
        config = self.mirror = MirrorConfig.parse(props)
        if not config["emit.checkpoints.enabled"]:
            return
        self.source_admin = admin.new_admin(config.client("source", "admin"))
        target_admin = admin.new_admin(config.client("target", "admin"))
        topic = config.policy().checkpoints_topic(config.source)
        admin.create_compacted_topic(target_admin, topic, int(config["checkpoints.topic.replication.factor"]))
        self.refresh_groups(initial=True)
        self.scheduler = Scheduler(f"{config.source}->{config.target} checkpoints")
        if config["refresh.groups.enabled"]:
            self.scheduler.schedule("refreshing groups", float(config["refresh.groups.interval.seconds"]), self.refresh)
            self.scheduler.start()

    def refresh(self) -> None:
        self.refresh_groups()

    def refresh_groups(self, initial: bool = False) -> None:
        config = self._config()
        wanted = config.group_filter()
        groups = sorted(g for g, _ in list_groups(self.source_admin) if wanted.accepts(g))
        with self.lock:
            changed, self.groups = groups != self.groups, groups
        if changed and not initial:
            log.info("Found %d consumer groups on %s to checkpoint; reconfiguring tasks", len(groups), config.source)
            self.context.request_task_reconfiguration()

    def _config(self) -> MirrorConfig:
        if self.mirror is None:
            raise RuntimeError("connector not started")
        return self.mirror

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        config = self._config()
        with self.lock:
            groups = list(self.groups)
        if not config["emit.checkpoints.enabled"] or not groups:
            return []
        return [{**config.raw, TASK_ASSIGNED_GROUPS: ",".join(chunk)} for chunk in round_robin(groups, max_tasks)]

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()


class OffsetSyncReader:
    """A thread feeding an OffsetSyncStore from partition 0 of the offset syncs topic, from its beginning; the store
    is marked read-to-end once the high watermark seen at start was reached. A missing topic is waited for."""

    def __init__(self, consumer_config: dict[str, Any], topic: str, store: OffsetSyncStore) -> None:
        self.consumer_config = consumer_config
        self.topic = topic
        self.store = store
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"offset-sync-reader-{topic}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def translate(self, topic: str, partition: int, upstream: int) -> int | None:
        with self.lock:
            return self.store.translate_downstream(topic, partition, upstream)

    def _run(self) -> None:
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer(
            {"group.id": f"mm2-offset-syncs-reader-{self.topic}", "enable.auto.commit": False, **self.consumer_config}
        )
        try:
            partition = TopicPartition(self.topic, 0)
            end = self._high_watermark(consumer, partition)
            if end is None:
                return
            consumer.assign([TopicPartition(self.topic, 0, -2)])
            if end == 0:
                self._caught_up()
            while not self.stopping.is_set():
                for message in consumer.consume(100, timeout=READER_POLL_S):
                    if message.error() is None:
                        self._handle(message)
                        if (message.offset() or 0) + 1 >= end and not self.store.read_to_end:
                            self._caught_up()
        finally:
            consumer.close()

    def _high_watermark(self, consumer: Any, partition: Any) -> int | None:
        attempts = 0
        while not self.stopping.is_set():
            try:
                _, high = consumer.get_watermark_offsets(partition, timeout=5.0)
                return int(high)
            except Exception as exc:
                if attempts == 0:  # once: the source connector may not have created the topic yet
                    log.info("waiting for offset syncs topic %s: %s", self.topic, exc)
                attempts += 1
                self.stopping.wait(1.0)
        return None

    def _caught_up(self) -> None:
        with self.lock:
            self.store.read_to_end_done()
        log.info("Read offset syncs topic %s to its end; translating offsets", self.topic)

    def _handle(self, message: Any) -> None:
        try:
            sync = OffsetSync.deserialize(message.key() or b"", message.value() or b"")
        except FormatError as exc:
            log.warning("skipping malformed offset sync at %s-0@%d: %s", self.topic, message.offset(), exc)
            return
        with self.lock:
            self.store.handle(sync)

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(10.0)


class MirrorCheckpointTask(SourceTask):
    def __init__(self) -> None:
        self.mirror: MirrorConfig | None = None
        self.groups: list[str] = []
        self.reader: OffsetSyncReader | None = None
        self.source_admin: Any = None
        self.target_admin: Any = None
        self.checkpoints: dict[str, dict[tuple[str, int], Checkpoint]] = {}
        self.stopping = threading.Event()
        self.next_checkpoint = 0.0
        self.next_group_sync = 0.0

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        config = self.mirror = MirrorConfig.parse(props)
        self.groups = [g for g in props.get(TASK_ASSIGNED_GROUPS, "").split(",") if g]
        self.source_admin = admin.new_admin(config.client("source", "admin"))
        self.target_admin = admin.new_admin(config.client("target", "admin"))
        side = config.offset_syncs_side()
        self.reader = OffsetSyncReader(config.client(side, "consumer"), config.offset_syncs_topic(), OffsetSyncStore())
        self.reader.start()
        now = time.monotonic()
        self.next_checkpoint = now
        self.next_group_sync = now + float(config["sync.group.offsets.interval.seconds"])

    def _config(self) -> MirrorConfig:
        if self.mirror is None:
            raise RuntimeError("task not started")
        return self.mirror

    @functools.cached_property
    def metrics(self) -> MirrorCheckpointMetrics:
        config = self._config()
        return MirrorCheckpointMetrics(config.source, config.target)

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        """Checkpoint latency (Kafka's MirrorCheckpointTask.commitRecord): the target's ack - the record's time."""
        partition = record.source_partition
        if metadata is None or partition is None or record.timestamp is None:
            return
        group, topic, number = str(partition["group"]), str(partition["topic"]), int(str(partition["partition"]))
        self.metrics.checkpointed(group, topic, number, time.time() * 1000 - record.timestamp)

    def poll(self) -> list[SourceRecord] | None:
        config = self._config()
        now = time.monotonic()
        records: list[SourceRecord] = []
        if now >= self.next_checkpoint:
            self.next_checkpoint = now + float(config["emit.checkpoints.interval.seconds"])
            records = self.emit_checkpoints()
        if config["sync.group.offsets.enabled"] and now >= self.next_group_sync:
            self.next_group_sync = now + float(config["sync.group.offsets.interval.seconds"])
            self.sync_group_offsets()
        if not records:
            self.stopping.wait(min(IDLE_WAIT_S, max(0.0, self.next_checkpoint - time.monotonic())))
        return records

    def checkpoints_for_group(self, group: str) -> list[Checkpoint]:
        """The new checkpoints of `group` (see the module docstring), remembered as the last emitted."""
        config, reader = self._config(), self.reader
        assert reader is not None
        policy, wanted = config.policy(), config.topic_filter()
        last = self.checkpoints.setdefault(group, {})
        out = []
        for (topic, partition), (upstream, metadata) in sorted(committed_offsets(self.source_admin, group).items()):
            if not wanted.accepts(topic):
                continue
            downstream = reader.translate(topic, partition, upstream)
            if downstream is None or downstream < 0:
                continue
            remote = checkpoint_topic(policy, config.source, config.target, topic)
            checkpoint = Checkpoint(group, remote, partition, upstream, downstream, metadata)
            if is_more_recent(checkpoint, last.get((remote, partition))):
                last[(remote, partition)] = checkpoint
                out.append(checkpoint)
        return out

    def emit_checkpoints(self) -> list[SourceRecord]:
        config = self._config()
        topic = config.policy().checkpoints_topic(config.source)
        now_ms = int(time.time() * 1000)
        records = []
        for group in self.groups:
            try:
                checkpoints = self.checkpoints_for_group(group)
            except Exception as exc:
                log.warning("could not checkpoint group %s: %s", group, exc)
                continue
            for cp in checkpoints:
                records.append(
                    SourceRecord(
                        topic=topic,
                        kafka_partition=0,
                        key_schema=OPTIONAL_BYTES_SCHEMA,
                        key=cp.record_key(),
                        value_schema=OPTIONAL_BYTES_SCHEMA,
                        value=cp.record_value(),
                        timestamp=now_ms,
                        source_partition=cp.connect_partition(),
                        source_offset={"offset": 0},
                    )
                )
        return records

    def sync_group_offsets(self) -> None:
        """Commit the last checkpoints into target groups that are EMPTY or absent, never moving one backwards."""
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

        states = dict(list_groups(self.target_admin))
        target_topics = admin.partition_counts(self.target_admin)
        for group, checkpoints in self.checkpoints.items():
            if group in states and states[group] not in ("EMPTY", "DEAD"):
                continue  # members are consuming there: their positions are theirs
            current = committed_offsets(self.target_admin, group) if group in states else {}
            updates = [
                TopicPartition(topic, partition, cp.downstream_offset)
                for (topic, partition), cp in sorted(checkpoints.items())
                if partition < target_topics.get(topic, 0)
                and cp.downstream_offset > current.get((topic, partition), (-1, ""))[0]
            ]
            if not updates:
                continue
            request = [ConsumerGroupTopicPartitions(group, updates)]
            try:
                futures = self.target_admin.alter_consumer_group_offsets(request, request_timeout=admin.TIMEOUT_S)
                futures[group].result(timeout=admin.TIMEOUT_S)
                log.info("Synced %d translated offsets of group %s to the target", len(updates), group)
            except Exception as exc:
                log.warning("could not sync offsets of group %s to the target: %s", group, exc)

    def stop(self) -> None:
        self.stopping.set()
        if self.reader is not None:
            self.reader.stop()
