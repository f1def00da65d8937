"""The composition root: build a broker from its configuration, run it, stop it cleanly. Wiring only.

Start-up, in dependency order: log dirs opened and recovered (LogManager); the metadata store opened from
`metadata.store.url` (`metadata.opener.open_store`; empty: `embedded://<log.dirs[0]>/__cluster_metadata`);
the controller claim taken (`ControllerElection`, whose fence every Controller write carries); cluster id
ensured; replica manager, group coordinator and request services built; the metadata publisher
(`publisher.BrokerMetadataPublisher`) registered with the metadata cache, with the group coordinator for
`__consumer_offsets` and the services as a config listener; listeners bound; this broker registered under a
lease; the cache started (its first image creates the partitions and applies the dynamic broker configs);
the controller's `ReplicationControlManager` started (it acts only while this broker holds the claim: leader
elections, ISR removals, unfencing, preferred-leader rebalance); metrics endpoint started; the listeners start
accepting once an image with this broker unfenced is applied (Kafka's wait for the initial unfence; bounded by twice
`broker.session.timeout.ms`, then it serves fenced with a warning). What a metadata change
does is the publisher's business, not this module's.

Shutdown (SIGTERM/SIGINT): a controlled shutdown first (`metadata.controlled_shutdown`: leadership handed to
other in-sync replicas while this broker still serves), then resign as group coordinator, stop accepting, close
idle connections, let in-flight requests finish (`shutdown.timeout.ms`), stop the storage tasks, flush every log,
write checkpoints and the clean-shutdown marker, give up the controller claim, close the metadata store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time as time_module
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from odradek.broker.auth.authorizer import AllowEverythingAuthorizer
from odradek.broker.auth.inter_broker import inter_broker_client_config
from odradek.broker.auth.mechanisms import listener_sasl
from odradek.broker.auth.scram import parse_bootstrap_credentials
from odradek.broker.auth.standard_authorizer import configured_authorizer
from odradek.broker.config.broker import BrokerConfig, SecurityProtocol
from odradek.broker.config.definitions import ConfigError, assignor_name
from odradek.broker.config.dynamic import dynamic_refusal
from odradek.broker.config.topic import log_config, parse_topic_configs
from odradek.broker.group.config import ConsumerGroupMigrationPolicy
from odradek.broker.group.coordinator import GroupConfig, GroupCoordinator
from odradek.broker.group.offsets_topic import OFFSETS_TOPIC, partition_for
from odradek.broker.handlers import all_handlers
from odradek.broker.handlers.context import BrokerServices
from odradek.broker.handlers.dispatch import Dispatcher
from odradek.broker.handlers.quotas import quota_listener
from odradek.broker.handlers.registry import Registry
from odradek.broker.handlers.security import acl_listener, bootstrap_scram_users
from odradek.broker.log.manager import LogManager
from odradek.broker.metadata.cache import MetadataCache
from odradek.broker.metadata.controlled_shutdown import controlled_shutdown
from odradek.broker.metadata.controller import AdminFence, Controller, ControllerError
from odradek.broker.metadata.departed_brokers import DepartedBrokers
from odradek.broker.metadata.election import ControllerElection
from odradek.broker.metadata.image import BrokerImage, Endpoint
from odradek.broker.metadata.opener import open_store, store_url
from odradek.broker.metadata.registration import BrokerRegistration
from odradek.broker.metadata.replication_control import ReplicationControlManager
from odradek.broker.metadata.store import MetadataStore
from odradek.broker.metrics.broker import BrokerMetrics
from odradek.broker.metrics.controller import ControllerCollector
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.publisher import BrokerMetadataPublisher, inter_broker_endpoints
from odradek.broker.quota.connection_quotas import ConnectionQuotas, parse_overrides
from odradek.broker.quota.manager import QuotaManagers
from odradek.broker.quota.rate import MetricConfig
from odradek.broker.quota.replication_quota_manager import ReplicationQuotaManagers
from odradek.broker.replication.add_partitions_to_txn_manager import (
    AddPartitionsToTxnManager,
    RemoteTxnVerificationSender,
)
from odradek.broker.replication.alter_partition_manager import AlterPartitionItem, AlterPartitionResult
from odradek.broker.replication.broker_blocking_sender import ChannelSecurity
from odradek.broker.replication.coordinator_log import PartitionRecordLog
from odradek.broker.replication.leader_end_point import BrokerEndPoint
from odradek.broker.replication.replica_manager import ReplicaManager
from odradek.broker.replication.txn_marker_channel_manager import (
    NO_LEADER,
    RemoteTxnMarkerSender,
    TransactionMarkerChannelManager,
)
from odradek.broker.replication.txn_markers import ReplicaTxnMarkerWriter
from odradek.broker.server import KafkaServer, ServerLimits, channel_builder
from odradek.broker.txn.api import ProducerIdGenerator, TransactionConfig, TxnMarkerWriter
from odradek.broker.txn.coordinator import TransactionCoordinator
from odradek.broker.txn.producer_id_manager import ProducerIdManager
from odradek.broker.txn.transaction_log import TRANSACTION_STATE_TOPIC
from odradek.broker.utils.garbage_collector import freeze_start_up_heap
from odradek.broker.utils.heap import HeapTrimmer, glibc_malloc_trim
from odradek.broker.utils.time import SystemTime, Time

log = logging.getLogger("odradek.broker")


def _validate_topic_configs(configs: dict[str, str]) -> None:
    try:
        parse_topic_configs(configs)
    except ConfigError as exc:
        raise ControllerError(ErrorCode.INVALID_CONFIG, str(exc)) from None


def _validate_broker_configs(resource_name: str, configs: dict[str, str]) -> None:
    refusal = dynamic_refusal(resource_name, configs)
    if refusal is not None:
        raise ControllerError(*refusal)


class ControllerAlterPartitionManager:
    """replication's AlterPartitionManager on `Controller.alter_partition` (replication and metadata do not
    import each other)."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    async def submit(self, item: AlterPartitionItem) -> AlterPartitionResult:
        try:
            stored = await self._controller.alter_partition(
                item.topic, item.partition, item.leader_id, item.leader_epoch, item.partition_epoch, item.new_isr
            )
        except ControllerError as exc:
            return AlterPartitionResult(exc.error_code, message=exc.message)
        return AlterPartitionResult(ErrorCode.NONE, stored.leader_epoch, stored.partition_epoch, stored.isr)


