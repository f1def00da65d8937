"""Connector configuration: Kafka's ConnectorConfig, SinkConnectorConfig and SourceConnectorConfig keys, the
enrichment with each configured SMT's and predicate's keys, and `validate` (PUT .../config/validate).

Enrichment: for `transforms=a` the keys `transforms.a.type`, `transforms.a.predicate`, `transforms.a.negate` and the
SMT's own keys as `transforms.a.<key>` (group `Transforms: a`) are declared; for `predicates=p`,
`predicates.p.type` and the predicate's keys (group `Predicates: p`). The validation result lists the framework
keys first, then the connector's own (its `config()` and `validate()`), with Kafka's group names.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odradek.connect.api.connector import (
    Connector,
    ConnectorTransactionBoundaries,
    ExactlyOnceSupport,
    SourceConnector,
)
from odradek.connect.api.errors import ConnectException
from odradek.connect.config.configdef import (
    ConfigDef,
    ConfigException,
    ConfigKey,
    ConfigType,
    ConfigValue,
    Importance,
    LambdaValidator,
    NonEmptyString,
    Range,
    ValidString,
    Width,
    config_infos,
)
from odradek.connect.plugins import CONNECTOR_TYPES, PluginDesc, Plugins, PluginType
from odradek.connect.transforms.base import TransformationChain, TransformationStage

log = logging.getLogger(__name__)

COMMON_GROUP = "Common"
TRANSFORMS_GROUP = "Transforms"
PREDICATES_GROUP = "Predicates"
ERROR_GROUP = "Error Handling"
EXACTLY_ONCE_GROUP = "Exactly Once Support"
EXACTLY_ONCE_SUPPORT_CONFIG = "exactly.once.support"
TRANSACTION_BOUNDARY_CONFIG = "transaction.boundary"
TRANSACTION_BOUNDARY_INTERVAL_CONFIG = "transaction.boundary.interval.ms"
OFFSETS_TOPIC_CONFIG = "offsets.storage.topic"


def _unique_aliases(name: str, value: Any) -> None:
    if value and len(set(value)) != len(value):
        raise ConfigException(name, value, "Duplicate alias provided.")


def _valid_name(name: str, value: Any) -> None:
    NonEmptyString()(name, value)
    if isinstance(value, str) and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise ConfigException(name, value, "Connector name contains ISO control characters")


def _common(defn: ConfigDef) -> ConfigDef:
    g = COMMON_GROUP
    return (
        defn.define(
            "name",
            ConfigType.STRING,
            validator=LambdaValidator(_valid_name, "non-empty string without ISO control characters"),
            importance=Importance.HIGH,
            documentation="Globally unique name to use for this connector.",
            group=g,
            order_in_group=1,
            width=Width.MEDIUM,
            display_name="Connector name",
        )
        .define(
            "connector.class",
            ConfigType.STRING,
            importance=Importance.HIGH,
            documentation="Name or alias of the class for this connector. Must be a subclass of "
            "odradek.connect.api.connector.Connector. If the connector is "
            "org.apache.kafka.connect.file.FileStreamSinkConnector, you can either specify this full name, or use "
            '"FileStreamSink" or "FileStreamSinkConnector" to make the configuration a bit shorter',
            group=g,
            order_in_group=2,
            width=Width.LONG,
            display_name="Connector class",
        )
        .define(
            "tasks.max",
            ConfigType.INT,
            1,
            Range.at_least(1),
            Importance.HIGH,
            "Maximum number of tasks to use for this connector.",
            g,
            3,
            Width.SHORT,
            "Tasks max",
        )
        .define(
            "key.converter",
            ConfigType.CLASS,
            None,
            None,
            Importance.LOW,
            "Converter class used to convert between Kafka Connect format and the serialized form that is written "
            "to Kafka. This controls the format of the keys in messages written to or read from Kafka, and since "
            "this is independent of connectors it allows any connector to work with any serialization format. "
            "Examples of common formats include JSON and Avro.",
            g,
            4,
            Width.SHORT,
            "Key converter class",
        )
        .define(
            "value.converter",
            ConfigType.CLASS,
            None,
            None,
            Importance.LOW,
            "Converter class used to convert between Kafka Connect format and the serialized form that is written "
            "to Kafka. This controls the format of the values in messages written to or read from Kafka.",
            g,
            5,
            Width.SHORT,
            "Value converter class",
        )
        .define(
            "header.converter",
            ConfigType.CLASS,
            None,
            None,
            Importance.LOW,
            "HeaderConverter class used to convert between Kafka Connect format and the serialized form that is "
            "written to Kafka.",
            g,
            6,
            Width.SHORT,
            "Header converter class",
        )
        .define(
            "config.action.reload",
            ConfigType.STRING,
            "restart",
            ValidString.in_case_insensitive("none", "restart"),
            Importance.LOW,
            "The action that Connect should take on the connector when changes in external "
            "configuration providers result in a change in the connector's configuration properties.",
            g,
            7,
            Width.MEDIUM,
            "Reload Action",
        )
        .define(
            "transforms",
            ConfigType.LIST,
            "",
            LambdaValidator(_unique_aliases, "unique transformation aliases"),
            Importance.LOW,
            "Aliases for the transformations to be applied to records.",
            TRANSFORMS_GROUP,
            8,
            Width.LONG,
            "Transforms",
        )
        .define(
            "predicates",
            ConfigType.LIST,
            "",
            LambdaValidator(_unique_aliases, "unique predicate aliases"),
            Importance.LOW,
            "Aliases for the predicates used by transformations.",
            PREDICATES_GROUP,
            9,
            Width.LONG,
            "Predicates",
        )
        .define(
            "errors.retry.timeout",
            ConfigType.LONG,
            0,
            None,
            Importance.MEDIUM,
            "The maximum duration in milliseconds that a failed operation will be reattempted. The default is 0, "
            "which means no retries will be attempted. Use -1 for infinite retries.",
            ERROR_GROUP,
            1,
            Width.MEDIUM,
            "Retry Timeout for Errors",
        )
        .define(
            "errors.retry.delay.max.ms",
            ConfigType.LONG,
            60000,
            None,
            Importance.MEDIUM,
            "The maximum duration in milliseconds between consecutive retry attempts. Jitter will be added to the "
            "delay once this limit is reached to prevent thundering herd issues.",
            ERROR_GROUP,
            2,
            Width.MEDIUM,
            "Maximum Delay Between Retries for Errors",
        )
        .define(
            "errors.tolerance",
            ConfigType.STRING,
            "none",
            ValidString.in_case_insensitive("none", "all"),
            Importance.MEDIUM,
            "Behavior for tolerating errors during connector operation. 'none' is the default "
            "value and signals that any error will result in an immediate connector task failure; 'all' changes "
            "the behavior to skip over problematic records.",
            ERROR_GROUP,
            3,
            Width.SHORT,
            "Error Tolerance",
        )
        .define(
            "errors.log.enable",
            ConfigType.BOOLEAN,
            False,
            None,
            Importance.MEDIUM,
            "If true, write each error and the details of the failed operation and problematic record to the "
            "Connect application log. This is 'false' by default, so that only errors that are not tolerated are "
            "reported.",
            ERROR_GROUP,
            4,
            Width.SHORT,
            "Log Errors",
        )
        .define(
            "errors.log.include.messages",
            ConfigType.BOOLEAN,
            False,
            None,
            Importance.MEDIUM,
            "Whether to include in the log the Connect record that resulted in a failure. For sink records, the "
            "topic, partition, offset, and timestamp will be logged. For source records, the key and value (and "
            "their schemas), all headers, and the timestamp, Kafka topic, Kafka partition, source partition, and "
            "source offset will be logged. This is 'false' by default, which will prevent record keys, values, "
            "and headers from being written to log files.",
            ERROR_GROUP,
            5,
            Width.SHORT,
            "Log Error Details",
        )
    )


def _sink(defn: ConfigDef) -> ConfigDef:
    return (
        defn.define(
            "topics",
            ConfigType.LIST,
            "",
            None,
            Importance.HIGH,
            "List of topics to consume, separated by commas",
            COMMON_GROUP,
            4,
            Width.LONG,
            "Topics",
        )
        .define(
            "topics.regex",
            ConfigType.STRING,
            "",
            None,
            Importance.HIGH,
            "Regular expression giving topics to consume. Under the hood, the regex is compiled to a "
            "java.util.regex.Pattern. Only one of topics or topics.regex should be specified.",
            COMMON_GROUP,
            4,
            Width.LONG,
            "Topics regex",
        )
        .define(
            "errors.deadletterqueue.topic.name",
            ConfigType.STRING,
            "",
            None,
            Importance.MEDIUM,
            "The name of the topic to be used as the dead letter queue (DLQ) for messages that result in an error "
            "when processed by this sink connector, or its transformations or converters. The topic name is blank "
            "by default, which means that no messages are to be recorded in the DLQ.",
            ERROR_GROUP,
            6,
            Width.MEDIUM,
            "Dead Letter Queue Topic Name",
        )
        .define(
            "errors.deadletterqueue.topic.replication.factor",
            ConfigType.SHORT,
            3,
            None,
            Importance.MEDIUM,
            "Replication factor used to create the dead letter queue topic when it doesn't already exist.",
            ERROR_GROUP,
            7,
            Width.MEDIUM,
            "Dead Letter Queue Topic Replication Factor",
        )
        .define(
            "errors.deadletterqueue.context.headers.enable",
            ConfigType.BOOLEAN,
            False,
            None,
            Importance.MEDIUM,
            "If true, add headers containing error context to the messages written to the dead letter queue. To "
            "avoid clashing with headers from the original record, all error context header keys, all error "
            "context header keys will start with __connect.errors.",
            ERROR_GROUP,
            8,
            Width.MEDIUM,
            "Enable Error Context Headers",
        )
    )


def _non_negative_or_null(name: str, value: Any) -> None:
    if value is not None and value < 0:
        raise ConfigException(name, value, "Value must be at least 0")


def _source(defn: ConfigDef) -> ConfigDef:
    """Kafka's SourceConnectorConfig keys of KIP-618 (exactly-once source, distributed workers)."""
    g = EXACTLY_ONCE_GROUP
    return (
        defn.define(
            EXACTLY_ONCE_SUPPORT_CONFIG,
            ConfigType.STRING,
            "requested",
            ValidString.in_case_insensitive("requested", "required"),
            Importance.MEDIUM,
            'Permitted values are requested, required. If set to "required", forces a preflight check for the '
            "connector to ensure that it can provide exactly-once semantics with the given configuration. Some "
            "connectors may be capable of providing exactly-once semantics but not signal to Connect that they "
            "support this; in that case, documentation for the connector should be consulted carefully before "
            'creating it, and the value for this property should be set to "requested". Additionally, if the '
            'value is set to "required" but the worker that performs preflight validation does not have '
            "exactly-once support enabled for source connectors, requests to create or validate the connector "
            "will fail.",
            g,
            1,
            Width.SHORT,
            "Exactly once support",
        )
        .define(
            TRANSACTION_BOUNDARY_CONFIG,
            ConfigType.STRING,
            "poll",
            ValidString.in_case_insensitive("poll", "interval", "connector"),
            Importance.MEDIUM,
            "Permitted values are: poll, interval, connector. If set to 'poll', a new producer transaction will be "
            "started and committed for every batch of records that each task from this connector provides to "
            "Connect. If set to 'interval', commits transactions only after a user-defined time interval has "
            "passed (transaction.boundary.interval.ms). 'connector' (the connector's TransactionContext) is not "
            "implemented by this worker and is refused (docs/not-implemented.md).",
            g,
            2,
            Width.SHORT,
            "Transaction Boundary",
        )
        .define(
            TRANSACTION_BOUNDARY_INTERVAL_CONFIG,
            ConfigType.LONG,
            None,
            LambdaValidator(_non_negative_or_null, "[0,...] or null"),
            Importance.LOW,
            "If 'transaction.boundary' is set to 'interval', determines the interval for producer transaction "
            "commits by connector tasks. If unset, defaults to the value of the worker-level "
            "'offset.flush.interval.ms' property. It has no effect if a different transaction.boundary is "
            "specified.",
            g,
            3,
            Width.SHORT,
            "Transaction boundary interval",
        )
        .define(
            OFFSETS_TOPIC_CONFIG,
            ConfigType.STRING,
            None,
            None,
            Importance.LOW,
            "The name of a separate offsets topic to use for this connector. Not implemented by this worker: a "
            "value is refused (docs/not-implemented.md); offsets go to the worker's offset.storage.topic.",
            g,
            4,
            Width.LONG,
            "Offsets topic",
        )
    )


