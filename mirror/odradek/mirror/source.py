"""MirrorSourceConnector and MirrorSourceTask: copy topics from the source cluster to remote topics on the target
(Kafka's classes of the same names), with offset syncs for the checkpoint connector.

Connector: finds the source topics to copy (`topics` / `topics.exclude`, never internal topics nor topics whose
source chain contains the target alias: `policy.is_cycle`), creates each remote topic on the target with the source's
partition count and `replication.factor` (adding partitions when the source grew), copies topic configs
(`sync.topic.configs.enabled`, minus `config.properties.exclude`), creates the offset syncs topic, and deals the
partitions round-robin to at most `tasks.max` tasks. Every `refresh.topics.interval.seconds` it looks again and asks
the worker for new task configs when the partitions changed.

Task: consumes its partitions from the source (confluent-kafka, no group commits: positions live in Connect's offset
storage) and returns each record as a SourceRecord for the remote topic and the same partition, with its key, value,
headers and timestamp as bytes (ByteArrayConverter passes them through). Source partition
`{"cluster": <source alias>, "topic": t, "partition": p}`, source offset `{"offset": <upstream offset>}`; a started
task resumes at the stored offset + 1, so records acknowledged and committed before a restart are not copied again
(at-least-once: records copied after the last offset flush are copied again). Unlike Kafka's task, which continues
silently, a resume position the source no longer holds is logged as an ERROR: records deleted by retention before
they were copied (resume at the log start), or a partition shorter than what was copied (a re-created topic: copy
it from its beginning); see `resume_decision`. When the target acknowledges a record
(`commit_record`), the partition's PartitionState decides whether an offset sync (upstream, downstream) is sent now;
the others are sent at the next offset commit (`commit`).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odradek.connect.api.connector import SourceConnector, SourceTask, Task
from odradek.connect.api.data import OPTIONAL_BYTES_SCHEMA
from odradek.connect.api.records import Header, SourceRecord
from odradek.connect.config.configdef import ConfigDef
from odradek.connect.runtime.clients import CONSUMER_FETCH_DEFAULTS
from odradek.mirror import VERSION, admin
from odradek.mirror.config import (
    TASK_ASSIGNED_PARTITIONS,
    MirrorConfig,
    decode_partitions,
    encode_partitions,
    mirror_config_def,
    round_robin,
)
from odradek.mirror.formats import OffsetSync
from odradek.mirror.metrics import MirrorSourceMetrics
from odradek.mirror.offsets import PartitionState
from odradek.mirror.policy import is_cycle
from odradek.mirror.scheduler import Scheduler

log = logging.getLogger(__name__)

MAX_RECORDS_PER_POLL = 500
MAX_OUTSTANDING_OFFSET_SYNCS = 10


def should_replicate_topic(config: MirrorConfig, topic: str) -> bool:
    """Kafka's MirrorSourceConnector.shouldReplicateTopic: filtered in (or a heartbeats topic), not internal, and
    not a copy of the target's own data."""
    policy = config.policy()
    wanted = config.topic_filter().accepts(topic) or policy.is_heartbeats_topic(topic)
    return wanted and not policy.is_internal_topic(topic) and not is_cycle(policy, config.target, topic)


