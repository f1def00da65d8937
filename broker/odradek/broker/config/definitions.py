"""Configuration keys: one declaration per key, with Kafka's name, type, default, documentation and validity.

Values are kept as Python values of the declared type (`int`, `float`, `bool`, `str`, `list[str]`, or `None`
for an unset optional key). `parse_value` turns the strings of properties files, environment variables,
`--override` flags and AlterConfigs requests into those values, with a clear message on a bad one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from odradek.broker.config.kafka_keys import KAFKA_KEY_GROUPS, Row

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


class ConfigType(enum.IntEnum):
    """Kafka's DescribeConfigs `ConfigType` codes."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class ConfigError(ValueError):
    """A configuration value or key that cannot be accepted; the message names the key."""


class UpdateMode(enum.Enum):
    """How a broker key may change at run time, in Kafka's words ("Update Mode" in its broker config docs).

    READ_ONLY keys need a restart. PER_BROKER keys may be altered on a broker resource named by its id;
    CLUSTER_WIDE keys also on the cluster-wide default (the broker resource named ""). Topic keys are always
    alterable per topic and carry READ_ONLY here, which they do not use.
    """

    READ_ONLY = "read-only"
    PER_BROKER = "per-broker"
    CLUSTER_WIDE = "cluster-wide"


ConfigValue = int | float | bool | str | list[str] | None
T_num = TypeVar("T_num", int, float)
Validator = Callable[[ConfigValue], str | None]


@dataclass(frozen=True, slots=True)
class ConfigKey:
    name: str
    type: ConfigType
    default: ConfigValue
    doc: str
    validator: Validator | None = None
    update_mode: UpdateMode = UpdateMode.READ_ONLY  # broker keys: alterable at run time, and where
    per_listener: bool = False  # may also be set as listener.name.<listener>.<name> (Kafka's listener prefix)

    @property
    def dynamic(self) -> bool:
        return self.update_mode is not UpdateMode.READ_ONLY

    def parse(self, raw: str) -> ConfigValue:
        value = parse_value(self.name, self.type, raw)
        self.check(value)
        return value

    def check(self, value: ConfigValue) -> None:
        if self.validator is not None and value is not None:
            problem = self.validator(value)
            if problem:
                raise ConfigError(f"Invalid value {render(value)} for configuration {self.name}: {problem}")


def parse_value(name: str, kind: ConfigType, raw: str) -> ConfigValue:
    text = raw.strip()
    try:
        if kind is ConfigType.BOOLEAN:
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise ValueError("expected true or false")
            return lowered == "true"
        if kind in (ConfigType.INT, ConfigType.SHORT, ConfigType.LONG):
            value = _number(int, text, kind)
            limit = {ConfigType.INT: INT_MAX, ConfigType.SHORT: 2**15 - 1, ConfigType.LONG: LONG_MAX}[kind]
            if not -limit - 1 <= value <= limit:
                raise ValueError(f"out of range of type {kind.name}")
            return value
        if kind is ConfigType.DOUBLE:
            return _number(float, text, kind)
        if kind is ConfigType.LIST:
            return [item.strip() for item in text.split(",") if item.strip()]
        return text
    except ValueError as exc:
        raise ConfigError(f"Invalid value {raw!r} for configuration {name}: {exc}") from None


def _number(convert: Callable[[str], T_num], text: str, kind: ConfigType) -> T_num:
    try:
        return convert(text)
    except ValueError:
        raise ValueError(f"Not a number of type {kind.name}") from None  # Kafka's ConfigDef wording


def render(value: ConfigValue) -> str:
    """A value the way Kafka prints it in DescribeConfigs (lists comma-separated, booleans lower case)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def assignor_name(value: str) -> str:
    """A group.consumer.assignors entry as the assignor's name: Kafka's class names
    (org.apache.kafka.coordinator.group.assignor.UniformAssignor) map to `uniform`, `range`."""
    short = value.strip().rsplit(".", 1)[-1]
    return {"UniformAssignor": "uniform", "RangeAssignor": "range"}.get(short, short.lower())


def at_least(minimum: float) -> Validator:
    def check(value: ConfigValue) -> str | None:
        assert isinstance(value, int | float)
        return None if value >= minimum else f"Value must be at least {minimum}"

    return check


def between(low: float, high: float) -> Validator:
    def check(value: ConfigValue) -> str | None:
        assert isinstance(value, int | float)
        return None if low <= value <= high else f"Value must be between {low} and {high}"

    return check


def one_of(*allowed: str) -> Validator:
    def check(value: ConfigValue) -> str | None:
        items = value if isinstance(value, list) else [value]
        bad = [item for item in items if item not in allowed]
        return f"String must be one of: {', '.join(allowed)}" if bad else None

    return check


COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
CLEANUP_POLICIES = ("delete", "compact")
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")  # Kafka's SecurityProtocol names


def throttled_replicas(value: ConfigValue) -> str | None:
    """Kafka's ThrottledReplicaListValidator: `*`, or `partition:broker` entries (an empty list: none)."""
    items = value if isinstance(value, list) else [value]
    if items == ["*"] or all(re.fullmatch(r"[0-9]+:[0-9]+", str(item).strip()) for item in items if item != ""):
        return None
    return "Value must be a list of partition:broker entries, or *"


def _key(
    name: str,
    kind: ConfigType,
    default: ConfigValue,
    doc: str,
    *,
    validator: Validator | None = None,
) -> ConfigKey:
    return ConfigKey(name, kind, default, doc, validator)


T = ConfigType

