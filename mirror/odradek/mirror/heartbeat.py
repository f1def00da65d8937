"""MirrorHeartbeatConnector and MirrorHeartbeatTask: a Heartbeat(source alias, target alias, now) record to the
target's `heartbeats` topic every `emit.heartbeats.interval.seconds` (Kafka's classes of the same names). Replicated
onwards, heartbeats let MirrorClient find the upstream clusters of a cluster and their hop counts. One task; none when
`emit.heartbeats.enabled=false`. The connector creates the topic (one partition, compacted)."""

from __future__ import annotations

import threading
import time

from odradek.connect.api.connector import SourceConnector, SourceTask, Task
from odradek.connect.api.data import OPTIONAL_BYTES_SCHEMA
from odradek.connect.api.records import SourceRecord
from odradek.connect.config.configdef import ConfigDef
from odradek.mirror import VERSION, admin
from odradek.mirror.config import MirrorConfig, mirror_config_def
from odradek.mirror.formats import Heartbeat

MAX_WAIT_S = 1.0


class MirrorHeartbeatConnector(SourceConnector):
    def __init__(self) -> None:
        self.mirror: MirrorConfig | None = None

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return mirror_config_def()

    def task_class(self) -> type[Task]:
        return MirrorHeartbeatTask

    def start(self, props: dict[str, str]) -> None:
        config = self.mirror = MirrorConfig.parse(props)
        if config["emit.heartbeats.enabled"]:
            target_admin = admin.new_admin(config.client("target", "admin"))
            topic = config.policy().heartbeats_topic()
            admin.create_compacted_topic(target_admin, topic, int(config["heartbeats.topic.replication.factor"]))

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        if self.mirror is None or not self.mirror["emit.heartbeats.enabled"] or max_tasks < 1:
            return []
        return [dict(self.mirror.raw)]

    def stop(self) -> None:
        pass


class MirrorHeartbeatTask(SourceTask):
    def __init__(self) -> None:
        self.mirror: MirrorConfig | None = None
        self.stopping = threading.Event()
        self.next_due = 0.0

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        self.mirror = MirrorConfig.parse(props)
        self.next_due = time.monotonic()

    def poll(self) -> list[SourceRecord] | None:
        config = self.mirror
        assert config is not None
        wait = self.next_due - time.monotonic()
        if wait > 0:
            self.stopping.wait(min(wait, MAX_WAIT_S))
            return None
        self.next_due = time.monotonic() + float(config["emit.heartbeats.interval.seconds"])
        now_ms = int(time.time() * 1000)
        heartbeat = Heartbeat(config.source, config.target, now_ms)
        return [
            SourceRecord(
                topic=config.policy().heartbeats_topic(),
                kafka_partition=0,
                key_schema=OPTIONAL_BYTES_SCHEMA,
                key=heartbeat.record_key(),
                value_schema=OPTIONAL_BYTES_SCHEMA,
                value=heartbeat.record_value(),
                timestamp=now_ms,
                source_partition=heartbeat.connect_partition(),
                source_offset={"offset": 0},
            )
        ]

    def stop(self) -> None:
        self.stopping.set()