class MirrorSourceConnector(SourceConnector):
    def __init__(self) -> None:
        self.mirror: MirrorConfig | None = None
        self.partitions: list[tuple[str, int]] = []
        self.scheduler: Scheduler | None = None
        self.lock = threading.Lock()
        self.source_admin: Any = None
        self.target_admin: Any = None

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return mirror_config_def()

    def task_class(self) -> type[Task]:
        return MirrorSourceTask

    def start(self, props: dict[str, str]) -> None:
        config = self.mirror = MirrorConfig.parse(props)
        self.source_admin = admin.new_admin(config.client("source", "admin"))
        self.target_admin = admin.new_admin(config.client("target", "admin"))
        # Found synchronously, so the first task_configs call already has partitions to assign.
        self.refresh_topics(initial=True)
        self.create_offset_syncs_topic()
        self.scheduler = Scheduler(f"{config.source}->{config.target}")
        if config["refresh.topics.enabled"]:
            interval = float(config["refresh.topics.interval.seconds"])
            self.scheduler.schedule("refreshing topics", interval, self.refresh_topics)
        if config["sync.topic.configs.enabled"]:
            interval = float(config["sync.topic.configs.interval.seconds"])
            self.scheduler.schedule("syncing topic configs", interval, self.sync_topic_configs)
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()

    def create_offset_syncs_topic(self) -> None:
        config = self._config()
        if not config["emit.offset-syncs.enabled"]:
            return
        side_admin = self.source_admin if config.offset_syncs_side() == "source" else self.target_admin
        rf = int(config["offset-syncs.topic.replication.factor"])
        admin.create_compacted_topic(side_admin, config.offset_syncs_topic(), rf)

    def _config(self) -> MirrorConfig:
        if self.mirror is None:
            raise RuntimeError("connector not started")
        return self.mirror

    def find_source_partitions(self) -> list[tuple[str, int]]:
        config = self._config()
        counts = admin.partition_counts(self.source_admin)
        topics = sorted(t for t in counts if should_replicate_topic(config, t))
        return [(topic, p) for topic in topics for p in range(counts[topic])]

    def refresh_topics(self, initial: bool = False) -> None:
        config = self._config()
        partitions = self.find_source_partitions()
        self.create_remote_topics(partitions)
        with self.lock:
            changed = partitions != self.partitions
            self.partitions = partitions
        if changed and not initial:
            log.info("Found %d topic-partitions on %s to copy; reconfiguring tasks", len(partitions), config.source)
            self.context.request_task_reconfiguration()

    def create_remote_topics(self, partitions: list[tuple[str, int]]) -> None:
        config = self._config()
        policy = config.policy()
        wanted: dict[str, int] = {}
        for topic, partition in partitions:
            remote = policy.format_remote_topic(config.source, topic)
            wanted[remote] = max(wanted.get(remote, 0), partition + 1)
        existing = admin.partition_counts(self.target_admin)
        rf = int(config["replication.factor"])
        for remote, count in sorted(wanted.items()):
            if remote not in existing:
                admin.create_topic(self.target_admin, remote, count, rf)
            elif existing[remote] < count:
                admin.grow_partitions(self.target_admin, remote, count)

    def sync_topic_configs(self) -> None:
        config = self._config()
        policy, keep = config.policy(), config.config_property_filter()
        with self.lock:
            topics = sorted({topic for topic, _ in self.partitions})
        for topic, configs in admin.dynamic_topic_configs(self.source_admin, topics).items():
            synced = {name: value for name, value in configs.items() if keep.accepts(name)}
            admin.set_topic_configs(self.target_admin, policy.format_remote_topic(config.source, topic), synced)

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        config = self._config()
        with self.lock:
            partitions = list(self.partitions)
        if not partitions:
            return []
        return [
            {**config.raw, TASK_ASSIGNED_PARTITIONS: encode_partitions(group)}
            for group in round_robin(partitions, max_tasks)
        ]


