"""DescribeConfigs / AlterConfigs / IncrementalAlterConfigs handlers on BROKER resources, over a real embedded
metadata store, controller and cache wired as app.py wires them (no sockets, no replica manager)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from odradek.broker.app import _validate_broker_configs, _validate_topic_configs
from odradek.broker.config.broker import BrokerConfig, build
from odradek.broker.config.topic import ConfigSource
from odradek.broker.handlers import alter_configs, describe_configs, incremental_alter_configs
from odradek.broker.handlers.context import BrokerServices, RequestContext
from odradek.broker.metadata.cache import MetadataCache
from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import alter_configs_request as legacy
from odradek.broker.protocol.messages import incremental_alter_configs_request as inc
from odradek.broker.protocol.messages.describe_configs_request import DescribeConfigsRequest, DescribeConfigsResource
from odradek.broker.publisher import BrokerMetadataPublisher
from odradek.broker.replication.replica_manager import ReplicaAssignment

BROKER, TOPIC = 4, 2
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
STATIC = {"log.retention.ms": "1000", "log.dirs": "/tmp/unused"}

Body = Callable[[RequestContext, EmbeddedMetadataStore], Awaitable[None]]


class NoReplicas:
    """A replica manager with no partitions: these tests look only at configs."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.partitions: dict[tuple[str, int], object] = {}

    def update_brokers(self, brokers: object, isr_eligible: object = None) -> None:
        return None

    async def apply_assignments(self, assignments: Iterable[ReplicaAssignment], topics: object = None) -> None:
        return None


def with_broker(path: Path, body: Body) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(path))
        controller = Controller(
            store,
            validate_configs=_validate_topic_configs,
            validate_broker_configs=_validate_broker_configs,
            rng=random.Random(0),
        )
        lease = await store.grant_lease(60)
        await controller.register_broker(1, "127.0.0.1", 9092, lease_id=lease)
        static = build([STATIC])
        cache = MetadataCache(store)
        services = BrokerServices(
            1,
            static,
            None,
            cache,
            controller,
            None,
            None,
            lambda: 0,
            lambda: store.revision,
            None,  # type: ignore[arg-type]
        )

        publisher = BrokerMetadataPublisher(1, static, NoReplicas(static))  # as app.py wires it, minus replicas
        publisher.add_config_listener(services.update_config)
        cache.add_listener(publisher.publish)
        await cache.start()
        try:
            await body(RequestContext(None, "127.0.0.1", 1, "PLAINTEXT", services), store)  # type: ignore[arg-type]
        finally:
            await cache.stop()
            await store.close()

    asyncio.run(asyncio.wait_for(main(), 20))


async def incremental(
    ctx: RequestContext, name: str, ops: list[tuple[str, int, str | None]], validate_only: bool = False
) -> tuple[int, str | None]:
    configs = [inc.AlterableConfig(name=n, config_operation=op, value=v) for n, op, v in ops]
    resource = inc.AlterConfigsResource(resource_type=BROKER, resource_name=name, configs=configs)
    request = inc.IncrementalAlterConfigsRequest(resources=[resource], validate_only=validate_only)
    response = (await incremental_alter_configs.handle(request, ctx)).responses[0]
    assert response.resource_name == name and response.resource_type == BROKER
    return response.error_code, response.error_message


async def replace(ctx: RequestContext, name: str, configs: dict[str, str | None]) -> tuple[int, str | None]:
    entries = [legacy.AlterableConfig(name=n, value=v) for n, v in configs.items()]
    resource = legacy.AlterConfigsResource(resource_type=BROKER, resource_name=name, configs=entries)
    request = legacy.AlterConfigsRequest(resources=[resource])
    response = (await alter_configs.handle(request, ctx)).responses[0]
    return response.error_code, response.error_message


async def describe(ctx: RequestContext, kind: int, name: str) -> dict[str, Any]:
    resource = DescribeConfigsResource(resource_type=kind, resource_name=name, configuration_keys=None)
    request = DescribeConfigsRequest(resources=[resource], include_synonyms=True)
    result = (await describe_configs.handle(request, ctx)).results[0]
    assert result.error_code == 0, result.error_message
    return {c.name: c for c in result.configs}


def syn(entry: Any) -> list[tuple[str, str | None, int]]:
    return [(s.name, s.value, s.source) for s in entry.synonyms]


