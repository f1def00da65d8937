"""Kafka's ConfigDef: typed configuration keys with defaults, validators, recommenders, groups and documentation.

Values arrive as strings (properties files, REST JSON) or already typed; `parse` turns a map of them into typed values
or raises `ConfigException`; `validate` never raises and returns one `ConfigValue` per declared key, the shape the
REST API serves as ConfigInfos (`config_infos`). Error texts are Kafka's, since users grep for them:
- parse failure: `Invalid value <v> for configuration <name>: <reason>`;
- missing key: `Missing required configuration "<name>" which has no default value.`

Type parsing follows Kafka's ConfigDef.parseType: BOOLEAN accepts `true`/`false` in any case; INT, SHORT and LONG are
range-checked Java integers; LIST splits on commas with surrounding whitespace trimmed (`""` is the empty list);
CLASS keeps the class name (plugins are resolved by `odradek.connect.plugins`); PASSWORD wraps the value in
`Password`, whose str() is `[hidden]`, so that secrets never reach logs or REST responses.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class ConfigException(Exception):
    """A bad configuration value; `ConfigException(name, value, reason)` words the message as Kafka does."""

    def __init__(self, name: str, value: Any = None, message: str | None = None, *, plain: bool = False) -> None:
        if plain:
            text = name
        else:
            text = f"Invalid value {java_str(value)} for configuration {name}" + (f": {message}" if message else "")
        super().__init__(text)
        self.config_name = name


class ConfigType(enum.Enum):
    BOOLEAN = "BOOLEAN"
    STRING = "STRING"
    INT = "INT"
    SHORT = "SHORT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    LIST = "LIST"
    CLASS = "CLASS"
    PASSWORD = "PASSWORD"


class Importance(enum.Enum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Width(enum.Enum):
    NONE = "NONE"
    SHORT = "SHORT"
    MEDIUM = "MEDIUM"
    LONG = "LONG"


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT_VALUE"


NO_DEFAULT_VALUE: Any = _NoDefault()


@dataclass(frozen=True, slots=True)
class Password:
    """A secret value; printed as `[hidden]` everywhere (Kafka's Password)."""

    value: str

    HIDDEN = "[hidden]"

    def __str__(self) -> str:
        return self.HIDDEN

    def __repr__(self) -> str:
        return self.HIDDEN


def java_str(value: Any) -> str:
    """How Java's toString would print a parsed config value (lists as `[a, b]`, booleans lower case)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    return str(value)


def convert_to_string(value: Any, type_: ConfigType | None) -> str | None:
    """Kafka's ConfigDef.convertToString: the text form used in ConfigInfos (`[hidden]` for passwords)."""
    if value is None:
        return None
    if isinstance(value, Password):
        return Password.HIDDEN
    if type_ is ConfigType.LIST and isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Validator(Protocol):
    def __call__(self, name: str, value: Any) -> None:
        """Raise ConfigException when `value` (already parsed) is not acceptable."""

    def __str__(self) -> str: ...


class Recommender(Protocol):
    def valid_values(self, name: str, parsed: Mapping[str, Any]) -> list[Any]: ...

    def visible(self, name: str, parsed: Mapping[str, Any]) -> bool: ...


@dataclass(frozen=True, slots=True)
class Range:
    """Numeric bounds, inclusive (Kafka's ConfigDef.Range: `at_least`, `between`)."""

    min: float | None = None
    max: float | None = None

    @classmethod
    def at_least(cls, minimum: float) -> Range:
        return cls(minimum, None)

    @classmethod
    def between(cls, minimum: float, maximum: float) -> Range:
        return cls(minimum, maximum)

    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            raise ConfigException(name, value, "Value must be non-null")
        if self.min is not None and value < self.min:
            raise ConfigException(name, value, f"Value must be at least {_num(self.min)}")
        if self.max is not None and value > self.max:
            raise ConfigException(name, value, f"Value must be no more than {_num(self.max)}")

    def __str__(self) -> str:
        if self.max is None:
            return f"[{_num(self.min)},...]"
        if self.min is None:
            return f"[...,{_num(self.max)}]"
        return f"[{_num(self.min)},...,{_num(self.max)}]"


def _num(value: float | None) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


@dataclass(frozen=True, slots=True)
class ValidString:
    """One of a fixed set of strings (Kafka's ValidString; `case_insensitive` is CaseInsensitiveValidString)."""

    valid: tuple[str, ...]
    case_insensitive: bool = False

    @classmethod
    def in_(cls, *valid: str) -> ValidString:
        return cls(tuple(valid))

    @classmethod
    def in_case_insensitive(cls, *valid: str) -> ValidString:
        return cls(tuple(valid), True)

    def __call__(self, name: str, value: Any) -> None:
        if self.case_insensitive:
            if value is None or str(value).upper() not in {v.upper() for v in self.valid}:
                raise ConfigException(name, value, "String must be one of (case insensitive): " + ", ".join(self.valid))
        elif value not in self.valid:
            raise ConfigException(name, value, "String must be one of: " + ", ".join(self.valid))

    def __str__(self) -> str:
        return "[" + ", ".join(self.valid) + "]"


@dataclass(frozen=True, slots=True)
class ValidList:
    """Every element of a LIST in a fixed set (Kafka's ValidList)."""

    valid: tuple[str, ...]

    def __call__(self, name: str, value: Any) -> None:
        for item in value or ():
            if item not in self.valid:
                raise ConfigException(
                    name,
                    value,
                    "Invalid value "
                    + str(item)
                    + " for configuration "
                    + name
                    + ": String must be one of: "
                    + ", ".join(self.valid),
                )

    def __str__(self) -> str:
        return "[" + ", ".join(self.valid) + "]"


@dataclass(frozen=True, slots=True)
class NonEmptyString:
    def __call__(self, name: str, value: Any) -> None:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConfigException(name, value, "String must be non-empty")

    def __str__(self) -> str:
        return "non-empty string"


@dataclass(frozen=True, slots=True)
class NonEmptyList:
    """A LIST with at least one element (Kafka's NonEmptyListValidator)."""

    def __call__(self, name: str, value: Any) -> None:
        if not value:
            raise ConfigException(name, value, "Empty list")

    def __str__(self) -> str:
        return "non-empty list"


@dataclass(frozen=True, slots=True)
class NonNullValidator:
    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            raise ConfigException(name, value, "Value must be non-null")

    def __str__(self) -> str:
        return "non-null"


@dataclass(frozen=True, slots=True)
class LambdaValidator:
    """A validator from a function raising ConfigException, with its documentation string."""

    check: Callable[[str, Any], None]
    description: str

    def __call__(self, name: str, value: Any) -> None:
        self.check(name, value)

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True, slots=True)
class CompositeValidator:
    validators: tuple[Validator, ...]

    @classmethod
    def of(cls, *validators: Validator) -> CompositeValidator:
        return cls(tuple(validators))

    def __call__(self, name: str, value: Any) -> None:
        for validator in self.validators:
            validator(name, value)

    def __str__(self) -> str:
        return ", ".join(str(v) for v in self.validators)


