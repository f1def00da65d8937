"""StringConverter, ByteArrayConverter and SimpleHeaderConverter (Kafka's org.apache.kafka.connect.storage and
.converters classes of the same names).

Byte formats:
- StringConverter: the value's text (`str()`, booleans as `true`/`false`) in `converter.encoding` (default UTF-8);
  reads back as an optional STRING.
- ByteArrayConverter: the bytes themselves; only BYTES (or schemaless bytes) can be written. Reads back as optional
  BYTES.
- SimpleHeaderConverter: header values as UTF-8 text: primitives as StringConverter, arrays and maps as compact JSON;
  read back with type inference as Kafka's Values.parseString: `true`/`false` -> BOOLEAN, integers -> the smallest of
  INT8/16/32/64 that holds them, decimals -> FLOAT64, a JSON array or object -> ARRAY or MAP, anything else STRING.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from odradek.connect.api.data import (
    NULL_SCHEMA_AND_VALUE,
    OPTIONAL_BYTES_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    Schema,
    SchemaAndValue,
    Struct,
    Type,
    primitive,
)
from odradek.connect.api.errors import DataException
from odradek.connect.config.configdef import ConfigDef, ConfigType, Importance, ValidString


def _text(value: Any) -> str:
    if type(value) is str:  # the common case first (str() of a str is itself)
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Struct):
        return json.dumps(value.as_dict(), separators=(",", ":"), default=str)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _encoding_def() -> ConfigDef:
    return (
        ConfigDef()
        .define(
            "converter.encoding",
            ConfigType.STRING,
            "UTF8",
            None,
            Importance.HIGH,
            "The name of the character encoding used to turn strings into bytes and back.",
        )
        .define(
            "converter.type",
            ConfigType.STRING,
            "value",
            ValidString.in_("key", "value", "header"),
            Importance.LOW,
            "How this converter is used: key, value or header.",
        )
    )


def _python_encoding(name: str) -> str:
    """Java charset names (UTF8, UTF-8, ISO-8859-1, US-ASCII) to Python codec names."""
    lowered = name.lower().replace("_", "-")
    return {"utf8": "utf-8", "us-ascii": "ascii"}.get(lowered, lowered)


class StringConverter:
    def __init__(self) -> None:
        self.encoding = "utf-8"

    def config(self) -> ConfigDef:
        return _encoding_def()

    def configure(self, configs: Mapping[str, Any], is_key: bool = False) -> None:
        self.encoding = _python_encoding(str(configs.get("converter.encoding", "UTF8")))

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        try:
            return _text(value).encode(self.encoding)
        except UnicodeEncodeError as exc:
            raise DataException(f"Failed to serialize to a string: {exc}") from exc

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue:
        if value is None:
            return SchemaAndValue(OPTIONAL_STRING_SCHEMA, None)
        try:
            return SchemaAndValue(OPTIONAL_STRING_SCHEMA, value.decode(self.encoding))
        except UnicodeDecodeError as exc:
            raise DataException(f"Failed to deserialize string: {exc}") from exc

    # HeaderConverter side, as Kafka's StringConverter also is one.
    def from_connect_header(self, topic: str, header_key: str, schema: Schema | None, value: Any) -> bytes | None:
        return self.from_connect_data(topic, schema, value)

    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue:
        return self.to_connect_data(topic, value)


def direct_reading(converter: object) -> tuple[Schema, str | None] | None:
    """How a sink task may read a record part without calling `converter.to_connect_data` (no SchemaAndValue).

    `(schema, encoding)` for StringConverter (the value is `raw.decode(encoding)`, None for None) and
    `(OPTIONAL_BYTES_SCHEMA, None)` for ByteArrayConverter (the value is the bytes themselves): exactly what their
    `to_connect_data` returns, except that a decode error is raised as UnicodeDecodeError, upon which the caller
    must convert the record through `to_connect_data` (its DataException). None for any other converter, subclasses
    included (they may override `to_connect_data`)."""
    if type(converter) is StringConverter:
        return OPTIONAL_STRING_SCHEMA, converter.encoding
    if type(converter) is ByteArrayConverter:
        return OPTIONAL_BYTES_SCHEMA, None
    return None


def passes_bytes(converter: object) -> bool:
    """Whether `converter.from_connect_data(topic, schema, value)` is `value` itself when `value` is None or of type
    bytes and `schema` None or of type BYTES: true of ByteArrayConverter (not of subclasses), so a source task may
    skip the call for such values (Mirror's records)."""
    return type(converter) is ByteArrayConverter


class ByteArrayConverter:
    def config(self) -> ConfigDef:
        return _encoding_def()

    def configure(self, configs: Mapping[str, Any], is_key: bool = False) -> None:
        pass

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if schema is not None and schema.type is not Type.BYTES:
            raise DataException(f"Invalid schema type for ByteArrayConverter: {schema.type.name}")
        if value is not None and not isinstance(value, bytes | bytearray | memoryview):
            raise DataException(f"ByteArrayConverter is not compatible with objects of type {type(value).__name__}")
        return None if value is None else bytes(value)

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue:
        return SchemaAndValue(OPTIONAL_BYTES_SCHEMA, value)

    def from_connect_header(self, topic: str, header_key: str, schema: Schema | None, value: Any) -> bytes | None:
        return self.from_connect_data(topic, schema, value)

    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue:
        return self.to_connect_data(topic, value)


_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


def parse_string(text: str) -> SchemaAndValue:
    """Kafka's Values.parseString, for the cases header values use (see the module docstring)."""
    stripped = text.strip()
    if stripped.lower() in ("true", "false"):
        return SchemaAndValue(primitive(Type.BOOLEAN), stripped.lower() == "true")
    if _INTEGER.fullmatch(stripped):
        number = int(stripped)
        for type_, bits in ((Type.INT8, 8), (Type.INT16, 16), (Type.INT32, 32), (Type.INT64, 64)):
            if -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
                return SchemaAndValue(primitive(type_), number)
        return SchemaAndValue(OPTIONAL_STRING_SCHEMA, text)
    if _DECIMAL.fullmatch(stripped):
        return SchemaAndValue(primitive(Type.FLOAT64), float(stripped))
    if stripped[:1] in ("[", "{"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return SchemaAndValue(OPTIONAL_STRING_SCHEMA, text)
        return SchemaAndValue(None, parsed)
    return SchemaAndValue(OPTIONAL_STRING_SCHEMA, text)


class SimpleHeaderConverter:
    def config(self) -> ConfigDef:
        return ConfigDef()

    def configure(self, configs: Mapping[str, Any]) -> None:
        pass

    def from_connect_header(self, topic: str, header_key: str, schema: Schema | None, value: Any) -> bytes | None:
        return None if value is None else _text(value).encode("utf-8")

    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue:
        if value is None:
            return NULL_SCHEMA_AND_VALUE
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return SchemaAndValue(OPTIONAL_BYTES_SCHEMA, value)
        return parse_string(text) if text else SchemaAndValue(OPTIONAL_STRING_SCHEMA, text)