class MirrorSourceTask(SourceTask):
    def __init__(self) -> None:
        self.mirror: MirrorConfig | None = None
        self.consumer: Any = None
        self.sync_producer: Any = None
        self.stopping = threading.Event()
        self.consumer_lock = threading.Lock()
        self.states: dict[tuple[str, int], PartitionState] = {}
        self.pending: dict[tuple[str, int], OffsetSync] = {}
        self.delayed: dict[tuple[str, int], OffsetSync] = {}
        self.outstanding = 0
        self.sync_lock = threading.Lock()
        self.remote_topics: dict[str, str] = {}
        # One source partition map per partition, shared by its records (nothing changes them: the runtime copies
        # what it keeps), instead of a new dict per record.
        self.source_partitions: dict[tuple[str, int], dict[str, str | int]] = {}
        self.gaps = 0

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        from confluent_kafka import Consumer, Producer, TopicPartition

        config = self.mirror = MirrorConfig.parse(props)
        partitions = decode_partitions(props.get(TASK_ASSIGNED_PARTITIONS, ""))
        consumer_config = {
            # confluent-kafka needs a group id even for assign(); nothing is ever committed to it.
            "group.id": f"mm2-{config.source}-{config.target}-source",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            **CONSUMER_FETCH_DEFAULTS,  # no 1 s pause after librdkafka's pre-fetch queue was full
            **config.client("source", "consumer"),
        }
        self.consumer = Consumer(consumer_config)
        assignment = []
        for topic, partition in partitions:
            stored = self.context.offset_storage_reader().offset(self.source_partition(topic, partition))
            # Resume just after the last copied record; a partition never copied starts at its beginning (-2).
            offset = int(stored["offset"]) + 1 if stored and "offset" in stored else -2
            if offset >= 0:
                offset = self.check_resume(topic, partition, offset)
            assignment.append(TopicPartition(topic, partition, offset))
        self.consumer.assign(assignment)
        if config["emit.offset-syncs.enabled"]:
            side = config.offset_syncs_side()
            self.sync_producer = Producer({"linger.ms": 0, "acks": "all", **config.client(side, "producer")})
        log.info("%s->%s source task copying %d partitions", config.source, config.target, len(partitions))

    def check_resume(self, topic: str, partition: int, offset: int) -> int:
        """Where to resume `topic`-`partition` whose next record to copy is `offset`; a gap is logged, not silent."""
        from confluent_kafka import TopicPartition

        try:
            low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10.0)
        except Exception as exc:
            log.warning("could not read the offsets of %s-%d on the source: %s", topic, partition, exc)
            return offset
        decision = resume_decision(offset, int(low), int(high))
        if decision.gap is not None:
            config = self._config()
            self.gaps += 1
            log.error("%s->%s copy of %s-%d: %s", config.source, config.target, topic, partition, decision.gap)
        return decision.offset

    # Both are needed for every copied record and fixed for the task's life: read from the config once.
    @functools.cached_property
    def offset_syncs_topic(self) -> str:
        return self._config().offset_syncs_topic()

    @functools.cached_property
    def offset_lag_max(self) -> int:
        return int(self._config()["offset.lag.max"])

    @functools.cached_property
    def metrics(self) -> MirrorSourceMetrics:
        return MirrorSourceMetrics(self._config().target)

    def source_partition(self, topic: str, partition: int) -> dict[str, str | int]:
        return {"cluster": self._config().source, "topic": topic, "partition": partition}

    def _config(self) -> MirrorConfig:
        if self.mirror is None:
            raise RuntimeError("task not started")
        return self.mirror

    def remote_topic(self, topic: str) -> str:
        remote = self.remote_topics.get(topic)
        if remote is None:
            config = self._config()
            remote = self.remote_topics[topic] = config.policy().format_remote_topic(config.source, topic)
        return remote

    def poll(self) -> list[SourceRecord] | None:
        timeout_s = float(self._config()["consumer.poll.timeout.ms"]) / 1000
        with self.consumer_lock:
            if self.stopping.is_set():
                return None
            messages = poll_batch(self.consumer, MAX_RECORDS_PER_POLL, timeout_s)
        if self.outstanding and self.sync_producer is not None:
            self.sync_producer.poll(0)  # the delivery reports of offset syncs (see fire_pending_offset_syncs)
        records = []
        now_ms = time.time() * 1000
        metrics = self.metrics
        for message in messages:
            if message.error() is not None:
                log.warning("source consumer error on %s: %s", message.topic(), message.error())
                continue
            record = self.convert(message)
            value = record.value
            age = now_ms - record.timestamp if record.timestamp is not None else None
            metrics.polled(record.topic, message.partition(), age, len(value) if value is not None else 0)
            records.append(record)
        return records

    def convert(self, message: Any) -> SourceRecord:
        """A consumed record as the SourceRecord for its remote topic (Kafka's MirrorSourceTask.convertRecord)."""
        topic, partition = message.topic(), message.partition()
        timestamp_type, timestamp = message.timestamp()
        raw_headers = message.headers()
        headers = tuple(Header(key, OPTIONAL_BYTES_SCHEMA, value) for key, value in raw_headers) if raw_headers else ()
        source_partition = self.source_partitions.get((topic, partition))
        if source_partition is None:
            source_partition = self.source_partitions[(topic, partition)] = self.source_partition(topic, partition)
        return SourceRecord(
            topic=self.remote_topic(topic),
            kafka_partition=partition,
            key_schema=OPTIONAL_BYTES_SCHEMA,
            key=message.key(),
            value_schema=OPTIONAL_BYTES_SCHEMA,
            value=message.value(),
            timestamp=timestamp if timestamp_type != 0 else None,
            headers=headers,
            source_partition=source_partition,
            source_offset={"offset": message.offset()},
        )

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        if metadata is None:
            return  # not sent (dropped by an SMT or a tolerated error)
        latency = time.time() * 1000 - record.timestamp if record.timestamp is not None else None
        self.metrics.replicated(record.topic, int(record.kafka_partition or 0), latency)
        if self.sync_producer is None or record.source_partition is None:
            return
        topic, partition = str(record.source_partition["topic"]), int(str(record.source_partition["partition"]))
        upstream = int(str((record.source_offset or {})["offset"]))
        self.queue_offset_sync(topic, partition, upstream, int(metadata.offset()))
        self.fire_pending_offset_syncs()

    def queue_offset_sync(self, topic: str, partition: int, upstream: int, downstream: int) -> None:
        key = (topic, partition)
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = PartitionState(self.offset_lag_max)
        sync = OffsetSync(topic, partition, upstream, downstream)
        with self.sync_lock:
            if state.update(upstream, downstream):
                self.delayed.pop(key, None)
                self.pending[key] = sync
                state.reset()
            else:
                self.delayed[key] = sync

    def fire_pending_offset_syncs(self) -> None:
        if not self.pending:
            # Called per copied record, and most have no sync to send. The delivery reports of syncs already sent
            # are served once per poll() batch and by commit(), not per record. (Read without the lock: `pending`
            # is changed only by this thread.)
            return
        topic = self.offset_syncs_topic
        while True:
            with self.sync_lock:
                if not self.pending or self.outstanding >= MAX_OUTSTANDING_OFFSET_SYNCS:
                    break
                key = next(iter(self.pending))
                sync = self.pending.pop(key)
                self.outstanding += 1
            self.sync_producer.produce(
                topic, key=sync.record_key(), value=sync.record_value(), partition=0, on_delivery=self._sync_sent
            )
        self.sync_producer.poll(0)

    def _sync_sent(self, err: Any, _msg: Any) -> None:
        with self.sync_lock:
            self.outstanding -= 1
        if err is not None:
            log.error("Failure sending offset sync: %s", err)

    def commit(self) -> None:
        if self.sync_producer is None:
            return
        with self.sync_lock:
            self.pending.update(self.delayed)
            self.delayed.clear()
        self.fire_pending_offset_syncs()
        self.sync_producer.poll(0)
        if self.stopping.is_set():
            self.sync_producer.flush(5.0)  # the worker's final commit runs after stop()

    def stop(self) -> None:
        self.stopping.set()
        with self.consumer_lock:
            if self.consumer is not None:
                self.consumer.close()
                self.consumer = None
        if self.sync_producer is not None:
            self.sync_producer.flush(5.0)


