"""Field-level SMTs with Kafka's options: InsertField, ReplaceField, MaskField, ExtractField, HoistField,
ValueToKey, Flatten (each `$Key`/`$Value` where Kafka has both, ValueToKey on values only).

Schemaless records (schema None) must carry a `dict`; records with a schema a `Struct`. A null operating value (a
tombstone) passes through unchanged, as in Kafka. New schemas are derived with the original's name, version, doc
and parameters kept (Kafka's SchemaUtil.copySchemaBasics).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odradek.connect.api.data import (
    EPOCH,
    INT32_SCHEMA,
    INT64_SCHEMA,
    OPTIONAL_INT32_SCHEMA,
    OPTIONAL_INT64_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    OPTIONAL_TIMESTAMP_SCHEMA,
    STRING_SCHEMA,
    TIMESTAMP_SCHEMA,
    Schema,
    SchemaBuilder,
    Struct,
    Type,
    infer_type,
    optional_of,
)
from odradek.connect.api.errors import DataException
from odradek.connect.api.records import ConnectRecord, SinkRecord
from odradek.connect.config.configdef import (
    ConfigDef,
    ConfigException,
    ConfigType,
    Importance,
    LambdaValidator,
    NonEmptyList,
    NonEmptyString,
)
from odradek.connect.transforms.base import KeyOrValue, R, require_map, require_struct

_REPLACE_NULL_DOC = "Whether to replace fields that have a default value and that are null to the default value."


def _builder_like(schema: Schema) -> SchemaBuilder:
    return SchemaBuilder.of(schema)


def _get(struct: Struct, name: str, replace_null: bool) -> Any:
    return struct.get(name) if replace_null else struct.get_without_default(name)


class InsertField(KeyOrValue):
    """Insert the record's topic, partition, offset (sink records), timestamp and/or a static string.

    A field name ending in `!` is required (a missing source value is an error), `?` or no suffix optional.
    """

    PURPOSE = "field insertion"
    CONFIG_DEF = (
        ConfigDef()
        .define(
            "topic.field",
            ConfigType.STRING,
            None,
            None,
            Importance.MEDIUM,
            "Field name for Kafka topic. Suffix with ! to make this a required field, or ? to keep it optional "
            "(the default).",
        )
        .define(
            "partition.field",
            ConfigType.STRING,
            None,
            None,
            Importance.MEDIUM,
            "Field name for Kafka partition. Suffix with ! to make this a required field, or ? to keep it "
            "optional (the default).",
        )
        .define(
            "offset.field",
            ConfigType.STRING,
            None,
            None,
            Importance.MEDIUM,
            "Field name for Kafka offset - only applicable to sink connectors. Suffix with ! to make this a "
            "required field, or ? to keep it optional (the default).",
        )
        .define(
            "timestamp.field",
            ConfigType.STRING,
            None,
            None,
            Importance.MEDIUM,
            "Field name for record timestamp. Suffix with ! to make this a required field, or ? to keep it "
            "optional (the default).",
        )
        .define(
            "static.field",
            ConfigType.STRING,
            None,
            None,
            Importance.MEDIUM,
            "Field name for static data field. Suffix with ! to make this a required field, or ? to keep it "
            "optional (the default).",
        )
        .define(
            "static.value",
            ConfigType.STRING,
            None,
            None,
            Importance.MEDIUM,
            "Static field value, if field name configured.",
        )
        .define("replace.null.with.default", ConfigType.BOOLEAN, True, None, Importance.MEDIUM, _REPLACE_NULL_DOC)
    )

    @staticmethod
    def _spec(text: str | None) -> tuple[str, bool] | None:
        if not text:
            return None
        if text.endswith("!"):
            return text[:-1], False
        if text.endswith("?"):
            return text[:-1], True
        return text, True

    def configured(self) -> None:
        specs = {
            k: self._spec(self.settings[f"{k}.field"]) for k in ("topic", "partition", "offset", "timestamp", "static")
        }
        self.specs = {k: v for k, v in specs.items() if v is not None}
        if not self.specs:
            raise ConfigException("No field insertion configured", plain=True)
        if "static" in self.specs and self.settings["static.value"] is None:
            raise ConfigException("static.value", None, "No value specified for static field: static.field")

    def _values(self, record: ConnectRecord) -> dict[str, tuple[Schema, Any]]:
        out: dict[str, tuple[Schema, Any]] = {}
        for kind, (name, optional) in self.specs.items():
            if kind == "topic":
                out[name] = (OPTIONAL_STRING_SCHEMA if optional else STRING_SCHEMA, record.topic)
            elif kind == "partition":
                out[name] = (OPTIONAL_INT32_SCHEMA if optional else INT32_SCHEMA, record.kafka_partition)
            elif kind == "offset":
                if not isinstance(record, SinkRecord):
                    if optional:
                        continue
                    raise DataException(
                        f"Offset insertion is only supported for sink connectors, record is of type: "
                        f"{type(record).__name__}"
                    )
                out[name] = (OPTIONAL_INT64_SCHEMA if optional else INT64_SCHEMA, record.kafka_offset)
            elif kind == "timestamp":
                stamp = None if record.timestamp is None else EPOCH + dt.timedelta(milliseconds=record.timestamp)
                out[name] = (OPTIONAL_TIMESTAMP_SCHEMA if optional else TIMESTAMP_SCHEMA, stamp)
            else:
                out[name] = (OPTIONAL_STRING_SCHEMA if optional else STRING_SCHEMA, self.settings["static.value"])
        return out

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        if value is None:
            return record
        schema = self.operating_schema(record)
        inserted = self._values(record)
        if schema is None:
            updated = dict(require_map(value, self.PURPOSE))
            # Schemaless records get the timestamp as epoch ms (Kafka inserts record.timestamp(), a Long).
            updated.update(
                {name: record.timestamp if isinstance(v, dt.datetime) else v for name, (_, v) in inserted.items()}
            )
            return self.new_record(record, None, updated)
        struct = require_struct(value, self.PURPOSE)
        builder = _builder_like(schema)
        for f in schema.fields:
            builder.field(f.name, f.schema)
        for name, (field_schema, _) in inserted.items():
            builder.field(name, field_schema)
        new_schema = builder.build()
        out = Struct(new_schema)
        replace_null = self.settings["replace.null.with.default"]
        for f in schema.fields:
            out.put(f.name, _get(struct, f.name, replace_null))
        for name, (_, v) in inserted.items():
            out.put(name, v)
        return self.new_record(record, new_schema, out)


class ReplaceField(KeyOrValue):
    """Keep (`include`), drop (`exclude`) and rename (`renames=old:new,...`) fields."""

    PURPOSE = "field replacement"

    @staticmethod
    def _check_renames(name: str, value: Any) -> None:
        for pair in value or ():
            if len(pair.split(":")) != 2:
                raise ConfigException(name, value, "Invalid rename mapping: " + pair)

    CONFIG_DEF = (
        ConfigDef()
        .define(
            "exclude",
            ConfigType.LIST,
            "",
            None,
            Importance.MEDIUM,
            "Fields to exclude. This takes precedence over the fields to include.",
        )
        .define(
            "include",
            ConfigType.LIST,
            "",
            None,
            Importance.MEDIUM,
            "Fields to include. If specified, only these fields will be used.",
        )
        .define(
            "renames",
            ConfigType.LIST,
            "",
            LambdaValidator(_check_renames, "list of colon-delimited pairs, e.g. foo:bar,abc:xyz"),
            Importance.MEDIUM,
            "Field rename mappings.",
        )
        .define("blacklist", ConfigType.LIST, None, None, Importance.LOW, "Deprecated. Use exclude instead.")
        .define("whitelist", ConfigType.LIST, None, None, Importance.LOW, "Deprecated. Use include instead.")
        .define("replace.null.with.default", ConfigType.BOOLEAN, True, None, Importance.MEDIUM, _REPLACE_NULL_DOC)
    )

    def configured(self) -> None:
        self.exclude = set(self.settings["exclude"] or self.settings["blacklist"] or [])
        self.include = set(self.settings["include"] or self.settings["whitelist"] or [])
        self.renames = dict(pair.split(":") for pair in self.settings["renames"])

    def _kept(self, name: str) -> bool:
        return name not in self.exclude and (not self.include or name in self.include)

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        if value is None:
            return record
        schema = self.operating_schema(record)
        if schema is None:
            source = require_map(value, self.PURPOSE)
            return self.new_record(
                record, None, {self.renames.get(k, k): v for k, v in source.items() if self._kept(k)}
            )
        struct = require_struct(value, self.PURPOSE)
        builder = _builder_like(schema)
        kept = [f for f in schema.fields if self._kept(f.name)]
        for f in kept:
            builder.field(self.renames.get(f.name, f.name), f.schema)
        new_schema = builder.build()
        out = Struct(new_schema)
        for f in kept:
            out.put(self.renames.get(f.name, f.name), _get(struct, f.name, self.settings["replace.null.with.default"]))
        return self.new_record(record, new_schema, out)


_MASKS: dict[Type, Any] = {
    Type.BOOLEAN: False,
    Type.INT8: 0,
    Type.INT16: 0,
    Type.INT32: 0,
    Type.INT64: 0,
    Type.FLOAT32: 0.0,
    Type.FLOAT64: 0.0,
    Type.STRING: "",
    Type.BYTES: b"",
    Type.ARRAY: [],
    Type.MAP: {},
}


def _masked(type_: Type | None, replacement: str | None, field: str) -> Any:
    if type_ is None or type_ not in _MASKS:
        raise DataException(f"Cannot mask value of type {type_.name if type_ else 'null'} for field {field}")
    if replacement is None:
        return _MASKS[type_]
    try:
        if type_ in (Type.INT8, Type.INT16, Type.INT32, Type.INT64):
            return int(replacement)
        if type_ in (Type.FLOAT32, Type.FLOAT64):
            return float(replacement)
        if type_ is Type.STRING:
            return replacement
    except ValueError:
        raise DataException(f"Unable to convert {replacement} ({type_.name}) for field {field}") from None
    raise DataException(f"Cannot mask value of type {type_.name} with custom replacement.")


class MaskField(KeyOrValue):
    """Replace `fields` with the null value of their type (0, false, "", empty) or with `replacement`."""

    PURPOSE = "mask fields"
    CONFIG_DEF = (
        ConfigDef()
        .define(
            "fields",
            ConfigType.LIST,
            validator=NonEmptyList(),
            importance=Importance.HIGH,
            documentation="Names of fields to mask.",
        )
        .define(
            "replacement",
            ConfigType.STRING,
            None,
            None,
            Importance.LOW,
            "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string "
            "values only).",
        )
        .define("replace.null.with.default", ConfigType.BOOLEAN, True, None, Importance.MEDIUM, _REPLACE_NULL_DOC)
    )

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        if value is None:
            return record
        fields, replacement = set(self.settings["fields"]), self.settings["replacement"]
        schema = self.operating_schema(record)
        if schema is None:
            source = dict(require_map(value, self.PURPOSE))
            for name in fields & set(source):
                if source[name] is not None:
                    source[name] = _masked(infer_type(source[name]), replacement, name)
            return self.new_record(record, None, source)
        struct = require_struct(value, self.PURPOSE)
        out = Struct(schema)
        for f in schema.fields:
            current = _get(struct, f.name, self.settings["replace.null.with.default"])
            out.put(
                f.name,
                _masked(f.schema.type, replacement, f.name) if f.name in fields and current is not None else current,
            )
        return self.new_record(record, schema, out)


class ExtractField(KeyOrValue):
    """Replace the key or value with one of its fields (`field`)."""

    PURPOSE = "field extraction"
    CONFIG_DEF = ConfigDef().define(
        "field",
        ConfigType.STRING,
        validator=NonEmptyString(),
        importance=Importance.MEDIUM,
        documentation="Field name to extract.",
    )

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        if value is None:
            return record
        name = self.settings["field"]
        schema = self.operating_schema(record)
        if schema is None:
            return self.new_record(record, None, require_map(value, self.PURPOSE).get(name))
        struct = require_struct(value, self.PURPOSE)
        found = schema.field(name)
        if found is None:
            raise DataException(f"Unknown field: {name}")
        return self.new_record(record, found.schema, struct.get(name))


class HoistField(KeyOrValue):
    """Wrap the key or value in a struct (or map, schemaless) with the single field `field`."""

    CONFIG_DEF = ConfigDef().define(
        "field",
        ConfigType.STRING,
        validator=NonEmptyString(),
        importance=Importance.MEDIUM,
        documentation="Field name for the single field that will be created in the resulting Struct or Map.",
    )

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        name = self.settings["field"]
        if schema is None:
            return self.new_record(record, None, {name: value})
        new_schema = SchemaBuilder.struct().field(name, schema).build()
        return self.new_record(record, new_schema, Struct(new_schema).put(name, value))


class ValueToKey(KeyOrValue):
    """Replace the key with a struct (or map) of the value's `fields`."""

    PURPOSE = "copying fields from value to key"
    CONFIG_DEF = (
        ConfigDef()
        .define(
            "fields",
            ConfigType.LIST,
            validator=NonEmptyList(),
            importance=Importance.HIGH,
            documentation="Field names on the record value to extract as the record key.",
        )
        .define("replace.null.with.default", ConfigType.BOOLEAN, True, None, Importance.MEDIUM, _REPLACE_NULL_DOC)
    )

    def apply(self, record: R) -> R | None:
        names: list[str] = self.settings["fields"]
        if record.value_schema is None:
            source = require_map(record.value, self.PURPOSE)
            return record.new_record(key_schema=None, key={n: source.get(n) for n in names})
        struct = require_struct(record.value, self.PURPOSE)
        builder = SchemaBuilder.struct()
        for name in names:
            found = record.value_schema.field(name)
            if found is None:
                raise DataException(f"Field does not exist: {name}")
            builder.field(name, found.schema)
        key_schema = builder.build()
        key = Struct(key_schema)
        for name in names:
            key.put(name, _get(struct, name, self.settings["replace.null.with.default"]))
        return record.new_record(key_schema=key_schema, key=key)