@dataclass(slots=True)
class RunningBroker:
    config: BrokerConfig
    store: MetadataStore
    election: ControllerElection
    cache: MetadataCache
    publisher: BrokerMetadataPublisher
    replica_manager: ReplicaManager
    servers: list[KafkaServer]
    ports: list[int]
    registration: BrokerRegistration
    metrics: BrokerMetrics
    group_coordinator: GroupCoordinator
    tasks: list[asyncio.Task[None]]
    txn_coordinator: TransactionCoordinator | None = None
    metrics_port: int | None = None
    producer_ids: ProducerIdManager | None = None
    replication_control: ReplicationControlManager | None = None
    marker_channel: TransactionMarkerChannelManager | None = None
    txn_verifier: AddPartitionsToTxnManager | None = None
    time: Time = field(default_factory=SystemTime)  # the services' clock (start's `time`)
    heap_trimmer: HeapTrimmer | None = None

    async def _cancel_tasks(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def stop(self) -> None:
        grace = self.config.get_int("shutdown.timeout.ms") / 1000.0
        if self.config.get_bool("controlled.shutdown.enable"):
            # Hand leadership over while still serving: clients and followers move to the new leaders first.
            await controlled_shutdown(
                self.cache,
                self.registration,
                self.config.get_int("controlled.shutdown.max.retries"),
                self.config.get_int("controlled.shutdown.retry.backoff.ms"),
                self.time,
            )
        # Resign as group coordinator first: JoinGroup/SyncGroup requests parked for a rebalance are answered
        # NOT_COORDINATOR at once (clients find the coordinator again) instead of holding the shutdown.
        self.group_coordinator.close()
        if self.txn_coordinator is not None:
            self.txn_coordinator.close()
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("listeners", lambda: asyncio.gather(*(server.stop(grace) for server in self.servers))),
            ("background tasks", self._cancel_tasks),
            ("registration", self.registration.stop),
        ]
        if self.marker_channel is not None:
            steps.append(("transaction marker channel", self.marker_channel.close))
        if self.txn_verifier is not None:
            steps.append(("transaction verification", self.txn_verifier.close))
        if self.producer_ids is not None:
            steps.append(("producer ids", self.producer_ids.close))
        steps += [("metadata cache", self.cache.stop), ("replica manager", self.replica_manager.stop)]
        if self.replication_control is not None:
            steps.append(("controller", self.replication_control.stop))
        steps.append(("controller claim", self.election.stop))
        for name, step in steps:
            started = time_module.monotonic()
            await step()
            log.info("shutdown: %s stopped in %.3f s", name, time_module.monotonic() - started)
        if self.heap_trimmer is not None:
            self.heap_trimmer.close()  # the listeners are closed: no trim is due any more
        await self.store.close()


