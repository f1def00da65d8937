"""`odradek console-consumer`: print records, as kafka-console-consumer.sh.

Two modes, chosen as Kafka chooses them:

- Subscribe mode, when a consumer group is given (`--group G`, or `group.id` in `--consumer-property` /
  `--consumer.config`; all given values must agree): the consumer joins the group and subscribes to `--topic` or
  to the topics whose names fully match `--include REGEX`. Where the group has a committed offset it resumes
  there; elsewhere `auto.offset.reset` decides, which is `earliest` with `--from-beginning` and `latest` otherwise
  (an explicit conflicting `auto.offset.reset` is refused). Offsets are committed as by any consumer
  (`enable.auto.commit`, librdkafka's default true), only for records printed, and once more on exit; on exit,
  Ctrl-C or SIGTERM the consumer closes, which commits and leaves the group. `--partition` and `--offset` cannot
  be combined with a group.
- Assign mode, without a group: assigns `--partition` (or every partition of `--topic`, or of every topic matching
  `--include`) from `--offset` (earliest, latest or a number; `--from-beginning` means earliest; default latest),
  with a throw-away group id and no commits.

Each record is printed as Kafka's DefaultMessageFormatter does: the chosen fields among `CreateTime:ts`,
`Partition:p`, `Offset:o`, headers (`k:v` joined by `headers.separator`, or `NO_HEADERS`), key and value, in that
order, each followed by `key.separator` (default TAB) except the last, which is followed by `line.separator`
(default newline), whichever fields are printed; a null key, value or header value prints `null.literal`. Keys,
values and header values go through Kafka's deserializers where one is named (`key.deserializer`,
`value.deserializer`, `headers.deserializer`: String, ByteArray, Bytes, ByteBuffer and UUID print the bytes as they
are, Long, Integer, Short, Double and Float decode big-endian numbers). `--formatter` takes Kafka's
DefaultMessageFormatter (the default) or NoOpMessageFormatter. At the end `Processed a total of N messages` goes
to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import struct
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from odradek.cli.common import (
    CliError,
    add_bootstrap_options,
    client_config,
    client_properties,
    describe_kafka_error,
    load_properties_file,
    parse_key_value_args,
    probe_metadata,
)

OFFSET_BEGINNING = -2
OFFSET_END = -1
_TIMESTAMP_TYPES = {1: "CreateTime", 2: "LogAppendTime"}
_SERDE = "org.apache.kafka.common.serialization."
_FORMATTERS = {
    name: kind
    for kind in ("DefaultMessageFormatter", "NoOpMessageFormatter")
    for name in (kind, f"kafka.tools.{kind}", f"org.apache.kafka.tools.consumer.{kind}")
}


class DeserializationError(ValueError):
    """A key, value or header the configured deserializer cannot read (Kafka's SerializationException)."""


def _number(fmt: str, render: Callable[[Any], str]) -> Callable[[bytes], bytes]:
    size = struct.calcsize(fmt)

    def decode(data: bytes) -> bytes:
        if len(data) != size:
            raise DeserializationError(f"Size of data received is {len(data)}, not {size}")
        return render(struct.unpack(fmt, data)[0]).encode()

    return decode


def _identity(data: bytes) -> bytes:
    return data


# Kafka's deserializers by class name, as bytes -> printed bytes (None is printed as null.literal before this).
DESERIALIZERS: Mapping[str, Callable[[bytes], bytes]] = {
    **{
        _SERDE + kind: _identity
        for kind in (
            "StringDeserializer",
            "ByteArrayDeserializer",
            "BytesDeserializer",
            "ByteBufferDeserializer",
            "UUIDDeserializer",
        )
    },
    _SERDE + "LongDeserializer": _number(">q", str),
    _SERDE + "IntegerDeserializer": _number(">i", str),
    _SERDE + "ShortDeserializer": _number(">h", str),
    _SERDE + "DoubleDeserializer": _number(">d", repr),
    _SERDE + "FloatDeserializer": _number(">f", repr),
}


@dataclass(frozen=True, slots=True)
class RecordFormat:
    print_timestamp: bool = False
    print_partition: bool = False
    print_offset: bool = False
    print_key: bool = False
    print_value: bool = True
    print_headers: bool = False
    key_separator: bytes = b"\t"
    line_separator: bytes = b"\n"
    headers_separator: bytes = b","
    null_literal: bytes = b"null"
    key_deserializer: Callable[[bytes], bytes] = _identity
    value_deserializer: Callable[[bytes], bytes] = _identity
    headers_deserializer: Callable[[bytes], bytes] = _identity
    print_nothing: bool = False  # NoOpMessageFormatter


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "console-consumer", help="print records of topics (kafka-console-consumer)"
    )
    add_bootstrap_options(parser, config_flag="--consumer.config")
    parser.add_argument("--topic", help="the topic to consume (this or --include)")
    parser.add_argument(
        "--include", "--whitelist", metavar="REGEX", help="consume every topic whose name fully matches REGEX"
    )
    parser.add_argument("--partition", type=int, help="consume only this partition (assign mode; needs --topic)")
    parser.add_argument("--offset", default=None, help="assign mode: earliest, latest or an offset (default latest)")
    parser.add_argument(
        "--from-beginning", action="store_true", help="start at the earliest offset where no offset is committed"
    )
    parser.add_argument("--max-messages", type=int, help="exit after this many records")
    parser.add_argument("--timeout-ms", type=int, help="exit when no record arrives for this long")
    parser.add_argument("--property", action="append", metavar="K=V", help="print.key, print.offset, ...")
    parser.add_argument("--consumer-property", action="append", metavar="K=V", help="consumer config entry")
    parser.add_argument("--group", help="consumer group id: subscribe, commit offsets, take part in rebalances")
    parser.add_argument("--isolation-level", choices=("read_uncommitted", "read_committed"))
    parser.add_argument(
        "--formatter", default="DefaultMessageFormatter", metavar="CLASS", help="DefaultMessageFormatter or NoOp..."
    )
    parser.add_argument("--formatter-config", metavar="FILE", help="properties file of formatter properties")
    parser.add_argument("--key-deserializer", metavar="CLASS", help="Kafka deserializer class for keys")
    parser.add_argument("--value-deserializer", metavar="CLASS", help="Kafka deserializer class for values")
    parser.add_argument(
        "--skip-message-on-error", action="store_true", help="skip a record that cannot be deserialized"
    )
    parser.set_defaults(run=run)