def test_cluster_default_then_per_broker_precedence_and_synonyms(tmp_path: Path) -> None:
    async def body(ctx: RequestContext, store: EmbeddedMetadataStore) -> None:
        assert await incremental(ctx, "", [("log.retention.ms", SET, "2000")]) == (0, None)
        default = await describe(ctx, BROKER, "")
        assert list(default) == ["log.retention.ms"]
        assert (default["log.retention.ms"].value, default["log.retention.ms"].config_source) == (
            "2000",
            ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
        )
        assert await incremental(ctx, "1", [("log.retention.ms", SET, "3000")]) == (0, None)
        own = (await describe(ctx, BROKER, "1"))["log.retention.ms"]
        assert (own.value, own.config_source, own.read_only) == ("3000", ConfigSource.DYNAMIC_BROKER_CONFIG, False)
        assert syn(own)[:3] == [
            ("log.retention.ms", "3000", ConfigSource.DYNAMIC_BROKER_CONFIG),
            ("log.retention.ms", "2000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
            ("log.retention.ms", "1000", ConfigSource.STATIC_BROKER_CONFIG),
        ]
        assert await incremental(ctx, "1", [("log.retention.ms", DELETE, None)]) == (0, None)
        own = (await describe(ctx, BROKER, "1"))["log.retention.ms"]
        assert (own.value, own.config_source) == ("2000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
        assert ctx.services.config.topic_default("retention.ms") == (2000, "log.retention.ms")

    with_broker(tmp_path, body)


def test_topic_without_override_sees_the_dynamic_default(tmp_path: Path) -> None:
    async def body(ctx: RequestContext, store: EmbeddedMetadataStore) -> None:
        await ctx.services.controller.create_topic("t", 1, 1, {"segment.bytes": "4096"})
        await ctx.services.sync_metadata()
        assert await incremental(ctx, "", [("log.retention.ms", SET, "60000"), ("log.segment.bytes", SET, "8192")]) == (
            0,
            None,
        )
        topic = await describe(ctx, TOPIC, "t")
        assert (topic["retention.ms"].value, topic["retention.ms"].config_source) == (
            "60000",
            ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
        )
        first = syn(topic["retention.ms"])[0]
        assert first == ("log.retention.ms", "60000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
        assert (topic["segment.bytes"].value, topic["segment.bytes"].config_source) == (
            "4096",
            ConfigSource.TOPIC_CONFIG,
        )

    with_broker(tmp_path, body)


def test_refusals_change_nothing(tmp_path: Path) -> None:
    async def body(ctx: RequestContext, store: EmbeddedMetadataStore) -> None:
        assert await incremental(ctx, "1", [("message.max.bytes", SET, "5000")]) == (0, None)
        revision = store.revision
        cases = [
            ("1", [("log.dirs", SET, "/x"), ("message.max.bytes", SET, "6000")], ErrorCode.INVALID_REQUEST,
             "Cannot update these configs dynamically: Set(log.dirs)"),
            ("", [("num.partitions", SET, "3")], ErrorCode.INVALID_REQUEST,
             "Cannot update these configs dynamically: Set(num.partitions)"),
            ("1", [("message.max.bytes", SET, "lots")], ErrorCode.INVALID_REQUEST,
             "Invalid value 'lots' for configuration message.max.bytes: Not a number of type INT"),
            ("1", [("max.message.bytes", SET, "1")], ErrorCode.INVALID_CONFIG,
             "Unknown config name: max.message.bytes"),
            ("1", [("message.max.bytes", APPEND, "1")], ErrorCode.INVALID_CONFIG,
             "Config value append is not allowed for config key: message.max.bytes"),
            ("1", [("log.retention.ms", SET, "1"), ("log.retention.ms", SET, "2")], ErrorCode.INVALID_REQUEST,
             "Error due to duplicate config keys"),
            ("1", [("log.retention.ms", SET, None)], ErrorCode.INVALID_REQUEST,
             "Null value not supported for : log.retention.ms"),
            ("2", [("log.retention.ms", SET, "1")], ErrorCode.INVALID_REQUEST,
             "Unexpected broker id, expected 1, but received 2"),
            ("b1", [("log.retention.ms", SET, "1")], ErrorCode.INVALID_REQUEST,
             "Node id must be an integer, but it is: b1"),
        ]  # fmt: skip
        for name, ops, code, message in cases:
            assert await incremental(ctx, name, ops) == (code, message), ops
        assert store.revision == revision, "a refused resource writes nothing"
        assert await incremental(ctx, "1", [("message.max.bytes", SET, "6000")], validate_only=True) == (0, None)
        assert store.revision == revision, "validate_only writes nothing"
        assert dict(ctx.services.config.dynamic_broker) == {"message.max.bytes": 5000}
        assert (await describe(ctx, BROKER, "1"))["message.max.bytes"].value == "5000"

    with_broker(tmp_path, body)


def test_list_operations_and_legacy_replace(tmp_path: Path) -> None:
    async def body(ctx: RequestContext, store: EmbeddedMetadataStore) -> None:
        assert await incremental(ctx, "", [("log.cleanup.policy", APPEND, "compact")]) == (0, None)
        assert ctx.services.config.get("log.cleanup.policy") == ["delete", "compact"]
        assert await incremental(ctx, "", [("log.cleanup.policy", SUBTRACT, "delete")]) == (0, None)
        assert ctx.services.config.get("log.cleanup.policy") == ["compact"]
        assert await incremental(ctx, "", [("message.max.bytes", SET, "5000")]) == (0, None)
        # Legacy AlterConfigs replaces the resource's whole dynamic set.
        assert await replace(ctx, "", {"log.retention.ms": "9000"}) == (0, None)
        assert dict(ctx.services.config.dynamic_default) == {"log.retention.ms": 9000}
        assert await replace(ctx, "", {"log.retention.ms": None}) == (
            ErrorCode.INVALID_REQUEST,
            "Null value not supported for : log.retention.ms",
        )
        assert await replace(ctx, "", {"log.dir": "/y"}) == (
            ErrorCode.INVALID_REQUEST,
            "Cannot update these configs dynamically: Set(log.dir)",
        )
        assert await replace(ctx, "", {}) == (0, None)
        assert dict(ctx.services.config.dynamic_default) == {}
        assert await describe(ctx, BROKER, "") == {}

    with_broker(tmp_path, body)


def test_describe_checks_the_broker_id(tmp_path: Path) -> None:
    async def body(ctx: RequestContext, store: EmbeddedMetadataStore) -> None:
        for name, message in [
            ("7", "Unexpected broker id, expected 1 or empty string, but received 7"),
            ("x", "Broker id must be an integer, but it is: x"),
        ]:
            resource = DescribeConfigsResource(resource_type=BROKER, resource_name=name)
            request = DescribeConfigsRequest(resources=[resource])
            result = (await describe_configs.handle(request, ctx)).results[0]
            assert (result.error_code, result.error_message) == (ErrorCode.INVALID_REQUEST, message)

    with_broker(tmp_path, body)
