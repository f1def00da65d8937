"""HeaderFrom (Kafka's HeaderFrom$Key / $Value): copy or move fields of the key or value into headers.

`fields[i]` becomes header `headers[i]` (same length required), with the field's schema (None when schemaless);
`operation=move` also removes the fields from the struct or map.
"""

from __future__ import annotations

from odradek.connect.api.data import SchemaBuilder, Struct
from odradek.connect.api.records import Header
from odradek.connect.config.configdef import (
    ConfigDef,
    ConfigException,
    ConfigType,
    Importance,
    NonEmptyList,
    ValidString,
)
from odradek.connect.transforms.base import KeyOrValue, R, require_map, require_struct


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