class Flatten(KeyOrValue):
    """Flatten nested structs (or maps) into one level, joining names with `delimiter` (default `.`)."""

    PURPOSE = "flattening"
    CONFIG_DEF = ConfigDef().define(
        "delimiter",
        ConfigType.STRING,
        ".",
        None,
        Importance.MEDIUM,
        "Delimiter to insert between field names from the input record when generating field names for the output "
        "record",
    )

    def _flatten_map(self, source: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
        for key, value in source.items():
            name = prefix + self.settings["delimiter"] + key if prefix else key
            if isinstance(value, dict):
                self._flatten_map(value, name, out)
            else:
                out[name] = value

    def _flatten_schema(self, schema: Schema, prefix: str, optional: bool, builder: SchemaBuilder) -> None:
        for f in schema.fields:
            name = prefix + self.settings["delimiter"] + f.name if prefix else f.name
            if f.schema.type is Type.STRUCT:
                self._flatten_schema(f.schema, name, optional or f.schema.optional, builder)
            else:
                builder.field(name, optional_of(f.schema) if optional else f.schema)

    def _flatten_struct(self, struct: Struct | None, prefix: str, out: dict[str, Any], schema: Schema) -> None:
        for f in schema.fields:
            name = prefix + self.settings["delimiter"] + f.name if prefix else f.name
            value = None if struct is None else struct.get(f.name)
            if f.schema.type is Type.STRUCT:
                self._flatten_struct(value, name, out, f.schema)
            else:
                out[name] = value

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        if value is None:
            return record
        schema = self.operating_schema(record)
        if schema is None:
            flat: dict[str, Any] = {}
            self._flatten_map(require_map(value, self.PURPOSE), "", flat)
            return self.new_record(record, None, flat)
        struct = require_struct(value, self.PURPOSE)
        builder = _builder_like(schema)
        self._flatten_schema(schema, "", False, builder)
        new_schema = builder.build()
        values: dict[str, Any] = {}
        self._flatten_struct(struct, "", values, schema)
        return self.new_record(record, new_schema, Struct(new_schema, values))


class InsertFieldKey(InsertField):
    IS_KEY = True


class InsertFieldValue(InsertField):
    pass


class ReplaceFieldKey(ReplaceField):
    IS_KEY = True


class ReplaceFieldValue(ReplaceField):
    pass


class MaskFieldKey(MaskField):
    IS_KEY = True


class MaskFieldValue(MaskField):
    pass


class ExtractFieldKey(ExtractField):
    IS_KEY = True


class ExtractFieldValue(ExtractField):
    pass


class HoistFieldKey(HoistField):
    IS_KEY = True


class HoistFieldValue(HoistField):
    pass


class FlattenKey(Flatten):
    IS_KEY = True


class FlattenValue(Flatten):
    pass