def config_string(value: Any) -> str:
    """A JSON config value as the string Kafka's Map<String, String> would hold (`true`, not Python's `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def string_config(config: Mapping[str, Any]) -> dict[str, str]:
    """A config map from JSON with every value a string; null values dropped."""
    return {str(k): config_string(v) for k, v in config.items() if v is not None}


def base_config_def(connector_type: PluginType | None) -> ConfigDef:
    defn = _common(ConfigDef())
    if connector_type is PluginType.SINK:
        return _sink(defn)
    return _source(defn) if connector_type is PluginType.SOURCE else defn


def _prefixed(defn: ConfigDef, prefix: str, group: str, source: ConfigDef) -> None:
    for i, key in enumerate(source.keys.values()):
        defn.define_key(
            ConfigKey(
                prefix + key.name,
                key.type,
                key.default,
                key.validator,
                key.importance,
                key.documentation,
                group,
                i + 3,
                key.width,
                key.display_name,
                tuple(prefix + d for d in key.dependents),
                key.recommender,
            )
        )


def _plugin_class_validator(plugins: Plugins, kind: PluginType) -> LambdaValidator:
    def check(name: str, value: Any) -> None:
        try:
            plugins.find(value, kind)
        except ConnectException:
            raise ConfigException(name, value, f"Class {value} could not be found.") from None

    return LambdaValidator(check, f"a {kind.value} plugin")


def _optional(validator: LambdaValidator) -> LambdaValidator:
    return LambdaValidator(lambda name, value: None if value is None else validator(name, value), str(validator))


def enriched_config_def(plugins: Plugins, connector_type: PluginType | None, props: Mapping[str, Any]) -> ConfigDef:
    """The connector's framework keys with the keys of every configured SMT and predicate (see module docstring)."""
    defn = base_config_def(connector_type)
    for key_name, converter_kind in (
        ("key.converter", PluginType.CONVERTER),
        ("value.converter", PluginType.CONVERTER),
        ("header.converter", PluginType.HEADER_CONVERTER),
    ):
        defn.keys[key_name] = dataclasses.replace(
            defn.keys[key_name], validator=_optional(_plugin_class_validator(plugins, converter_kind))
        )
    for kind, list_key, plural, group in (
        (PluginType.TRANSFORMATION, "transforms", "transforms", TRANSFORMS_GROUP),
        (PluginType.PREDICATE, "predicates", "predicates", PREDICATES_GROUP),
    ):
        try:
            aliases = ConfigDef([defn.keys[list_key]]).parse(props)[list_key]
        except ConfigException:
            continue
        for alias in aliases:
            prefix = f"{plural}.{alias}."
            sub_group = f"{group}: {alias}"
            defn.define(
                prefix + "type",
                ConfigType.CLASS,
                validator=_plugin_class_validator(plugins, kind),
                importance=Importance.HIGH,
                documentation=f"Class for the '{alias}' {kind.value}.",
                group=sub_group,
                order_in_group=0,
                width=Width.LONG,
                display_name=f"{kind.value.capitalize()} type for {alias}",
            )
            if kind is PluginType.TRANSFORMATION:
                defn.define(
                    prefix + "negate",
                    ConfigType.BOOLEAN,
                    False,
                    None,
                    Importance.MEDIUM,
                    "Whether the configured predicate should be negated.",
                    sub_group,
                    1,
                    Width.NONE,
                    "Negate",
                )
                defn.define(
                    prefix + "predicate",
                    ConfigType.STRING,
                    None,
                    None,
                    Importance.MEDIUM,
                    "The alias of a predicate used to determine whether to apply this transformation.",
                    sub_group,
                    2,
                    Width.NONE,
                    "Predicate",
                )
            type_name = props.get(prefix + "type")
            if isinstance(type_name, str):
                try:
                    plugin_def: ConfigDef = plugins.new_instance(type_name.strip(), kind).config()
                except ConnectException:
                    continue
                _prefixed(defn, prefix, sub_group, plugin_def)
    return defn