HALT_EXIT_CODE = 1


def halt(reason: str) -> None:
    """End the process at once, without a shutdown (Kafka's Exit.halt after a log dir failure): nothing more is
    written to the failed dir, no lease is given up (the controller moves leadership once the session expires), and
    the next start recovers the logs. Log handlers are flushed first so that the reason is on record."""
    log.critical("halting: %s", reason)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(HALT_EXIT_CODE)


async def start(config: BrokerConfig, time: Time | None = None) -> RunningBroker:
    """Build and start a broker; `time` (the clock and scheduler of every service) defaults to the system's."""
    time = SystemTime() if time is None else time
    node_id = config.node_id
    if no_effect := config.no_effect_keys():
        log.warning("Kafka configuration keys with no effect in Odradek (accepted and kept): %s", ", ".join(no_effect))
    channels = {listener.name: channel_builder(listener, config) for listener in config.listeners}  # before any I/O
    sasl = {
        listener.name: listener_sasl(config, listener.name)
        for listener in config.listeners
        if listener.security_protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
    }
    for listener_security in sasl.values():
        await listener_security.start()  # the first JWKS fetch, off the loop, before any listener serves
    bootstrap_users = parse_bootstrap_credentials(config.get_str("sasl.scram.bootstrap.credentials"))
    security = inter_broker_security(config)
    authorizer = configured_authorizer(config)
    metrics = BrokerMetrics()
    dirs = config.log_dirs
    logs = await asyncio.to_thread(LogManager.open, dirs, log_config({}, config))
    store = await open_store(store_url(config.get_str("metadata.store.url"), dirs))
    heartbeat_ms = config.get_int("broker.heartbeat.interval.ms")
    session_s = config.get_int("broker.session.timeout.ms") / 1000.0
    lease_s = lease_ttl(store, session_s, heartbeat_ms / 1000.0)
    election = ControllerElection(store, node_id, lease_s, heartbeat_ms / 1000.0)
    await election.start()
    controller = Controller(
        store,
        validate_configs=_validate_topic_configs,
        validate_broker_configs=_validate_broker_configs,
        default_num_partitions=config.get_int("num.partitions"),
        default_replication_factor=config.get_int("default.replication.factor"),
        fence=election,
    )
    # The admin writes this broker makes for its clients, on any broker of the cluster (AdminFence: Kafka forwards
    # them to the controller; here each write's own compares order it); the controller's decisions use `controller`.
    admin = Controller(
        store,
        validate_configs=_validate_topic_configs,
        validate_broker_configs=_validate_broker_configs,
        default_num_partitions=config.get_int("num.partitions"),
        default_replication_factor=config.get_int("default.replication.factor"),
        fence=AdminFence(election),
    )
    await admin.ensure_cluster_id(config.get_str("cluster.id"))
    await bootstrap_scram_users(admin, bootstrap_users)
    replication_control = ReplicationControlManager(
        controller,
        election,
        node_id,
        time,
        unclean_default=lambda: config.get_bool("unclean.leader.election.enable"),
        tick_ms=heartbeat_ms,
        auto_rebalance=config.get_bool("auto.leader.rebalance.enable"),
        rebalance_interval_ms=config.get_int("leader.imbalance.check.interval.seconds") * 1000.0,
        imbalance_percentage=config.get_int("leader.imbalance.per.broker.percentage"),
    )
    replication_quotas = ReplicationQuotaManagers(
        node_id,
        time,
        config.get_int("replication.quota.window.num"),
        config.get_int("replication.quota.window.size.seconds"),
    )
    manager = ReplicaManager(
        node_id,
        config,
        logs,
        metrics,
        time,
        alter_partition=ControllerAlterPartitionManager(controller),
        halt=halt,
        security=security,
        leader_quota=replication_quotas.leader,
        follower_quota=replication_quotas.follower,
    )
    metrics.watch_replication_quotas(replication_quotas.byte_rates)
    cache = MetadataCache(store)
    coordinator = group_coordinator(config, manager, cache, time)
    markers = ReplicaTxnMarkerWriter(
        manager, lambda: config.get_int("offsets.commit.timeout.ms"), OFFSETS_TOPIC, coordinator.complete_transaction
    )
    channel = marker_channel(config, node_id, cache, markers, security)
    verifier = txn_verifier(config, node_id, cache, security)
    producer_ids = ProducerIdManager(node_id, controller.allocate_producer_ids)
    transactions = transaction_coordinator(config, manager, cache, time, producer_ids, channel)
    registry = Registry(all_handlers())
    quotas = QuotaManagers(time, config.get_int("quota.window.num"), config.get_int("quota.window.size.seconds"))
    services = BrokerServices(
        node_id,
        config,
        registry,
        cache,
        admin,
        manager,
        metrics,
        time.wall_ms,
        lambda: store.revision,
        coordinator,
        authorizer=authorizer or AllowEverythingAuthorizer(),
        sasl=sasl,
        producer_id_manager=producer_ids,
        txn_coordinator=transactions,
        txn_marker_writer=markers,
        txn_verifier=verifier,
        replication_control=replication_control,
        quotas=quotas,
        time=time,
        departed_brokers=DepartedBrokers(time),
    )
    cache.add_listener(services.departed_brokers.on_image)
    cache.add_listener(quota_listener(quotas))
    metrics.watch_quotas(quotas.stats)
    if authorizer is not None:
        cache.add_listener(acl_listener(authorizer))
    publisher = BrokerMetadataPublisher(node_id, config, manager, replication_quotas)
    publisher.add_config_listener(services.update_config)
    publisher.register_coordinator(OFFSETS_TOPIC, coordinator)
    publisher.register_coordinator(TRANSACTION_STATE_TOPIC, transactions)
    cache.add_listener(publisher.publish)
    cache.add_listener(replication_control.on_image)
    metrics.watch_groups(coordinator.group_offsets)
    metrics.watch_transactions(transactions.stats)
    dispatcher = Dispatcher(registry, services)
    limits = ServerLimits(
        max_request_bytes=config.get_int("socket.request.max.bytes"),
        idle_timeout_s=config.get_int("connections.max.idle.ms") / 1000.0,
        read_ahead=config.get_int("queued.max.requests"),
        max_unauthenticated_bytes=config.get_int("sasl.server.max.receive.size"),
    )
    connection_quotas = _connection_quotas(config, time)
    heap_trimmer = HeapTrimmer(time, glibc_malloc_trim())  # after TLS connections close (utils.heap)
    servers, ports = [], []
    for listener in config.listeners:
        server = KafkaServer(
            dispatcher,
            limits,
            listener.name,
            channels[listener.name],
            time,
            connection_quotas,
            heap_trimmer,
            hold_behind=registry.coordinator_writes(),
        )
        server.on_connection_count = _connection_gauge(metrics, listener.name)
        ports.append(await server.start(listener.host, listener.port, serve=False))
        servers.append(server)
    advertised = _advertised(config, ports)
    first = advertised[0]
    me = BrokerImage(node_id, first.host, first.port, config.rack, tuple(advertised), True, logs.had_clean_shutdown)
    registration = BrokerRegistration(store, controller, me, lease_s, heartbeat_ms / 1000.0)
    await registration.start()
    await cache.start()
    await replication_control.start()
    manager.start()
    tasks = [asyncio.create_task(_expire_offsets(coordinator, config.get_int("offsets.retention.check.interval.ms")))]
    broker = RunningBroker(
        config,
        store,
        election,
        cache,
        publisher,
        manager,
        servers,
        ports,
        registration,
        metrics,
        coordinator,
        tasks,
        transactions,
    )
    broker.time = time
    broker.metrics_port = _start_metrics(config, metrics)
    broker.heap_trimmer = heap_trimmer
    broker.producer_ids = producer_ids
    broker.replication_control = replication_control
    broker.marker_channel = channel
    broker.txn_verifier = verifier
    metrics.registry.register(ControllerCollector(replication_control.stats))
    # Kafka's BrokerServer enables request processing once the controller has unfenced the broker: before, its
    # partitions are answered as they were before this start (an unclean restart leaves them to the controller's
    # next pass), so clients would see leaders and errors of a state about to change.
    if not await _await_unfenced(cache, node_id, 2 * session_s):
        log.warning(
            "broker %s not unfenced by the controller within %.0f s; serving requests while fenced",
            node_id,
            2 * session_s,
        )
    if config.get_bool("gc.freeze.on.start"):  # last, so that everything made at start-up is frozen
        log.info("garbage collector: %d start-up objects frozen", freeze_start_up_heap())
    for server in servers:
        await server.serve()
    log.info(
        "broker %s started: listeners %s, log dirs %s, cluster %s, controller %s",
        node_id,
        ", ".join(f"{e.name}://{e.host}:{e.port}" for e in advertised),
        ", ".join(map(str, dirs)),
        cache.image.cluster_id,
        controller.controller_id,
    )
    return broker


