"""Kafka's JsonConverter (org.apache.kafka.connect.json.JsonConverter), byte for byte where it matters.

Byte format, compact JSON in UTF-8 (Jackson's output: no spaces, non-ASCII kept as UTF-8):
- `schemas.enable=true` (the default): the envelope `{"schema":<schema>,"payload":<value>}`, where a schema is
  `{"type":"struct","fields":[{"type":"int32","optional":false,"field":"a"}],"optional":false,"name":...}`: first
  `type`, then `items` (array) / `keys`,`values` (map) / `fields` (struct, each field's schema then `"field"`), then
  `optional`, then `name`, `version`, `doc`, `parameters`, `default` when set. Reading requires exactly those two
  top-level fields (Kafka's error text otherwise).
- `schemas.enable=false`: the bare value. Read back without a schema: integers as INT64 `int`, other numbers as
  FLOAT64, objects as `dict`.
- BYTES are base64 (standard alphabet, padded). Maps with STRING keys are JSON objects, other maps arrays of
  `[key, value]` pairs. Logical types: Timestamp as epoch ms, Date as days, Time as ms of the day, Decimal as base64 of
  the unscaled two's-complement bytes (`decimal.format=BASE64`, the default) or a JSON number (`NUMERIC`).
- A null schema with a null value (a tombstone) is written as no bytes at all (None).
- `replace.null.with.default=true` (the default) writes a null field as its schema default, as Kafka does.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from collections.abc import Mapping
from typing import Any

from odradek.connect.api.data import (
    DATE_LOGICAL_NAME,
    DECIMAL_LOGICAL_NAME,
    DECIMAL_SCALE_PARAMETER,
    EPOCH,
    NULL_SCHEMA_AND_VALUE,
    TIME_LOGICAL_NAME,
    TIMESTAMP_LOGICAL_NAME,
    Schema,
    SchemaAndValue,
    SchemaBuilder,
    Struct,
    Type,
    infer_type,
)
from odradek.connect.api.errors import DataException
from odradek.connect.config.configdef import ConfigDef, ConfigType, Importance, Range, ValidString

_TYPE_NAMES = {
    Type.BOOLEAN: "boolean",
    Type.INT8: "int8",
    Type.INT16: "int16",
    Type.INT32: "int32",
    Type.INT64: "int64",
    Type.FLOAT32: "float",
    Type.FLOAT64: "double",
    Type.BYTES: "bytes",
    Type.STRING: "string",
    Type.ARRAY: "array",
    Type.MAP: "map",
    Type.STRUCT: "struct",
}
_TYPES_BY_NAME = {name: type_ for type_, name in _TYPE_NAMES.items()}

ENVELOPE_ERROR = (
    'JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields.'
    " If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration."
)


def json_converter_config_def() -> ConfigDef:
    return (
        ConfigDef()
        .define(
            "schemas.enable",
            ConfigType.BOOLEAN,
            True,
            None,
            Importance.HIGH,
            "Include schemas within each of the serialized values and keys.",
            "Schemas",
            0,
        )
        .define(
            "schemas.cache.size",
            ConfigType.INT,
            1000,
            Range.at_least(0),
            Importance.HIGH,
            "The maximum number of schemas that can be cached in this converter instance.",
            "Schemas",
            1,
        )
        .define(
            "decimal.format",
            ConfigType.STRING,
            "BASE64",
            ValidString.in_case_insensitive("BASE64", "NUMERIC"),
            Importance.LOW,
            "Controls which format this converter will serialize decimals in: BASE64 or NUMERIC.",
            "Serialization",
            0,
        )
        .define(
            "replace.null.with.default",
            ConfigType.BOOLEAN,
            True,
            None,
            Importance.LOW,
            "Whether to replace fields that have a default value and that are null to the default value.",
            "Serialization",
            1,
        )
        .define(
            "converter.type",
            ConfigType.STRING,
            "value",
            ValidString.in_("key", "value", "header"),
            Importance.LOW,
            "How this converter will be used.",
        )
    )


def schema_to_json(schema: Schema | None) -> dict[str, Any] | None:
    """A Connect schema as Kafka's JSON schema object (key order as Kafka's asJsonSchema)."""
    if schema is None:
        return None
    out: dict[str, Any] = {"type": _TYPE_NAMES[schema.type]}
    if schema.type is Type.ARRAY:
        out["items"] = schema_to_json(schema.value_schema)
    elif schema.type is Type.MAP:
        out["keys"] = schema_to_json(schema.key_schema)
        out["values"] = schema_to_json(schema.value_schema)
    elif schema.type is Type.STRUCT:
        out["fields"] = [{**(schema_to_json(f.schema) or {}), "field": f.name} for f in schema.fields]
    out["optional"] = schema.optional
    if schema.name is not None:
        out["name"] = schema.name
    if schema.version is not None:
        out["version"] = schema.version
    if schema.doc is not None:
        out["doc"] = schema.doc
    if schema.parameters is not None:
        out["parameters"] = dict(schema.parameters)
    if schema.default is not None:
        out["default"] = _to_json(schema, schema.default, "BASE64", True)
    return out


def schema_from_json(node: Any) -> Schema | None:
    """Kafka's asConnectSchema: a JSON schema object to a Connect schema (None for JSON null)."""
    if node is None:
        return None
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        raise DataException("Schema must contain 'type' field")
    type_name = node["type"]
    type_ = _TYPES_BY_NAME.get(type_name)
    if type_ is None:
        raise DataException("Unknown schema type: " + type_name)
    builder = SchemaBuilder(type_)
    if type_ is Type.ARRAY:
        if node.get("items") is None:
            raise DataException("Array schema did not specify the element type")
        builder.value = schema_from_json(node["items"])
    elif type_ is Type.MAP:
        if "keys" not in node:
            raise DataException("Map schema did not specify the key type")
        if "values" not in node:
            raise DataException("Map schema did not specify the value type")
        builder.key, builder.value = schema_from_json(node["keys"]), schema_from_json(node["values"])
    elif type_ is Type.STRUCT:
        fields = node.get("fields")
        if not isinstance(fields, list):
            raise DataException('Struct schema\'s "fields" argument is not an array.')
        for field_node in fields:
            name = field_node.get("field") if isinstance(field_node, dict) else None
            if not isinstance(name, str):
                raise DataException("Struct schema's field name not specified properly")
            field_schema = schema_from_json(field_node)
            assert field_schema is not None
            builder.field(name, field_schema)
    if node.get("optional") is True:
        builder.optional()
    if isinstance(node.get("name"), str):
        builder.name(node["name"])
    if isinstance(node.get("version"), int) and not isinstance(node.get("version"), bool):
        builder.version(node["version"])
    if isinstance(node.get("doc"), str):
        builder.doc(node["doc"])
    params = node.get("parameters")
    if isinstance(params, dict):
        for key, value in params.items():
            if not isinstance(value, str):
                raise DataException("Schema parameters must have string values.")
            builder.parameter(key, value)
    if node.get("default") is not None:
        builder.default(_to_connect(builder.build(), node["default"], True))
    return builder.build()


