"""The worker's membership of the Connect group (Kafka's WorkerGroupMember and WorkerCoordinator).

The wire client is kafka-python's generic group client (`kafka.coordinator.base.BaseCoordinator`): it speaks
FindCoordinator, JoinGroup, SyncGroup, Heartbeat and LeaveGroup, heartbeats from its own I/O thread, and leaves the
protocol type, the member metadata and the assignments to its subclass. confluent-kafka cannot be used here: it only
joins groups of protocol type "consumer" with its own assignors. This module adds what is Connect's: protocol type
"connect", the protocols offered (`connect.protocol`, see protocol.py) and their metadata, and hands the rebalance
callbacks to a `RebalanceListener` (the herder). Callbacks run on kafka-python's I/O thread; the herder only records
them there (except the eager protocol's stop-everything, which must finish before the member rejoins).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from kafka.coordinator.base import BaseCoordinator
from kafka.net.compat import KafkaNetClient
from odradek.connect.distributed.protocol import (
    ConnectAssignment,
    ConnectProtocolCompatibility,
    WorkerState,
    deserialize_assignment,
    deserialize_metadata,
    serialize_metadata,
)

log = logging.getLogger(__name__)

BOOTSTRAP_TIMEOUT_MS = 30000


class RebalanceListener(Protocol):
    def current_state(self) -> WorkerState: ...

    def on_join_prepare(self, protocol: ConnectProtocolCompatibility | None) -> None: ...

    def perform_assignment(
        self, leader_id: str, protocol: ConnectProtocolCompatibility, members: Mapping[str, WorkerState]
    ) -> dict[str, bytes]: ...

    def on_assigned(
        self, generation: int, member_id: str, protocol: ConnectProtocolCompatibility, assignment: ConnectAssignment
    ) -> None: ...


class WorkerCoordinator(BaseCoordinator):  # type: ignore[misc]
    def __init__(
        self, client: Any, listener: RebalanceListener, protocol: ConnectProtocolCompatibility, **configs: Any
    ) -> None:
        super().__init__(client, **configs)
        self.listener = listener
        self.connect_protocol = protocol
        self.protocol_in_use: ConnectProtocolCompatibility | None = None

    def protocol_type(self) -> str:
        return "connect"

    def group_protocols(self) -> list[tuple[str, bytes]]:
        state = self.listener.current_state()
        return [(p.wire_name, serialize_metadata(state, p.version)) for p in self.connect_protocol.offered()]

    async def _on_join_prepare_async(self, generation: int, member_id: str, timeout_ms: Any = None) -> None:
        self.listener.on_join_prepare(self.protocol_in_use)

    def _perform_assignment(self, leader_id: str, protocol: str, members: list[Any]) -> dict[str, bytes]:
        states = {m.member_id: deserialize_metadata(bytes(m.metadata)) for m in members}
        return self.listener.perform_assignment(leader_id, ConnectProtocolCompatibility.of_wire_name(protocol), states)

    async def _on_join_complete_async(
        self, generation: int, member_id: str, protocol: str, member_assignment_bytes: bytes
    ) -> None:
        self.protocol_in_use = ConnectProtocolCompatibility.of_wire_name(protocol)
        assignment = deserialize_assignment(bytes(member_assignment_bytes))
        self.listener.on_assigned(generation, member_id, self.protocol_in_use, assignment)


class WorkerGroupMember:
    """The kafka-python client plus the coordinator; `poll` is called by the herder's thread."""

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        client_id: str,
        listener: RebalanceListener,
        protocol: ConnectProtocolCompatibility,
        session_timeout_ms: int,
        heartbeat_interval_ms: int,
        rebalance_timeout_ms: int,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.client = KafkaNetClient(bootstrap_servers=bootstrap_servers, client_id=client_id, **dict(extra or {}))
        self.client._manager._net.start()
        self.client._manager.bootstrap(BOOTSTRAP_TIMEOUT_MS)
        self.coordinator = WorkerCoordinator(
            self.client,
            listener,
            protocol,
            group_id=group_id,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_interval_ms=rebalance_timeout_ms,
            api_version=self.client._manager.broker_version,
        )

    def poll(self, timeout_ms: int) -> bool:
        """Join or rejoin if needed (bounded by timeout_ms), then keep the member alive; True when stable."""
        needs_join = self.coordinator.need_rejoin() or self.coordinator.coordinator_unknown()
        if needs_join and not self.coordinator.ensure_active_group(timeout_ms=timeout_ms):
            return False
        self.coordinator.poll_heartbeat()
        return bool(self.coordinator.stable())

    def request_rejoin(self) -> None:
        self.coordinator.request_rejoin()

    def member_id(self) -> str:
        return str(self.coordinator._generation.member_id)

    def stop(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        try:
            self.coordinator.close(timeout_ms=5000)
        except Exception as exc:  # leaving is best effort: the session timeout removes us anyway
            if on_error:
                on_error(exc)
        try:
            self.client.close()
        except Exception as exc:
            if on_error:
                on_error(exc)
