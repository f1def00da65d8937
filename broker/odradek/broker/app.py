"""The composition root: build a broker from its configuration, run it, stop it cleanly.

Start-up order: log dirs opened and recovered (LogManager), metadata store opened, cluster id ensured, this
broker registered under a lease, metadata cache started (its listener keeps the replica manager's partitions in
line with the image), listeners bound, metrics endpoint started.

Dynamic broker configs: the metadata listener lays the stored cluster-wide default (`/configs/brokers/<default>`)
and this broker's own (`/configs/brokers/<id>`) over the static configuration whenever either changes, and at
start-up from the first image, before partitions are created; the replica manager then recomputes every
partition's LogConfig, so a dynamic `log.*` default reaches existing topics without overrides at once.

Shutdown (SIGTERM/SIGINT): resign as group coordinator, stop accepting, close idle connections, let in-flight
requests finish (`shutdown.timeout.ms`), stop the storage tasks, flush every log, write checkpoints and the
clean-shutdown marker, close the metadata store.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass

from odradek.broker.config.broker import BrokerConfig
from odradek.broker.config.definitions import ConfigError
from odradek.broker.config.dynamic import dynamic_refusal, load_dynamic
from odradek.broker.config.topic import log_config, parse_topic_configs
from odradek.broker.group.coordinator import GroupConfig, GroupCoordinator
from odradek.broker.group.offsets_topic import OFFSETS_TOPIC
from odradek.broker.handlers import all_handlers
from odradek.broker.handlers.context import BrokerServices
from odradek.broker.handlers.dispatch import Dispatcher
from odradek.broker.handlers.registry import Registry
from odradek.broker.log.manager import LogManager
from odradek.broker.metadata.cache import MetadataCache
from odradek.broker.metadata.controller import Controller, ControllerError
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.image import BrokerImage, Endpoint, MetadataDelta, MetadataImage
from odradek.broker.metadata.registration import BrokerRegistration
from odradek.broker.metrics.broker import BrokerMetrics
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.coordinator_log import PartitionRecordLog
from odradek.broker.replication.partition import PartitionState
from odradek.broker.replication.replica_manager import ReplicaAssignment, ReplicaManager
from odradek.broker.server import KafkaServer, ServerLimits
from odradek.broker.utils.time import SystemTime

log = logging.getLogger("odradek.broker")

METADATA_DIR = "__cluster_metadata"
LEASE_TTL_S = 10


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _validate_topic_configs(configs: dict[str, str]) -> None:
    try:
        parse_topic_configs(configs)
    except ConfigError as exc:
        raise ControllerError(ErrorCode.INVALID_CONFIG, str(exc)) from None


def _validate_broker_configs(resource_name: str, configs: dict[str, str]) -> None:
    refusal = dynamic_refusal(resource_name, configs)
    if refusal is not None:
        raise ControllerError(*refusal)


def dynamic_config(static: BrokerConfig, image: MetadataImage, node_id: int) -> BrokerConfig:
    """The static configuration under the dynamic broker configs stored in `image` (invalid entries skipped)."""
    default, bad_default = load_dynamic(image.broker_configs.get("", {}), per_broker=False)
    own, bad_own = load_dynamic(image.broker_configs.get(str(node_id), {}), per_broker=True)
    for problem in bad_default:
        log.error("cluster-wide dynamic broker config ignored: %s", problem)
    for problem in bad_own:
        log.error("dynamic config of broker %s ignored: %s", node_id, problem)
    return static.with_dynamic(default, own)


@dataclass(slots=True)
class RunningBroker:
    config: BrokerConfig
    store: EmbeddedMetadataStore
    cache: MetadataCache
    replica_manager: ReplicaManager
    servers: list[KafkaServer]
    ports: list[int]
    registration: BrokerRegistration
    metrics: BrokerMetrics
    group_coordinator: GroupCoordinator
    tasks: list[asyncio.Task[None]]
    metrics_port: int | None = None

    async def stop(self) -> None:
        grace = self.config.get_int("shutdown.timeout.ms") / 1000.0
        # Resign as group coordinator first: JoinGroup/SyncGroup requests parked for a rebalance are answered
        # NOT_COORDINATOR at once (clients find the coordinator again) instead of holding the shutdown.
        self.group_coordinator.close()
        await asyncio.gather(*(server.stop(grace) for server in self.servers))
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.registration.stop()
        await self.cache.stop()
        await self.replica_manager.stop()
        await self.store.close()


async def start(config: BrokerConfig) -> RunningBroker:
    node_id = config.node_id
    metrics = BrokerMetrics()
    dirs = config.log_dirs
    logs = await asyncio.to_thread(LogManager.open, dirs, log_config({}, config))
    store = await EmbeddedMetadataStore.open(str(dirs[0] / METADATA_DIR))
    controller = Controller(
        store,
        validate_configs=_validate_topic_configs,
        validate_broker_configs=_validate_broker_configs,
        default_num_partitions=config.get_int("num.partitions"),
        default_replication_factor=config.get_int("default.replication.factor"),
    )
    await controller.ensure_cluster_id(config.get_str("cluster.id"))
    manager = ReplicaManager(node_id, config, logs, metrics, SystemTime())
    cache = MetadataCache(store)
    coordinator = group_coordinator(config, manager, cache)

    full_pass = True  # look at every topic: after a failed or interrupted pass, which may have left some behind

    async def on_metadata(image: MetadataImage, delta: MetadataDelta) -> None:
        nonlocal full_pass
        topics: frozenset[str] | None = None if full_pass else delta.changed_topics  # only these changed ...
        if delta.changed_broker_configs & {"", str(node_id)}:
            topics = None  # ... unless a dynamic log.* default changed every topic's config
            services.config = manager.config = dynamic_config(config, image, node_id)
            log.info(
                "dynamic broker configs in force: cluster-wide default %s, broker %s %s",
                dict(services.config.dynamic_default),
                node_id,
                dict(services.config.dynamic_broker),
            )
        # Awaited: logs are created and deleted in a worker thread while the event loop serves other requests, and
        # the cache applies the next metadata change only after this one (`sync_replicas` waits for it).
        full_pass = True
        await manager.apply_assignments(replica_assignments(image, topics), topics)
        full_pass = False
        update_coordinator_partitions(coordinator, manager, image)

    cache.add_listener(on_metadata)
    registry = Registry(all_handlers())
    services = BrokerServices(
        node_id, config, registry, cache, controller, manager, metrics, now_ms, lambda: store.revision, coordinator
    )
    metrics.watch_groups(coordinator.group_offsets)
    dispatcher = Dispatcher(registry, services)
    limits = ServerLimits(
        max_request_bytes=config.get_int("socket.request.max.bytes"),
        idle_timeout_s=config.get_int("connections.max.idle.ms") / 1000.0,
        read_ahead=config.get_int("queued.max.requests"),
    )
    servers, ports = [], []
    for listener in config.listeners:
        server = KafkaServer(dispatcher, limits, listener.name)
        server.on_connection_count = _connection_gauge(metrics, listener.name)
        ports.append(await server.start(listener.host, listener.port))
        servers.append(server)
    advertised = _advertised(config, ports)
    first = advertised[0]
    registration = BrokerRegistration(
        store, controller, BrokerImage(node_id, first.host, first.port, config.rack, tuple(advertised)), LEASE_TTL_S
    )
    await registration.start()
    await cache.start()
    manager.start()
    tasks = [asyncio.create_task(_expire_offsets(coordinator, config.get_int("offsets.retention.check.interval.ms")))]
    broker = RunningBroker(config, store, cache, manager, servers, ports, registration, metrics, coordinator, tasks)
    broker.metrics_port = _start_metrics(config, metrics)
    log.info(
        "broker %s started: listeners %s, log dirs %s, cluster %s",
        node_id,
        ", ".join(f"{e.name}://{e.host}:{e.port}" for e in advertised),
        ", ".join(map(str, dirs)),
        cache.image.cluster_id,
    )
    return broker


def group_coordinator(config: BrokerConfig, manager: ReplicaManager, cache: MetadataCache) -> GroupCoordinator:
    group_config = GroupConfig(
        initial_rebalance_delay_ms=config.get_int("group.initial.rebalance.delay.ms"),
        min_session_timeout_ms=config.get_int("group.min.session.timeout.ms"),
        max_session_timeout_ms=config.get_int("group.max.session.timeout.ms"),
        max_size=config.get_int("group.max.size"),
        offset_metadata_max_bytes=config.get_int("offset.metadata.max.bytes"),
        offsets_retention_ms=config.get_int("offsets.retention.minutes") * 60_000,
    )
    storage = PartitionRecordLog(manager, OFFSETS_TOPIC, lambda: config.get_int("offsets.commit.timeout.ms"))

    def num_partitions() -> int:
        topic = cache.image.topics.get(OFFSETS_TOPIC)
        return 0 if topic is None else len(topic.partitions)

    return GroupCoordinator(group_config, storage, num_partitions, now_ms)


def update_coordinator_partitions(coordinator: GroupCoordinator, manager: ReplicaManager, image: MetadataImage) -> None:
    """Load the groups of the __consumer_offsets partitions this broker leads; drop the others."""
    topic = image.topics.get(OFFSETS_TOPIC)
    leading = set()
    if topic is not None:
        for index in topic.partitions:
            partition = manager.partitions.get((OFFSETS_TOPIC, index))
            if partition is not None and partition.is_leader:
                leading.add(index)
    for index in sorted(coordinator.loaded - leading):
        coordinator.on_resigned(index)
    for index in sorted(leading - coordinator.loaded):
        coordinator.on_elected(index)


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


def _connection_gauge(metrics: BrokerMetrics, listener: str) -> Callable[[int], None]:
    def update(count: int) -> None:
        metrics.connections.labels(listener).set(count)

    return update


def replica_assignments(image: MetadataImage, topics: Collection[str] | None = None) -> list[ReplicaAssignment]:
    """The assignments of every partition of `topics` (all topics: None) in the image."""
    chosen = image.topics.values() if topics is None else (image.topics[t] for t in topics if t in image.topics)
    assignments = []
    for topic in chosen:
        topic_id = uuid.UUID(topic.topic_id)
        assignments += [
            ReplicaAssignment(
                topic.name,
                part.partition,
                topic_id,
                topic.configs,
                PartitionState(part.leader, part.leader_epoch, part.partition_epoch, part.replicas, part.isr),
            )
            for part in topic.partitions.values()
        ]
    return assignments


def _advertised(config: BrokerConfig, bound_ports: list[int]) -> list[Endpoint]:
    """Advertised listeners; a listener bound to port 0 advertises the port it got."""
    if config.get("advertised.listeners"):
        return [Endpoint(item.name, item.host, item.port) for item in config.advertised_listeners]
    endpoints = []
    for item, port in zip(config.listeners, bound_ports, strict=True):
        host = item.host if item.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        endpoints.append(Endpoint(item.name, host, port))
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
    broker = await start(config)
    print(
        f"odradek broker {config.node_id} listening on port(s) {', '.join(map(str, broker.ports))}",
        flush=True,
    )
    await stop.wait()
    log.info("shutting down")
    await broker.stop()
    log.info("stopped cleanly")
    return 0