def _decimal_unscaled_bytes(value: decimal.Decimal, scale: int) -> bytes:
    unscaled = int(value.scaleb(scale).to_integral_value())
    length = max(1, (unscaled.bit_length() + 8) // 8)
    return unscaled.to_bytes(length, "big", signed=True)


_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain_json(value: Any) -> bool:
    """Whether a schemaless value is already what `_to_json` would make of it: exact str, int, float, bool and None,
    in lists and in dicts with str keys (a dict with other keys becomes a list of pairs; bytes, tuples, Structs,
    decimals and subclasses take `_to_json`'s path)."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if kind is dict:
        return all(type(k) is str and _plain_json(v) for k, v in value.items())
    if kind is list:
        return all(_plain_json(v) for v in value)
    return False


def _to_json(schema: Schema | None, value: Any, decimal_format: str, replace_null: bool) -> Any:
    """A Connect value to a JSON-ready Python value (Kafka's convertToJson)."""
    if value is None:
        if schema is None:
            return None
        if schema.default is not None and replace_null:
            return _to_json(schema, schema.default, decimal_format, replace_null)
        if schema.optional:
            return None
        raise DataException("Conversion error: null value for field that is required and has no default value")
    if schema is not None and schema.name is not None:
        logical = _logical_to_json(schema, value, decimal_format)
        if logical is not _NOT_LOGICAL:
            return logical
    type_ = schema.type if schema is not None else infer_type(value)
    if type_ is None:
        raise DataException(f"Java class {type(value).__name__} does not have corresponding schema type.")
    return _typed_to_json(schema, type_, value, decimal_format, replace_null)


_NOT_LOGICAL = object()


def _logical_to_json(schema: Schema, value: Any, decimal_format: str) -> Any:
    if schema.name == TIMESTAMP_LOGICAL_NAME:
        if not isinstance(value, dt.datetime):
            raise DataException(f"Invalid type for Timestamp, expected Date but was {type(value).__name__}")
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return (aware - EPOCH) // dt.timedelta(milliseconds=1)
    if schema.name == DATE_LOGICAL_NAME:
        if not isinstance(value, dt.date):
            raise DataException(f"Invalid type for Date, expected Date but was {type(value).__name__}")
        return (value - EPOCH.date()).days
    if schema.name == TIME_LOGICAL_NAME:
        if not isinstance(value, dt.time):
            raise DataException(f"Invalid type for Time, expected Date but was {type(value).__name__}")
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000
    if schema.name == DECIMAL_LOGICAL_NAME:
        if not isinstance(value, decimal.Decimal):
            raise DataException(f"Invalid type for Decimal, expected BigDecimal but was {type(value).__name__}")
        if decimal_format.upper() == "NUMERIC":
            return value
        scale = int(schema.parameter_map.get(DECIMAL_SCALE_PARAMETER, "0"))
        return base64.b64encode(_decimal_unscaled_bytes(value, scale)).decode("ascii")
    return _NOT_LOGICAL


def _typed_to_json(schema: Schema | None, type_: Type, value: Any, decimal_format: str, replace_null: bool) -> Any:
    if type_ in (Type.INT8, Type.INT16, Type.INT32, Type.INT64):
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataException(f"Invalid type for {type_.name}: {type(value).__name__}")
        return value
    if type_ in (Type.FLOAT32, Type.FLOAT64):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataException(f"Invalid type for {type_.name}: {type(value).__name__}")
        return float(value)
    if type_ is Type.BOOLEAN:
        if not isinstance(value, bool):
            raise DataException(f"Invalid type for BOOLEAN: {type(value).__name__}")
        return value
    if type_ is Type.STRING:
        if not isinstance(value, str):
            raise DataException(f"Invalid type for STRING: {type(value).__name__}")
        return value
    if type_ is Type.BYTES:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise DataException(f"Invalid type for bytes type: {type(value).__name__}")
        return base64.b64encode(bytes(value)).decode("ascii")
    if type_ is Type.ARRAY:
        items = schema.value_schema if schema is not None else None
        return [_to_json(items, item, decimal_format, replace_null) for item in value]
    if type_ is Type.MAP:
        return _map_to_json(schema, value, decimal_format, replace_null)
    if not isinstance(value, Struct) or (schema is not None and value.schema != schema):
        raise DataException("Mismatching schema.")
    return {
        f.name: _to_json(f.schema, value.get_without_default(f.name), decimal_format, replace_null)
        for f in value.schema.fields
    }


def _map_to_json(schema: Schema | None, value: Mapping[Any, Any], decimal_format: str, replace_null: bool) -> Any:
    key_schema = schema.key_schema if schema is not None else None
    value_schema = schema.value_schema if schema is not None else None
    object_mode = (
        all(isinstance(k, str) for k in value)
        if schema is None
        else key_schema is not None and key_schema.type is Type.STRING
    )
    pairs = [
        (_to_json(key_schema, k, decimal_format, replace_null), _to_json(value_schema, v, decimal_format, replace_null))
        for k, v in value.items()
    ]
    if object_mode:
        return {str(k): v for k, v in pairs}
    return [[k, v] for k, v in pairs]


def _to_connect(schema: Schema | None, node: Any, replace_null: bool) -> Any:
    """A parsed JSON value to a Connect value (Kafka's convertToConnect)."""
    if schema is None:
        return node
    if node is None:
        if schema.default is not None and replace_null:
            return schema.default
        if schema.optional:
            return None
        raise DataException(f"Invalid null value for required {schema.type.name} field")
    value = _typed_to_connect(schema, node, replace_null)
    return _logical_to_connect(schema, value)


def _typed_to_connect(schema: Schema, node: Any, replace_null: bool) -> Any:
    type_ = schema.type
    if type_ in (Type.INT8, Type.INT16, Type.INT32, Type.INT64):
        if isinstance(node, bool) or not isinstance(node, int | float):
            raise DataException(f"Invalid value for {type_.name}: {node!r}")
        return int(node)
    if type_ in (Type.FLOAT32, Type.FLOAT64):
        if isinstance(node, bool) or not isinstance(node, int | float | decimal.Decimal):
            raise DataException(f"Invalid value for {type_.name}: {node!r}")
        return node if schema.name == DECIMAL_LOGICAL_NAME else float(node)
    if type_ is Type.BOOLEAN:
        if not isinstance(node, bool):
            raise DataException(f"Invalid value for BOOLEAN: {node!r}")
        return node
    if type_ is Type.STRING:
        if not isinstance(node, str):
            raise DataException(f"Invalid value for STRING: {node!r}")
        return node
    if type_ is Type.BYTES:
        if schema.name == DECIMAL_LOGICAL_NAME and isinstance(node, int | float | decimal.Decimal):
            return node
        if not isinstance(node, str):
            raise DataException(f"Invalid bytes field: {node!r}")
        try:
            return base64.b64decode(node, validate=True)
        except ValueError as exc:
            raise DataException(f"Invalid bytes field: {exc}") from exc
    if type_ is Type.ARRAY:
        if not isinstance(node, list):
            raise DataException("Array expected")
        return [_to_connect(schema.value_schema, item, replace_null) for item in node]
    if type_ is Type.MAP:
        return _map_to_connect(schema, node, replace_null)
    if not isinstance(node, dict):
        raise DataException("Structs should be encoded as JSON objects, but found " + type(node).__name__)
    struct = Struct(schema)
    for f in schema.fields:
        struct.put(f.name, _to_connect(f.schema, node.get(f.name), replace_null))
    return struct


def _map_to_connect(schema: Schema, node: Any, replace_null: bool) -> dict[Any, Any]:
    key_schema, value_schema = schema.key_schema, schema.value_schema
    if key_schema is None or key_schema.type is Type.STRING:
        if not isinstance(node, dict):
            raise DataException(
                "Maps with string fields should be encoded as JSON objects, but found " + type(node).__name__
            )
        return {k: _to_connect(value_schema, v, replace_null) for k, v in node.items()}
    if not isinstance(node, list):
        raise DataException(
            "Maps with non-string fields should be encoded as JSON array of tuples, but found " + type(node).__name__
        )
    out: dict[Any, Any] = {}
    for entry in node:
        if not isinstance(entry, list) or len(entry) != 2:
            raise DataException("Found invalid map entry instead of array tuple: " + json.dumps(entry))
        out[_to_connect(key_schema, entry[0], replace_null)] = _to_connect(value_schema, entry[1], replace_null)
    return out


def _logical_to_connect(schema: Schema, value: Any) -> Any:
    if schema.name == TIMESTAMP_LOGICAL_NAME:
        return EPOCH + dt.timedelta(milliseconds=value)
    if schema.name == DATE_LOGICAL_NAME:
        return EPOCH.date() + dt.timedelta(days=value)
    if schema.name == TIME_LOGICAL_NAME:
        return (dt.datetime.min + dt.timedelta(milliseconds=value)).time()
    if schema.name == DECIMAL_LOGICAL_NAME:
        scale = int(schema.parameter_map.get(DECIMAL_SCALE_PARAMETER, "0"))
        if isinstance(value, bytes):
            return decimal.Decimal(int.from_bytes(value, "big", signed=True)).scaleb(-scale)
        return decimal.Decimal(str(value))
    return value


class _DecimalEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            return float(o)
        return super().default(o)


# One encoder for every call: json.dumps with any argument set builds a new JSONEncoder per call (as json.loads
# did with parse_float), a tenth of an S3 JSON sink task's thread in py-spy. Encoders keep no state between calls.
_ENCODER = _DecimalEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(node: Any) -> bytes:
    """Compact JSON in UTF-8, as Jackson writes it."""
    return _ENCODER.encode(node).encode("utf-8")


class JsonConverter:
    """Converter and HeaderConverter (header values use the same format as record values)."""

    def __init__(self) -> None:
        self.schemas_enable = True
        self.decimal_format = "BASE64"
        self.replace_null_with_default = True

    def config(self) -> ConfigDef:
        return json_converter_config_def()

    def configure(self, configs: Mapping[str, Any], is_key: bool = False) -> None:
        parsed = json_converter_config_def().parse(configs)
        self.schemas_enable = bool(parsed["schemas.enable"])
        self.decimal_format = str(parsed["decimal.format"]).upper()
        self.replace_null_with_default = bool(parsed["replace.null.with.default"])

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if schema is None and value is None:
            return None
        # Schemaless values read by JsonConverter itself (the common JSON-in, JSON-out sink) are plain JSON types:
        # the walk of `_to_json` would return them unchanged, at several function calls per node.
        if schema is None and _plain_json(value):
            payload = value
        else:
            payload = _to_json(schema, value, self.decimal_format, self.replace_null_with_default)
        if self.schemas_enable:
            return dumps({"schema": schema_to_json(schema), "payload": payload})
        return dumps(payload)

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue:
        if value is None:
            return NULL_SCHEMA_AND_VALUE
        try:
            # json.loads' own decoder (floats as float, its default): passing parse_float=float would build a new
            # JSONDecoder per record, a seventh of a JSON sink task's thread in py-spy.
            node = json.loads(value.decode("utf-8")) if value else None
        except (UnicodeDecodeError, ValueError) as exc:
            raise DataException(
                f"Converting byte[] to Kafka Connect data failed due to serialization error: {exc}"
            ) from exc
        if not self.schemas_enable:
            return SchemaAndValue(None, node)
        if not isinstance(node, dict) or set(node) != {"schema", "payload"}:
            raise DataException(ENVELOPE_ERROR)
        schema = schema_from_json(node["schema"])
        return SchemaAndValue(schema, _to_connect(schema, node["payload"], self.replace_null_with_default))

    def from_connect_header(self, topic: str, header_key: str, schema: Schema | None, value: Any) -> bytes | None:
        return self.from_connect_data(topic, schema, value)

    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue:
        return self.to_connect_data(topic, value)
