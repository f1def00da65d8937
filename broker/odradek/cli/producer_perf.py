"""`odradek producer-perf-test`, as kafka-producer-perf-test.sh (output lines: see `perf_stats`).

Differences from Kafka's tool, on purpose: the payload of `--record-size` is one random A-Z buffer reused for
every record (Kafka regenerates it per record, which in Python would measure `random` rather than the broker);
latency is librdkafka's produce-to-delivery time per record (`Message.latency()`), in whole milliseconds.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

from odradek.cli.common import (
    CliError,
    client_properties,
    describe_kafka_error,
    parse_key_value_args,
    probe_metadata,
)
from odradek.cli.perf_stats import ProducerStats
from odradek.cli.progress import ProgressBar

FLUSH_TIMEOUT_S = 330.0  # librdkafka's default message.timeout.ms (300 s) plus a margin


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "producer-perf-test", help="producer throughput and latency (kafka-producer-perf-test)"
    )
    parser.add_argument("--topic", required=True)
    parser.add_argument("--num-records", type=int, required=True)
    payload = parser.add_mutually_exclusive_group(required=True)
    payload.add_argument("--record-size", type=int, help="record value size in bytes")
    payload.add_argument("--payload-file", help="UTF-8 file of payloads, split by --payload-delimiter")
    payload.add_argument(
        "--payload-monotonic", action="store_true", help="payload of record i is i in decimal (Kafka's option)"
    )
    parser.add_argument("--payload-delimiter", default="\\n", help="payload separator (default newline)")
    parser.add_argument("--throughput", type=float, required=True, help="records/s cap; -1 for none")
    parser.add_argument("--producer-props", nargs="+", metavar="K=V", help="producer configs")
    parser.add_argument("--producer-property", action="append", metavar="K=V", help="one producer config")
    parser.add_argument("--producer.config", "--command-config", dest="producer_config", metavar="FILE")
    parser.add_argument("--bootstrap-server", default=None, help="shorthand for bootstrap.servers")
    parser.add_argument("--progress", action="store_true", help="progress bar on stderr even if not a tty")
    parser.set_defaults(run=run)


def build_config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {"log_level": 0, "client.id": "perf-producer-client"}
    if args.producer_config:
        config.update(client_properties(args.producer_config))
    config.update(parse_key_value_args(args.producer_props))
    config.update(parse_key_value_args(args.producer_property))
    if args.bootstrap_server:
        config["bootstrap.servers"] = args.bootstrap_server
    if "bootstrap.servers" not in config:
        raise CliError("--bootstrap-server, --producer-props bootstrap.servers=... or --producer.config is required")
    return config


def payloads(args: argparse.Namespace) -> list[bytes]:
    if args.payload_monotonic:
        return []  # made per record
    if args.record_size is not None:
        if args.record_size <= 0:
            raise CliError("--record-size should be greater than zero")
        rng = random.Random(0)
        return [bytes(rng.randrange(65, 91) for _ in range(args.record_size))]
    delimiter = "\n" if args.payload_delimiter == "\\n" else args.payload_delimiter
    try:
        with open(args.payload_file, encoding="utf-8") as handle:
            items = [p.encode() for p in handle.read().split(delimiter) if p]
    except OSError as exc:
        raise CliError(f"Cannot read {args.payload_file}: {exc.strerror or exc}") from None
    if not items:
        raise CliError("File does not exist or empty file provided.")
    return items


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import Producer

    if args.num_records <= 0:
        raise CliError("--num-records should be greater than zero")
    config = build_config(args)
    items = payloads(args)
    if args.payload_file:
        print(f"Number of messages read: {len(items)}")
    producer = Producer(config)
    probe_metadata(producer, str(config["bootstrap.servers"]), args.topic)
    bar = ProgressBar(args.num_records, "records", enabled=True if args.progress else None)
    return _run_test(producer, args, items, bar)


def _run_test(producer: Any, args: argparse.Namespace, items: list[bytes], bar: ProgressBar) -> int:
    def emit(line: str) -> None:
        bar.update(stats.count, force=True)
        print(("\r" if bar_on else "") + line, flush=True)

    bar_on = args.progress or sys.stderr.isatty()
    stats = ProducerStats(args.num_records, lambda: time.monotonic() * 1000.0, emit)
    failures: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(describe_kafka_error(err))
            return
        value = msg.value()
        stats.record(int(msg.latency() * 1000.0), len(value) if value else 0, time.monotonic() * 1000.0)

    rng = random.Random(0)
    start = time.monotonic()
    for i in range(args.num_records):
        if args.payload_monotonic:
            payload = str(i).encode()
        else:
            payload = items[0] if len(items) == 1 else items[rng.randrange(len(items))]
        _send(producer, args.topic, payload, on_delivery)
        if args.throughput > 0:
            _throttle(producer, start, i + 1, args.throughput)
        if i % 1000 == 0:
            producer.poll(0)
            bar.update(stats.count)
    deadline = time.monotonic() + FLUSH_TIMEOUT_S
    while len(producer) and time.monotonic() < deadline:
        producer.flush(0.5)
        bar.update(stats.count)
    bar.close(stats.count)
    print(stats.total_line(time.monotonic() * 1000.0), flush=True)
    if failures:
        raise CliError(f"{len(failures)} record(s) failed; first error: {failures[0]}")
    if len(producer):
        raise CliError(f"{len(producer)} record(s) still undelivered after {FLUSH_TIMEOUT_S:.0f} s")
    return 0


def _send(producer: Any, topic: str, payload: bytes, cb: Any) -> None:
    while True:
        try:
            producer.produce(topic, payload, on_delivery=cb)
            return
        except BufferError:
            producer.poll(0.01)


def _throttle(producer: Any, start: float, sent: int, throughput: float) -> None:
    """Keep `sent / elapsed` at or under `throughput`, serving delivery callbacks while waiting."""
    ahead = start + sent / throughput - time.monotonic()
    while ahead > 0:
        producer.poll(min(ahead, 0.1))
        ahead = start + sent / throughput - time.monotonic()
