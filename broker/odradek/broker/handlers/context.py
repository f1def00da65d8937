"""What a handler sees: the request header and connection, and the broker's services (wired by app.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from odradek.broker.config.broker import BrokerConfig
from odradek.broker.metrics.broker import BrokerMetrics
from odradek.broker.protocol.headers import RequestHeader

if TYPE_CHECKING:
    from odradek.broker.group.coordinator import GroupCoordinator
    from odradek.broker.handlers.registry import Registry
    from odradek.broker.metadata.cache import MetadataCache
    from odradek.broker.metadata.controller import Controller
    from odradek.broker.replication.replica_manager import ReplicaManager


# CreateTopics / CreatePartitions / DeleteTopics wait for this broker to create or delete the logs at most their
# timeout_ms, and at most this long (also when timeout_ms is 0, librdkafka's default): a client's own request
# timeout (30 s in Java) must not expire first, or it would retry and be told TOPIC_ALREADY_EXISTS.
MAX_REPLICA_WAIT_S = 10.0


def replica_wait_s(timeout_ms: int) -> float:
    return min(timeout_ms / 1000.0, MAX_REPLICA_WAIT_S) if timeout_ms > 0 else MAX_REPLICA_WAIT_S


@dataclass(slots=True)
class BrokerServices:
    node_id: int
    config: BrokerConfig
    registry: Registry
    metadata: MetadataCache
    controller: Controller
    replica_manager: ReplicaManager
    metrics: BrokerMetrics
    now_ms: Callable[[], int]
    store_revision: Callable[[], int]
    group_coordinator: GroupCoordinator

    @property
    def controller_id(self) -> int:
        """The controller's broker id as the controller's fence knows it (-1: none known)."""
        return self.controller.controller_id

    def update_config(self, config: BrokerConfig) -> None:
        """The dynamic broker configs in force changed (a listener of the metadata publisher)."""
        self.config = config

    async def sync_metadata(self) -> None:
        """Wait until the metadata cache has applied every committed write (read-your-writes for admin APIs)."""
        await self.metadata.wait_for_revision(self.store_revision())

    async def sync_replicas(self, timeout_s: float) -> bool:
        """`sync_metadata`, then wait until this broker has acted on those writes too (the logs of new local
        partitions exist, those of deleted ones are gone), at most `timeout_s`; returns False if that was not
        enough."""
        revision = self.store_revision()
        await self.metadata.wait_for_revision(revision)
        try:
            await asyncio.wait_for(self.metadata.wait_for_applied(revision), max(timeout_s, 0.0))
        except TimeoutError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class RequestContext:
    header: RequestHeader
    client_host: str
    connection_id: int
    listener: str
    services: BrokerServices

    @property
    def version(self) -> int:
        return self.header.api_version
