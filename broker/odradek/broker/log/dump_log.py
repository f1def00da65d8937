"""`odradek dump-log`: print segment, offset-index and time-index files offline (Kafka's kafka-dump-log).

    odradek dump-log --files 00000000000000000000.log,00000000000000000000.index [--print-data-log]

Output follows Kafka's DumpLogSegments: "Dumping <file>", then for a .log "Log starting offset: N" and one line
per batch (with --deep-iteration or --print-data-log also one "| offset: ..." line per record, with key and
payload as UTF-8 under --print-data-log); for a .index "offset: N position: P" per entry; for a .timeindex
"timestamp: T offset: N" per entry; for a .txnindex "version: V producerId: P firstOffset: F lastOffset: L
lastStableOffset: S" per aborted transaction.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import crc32c
from odradek.broker.log import files
from odradek.broker.log.txn_index import TransactionIndex
from odradek.broker.records.batch import (
    ATTRIBUTES_OFFSET,
    CURRENT_MAGIC,
    DELETE_HORIZON_MASK,
    MAGIC_OFFSET,
    BatchHeader,
    InvalidRecordBatch,
    batch_size_at,
    read_header,
    sequence_at,
)
from odradek.broker.records.compression import CODEC_NAMES
from odradek.broker.records.record import iter_records


def _batch_line(header: BatchHeader, data: bytes) -> str:
    valid = int(crc32c.crc32c(memoryview(data)[ATTRIBUTES_OFFSET:])) == header.crc
    horizon = (
        f"OptionalLong[{header.base_timestamp}]" if header.attributes & DELETE_HORIZON_MASK else "OptionalLong.empty"
    )
    timestamp_type = "LogAppendTime" if header.is_log_append_time else "CreateTime"
    return (
        f"baseOffset: {header.base_offset} lastOffset: {header.last_offset} count: {header.record_count} "
        f"baseSequence: {header.base_sequence} lastSequence: {header.last_sequence} "
        f"producerId: {header.producer_id} producerEpoch: {header.producer_epoch} "
        f"partitionLeaderEpoch: {header.partition_leader_epoch} "
        f"isTransactional: {str(header.is_transactional).lower()} "
        f"isControl: {str(header.is_control).lower()} deleteHorizonMs: {horizon} "
        f"position: {header.position} {timestamp_type}: {header.max_timestamp} size: {header.size} "
        f"magic: {header.magic} compresscodec: {CODEC_NAMES.get(header.compression, 'unknown')} "
        f"crc: {header.crc} isvalid: {str(valid).lower()}"
    )


def _record_lines(header: BatchHeader, data: bytes, print_data: bool) -> Iterator[str]:
    timestamp_type = "LogAppendTime" if header.is_log_append_time else "CreateTime"
    for record in iter_records(data, header):
        offset_delta = record.offset - header.base_offset
        sequence = sequence_at(header.base_sequence, offset_delta)
        key_length = -1 if record.key is None else len(record.key)
        value_length = -1 if record.value is None else len(record.value)
        header_keys = [key for key, _ in record.headers]
        value = record.value
        line = (
            f"| offset: {record.offset} {timestamp_type}: {record.timestamp} "
            f"keySize: {key_length} valueSize: {value_length} sequence: {sequence} "
            f"headerKeys: [{','.join(header_keys)}]"
        )
        if print_data:
            key = "null" if record.key is None else record.key.decode("utf-8", "replace")
            payload = "null" if value is None else value.decode("utf-8", "replace")
            line += f" key: {key} payload: {payload}"
        yield line


def dump_log_file(path: Path, out: TextIO, deep: bool, print_data: bool) -> None:
    out.write(f"Log starting offset: {files.offset_from_file_name(path.name)}\n")
    data = path.read_bytes()
    position = 0
    while position < len(data):
        size = batch_size_at(data, position)
        if size is None or position + size > len(data) or data[position + MAGIC_OFFSET] != CURRENT_MAGIC:
            break
        batch = data[position : position + size]
        header = read_header(data, position)
        out.write(_batch_line(header, batch) + "\n")
        if deep or print_data:
            local = read_header(batch, 0)
            try:
                for line in _record_lines(local, batch, print_data):
                    out.write(line + "\n")
            except InvalidRecordBatch as exc:
                out.write(f"| unreadable records: {exc.message}\n")
        position += size
    if position < len(data):
        out.write(f"Found {len(data) - position} invalid bytes at the end of {path.name}\n")


def dump_index_file(path: Path, out: TextIO) -> None:
    base = files.offset_from_file_name(path.name)
    data = path.read_bytes()
    for relative, position in struct.iter_unpack(">ii", data[: len(data) - len(data) % 8]):
        out.write(f"offset: {base + relative} position: {position}\n")


def dump_time_index_file(path: Path, out: TextIO) -> None:
    base = files.offset_from_file_name(path.name)
    data = path.read_bytes()
    for timestamp, relative in struct.iter_unpack(">qi", data[: len(data) - len(data) % 12]):
        out.write(f"timestamp: {timestamp} offset: {base + relative}\n")


def dump_txn_index_file(path: Path, out: TextIO) -> None:
    for txn in TransactionIndex(path, files.offset_from_file_name(path.name)).all_aborted_txns():
        out.write(
            f"version: {txn.version} producerId: {txn.producer_id} firstOffset: {txn.first_offset} "
            f"lastOffset: {txn.last_offset} lastStableOffset: {txn.last_stable_offset}\n"
        )


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="odradek dump-log", description=__doc__.splitlines()[0])
    parser.add_argument("--files", required=True, help="comma-separated .log, .index, .timeindex and .txnindex files")
    parser.add_argument("--print-data-log", action="store_true", help="print record keys and payloads")
    parser.add_argument("--deep-iteration", action="store_true", help="print every record, not only batches")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    stream = sys.stdout if out is None else out
    status = 0
    for name in [f for f in args.files.split(",") if f]:
        path = Path(name)
        stream.write(f"Dumping {path}\n")
        if not path.is_file():
            stream.write(f"File {path} does not exist\n")
            status = 1
            continue
        suffix = os.path.splitext(path.name)[1]
        if suffix == files.LOG_SUFFIX:
            dump_log_file(path, stream, args.deep_iteration, args.print_data_log)
        elif suffix == files.INDEX_SUFFIX:
            dump_index_file(path, stream)
        elif suffix == files.TIME_INDEX_SUFFIX:
            dump_time_index_file(path, stream)
        elif suffix == files.TXN_INDEX_SUFFIX:
            dump_txn_index_file(path, stream)
        else:
            stream.write(f"Ignoring unknown file {path}\n")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
