"""`odradek consumer-perf-test`, as kafka-consumer-perf-test.sh (output lines: see `perf_stats`).

Runs in partition-assignment mode (all partitions of `--topic`, from the earliest offset or, with
`--from-latest`, the latest): consumer groups are a later issue, so `rebalance.time.ms` is always 0 and
`--group` is refused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from odradek.cli.common import (
    CliError,
    add_bootstrap_options,
    client_config,
    describe_kafka_error,
    parse_key_value_args,
    probe_metadata,
)
from odradek.cli.perf_stats import (
    CONSUMER_HEADER,
    DEFAULT_DATE_FORMAT,
    DETAILED_CONSUMER_HEADER,
    ConsumerResult,
    format_consumer_progress,
    format_consumer_row,
)
from odradek.cli.progress import ProgressBar

OFFSET_BEGINNING = -2
OFFSET_END = -1


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "consumer-perf-test", help="consumer throughput (kafka-consumer-perf-test, assign mode)"
    )
    add_bootstrap_options(parser, config_flag="--consumer.config", broker_list=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--messages", type=int, required=True, help="number of records to consume")
    parser.add_argument("--timeout", type=int, default=10_000, help="max ms between returned records")
    parser.add_argument("--from-latest", action="store_true", help="start at the latest offset")
    parser.add_argument("--fetch-size", type=int, default=1024 * 1024, help="max.partition.fetch.bytes")
    parser.add_argument("--socket-buffer-size", type=int, default=2 * 1024 * 1024, help="TCP receive buffer")
    parser.add_argument("--consumer-property", action="append", metavar="K=V", help="one consumer config")
    parser.add_argument("--show-detailed-stats", action="store_true")
    parser.add_argument("--reporting-interval", type=int, default=5000, metavar="MS")
    parser.add_argument("--hide-header", action="store_true")
    parser.add_argument("--date-format", default=DEFAULT_DATE_FORMAT)
    parser.add_argument("--group", help="(not supported yet: subscribe mode comes later)")
    for flag in ("--threads", "--num-fetch-threads"):  # deprecated in Kafka and ignored there too
        parser.add_argument(flag, type=int, help="accepted and ignored, as by Kafka's tool (deprecated)")
    parser.add_argument("--progress", action="store_true", help="progress bar on stderr even if not a tty")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import Consumer, TopicPartition

    if args.group:
        raise CliError("--group (subscribe mode) is not supported yet; consumer-perf-test assigns all partitions")
    if args.messages <= 0:
        raise CliError("--messages should be greater than zero")
    if args.reporting_interval <= 0:
        raise CliError("Reporting interval must be greater than 0.")
    extra = parse_key_value_args(args.consumer_property)
    config = client_config(
        args,
        extra,
        **{
            "group.id": f"perf-consumer-{os.getpid()}",
            "client.id": "perf-consumer-client",
            "enable.auto.commit": False,
            "socket.receive.buffer.bytes": args.socket_buffer_size,
            "max.partition.fetch.bytes": args.fetch_size,
            "check.crcs": False,
        },
    )
    consumer = Consumer(config)
    try:
        metadata = probe_metadata(consumer, args.bootstrap_server, args.topic)
        topic = metadata.topics.get(args.topic)
        if topic is None or topic.error is not None:
            reason = describe_kafka_error(topic.error) if topic is not None else "not in metadata"
            raise CliError(f"Topic '{args.topic}' is not available: {reason}")
        if not args.hide_header:
            print(DETAILED_CONSUMER_HEADER if args.show_detailed_stats else CONSUMER_HEADER, flush=True)
        start = OFFSET_END if args.from_latest else OFFSET_BEGINNING
        start_ms = int(time.time() * 1000)
        consumer.assign([TopicPartition(args.topic, p, start) for p in sorted(topic.partitions)])
        messages, size = _consume(consumer, args)
        end_ms = int(time.time() * 1000)
    finally:
        consumer.close()
    if not args.show_detailed_stats:
        print(format_consumer_row(ConsumerResult(start_ms, end_ms, size, messages), args.date_format))
    return 0


def _consume(consumer: Any, args: argparse.Namespace) -> tuple[int, int]:
    bar = ProgressBar(args.messages, "records", enabled=True if args.progress else None)
    messages = size = last_messages = last_size = 0
    now = last_consumed = last_report = time.monotonic()
    while messages < args.messages and (now - last_consumed) * 1000 <= args.timeout:
        batch = consumer.consume(num_messages=min(10_000, args.messages - messages), timeout=0.1)
        now = time.monotonic()
        for msg in batch:
            if msg.error() is not None:
                if msg.error().code() == -191:  # _PARTITION_EOF
                    continue
                raise CliError(f"Consume failed: {describe_kafka_error(msg.error())}")
            messages += 1
            key, value = msg.key(), msg.value()
            size += (len(key) if key else 0) + (len(value) if value else 0)
        if batch:
            last_consumed = now
        bar.update(messages)
        if args.show_detailed_stats and (now - last_report) * 1000 >= args.reporting_interval:
            interval = int((now - last_report) * 1000)
            line = format_consumer_progress(
                int(time.time() * 1000), size, last_size, messages, last_messages, interval, args.date_format
            )
            print(line, flush=True)
            last_report, last_messages, last_size = now, messages, size
    bar.close(messages)
    if messages < args.messages:
        print(
            f"WARNING: Exiting before consuming the expected number of messages: timeout ({args.timeout} ms) "
            "exceeded. You can use the --timeout option to increase the timeout.",
            file=sys.stdout,
        )
    return messages, size
