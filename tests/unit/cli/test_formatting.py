"""Pure output formatting of the CLI tools: Kafka's exact line formats, no broker needed."""

from __future__ import annotations

import datetime

import pytest
from odradek.cli.configs import EntryView, format_describe, format_entry
from odradek.cli.console_consumer import RecordFormat, format_record, record_format
from odradek.cli.delete_records import format_result
from odradek.cli.perf_stats import (
    CONSUMER_HEADER,
    ConsumerResult,
    ProducerStats,
    format_consumer_row,
    format_time_ms,
    format_total,
    format_window,
    percentiles,
)
from odradek.cli.progress import render
from odradek.cli.topics import PartitionView, TopicView, filter_topics, format_topic, overridden_configs


def test_describe_topic_lines_match_kafka() -> None:
    view = TopicView(
        name="orders",
        topic_id="LvdQ8rDQSA2pR3Dp0r4ZSg",
        partitions=(PartitionView(1, 1, (1,), (1,)), PartitionView(0, None, (1, 2), (2,))),
        configs=(("retention.ms", "1000"), ("segment.bytes", "1048576")),
    )
    assert format_topic(view) == [
        "Topic: orders\tTopicId: LvdQ8rDQSA2pR3Dp0r4ZSg\tPartitionCount: 2\tReplicationFactor: 2"
        "\tConfigs: retention.ms=1000,segment.bytes=1048576",
        "\tTopic: orders\tPartition: 0\tLeader: none\tReplicas: 1,2\tIsr: 2",
        "\tTopic: orders\tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1",
    ]


@pytest.mark.parametrize("topic_id", [None, "AAAAAAAAAAAAAAAAAAAAAA"])
def test_describe_omits_unknown_or_zero_topic_id(topic_id: str | None) -> None:
    view = TopicView("t", topic_id, (PartitionView(0, 1, (1,), (1,)),), ())
    assert format_topic(view)[0] == "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: "


def test_overridden_configs_keep_only_dynamic_non_default_sorted() -> None:
    rows = [
        ("segment.bytes", "1048576", "DYNAMIC_TOPIC_CONFIG", False),
        ("cleanup.policy", "delete", "DEFAULT_CONFIG", True),
        ("retention.ms", "5", "DYNAMIC_TOPIC_CONFIG", False),
        ("log.dirs", "/x", "STATIC_BROKER_CONFIG", False),
    ]
    assert overridden_configs(rows) == (("retention.ms", "5"), ("segment.bytes", "1048576"))


def test_filter_topics_is_exact_or_full_regex_match() -> None:
    names = ["a", "ab", "b.c", "bxc"]
    assert filter_topics(names, "a") == ["a"]
    assert filter_topics(names, "a.*") == ["a", "ab"]
    assert filter_topics(names, "b\\.c") == ["b.c"]
    assert filter_topics(names, "[") == []


def _entry(name: str, value: str | None, source: str, sensitive: bool = False) -> EntryView:
    return EntryView(name, value, source, sensitive, source == "DEFAULT_CONFIG", ((source, name, value),))


def test_configs_describe_dynamic_only() -> None:
    entries = [
        _entry("retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"),
        _entry("cleanup.policy", "delete", "DEFAULT_CONFIG"),
    ]
    assert format_describe("topics", "t", entries, describe_all=False) == [
        "Dynamic configs for topic t are:",
        "  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000}",
    ]
    lines = format_describe("topics", "t", entries, describe_all=True)
    assert lines[0] == "All configs for topic t are:"
    assert [line.split("=")[0] for line in lines[1:]] == ["  cleanup.policy", "  retention.ms"]


def test_configs_describe_broker_and_default_headings() -> None:
    entry = _entry("log.retention.ms", "1", "DYNAMIC_BROKER_CONFIG")
    assert format_describe("brokers", "1", [entry], describe_all=False)[0] == "Dynamic configs for broker 1 are:"
    assert format_describe("brokers", "", [entry], describe_all=False) == [
        "Default configs for brokers in the cluster are:"
    ]


def test_sensitive_values_print_null() -> None:
    entry = EntryView("ssl.key.password", "secret", "DYNAMIC_BROKER_CONFIG", True, False, ())
    assert format_entry(entry) == "ssl.key.password=null sensitive=true synonyms={}"


