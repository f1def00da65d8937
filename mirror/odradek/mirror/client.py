"""MirrorClient: what a cluster knows about its mirrors, from the internal topics (Kafka's MirrorClient and
RemoteClusterUtils), for tools and for clients moving between clusters.

- `remote_consumer_offsets(group, source_alias)`: reads `<source_alias>.checkpoints.internal` on this cluster from
  its beginning to its end (the end as of the call) and returns, per (topic, partition) as named on this cluster, the
  downstream offset of the group's latest checkpoint: the offset the group may resume at here
  (RemoteClusterUtils.translateOffsets).
- `upstream_clusters()`: aliases of the clusters whose heartbeats reach this cluster (`A.heartbeats`, `B.A.heartbeats`).
- `remote_topics(source_alias=None)`: topics of this cluster that are copies (of that source).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from odradek.mirror import admin
from odradek.mirror.formats import Checkpoint, FormatError
from odradek.mirror.policy import DefaultReplicationPolicy, replication_policy

POLL_S = 0.2


class MirrorClient:
    def __init__(self, config: Mapping[str, Any], policy: DefaultReplicationPolicy | None = None) -> None:
        """`config`: confluent-kafka settings of the cluster to read (bootstrap.servers, security...); the policy
        defaults to the one `replication.policy.*` keys in `config` name (DefaultReplicationPolicy)."""
        props = {k: str(v) for k, v in config.items()}
        self.policy = policy or replication_policy(props)
        self.config = {k: v for k, v in config.items() if not k.startswith("replication.policy.")}

    def remote_consumer_offsets(
        self, group: str, source_alias: str, timeout_s: float = 30.0
    ) -> dict[tuple[str, int], int]:
        from confluent_kafka import Consumer, TopicPartition

        topic = self.policy.checkpoints_topic(source_alias)
        consumer = Consumer(
            {"group.id": f"mirror-client-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False, **self.config}
        )
        out: dict[tuple[str, int], int] = {}
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout_s)
            if high <= low:
                return out
            consumer.assign([TopicPartition(topic, 0, low)])
            deadline, position = time.monotonic() + timeout_s, low
            while position < high:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{topic} not read to offset {high} within {timeout_s} s")
                message = consumer.poll(POLL_S)
                if message is None or message.error() is not None:
                    continue
                position = (message.offset() or 0) + 1
                try:
                    checkpoint = Checkpoint.deserialize(message.key() or b"", message.value() or b"")
                except FormatError:
                    continue
                if checkpoint.group == group:
                    out[(checkpoint.topic, checkpoint.partition)] = checkpoint.downstream_offset
        finally:
            consumer.close()
        return out

    def _topics(self) -> list[str]:
        return sorted(admin.partition_counts(admin.new_admin(self.config)))

    def upstream_clusters(self) -> set[str]:
        out = set()
        for topic in self._topics():
            while self.policy.is_heartbeats_topic(topic) and (source := self.policy.topic_source(topic)):
                out.add(source)
                upstream = self.policy.upstream_topic(topic)
                if upstream is None or upstream == topic:
                    break
                topic = upstream
        return out

    def remote_topics(self, source_alias: str | None = None) -> set[str]:
        return {
            t
            for t in self._topics()
            if not self.policy.is_internal_topic(t)
            and not self.policy.is_heartbeats_topic(t)
            and (source := self.policy.topic_source(t)) is not None
            and (source_alias is None or source == source_alias)
        }