TOPIC_KEYS: tuple[ConfigKey, ...] = (
    _key(
        "cleanup.policy",
        T.LIST,
        ["delete"],
        "delete, compact, or both: how old segments are discarded.",
        validator=one_of(*CLEANUP_POLICIES),
    ),
    _key(
        "compression.type",
        T.STRING,
        "producer",
        "Codec of stored batches; producer keeps what the producer sent.",
        validator=one_of(*COMPRESSION_TYPES),
    ),
    _key(
        "delete.retention.ms",
        T.LONG,
        86_400_000,
        "How long tombstones are kept on compacted topics.",
        validator=at_least(0),
    ),
    _key(
        "file.delete.delay.ms",
        T.LONG,
        60_000,
        "Delay before a segment renamed .deleted is removed.",
        validator=at_least(0),
    ),
    _key("flush.messages", T.LONG, LONG_MAX, "Fsync the log after this many messages.", validator=at_least(1)),
    _key("flush.ms", T.LONG, LONG_MAX, "Fsync the log after this many milliseconds.", validator=at_least(0)),
    _key(
        "follower.replication.throttled.replicas",
        T.LIST,
        [],
        "Replicas (partition:broker, or *) whose follower side follower.replication.throttled.rate limits: the "
        "new replicas of a reassignment, on the brokers named.",
        validator=throttled_replicas,
    ),
    _key(
        "index.interval.bytes",
        T.INT,
        4096,
        "Bytes of log between two offset index entries.",
        validator=at_least(0),
    ),
    _key(
        "leader.replication.throttled.replicas",
        T.LIST,
        [],
        "Replicas (partition:broker, or *) whose leader side leader.replication.throttled.rate limits: the "
        "existing replicas of a reassignment, on the brokers named.",
        validator=throttled_replicas,
    ),
    _key(
        "max.compaction.lag.ms",
        T.LONG,
        LONG_MAX,
        "Longest time a record may stay uncompacted.",
        validator=at_least(1),
    ),
    _key(
        "max.message.bytes",
        T.INT,
        1_048_588,
        "Largest record batch the topic accepts.",
        validator=at_least(0),
    ),
    _key(
        "message.timestamp.after.max.ms",
        T.LONG,
        3_600_000,
        "How far a CreateTime timestamp may be ahead of the broker's clock.",
        validator=at_least(0),
    ),
    _key(
        "message.timestamp.before.max.ms",
        T.LONG,
        LONG_MAX,
        "How far a CreateTime timestamp may be behind the broker's clock.",
        validator=at_least(0),
    ),
    _key(
        "message.timestamp.type",
        T.STRING,
        "CreateTime",
        "CreateTime or LogAppendTime.",
        validator=one_of(*TIMESTAMP_TYPES),
    ),
    _key(
        "min.cleanable.dirty.ratio",
        T.DOUBLE,
        0.5,
        "Dirty fraction of the log that triggers compaction.",
        validator=between(0, 1),
    ),
    _key("min.compaction.lag.ms", T.LONG, 0, "Shortest time a record stays uncompacted.", validator=at_least(0)),
    _key(
        "min.insync.replicas",
        T.INT,
        1,
        "Replicas that must acknowledge an acks=all write.",
        validator=at_least(1),
    ),
    _key("preallocate", T.BOOLEAN, False, "Preallocate segment files (accepted, no effect here)."),
    _key("retention.bytes", T.LONG, -1, "Largest size of a partition before old segments go; -1 unlimited."),
    _key(
        "retention.ms",
        T.LONG,
        604_800_000,
        "Longest time a segment is kept; -1 unlimited.",
        validator=at_least(-1),
    ),
    _key("segment.bytes", T.INT, 1_073_741_824, "Size at which a segment is rolled.", validator=at_least(14)),
    _key(
        "segment.index.bytes",
        T.INT,
        10_485_760,
        "Size of a segment's offset and time indexes.",
        validator=at_least(4),
    ),
    _key("segment.jitter.ms", T.LONG, 0, "Random jitter subtracted from segment.ms.", validator=at_least(0)),
    _key("segment.ms", T.LONG, 604_800_000, "Age at which a segment is rolled.", validator=at_least(1)),
    _key("unclean.leader.election.enable", T.BOOLEAN, False, "Allow an out-of-sync replica to become leader."),
)

# Topic key -> the broker keys that set its default, highest precedence first (Kafka's synonyms).
TOPIC_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "cleanup.policy": ("log.cleanup.policy",),
    "compression.type": ("compression.type",),
    "delete.retention.ms": ("log.cleaner.delete.retention.ms",),
    "file.delete.delay.ms": ("log.segment.delete.delay.ms",),
    "flush.messages": ("log.flush.interval.messages",),
    "flush.ms": ("log.flush.interval.ms",),
    "follower.replication.throttled.replicas": (),  # no broker default (Kafka has none either)
    "index.interval.bytes": ("log.index.interval.bytes",),
    "leader.replication.throttled.replicas": (),
    "max.compaction.lag.ms": ("log.cleaner.max.compaction.lag.ms",),
    "max.message.bytes": ("message.max.bytes",),
    "message.timestamp.after.max.ms": ("log.message.timestamp.after.max.ms",),
    "message.timestamp.before.max.ms": ("log.message.timestamp.before.max.ms",),
    "message.timestamp.type": ("log.message.timestamp.type",),
    "min.cleanable.dirty.ratio": ("log.cleaner.min.cleanable.ratio",),
    "min.compaction.lag.ms": ("log.cleaner.min.compaction.lag.ms",),
    "min.insync.replicas": ("min.insync.replicas",),
    "preallocate": ("log.preallocate",),
    "retention.bytes": ("log.retention.bytes",),
    "retention.ms": ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    "segment.bytes": ("log.segment.bytes",),
    "segment.index.bytes": ("log.index.size.max.bytes",),
    "segment.jitter.ms": ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    "segment.ms": ("log.roll.ms", "log.roll.hours"),
    "unclean.leader.election.enable": ("unclean.leader.election.enable",),
}

