"""Message-format conversion for old clients, between the handlers and `records.legacy` (handlers reach stored
data only through replication): Produce v0-2's MessageSets up to RecordBatch v2 before the append, and a Fetch
v0-3's file slices down to magic 0/1 while the response is sent (`protocol.frames.StreamedRecords`).

Both count the records they convert: `on_converted(topic, records)` is the broker's produce or fetch conversions
metric (kafka_server_brokertopicmetrics_{produce,fetch}messageconversions).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.frames import StreamedRecords
from odradek.broker.records import legacy
from odradek.broker.records.batch import InvalidRecordBatch, read_header
from odradek.broker.replication.api import FileRecords, ProduceEntry, ProduceResult

Counter = Callable[[str, int], None]


def up_convert(
    entries: list[ProduceEntry], on_converted: Counter
) -> tuple[list[ProduceEntry], list[ProduceResult | None]]:
    """Each entry holding a MessageSet (magic 0/1) as one v2 batch (Kafka's LogValidator conversion), with, per
    entry, None or the failure it is answered with (CORRUPT_MESSAGE, INVALID_RECORD) without an append. Entries
    that already hold v2 batches pass unchanged."""
    converted: list[ProduceEntry] = []
    failures: list[ProduceResult | None] = []
    for entry in entries:
        failure: ProduceResult | None = None
        if legacy.is_legacy(entry.records):
            try:
                batch = legacy.to_record_batch(entry.records)
            except InvalidRecordBatch as exc:
                failure = ProduceResult(ErrorCode(exc.error_code), message=str(exc))
            else:
                on_converted(entry.topic, read_header(batch).record_count)
                entry = ProduceEntry(entry.topic, entry.partition, batch)
        converted.append(entry)
        failures.append(failure)
    return converted, failures


def down_convert(records: FileRecords, magic: int, topic: str, on_converted: Counter) -> StreamedRecords:
    """The slice as a MessageSet of `magic`, made while it is sent (`records.legacy.LazyDownConversion`). The
    segment's descriptor is duplicated (the segment may be closed or deleted before the response goes out) and
    closed when the response is sent or dropped, which is also when the converted records are counted."""
    fd = os.dup(records.fd)
    try:
        lazy = legacy.LazyDownConversion(
            lambda position, size: os.pread(fd, size, position), records.position, records.size, magic
        )
    except BaseException:
        os.close(fd)
        raise

    def close() -> None:
        os.close(fd)
        on_converted(topic, lazy.converted)

    return StreamedRecords(lazy.size, lazy.pieces(), close)
