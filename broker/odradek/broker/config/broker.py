"""A broker's configuration: the static one, read the way `kafka-server-start` reads it, and the dynamic layers.

Static sources, lowest precedence first: the declared defaults, an optional Java properties file, environment
variables `ODRADEK_<KEY>` (dots become `_`, a literal `_` is written `__`, so `ODRADEK_LOG_DIRS` sets
`log.dirs`), then `--override key=value` flags. Unknown keys are rejected with the offending key named.

Dynamic broker configs (AlterConfigs on a BROKER resource, kept in the metadata store) sit above the static ones:
the cluster-wide default (resource "") over the static value, this broker's own (resource "<id>") over both, as
Kafka's DynamicBrokerConfig. A dynamic value also hides the static values of its synonyms (`log.retention.ms` set
dynamically wins over a static `log.retention.hours`).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from odradek.broker.config.definitions import (
    BROKER_BY_NAME,
    NO_EFFECT_NAMES,
    SYNONYM_SCALE,
    TOPIC_BY_NAME,
    TOPIC_SYNONYMS,
    ConfigError,
    ConfigKey,
    ConfigValue,
    broker_synonyms,
)

ENV_PREFIX = "ODRADEK_"


class SecurityProtocol(enum.IntEnum):
    """Kafka's SecurityProtocol, with its ids: how a listener's connections are set up and authenticated."""

    PLAINTEXT = 0
    SSL = 1
    SASL_PLAINTEXT = 2
    SASL_SSL = 3

    @classmethod
    def for_name(cls, name: str, config_name: str) -> SecurityProtocol:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ConfigError(f"Invalid security protocol `{name.strip()}` defined in {config_name}") from None


def parse_security_protocol_map(text: str) -> dict[str, SecurityProtocol]:
    """`listener.security.protocol.map`: `NAME:PROTOCOL` pairs separated by commas; names are upper-cased (Kafka's
    ListenerName.normalised) and may appear once each."""
    result: dict[str, SecurityProtocol] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, colon, protocol = item.partition(":")
        if not colon or not name.strip() or not protocol.strip():
            raise ConfigError(
                f"Error parsing configuration property '{PROTOCOL_MAP_KEY}': entry {item!r} is not NAME:PROTOCOL"
            )
        key = name.strip().upper()
        if key in result:
            raise ConfigError(f"Error parsing configuration property '{PROTOCOL_MAP_KEY}': {key} appears twice")
        result[key] = SecurityProtocol.for_name(protocol, PROTOCOL_MAP_KEY)
    return result


PROTOCOL_MAP_KEY = "listener.security.protocol.map"


@dataclass(frozen=True, slots=True)
class Listener:
    """One `NAME://host:port` of `listeners` or `advertised.listeners`, with the security protocol its name maps
    to in `listener.security.protocol.map`. An empty host binds every interface (0.0.0.0)."""

    name: str
    host: str
    port: int
    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT

    @classmethod
    def parse(cls, text: str, protocols: Mapping[str, SecurityProtocol]) -> Listener:
        name, sep, address = text.partition("://")
        host, colon, port = address.rpartition(":")
        if not sep or not name or not colon or not port.isdigit():
            raise ConfigError(f"Unable to parse {text} to a broker endpoint: expected NAME://host:port")
        name = name.upper()
        protocol = protocols.get(name)
        if protocol is None:
            raise ConfigError(f"No security protocol defined for listener {name} (see {PROTOCOL_MAP_KEY})")
        return cls(name, host.strip("[]") or "0.0.0.0", int(port), protocol)


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Static values (`explicit`) over the declared defaults, under the dynamic layers; `get` answers for any
    declared key with the value in force (`effective` holds every set value after the layers are merged)."""

    explicit: Mapping[str, ConfigValue] = field(default_factory=dict)
    dynamic_default: Mapping[str, ConfigValue] = field(default_factory=dict)
    dynamic_broker: Mapping[str, ConfigValue] = field(default_factory=dict)
    effective: Mapping[str, ConfigValue] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        merged = dict(self.explicit)
        for layer in (self.dynamic_default, self.dynamic_broker):
            for name, value in layer.items():
                for synonym in broker_synonyms(name):
                    merged.pop(synonym, None)
                merged[name] = value
        object.__setattr__(self, "effective", merged)

    def get(self, name: str) -> ConfigValue:
        if name in self.effective:
            return self.effective[name]
        return BROKER_BY_NAME[name].default

    def listener_get(self, listener: str, name: str) -> ConfigValue:
        """A per-listener key for one listener: `listener.name.<listener>.<name>` if set, else `name`."""
        prefixed = listener_prefix(listener) + name
        if prefixed in self.effective:
            return self.effective[prefixed]
        return self.get(name)

    def listener_is_set(self, listener: str, name: str) -> bool:
        return listener_prefix(listener) + name in self.effective

    def listener_mechanism_get(self, listener: str, mechanism: str, name: str) -> ConfigValue:
        """A per-mechanism key (one of `MECHANISM_KEYS`) for one listener's SASL mechanism:
        `listener.name.<listener>.<mechanism in lower case>.<name>` if set, else `listener_get` (Kafka's order for
        JAAS entries and for `connections.max.reauth.ms`)."""
        prefixed = f"{listener_prefix(listener)}{mechanism.lower()}.{name}"
        if prefixed in self.effective:
            return self.effective[prefixed]
        return self.listener_get(listener, name)

    def jaas_config(self, listener: str, mechanism: str) -> str | None:
        """`listener.name.<listener>.<mechanism>.sasl.jaas.config`, else the listener's or the broker's
        `sasl.jaas.config` (Kafka's JaasContext.loadServerContext order, without a static JAAS file)."""
        value = self.listener_mechanism_get(listener, mechanism, JAAS_KEY)
        return value if isinstance(value, str) else None

    def get_int(self, name: str) -> int:
        value = self.get(name)
        assert isinstance(value, int), name
        return value

    def get_bool(self, name: str) -> bool:
        value = self.get(name)
        assert isinstance(value, bool), name
        return value

    def get_str(self, name: str) -> str | None:
        value = self.get(name)
        assert value is None or isinstance(value, str), name
        return value

    @property
    def node_id(self) -> int:
        legacy = self.get("broker.id")
        return legacy if isinstance(legacy, int) and "node.id" not in self.explicit else self.get_int("node.id")

    @property
    def log_dirs(self) -> list[Path]:
        dirs = self.get("log.dirs")
        if isinstance(dirs, list) and dirs:
            return [Path(d) for d in dirs]
        return [Path(self.get_str("log.dir") or "./data")]

    @property
    def listener_security_protocol_map(self) -> dict[str, SecurityProtocol]:
        return parse_security_protocol_map(self.get_str(PROTOCOL_MAP_KEY) or "")

    @property
    def listeners(self) -> list[Listener]:
        value = self.get("listeners")
        assert isinstance(value, list)
        protocols = self.listener_security_protocol_map
        return [Listener.parse(item, protocols) for item in value]

    @property
    def advertised_listeners(self) -> list[Listener]:
        value = self.get("advertised.listeners")
        if not value:
            return self.listeners
        assert isinstance(value, list)
        protocols = self.listener_security_protocol_map
        return [Listener.parse(item, protocols) for item in value]

    @property
    def inter_broker_listener(self) -> tuple[str, SecurityProtocol]:
        """The listener brokers use to talk to each other and its security protocol (Kafka's
        getInterBrokerListenerNameAndSecurityProtocol): `inter.broker.listener.name` if set, else the listener named
        after `security.inter.broker.protocol`."""
        name = self.get_str("inter.broker.listener.name")
        if name is None:
            protocol = SecurityProtocol.for_name(
                self.get_str("security.inter.broker.protocol") or "", "security.inter.broker.protocol"
            )
            return protocol.name, protocol
        if "security.inter.broker.protocol" in self.explicit:
            raise ConfigError(
                "Only one of inter.broker.listener.name and security.inter.broker.protocol should be set."
            )
        found = self.listener_security_protocol_map.get(name.strip().upper())
        if found is None:
            raise ConfigError(
                f"Listener with name {name.strip().upper()} defined in inter.broker.listener.name not found in "
                f"{PROTOCOL_MAP_KEY}."
            )
        return name.strip().upper(), found

    @property
    def rack(self) -> str | None:
        return self.get_str("broker.rack") or self.get_str("rack")

    def topic_default(self, topic_key: str) -> tuple[ConfigValue, str | None]:
        """The broker-level default of a topic key and the broker key it came from (None: built-in default)."""
        for synonym in TOPIC_SYNONYMS[topic_key]:
            if synonym in self.effective and self.effective[synonym] is not None:
                return _scaled(synonym, self.effective[synonym]), synonym
        for synonym in TOPIC_SYNONYMS[topic_key][1:]:
            default = BROKER_BY_NAME[synonym].default
            if default is not None:
                return _scaled(synonym, default), None
        return TOPIC_BY_NAME[topic_key].default, None

    def no_effect_keys(self) -> list[str]:
        """The keys set (in any layer) that Kafka knows and Odradek has no use for (config/kafka_keys.py)."""
        return sorted(name for name in self.effective if name in NO_EFFECT_NAMES)

    def with_overrides(self, values: Mapping[str, ConfigValue]) -> BrokerConfig:
        return BrokerConfig({**self.explicit, **values}, self.dynamic_default, self.dynamic_broker)

    def with_dynamic(self, default: Mapping[str, ConfigValue], broker: Mapping[str, ConfigValue]) -> BrokerConfig:
        """The same static configuration under new dynamic layers (cluster-wide default, this broker's own)."""
        return BrokerConfig(self.explicit, dict(default), dict(broker))