@dataclass(frozen=True, slots=True)
class ValidationResult:
    infos: dict[str, Any]
    error_messages: list[str]

    @property
    def error_count(self) -> int:
        return int(self.infos["error_count"])


def _extra_errors(connector_type: PluginType | None, props: Mapping[str, Any], values: dict[str, ConfigValue]) -> None:
    """Cross-key rules of Kafka's SinkConnectorConfig.validate and the predicate references of transforms."""
    if connector_type is PluginType.SINK:
        topics = [t.strip() for t in str(props.get("topics", "")).split(",") if t.strip()]
        regex = str(props.get("topics.regex", "")).strip()
        if topics and regex:
            msg = "topics and topics.regex are mutually exclusive options, but both are set."
            values["topics"].errors.append(msg)
            values["topics.regex"].errors.append(msg)
        elif not topics and not regex:
            msg = "Must configure one of topics or topics.regex"
            values["topics"].errors.append(msg)
            values["topics.regex"].errors.append(msg)
        dlq = str(props.get("errors.deadletterqueue.topic.name", "")).strip()
        if dlq and dlq in topics:
            values["errors.deadletterqueue.topic.name"].errors.append(
                f"The DLQ topic '{dlq}' may not be included in the list of topics ('topics={','.join(topics)}') "
                "consumed by the connector"
            )
    declared = {p.strip() for p in str(props.get("predicates", "")).split(",") if p.strip()}
    for key, value in values.items():
        if key.startswith("transforms.") and key.endswith(".predicate") and value.value and value.value not in declared:
            value.errors.append(
                f"Invalid value {value.value} for configuration {key}: "
                f"Predicate '{value.value}' not found in predicates list"
            )


