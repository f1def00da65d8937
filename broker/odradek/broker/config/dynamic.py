"""Dynamic broker configs: which keys may change at run time, how a change is validated, how stored ones load.

Kafka's rules (DynamicBrokerConfig, ConfigAdminManager), in the order Kafka checks them:

- every key must be a declared broker key (Kafka would keep an unknown key as a custom config for plugins;
  Odradek has no plugins and refuses it: `UnknownConfigError`, INVALID_CONFIG "Unknown config name: x");
- a READ_ONLY key refuses the whole resource: "Cannot update these configs dynamically: Set(log.dirs)";
- every value must parse and pass its validator ("Invalid value ... for configuration ...");
- on the cluster-wide default (resource "") a PER_BROKER key is refused: "Cannot update these configs at default
  cluster level, broker id must be specified: Set(...)".

Kafka answers all but the first with INVALID_REQUEST (KAFKA-13609: a ConfigException on a broker resource becomes
InvalidRequestException). Stored values are loaded leniently, as Kafka's `fromPersistentProps`: an entry that no
longer validates is left out and reported, so a bad record cannot stop a broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from odradek.broker.config.definitions import BROKER_BY_NAME, ConfigError, ConfigKey, ConfigValue, UpdateMode
from odradek.broker.protocol.errors import ErrorCode


class UnknownConfigError(ConfigError):
    """A key that is not a broker config at all (INVALID_CONFIG, unlike the other refusals)."""


def kafka_set(names: Iterable[str]) -> str:
    """A set of names the way Kafka's error messages print a Scala Set: `Set(a, b)`."""
    return f"Set({', '.join(sorted(names))})"


def check_known(names: Iterable[str], keys: Mapping[str, ConfigKey] = BROKER_BY_NAME) -> None:
    for name in names:
        if name not in keys:
            raise UnknownConfigError(f"Unknown config name: {name}")


def validate_dynamic(
    raw: Mapping[str, str], per_broker: bool, keys: Mapping[str, ConfigKey] = BROKER_BY_NAME
) -> dict[str, ConfigValue]:
    """Validate one broker resource's whole dynamic config map; returns the parsed values.

    `per_broker` is True for a resource named by a broker id, False for the cluster-wide default ("").
    """
    check_known(raw, keys)
    read_only = [name for name in raw if not keys[name].dynamic]
    if read_only:
        raise ConfigError(f"Cannot update these configs dynamically: {kafka_set(read_only)}")
    parsed = {name: keys[name].parse(text) for name, text in raw.items()}
    if not per_broker:
        per_broker_only = [name for name in raw if keys[name].update_mode is UpdateMode.PER_BROKER]
        if per_broker_only:
            raise ConfigError(
                "Cannot update these configs at default cluster level, broker id must be specified: "
                f"{kafka_set(per_broker_only)}"
            )
    return parsed


def dynamic_refusal(resource_name: str, raw: Mapping[str, str]) -> tuple[ErrorCode, str] | None:
    """Kafka's answer to setting BROKER resource `resource_name` ("" is the cluster-wide default) to the whole map
    `raw`: None if it is valid, else (error code, message), INVALID_CONFIG for an unknown key and INVALID_REQUEST
    for every other refusal."""
    try:
        validate_dynamic(raw, per_broker=resource_name != "")
    except UnknownConfigError as exc:
        return ErrorCode.INVALID_CONFIG, str(exc)
    except ConfigError as exc:
        return ErrorCode.INVALID_REQUEST, str(exc)
    return None


def load_dynamic(raw: Mapping[str, str], per_broker: bool) -> tuple[dict[str, ConfigValue], list[str]]:
    """Stored dynamic configs as values, leaving out (and describing) each entry that does not validate."""
    values: dict[str, ConfigValue] = {}
    problems: list[str] = []
    for name, text in raw.items():
        try:
            values.update(validate_dynamic({name: text}, per_broker))
        except ConfigError as exc:
            problems.append(f"{name}: {exc}")
    return values, problems


__all__ = ["UnknownConfigError", "check_known", "dynamic_refusal", "kafka_set", "load_dynamic", "validate_dynamic"]