def _scaled(name: str, value: ConfigValue) -> ConfigValue:
    scale = SYNONYM_SCALE.get(name)
    if scale is None or not isinstance(value, int) or value < 0:
        return value
    return value * scale


def parse_properties(text: str) -> dict[str, str]:
    """Java `.properties` syntax: `key=value` or `key: value`, `#`/`!` comments, `\\` line continuations."""
    result: dict[str, str] = {}
    pending = ""
    for raw_line in text.splitlines():
        line = pending + raw_line.strip()
        pending = ""
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1]
            continue
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        key, value = (line, "") if cut < 0 else (line[:cut], line[cut + 1 :])
        result[key.strip()] = value.strip()
    return result


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX):
            key = name[len(ENV_PREFIX) :].lower().replace("__", "\0").replace("_", ".").replace("\0", "_")
            result[key] = value
    return result


def parse_override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"Invalid override {text!r}: expected key=value")
    return key.strip(), value


def build(raw_layers: Iterable[Mapping[str, str]]) -> BrokerConfig:
    """Merge raw string layers (later wins), reject unknown keys, parse and validate every value."""
    merged: dict[str, str] = {}
    for layer in raw_layers:
        merged.update(layer)
    unknown = sorted(key for key in merged if declared_key(key) is None)
    if unknown:
        raise ConfigError(
            f"Unknown configuration key(s): {', '.join(unknown)} (see docs/configuration.md for the keys)"
        )
    explicit: dict[str, ConfigValue] = {}
    for key, raw in merged.items():
        declared = declared_key(key)
        assert declared is not None
        explicit[key] = declared.parse(raw)
    config = BrokerConfig(explicit)
    _validate_listeners(config)
    return config