def poll_batch(consumer: Any, max_records: int, timeout_s: float) -> list[Any]:
    """Up to `max_records` messages, as soon as there is one (Kafka's `Consumer.poll` semantics): wait at most
    `timeout_s` for the first, then take what librdkafka already fetched without waiting. confluent-kafka's
    `consume(n, timeout)` alone waits for all `n` or the timeout, which at 10,000 records/s holds every record for
    up to 50 ms (500 records) before it is copied."""
    first = consumer.poll(timeout_s)
    if first is None:
        return []
    return [first, *consumer.consume(max_records - 1, timeout=0)] if max_records > 1 else [first]


@dataclass(frozen=True, slots=True)
class ResumeDecision:
    offset: int
    gap: str | None = None


def resume_decision(next_offset: int, low: int, high: int) -> ResumeDecision:
    """Resuming a partition at `next_offset` when the source now holds offsets [low, high):
    - inside (or at the end): resume there;
    - before `low`: records were deleted (retention, DeleteRecords) before they were copied: report the gap, resume
      at `low`;
    - past `high`: the partition is shorter than what was copied: the topic was re-created or truncated. Report it
      and copy the partition from its beginning (-2), as Kafka's auto.offset.reset=earliest would do silently."""
    if next_offset < low:
        missing = f"source offsets {next_offset} to {low - 1} were deleted before they were copied (retention?)"
        return ResumeDecision(low, f"gap: {missing}; resuming at {low}")
    if next_offset > high:
        why = f"the source partition ends at {high} but records up to {next_offset - 1} were copied"
        return ResumeDecision(-2, f"{why}: topic re-created or truncated; copying it again from its beginning")
    return ResumeDecision(next_offset)


def assigned_partitions(task_config: Mapping[str, str]) -> list[tuple[str, int]]:
    return decode_partitions(task_config.get(TASK_ASSIGNED_PARTITIONS, ""))
