"""Cast (Kafka's org.apache.kafka.connect.transforms.Cast$Key / $Value).

`spec` is either one type (`int32`: cast the whole key or value, which must be primitive) or `field:type,...` pairs
(cast those fields of a struct or map). Target types: int8, int16, int32, int64, float32, float64, boolean, string.
Numbers narrow as Java's Number.xxxValue() does: integers wrap to the target width, floats truncate towards zero and
saturate; booleans become 1/0; strings are parsed (`true`, case-insensitive, is the only true boolean); strings are
written with Java's spellings (`true`, `1.0`) and BYTES as base64.
"""

from __future__ import annotations

import base64
import math
from typing import Any

from odradek.connect.api.data import Schema, SchemaBuilder, Struct, Type, infer_type
from odradek.connect.api.errors import DataException
from odradek.connect.config.configdef import ConfigDef, ConfigException, ConfigType, Importance, NonEmptyList
from odradek.connect.converters.simple import _text
from odradek.connect.transforms.base import KeyOrValue, R, require_map, require_struct

_TARGETS = {
    "int8": Type.INT8,
    "int16": Type.INT16,
    "int32": Type.INT32,
    "int64": Type.INT64,
    "float32": Type.FLOAT32,
    "float64": Type.FLOAT64,
    "boolean": Type.BOOLEAN,
    "string": Type.STRING,
}
_BITS = {Type.INT8: 8, Type.INT16: 16, Type.INT32: 32, Type.INT64: 64}
WHOLE_VALUE = ""


def parse_spec(name: str, spec: list[str]) -> dict[str, Type]:
    """`["int32"]` -> {"": INT32}; `["a:int8", "b:string"]` -> {"a": INT8, "b": STRING}."""
    casts: dict[str, Type] = {}
    for item in spec:
        field, _, type_name = item.rpartition(":")
        target = _TARGETS.get(type_name.strip().lower())
        if target is None:
            raise ConfigException(name, spec, "Invalid type found in casting spec: " + type_name.strip())
        if not field and len(spec) > 1:
            raise ConfigException(
                name,
                spec,
                "Cast transformations that specify a type to cast the entire value to "
                "may ony specify a single cast in their spec",
            )
        casts[field.strip()] = target
    return casts


def _wrap(number: int, bits: int) -> int:
    half = 1 << (bits - 1)
    return ((number + half) % (1 << bits)) - half


def _to_integer(value: Any, target: Type) -> int:
    bits = _BITS[target]
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        return _wrap(value, bits)
    if isinstance(value, float):
        if math.isnan(value):
            return 0
        # Java: (int)/(long) of a double truncates and saturates; byte/short go through int, then wrap.
        high = (1 << (max(bits, 32) - 1)) - 1
        number = high if value >= high else -high - 1 if value <= -high - 1 else int(value)
        return _wrap(number, bits)
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise DataException(f"Value ({value}) was out of range for requested data type") from None
        if _wrap(number, bits) != number:
            raise DataException(f"Value ({value}) was out of range for requested data type")
        return number
    raise DataException(f"Unexpected type in Cast transformation: {type(value).__name__}")


def cast_value(value: Any, target: Type) -> Any:
    if value is None:
        return None
    if target in _BITS:
        return _to_integer(value, target)
    if target in (Type.FLOAT32, Type.FLOAT64):
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        try:
            return float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise DataException(f"Unexpected type in Cast transformation: {type(value).__name__}") from None
    if target is Type.BOOLEAN:
        if isinstance(value, str):
            return value.strip().lower() == "true"
        if isinstance(value, int | float):
            return value != 0
        raise DataException(f"Unexpected type in Cast transformation: {type(value).__name__}")
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e7:
        return repr(value)
    return _text(value)


class Cast(KeyOrValue):
    PURPOSE = "cast types"
    CONFIG_DEF = (
        ConfigDef()
        .define(
            "spec",
            ConfigType.LIST,
            validator=NonEmptyList(),
            importance=Importance.HIGH,
            documentation="List of fields and the type to cast them to of the form field1:type,field2:type to cast "
            "fields of Maps or Structs. A single type to cast the entire value. Valid types are int8, int16, "
            "int32, int64, float32, float64, boolean, and string.",
        )
        .define(
            "replace.null.with.default",
            ConfigType.BOOLEAN,
            True,
            None,
            Importance.MEDIUM,
            "Whether to replace fields that have a default value and that are null to the default value.",
        )
    )

    def configured(self) -> None:
        self.casts = parse_spec("spec", self.settings["spec"])

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        whole = self.casts.get(WHOLE_VALUE)
        if whole is not None:
            if schema is not None and not schema.type.is_primitive:
                raise DataException(
                    "Cast transformation cannot be applied to a whole value of type " + schema.type.name
                )
            new_schema = None if schema is None else Schema(whole, schema.optional, cast_value(schema.default, whole))
            if schema is None and value is not None and not (infer_type(value) or Type.STRUCT).is_primitive:
                raise DataException(
                    "Cast transformation cannot be applied to a whole value of type " + type(value).__name__
                )
            return self.new_record(record, new_schema, cast_value(value, whole))
        if value is None:
            return record
        if schema is None:
            source = dict(require_map(value, self.PURPOSE))
            for name, map_target in self.casts.items():
                if name in source:
                    source[name] = cast_value(source[name], map_target)
            return self.new_record(record, None, source)
        struct = require_struct(value, self.PURPOSE)
        builder = SchemaBuilder.of(schema)
        for f in schema.fields:
            field_target = self.casts.get(f.name)
            if field_target is None:
                builder.field(f.name, f.schema)
            else:
                builder.field(
                    f.name, Schema(field_target, f.schema.optional, cast_value(f.schema.default, field_target))
                )
        new_schema = builder.build()
        out = Struct(new_schema)
        for f in schema.fields:
            current = (
                struct.get(f.name) if self.settings["replace.null.with.default"] else struct.get_without_default(f.name)
            )
            cast_to = self.casts.get(f.name)
            out.put(f.name, current if cast_to is None else cast_value(current, cast_to))
        return self.new_record(record, new_schema, out)


class CastKey(Cast):
    IS_KEY = True


class CastValue(Cast):
    pass