@dataclass(frozen=True, slots=True)
class ConfigKey:
    name: str
    type: ConfigType
    default: Any
    validator: Validator | None
    importance: Importance
    documentation: str
    group: str | None = None
    order_in_group: int = -1
    width: Width = Width.NONE
    display_name: str | None = None
    dependents: tuple[str, ...] = ()
    recommender: Recommender | None = None
    internal: bool = False

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT_VALUE


@dataclass(slots=True)
class ConfigValue:
    """The validation result of one key (Kafka's ConfigValue); `errors` empty means valid."""

    name: str
    value: Any = None
    recommended_values: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    visible: bool = True


_LIST_SPLIT = re.compile(r"\s*,\s*")
_INT_BITS = {ConfigType.SHORT: 16, ConfigType.INT: 32, ConfigType.LONG: 64}


def parse_type(name: str, value: Any, type_: ConfigType) -> Any:
    """Kafka's ConfigDef.parseType: a raw value (string or typed) to the Python value of `type_`."""
    if value is None:
        return None
    if type_ is ConfigType.BOOLEAN:
        return _parse_boolean(name, value)
    if type_ is ConfigType.PASSWORD:
        if isinstance(value, Password):
            return value
        if isinstance(value, str):
            return Password(value)
        raise ConfigException(name, value, "Expected value to be a string, but it was a " + type(value).__name__)
    if type_ in (ConfigType.STRING, ConfigType.CLASS):
        if isinstance(value, str):
            return value.strip()
        if type_ is ConfigType.CLASS and isinstance(value, type):
            return f"{value.__module__}.{value.__qualname__}"
        raise ConfigException(name, value, "Expected value to be a string, but it was a " + type(value).__name__)
    if type_ in _INT_BITS:
        return _parse_integer(name, value, type_)
    if type_ is ConfigType.DOUBLE:
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ConfigException(name, value, "Not a number of type DOUBLE") from None
    if isinstance(value, list | tuple):
        return [str(v).strip() if isinstance(v, str) else v for v in value]
    if isinstance(value, str):
        trimmed = value.strip()
        return [] if not trimmed else _LIST_SPLIT.split(trimmed)
    raise ConfigException(name, value, "Expected a comma separated list.")


