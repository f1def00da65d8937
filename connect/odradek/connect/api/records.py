"""Records as connectors see them (Kafka's ConnectRecord, SourceRecord, SinkRecord, Header).

Records are frozen values: a transformation returns a new record (`new_record`) instead of mutating one. Headers are
a tuple of `Header` in order; the same key may repeat, as in Kafka.

- `SourceRecord.source_partition` / `source_offset`: maps of JSON-serialisable primitives (str, int, float, bool,
  None) that the runtime stores as the connector's offset (FileStreamSource: `{"filename": f}` -> `{"position": n}`).
- `SinkRecord.kafka_offset` is the offset of the consumed record; `original_*` keep the topic, partition and offset it
  was consumed at, before any transformation renamed the topic (KIP-793).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Self

from odradek.connect.api.data import Schema

JsonPrimitive = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Header:
    key: str
    schema: Schema | None
    value: Any


def headers_without(headers: Iterable[Header], keys: Iterable[str]) -> tuple[Header, ...]:
    dropped = set(keys)
    return tuple(h for h in headers if h.key not in dropped)


def last_header(headers: Iterable[Header], key: str) -> Header | None:
    found = None
    for header in headers:
        if header.key == key:
            found = header
    return found


@dataclass(frozen=True, slots=True)
class ConnectRecord:
    topic: str
    kafka_partition: int | None
    key_schema: Schema | None
    key: Any
    value_schema: Schema | None
    value: Any
    timestamp: int | None = None
    headers: tuple[Header, ...] = ()

    def new_record(self, **changes: Any) -> Self:
        """A copy with the given fields replaced (topic, kafka_partition, key_schema, key, value_schema, value,
        timestamp, headers), as Kafka's ConnectRecord.newRecord."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class SourceRecord(ConnectRecord):
    source_partition: Mapping[str, JsonPrimitive] | None = None
    source_offset: Mapping[str, JsonPrimitive] | None = None


@dataclass(frozen=True, slots=True)
class SinkRecord(ConnectRecord):
    kafka_offset: int = -1
    timestamp_type: str = "CreateTime"
    original_topic: str | None = None
    original_kafka_partition: int | None = None
    original_kafka_offset: int | None = None
