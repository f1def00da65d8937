"""Shared by DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: resources and how to change them.

Resource types (Kafka's `ConfigResource.Type`): TOPIC 2, BROKER 4. Topic configs are the topic's overrides in the
metadata store. A BROKER resource is this broker's id (per-broker dynamic configs) or "" (the cluster-wide dynamic
default); both are stored in the metadata store (`/configs/brokers/...`) and app.py applies them to the running
broker from its metadata listener, as soon as the write is committed and again at start-up.

A broker resource is checked in Kafka's order (ConfigAdminManager.preprocess, then DynamicBrokerConfig):
duplicate names and null values (INVALID_REQUEST), the resource name (INVALID_REQUEST "Unexpected broker id"),
the incremental operations (INVALID_CONFIG for APPEND/SUBTRACT on a non-list or an unknown key), then the
resulting whole map (`config.dynamic.validate_dynamic`: INVALID_REQUEST, except unknown keys: INVALID_CONFIG).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from odradek.broker.auth.authorizer import AclOperation, ResourceType
from odradek.broker.config.definitions import BROKER_BY_NAME, TOPIC_BY_NAME, ConfigError, ConfigKey, ConfigType
from odradek.broker.config.dynamic import dynamic_refusal
from odradek.broker.config.topic import parse_topic_configs
from odradek.broker.handlers.context import BrokerServices, RequestContext
from odradek.broker.metadata.controller import ControllerError
from odradek.broker.protocol.errors import ErrorCode

TOPIC = 2
BROKER = 4

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3

# (name, operation, value) of one config entry; legacy AlterConfigs entries are SETs of the whole new map.
ConfigOp = tuple[str, int, str | None]


class ResourceError(Exception):
    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


# Kafka's default messages of the two errors (Errors.X.message()), which DescribeConfigs puts in the response.
AUTHORIZATION_MESSAGES = {
    ErrorCode.CLUSTER_AUTHORIZATION_FAILED: "Cluster authorization failed.",
    ErrorCode.TOPIC_AUTHORIZATION_FAILED: "Topic authorization failed.",
}


def config_authorization_error(
    ctx: RequestContext, resource_type: int, name: str, operation: AclOperation
) -> ErrorCode | None:
    """DESCRIBE_CONFIGS or ALTER_CONFIGS on the resource, as KafkaApis asks: a BROKER resource's configs are the
    cluster's (CLUSTER_AUTHORIZATION_FAILED), a TOPIC's the topic's (TOPIC_AUTHORIZATION_FAILED); None if allowed or
    the type is not one of them (refused later as unsupported)."""
    if resource_type == BROKER and not ctx.authorize(operation, ResourceType.CLUSTER):
        return ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    if resource_type == TOPIC and not ctx.authorize(operation, ResourceType.TOPIC, name):
        return ErrorCode.TOPIC_AUTHORIZATION_FAILED
    return None


def check_broker_resource(services: BrokerServices, name: str, *, alter: bool = False) -> None:
    """A BROKER resource name must be "" or this broker's id; another broker's id is refused (there is no other
    broker to forward to). Kafka words the refusal differently for DescribeConfigs (ConfigHelper) and for
    AlterConfigs (`alter`, ConfigAdminManager)."""
    if name == "":
        return
    if not name.lstrip("-").isdigit():
        what = "Node id" if alter else "Broker id"
        raise ResourceError(ErrorCode.INVALID_REQUEST, f"{what} must be an integer, but it is: {name}")
    if int(name) != services.node_id:
        expected = f"{services.node_id}" if alter else f"{services.node_id} or empty string"
        raise ResourceError(
            ErrorCode.INVALID_REQUEST, f"Unexpected broker id, expected {expected}, but received {name}"
        )


def check_broker_entries(entries: Sequence[ConfigOp], legacy: bool) -> None:
    """Kafka's preprocess checks of one broker resource: each name once, no null value to set."""
    names = [name for name, _, _ in entries]
    null_names = [name for name, op, value in entries if value is None and (legacy or op != DELETE)]
    if len(set(names)) != len(names):
        raise ResourceError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
    if null_names:
        raise ResourceError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {', '.join(null_names)}")


def topic_overrides(services: BrokerServices, name: str) -> Mapping[str, str]:
    topic = services.metadata.image.topics.get(name)
    if topic is None:
        raise ResourceError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic {name} does not exist")
    return topic.configs


