"""Kafka Connect's data model (org.apache.kafka.connect.data): schemas, structs and their Python values.

Value types per schema type: INT8/INT16/INT32/INT64 -> `int` (range-checked), FLOAT32/FLOAT64 -> `float`,
BOOLEAN -> `bool`, STRING -> `str`, BYTES -> `bytes`, ARRAY -> `list`, MAP -> `dict`, STRUCT -> `Struct`.
Logical types keep Kafka's names and base types: `Timestamp` (INT64, value `datetime` in UTC), `Date` (INT32 days
since the epoch, value `date`), `Time` (INT32 ms of the day, value `time`) and `Decimal` (BYTES, the unscaled value as
big-endian two's complement, parameter `scale`, value `decimal.Decimal`).

A `Schema` is an immutable value (frozen, hashable): transformations derive new schemas with `dataclasses.replace`
or a `SchemaBuilder`. A schemaless record carries `None` as its schema and plain Python values.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from odradek.connect.api.errors import DataException


class Type(enum.Enum):
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOLEAN = "boolean"
    STRING = "string"
    BYTES = "bytes"
    ARRAY = "array"
    MAP = "map"
    STRUCT = "struct"

    @property
    def is_primitive(self) -> bool:
        return self not in (Type.ARRAY, Type.MAP, Type.STRUCT)


_INT_RANGES = {Type.INT8: 8, Type.INT16: 16, Type.INT32: 32, Type.INT64: 64}

TIMESTAMP_LOGICAL_NAME = "org.apache.kafka.connect.data.Timestamp"
DATE_LOGICAL_NAME = "org.apache.kafka.connect.data.Date"
TIME_LOGICAL_NAME = "org.apache.kafka.connect.data.Time"
DECIMAL_LOGICAL_NAME = "org.apache.kafka.connect.data.Decimal"
DECIMAL_SCALE_PARAMETER = "scale"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Field:
    """A struct field: its name, its position in the struct and its schema."""

    name: str
    index: int
    schema: Schema


@dataclass(frozen=True, slots=True)
class Schema:
    """Kafka's ConnectSchema. `fields` only for STRUCT, `key_schema`/`value_schema` for MAP, `value_schema` for ARRAY.

    `parameters` is a tuple of (name, value) pairs so that the schema stays hashable; `parameter_map` reads it.
    """

    type: Type
    optional: bool = False
    default: Any = None
    name: str | None = None
    version: int | None = None
    doc: str | None = None
    parameters: tuple[tuple[str, str], ...] | None = None
    fields: tuple[Field, ...] = ()
    key_schema: Schema | None = None
    value_schema: Schema | None = None

    @property
    def parameter_map(self) -> dict[str, str]:
        return dict(self.parameters or ())

    def field(self, name: str) -> Field | None:
        if self.type is not Type.STRUCT:
            raise DataException("Cannot look up fields on non-struct type")
        return next((f for f in self.fields if f.name == name), None)

    def __str__(self) -> str:
        return f"Schema{{{self.name + ':' if self.name else ''}{self.type.name}}}"


class SchemaBuilder:
    """A mutable builder of `Schema`, as Kafka's SchemaBuilder: `SchemaBuilder.struct().field("a", INT32).build()`."""

    def __init__(self, type_: Type) -> None:
        self.type = type_
        self.optional_flag = False
        self.default_value: Any = None
        self.name_value: str | None = None
        self.version_value: int | None = None
        self.doc_value: str | None = None
        self.params: dict[str, str] | None = None
        self.field_list: list[tuple[str, Schema]] = []
        self.key: Schema | None = None
        self.value: Schema | None = None

    @classmethod
    def struct(cls) -> SchemaBuilder:
        return cls(Type.STRUCT)

    @classmethod
    def of(cls, schema: Schema) -> SchemaBuilder:
        """A builder starting as a copy of `schema`, minus its fields (they are re-added by the caller)."""
        builder = cls(schema.type)
        builder.optional_flag = schema.optional
        builder.name_value, builder.version_value, builder.doc_value = schema.name, schema.version, schema.doc
        builder.params = schema.parameter_map if schema.parameters is not None else None
        builder.key, builder.value = schema.key_schema, schema.value_schema
        return builder

    def optional(self) -> SchemaBuilder:
        self.optional_flag = True
        return self

    def required(self) -> SchemaBuilder:
        self.optional_flag = False
        return self

    def name(self, name: str | None) -> SchemaBuilder:
        self.name_value = name
        return self

    def version(self, version: int | None) -> SchemaBuilder:
        self.version_value = version
        return self

    def doc(self, doc: str | None) -> SchemaBuilder:
        self.doc_value = doc
        return self

    def parameter(self, key: str, value: str) -> SchemaBuilder:
        self.params = {**(self.params or {}), key: value}
        return self

    def default(self, value: Any) -> SchemaBuilder:
        self.default_value = value
        return self

    def field(self, name: str, schema: Schema) -> SchemaBuilder:
        if self.type is not Type.STRUCT:
            raise DataException("Cannot create fields on type " + self.type.name)
        if any(existing == name for existing, _ in self.field_list):
            raise DataException(f"Cannot create field because of field name duplication {name}")
        self.field_list.append((name, schema))
        return self

    def build(self) -> Schema:
        fields = tuple(Field(name, i, schema) for i, (name, schema) in enumerate(self.field_list))
        params = tuple(self.params.items()) if self.params is not None else None
        schema = Schema(
            self.type,
            self.optional_flag,
            None,
            self.name_value,
            self.version_value,
            self.doc_value,
            params,
            fields,
            self.key,
            self.value,
        )
        if self.default_value is not None:
            validate_value(schema, self.default_value)
            schema = Schema(
                self.type,
                self.optional_flag,
                self.default_value,
                self.name_value,
                self.version_value,
                self.doc_value,
                params,
                fields,
                self.key,
                self.value,
            )
        return schema


