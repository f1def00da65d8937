"""The tools as Kafka users type them (issue 15): Kafka's parsing of --property and --add-config, its
DefaultMessageFormatter output, and the flags of Kafka's tools of the same names (no broker)."""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

import pytest
from odradek.cli import main as cli_main
from odradek.cli.common import CliError, parse_add_config, parse_key_value_args
from odradek.cli.configs import resolve_entity
from odradek.cli.console_consumer import format_record, formatter_properties, record_format
from odradek.cli.console_producer import line_format, parse_line, producer_overrides
from odradek.cli.group_views import check_args, export_reset_plan, parse_reset_plan
from odradek.cli.topics import PartitionView, TopicView, describe_lines, parse_replica_assignment, partition_filters

SERDE = "org.apache.kafka.common.serialization."


def parse(*argv: str) -> argparse.Namespace:
    return cli_main.build_parser().parse_args(list(argv))


def record(fmt_props: dict[str, str], **fields: object) -> bytes:
    base: dict[str, object] = {"timestamp": (1, 5), "partition": 0, "offset": 7, "key": b"k", "value": b"v"}
    return format_record(record_format(fmt_props), **{**base, **fields})  # type: ignore[arg-type]


# -- --property: one pair per flag, split at the first '=', nothing trimmed -------------------------------------


def test_property_values_keep_commas_and_spaces() -> None:
    assert parse_key_value_args(["key.separator=,", "parse.key=true"]) == {"key.separator": ",", "parse.key": "true"}
    assert parse_key_value_args(["key.separator= | "]) == {"key.separator": " | "}
    assert parse_key_value_args(["a=b=c", "empty="]) == {"a": "b=c", "empty": ""}
    # Booleans are trimmed when read, as Kafka's LineMessageReader and DefaultMessageFormatter trim them.
    assert line_format({"parse.key": " true "}).parse_key and record_format({"print.key": "true "}).print_key
    with pytest.raises(CliError, match="Invalid command line properties: novalue"):
        parse_key_value_args(["novalue"])


def test_console_producer_takes_a_comma_as_key_separator() -> None:
    fmt = line_format(parse_key_value_args(["parse.key=true", "key.separator=,"]))
    assert parse_line(b"k,v,w", 1, fmt) == (b"k", b"v,w", [])
    spaced = line_format(parse_key_value_args(["parse.key=true", "key.separator= | "]))
    assert parse_line(b"k | v|w", 1, spaced) == (b"k", b"v|w", [])


def test_console_consumer_takes_a_comma_as_key_separator() -> None:
    props = parse_key_value_args(["print.key=true", "key.separator=,"])
    assert record(props) == b"k,v\n"
    assert record(parse_key_value_args(["print.key=true", "key.separator= | "])) == b"k | v\n"


# -- --add-config: Kafka's list syntax ------------------------------------------------------------------------


def test_add_config_list_syntax() -> None:
    assert parse_add_config("cleanup.policy=[compact,delete]") == {"cleanup.policy": "compact,delete"}
    assert parse_add_config("cleanup.policy=[compact,delete],retention.ms=5") == {
        "cleanup.policy": "compact,delete",
        "retention.ms": "5",
    }
    assert parse_add_config("a = 1 , b=") == {"a": "1", "b": ""}
    with pytest.raises(CliError, match="Invalid entity config"):
        parse_add_config("a=1=2")


def test_add_config_file_then_add_config(tmp_path: Path) -> None:
    args = parse("configs", "--alter", "--topic", "t", "--add-config-file", str(tmp_path / "x"), "--force")
    assert args.add_config_file.endswith("x") and args.force
    assert resolve_entity(parse("configs", "--describe", "--broker-defaults")) == ("brokers", "")


# -- console-consumer: DefaultMessageFormatter ----------------------------------------------------------------


def test_the_last_printed_field_ends_the_line_even_without_the_value() -> None:
    assert record({"print.value": "false", "print.key": "true"}) == b"k\n"
    assert record({"print.value": "false", "print.offset": "true", "print.key": "true"}) == b"Offset:7\tk\n"
    assert record({"print.value": "false"}) == b"", "nothing printed, no separator"
    assert record({"print.value": "false", "print.key": "true", "line.separator": "|"}) == b"k|"


def test_headers_in_kafkas_format() -> None:
    props = {"print.headers": "true", "print.key": "true"}
    assert record(props, headers=[("h1", b"a"), ("h2", None)]) == b"h1:a,h2:null\tk\tv\n"
    assert record(props, headers=None) == b"NO_HEADERS\tk\tv\n"
    assert record({**props, "headers.separator": ";"}, headers=[("x", b"1"), ("y", b"2")]) == b"x:1;y:2\tk\tv\n"


