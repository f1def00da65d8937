"""`odradek console-producer`: one record per stdin line, as kafka-console-producer.sh.

Lines are read as Kafka's LineMessageReader reads them (`--property` names): with `parse.headers=true` a line starts
with headers `k1:v1,k2:v2` (`headers.key.separator`, `headers.separator`) up to the first `headers.delimiter`
(default TAB); with `parse.key=true` the rest splits at the first `key.separator` (default TAB) into key and value;
a line without the separator is an error unless `ignore.error=true` (then the whole rest is the value), and a key,
value or header value equal to `null.marker` is null. Lines are bytes: no decoding, the trailing newline (LF or CRLF)
is dropped. `--sync` waits for each record's acknowledgement before reading the next line. The producer flags
(`--batch-size`, `--timeout`, `--request-timeout-ms`, ...) set the producer configs Kafka's tool sets with them,
only when given.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from odradek.cli.common import (
    CliError,
    add_bootstrap_options,
    client_config,
    describe_kafka_error,
    load_properties_file,
    parse_key_value_args,
    probe_metadata,
)

FLUSH_TIMEOUT_S = 60.0


# Kafka's console-producer flags that set one producer config, as (flag, config); the value is passed through.
PRODUCER_FLAGS: tuple[tuple[str, str], ...] = (
    ("--request-required-acks", "acks"),
    ("--timeout", "linger.ms"),
    ("--request-timeout-ms", "request.timeout.ms"),
    ("--message-send-max-retries", "retries"),
    ("--retry-backoff-ms", "retry.backoff.ms"),
    ("--socket-buffer-size", "socket.send.buffer.bytes"),
    ("--batch-size", "batch.size"),
    ("--max-partition-memory-bytes", "batch.size"),
    ("--metadata-expiry-ms", "metadata.max.age.ms"),
)
DEFAULT_LINE_READERS = (
    "kafka.tools.ConsoleProducer$LineMessageReader",
    "org.apache.kafka.tools.LineMessageReader",
)


@dataclass(frozen=True, slots=True)
class LineFormat:
    parse_key: bool = False
    key_separator: bytes = b"\t"
    null_marker: bytes | None = None
    ignore_error: bool = False
    parse_headers: bool = False
    headers_delimiter: bytes = b"\t"
    headers_separator: bytes = b","
    headers_key_separator: bytes = b":"


Headers = list[tuple[str, bytes | None]]


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "console-producer", help="produce lines from stdin (kafka-console-producer)"
    )
    add_bootstrap_options(parser, config_flag="--producer.config", broker_list=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--property", action="append", metavar="K=V", help="parse.key, key.separator, ...")
    parser.add_argument("--reader-config", metavar="FILE", help="properties file of line reader properties")
    parser.add_argument("--line-reader", metavar="CLASS", help="only Kafka's LineMessageReader")
    parser.add_argument("--producer-property", action="append", metavar="K=V", help="producer config entry")
    parser.add_argument("--partition", type=int, help="produce to this partition (default: the partitioner's)")
    parser.add_argument("--sync", action="store_true", help="wait for each record's acknowledgement")
    parser.add_argument(
        "--compression-codec",
        nargs="?",
        const="gzip",
        default=None,
        help="none, gzip, snappy, lz4 or zstd; gzip when given without a value",
    )
    for flag, config in PRODUCER_FLAGS:
        parser.add_argument(flag, metavar="VALUE", help=f"the producer's {config}")
    parser.add_argument("--max-memory-bytes", type=int, help="the producer's buffer.memory")
    parser.add_argument("--max-block-ms", type=int, help="accepted; librdkafka's produce() does not block")
    parser.set_defaults(run=run)


def producer_overrides(args: argparse.Namespace) -> dict[str, str]:
    """The producer configs the tool's own flags set (given flags only), as Kafka's ConsoleProducer sets them."""
    extra: dict[str, str] = {}
    for flag, config in PRODUCER_FLAGS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            extra[config] = str(value)
    if args.max_memory_bytes is not None:
        extra["queue.buffering.max.kbytes"] = str(max(args.max_memory_bytes // 1024, 1))
    if args.compression_codec is not None:
        extra["compression.type"] = args.compression_codec
    if args.sync:
        extra["linger.ms"] = "0"
    return extra


def line_format(properties: Mapping[str, str]) -> LineFormat:
    known = {
        "parse.key", "key.separator", "null.marker", "ignore.error", "parse.headers", "headers.delimiter",
        "headers.separator", "headers.key.separator",
    }  # fmt: skip
    unknown = set(properties) - known
    if unknown:
        raise CliError(f"Unknown --property key(s): {', '.join(sorted(unknown))}")

    def separator(name: str, default: str) -> bytes:
        value = properties.get(name, default).encode()
        if not value:
            raise CliError(f"{name} must not be empty")
        return value

    marker = properties.get("null.marker")
    fmt = LineFormat(
        parse_key=properties.get("parse.key", "false").strip().lower() == "true",
        key_separator=separator("key.separator", "\t"),
        null_marker=marker.encode() if marker else None,
        ignore_error=properties.get("ignore.error", "false").strip().lower() == "true",
        parse_headers=properties.get("parse.headers", "false").strip().lower() == "true",
        headers_delimiter=separator("headers.delimiter", "\t"),
        headers_separator=separator("headers.separator", ","),
        headers_key_separator=separator("headers.key.separator", ":"),
    )
    if fmt.parse_headers and fmt.headers_delimiter == fmt.headers_separator:
        raise CliError("headers.delimiter and headers.separator may not be equal")
    return fmt


def parse_line(line: bytes, line_number: int, fmt: LineFormat) -> tuple[bytes | None, bytes | None, Headers]:
    """(key, value, headers) of one input line (without its newline)."""
    headers: Headers = []
    if fmt.parse_headers:
        cut = line.find(fmt.headers_delimiter)
        if cut < 0:
            if not fmt.ignore_error:
                raise CliError(f"No headers delimiter found on line number {line_number}: '{_text(line)}'")
        else:
            headers = _parse_headers(line[:cut], line_number, fmt)
            line = line[cut + len(fmt.headers_delimiter) :]
    key: bytes | None = None
    value: bytes | None = line
    if fmt.parse_key:
        cut = line.find(fmt.key_separator)
        if cut >= 0:
            key, value = line[:cut], line[cut + len(fmt.key_separator) :]
        elif not fmt.ignore_error:
            raise CliError(f"No key separator found on line number {line_number}: '{_text(line)}'")
    if fmt.null_marker is not None:
        key = None if key == fmt.null_marker else key
        value = None if value == fmt.null_marker else value
    return key, value, headers


def _parse_headers(text: bytes, line_number: int, fmt: LineFormat) -> Headers:
    headers: Headers = []
    for item in text.split(fmt.headers_separator):
        name, found, data = item.partition(fmt.headers_key_separator)
        if fmt.null_marker is not None and name == fmt.null_marker:
            raise CliError(f"Header keys should not be equal to the null marker '{_text(fmt.null_marker)}' "
                           f"as they can't be null (line number {line_number})")  # fmt: skip
        value = data if found else None
        headers.append((name.decode(errors="replace"), None if value == fmt.null_marker else value))
    return headers


def _text(data: bytes) -> str:
    return data.decode(errors="replace")


def strip_newline(raw: bytes) -> bytes:
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    return raw[:-1] if raw.endswith(b"\n") else raw


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import Producer

    if args.line_reader is not None and args.line_reader not in DEFAULT_LINE_READERS:
        raise CliError(f"Unsupported --line-reader {args.line_reader}: only Kafka's LineMessageReader")
    properties = load_properties_file(args.reader_config) if args.reader_config else {}
    properties.update(parse_key_value_args(args.property))
    fmt = line_format(properties)
    extra = {**parse_key_value_args(args.producer_property), **producer_overrides(args)}
    producer = Producer(client_config(args, extra))
    probe_metadata(producer, args.bootstrap_server)
    return produce_lines(producer, args.topic, args.partition, sys.stdin.buffer, fmt, sync=args.sync)


def produce_lines(
    producer: Any, topic: str, partition: int | None, source: BinaryIO, fmt: LineFormat, *, sync: bool = False
) -> int:
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(describe_kafka_error(err))

    extra: dict[str, Any] = {} if partition is None else {"partition": partition}
    for number, raw in enumerate(source, start=1):
        key, value, headers = parse_line(strip_newline(raw), number, fmt)
        _produce(producer, topic, key, value, on_delivery, {**extra, "headers": headers} if headers else extra)
        if sync and producer.flush(FLUSH_TIMEOUT_S):
            raise CliError(f"The record of line {number} was not acknowledged within {FLUSH_TIMEOUT_S:.0f} s")
        if errors:
            break
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    if errors:
        raise CliError(f"Error when sending message to topic {topic}: {errors[0]}")
    if remaining:
        raise CliError(f"{remaining} message(s) not delivered to topic {topic} within {FLUSH_TIMEOUT_S:.0f} s")
    return 0


def _produce(producer: Any, topic: str, key: bytes | None, value: bytes | None, cb: Any, extra: Any) -> None:
    deadline = time.monotonic() + FLUSH_TIMEOUT_S
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=cb, **extra)
            producer.poll(0)
            return
        except BufferError:
            if time.monotonic() > deadline:
                raise CliError("Producer queue stayed full; is the broker accepting records?") from None
            producer.poll(0.1)