LISTENER_PREFIX = "listener.name."
JAAS_KEY = "sasl.jaas.config"
REAUTH_KEY = "connections.max.reauth.ms"
CALLBACK_HANDLER_KEY = "sasl.server.callback.handler.class"
MECHANISM_KEYS = (JAAS_KEY, REAUTH_KEY, CALLBACK_HANDLER_KEY)  # also `listener.name.<listener>.<mechanism>.<key>`


def listener_prefix(listener: str) -> str:
    """Kafka's ListenerName.configPrefix: `listener.name.<name in lower case>.`."""
    return f"{LISTENER_PREFIX}{listener.lower()}."


def declared_key(name: str) -> ConfigKey | None:
    """The declaration of a key as written: a broker key, `listener.name.<listener>.<per-listener key>`, or
    `listener.name.<listener>.<mechanism>.<key>` for the `MECHANISM_KEYS`; None if it is none of them."""
    key = BROKER_BY_NAME.get(name)
    if key is not None or not name.startswith(LISTENER_PREFIX):
        return key
    listener, dot, rest = name[len(LISTENER_PREFIX) :].partition(".")
    if not listener or not dot:
        return None
    key = BROKER_BY_NAME.get(rest)
    for mechanism_key in MECHANISM_KEYS:
        if key is None and rest.endswith("." + mechanism_key):
            key = BROKER_BY_NAME[mechanism_key]
    return key if key is not None and key.per_listener else None


def _validate_listeners(config: BrokerConfig) -> None:
    """Kafka's listener checks (KafkaConfig.validateValues, SocketServerConfigs): every listener name mapped to a
    security protocol, names and ports unique among `listeners`, advertised names a subset of them, the
    inter-broker listener among the advertised ones."""
    listeners, advertised = config.listeners, config.advertised_listeners
    for listener in listeners + advertised:
        if not 0 <= listener.port <= 65535:
            raise ConfigError(f"Invalid listener port {listener.port}")
    names = [listener.name for listener in listeners]
    if len(set(names)) != len(names):
        raise ConfigError(f"Each listener must have a different name, listeners: {','.join(names)}")
    ports = [listener.port for listener in listeners if listener.port != 0]
    if len(set(ports)) != len(ports):
        raise ConfigError(f"Each listener must have a different port, listeners: {','.join(names)}")
    advertised_names = {listener.name for listener in advertised}
    if not advertised_names <= set(names):
        raise ConfigError(
            "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners. "
            f"Found {','.join(sorted(advertised_names))}. The valid options based on the current configuration are "
            f"{','.join(names)}"
        )
    inter_broker, _ = config.inter_broker_listener
    if inter_broker not in advertised_names:
        raise ConfigError(
            "inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options "
            f"based on currently configured listeners are {','.join(sorted(advertised_names))}"
        )


def load(
    properties_file: str | None, overrides: Iterable[str], environ: Mapping[str, str] | None = None
) -> BrokerConfig:
    layers: list[Mapping[str, str]] = []
    if properties_file:
        try:
            layers.append(parse_properties(Path(properties_file).read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(f"Cannot read {properties_file}: {exc.strerror}") from None
    layers.append(env_overrides(os.environ if environ is None else environ))
    layers.append(dict(parse_override(item) for item in overrides))
    return build(layers)
