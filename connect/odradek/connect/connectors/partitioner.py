"""Confluent's storage partitioners (io.confluent.connect.storage.partitioner) and timestamp extractors.

A partitioner maps a sink record to its *encoded partition*, the folder between `<topics.dir>/<topic>/` and the
object name. The three built-ins and what they encode:
- DefaultPartitioner: `partition=<kafka partition>`.
- FieldPartitioner (`partition.field.name=a,b`): `a=<value of a>/b=<value of b>`, read from a Struct or a map value
  (a record without the field fails with a DataException, as Confluent's PartitionException).
- TimeBasedPartitioner (and its presets HourlyPartitioner, DailyPartitioner): the record's timestamp, as chosen by
  `timestamp.extractor` (Record: the Kafka timestamp; RecordField: `timestamp.field` of the value, epoch
  milliseconds or an ISO-8601 string; Wallclock: the time the record is written), floored to
  `partition.duration.ms` in `timezone` and formatted with `path.format`, a Joda-Time pattern
  (`'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH`).

Only the deterministic choices (Default, Field, TimeBased with Record or RecordField) make the S3 sink's output the
same when records are read again after a crash; Wallclock does not.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odradek.connect.api.data import Struct
from odradek.connect.api.errors import ConnectException, DataException
from odradek.connect.api.records import SinkRecord

_P = "io.confluent.connect.storage.partitioner."
DEFAULT_PARTITIONER = _P + "DefaultPartitioner"
FIELD_PARTITIONER = _P + "FieldPartitioner"
TIME_BASED_PARTITIONER = _P + "TimeBasedPartitioner"
HOURLY_PARTITIONER = _P + "HourlyPartitioner"
DAILY_PARTITIONER = _P + "DailyPartitioner"
PARTITIONERS = (DEFAULT_PARTITIONER, FIELD_PARTITIONER, TIME_BASED_PARTITIONER, HOURLY_PARTITIONER, DAILY_PARTITIONER)
# HourlyPartitioner and DailyPartitioner are TimeBasedPartitioner with a fixed path.format and duration.
PRESETS = {
    HOURLY_PARTITIONER: ("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", 3_600_000),
    DAILY_PARTITIONER: ("'year'=YYYY/'month'=MM/'day'=dd", 86_400_000),
}
EXTRACTORS = ("Record", "RecordField", "Wallclock")


def partitioner_class_name(name: str) -> str:
    """The full class name for `name` (short names such as `DefaultPartitioner` accepted); raises ValueError."""
    for full in PARTITIONERS:
        if name in (full, full.rpartition(".")[2]):
            return full
    raise ValueError(name)


def extractor_name(name: str) -> str:
    """`Record`, `RecordField` or `Wallclock` from a short or full class name (`...partitioner.RecordField...`)."""
    short = name.rpartition(".")[2].removesuffix("TimestampExtractor")
    if short not in EXTRACTORS:
        raise ValueError(name)
    return short


class Partitioner(Protocol):
    def encode_partition(self, record: SinkRecord) -> str: ...


@dataclass(frozen=True, slots=True)
class DefaultPartitioner:
    def encode_partition(self, record: SinkRecord) -> str:
        return f"partition={record.kafka_partition}"


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Struct):
        if value.schema.field(name) is None:
            raise DataException(f"Error encoding partition: field {name} is not in the record's schema")
        return value.get(name)
    if isinstance(value, Mapping):
        if name not in value:
            raise DataException(f"Error encoding partition: field {name} is not in the record")
        return value[name]
    raise DataException(f"Error encoding partition: the value is not a struct or a map: {type(value).__name__}")


def _field_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    raise DataException(f"Error encoding partition: unsupported field type {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class FieldPartitioner:
    fields: tuple[str, ...]

    def encode_partition(self, record: SinkRecord) -> str:
        return "/".join(f"{name}={_field_text(_field(record.value, name))}" for name in self.fields)


# Joda-Time pattern letters the time partitioner formats (numeric fields only), and their strftime width.
_JODA = re.compile(r"'([^']*)'|(Y+|y+|M+|d+|H+|m+|s+|S+)|([^'YyMdHmsS]+)")


def joda_format(pattern: str, when: dt.datetime) -> str:
    """Format `when` with a Joda-Time pattern: quoted literals, YYYY/yyyy, MM, dd, HH, mm, ss, SSS (zero-padded
    to the number of letters; a two-letter year is the last two digits)."""
    out: list[str] = []
    pos = 0
    while pos < len(pattern):
        match = _JODA.match(pattern, pos)
        if match is None:
            raise ConnectException(f"Invalid path.format {pattern!r} at position {pos}")
        literal, letters, plain = match.groups()
        if literal is not None:
            out.append(literal or "'")
        elif plain is not None:
            out.append(plain)
        else:
            out.append(_joda_field(letters, when))
        pos = match.end()
    return "".join(out)


def _joda_field(letters: str, when: dt.datetime) -> str:
    width = len(letters)
    kind = letters[0]
    if kind in "Yy":
        return f"{when.year % 100:02d}" if width == 2 else f"{when.year:0{width}d}"
    value = {
        "M": when.month,
        "d": when.day,
        "H": when.hour,
        "m": when.minute,
        "s": when.second,
        "S": when.microsecond // 1000,
    }[kind]
    return f"{value:0{width}d}"


def zone(name: str) -> dt.tzinfo:
    if name.upper() == "UTC":
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConnectException(f"Invalid timezone {name!r}") from exc


def _timestamp_from_field(value: Any, field: str) -> int:
    raw = _field(value, field)
    if isinstance(raw, dt.datetime):
        return int(raw.timestamp() * 1000)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        try:
            parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise DataException(f"Unparseable timestamp in field {field}: {raw!r}") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return int(parsed.timestamp() * 1000)
    raise DataException(f"Unsupported timestamp type in field {field}: {type(raw).__name__}")


def timestamp_extractor(name: str, field: str, wallclock_ms: Callable[[], int]) -> Callable[[SinkRecord], int]:
    """A function giving a record's timestamp in epoch milliseconds, per `timestamp.extractor`."""
    kind = extractor_name(name)
    if kind == "Record":

        def record_time(record: SinkRecord) -> int:
            if record.timestamp is None:
                raise DataException("Record has no timestamp: cannot partition it with timestamp.extractor=Record")
            return record.timestamp

        return record_time
    if kind == "RecordField":
        return lambda record: _timestamp_from_field(record.value, field)
    return lambda record: wallclock_ms()


@dataclass(frozen=True, slots=True)
class TimeBasedPartitioner:
    path_format: str
    duration_ms: int
    timezone: dt.tzinfo
    extract: Callable[[SinkRecord], int]

    def bucket_start(self, timestamp_ms: int) -> dt.datetime:
        """The start of the `duration_ms` bucket holding the timestamp, in local time of `timezone` (Confluent's
        TimeBasedPartitioner.getPartition: floor in local time, so daily buckets start at local midnight)."""
        local = dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.UTC).astimezone(self.timezone)
        offset_ms = int((local.utcoffset() or dt.timedelta()).total_seconds() * 1000)
        floored = (timestamp_ms + offset_ms) // self.duration_ms * self.duration_ms - offset_ms
        return dt.datetime.fromtimestamp(floored / 1000, dt.UTC).astimezone(self.timezone)

    def encode_partition(self, record: SinkRecord) -> str:
        return joda_format(self.path_format, self.bucket_start(self.extract(record)))