@dataclass(frozen=True, slots=True)
class Mode:
    """How to consume: `group` None means assign mode; exactly one of `topic` and `include` is set."""

    group: str | None
    topic: str | None
    include: str | None
    partition: int | None
    offset: int


def consumer_mode(
    *,
    topic: str | None,
    include: str | None,
    partition: int | None,
    offset: str | None,
    from_beginning: bool,
    group_ids: Sequence[str],
) -> Mode:
    """Kafka's ConsoleConsumerOptions rules for topic/include/partition/offset/group, with its messages."""
    if (topic is None) == (include is None):
        raise CliError("Exactly one of --topic or --include is required")
    if partition is not None and topic is None:
        raise CliError("The topic is required when partition is specified.")
    distinct = list(dict.fromkeys(group_ids))
    if len(distinct) > 1:
        raise CliError(
            "The group ids provided in different places (directly using '--group', via '--consumer-property', "
            "or via '--consumer.config') do not match. Detected group ids: " + ", ".join(f"'{g}'" for g in distinct)
        )
    group = distinct[0] if distinct else None
    if group is not None and partition is not None:
        raise CliError("Options group and partition cannot be specified together.")
    if group is not None and offset is not None:
        raise CliError("The partition is required when offset is specified.")
    return Mode(group, topic, include, partition, start_offset(offset, from_beginning))


def auto_offset_reset(properties: Mapping[str, str], from_beginning: bool) -> str:
    """auto.offset.reset in subscribe mode: an explicit value wins, else earliest with --from-beginning, else latest."""
    explicit = properties.get("auto.offset.reset")
    if explicit is None:
        return "earliest" if from_beginning else "latest"
    if from_beginning and explicit != "earliest":
        raise CliError(
            f"Can't simultaneously specify --from-beginning and 'auto.offset.reset={explicit}', "
            "please remove one option"
        )
    return explicit


def subscription_pattern(include: str) -> str:
    """librdkafka subscribes to a regex when the name starts with `^`; anchored so it matches whole names (Java's
    Pattern.matcher(topic).matches(), as Kafka uses it)."""
    return f"^({include})$"


def start_offset(offset: str | None, from_beginning: bool) -> int:
    """librdkafka logical offset (-2 earliest, -1 latest) or an absolute offset."""
    if from_beginning:
        if offset is not None and offset != "earliest":
            raise CliError("--from-beginning cannot be combined with --offset other than earliest")
        return OFFSET_BEGINNING
    if offset is None or offset == "latest":
        return OFFSET_END
    if offset == "earliest":
        return OFFSET_BEGINNING
    try:
        value = int(offset)
    except ValueError:
        raise CliError(f"The provided offset value '{offset}' is incorrect: use earliest, latest or a number") from None
    if value < 0:
        raise CliError(f"The provided offset value '{offset}' is incorrect: offsets are non-negative")
    return value