def primitive(type_: Type, optional: bool = False) -> Schema:
    return Schema(type_, optional)


def array(value_schema: Schema, optional: bool = False) -> Schema:
    return Schema(Type.ARRAY, optional, value_schema=value_schema)


def map_of(key_schema: Schema, value_schema: Schema, optional: bool = False) -> Schema:
    return Schema(Type.MAP, optional, key_schema=key_schema, value_schema=value_schema)


def struct_of(fields: Iterable[tuple[str, Schema]], name: str | None = None, optional: bool = False) -> Schema:
    builder = SchemaBuilder.struct().name(name)
    for field_name, schema in fields:
        builder.field(field_name, schema)
    if optional:
        builder.optional()
    return builder.build()


INT8_SCHEMA = primitive(Type.INT8)
INT16_SCHEMA = primitive(Type.INT16)
INT32_SCHEMA = primitive(Type.INT32)
INT64_SCHEMA = primitive(Type.INT64)
FLOAT32_SCHEMA = primitive(Type.FLOAT32)
FLOAT64_SCHEMA = primitive(Type.FLOAT64)
BOOLEAN_SCHEMA = primitive(Type.BOOLEAN)
STRING_SCHEMA = primitive(Type.STRING)
BYTES_SCHEMA = primitive(Type.BYTES)
OPTIONAL_INT8_SCHEMA = primitive(Type.INT8, True)
OPTIONAL_INT16_SCHEMA = primitive(Type.INT16, True)
OPTIONAL_INT32_SCHEMA = primitive(Type.INT32, True)
OPTIONAL_INT64_SCHEMA = primitive(Type.INT64, True)
OPTIONAL_FLOAT32_SCHEMA = primitive(Type.FLOAT32, True)
OPTIONAL_FLOAT64_SCHEMA = primitive(Type.FLOAT64, True)
OPTIONAL_BOOLEAN_SCHEMA = primitive(Type.BOOLEAN, True)
OPTIONAL_STRING_SCHEMA = primitive(Type.STRING, True)
OPTIONAL_BYTES_SCHEMA = primitive(Type.BYTES, True)
TIMESTAMP_SCHEMA = Schema(Type.INT64, name=TIMESTAMP_LOGICAL_NAME, version=1)
OPTIONAL_TIMESTAMP_SCHEMA = Schema(Type.INT64, optional=True, name=TIMESTAMP_LOGICAL_NAME, version=1)


def decimal_schema(scale: int, optional: bool = False) -> Schema:
    return Schema(
        Type.BYTES, optional, name=DECIMAL_LOGICAL_NAME, version=1, parameters=((DECIMAL_SCALE_PARAMETER, str(scale)),)
    )


def optional_of(schema: Schema) -> Schema:
    """The same schema, optional (as Kafka's SchemaUtil.copySchemaBasics(...).optional())."""
    if schema.optional:
        return schema
    return Schema(
        schema.type,
        True,
        schema.default,
        schema.name,
        schema.version,
        schema.doc,
        schema.parameters,
        schema.fields,
        schema.key_schema,
        schema.value_schema,
    )