def _source_errors(
    connector: SourceConnector, props: Mapping[str, Any], values: dict[str, ConfigValue], exactly_once_enabled: bool
) -> None:
    """KIP-618's preflight checks of Kafka's DistributedHerder (validateSourceConnectorExactlyOnceSupport,
    validateSourceConnectorTransactionBoundary), with this worker's refusals of what it does not implement."""
    raw = string_config(props)
    support = values[EXACTLY_ONCE_SUPPORT_CONFIG]
    if not support.errors and str(support.value).lower() == "required":
        if not exactly_once_enabled:
            support.errors.append("This worker does not have exactly-once source support enabled.")
        try:
            declared = connector.exactly_once_support(raw)
        except Exception as exc:
            log.error("Failed while validating connector support for exactly-once semantics", exc_info=exc)
            support.errors.append(_unexpected(exc))
        else:
            if declared is None:
                support.errors.append(
                    "The connector does not implement the API required for preflight validation of exactly-once "
                    "source support. Please consult the documentation for the connector to determine whether it "
                    "supports exactly-once semantics, and then consider reconfiguring the connector to use the "
                    'value "requested" for this property (which will disable this preflight check and allow the '
                    "connector to be created)."
                )
            elif declared is not ExactlyOnceSupport.SUPPORTED:
                support.errors.append(
                    "The connector does not support exactly-once semantics with the provided configuration."
                )
    boundary = values[TRANSACTION_BOUNDARY_CONFIG]
    if not boundary.errors and str(boundary.value).lower() == "connector":
        try:
            can = connector.can_define_transaction_boundaries(raw)
        except Exception as exc:
            log.error("Failed while validating connector support for defining transaction boundaries", exc_info=exc)
            boundary.errors.append(_unexpected(exc))
        else:
            if can is not ConnectorTransactionBoundaries.SUPPORTED:
                boundary.errors.append(
                    "The connector does not support connector-defined transaction boundaries with the given "
                    "configuration. Please reconfigure it to use a different transaction boundary definition."
                )
            else:
                boundary.errors.append(
                    "Connector-defined transaction boundaries (transaction.boundary=connector, the task's "
                    "TransactionContext) are not implemented by this worker; use poll or interval "
                    "(docs/not-implemented.md)."
                )
    topic = values[OFFSETS_TOPIC_CONFIG]
    if topic.value not in (None, ""):
        topic.errors.append(
            "A separate offsets topic per connector (offsets.storage.topic) is not implemented by this worker: "
            "remove it to use the worker's offset.storage.topic (docs/not-implemented.md)."
        )