# Broker keys whose value is stated in a coarser unit than the topic key they feed.
SYNONYM_SCALE: Mapping[str, int] = {
    "log.retention.minutes": 60_000,
    "log.retention.hours": 3_600_000,
    "log.roll.hours": 3_600_000,
    "log.roll.jitter.hours": 3_600_000,
}


def _topic_default_key(
    topic_key: str, broker_name: str, kind: ConfigType | None = None, default: ConfigValue = None
) -> ConfigKey:
    base = TOPIC_BY_NAME[topic_key]
    return ConfigKey(
        broker_name,
        kind or base.type,
        base.default if default is None else default,
        f"Default for topics' {topic_key}: {base.doc}",
        base.validator,
        UpdateMode.CLUSTER_WIDE,  # Kafka's DynamicLogConfig: the first synonym of every topic key
    )


TOPIC_BY_NAME: Mapping[str, ConfigKey] = {key.name: key for key in TOPIC_KEYS}

_LOG_DEFAULTS: tuple[ConfigKey, ...] = (
    *tuple(_topic_default_key(topic_key, synonyms[0]) for topic_key, synonyms in TOPIC_SYNONYMS.items() if synonyms),
    ConfigKey(
        "log.retention.minutes", T.INT, None, "Default retention in minutes (log.retention.ms wins).", at_least(-1)
    ),
    ConfigKey("log.retention.hours", T.INT, 168, "Default retention in hours (lowest precedence).", at_least(-1)),
    ConfigKey("log.roll.hours", T.INT, 168, "Default segment.ms in hours (log.roll.ms wins).", at_least(1)),
    ConfigKey("log.roll.jitter.hours", T.INT, 0, "Default segment.jitter.ms in hours.", at_least(0)),
)


def _listener_key(
    name: str, kind: ConfigType, default: ConfigValue, doc: str, validator: Validator | None = None
) -> ConfigKey:
    return ConfigKey(name, kind, default, doc, validator, per_listener=True)


TLS_PROTOCOLS = ("TLSv1.2", "TLSv1.3")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