def lease_ttl(store: MetadataStore, session_s: float, heartbeat_s: float) -> float:
    """The TTL of the registration and controller leases: gone at most ``broker.session.timeout.ms`` after the last
    heartbeat (``MetadataStore.lease_ttl_within``: etcd ends leases up to 0.5 s after their whole-second TTL), as
    Kafka's controller fences a broker at its session timeout. When that TTL would not outlast two heartbeat
    intervals (a session timeout close to the heartbeat interval), the session timeout itself is the TTL, so that
    keepalives still fit in it."""
    ttl_s = store.lease_ttl_within(session_s)
    return ttl_s if ttl_s >= 2 * heartbeat_s else session_s


async def _await_unfenced(cache: MetadataCache, node_id: int, timeout_s: float) -> bool:
    """Wait (at most timeout_s) until an image in which this broker's registration is unfenced has been applied
    by the cache's listeners (the publisher has acted on it); False on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    image = cache.image
    while True:
        me = image.brokers.get(node_id)
        if me is not None and not me.fenced:
            return True
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        try:
            image = await asyncio.wait_for(cache.wait_for_applied(image.revision + 1), remaining)
        except TimeoutError:
            return False


def _consumer_assignors(value: object) -> tuple[str, ...]:
    names = tuple(assignor_name(str(a)) for a in value) if isinstance(value, list) else ()
    return names or ("uniform",)


def group_coordinator(
    config: BrokerConfig, manager: ReplicaManager, cache: MetadataCache, time: Time
) -> GroupCoordinator:
    for value, low, high in (
        (
            "group.consumer.session.timeout.ms",
            "group.consumer.min.session.timeout.ms",
            "group.consumer.max.session.timeout.ms",
        ),
        (
            "group.consumer.heartbeat.interval.ms",
            "group.consumer.min.heartbeat.interval.ms",
            "group.consumer.max.heartbeat.interval.ms",
        ),
    ):
        if not config.get_int(low) <= config.get_int(value) <= config.get_int(high):
            raise ConfigError(f"{value} must be between {low} and {high}")
    group_config = GroupConfig(
        initial_rebalance_delay_ms=config.get_int("group.initial.rebalance.delay.ms"),
        min_session_timeout_ms=config.get_int("group.min.session.timeout.ms"),
        max_session_timeout_ms=config.get_int("group.max.session.timeout.ms"),
        max_size=config.get_int("group.max.size"),
        offset_metadata_max_bytes=config.get_int("offset.metadata.max.bytes"),
        offsets_retention_ms=config.get_int("offsets.retention.minutes") * 60_000,
        consumer_heartbeat_interval_ms=config.get_int("group.consumer.heartbeat.interval.ms"),
        consumer_session_timeout_ms=config.get_int("group.consumer.session.timeout.ms"),
        consumer_max_size=config.get_int("group.consumer.max.size"),
        consumer_assignors=_consumer_assignors(config.get("group.consumer.assignors")),
        consumer_migration_policy=ConsumerGroupMigrationPolicy.parse(
            config.get_str("group.consumer.migration.policy") or "bidirectional"
        ),
    )
    storage = PartitionRecordLog(manager, OFFSETS_TOPIC, lambda: config.get_int("offsets.commit.timeout.ms"))

    def num_partitions() -> int:
        topic = cache.image.topics.get(OFFSETS_TOPIC)
        return 0 if topic is None else len(topic.partitions)

    def topics() -> dict[str, tuple[str, int]]:
        return {name: (t.topic_id, len(t.partitions)) for name, t in cache.image.topics.items()}

    return GroupCoordinator(group_config, storage, num_partitions, time, topics)


def inter_broker_security(config: BrokerConfig) -> ChannelSecurity:
    """How this broker's inter-broker client connects (the inter-broker listener's TLS and SASL settings, read
    before any I/O: a ConfigError stops the start)."""
    client = inter_broker_client_config(config)
    log.info(
        "inter-broker client: listener %s, %s%s, as %s",
        client.listener,
        client.security_protocol,
        f" with SASL {client.mechanism}" if client.mechanism else "",
        client.principal,
    )
    return ChannelSecurity(client.security_protocol, client.ssl_context, client.sasl_client_factory(), client.principal)


def _inter_broker_endpoints(config: BrokerConfig, cache: MetadataCache) -> Callable[[], Mapping[int, BrokerEndPoint]]:
    """The brokers' inter-broker listener addresses in the current image, read at each call."""
    listener = config.inter_broker_listener[0]
    return lambda: inter_broker_endpoints(cache.image, listener)