class Struct:
    """A structured value with a STRUCT schema; fields are set with `put` (type-checked) and read with `get`.

    `validate()` checks that every required field without default has a value, as Kafka's Struct.validate().
    """

    __slots__ = ("_values", "schema")

    def __init__(self, schema: Schema, values: Mapping[str, Any] | None = None) -> None:
        if schema.type is not Type.STRUCT:
            raise DataException("Not a struct schema: " + str(schema))
        self.schema = schema
        self._values: list[Any] = [None] * len(schema.fields)
        for name, value in (values or {}).items():
            self.put(name, value)

    def _lookup(self, name: str) -> Field:
        found = self.schema.field(name)
        if found is None:
            raise DataException(f"{name} is not a valid field name")
        return found

    def put(self, name: str, value: Any) -> Struct:
        found = self._lookup(name)
        validate_value(found.schema, value, name)
        self._values[found.index] = value
        return self

    def get(self, name: str) -> Any:
        found = self._lookup(name)
        value = self._values[found.index]
        return found.schema.default if value is None else value

    def get_without_default(self, name: str) -> Any:
        return self._values[self._lookup(name).index]

    def validate(self) -> None:
        for f in self.schema.fields:
            validate_value(f.schema, self._values[f.index], f.name)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: self._values[f.index] for f in self.schema.fields}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Struct) and self.schema == other.schema and self._values == other._values

    def __hash__(self) -> int:
        return hash((self.schema, tuple(repr(v) for v in self._values)))

    def __repr__(self) -> str:
        inner = ",".join(f"{f.name}={self._values[f.index]!r}" for f in self.schema.fields)
        return f"Struct{{{inner}}}"


_LOGICAL_CLASSES: dict[str, tuple[type, ...]] = {
    TIMESTAMP_LOGICAL_NAME: (dt.datetime,),
    DATE_LOGICAL_NAME: (dt.date,),
    TIME_LOGICAL_NAME: (dt.time,),
    DECIMAL_LOGICAL_NAME: (decimal.Decimal,),
}

_PRIMITIVE_CLASSES: dict[Type, tuple[type, ...]] = {
    Type.FLOAT32: (float, int),
    Type.FLOAT64: (float, int),
    Type.BOOLEAN: (bool,),
    Type.STRING: (str,),
    Type.BYTES: (bytes, bytearray, memoryview),
    Type.ARRAY: (list, tuple),
    Type.MAP: (dict,),
    Type.STRUCT: (Struct,),
}


def validate_value(schema: Schema, value: Any, field_name: str | None = None) -> None:
    """Raise DataException when `value` does not fit `schema` (Kafka's ConnectSchema.validateValue)."""
    where = f' for field: "{field_name}"' if field_name else ""
    if value is None:
        if not schema.optional and schema.default is None:
            raise DataException(f"Invalid value: null used for required field{where}, schema type: {schema.type.name}")
        return
    logical = _LOGICAL_CLASSES.get(schema.name or "")
    if logical is not None:
        if not isinstance(value, logical):
            raise DataException(f"Invalid Java object for logical type {schema.name}: {type(value).__name__}{where}")
        return
    bits = _INT_RANGES.get(schema.type)
    if bits is not None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataException(
                f"Invalid Java object for schema with type {schema.type.name}: {type(value).__name__}{where}"
            )
        if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            raise DataException(f"Value {value} out of range for schema type {schema.type.name}{where}")
        return
    classes = _PRIMITIVE_CLASSES[schema.type]
    if not isinstance(value, classes) or (schema.type in (Type.FLOAT32, Type.FLOAT64) and isinstance(value, bool)):
        raise DataException(
            f"Invalid Java object for schema with type {schema.type.name}: {type(value).__name__}{where}"
        )
    container: Any = value  # narrowed to a tuple of classes above; read as the container it was checked to be
    if schema.type is Type.STRUCT and container.schema != schema:
        raise DataException(f"Struct schemas do not match.{where}")
    if schema.type is Type.ARRAY and schema.value_schema is not None:
        for item in container:
            validate_value(schema.value_schema, item, field_name)
    if schema.type is Type.MAP and schema.key_schema is not None and schema.value_schema is not None:
        for key, item in container.items():
            validate_value(schema.key_schema, key, field_name)
            validate_value(schema.value_schema, item, field_name)


def infer_type(value: Any) -> Type | None:
    """The schema type of a schemaless value (Kafka's ConnectSchema.schemaType); Python ints count as INT64."""
    if isinstance(value, bool):
        return Type.BOOLEAN
    if isinstance(value, int):
        return Type.INT64
    if isinstance(value, float):
        return Type.FLOAT64
    if isinstance(value, str):
        return Type.STRING
    if isinstance(value, bytes | bytearray | memoryview):
        return Type.BYTES
    if isinstance(value, list | tuple):
        return Type.ARRAY
    if isinstance(value, dict):
        return Type.MAP
    if isinstance(value, Struct):
        return Type.STRUCT
    return None


@dataclass(frozen=True, slots=True)
class SchemaAndValue:
    schema: Schema | None
    value: Any


NULL_SCHEMA_AND_VALUE = SchemaAndValue(None, None)