def _unexpected(exc: BaseException) -> str:
    message = str(exc).strip()
    if message:
        return f"An unexpected error occurred during validation: {message}"
    return "An unexpected error occurred during validation; please see the worker logs for more details."


def validate(plugins: Plugins, props: Mapping[str, Any], exactly_once_enabled: bool = False) -> ValidationResult:
    """Kafka's AbstractHerder.validateConnectorConfig; raises ConnectException when connector.class is unusable.

    `exactly_once_enabled`: the worker's `exactly.once.source.support` is `enabled` (distributed mode only)."""
    class_name = props.get("connector.class")
    if not class_name:
        raise ConnectException(f"Connector config {dict(props)} contains no connector type")
    desc: PluginDesc = plugins.find(str(class_name).strip(), *CONNECTOR_TYPES)
    connector_type = desc.types[0]
    framework = enriched_config_def(plugins, connector_type, props)
    values = {v.name: v for v in framework.validate(props)}
    _extra_errors(connector_type, props, values)
    connector: Connector = desc.cls()
    if isinstance(connector, SourceConnector):
        _source_errors(connector, props, values, exactly_once_enabled)
    own_def = connector.config()
    own_values = connector.validate({k: v for k, v in props.items() if k in own_def.keys or k not in framework.keys})
    all_values = list(values.values()) + [v for v in own_values if v.name not in values]
    merged = framework.merged(own_def)
    infos = config_infos(desc.class_name, merged, all_values)
    return ValidationResult(infos, [msg for v in all_values for msg in v.errors])