# Security keys (docs/security.md). Those marked per-listener may also be given as
# `listener.name.<listener name in lower case>.<key>`, which wins for that listener; `sasl.jaas.config` also as
# `listener.name.<listener>.<mechanism in lower case>.sasl.jaas.config` (Kafka's form), and so is
# `connections.max.reauth.ms`.
SECURITY_KEYS: tuple[ConfigKey, ...] = (
    _listener_key(
        "ssl.keystore.type", T.STRING, "PEM", "Format of the listener's key and certificates: PEM only.", one_of("PEM")
    ),
    _listener_key(
        "ssl.keystore.location",
        T.STRING,
        None,
        "PEM file holding the TLS private key and its certificate chain (as Kafka reads a PEM keystore).",
    ),
    _listener_key(
        "ssl.keystore.certificate.chain", T.PASSWORD, None, "Inline PEM certificate chain (instead of a keystore file)."
    ),
    _listener_key(
        "ssl.keystore.key", T.PASSWORD, None, "Inline PEM private key (with ssl.keystore.certificate.chain)."
    ),
    _listener_key("ssl.key.password", T.PASSWORD, None, "Password of an encrypted private key."),
    _listener_key("ssl.truststore.type", T.STRING, "PEM", "Format of the truststore: PEM only.", one_of("PEM")),
    _listener_key(
        "ssl.truststore.location",
        T.STRING,
        None,
        "PEM file of the CA certificates that may sign client certificates (unset: the system's CAs).",
    ),
    _listener_key("ssl.truststore.certificates", T.PASSWORD, None, "Inline PEM CA certificates (instead of a file)."),
    _listener_key(
        "ssl.enabled.protocols",
        T.LIST,
        list(TLS_PROTOCOLS),
        "TLS versions accepted: TLSv1.2 and/or TLSv1.3.",
        lambda value: (
            None
            if isinstance(value, list) and value and set(value) <= set(TLS_PROTOCOLS)
            else "only TLSv1.2 and TLSv1.3 are supported"
        ),
    ),
    _listener_key(
        "ssl.cipher.suites", T.LIST, None, "TLS 1.2 cipher suites (OpenSSL names); unset: OpenSSL's defaults."
    ),
    _listener_key(
        "ssl.client.auth",
        T.STRING,
        "none",
        "Client certificates: required, requested (verified if sent) or none. On SASL_SSL listeners only the "
        "listener-prefixed value applies, as in Kafka.",
        one_of("required", "requested", "none"),
    ),
    _listener_key(
        "ssl.principal.mapping.rules",
        T.STRING,
        "DEFAULT",
        "Rules mapping a client certificate's subject (RFC 2253) to a principal name: DEFAULT, or "
        "RULE:pattern/replacement/[L|U], comma-separated, first match wins (Kafka's syntax).",
    ),
    _listener_key(
        "ssl.endpoint.identification.algorithm",
        T.STRING,
        "https",
        "Between brokers on a TLS inter-broker listener: https checks the other broker's registered host name "
        "against its certificate (subjectAltName); empty verifies the chain only.",
        one_of("https", ""),
    ),
    ConfigKey(
        "sasl.mechanism.inter.broker.protocol",
        T.STRING,
        "GSSAPI",
        "SASL mechanism the broker authenticates with to other brokers on a SASL inter-broker listener: PLAIN, "
        "SCRAM-SHA-256 or SCRAM-SHA-512, with the username/password of the listener's JAAS entry for it. GSSAPI, "
        "Kafka's default, is not implemented: a SASL inter-broker listener needs this key set.",
        one_of("GSSAPI", *SASL_MECHANISMS),
    ),
    _listener_key(
        "sasl.enabled.mechanisms",
        T.LIST,
        ["GSSAPI"],
        "SASL mechanisms a SASL listener offers: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (GSSAPI, Kafka's "
        "default, is not implemented and is ignored).",
    ),
    _listener_key(
        "sasl.jaas.config",
        T.PASSWORD,
        None,
        'JAAS entries for the SASL mechanisms; PLAIN users are the PlainLoginModule options user_<name>="<password>". '
        "Only Kafka's PlainLoginModule, ScramLoginModule and OAuthBearerLoginModule (whose unsecuredValidator* "
        "options configure the unsecured validator) are accepted.",
    ),
    _listener_key(
        "connections.max.reauth.ms",
        T.LONG,
        0,
        "Longest SASL session (KIP-368): a positive value is sent to clients as session_lifetime_ms, who "
        "re-authenticate on the same connection before it ends; a connection whose session ended without "
        "re-authentication is closed at its next request. 0: sessions never end. Also per listener and mechanism "
        "as listener.name.<listener>.<mechanism in lower case>.connections.max.reauth.ms.",
    ),
    _listener_key(
        "sasl.server.callback.handler.class",
        T.CLASS,
        None,
        "OAUTHBEARER's token validator, usually set as listener.name.<listener>.oauthbearer."
        "sasl.server.callback.handler.class: unset, Kafka's unsecured validator (unsigned tokens, for development "
        "only); org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler (or its older "
        "...oauthbearer.secured. name): signed tokens checked against sasl.oauthbearer.jwks.endpoint.url. No other "
        "class is accepted.",
    ),
    _listener_key(
        "sasl.oauthbearer.jwks.endpoint.url",
        T.STRING,
        None,
        "The JWKS (https: or file: URL) whose keys verify OAUTHBEARER token signatures (RS256, ES256).",
    ),
    _listener_key(
        "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        T.LONG,
        3_600_000,
        "How often the JWKS is fetched again (also at once, rate-limited, for a token with an unknown kid).",
        at_least(0),
    ),
    _listener_key(
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
        T.LONG,
        100,
        "The shortest time between two JWKS fetches (after a failure or for unknown kids).",
        at_least(0),
    ),
    _listener_key(
        "sasl.oauthbearer.expected.audience",
        T.LIST,
        [],
        "When set, an OAUTHBEARER token's aud claim must hold one of these.",
    ),
    _listener_key(
        "sasl.oauthbearer.expected.issuer",
        T.STRING,
        None,
        "When set, an OAUTHBEARER token's iss claim must equal it.",
    ),
    _listener_key(
        "sasl.oauthbearer.sub.claim.name", T.STRING, "sub", "The claim naming an OAUTHBEARER token's principal."
    ),
    _listener_key(
        "sasl.oauthbearer.scope.claim.name", T.STRING, "scope", "The claim holding an OAUTHBEARER token's scope."
    ),
    _listener_key(
        "sasl.oauthbearer.clock.skew.seconds",
        T.INT,
        30,
        "Clock skew allowed when checking a signed OAUTHBEARER token's exp, iat and nbf.",
        at_least(0),
    ),
    ConfigKey(
        "sasl.server.max.receive.size",
        T.INT,
        524_288,
        "Largest frame accepted from a connection that has not authenticated yet (CVE-2022-34917).",
        at_least(1),
    ),
    ConfigKey(
        "connection.failed.authentication.delay.ms",
        T.INT,
        100,
        "How long a failed authentication waits before its error response is sent and the connection closed.",
        at_least(0),
    ),
    ConfigKey(
        "sasl.scram.bootstrap.credentials",
        T.PASSWORD,
        None,
        "SCRAM users created at start-up when absent from the metadata store (a first start), as "
        "MECHANISM=[name=<user>,password=<password>[,iterations=<n>]] separated by ';' (the value of Kafka's "
        "kafka-storage format --add-scram). Existing credentials are never overwritten.",
    ),
    ConfigKey(
        "authorizer.class.name",
        T.STRING,
        "",
        "Empty: every request is allowed. org.apache.kafka.metadata.authorizer.StandardAuthorizer or "
        "kafka.security.authorizer.AclAuthorizer: ACLs with Kafka's StandardAuthorizer semantics.",
        one_of(
            "", "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer"
        ),
    ),
    ConfigKey(
        "super.users",
        T.STRING,
        None,
        "Principals allowed everything, separated by ';' (User:admin;User:CN=broker,O=Acme).",
    ),
    ConfigKey(
        "allow.everyone.if.no.acl.found",
        T.BOOLEAN,
        False,
        "Allow an operation on a resource that no ACL names at all (keep false in production).",
    ),
)


def _no_effect_key(group: str, row: Row) -> ConfigKey:
    name, kind, default, mode = row
    config_type = ConfigType[kind.upper()]
    value = None if default is None else parse_value(name, config_type, default)
    doc = f"Kafka's {group}. Accepted, kept and described; no effect in Odradek."
    return ConfigKey(name, config_type, value, doc, None, UpdateMode(mode))


# Kafka's broker keys Odradek has no use for (config/kafka_keys.py): known keys, so a Kafka configuration works.
NO_EFFECT_KEYS: tuple[ConfigKey, ...] = tuple(
    _no_effect_key(group, row) for group, rows in KAFKA_KEY_GROUPS for row in rows
)
NO_EFFECT_NAMES: frozenset[str] = frozenset(key.name for key in NO_EFFECT_KEYS)


