"""TimestampConverter (Kafka's TimestampConverter$Key / $Value): convert a timestamp between a string, Unix epoch
time, and the Date, Time and Timestamp logical types, for the whole key/value or for one `field` of it.

Input types: a Timestamp/Date/Time schema, STRING (parsed with `format`, a SimpleDateFormat pattern), INT64 (epoch in
`unix.precision`: seconds, milliseconds, microseconds or nanoseconds). Schemaless inputs are typed by value: a
`datetime` is a Timestamp, a `date` a Date, a `time` a Time, a `str` a string, an `int` a Unix time. Every
conversion goes through a UTC `datetime`, as Kafka's goes through java.util.Date in UTC; `target.type=string`
requires `format`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from odradek.connect.api.data import (
    DATE_LOGICAL_NAME,
    EPOCH,
    TIME_LOGICAL_NAME,
    TIMESTAMP_LOGICAL_NAME,
    Schema,
    SchemaBuilder,
    Struct,
    Type,
)
from odradek.connect.api.errors import DataException
from odradek.connect.config.configdef import ConfigDef, ConfigException, ConfigType, Importance, ValidString
from odradek.connect.transforms.base import KeyOrValue, R, require_map, require_struct
from odradek.connect.transforms.routers import format_java_date

TARGET_TYPES = ("string", "unix", "Date", "Time", "Timestamp")
PRECISIONS = {"seconds": 1, "milliseconds": 1_000, "microseconds": 1_000_000, "nanoseconds": 1_000_000_000}

_STRPTIME = {
    "yyyy": "%Y",
    "yy": "%y",
    "MM": "%m",
    "dd": "%d",
    "HH": "%H",
    "mm": "%M",
    "ss": "%S",
    "SSS": "%f",
    "a": "%p",
    "hh": "%I",
    "EEE": "%a",
    "MMM": "%b",
}
_TOKENS = re.compile(r"'([^']*)'|(y+|M+|d+|H+|h+|m+|s+|S+|a+|E+)|(%)")


def java_to_strptime(pattern: str) -> str:
    """A SimpleDateFormat pattern as a strptime format (the letters of routers.format_java_date)."""

    def token(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return (match.group(1) or "'").replace("%", "%%")
        if match.group(3):
            return "%%"
        letters = match.group(2)
        found = _STRPTIME.get(letters) or _STRPTIME.get(letters[0] * 2) or _STRPTIME.get(letters[0])
        if found is None:
            raise ConfigException("format", pattern, f"Unsupported pattern letters {letters}")
        return found

    return _TOKENS.sub(token, pattern)


def _schema_for(target: str, optional: bool) -> Schema:
    if target == "string":
        return Schema(Type.STRING, optional)
    if target == "unix":
        return Schema(Type.INT64, optional)
    names = {
        "Date": (Type.INT32, DATE_LOGICAL_NAME),
        "Time": (Type.INT32, TIME_LOGICAL_NAME),
        "Timestamp": (Type.INT64, TIMESTAMP_LOGICAL_NAME),
    }
    type_, name = names[target]
    return Schema(type_, optional, name=name, version=1)


class TimestampConverter(KeyOrValue):
    PURPOSE = "converting timestamp formats"
    CONFIG_DEF = (
        ConfigDef()
        .define(
            "target.type",
            ConfigType.STRING,
            validator=ValidString.in_(*TARGET_TYPES),
            importance=Importance.HIGH,
            documentation="The desired timestamp representation: string, unix, Date, Time, or Timestamp",
        )
        .define(
            "field",
            ConfigType.STRING,
            "",
            None,
            Importance.HIGH,
            "The field containing the timestamp, or empty if the entire value is a timestamp",
        )
        .define(
            "format",
            ConfigType.STRING,
            "",
            None,
            Importance.MEDIUM,
            "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when "
            "type=string or used to parse the input if the input is a string.",
        )
        .define(
            "unix.precision",
            ConfigType.STRING,
            "milliseconds",
            ValidString.in_(*PRECISIONS),
            Importance.LOW,
            "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds. "
            "Used to generate the output when type=unix or used to parse the input if the input is a Long.",
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
        self.target: str = self.settings["target.type"]
        self.field: str = self.settings["field"]
        self.pattern: str = self.settings["format"]
        self.scale = PRECISIONS[self.settings["unix.precision"]]
        if self.target == "string" and not self.pattern:
            raise ConfigException(
                "TimestampConverter requires format option to be specified when using string timestamps", plain=True
            )
        self.parse_format = java_to_strptime(self.pattern) if self.pattern else ""

    # -- conversions through a UTC datetime ---------------------------------------------------------------------

    def _input_kind(self, schema: Schema | None, value: Any) -> str:
        if schema is not None:
            by_name = {TIMESTAMP_LOGICAL_NAME: "Timestamp", DATE_LOGICAL_NAME: "Date", TIME_LOGICAL_NAME: "Time"}
            if schema.name in by_name:
                return by_name[schema.name]
            if schema.type is Type.STRING:
                return "string"
            if schema.type is Type.INT64:
                return "unix"
            raise DataException(f"Schema {schema} does not correspond to a known timestamp type format")
        for kind, cls in (("Timestamp", dt.datetime), ("Date", dt.date), ("Time", dt.time), ("string", str)):
            if isinstance(value, cls):
                return kind
        if isinstance(value, int) and not isinstance(value, bool):
            return "unix"
        raise DataException(f"TimestampConverter does not support {type(value).__name__} objects as timestamps")

    def _to_datetime(self, kind: str, value: Any) -> dt.datetime:
        if kind == "Timestamp":
            stamp: dt.datetime = value
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
        if kind == "Date":
            return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        if kind == "Time":
            return dt.datetime.combine(EPOCH.date(), value, tzinfo=dt.UTC)
        if kind == "unix":
            return EPOCH + dt.timedelta(microseconds=value * 1_000_000 // self.scale)
        if not self.parse_format:
            raise DataException(
                "TimestampConverter requires format option to be specified when using string timestamps"
            )
        try:
            return dt.datetime.strptime(value, self.parse_format).replace(tzinfo=dt.UTC)
        except ValueError as exc:
            raise DataException(
                f"Could not parse timestamp: value ({value}) does not match pattern ({self.pattern})"
            ) from exc

    def _from_datetime(self, when: dt.datetime) -> Any:
        if self.target == "Timestamp":
            return when
        if self.target == "Date":
            return when.date()
        if self.target == "Time":
            return when.time().replace(microsecond=when.microsecond // 1000 * 1000)
        if self.target == "unix":
            return (when - EPOCH) // dt.timedelta(microseconds=1) * self.scale // 1_000_000
        return format_java_date(self.pattern, when)

    def _convert(self, schema: Schema | None, value: Any) -> Any:
        if value is None:
            return None
        return self._from_datetime(self._to_datetime(self._input_kind(schema, value), value))

    # -- records ------------------------------------------------------------------------------------------------

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        if not self.field:
            new_schema = None if schema is None else _schema_for(self.target, schema.optional)
            return self.new_record(record, new_schema, self._convert(schema, value))
        if value is None:
            return record
        if schema is None:
            updated = dict(require_map(value, self.PURPOSE))
            updated[self.field] = self._convert(None, updated.get(self.field))
            return self.new_record(record, None, updated)
        struct = require_struct(value, self.PURPOSE)
        builder = SchemaBuilder.of(schema)
        for f in schema.fields:
            builder.field(f.name, _schema_for(self.target, f.schema.optional) if f.name == self.field else f.schema)
        new_schema = builder.build()
        replace_null = self.settings["replace.null.with.default"]
        out = Struct(new_schema)
        for f in schema.fields:
            current = struct.get(f.name) if replace_null else struct.get_without_default(f.name)
            out.put(f.name, self._convert(f.schema, current) if f.name == self.field else current)
        return self.new_record(record, new_schema, out)


class TimestampConverterKey(TimestampConverter):
    IS_KEY = True


class TimestampConverterValue(TimestampConverter):
    pass
