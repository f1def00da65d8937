"""Shared by DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: resources and how to change topics.

Resource types (Kafka's `ConfigResource.Type`): TOPIC 2, BROKER 4. Topic configs are the topic's overrides in the
metadata store; broker configs are this broker's static configuration (dynamic broker configs are not stored
yet, so altering a broker resource is refused with INVALID_REQUEST and says so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from odradek.broker.config.definitions import TOPIC_BY_NAME, ConfigError, ConfigType
from odradek.broker.config.topic import parse_topic_configs
from odradek.broker.handlers.context import BrokerServices
from odradek.broker.metadata.controller import ControllerError
from odradek.broker.protocol.errors import ErrorCode

TOPIC = 2
BROKER = 4

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


class ResourceError(Exception):
    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def check_broker_resource(services: BrokerServices, name: str) -> None:
    if name not in ("", str(services.node_id)):
        raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unexpected broker id, expected {services.node_id}, got {name}")


def topic_overrides(services: BrokerServices, name: str) -> Mapping[str, str]:
    topic = services.metadata.image.topics.get(name)
    if topic is None:
        raise ResourceError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic {name} does not exist")
    return topic.configs


def incremental(current: Mapping[str, str], ops: list[tuple[str, int, str | None]]) -> dict[str, str]:
    """Apply SET/DELETE/APPEND/SUBTRACT operations to a topic's overrides (APPEND/SUBTRACT only on lists)."""
    result = dict(current)
    for name, op, value in ops:
        key = TOPIC_BY_NAME.get(name)
        if key is None:
            raise ResourceError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {name}")
        if op == DELETE:
            result.pop(name, None)
        elif op == SET:
            if value is None:
                raise ResourceError(ErrorCode.INVALID_CONFIG, f"Null value not supported for {name}")
            result[name] = value
        elif op in (APPEND, SUBTRACT):
            if key.type is not ConfigType.LIST:
                raise ResourceError(ErrorCode.INVALID_CONFIG, f"Config {name} is not a list: cannot APPEND/SUBTRACT")
            base = [v for v in result.get(name, ",".join(key.default or [])).split(",") if v]  # type: ignore[arg-type]
            items = [v.strip() for v in (value or "").split(",") if v.strip()]
            merged = base + [v for v in items if v not in base] if op == APPEND else [v for v in base if v not in items]
            result[name] = ",".join(merged)
        else:
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unknown config operation {op}")
    return result


async def replace_topic_configs(
    services: BrokerServices, name: str, configs: dict[str, str], validate_only: bool
) -> None:
    topic_overrides(services, name)  # UNKNOWN_TOPIC_OR_PARTITION when absent
    try:
        parse_topic_configs(configs)
    except ConfigError as exc:
        raise ResourceError(ErrorCode.INVALID_CONFIG, str(exc)) from None
    if validate_only:
        return
    try:
        await services.controller.alter_topic_configs(name, configs, (), replace=True)
        await services.sync_metadata()
    except ControllerError as exc:
        raise ResourceError(ErrorCode(exc.error_code), exc.message) from None


async def alter_resource(
    services: BrokerServices,
    resource_type: int,
    name: str,
    topic_configs: Callable[[], dict[str, str]],
    validate_only: bool,
) -> tuple[ErrorCode, str | None]:
    """One resource of AlterConfigs / IncrementalAlterConfigs: `topic_configs()` computes the topic's new overrides.

    Returns the resource's (error code, message); broker resources are refused until dynamic broker configs exist.
    """
    try:
        if resource_type == TOPIC:
            await replace_topic_configs(services, name, topic_configs(), validate_only)
        elif resource_type == BROKER:
            check_broker_resource(services, name)
            raise ResourceError(
                ErrorCode.INVALID_REQUEST, "Dynamic broker configs are not supported yet; set them in server.properties"
            )
        else:
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {resource_type}")
    except ResourceError as exc:
        return exc.error_code, exc.message
    return ErrorCode.NONE, None