def marker_channel(
    config: BrokerConfig,
    node_id: int,
    cache: MetadataCache,
    local: ReplicaTxnMarkerWriter,
    security: ChannelSecurity,
) -> TransactionMarkerChannelManager:
    """Markers to the partitions' current leaders, as the image names them: here through `local`, elsewhere as
    WriteTxnMarkers on the inter-broker listener."""

    def leader_of(tp: tuple[str, int]) -> int | None:
        partition = cache.image.partition(*tp)
        if partition is None:
            return None
        broker = cache.image.brokers.get(partition.leader)
        return partition.leader if broker is not None else NO_LEADER

    timeout_ms = config.get_int("request.timeout.ms")
    return TransactionMarkerChannelManager(
        node_id,
        local,
        leader_of,
        _inter_broker_endpoints(config, cache),
        lambda e: RemoteTxnMarkerSender(e, node_id, timeout_ms, security),
    )


def txn_verifier(
    config: BrokerConfig, node_id: int, cache: MetadataCache, security: ChannelSecurity
) -> AddPartitionsToTxnManager:
    """KIP-890 part 1 for ids coordinated elsewhere: AddPartitionsToTxn v4+ to the leader of the id's
    __transaction_state partition."""

    def coordinator_of(transactional_id: str) -> int | None:
        topic = cache.image.topics.get(TRANSACTION_STATE_TOPIC)
        if topic is None or not topic.partitions:
            return None
        partition = topic.partitions.get(partition_for(transactional_id, len(topic.partitions)))
        return None if partition is None or partition.leader not in cache.image.brokers else partition.leader

    timeout_ms = config.get_int("request.timeout.ms")
    return AddPartitionsToTxnManager(
        coordinator_of,
        _inter_broker_endpoints(config, cache),
        lambda e: RemoteTxnVerificationSender(e, node_id, timeout_ms, security),
    )