def test_delete_records_result_lines() -> None:
    assert format_result("t-0", 5, None) == "partition: t-0\tlow_watermark: 5"
    assert format_result("t-1", None, "boom") == "partition: t-1\terror: boom"


def test_console_consumer_default_prints_value_only() -> None:
    out = format_record(RecordFormat(), timestamp=(1, 10), partition=0, offset=3, key=b"k", value=b"v")
    assert out == b"v\n"


def test_console_consumer_all_fields_in_kafka_order() -> None:
    fmt = record_format(
        {"print.timestamp": "true", "print.partition": "true", "print.offset": "true", "print.key": "true",
         "key.separator": ":"}
    )  # fmt: skip
    out = format_record(fmt, timestamp=(1, 1700000000000), partition=2, offset=7, key=None, value=b"hello")
    assert out == b"CreateTime:1700000000000:Partition:2:Offset:7:null:hello\n"
    no_ts = format_record(fmt, timestamp=(0, -1), partition=0, offset=0, key=b"k", value=None)
    assert no_ts == b"NO_TIMESTAMP:Partition:0:Offset:0:k:null\n"


def test_console_consumer_rejects_unknown_property() -> None:
    from odradek.cli.common import CliError

    with pytest.raises(CliError, match=r"print\.keys"):
        record_format({"print.keys": "true"})


def test_percentiles_follow_kafka_index_rule() -> None:
    samples = list(range(100, 0, -1))  # 1..100 unsorted
    assert percentiles(samples, 0.5, 0.95, 0.99, 0.999) == [51, 96, 100, 100]
    assert percentiles([], 0.5) == [0]
    assert percentiles([7], 0.5, 0.999) == [7, 7]


def test_producer_window_and_total_formats() -> None:
    assert format_window(5000, 1000.0, 5000 * 100, 10_000, 9) == (
        "5000 records sent, 5000.0 records/sec (0.48 MB/sec), 2.0 ms avg latency, 9.0 ms max latency."
    )
    assert format_total(1000, 2000.0, 1000 * 1024, 3000, 12, [1, 2, 3, 4]) == (
        "1000 records sent, 500.000000 records/sec (0.49 MB/sec), 3.00 ms avg latency, 12.00 ms max latency, "
        "3 ms 50th, 4 ms 95th, 4 ms 99th, 4 ms 99.9th."
    )


def test_producer_stats_windows_every_five_seconds_and_samples() -> None:
    clock = [0.0]
    lines: list[str] = []
    stats = ProducerStats(1_000_000, lambda: clock[0], lines.append)
    assert stats.sampling == 2
    for i in range(10):
        clock[0] = i * 1000.0
        stats.record(latency_ms=i, size=100, now_ms=clock[0])
    assert len(lines) == 1 and lines[0].startswith("6 records sent, ")
    assert stats.latencies == [0, 2, 4, 6, 8]
    assert stats.total_line(10_000.0).startswith("10 records sent, 1.000000 records/sec")


def test_consumer_header_and_row() -> None:
    assert CONSUMER_HEADER == (
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
        "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
    )
    start = int(datetime.datetime(2024, 1, 2, 3, 4, 5, 678000).timestamp() * 1000)
    row = format_consumer_row(ConsumerResult(start, start + 2000, 2 * 1024 * 1024, 1000))
    assert row == (
        "2024-01-02 03:04:05:678, 2024-01-02 03:04:07:678, 2.0000, 1.0000, 1000, 500.0000, 0, 2000, 1.0000, 500.0000"
    )


def test_java_date_format_subset() -> None:
    ms = int(datetime.datetime(2024, 12, 31, 23, 59, 58, 7000).timestamp() * 1000)
    assert format_time_ms(ms) == "2024-12-31 23:59:58:007"
    assert format_time_ms(ms, "yy/MM/dd HH.mm") == "24/12/31 23.59"


def test_progress_bar_render() -> None:
    text = render(50, 100, "records", 2.0)
    assert text.startswith("[" + "#" * 15 + "." * 15 + "]  50.0%")
    assert text.endswith("50/100 records  25/s")
    assert "100.0%" in render(200, 100, "records", 0.0)