def incremental(
    current: Mapping[str, str],
    ops: Sequence[ConfigOp],
    keys: Mapping[str, ConfigKey] = TOPIC_BY_NAME,
    unknown: str = "Unknown topic config name",
) -> dict[str, str]:
    """Apply SET/DELETE/APPEND/SUBTRACT operations to a config map (APPEND/SUBTRACT only on list keys, starting
    from the declared default when the map does not hold the key, as Kafka's prepareIncrementalConfigs)."""
    result = dict(current)
    for name, op, value in ops:
        key = keys.get(name)
        if key is None:
            raise ResourceError(ErrorCode.INVALID_CONFIG, f"{unknown}: {name}")
        if op == DELETE:
            result.pop(name, None)
        elif op == SET:
            if value is None:
                raise ResourceError(ErrorCode.INVALID_CONFIG, f"Null value not supported for {name}")
            result[name] = value
        elif op in (APPEND, SUBTRACT):
            result[name] = _list_op(key, result.get(name), op, value)
        else:
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unknown config operation {op}")
    return result


def _list_op(key: ConfigKey, current: str | None, op: int, value: str | None) -> str:
    if key.type is not ConfigType.LIST:
        verb = "append" if op == APPEND else "subtract"
        raise ResourceError(ErrorCode.INVALID_CONFIG, f"Config value {verb} is not allowed for config key: {key.name}")
    default = key.default if isinstance(key.default, list) else []
    base = [v for v in (",".join(default) if current is None else current).split(",") if v]
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    merged = base + [v for v in items if v not in base] if op == APPEND else [v for v in base if v not in items]
    return ",".join(merged)


def _new_topic_configs(current: Mapping[str, str], entries: Sequence[ConfigOp], legacy: bool) -> dict[str, str]:
    if not legacy:
        return incremental(current, entries)
    if any(value is None for _, _, value in entries):
        raise ResourceError(ErrorCode.INVALID_CONFIG, "Null values are not allowed in AlterConfigs")
    return {name: value for name, _, value in entries if value is not None}


def _new_broker_configs(current: Mapping[str, str], entries: Sequence[ConfigOp], legacy: bool) -> dict[str, str]:
    if legacy:
        return {name: value for name, _, value in entries if value is not None}
    return incremental(current, entries, BROKER_BY_NAME, "Unknown config name")


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


def validate_broker_configs(name: str, configs: Mapping[str, str]) -> None:
    """A broker resource's whole dynamic map, or ResourceError with Kafka's code and message."""
    refusal = dynamic_refusal(name, configs)
    if refusal is not None:
        raise ResourceError(*refusal)


async def replace_broker_configs(
    services: BrokerServices, name: str, configs: dict[str, str], validate_only: bool
) -> None:
    validate_broker_configs(name, configs)
    if validate_only:
        return
    try:
        await services.controller.alter_broker_configs(name, configs, (), replace=True)
        await services.sync_metadata()
    except ControllerError as exc:
        raise ResourceError(ErrorCode(exc.error_code), exc.message) from None


async def alter_authorized(
    ctx: RequestContext,
    resource_type: int,
    name: str,
    entries: Sequence[ConfigOp],
    validate_only: bool,
    *,
    legacy: bool,
) -> tuple[ErrorCode, str | None]:
    """`alter_resource` for a principal allowed ALTER_CONFIGS on the resource; otherwise Kafka's
    configsAuthorizationApiError (CLUSTER_ or TOPIC_AUTHORIZATION_FAILED), with no message."""
    denied = config_authorization_error(ctx, resource_type, name, AclOperation.ALTER_CONFIGS)
    if denied is not None:
        return denied, None
    return await alter_resource(ctx.services, resource_type, name, entries, validate_only, legacy=legacy)


async def alter_resource(
    services: BrokerServices,
    resource_type: int,
    name: str,
    entries: Sequence[ConfigOp],
    validate_only: bool,
    *,
    legacy: bool,
) -> tuple[ErrorCode, str | None]:
    """One resource of AlterConfigs (`legacy`: the entries are the whole new map) or IncrementalAlterConfigs
    (the entries are operations on the stored map). Returns the resource's (error code, message)."""
    try:
        if resource_type == TOPIC:
            configs = _new_topic_configs(topic_overrides(services, name), entries, legacy)
            await replace_topic_configs(services, name, configs, validate_only)
        elif resource_type == BROKER:
            check_broker_entries(entries, legacy)
            check_broker_resource(services, name, alter=True)
            current = services.metadata.image.broker_configs.get(name, {})
            await replace_broker_configs(services, name, _new_broker_configs(current, entries, legacy), validate_only)
        else:
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {resource_type}")
    except ResourceError as exc:
        return exc.error_code, exc.message
    return ErrorCode.NONE, None