# Client quotas and connection limits (docs/security.md, "Quotas" and "Connection limits").
QUOTA_AND_CONNECTION_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("quota.window.num", T.INT, 11, "Samples client quota rates are measured over.", at_least(1)),
    ConfigKey("quota.window.size.seconds", T.INT, 1, "Length of one client quota sample, in seconds.", at_least(1)),
    ConfigKey(
        "max.connections",
        T.INT,
        INT_MAX,
        "Connections the broker holds at most, over all listeners; a new one above it waits in the accept queue "
        "until another closes (listener.name.<l>.max.connections limits one listener the same way).",
        at_least(0),
        per_listener=True,
    ),
    ConfigKey(
        "max.connection.creation.rate",
        T.INT,
        INT_MAX,
        "New connections per second the broker accepts over all listeners but the inter-broker one, measured as "
        "client quotas are (quota.window.num windows of quota.window.size.seconds); above it a new connection waits "
        "its throttle time before it is served (listener.name.<l>.max.connection.creation.rate: one listener, the "
        "inter-broker one included).",
        at_least(0),
        per_listener=True,
    ),
    ConfigKey(
        "max.connections.per.ip",
        T.INT,
        INT_MAX,
        "Connections one client address may hold; a new one above it is closed at once.",
        at_least(0),
    ),
    ConfigKey(
        "max.connections.per.ip.overrides",
        T.STRING,
        "",
        "Per-address exceptions to max.connections.per.ip, as address:count pairs separated by commas "
        "(127.0.0.1:200,10.0.0.7:5); client IP addresses as written (host names are not resolved).",
    ),
)