def _parse_boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    raise ConfigException(name, value, "Expected value to be either true or false")


def _parse_integer(name: str, value: Any, type_: ConfigType) -> int:
    try:
        if isinstance(value, bool | float):
            raise ValueError
        number = int(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ConfigException(name, value, f"Not a number of type {type_.value}") from None
    bits = _INT_BITS[type_]
    if not -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
        raise ConfigException(name, value, f"Not a number of type {type_.value}")
    return number


CrossKeyChecks = Callable[[Mapping[str, Any]], dict[str, str]]


class ConfigDef:
    """An ordered set of ConfigKey declarations. `define` returns self so that declarations chain, as in Kafka."""

    def __init__(self, keys: Iterable[ConfigKey] = ()) -> None:
        self.keys: dict[str, ConfigKey] = {}
        for key in keys:
            self.define_key(key)

    def define_key(self, key: ConfigKey) -> ConfigDef:
        if key.name in self.keys:
            raise ValueError(f"Configuration {key.name} is defined twice.")
        if key.has_default and key.default is not None:
            parsed = parse_type(key.name, key.default, key.type)
            if key.validator is not None:
                key.validator(key.name, parsed)
        self.keys[key.name] = key
        return self

    def define(
        self,
        name: str,
        type_: ConfigType,
        default: Any = NO_DEFAULT_VALUE,
        validator: Validator | None = None,
        importance: Importance = Importance.MEDIUM,
        documentation: str = "",
        group: str | None = None,
        order_in_group: int = -1,
        width: Width = Width.NONE,
        display_name: str | None = None,
        dependents: Sequence[str] = (),
        recommender: Recommender | None = None,
    ) -> ConfigDef:
        return self.define_key(
            ConfigKey(
                name,
                type_,
                default,
                validator,
                importance,
                documentation,
                group,
                order_in_group,
                width,
                display_name or name,
                tuple(dependents),
                recommender,
            )
        )

    def merged(self, other: ConfigDef) -> ConfigDef:
        """A new ConfigDef with this one's keys then `other`'s (keys already present are kept from this one)."""
        out = ConfigDef(self.keys.values())
        for key in other.keys.values():
            if key.name not in out.keys:
                out.define_key(key)
        return out

    def names(self) -> list[str]:
        return list(self.keys)

    @property
    def groups(self) -> list[str]:
        seen: dict[str, None] = {}
        for key in self.keys.values():
            if key.group:
                seen.setdefault(key.group, None)
        return list(seen)

    def default_values(self) -> dict[str, Any]:
        return {k.name: parse_type(k.name, k.default, k.type) for k in self.keys.values() if k.has_default}

    def parse(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Typed values of every declared key; raises ConfigException for the first bad or missing one."""
        out: dict[str, Any] = {}
        for key in self.keys.values():
            out[key.name] = self._parse_value(key, props.get(key.name), key.name in props)
        return out

    def _parse_value(self, key: ConfigKey, raw: Any, present: bool) -> Any:
        if present and raw is not None:
            value = parse_type(key.name, raw, key.type)
        elif not key.has_default:
            raise ConfigException(
                f'Missing required configuration "{key.name}" which has no default value.', plain=True
            )
        else:
            value = parse_type(key.name, key.default, key.type)
        if key.validator is not None:
            key.validator(key.name, value)
        return value

    def parse_checked(self, props: Mapping[str, Any], checks: CrossKeyChecks) -> dict[str, Any]:
        """`parse`, then the rules between keys (`checks`: key -> message for each broken one); the first broken
        rule raises ConfigException naming its key, as a connector's start refuses a config."""
        parsed = self.parse(props)
        errors = checks(parsed)
        if errors:
            name, message = next(iter(errors.items()))
            raise ConfigException(name, parsed.get(name), message)
        return parsed

    def validate_checked(self, props: Mapping[str, Any], checks: CrossKeyChecks) -> list[ConfigValue]:
        """`validate`, with each broken rule between keys added to its key's errors (the validate endpoint)."""
        values = self.validate(props)
        parsed = {v.name: v.value for v in values}
        by_name = {v.name: v for v in values}
        for name, message in checks(parsed).items():
            by_name[name].errors.append(str(ConfigException(name, parsed.get(name), message)))
        return values

    def validate(self, props: Mapping[str, Any]) -> list[ConfigValue]:
        """One ConfigValue per declared key, in declaration order (Kafka's ConfigDef.validate); never raises."""
        results: dict[str, ConfigValue] = {}
        parsed: dict[str, Any] = {}
        for key in self.keys.values():
            result = ConfigValue(key.name)
            try:
                parsed[key.name] = self._parse_value(key, props.get(key.name), key.name in props)
                result.value = parsed[key.name]
            except ConfigException as exc:
                result.errors.append(str(exc))
                parsed[key.name] = None
            results[key.name] = result
        for key in self.keys.values():
            if key.recommender is not None:
                result = results[key.name]
                try:
                    result.recommended_values = list(key.recommender.valid_values(key.name, parsed))
                    result.visible = key.recommender.visible(key.name, parsed)
                except ConfigException as exc:
                    result.errors.append(str(exc))
        return list(results.values())


def config_key_info(key: ConfigKey) -> dict[str, Any]:
    """Kafka's ConfigKeyInfo JSON (`GET /connector-plugins/{p}/config`, the `definition` of a validate answer)."""
    return {
        "name": key.name,
        "type": key.type.value,
        "required": not key.has_default,
        "default_value": convert_to_string(key.default, key.type) if key.has_default else None,
        "importance": key.importance.value,
        "documentation": key.documentation,
        "group": key.group,
        "order": key.order_in_group,
        "width": key.width.value,
        "display_name": key.display_name or key.name,
        "dependents": list(key.dependents),
    }


def config_value_info(value: ConfigValue, type_: ConfigType) -> dict[str, Any]:
    """Kafka's ConfigValueInfo JSON (the `value` of a validate answer); passwords shown as `[hidden]`."""
    return {
        "name": value.name,
        "value": convert_to_string(value.value, type_),
        "recommended_values": [convert_to_string(v, type_) for v in value.recommended_values],
        "errors": list(value.errors),
        "visible": value.visible,
    }


def config_infos(name: str, definition: ConfigDef, values: Sequence[ConfigValue]) -> dict[str, Any]:
    """Kafka's ConfigInfos JSON: `{"name", "error_count", "groups", "configs": [{"definition", "value"}]}`.

    Values for keys that `definition` does not declare (e.g. a connector's own validate() adding one) are listed
    with `"definition": null`, as Kafka's AbstractHerder does for undefined keys.
    """
    configs = []
    for value in values:
        key = definition.keys.get(value.name)
        type_ = key.type if key is not None else ConfigType.STRING
        configs.append({"definition": config_key_info(key) if key else None, "value": config_value_info(value, type_)})
    return {
        "name": name,
        "error_count": sum(len(v.errors) for v in values),
        "groups": definition.groups,
        "configs": configs,
    }
