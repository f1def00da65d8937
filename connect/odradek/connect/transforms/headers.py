"""Header and schema-metadata SMTs: HeaderFrom, DropHeaders, InsertHeader, SetSchemaMetadata (Kafka's classes).

HeaderFrom ($Key / $Value) copies or moves fields of the key or value into headers.

`fields[i]` becomes header `headers[i]` (same length required), with the field's schema (None when schemaless);
`operation=move` also removes the fields from the struct or map.
"""

from __future__ import annotations

import dataclasses

from odradek.connect.api.data import SchemaBuilder, Struct
from odradek.connect.api.errors import DataException
from odradek.connect.api.records import Header, headers_without
from odradek.connect.config.configdef import (
    ConfigDef,
    ConfigException,
    ConfigType,
    Importance,
    NonEmptyList,
    NonEmptyString,
    NonNullValidator,
    ValidString,
)
from odradek.connect.converters.simple import parse_string
from odradek.connect.transforms.base import BaseTransformation, KeyOrValue, R, require_map, require_struct


class HeaderFrom(KeyOrValue):
    PURPOSE = "header from"
    CONFIG_DEF = (
        ConfigDef()
        .define(
            "fields",
            ConfigType.LIST,
            validator=NonEmptyList(),
            importance=Importance.HIGH,
            documentation="Field names in the record whose values are to be copied or moved to headers.",
        )
        .define(
            "headers",
            ConfigType.LIST,
            validator=NonEmptyList(),
            importance=Importance.HIGH,
            documentation="Header names, in the same order as the field names listed in the fields configuration "
            "property.",
        )
        .define(
            "operation",
            ConfigType.STRING,
            validator=ValidString.in_("move", "copy"),
            importance=Importance.HIGH,
            documentation="Either <code>move</code> if the fields are to be moved to the headers (removed from "
            "the key/value), or <code>copy</code> if the fields are to be copied to the headers (retained in the "
            "key/value).",
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
        if len(self.settings["fields"]) != len(self.settings["headers"]):
            raise ConfigException(
                "'fields' config must have the same number of elements as 'headers' config.", plain=True
            )
        self.mapping = dict(zip(self.settings["fields"], self.settings["headers"], strict=True))
        self.move = self.settings["operation"] == "move"

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        if value is None:
            return record
        added: list[Header] = []
        if schema is None:
            source = require_map(value, self.PURPOSE)
            added = [Header(header, None, source.get(field)) for field, header in self.mapping.items()]
            remaining = {k: v for k, v in source.items() if not (self.move and k in self.mapping)}
            return self.new_record(record, None, remaining).new_record(headers=record.headers + tuple(added))
        struct = require_struct(value, self.PURPOSE)
        replace_null = self.settings["replace.null.with.default"]
        for field, header in self.mapping.items():
            found = schema.field(field)
            if found is None:
                raise ConfigException(f"Field {field} not found in schema", plain=True)
            current = struct.get(field) if replace_null else struct.get_without_default(field)
            added.append(Header(header, found.schema, current))
        new_schema, new_value = schema, struct
        if self.move:
            builder = SchemaBuilder.of(schema)
            for f in schema.fields:
                if f.name not in self.mapping:
                    builder.field(f.name, f.schema)
            new_schema = builder.build()
            new_value = Struct(new_schema, {f.name: struct.get_without_default(f.name) for f in new_schema.fields})
        return self.new_record(record, new_schema, new_value).new_record(headers=record.headers + tuple(added))


class HeaderFromKey(HeaderFrom):
    IS_KEY = True


class HeaderFromValue(HeaderFrom):
    pass


class DropHeaders(BaseTransformation):
    """Remove every header whose key is in `headers` (Kafka's DropHeaders)."""

    CONFIG_DEF = ConfigDef().define(
        "headers",
        ConfigType.LIST,
        validator=NonEmptyList(),
        importance=Importance.HIGH,
        documentation="The name of the headers to be removed.",
    )

    def apply(self, record: R) -> R | None:
        return record.new_record(headers=headers_without(record.headers, self.settings["headers"]))


class InsertHeader(BaseTransformation):
    """Add header `header` with `value.literal`, typed as SimpleHeaderConverter would read it (Kafka's InsertHeader,
    which parses the literal with Values.parseString)."""

    CONFIG_DEF = (
        ConfigDef()
        .define(
            "header",
            ConfigType.STRING,
            validator=NonEmptyString(),
            importance=Importance.HIGH,
            documentation="The name of the header.",
        )
        .define(
            "value.literal",
            ConfigType.STRING,
            validator=NonNullValidator(),
            importance=Importance.HIGH,
            documentation="The literal value that is to be set as the header value on all records.",
        )
    )

    def configured(self) -> None:
        self.value = parse_string(self.settings["value.literal"])

    def apply(self, record: R) -> R | None:
        header = Header(self.settings["header"], self.value.schema, self.value.value)
        return record.new_record(headers=(*record.headers, header))


class SetSchemaMetadata(KeyOrValue):
    """Set the name and/or version of the key or value schema (Kafka's SetSchemaMetadata$Key / $Value); a struct
    value is rebuilt on the renamed schema."""

    CONFIG_DEF = (
        ConfigDef()
        .define("schema.name", ConfigType.STRING, None, None, Importance.HIGH, "Schema name to set.")
        .define("schema.version", ConfigType.INT, None, None, Importance.HIGH, "Schema version to set.")
    )

    def configured(self) -> None:
        if self.settings["schema.name"] is None and self.settings["schema.version"] is None:
            raise ConfigException("Neither schema name nor version configured", plain=True)

    def apply(self, record: R) -> R | None:
        schema = self.operating_schema(record)
        if schema is None:
            raise DataException("Schema required for [updating schema metadata]")
        name, version = self.settings["schema.name"], self.settings["schema.version"]
        updated = dataclasses.replace(
            schema,
            name=name if name is not None else schema.name,
            version=version if version is not None else schema.version,
        )
        value = self.operating_value(record)
        if isinstance(value, Struct):
            value = Struct(updated, value.as_dict())
        return self.new_record(record, updated, value)


class SetSchemaMetadataKey(SetSchemaMetadata):
    IS_KEY = True


class SetSchemaMetadataValue(SetSchemaMetadata):
    pass
