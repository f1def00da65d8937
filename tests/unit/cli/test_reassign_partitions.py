"""`odradek reassign-partitions` and `odradek log-dirs` without a cluster: flags, Kafka's JSON formats and lines
(cases from Kafka's ReassignPartitionsCommandTest/ReassignPartitionsUnitTest and LogDirsCommandTest)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from odradek.cli import log_dirs
from odradek.cli.common import CliError
from odradek.cli.reassign_partitions import (
    OngoingReassignment,
    add_parser,
    check_execute,
    chosen_action,
    format_reassignment_json,
    list_lines,
    parse_broker_list,
    parse_reassignment_json,
    parse_topics_json,
    propose,
    proposed_moves,
    throttle_configs,
    verify_lines,
)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["reassign-partitions", *argv])


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        ((), "Command must include exactly one action: --generate, --execute, --verify, --cancel, --list"),
        (("--list", "--verify"), "Command must include exactly one action"),
        (("--execute",), "Missing required argument(s): --reassignment-json-file"),
        (("--generate", "--broker-list", "1"), "Missing required argument(s): --topics-to-move-json-file"),
        (("--list", "--throttle", "10"), 'Option "--throttle" can\'t be used with action "--list"'),
        (("--verify", "--reassignment-json-file", "f", "--additional"), 'Option "--additional" can\'t be used'),
        (("--cancel", "--reassignment-json-file", "f", "--throttle", "1"), 'Option "--throttle" can\'t be used'),
    ],
)
def test_usage_errors(argv: tuple[str, ...], error: str) -> None:
    with pytest.raises(CliError, match=error.replace("(", r"\(").replace(")", r"\)")):
        chosen_action(parse(*argv))


def test_actions_with_their_permitted_flags() -> None:
    assert chosen_action(parse("--list")) == "list"
    assert chosen_action(parse("--execute", "--reassignment-json-file", "f", "--throttle", "5", "--additional")) == (
        "execute"
    )
    assert chosen_action(parse("--cancel", "--reassignment-json-file", "f", "--preserve-throttles")) == "cancel"
    assert chosen_action(parse("--generate", "--topics-to-move-json-file", "t", "--broker-list", "1,2")) == "generate"


def test_reassignment_json_is_kafkas() -> None:
    text = json.dumps(
        {
            "version": 1,
            "partitions": [
                {"topic": "foo", "partition": 1, "replicas": [1, 2, 3], "log_dirs": ["any", "any", "any"]},
                {"topic": "bar", "partition": 0, "replicas": [3, 2]},
            ],
        }
    )
    assert parse_reassignment_json(text) == [(("foo", 1), [1, 2, 3]), (("bar", 0), [3, 2])]
    assert parse_reassignment_json('{"partitions": []}') == []  # version defaults to 1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"version": 2, "partitions": []}', "Not supported version field value 2"),
        ("{", "The input string is not a valid JSON"),
        ('{"partitions": [{"topic": "t", "partition": 0, "replicas": [1], "log_dirs": []}]}', "Size of replicas list"),
        (
            '{"partitions": [{"topic": "t", "partition": 0, "replicas": [1], "log_dirs": ["/d"]}]}',
            "AlterReplicaLogDirs",
        ),
        ('{"partitions": [{"topic": "t", "replicas": [1]}]}', "Invalid partition entry"),
    ],
)
def test_bad_reassignment_json(text: str, error: str) -> None:
    with pytest.raises(CliError, match=error):
        parse_reassignment_json(text)


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        ([], "Partition reassignment list cannot be empty"),
        ([(("t", 0), [])], "Partition replica list cannot be empty"),
        ([(("t", 0), [1]), (("t", 0), [2])], "Partition reassignment contains duplicate topic partitions: t-0"),
        (
            [(("t", 0), [1, 1, 2]), (("t", 1), [3, 3])],
            "Partition replica lists may not contain duplicate entries: t-0 contains multiple entries for 1. "
            "t-1 contains multiple entries for 3",
        ),
    ],
)
def test_execute_checks(entries: list[tuple[tuple[str, int], list[int]]], error: str) -> None:
    with pytest.raises(CliError, match=error):
        check_execute(entries)


def test_topics_json_and_broker_list() -> None:
    assert parse_topics_json('{"version": 1, "topics": [{"topic": "a"}, {"topic": "b"}]}') == ["a", "b"]
    with pytest.raises(CliError, match="List of topics to reassign contains duplicate entries: a"):
        parse_topics_json('{"topics": [{"topic": "a"}, {"topic": "a"}]}')
    assert parse_broker_list("3,1,2") == [3, 1, 2]
    with pytest.raises(CliError, match="Broker list contains duplicate entries: 1"):
        parse_broker_list("1,2,1")


def test_reassignment_json_output_is_compact_and_sorted() -> None:
    assert format_reassignment_json({("foo", 1): [1, 2], ("bar", 0): [3], ("foo", 0): [2]}) == (
        '{"version":1,"partitions":[{"topic":"bar","partition":0,"replicas":[3],"log_dirs":["any"]},'
        '{"topic":"foo","partition":0,"replicas":[2],"log_dirs":["any"]},'
        '{"topic":"foo","partition":1,"replicas":[1,2],"log_dirs":["any","any"]}]}'
    )


def test_list_lines() -> None:
    assert list_lines({}) == ["No partition reassignments found."]
    ongoing = {
        ("foo", 1): OngoingReassignment((4, 5, 3, 1), (4, 5), (1,)),
        ("bar", 0): OngoingReassignment((2, 3, 0), (), (0,)),
    }
    assert list_lines(ongoing) == [
        "Current partition reassignments:",
        "bar-0: replicas: 2,3,0. removing: 0.",
        "foo-1: replicas: 4,5,3,1. adding: 4,5. removing: 1.",
    ]


def test_verify_lines() -> None:
    targets = {("foo", 0): [1, 2], ("foo", 1): [2, 3], ("bar", 0): [3, 1], ("gone", 0): [1]}
    ongoing = {("foo", 1): OngoingReassignment((2, 3, 1), (3,), (1,))}
    current = {("foo", 0): [1, 2], ("foo", 1): [2, 3, 1], ("bar", 0): [1, 3]}
    assert verify_lines(targets, ongoing, current) == [
        "Status of partition reassignment:",
        "There is no active reassignment of partition bar-0, but replica set is 1,3 rather than 3,1.",
        "Reassignment of partition foo-0 is completed.",
        "Reassignment of partition foo-1 is still in progress.",
        "There is no active reassignment of partition gone-0, but replica set is  rather than 1.",
    ]


def test_throttles_follow_kafkas_move_map() -> None:
    ongoing = {("bar", 0): OngoingReassignment((2, 3, 0), (3,), (0,))}
    proposed = {("foo", 0): [0, 1, 4, 2], ("foo", 1): [4, 5, 3], ("bar", 0): [3, 4]}
    current = {("foo", 0): [0, 1, 2], ("foo", 1): [1, 2, 3], ("bar", 0): [2, 0]}
    moves = proposed_moves(ongoing, proposed, current)
    assert moves[("bar", 0)] == (frozenset({0, 2}), frozenset({3, 4}))  # sources from the ongoing reassignment
    leader, follower, brokers = throttle_configs(moves)
    assert leader == {"foo": "0:0,0:1,0:2,1:1,1:2,1:3", "bar": "0:0,0:2"}
    assert follower == {"foo": "0:4,1:4,1:5", "bar": "0:3,0:4"}
    assert brokers == [0, 1, 2, 3, 4, 5]


def test_generate_keeps_each_topics_replication_factor_on_the_given_brokers() -> None:
    current = {("foo", 0): [1, 2], ("foo", 1): [2, 1], ("bar", 0): [1]}
    proposal = propose(current, [2, 3, 4], None)
    assert sorted(proposal) == sorted(current)
    assert all(len(proposal[tp]) == len(current[tp]) and set(proposal[tp]) <= {2, 3, 4} for tp in current)
    assert all(len(set(r)) == len(r) for r in proposal.values())
    with pytest.raises(CliError, match=r"Replication factor: 2 larger than available brokers: 1\."):
        propose(current, [2], None)


def test_log_dirs_json_is_kafkas() -> None:
    described = {
        2: [
            {
                "error_code": 0,
                "log_dir": "/d2",
                "topics": [
                    {"name": "t", "partitions": [{"partition_index": 1, "partition_size": 5, "offset_lag": 0,
                                                  "is_future_key": False},
                                                 {"partition_index": 0, "partition_size": 9, "offset_lag": 2,
                                                  "is_future_key": False}]},
                    {"name": "other", "partitions": [{"partition_index": 0, "partition_size": 1, "offset_lag": 0}]},
                ],
            }
        ],
        1: [{"error_code": 56, "log_dir": "/d1", "topics": []}],
    }  # fmt: skip
    assert log_dirs.format_json(described, {"t"}) == (
        '{"brokers":[{"broker":1,"logDirs":[{"partitions":[],'
        '"error":"org.apache.kafka.common.errors.KafkaStorageException","logDir":"/d1"}]},'
        '{"broker":2,"logDirs":[{"partitions":[{"partition":"t-0","size":9,"offsetLag":2,"isFuture":false},'
        '{"partition":"t-1","size":5,"offsetLag":0,"isFuture":false}],"error":null,"logDir":"/d2"}]}],"version":1}'
    )
    assert '"other-0"' in log_dirs.format_json(described, set())
    assert log_dirs.split_list(",a,,b,") == ["a", "b"]


def test_topics_describe_shows_a_reassignment_as_kafka_does() -> None:
    from odradek.cli.topics import PartitionView, TopicView, describe_lines

    view = TopicView(
        "t",
        None,
        (
            PartitionView(0, 1, (2, 3, 1), (1, 2), reassignment=((3,), (1,))),
            PartitionView(1, 2, (2, 1), (2, 1)),
        ),
        (),
        1,
    )
    assert describe_lines(view, [], {1, 2, 3})[1:] == [
        "\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 2,3,1\tIsr: 1,2\tAdding Replicas: 3\tRemoving Replicas: 1",
        "\tTopic: t\tPartition: 1\tLeader: 2\tReplicas: 2,1\tIsr: 2,1",
    ]


def test_topics_describe_warns_when_the_reassignments_cannot_be_listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The partition lines are still printed without Adding/Removing Replicas, but not silently."""
    from odradek.cli import reassign_partitions, topics

    def unreachable(args: argparse.Namespace) -> dict[object, object]:
        raise CliError("Cannot reach the controller through b:9092: refused")

    monkeypatch.setattr(reassign_partitions, "list_ongoing", unreachable)
    views = [topics.TopicView("t", None, (topics.PartitionView(0, 1, (1,), (1,)),), (), 1)]
    assert topics._with_reassignments(argparse.Namespace(), views) == views
    err = capsys.readouterr().err
    assert "partition reassignments not shown" in err and "refused" in err


