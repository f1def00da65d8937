"""What a handler sees: the request header and connection, and the broker's services (wired by app.py)."""

from __future__ import annotations

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
        """With the embedded metadata store this broker is the controller."""
        return self.node_id

    async def sync_metadata(self) -> None:
        """Wait until the metadata cache has applied every committed write (read-your-writes for admin APIs)."""
        await self.metadata.wait_for_revision(self.store_revision())


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
