"""What a handler sees: the request header and connection, and the broker's services (wired by app.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from odradek.broker.auth.authenticator import Authenticator
from odradek.broker.auth.authorizer import (
    CLUSTER_NAME,
    SUPPORTED_OPERATIONS,
    AclOperation,
    Action,
    AllowEverythingAuthorizer,
    AuthorizationResult,
    Authorizer,
    ResourcePattern,
    ResourceType,
    operations_bit_field,
)
from odradek.broker.auth.mechanisms import ListenerSasl
from odradek.broker.auth.principal import ANONYMOUS, KafkaPrincipal
from odradek.broker.config.broker import BrokerConfig, SecurityProtocol
from odradek.broker.metadata.departed_brokers import DepartedBrokers
from odradek.broker.metadata.image import BrokerImage, Endpoint
from odradek.broker.metadata.replication_control import ReplicationControlManager
from odradek.broker.metrics.broker import BrokerMetrics
from odradek.broker.protocol.headers import RequestHeader
from odradek.broker.quota.manager import QuotaManagers
from odradek.broker.utils.time import SystemTime, Time

if TYPE_CHECKING:
    from odradek.broker.group.coordinator import GroupCoordinator
    from odradek.broker.handlers.registry import Registry
    from odradek.broker.metadata.cache import MetadataCache
    from odradek.broker.metadata.controller import Controller
    from odradek.broker.replication.add_partitions_to_txn_manager import AddPartitionsToTxnManager
    from odradek.broker.replication.replica_manager import ReplicaManager
    from odradek.broker.txn.api import TxnMarkerWriter
    from odradek.broker.txn.coordinator import TransactionCoordinator
    from odradek.broker.txn.producer_id_manager import ProducerIdManager


authentication_log = logging.getLogger("odradek.broker.authenticator")


def log_authentication_failure(host: str, connection_id: int, reason: str) -> None:
    """Kafka's line for a failed authentication (SaslServerAuthenticator, at INFO)."""
    authentication_log.info("Failed authentication with /%s (connection %s) (%s)", host, connection_id, reason)


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
    authorizer: Authorizer = field(default_factory=AllowEverythingAuthorizer)
    sasl: Mapping[str, ListenerSasl] = field(default_factory=dict)  # SASL listeners' mechanisms, by listener name
    time: Time = field(default_factory=SystemTime)
    producer_id_manager: ProducerIdManager | None = None  # InitProducerId (None: answered NOT_COORDINATOR)
    # The transaction coordinator (None: transactional ids are not served) and the writer WriteTxnMarkers uses.
    txn_coordinator: TransactionCoordinator | None = None
    txn_marker_writer: TxnMarkerWriter | None = None
    # KIP-890 part 1 for transactional ids coordinated by another broker (None: such batches are not verified).
    txn_verifier: AddPartitionsToTxnManager | None = None
    # The controller's partition decisions (ElectLeaders); None in handler tests without one.
    replication_control: ReplicationControlManager | None = None
    quotas: QuotaManagers = field(default_factory=lambda: QuotaManagers(SystemTime()))
    # Brokers listed in Metadata a moment after they left the image (a metadata listener of their own).
    departed_brokers: DepartedBrokers = field(default_factory=DepartedBrokers)

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


@dataclass(slots=True)
class RequestThrottle:
    """One request's quota bookkeeping (the one mutable part of a request's context): when its handling started
    (monotonic ms), its frame size, whether its handler already recorded the request quota, and how long its
    connection is to be muted once the response is out (KIP-219)."""

    started_ms: float = 0.0
    request_bytes: int = 0
    request_recorded: bool = False
    throttle_ms: int = 0


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One request as a handler sees it: the header, the connection it came on (listener, security protocol,
    principal) and the broker's services. It is also Kafka's AuthorizableRequestContext, handed to the authorizer.

    `authorize` and `authorized` are where handlers ask the authorizer, at the points KafkaApis does; each handler
    maps a denial to its API's error code (TOPIC_, GROUP_, CLUSTER_AUTHORIZATION_FAILED)."""

    header: RequestHeader
    client_host: str
    connection_id: int
    listener: str
    services: BrokerServices
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    principal: KafkaPrincipal = ANONYMOUS
    authenticator: Authenticator | None = None  # the connection's (SaslHandshake and SaslAuthenticate move it)
    throttle: RequestThrottle = field(default_factory=RequestThrottle)

    @property
    def version(self) -> int:
        return self.header.api_version

    # AuthorizableRequestContext
    @property
    def listener_name(self) -> str:
        return self.listener

    @property
    def client_address(self) -> str:
        return self.client_host

    @property
    def request_type(self) -> int:
        return self.header.api_key

    @property
    def request_version(self) -> int:
        return self.header.api_version

    @property
    def client_id(self) -> str | None:
        return self.header.client_id

    @property
    def correlation_id(self) -> int:
        return self.header.correlation_id

    def authorize(
        self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: str = CLUSTER_NAME,
        *,
        reference_count: int = 1,
        log_if_denied: bool = True,
    ) -> bool:
        """Whether the principal may do `operation` on the named resource (Kafka's AuthHelper.authorize)."""
        action = Action(operation, ResourcePattern(resource_type, name), reference_count, True, log_if_denied)
        return self.services.authorizer.authorize(self, [action])[0] is AuthorizationResult.ALLOWED

    def authorized(
        self, operation: AclOperation, resource_type: ResourceType, names: Iterable[str], *, log_if_denied: bool = True
    ) -> set[str]:
        """The names among `names` the principal may do `operation` on, one check per distinct name with the
        number of times it was named (Kafka's AuthHelper.filterByAuthorized)."""
        counts: dict[str, int] = {}
        for name in names:
            counts[name] = counts.get(name, 0) + 1
        actions = [
            Action(operation, ResourcePattern(resource_type, name), count, True, log_if_denied)
            for name, count in counts.items()
        ]
        results = self.services.authorizer.authorize(self, actions) if actions else []
        return {a.resource.name for a, r in zip(actions, results, strict=True) if r is AuthorizationResult.ALLOWED}

    def authorized_operations(self, resource_type: ResourceType, name: str = CLUSTER_NAME) -> int:
        """The bit field of the operations allowed on a resource, among those its type supports (Kafka's
        AuthHelper.authorizedOperations; audit logging off, as there)."""
        supported = SUPPORTED_OPERATIONS[resource_type]
        actions = [Action(op, ResourcePattern(resource_type, name), 1, False, False) for op in supported]
        results = self.services.authorizer.authorize(self, actions)
        return operations_bit_field(
            a.operation for a, r in zip(actions, results, strict=True) if r is AuthorizationResult.ALLOWED
        )

    def endpoint(self, broker: BrokerImage) -> Endpoint | None:
        """The broker's endpoint on the listener this request came in on, None if it has no such listener (Kafka
        answers with the request's listener: a client of the INTERNAL listener is told INTERNAL addresses). A
        broker registered without listeners is reached at its host:port on any listener."""
        if not broker.listeners:
            return Endpoint(self.listener, broker.host, broker.port, self.security_protocol.name)
        return next((e for e in broker.listeners if e.name == self.listener), None)