def invalid_config_message(result: ValidationResult) -> str:
    """The 400 message of Kafka's AbstractHerder.maybeAddConfigErrors."""
    lines = [f"Connector configuration is invalid and contains the following {result.error_count} error(s):"]
    lines += result.error_messages
    lines.append(
        "You can also find the above list of errors at the endpoint "
        "`/connector-plugins/{connectorType}/config/validate`"
    )
    return "\n".join(lines)


def build_transformation_chain(plugins: Plugins, props: Mapping[str, Any]) -> TransformationChain:
    """Instantiate and configure the connector's SMTs and predicates (props already validated)."""
    transforms = [a.strip() for a in str(props.get("transforms", "")).split(",") if a.strip()]
    predicate_aliases = [a.strip() for a in str(props.get("predicates", "")).split(",") if a.strip()]
    predicates: dict[str, Any] = {}
    for alias in predicate_aliases:
        predicate = plugins.new_instance(str(props[f"predicates.{alias}.type"]).strip(), PluginType.PREDICATE)
        predicate.configure(_sub_config(props, f"predicates.{alias}."))
        predicates[alias] = predicate
    stages = []
    for alias in transforms:
        prefix = f"transforms.{alias}."
        smt = plugins.new_instance(str(props[prefix + "type"]).strip(), PluginType.TRANSFORMATION)
        smt.configure(_sub_config(props, prefix))
        predicate_alias = props.get(prefix + "predicate")
        negate = str(props.get(prefix + "negate", "false")).strip().lower() == "true"
        stages.append(
            TransformationStage(alias, smt, predicates.get(str(predicate_alias)) if predicate_alias else None, negate)
        )
    return TransformationChain(tuple(stages))


def _sub_config(props: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    skip = {"type", "predicate", "negate"}
    return {k[len(prefix) :]: v for k, v in props.items() if k.startswith(prefix) and k[len(prefix) :] not in skip}