def transaction_coordinator(
    config: BrokerConfig,
    manager: ReplicaManager,
    cache: MetadataCache,
    time: Time,
    producer_ids: ProducerIdGenerator,
    markers: TxnMarkerWriter,
) -> TransactionCoordinator:
    txn_config = TransactionConfig(
        max_timeout_ms=config.get_int("transaction.max.timeout.ms"),
        transactional_id_expiration_ms=config.get_int("transactional.id.expiration.ms"),
        remove_expired_interval_ms=config.get_int("transaction.remove.expired.transaction.cleanup.interval.ms"),
    )
    storage = PartitionRecordLog(manager, TRANSACTION_STATE_TOPIC, lambda: config.get_int("offsets.commit.timeout.ms"))

    def num_partitions() -> int:
        topic = cache.image.topics.get(TRANSACTION_STATE_TOPIC)
        return 0 if topic is None else len(topic.partitions)

    return TransactionCoordinator(txn_config, storage, num_partitions, partition_for, time, producer_ids, markers)


async def _expire_offsets(coordinator: GroupCoordinator, interval_ms: int) -> None:
    while True:
        await asyncio.sleep(interval_ms / 1000.0)
        try:
            removed = await coordinator.expire_offsets()
        except Exception:
            log.exception("offset expiration failed")
            continue
        if removed:
            log.info("removed %d expired committed offsets", removed)