def test_verify_reads_unknown_topics_as_having_no_replicas(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """One Metadata answer for the file's topics; a topic it does not list has no replicas (Kafka's
    UnknownTopicOrPartition case), the others are compared with their targets."""
    from types import SimpleNamespace

    from odradek.cli import reassign_partitions as rp

    partition = SimpleNamespace(replicas=[2, 3])
    metadata = SimpleNamespace(topics={"t": SimpleNamespace(error=None, partitions={0: partition})})
    probes: list[object] = []
    monkeypatch.setattr(rp, "probe_metadata", lambda admin, bootstrap: probes.append(admin) or metadata)
    cluster = rp.Cluster.__new__(rp.Cluster)
    cluster._args, cluster.admin = argparse.Namespace(bootstrap_server="b:9092"), object()
    monkeypatch.setattr(cluster, "ongoing", lambda partitions=None: {})
    plan = tmp_path / "plan.json"
    entries = [{"topic": "t", "partition": 0, "replicas": [2, 3]}, {"topic": "gone", "partition": 0, "replicas": [1]}]
    plan.write_text(json.dumps({"version": 1, "partitions": entries}))
    rp.verify(cluster, argparse.Namespace(reassignment_json_file=str(plan), preserve_throttles=True))
    assert capsys.readouterr().out.splitlines()[:3] == [
        "Status of partition reassignment:",
        "There is no active reassignment of partition gone-0, but replica set is  rather than 1.",
        "Reassignment of partition t-0 is completed.",
    ]
    assert len(probes) == 1, "one Metadata request for every topic of the file"