def record_format(properties: Mapping[str, str], formatter: str = "DefaultMessageFormatter") -> RecordFormat:
    """The formatter's properties (DefaultMessageFormatter's names) as a RecordFormat."""

    def flag(name: str, default: bool = False) -> bool:
        return properties.get(name, str(default)).strip().lower() == "true"  # Kafka trims booleans

    def deserializer(name: str) -> Callable[[bytes], bytes]:
        class_name = properties.get(name, _SERDE + "ByteArrayDeserializer")
        found = DESERIALIZERS.get(class_name)
        if found is None:
            known = ", ".join(sorted(n.rsplit(".", 1)[1] for n in DESERIALIZERS))
            raise CliError(f"Unsupported {name} {class_name} (available: {known}, in {_SERDE.rstrip('.')})")
        return found

    kind = _FORMATTERS.get(formatter)
    if kind is None:
        raise CliError(f"Unsupported formatter {formatter}: DefaultMessageFormatter or NoOpMessageFormatter")
    known = {
        "print.timestamp", "print.partition", "print.offset", "print.key", "print.value", "print.headers",
        "key.separator", "line.separator", "headers.separator", "null.literal",
        "key.deserializer", "value.deserializer", "headers.deserializer",
    }  # fmt: skip
    unknown = set(properties) - known
    if unknown:
        raise CliError(f"Unknown --property key(s): {', '.join(sorted(unknown))}")
    return RecordFormat(
        print_timestamp=flag("print.timestamp"),
        print_partition=flag("print.partition"),
        print_offset=flag("print.offset"),
        print_key=flag("print.key"),
        print_value=flag("print.value", True),
        print_headers=flag("print.headers"),
        key_separator=_unescape(properties.get("key.separator", "\t")),
        line_separator=_unescape(properties.get("line.separator", "\n")),
        headers_separator=_unescape(properties.get("headers.separator", ",")),
        null_literal=properties.get("null.literal", "null").encode(),
        key_deserializer=deserializer("key.deserializer"),
        value_deserializer=deserializer("value.deserializer"),
        headers_deserializer=deserializer("headers.deserializer"),
        print_nothing=kind == "NoOpMessageFormatter",
    )


def formatter_properties(args: argparse.Namespace) -> dict[str, str]:
    """Kafka's order: the --formatter-config file, then --property, then --key/--value-deserializer."""
    properties = load_properties_file(args.formatter_config) if args.formatter_config else {}
    properties.update(parse_key_value_args(args.property))
    if args.key_deserializer:
        properties["key.deserializer"] = args.key_deserializer
    if args.value_deserializer:
        properties["value.deserializer"] = args.value_deserializer
    return properties


def _unescape(text: str) -> bytes:
    return text.encode().decode("unicode_escape").encode("latin-1") if "\\" in text else text.encode()


def format_record(
    fmt: RecordFormat,
    *,
    timestamp: tuple[int, int],
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None = None,
) -> bytes:
    """One record as DefaultMessageFormatter prints it; timestamp is (type, ms) with type 0 = none. Every printed
    field but the last is followed by key.separator, the last by line.separator; DeserializationError if a
    deserializer cannot read the key, value or a header."""
    if fmt.print_nothing:
        return b""
    fields: list[bytes] = []
    if fmt.print_timestamp:
        kind = _TIMESTAMP_TYPES.get(timestamp[0])
        fields.append(f"{kind}:{timestamp[1]}".encode() if kind else b"NO_TIMESTAMP")
    if fmt.print_partition:
        fields.append(f"Partition:{partition}".encode())
    if fmt.print_offset:
        fields.append(f"Offset:{offset}".encode())
    if fmt.print_headers:
        fields.append(_headers(fmt, headers or ()))
    if fmt.print_key:
        fields.append(fmt.null_literal if key is None else fmt.key_deserializer(key))
    if fmt.print_value:
        fields.append(fmt.null_literal if value is None else fmt.value_deserializer(value))
    if not fields:
        return b""
    return fmt.key_separator.join(fields) + fmt.line_separator


def _headers(fmt: RecordFormat, headers: Sequence[tuple[str, bytes | None]]) -> bytes:
    if not headers:
        return b"NO_HEADERS"
    return fmt.headers_separator.join(
        name.encode() + b":" + (fmt.null_literal if data is None else fmt.headers_deserializer(data))
        for name, data in headers
    )


