"""`odradek leader-election`: Kafka's flags, its JSON file and its output lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from odradek.cli.common import CliError
from odradek.cli.leader_election import chosen_partitions, parse_partitions_json, report
from odradek.cli.main import build_parser


def parse(*argv: str) -> list[tuple[str, int]] | None:
    return chosen_partitions(build_parser().parse_args(["leader-election", *argv]))


def test_the_three_ways_to_name_partitions(tmp_path: Path) -> None:
    assert parse("--election-type", "preferred", "--all-topic-partitions") is None
    assert parse("--election-type", "UNCLEAN", "--topic", "t", "--partition", "3") == [("t", 3)]
    path = tmp_path / "p.json"
    path.write_text('{"partitions": [{"topic": "a", "partition": 0}, {"topic": "b", "partition": 2}]}')
    assert parse("--election-type", "PREFERRED", "--path-to-json-file", str(path)) == [("a", 0), ("b", 2)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "One and only one"),
        (("--all-topic-partitions", "--topic", "t", "--partition", "0"), "One and only one"),
        (("--topic", "t"), "Missing required option(s): partition"),
        (("--all-topic-partitions", "--partition", "1"), "Missing required option(s): topic"),
    ],
)
def test_usage_errors(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(CliError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse("--election-type", "PREFERRED", *argv)


def test_the_json_file_is_checked() -> None:
    with pytest.raises(CliError, match="Duplicate"):
        parse_partitions_json('{"partitions": [{"topic": "a", "partition": 0}, {"topic": "a", "partition": 0}]}')
    with pytest.raises(CliError, match="Invalid partition entry"):
        parse_partitions_json('{"partitions": [{"topic": "a"}]}')
    with pytest.raises(CliError, match="not valid JSON"):
        parse_partitions_json("{")


def test_kafkas_output_lines() -> None:
    lines, failed = report(
        "PREFERRED",
        [("t-0", None, None), ("t-1", None, None), ("t-2", 84, "not needed"), ("t-3", 80, "Preferred leader ...")],
    )
    assert lines == [
        "Successfully completed leader election (PREFERRED) for partitions t-0, t-1",
        "Valid replica already elected for partitions t-2",
        "Error completing leader election (PREFERRED) for partition: t-3: Preferred leader ...",
    ]
    assert failed == 1


def test_per_partition_errors_as_confluent_kafka_gives_them() -> None:
    from confluent_kafka import KafkaError, KafkaException
    from odradek.cli.leader_election import error_of

    not_needed = KafkaError(84, "Leader election not needed")
    assert error_of(not_needed) == (84, "Leader election not needed")
    assert error_of(KafkaException(not_needed)) == (84, "Leader election not needed")
    assert error_of(RuntimeError("boom")) == (-1, "boom")