def test_deserializers_and_formatters() -> None:
    props = {"print.key": "true", "key.deserializer": SERDE + "LongDeserializer"}
    assert record(props, key=struct.pack(">q", -5)) == b"-5\tv\n"
    assert record({"value.deserializer": SERDE + "IntegerDeserializer"}, value=struct.pack(">i", 42)) == b"42\n"
    assert record({"value.deserializer": SERDE + "StringDeserializer"}, value=None) == b"null\n"
    with pytest.raises(CliError, match=r"Unsupported value\.deserializer"):
        record_format({"value.deserializer": "io.confluent.kafka.serializers.KafkaAvroDeserializer"})
    noop = record_format({}, "org.apache.kafka.tools.consumer.NoOpMessageFormatter")
    assert format_record(noop, timestamp=(1, 1), partition=0, offset=0, key=None, value=b"v") == b""
    assert record_format({}, "kafka.tools.DefaultMessageFormatter") == record_format({})
    with pytest.raises(CliError, match="Unsupported formatter"):
        record_format({}, "kafka.tools.LoggingMessageFormatter")


def test_formatter_config_then_property_then_deserializer_flags(tmp_path: Path) -> None:
    path = tmp_path / "fmt.properties"
    path.write_text("print.key=true\nkey.separator=:\n")
    args = parse(
        "console-consumer", "--topic", "t", "--formatter-config", str(path), "--property", "key.separator=;",
        "--value-deserializer", SERDE + "LongDeserializer", "--whitelist", "x.*",
    )  # fmt: skip
    assert formatter_properties(args) == {
        "print.key": "true",
        "key.separator": ";",
        "value.deserializer": SERDE + "LongDeserializer",
    }
    assert args.include == "x.*"


# -- console-producer flags -----------------------------------------------------------------------------------


def test_compression_codec_without_a_value_is_gzip() -> None:
    assert producer_overrides(parse("console-producer", "--topic", "t", "--compression-codec")) == {
        "compression.type": "gzip"
    }
    args = parse("console-producer", "--topic", "t", "--compression-codec", "lz4", "--sync")
    assert producer_overrides(args) == {"compression.type": "lz4", "linger.ms": "0"} and args.sync


def test_producer_flags_set_the_configs_kafka_sets() -> None:
    args = parse(
        "console-producer", "--broker-list", "h:1", "--topic", "t", "--batch-size", "100", "--timeout", "5",
        "--request-required-acks", "1", "--request-timeout-ms", "900", "--message-send-max-retries", "2",
        "--retry-backoff-ms", "10", "--max-memory-bytes", "1048576", "--metadata-expiry-ms", "1000",
    )  # fmt: skip
    assert args.bootstrap_server == "h:1"
    assert producer_overrides(args) == {
        "batch.size": "100",
        "linger.ms": "5",
        "acks": "1",
        "request.timeout.ms": "900",
        "retries": "2",
        "retry.backoff.ms": "10",
        "queue.buffering.max.kbytes": "1024",
        "metadata.max.age.ms": "1000",
    }


def test_line_reader_headers_and_ignore_error() -> None:
    fmt = line_format({"parse.headers": "true", "parse.key": "true", "null.marker": "N"})
    assert parse_line(b"h1:a,h2:N,h3\tk\tv", 1, fmt) == (b"k", b"v", [("h1", b"a"), ("h2", None), ("h3", None)])
    with pytest.raises(CliError, match="No headers delimiter found on line number 4"):
        parse_line(b"plain", 4, fmt)
    with pytest.raises(CliError, match="Header keys should not be equal to the null marker"):
        parse_line(b"N:x\tk\tv", 1, fmt)
    lenient = line_format({"parse.key": "true", "ignore.error": "true"})
    assert parse_line(b"no separator", 1, lenient) == (None, b"no separator", [])


# -- kafka-topics ---------------------------------------------------------------------------------------------


def test_topics_describe_filters() -> None:
    view = TopicView(
        "t",
        None,
        (
            PartitionView(0, 1, (1, 2), (1, 2)),
            PartitionView(1, 1, (1, 2), (1,)),
            PartitionView(2, None, (1, 2), ()),
        ),
        (("retention.ms", "5"),),
        min_isr=2,
    )
    rows = ["\tTopic: t\tPartition: 0", "\tTopic: t\tPartition: 1", "\tTopic: t\tPartition: 2"]

    def shown(*flags: str, live: set[int] | None = None) -> list[int]:
        filters = partition_filters(parse("topics", "--describe", *flags))
        lines = describe_lines(view, filters, {1, 2} if live is None else live)
        return [i for i, row in enumerate(rows) if any(line.startswith(row + "\t") for line in lines)]

    assert shown("--under-replicated-partitions") == [1, 2]
    assert shown("--unavailable-partitions") == [2]
    assert shown("--unavailable-partitions", live={2}) == [0, 1, 2]
    assert shown("--under-min-isr-partitions") == [1, 2]
    assert shown("--at-min-isr-partitions") == [0]
    assert shown() == [0, 1, 2]
    assert not describe_lines(view, partition_filters(parse("topics", "--describe", "--at-min-isr-partitions")), {1})[
        0
    ].startswith("Topic:"), "with a filter only partition lines are printed"
    only_topic = describe_lines(view, [], {1, 2}, partitions=False)
    assert only_topic == ["Topic: t\tPartitionCount: 3\tReplicationFactor: 2\tConfigs: retention.ms=5"]