def _connection_quotas(config: BrokerConfig, time: Time) -> ConnectionQuotas:
    """max.connections (broker-wide and per listener), max.connections.per.ip and its overrides (client addresses as
    written: host names are not resolved, where Kafka resolves them)."""
    try:
        overrides = parse_overrides(config.get_str("max.connections.per.ip.overrides"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return ConnectionQuotas(
        config.get_int("max.connections"),
        config.get_int("max.connections.per.ip"),
        overrides,
        {listener.name: _listener_int(config, listener.name, "max.connections") for listener in config.listeners},
        config.get_str("inter.broker.listener.name"),
        max_connection_creation_rate=config.get_int("max.connection.creation.rate"),
        listener_max_connection_creation_rate={
            listener.name: _listener_int(config, listener.name, "max.connection.creation.rate")
            for listener in config.listeners
        },
        time=time,
        rate_config=MetricConfig(
            config.get_int("quota.window.num"), config.get_int("quota.window.size.seconds") * 1000
        ),
    )


def _listener_int(config: BrokerConfig, listener: str, name: str) -> int:
    value = config.listener_get(listener, name)
    assert isinstance(value, int), name
    return value if config.listener_is_set(listener, name) else 2**31 - 1


def _connection_gauge(metrics: BrokerMetrics, listener: str) -> Callable[[int], None]:
    def update(count: int) -> None:
        metrics.connections.labels(listener).set(count)

    return update


def _advertised(config: BrokerConfig, bound_ports: list[int]) -> list[Endpoint]:
    """Advertised listeners; a listener bound to port 0 advertises the port it got."""
    if config.get("advertised.listeners"):
        return [
            Endpoint(item.name, item.host, item.port, item.security_protocol.name)
            for item in config.advertised_listeners
        ]
    endpoints = []
    for item, port in zip(config.listeners, bound_ports, strict=True):
        host = item.host if item.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        endpoints.append(Endpoint(item.name, host, port, item.security_protocol.name))
    return endpoints


def _start_metrics(config: BrokerConfig, metrics: BrokerMetrics) -> int | None:
    port = config.get_int("metrics.port")
    if port == 0:
        return None
    from prometheus_client import start_http_server

    server, _thread = start_http_server(
        port, addr=config.get_str("metrics.host") or "127.0.0.1", registry=metrics.registry
    )
    return int(server.server_port)


async def run(config: BrokerConfig) -> int:
    """Run until SIGTERM or SIGINT; returns the process exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        broker = await start(config)
    except ConfigError as exc:  # found only at start-up, e.g. a metadata.store.url that cannot be opened
        print(f"odradek broker: {exc}", file=sys.stderr)
        return 2
    print(
        f"odradek broker {config.node_id} listening on port(s) {', '.join(map(str, broker.ports))}",
        flush=True,
    )
    await stop.wait()
    log.info("shutting down")
    await broker.stop()
    log.info("stopped cleanly")
    return 0