BROKER_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("node.id", T.INT, 1, "This broker's id (broker.id is a synonym).", at_least(0)),
    ConfigKey("broker.id", T.INT, None, "Synonym of node.id.", at_least(0)),
    ConfigKey(
        "listeners",
        T.LIST,
        ["PLAINTEXT://127.0.0.1:9092"],
        "Addresses the broker listens on, as NAME://host:port; each NAME must be mapped in "
        "listener.security.protocol.map (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; docs/security.md).",
    ),
    ConfigKey(
        "advertised.listeners",
        T.LIST,
        None,
        "Addresses given to clients in Metadata, NAME://host:port; defaults to listeners. A client is answered with "
        "the addresses of the listener it connected to.",
    ),
    ConfigKey(
        "listener.security.protocol.map",
        T.STRING,
        ",".join(f"{p}:{p}" for p in SECURITY_PROTOCOLS),
        "Security protocol of each listener name, as NAME:PROTOCOL pairs (e.g. CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT).",
    ),
    ConfigKey(
        "inter.broker.listener.name",
        T.STRING,
        None,
        "Listener used between brokers; must be advertised. Set it or security.inter.broker.protocol, not both.",
    ),
    ConfigKey(
        "security.inter.broker.protocol",
        T.STRING,
        "PLAINTEXT",
        "Security protocol between brokers when inter.broker.listener.name is not set (the listener of that name).",
    ),
    ConfigKey("log.dirs", T.LIST, None, "Data directories; a new partition goes to the one with fewest partitions."),
    ConfigKey("log.dir", T.STRING, "./data", "Data directory used when log.dirs is not set."),
    ConfigKey(
        "num.partitions",
        T.INT,
        1,
        "Partitions of an auto-created topic or of CreateTopics with -1.",
        at_least(1),
    ),
    ConfigKey("default.replication.factor", T.INT, 1, "Replication factor of auto-created topics.", at_least(1)),
    ConfigKey("auto.create.topics.enable", T.BOOLEAN, True, "Create a topic when Metadata asks for one."),
    ConfigKey("delete.topic.enable", T.BOOLEAN, True, "Allow DeleteTopics."),
    ConfigKey("log.retention.check.interval.ms", T.LONG, 300_000, "How often retention runs.", at_least(1)),
    ConfigKey("log.cleaner.enable", T.BOOLEAN, True, "Run the log cleaner for compacted topics."),
    ConfigKey(
        "log.cleaner.backoff.ms",
        T.LONG,
        15_000,
        "Pause between cleaner passes with nothing to do.",
        at_least(0),
    ),
    ConfigKey(
        "log.flush.scheduler.interval.ms",
        T.LONG,
        LONG_MAX,
        "How often dirty logs are checked for flush.",
        at_least(0),
    ),
    ConfigKey(
        "log.flush.offset.checkpoint.interval.ms",
        T.INT,
        60_000,
        "How often recovery points are saved.",
        at_least(0),
    ),
    ConfigKey(
        "log.flush.start.offset.checkpoint.interval.ms",
        T.INT,
        60_000,
        "How often log start offsets are saved.",
        at_least(0),
    ),
    ConfigKey("socket.request.max.bytes", T.INT, 104_857_600, "Largest request frame accepted.", at_least(1)),
    ConfigKey(
        "connections.max.idle.ms",
        T.LONG,
        600_000,
        "Idle connections are closed after this long.",
        at_least(1),
    ),
    ConfigKey(
        "queued.max.requests",
        T.INT,
        500,
        "Requests read ahead per connection before reading pauses.",
        at_least(1),
    ),
    ConfigKey(
        "replica.lag.time.max.ms",
        T.LONG,
        30_000,
        "Time a follower may go without catching up to the leader's log end before the leader removes it from the "
        "ISR (checked every half of it).",
        at_least(1),
    ),
    ConfigKey(
        "replica.fetch.wait.max.ms",
        T.INT,
        500,
        "Longest time a follower's Fetch waits at the leader for replica.fetch.min.bytes (less than "
        "replica.lag.time.max.ms and replica.socket.timeout.ms).",
        at_least(0),
    ),
    ConfigKey("replica.fetch.min.bytes", T.INT, 1, "Bytes a follower's Fetch waits for.", at_least(0)),
    ConfigKey(
        "replica.fetch.max.bytes",
        T.INT,
        1_048_576,
        "Bytes a follower fetches per partition (a larger first batch still comes whole).",
        at_least(0),
    ),
    ConfigKey(
        "replica.fetch.response.max.bytes",
        T.INT,
        10_485_760,
        "Bytes a follower's whole Fetch response may carry (a larger first batch still comes whole).",
        at_least(0),
    ),
    ConfigKey(
        "max.incremental.fetch.session.cache.slots",
        T.INT,
        1_000,
        "Fetch sessions (KIP-227) this broker keeps at most: an incremental Fetch names only the partitions whose "
        "fetch position changed and is answered only with the partitions that have records, a new high watermark "
        "or log start offset, or an error. When the cache is full, a new session evicts a stale one (unused for "
        "min.incremental.fetch.session.eviction.ms), else one less valuable (a follower's session may evict a "
        "consumer's; a larger one a smaller one not created within that time); otherwise the client fetches "
        "without a session.",
        at_least(0),
    ),
    ConfigKey(
        "min.incremental.fetch.session.eviction.ms",
        T.INT,
        120_000,
        "Time a fetch session is protected from eviction by a larger or a follower's session after its creation, "
        "and the time without use after which any new session may evict it.",
        at_least(0),
    ),
    ConfigKey(
        "leader.replication.throttled.rate",
        T.LONG,
        LONG_MAX,
        "Bytes/s a leader serves to followers out of the ISR for the replicas of leader.replication.throttled."
        "replicas (topic key): above it their fetches get no data for those partitions (docs/cluster.md, "
        '"Replication throttles"); reassign-partitions --throttle sets it (as do AlterConfigs clients).',
        at_least(0),
        UpdateMode.CLUSTER_WIDE,
    ),
    ConfigKey(
        "follower.replication.throttled.rate",
        T.LONG,
        LONG_MAX,
        "Bytes/s a follower fetches for its out-of-sync replicas of follower.replication.throttled.replicas (topic "
        'key): above it those partitions are left out of its fetches (docs/cluster.md, "Replication throttles").',
        at_least(0),
        UpdateMode.CLUSTER_WIDE,
    ),
    ConfigKey(
        "replication.quota.window.num",
        T.INT,
        11,
        "Samples the replication throttles' byte rates are measured over.",
        at_least(1),
    ),
    ConfigKey(
        "replication.quota.window.size.seconds",
        T.INT,
        1,
        "Length of one replication throttle sample, in seconds.",
        at_least(1),
    ),
    ConfigKey(
        "replica.fetch.backoff.ms",
        T.INT,
        1_000,
        "Time a follower waits before retrying a partition after a fetch error or a failed connection (after an "
        "answer saying the leader has not applied the latest metadata yet, NOT_LEADER_OR_FOLLOWER, "
        "UNKNOWN_LEADER_EPOCH or UNKNOWN_TOPIC_OR_PARTITION, it retries after 25 ms, doubling up to this).",
        at_least(0),
    ),
    ConfigKey(
        "request.timeout.ms",
        T.INT,
        30_000,
        "Timeout of the transaction requests this broker sends to other brokers (WriteTxnMarkers from the "
        "transaction coordinator to partition leaders, AddPartitionsToTxn verification from a partition leader to "
        "the coordinator): on connecting and on each answer; a marker not answered in time is sent again.",
        at_least(1),
    ),
    ConfigKey(
        "replica.socket.timeout.ms",
        T.INT,
        30_000,
        "Timeout of a follower's connection attempt and of each request to the leader.",
        at_least(1),
    ),
    ConfigKey(
        "num.replica.fetchers",
        T.INT,
        1,
        "Fetcher tasks (one connection each) per source broker; partitions are spread over them by hash.",
        at_least(1),
    ),
    ConfigKey(
        "replica.high.watermark.checkpoint.interval.ms",
        T.LONG,
        5_000,
        "How often each log dir's replication-offset-checkpoint (the partitions' high watermarks) is written.",
        at_least(1),
    ),
    ConfigKey("fetch.max.bytes", T.INT, 57_671_680, "Upper bound of a fetch response.", at_least(0)),
    ConfigKey(
        "metrics.port",
        T.INT,
        9404,
        "Port of the Prometheus /metrics endpoint; 0 turns it off.",
        between(0, 65535),
    ),
    ConfigKey("metrics.host", T.STRING, "127.0.0.1", "Address of the Prometheus /metrics endpoint."),
    ConfigKey(
        "gc.freeze.on.start",
        T.BOOLEAN,
        True,
        "Once started (before serving requests), run Python's garbage collector once and freeze every object then "
        "alive (gc.freeze()), so that later full collections skip the start-up heap (modules, codecs, configs): "
        "they took 25 to 55 ms of the event loop each without it (bench/RESULTS.md, latency tail).",
    ),
    ConfigKey(
        "metadata.store.url",
        T.STRING,
        "",
        "Where the cluster metadata lives: embedded://PATH (a folder of this broker, single node; empty: "
        "embedded://<first of log.dirs>/__cluster_metadata), or etcd://host:port,host:port,.../PREFIX (an etcd v3 "
        "cluster's client endpoints over plain HTTP, every key under /PREFIX; several brokers share one).",
    ),
    ConfigKey("cluster.id", T.STRING, None, "Cluster id to use when the metadata store has none yet."),
    ConfigKey("rack", T.STRING, None, "Rack of this broker (broker.rack)."),
    ConfigKey("broker.rack", T.STRING, None, "Rack of this broker, given to clients in Metadata."),
    ConfigKey(
        "controlled.shutdown.enable",
        T.BOOLEAN,
        True,
        "On SIGTERM, first ask the controller to move leadership of this broker's partitions to other in-sync "
        "replicas and to take it out of every ISR (the broker marks its registration shutting down), and wait until "
        "it leads nothing, at most controlled.shutdown.max.retries x controlled.shutdown.retry.backoff.ms; skipped "
        "when no other broker is registered.",
    ),
    ConfigKey(
        "controlled.shutdown.max.retries",
        T.INT,
        3,
        "Rounds of waiting for leadership to move away at a controlled shutdown (each round marks the registration "
        "shutting down again and waits controlled.shutdown.retry.backoff.ms); after the last one the broker stops "
        "anyway.",
        at_least(0),
    ),
    ConfigKey(
        "controlled.shutdown.retry.backoff.ms",
        T.LONG,
        5000,
        "Length of one round of a controlled shutdown (see controlled.shutdown.max.retries).",
        at_least(0),
    ),
    ConfigKey(
        "broker.session.timeout.ms",
        T.INT,
        9000,
        "TTL of the lease that holds this broker's registration (and its controller claim) in the metadata store: "
        "a broker that stops renewing it for this long is gone, and the controller moves its leaderships and "
        "removes it from every ISR. With etcd, whose TTLs are whole seconds and which looks for expired leases "
        "every 0.5 s, the TTL is the longest that still ends within this time (9000: 8 s, so 8.0-8.5 s after the "
        "last renewal), unless that would not outlast two broker.heartbeat.interval.ms.",
        at_least(1000),
    ),
    ConfigKey(
        "broker.heartbeat.interval.ms",
        T.INT,
        2000,
        "How often the broker renews its registration lease (and the controller claim, or campaigns for it).",
        at_least(1),
    ),
    ConfigKey(
        "auto.leader.rebalance.enable",
        T.BOOLEAN,
        True,
        "The active controller periodically moves leadership back to preferred replicas (the first of each "
        "partition's replicas) when they are in sync (see leader.imbalance.*).",
    ),
    ConfigKey(
        "leader.imbalance.check.interval.seconds",
        T.LONG,
        300,
        "How often the active controller checks the leader imbalance.",
        at_least(1),
    ),
    ConfigKey(
        "leader.imbalance.per.broker.percentage",
        T.INT,
        10,
        "A broker's partitions are given back to it (preferred leader election) when more than this percentage of "
        "the partitions it is the preferred leader of are led by others.",
        between(0, 100),
    ),
    ConfigKey("shutdown.timeout.ms", T.LONG, 30_000, "Time allowed for in-flight requests at shutdown.", at_least(0)),
    ConfigKey(
        "group.initial.rebalance.delay.ms",
        T.INT,
        3000,
        "How long the coordinator waits for more members before the first rebalance of an empty group.",
        at_least(0),
    ),
    ConfigKey(
        "group.min.session.timeout.ms", T.INT, 6000, "Smallest session.timeout.ms a member may ask for.", at_least(0)
    ),
    ConfigKey(
        "group.max.session.timeout.ms",
        T.INT,
        1_800_000,
        "Largest session.timeout.ms a member may ask for.",
        at_least(0),
    ),
    ConfigKey(
        "group.max.size",
        T.INT,
        2**31 - 1,
        "Most members a classic group may have; a join beyond it gets GROUP_MAX_SIZE_REACHED.",
        at_least(1),
    ),
    ConfigKey(
        "group.consumer.heartbeat.interval.ms",
        T.INT,
        5000,
        "Heartbeat interval given to KIP-848 consumers (group.protocol=consumer) in every ConsumerGroupHeartbeat.",
        at_least(1),
    ),
    ConfigKey(
        "group.consumer.min.heartbeat.interval.ms",
        T.INT,
        5000,
        "Smallest allowed group.consumer.heartbeat.interval.ms.",
        at_least(1),
    ),
    ConfigKey(
        "group.consumer.max.heartbeat.interval.ms",
        T.INT,
        15000,
        "Largest allowed group.consumer.heartbeat.interval.ms.",
        at_least(1),
    ),
    ConfigKey(
        "group.consumer.session.timeout.ms",
        T.INT,
        45000,
        "A KIP-848 consumer group member silent this long is removed from its group (clients do not choose it).",
        at_least(1),
    ),
    ConfigKey(
        "group.consumer.min.session.timeout.ms",
        T.INT,
        45000,
        "Smallest allowed group.consumer.session.timeout.ms.",
        at_least(1),
    ),
    ConfigKey(
        "group.consumer.max.session.timeout.ms",
        T.INT,
        60000,
        "Largest allowed group.consumer.session.timeout.ms.",
        at_least(1),
    ),
    ConfigKey(
        "group.consumer.max.size",
        T.INT,
        2**31 - 1,
        "Most members a KIP-848 consumer group may have; a join beyond it gets GROUP_MAX_SIZE_REACHED.",
        at_least(1),
    ),
    ConfigKey(
        "group.consumer.assignors",
        T.LIST,
        ["uniform", "range"],
        "Server-side assignors of KIP-848 consumer groups (uniform, range, or Kafka's class names of them); the "
        "first is the default, a consumer picks another with group.remote.assignor.",
        lambda value: (
            None
            if isinstance(value, list) and value and all(assignor_name(v) in ("uniform", "range") for v in value)
            else "the assignors are uniform and range"
        ),
    ),
    ConfigKey(
        "group.consumer.migration.policy",
        T.STRING,
        "bidirectional",
        "Which online conversions of a non-empty group between the classic and the consumer protocol are allowed: "
        "bidirectional, upgrade, downgrade or disabled (any case). Upgrade: a consumer-protocol member joining a "
        "classic group converts it, its members staying as classic members; downgrade: the last consumer-protocol "
        "member leaving converts it back (docs/groups.md). An empty group always changes protocol.",
        lambda value: (
            None
            if isinstance(value, str) and value.strip().lower() in ("bidirectional", "upgrade", "downgrade", "disabled")
            else "the policies are bidirectional, upgrade, downgrade and disabled"
        ),
    ),
    ConfigKey(
        "offsets.topic.num.partitions",
        T.INT,
        50,
        "Partitions of __consumer_offsets (fixed once the topic exists).",
        at_least(1),
    ),
    ConfigKey(
        "offsets.topic.replication.factor",
        T.SHORT,
        3,
        "Replication factor of __consumer_offsets (capped at the number of live brokers when it is created).",
        at_least(1),
    ),
    ConfigKey("offsets.topic.segment.bytes", T.INT, 104_857_600, "segment.bytes of __consumer_offsets.", at_least(14)),
    ConfigKey(
        "offsets.retention.minutes",
        T.INT,
        10_080,
        "Committed offsets of a group are kept this long after the group becomes empty (or, for a standalone "
        "consumer, after the commit).",
        at_least(1),
    ),
    ConfigKey(
        "offsets.retention.check.interval.ms",
        T.LONG,
        600_000,
        "How often expired committed offsets are removed.",
        at_least(1),
    ),
    ConfigKey(
        "offset.metadata.max.bytes",
        T.INT,
        4096,
        "Largest metadata string of an offset commit (OFFSET_METADATA_TOO_LARGE above).",
        at_least(0),
    ),
    ConfigKey(
        "producer.id.expiration.ms",
        T.INT,
        86_400_000,
        "How long a partition keeps the state of an idempotent producer (its epoch and last sequences) after "
        "the timestamp of its last batch, unless it has an open transaction; a producer forgotten this way may "
        "start again at any sequence.",
        at_least(1),
    ),
    ConfigKey(
        "producer.id.expiration.check.interval.ms",
        T.INT,
        600_000,
        "How often expired producer ids are removed from every partition's producer state.",
        at_least(1),
    ),
    ConfigKey(
        "transaction.state.log.num.partitions",
        T.INT,
        50,
        "Partitions of __transaction_state (fixed once the topic exists).",
        at_least(1),
    ),
    ConfigKey(
        "transaction.state.log.replication.factor",
        T.SHORT,
        3,
        "Replication factor of __transaction_state (capped at the number of live brokers when it is created).",
        at_least(1),
    ),
    ConfigKey(
        "transaction.state.log.segment.bytes",
        T.INT,
        104_857_600,
        "segment.bytes of __transaction_state.",
        at_least(1),
    ),
    ConfigKey(
        "transaction.state.log.min.isr",
        T.INT,
        2,
        "min.insync.replicas of __transaction_state (capped at its replication factor when it is created).",
        at_least(1),
    ),
    ConfigKey(
        "transaction.max.timeout.ms",
        T.INT,
        900_000,
        "Largest transaction.timeout.ms a producer may ask for (INVALID_TRANSACTION_TIMEOUT above).",
        at_least(1),
    ),
    ConfigKey(
        "transactional.id.expiration.ms",
        T.INT,
        604_800_000,
        "A transactional id with no transaction for this long is removed from __transaction_state.",
        at_least(1),
    ),
    ConfigKey(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        T.INT,
        3_600_000,
        "How often expired transactional ids are removed.",
        at_least(1),
    ),
    ConfigKey(
        "offsets.commit.timeout.ms",
        T.INT,
        5000,
        "How long an offset commit waits for __consumer_offsets to acknowledge the write.",
        at_least(1),
    ),
    *_LOG_DEFAULTS,
    *SECURITY_KEYS,
    *QUOTA_AND_CONNECTION_KEYS,
    *NO_EFFECT_KEYS,
)