def test_replica_assignment() -> None:
    assert parse_replica_assignment("0:1,1:2") == [[0, 1], [1, 2]]
    assert parse_replica_assignment("1") == [[1]]
    with pytest.raises(CliError, match="duplicate"):
        parse_replica_assignment("1:1")
    with pytest.raises(CliError, match="different replication factor"):
        parse_replica_assignment("1:2,1")
    with pytest.raises(CliError, match="Invalid --replica-assignment"):
        parse_replica_assignment("a")


# -- kafka-consumer-groups --export / --from-file -------------------------------------------------------------


def test_reset_plan_export_and_from_file_round_trip() -> None:
    plan = {"g": {("t", 1): 5, ("t", 0): 3}}
    single = export_reset_plan(plan, single_group=True)
    assert single == "t,0,3\nt,1,5\n"
    assert parse_reset_plan(single, ["g"]) == plan
    multi = export_reset_plan({**plan, "h": {("u", 0): 1}}, single_group=False)
    assert multi == "g,t,0,3\ng,t,1,5\nh,u,0,1\n"
    assert parse_reset_plan(multi, ["g", "h"]) == {**plan, "h": {("u", 0): 1}}
    with pytest.raises(CliError, match="Invalid reset plan line"):
        parse_reset_plan("t,x,1", ["g"])


def test_from_file_is_a_reset_scenario_that_needs_no_topic_scope() -> None:
    chosen = check_args(
        actions=["reset-offsets"], groups=["g"], all_groups=False, topics=[], all_topics=False, members=False,
        offsets=False, state=None, verbose=False, dry_run=False, execute=True, scenarios=["from-file"],
    )  # fmt: skip
    assert chosen.scenario == "from-file" and not chosen.dry_run


def test_export_needs_reset_offsets(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["consumer-groups", "--list", "--export"]) == 1
    assert "[export] are unavailable" in capsys.readouterr().err


# -- every tool: --version, its own usage for an unknown flag -------------------------------------------------


@pytest.mark.parametrize(
    "tool",
    [
        "topics", "configs", "delete-records", "console-producer", "console-consumer", "consumer-groups",
        "producer-perf-test", "consumer-perf-test",
    ],
)  # fmt: skip
def test_version_and_own_usage(tool: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main.main([tool, "--version"])
    assert info.value.code == 0 and "Kafka 3.9" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli_main.main([tool, "--no-such-flag"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith(f"usage: odradek {tool} "), "the tool's usage, not odradek's"


@pytest.mark.parametrize(
    "argv", [["topics", "--list"], ["console-consumer", "--topic", "t"], ["consumer-groups", "--list"]]
)
def test_an_unknown_flag_gets_the_tools_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main.main([*argv, "--no-such-flag", "x"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith(f"usage: odradek {argv[0]} ")
    assert err.rstrip().endswith(f"odradek {argv[0]}: error: unrecognized arguments: --no-such-flag x")


def test_producer_perf_payload_monotonic(capsys: pytest.CaptureFixture[str]) -> None:
    from odradek.cli import producer_perf
    from odradek.cli.progress import ProgressBar

    class Msg:
        def __init__(self, value: bytes) -> None:
            self._value = value

        def value(self) -> bytes:
            return self._value

        def latency(self) -> float:
            return 0.001

    class FakeProducer:
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        def produce(self, topic: str, value: bytes, on_delivery: object) -> None:
            self.sent.append(value)
            on_delivery(None, Msg(value))  # type: ignore[operator]

        def poll(self, timeout: float) -> int:
            return 0

        def flush(self, timeout: float) -> int:
            return 0

        def __len__(self) -> int:
            return 0

    args = parse(
        "producer-perf-test", "--topic", "t", "--num-records", "3", "--payload-monotonic", "--throughput", "-1",
        "--bootstrap-server", "h:1",
    )  # fmt: skip
    producer = FakeProducer()
    items = producer_perf.payloads(args)
    assert producer_perf._run_test(producer, args, items, ProgressBar(3, "records", enabled=False)) == 0
    assert producer.sent == [b"0", b"1", b"2"]
    assert "3 records sent" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parse("producer-perf-test", "--topic", "t", "--num-records", "3", "--payload-monotonic", "--record-size",
              "5", "--throughput", "-1")  # fmt: skip