def run(args: argparse.Namespace) -> int:
    if args.max_messages is not None and args.max_messages < 0:
        raise CliError("--max-messages must be non-negative")
    fmt = record_format(formatter_properties(args), args.formatter)
    extra = parse_key_value_args(args.consumer_property)
    file_props = client_properties(args.command_config) if args.command_config else {}
    group_ids = [g for g in (args.group, file_props.get("group.id"), extra.get("group.id")) if g is not None]
    mode = consumer_mode(
        topic=args.topic,
        include=args.include,
        partition=args.partition,
        offset=args.offset,
        from_beginning=args.from_beginning,
        group_ids=group_ids,
    )
    if args.isolation_level:
        extra["isolation.level"] = args.isolation_level
    if mode.group is None:
        defaults: dict[str, Any] = {"group.id": f"console-consumer-{os.getpid()}", "enable.auto.commit": False}
    else:
        reset = auto_offset_reset({**file_props, **extra}, args.from_beginning)
        defaults = {"client.id": "console-consumer", "auto.offset.reset": reset}
        extra["group.id"] = mode.group
    config = client_config(args, extra, **defaults)
    with _sigterm_as_interrupt():
        count = _consume(args, mode, fmt, config)
    print(f"Processed a total of {count} messages", file=sys.stderr)
    return 0


def _consume(args: argparse.Namespace, mode: Mode, fmt: RecordFormat, config: dict[str, Any]) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(config)
    try:
        if mode.group is not None:
            probe_metadata(consumer, args.bootstrap_server)
            consumer.subscribe([mode.topic if mode.topic is not None else subscription_pattern(mode.include or "")])
        else:
            metadata = probe_metadata(consumer, args.bootstrap_server, mode.topic)
            assignment = [
                TopicPartition(topic, p, mode.offset)
                for topic in _assign_topics(metadata, mode)
                for p in _partitions(metadata, topic, mode.partition)
            ]
            consumer.assign(assignment)
        return consume_loop(
            consumer, fmt, sys.stdout.buffer, args.max_messages, args.timeout_ms, args.skip_message_on_error
        )
    finally:
        # Commits the offsets of printed records (group mode) and leaves the group; bounded by librdkafka.
        consumer.close()


def _assign_topics(metadata: Any, mode: Mode) -> list[str]:
    if mode.topic is not None:
        return [mode.topic]
    try:
        regex = re.compile(mode.include or "")
    except re.error as exc:
        raise CliError(f"Invalid --include regular expression: {exc}") from None
    return sorted(t for t in metadata.topics if regex.fullmatch(t))


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the consumer like Ctrl-C (Kafka's shutdown hook): close, commit, leave the group."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (tests calling main() from a worker): leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _partitions(metadata: Any, topic: str, partition: int | None) -> list[int]:
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        reason = describe_kafka_error(described.error) if described is not None else "not in metadata"
        raise CliError(f"Topic '{topic}' is not available: {reason}")
    ids = sorted(described.partitions)
    if partition is None:
        return ids
    if partition not in ids:
        raise CliError(f"Partition {partition} does not exist in topic {topic} (partitions: {len(ids)})")
    return [partition]


def consume_loop(
    consumer: Any,
    fmt: RecordFormat,
    out: BinaryIO,
    max_messages: int | None,
    timeout_ms: int | None,
    skip_on_error: bool = False,
) -> int:
    """Print records until max_messages, an idle timeout_ms, or Ctrl-C; returns the count processed (a record
    skipped with `skip_on_error` counts, as in Kafka)."""
    count = 0
    last = time.monotonic()
    try:
        while max_messages is None or count < max_messages:
            wanted = 500 if max_messages is None else min(500, max_messages - count)
            batch = consumer.consume(num_messages=wanted, timeout=0.2)
            now = time.monotonic()
            for msg in batch:
                if msg.error() is not None:
                    if msg.error().code() == -191:  # _PARTITION_EOF
                        continue
                    raise CliError(f"Consume failed: {describe_kafka_error(msg.error())}")
                try:
                    line = format_record(
                        fmt,
                        timestamp=msg.timestamp(),
                        partition=msg.partition(),
                        offset=msg.offset(),
                        key=msg.key(),
                        value=msg.value(),
                        headers=msg.headers(),
                    )
                except DeserializationError as exc:
                    if not skip_on_error:
                        raise CliError(
                            f"Cannot format the record at offset {msg.offset()} of {msg.topic()}-{msg.partition()}: "
                            f"{exc} (--skip-message-on-error skips it)"
                        ) from None
                    print(f"Skipping the record at offset {msg.offset()}: {exc}", file=sys.stderr)
                    line = b""
                out.write(line)
                count += 1
                last = now
            out.flush()
            if timeout_ms is not None and (now - last) * 1000 >= timeout_ms:
                break
    except KeyboardInterrupt:
        pass
    return count