BROKER_BY_NAME: Mapping[str, ConfigKey] = {key.name: key for key in BROKER_KEYS}
assert len(BROKER_BY_NAME) == len(BROKER_KEYS), "a broker key is declared twice"

# Keys Kafka can alter at run time (DynamicBrokerConfig) that stay read-only here until their live effect exists:
# altering them answers "Cannot update these configs dynamically" (docs/not-implemented.md).
KAFKA_UPDATE_MODES_NOT_LIVE: Mapping[str, UpdateMode] = {
    "listeners": UpdateMode.PER_BROKER,
    "advertised.listeners": UpdateMode.PER_BROKER,
    "listener.security.protocol.map": UpdateMode.PER_BROKER,
    "log.cleaner.backoff.ms": UpdateMode.CLUSTER_WIDE,
    "producer.id.expiration.ms": UpdateMode.CLUSTER_WIDE,
    "max.connections": UpdateMode.CLUSTER_WIDE,
    "max.connections.per.ip": UpdateMode.CLUSTER_WIDE,
    "max.connections.per.ip.overrides": UpdateMode.CLUSTER_WIDE,
    "max.connection.creation.rate": UpdateMode.CLUSTER_WIDE,
}
assert all(name in BROKER_BY_NAME and not BROKER_BY_NAME[name].dynamic for name in KAFKA_UPDATE_MODES_NOT_LIVE)

# Broker keys that state one setting in different units, highest precedence first (Kafka's brokerConfigSynonyms):
# DescribeConfigs lists them as synonyms of each other, and a dynamic value of one hides the static others.
BROKER_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    ("log.roll.ms", "log.roll.hours"),
    ("log.roll.jitter.ms", "log.roll.jitter.hours"),
)


def broker_synonyms(name: str) -> tuple[str, ...]:
    """The broker keys that are synonyms of `name` (itself included), highest precedence first."""
    return next((group for group in BROKER_SYNONYM_GROUPS if name in group), (name,))
