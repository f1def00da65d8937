"""`odradek consumer-groups` and `console-consumer --group` without a broker: option rules, ISO-8601 parsing,
reset arithmetic and Kafka's table formats.

Expected tables are written with Kafka's own printf formats (ConsumerGroupCommand, GroupOffsetsResetter), applied
with Python's %-formatting, so a test compares against the Java format string rather than against our code.
"""

from __future__ import annotations

import argparse
import socket
import time
from typing import Any

import pytest
from odradek.cli import group_views as views
from odradek.cli import main as cli_main
from odradek.cli import rdkafka_admin
from odradek.cli.common import CliError
from odradek.cli.console_consumer import (
    OFFSET_BEGINNING,
    OFFSET_END,
    auto_offset_reset,
    consumer_mode,
    subscription_pattern,
)
from odradek.cli.consumer_groups import selection
from odradek.cli.group_views import MemberView, OffsetRow, StateView


def parse(*argv: str) -> argparse.Namespace:
    return cli_main.build_parser().parse_args(["consumer-groups", *argv])


def select(*argv: str) -> views.Selection:
    return selection(parse(*argv))


# -- option rules ---------------------------------------------------------------------------------------------


def test_exactly_one_action() -> None:
    message = "Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets"
    with pytest.raises(CliError) as info:
        select("--group", "g")
    assert str(info.value) == message
    with pytest.raises(CliError, match="exactly one action"):
        select("--list", "--describe", "--group", "g")
    assert select("--list").action == "list"


def test_describe_rules() -> None:
    assert select("--describe", "--group", "g").action == "describe"
    assert select("--describe", "--all-groups", "--members", "--verbose").action == "describe"
    assert select("--describe", "--group", "g", "--state").action == "describe"
    with pytest.raises(CliError, match=r"^Option \[describe\] takes one of these options: \[group\], \[all-groups\]$"):
        select("--describe")
    with pytest.raises(CliError, match=r"takes at most one of these options: \[members\], \[offsets\], \[state\]"):
        select("--describe", "--group", "g", "--members", "--state")
    with pytest.raises(CliError, match=r"^Option \[describe\] does not take a value for \[state\]$"):
        select("--describe", "--group", "g", "--state", "stable")
    with pytest.raises(CliError, match=r'^Option "\[group\]" can\'t be used with option "\[all-groups\]"$'):
        select("--describe", "--group", "g", "--all-groups")
    with pytest.raises(CliError, match=r'^Option "\[topic\]" can\'t be used with option "\[describe\]"$'):
        select("--describe", "--group", "g", "--topic", "t")


def test_list_rules() -> None:
    args = parse("--list", "--state")
    assert args.state == "" and selection(args).action == "list"
    assert parse("--list", "--state", "stable,empty").state == "stable,empty"
    assert parse("--list").state is None
    with pytest.raises(CliError, match=r'"\[group\]" can\'t be used with option "\[list\]"'):
        select("--list", "--group", "g")
    with pytest.raises(CliError, match=r"Option\(s\) \[members\] are unavailable"):
        select("--list", "--members")


def test_delete_rules() -> None:
    assert select("--delete", "--group", "a", "--group", "b").action == "delete"
    assert parse("--delete", "--group", "a", "--group", "b").group == ["a", "b"]
    with pytest.raises(CliError, match=r"^Option \[delete\] takes one of these options"):
        select("--delete")
    with pytest.raises(CliError, match=r"^The consumer does not support topic-specific offset deletion"):
        select("--delete", "--group", "g", "--topic", "t")
    assert select("--delete-offsets", "--group", "g", "--topic", "t:0").action == "delete-offsets"
    with pytest.raises(CliError, match=r"^Option \[delete-offsets\] takes the following options: \[group\], \[topic\]"):
        select("--delete-offsets", "--group", "g")
    with pytest.raises(CliError, match="one consumer group"):
        select("--delete-offsets", "--group", "g", "--group", "h", "--topic", "t")
    with pytest.raises(CliError, match=r"Option\(s\) \[state\] are unavailable"):
        select("--delete", "--group", "g", "--state")


def test_reset_rules() -> None:
    chosen = select("--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest")
    assert chosen == views.Selection("reset-offsets", dry_run=True, warn_no_execute=True, scenario="to-earliest")
    chosen = select("--reset-offsets", "--group", "g", "--all-topics", "--shift-by", "-2", "--dry-run")
    assert chosen.dry_run and not chosen.warn_no_execute and chosen.scenario == "shift-by"
    chosen = select("--reset-offsets", "--all-groups", "--topic", "t:0,1", "--to-offset", "0", "--execute")
    assert not chosen.dry_run and not chosen.warn_no_execute and chosen.scenario == "to-offset"
    assert select("--reset-offsets", "--group", "g", "--topic", "t", "--to-current").scenario == "to-current"
    assert select("--reset-offsets", "--group", "g", "--topic", "t", "--by-duration", "PT1H").scenario == "by-duration"
    with pytest.raises(CliError, match=r"^Option \[reset-offsets\] only accepts one of \[execute\] and \[dry-run\]$"):
        select("--reset-offsets", "--group", "g", "--topic", "t", "--to-latest", "--execute", "--dry-run")
    with pytest.raises(CliError, match=r'^Option "\[to-offset\]" can\'t be used with option "\[to-latest\]"$'):
        select("--reset-offsets", "--group", "g", "--topic", "t", "--to-latest", "--to-offset", "3")
    with pytest.raises(CliError, match=r"^Option '\[reset-offsets\]' requires one of the following scenarios: \["):
        select("--reset-offsets", "--group", "g", "--topic", "t")
    with pytest.raises(CliError, match=r"^One of the reset scopes should be defined: --all-topics, --topic\.$"):
        select("--reset-offsets", "--group", "g", "--to-earliest")
    with pytest.raises(CliError, match=r"^Option \[reset-offsets\] takes one of these options"):
        select("--reset-offsets", "--topic", "t", "--to-earliest")
    with pytest.raises(CliError, match=r'"\[topic\]" can\'t be used with option "\[all-topics\]"'):
        select("--reset-offsets", "--group", "g", "--topic", "t", "--all-topics", "--to-earliest")


def test_usage_errors_are_one_line_without_a_broker(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["consumer-groups", "--bootstrap-server", "127.0.0.1:1", "--describe"]) == 1
    err = capsys.readouterr().err
    assert err == "Error: Option [describe] takes one of these options: [group], [all-groups]\n"


def test_parse_states() -> None:
    assert views.parse_states("stable,EMPTY") == {"Stable", "Empty"}
    assert views.parse_states(" PreparingRebalance , completingrebalance,dead,") == {
        "PreparingRebalance", "CompletingRebalance", "Dead",
    }  # fmt: skip
    for bad in ("stable,bogus", "", ",", "stable,,empty"):
        with pytest.raises(CliError) as info:
            views.parse_states(bad)
        assert str(info.value) == (
            f"Invalid state list '{bad}'. "
            "Valid states are: PreparingRebalance, CompletingRebalance, Stable, Dead, Empty"
        )


def test_state_names_from_the_client() -> None:
    class Enum:
        def __init__(self, name: str) -> None:
            self.name = name

    assert views.state_name(Enum("PREPARING_REBALANCING")) == "PreparingRebalance"
    assert views.state_name(Enum("COMPLETING_REBALANCING")) == "CompletingRebalance"
    assert views.state_name(Enum("STABLE")) == "Stable"
    assert views.state_name(Enum("EMPTY")) == "Empty"
    assert views.state_name(4) == "Dead" and views.state_name(0) == "Unknown" and views.state_name(99) == "Unknown"
    assert views.state_name("Stable") == "Stable" and views.state_name("dead") == "Dead"
    assert views.state_name(None) == "Unknown"


def test_parse_topic_arg() -> None:
    assert views.parse_topic_arg("orders") == ("orders", None)
    assert views.parse_topic_arg("orders:0,2,+3") == ("orders", [0, 2, 3])
    assert views.parse_topic_arg("orders:1:") == ("orders", [1])  # Java's split drops trailing empty strings
    with pytest.raises(CliError, match=r"^Invalid topic arg 'orders:', expected topic name and partitions$"):
        views.parse_topic_arg("orders:")
    with pytest.raises(CliError, match=r"^Invalid topic arg 'a:1:2', expected"):
        views.parse_topic_arg("a:1:2")
    with pytest.raises(CliError) as info:
        views.parse_topic_arg("orders:0,x")
    assert str(info.value) == "Invalid partition 'x' specified in topic arg 'orders:0,x''"


# -- ISO-8601 ------------------------------------------------------------------------------------------------

SECOND = 10**9


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("P1D", 86_400 * SECOND),
        ("PT1H30M", 5_400 * SECOND),
        ("pt15m", 900 * SECOND),
        ("PT-30M", -1_800 * SECOND),
        ("-PT6H3M", -(6 * 3_600 + 180) * SECOND),
        ("-PT-6H+3M", (6 * 3_600 - 180) * SECOND),
        ("P2DT3H4M", (2 * 86_400 + 3 * 3_600 + 240) * SECOND),
        ("PT20.345S", 20 * SECOND + 345_000_000),
        ("PT20,5S", 20 * SECOND + 500_000_000),
        ("PT-0.5S", -500_000_000),
        ("PT-1.5S", -1 * SECOND - 500_000_000),
        ("PT0.000000001S", 1),
        ("P0D", 0),
    ],
)
def test_parse_duration_like_java(text: str, nanos: int) -> None:
    assert views.parse_duration_ns(text) == nanos


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "1D", "PT1.5H", "P1W", "PT1S2M", "PT1.1234567891S", "P 1D"])
def test_parse_duration_refuses_what_java_refuses(text: str) -> None:
    with pytest.raises(CliError, match="Text cannot be parsed to a Duration"):
        views.parse_duration_ns(text)


def test_duration_timestamp_is_now_minus_duration_floored_to_ms() -> None:
    now = 1_700_000_000_123_456_789
    assert views.duration_timestamp_ms(views.parse_duration_ns("PT1H"), now) == 1_700_000_000_123 - 3_600_000
    assert views.duration_timestamp_ms(views.parse_duration_ns("-PT1S"), now) == 1_700_000_001_123
    assert views.duration_timestamp_ms(1, 1_000_000) == 0  # floors, like Instant.toEpochMilli


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("2024-01-02T03:04:05.678", 1_704_164_645_678),
        ("2024-01-02T03:04:05.678Z", 1_704_164_645_678),
        ("2024-01-02T04:04:05.678+01:00", 1_704_164_645_678),
        ("2024-01-02T04:04:05.678+0100", 1_704_164_645_678),
        ("2024-01-02T04:04:05.678+01", 1_704_164_645_678),
        ("2024-01-01T22:04:05.678-05:00", 1_704_164_645_678),
        ("2024-01-02T03:04:05.5", 1_704_164_645_005),  # SimpleDateFormat: SSS is a count of milliseconds
        ("2024-1-2T3:4:5.000", 1_704_164_645_000),
        ("1970-01-01T00:00:00.000", 0),
    ],
)
def test_parse_datetime_like_kafka(text: str, millis: int) -> None:
    assert views.parse_datetime_ms(text) == millis


def test_parse_datetime_errors() -> None:
    with pytest.raises(CliError) as info:
        views.parse_datetime_ms("2024-01-02 03:04:05.000")
    assert str(info.value) == "Error parsing timestamp. It does not contain a 'T' according to ISO8601 format"
    for bad in ("2024-13-02T03:04:05.000", "2024-02-30T03:04:05.000", "2024-01-02T24:00:00.000",
                "2024-01-02T03:04:05", "2024-01-02T03:04:05.1000", "2024-01-02T03:04:05.000+25:00",
                "2024-01-02T03:04:05.000 UTC"):  # fmt: skip
        with pytest.raises(CliError, match=r"^Unparseable date: "):
            views.parse_datetime_ms(bad)


# -- reset arithmetic ------------------------------------------------------------------------------------------


def test_clamp_into_log_range() -> None:
    assert views.clamp_offset(5, 2, 10) == 5
    assert views.clamp_offset(11, 2, 10) == 10
    assert views.clamp_offset(1, 2, 10) == 2
    assert views.clamp_offset(-3, 0, 0) == 0
    assert views.clamp_offset(7, None, None) == 7  # unknown bounds leave the value alone
    assert views.clamp_warning(("t", 0), 11, 10) == (
        "WARN New offset (11) is higher than latest offset for topic partition t-0. Value will be set to 10."
    )
    assert views.clamp_warning(("t", 3), -1, 2) == (
        "WARN New offset (-1) is lower than earliest offset for topic partition t-3. Value will be set to 2."
    )
    assert views.clamp_warning(("t", 0), 4, 4) is None


def test_shift_needs_a_committed_offset() -> None:
    assert views.shifted_offset(("t", 0), 10, -3) == 7
    assert views.clamp_offset(views.shifted_offset(("t", 0), 2, -5), 0, 9) == 0
    with pytest.raises(CliError) as info:
        views.shifted_offset(("t", 1), None, 1)
    assert str(info.value) == "Cannot shift offset for partition t-1 since there is no current committed offset"


# -- describe ---------------------------------------------------------------------------------------------------

OFFSETS_FMT = "%-{g}s %-{t}s %-10s %-15s %-15s %-15s %-{c}s %-{h}s %s"


def offsets_line(widths: tuple[int, int, int, int], *cells: object) -> str:
    g, t, c, h = widths
    return OFFSETS_FMT.format(g=g, t=t, c=c, h=h) % cells


def test_offset_rows_order_and_lag() -> None:
    members = [
        MemberView("m-small", "c1", "/10.0.0.1", None, (("t", 2),)),
        MemberView("m-idle", "c3", "/10.0.0.3", None, ()),
        MemberView("m-big", "c2", "/10.0.0.2", None, (("u", 0), ("t", 1), ("t", 0))),
    ]
    committed = {("t", 0): (5, 0), ("t", 1): (None, None), ("t", 2): (7, None), ("a", 0): (1, None), ("t", 9): (3, 1)}
    log_end = {("t", 0): 9, ("t", 1): 4, ("t", 2): 7, ("u", 0): 2, ("a", 0): None, ("t", 9): 3}
    rows = views.offset_rows("g", members, committed, log_end)
    keys = [(r.topic, r.partition, r.consumer_id) for r in rows]
    assert keys == [
        ("t", 0, "m-big"), ("t", 1, "m-big"), ("u", 0, "m-big"),  # most partitions first, sorted within
        ("t", 2, "m-small"),
        ("a", 0, "-"), ("t", 9, "-"),  # committed but unassigned
    ]  # fmt: skip
    assert [r.lag for r in rows] == [4, None, None, 0, None, 0]
    assert rows[0].leader_epoch == 0 and rows[3].offset == 7 and rows[4].log_end is None
    assert OffsetRow("g", "t", 0, -1, 5, None, None, None).lag is None


def test_format_offsets_matches_kafka() -> None:
    rows = [
        OffsetRow("g", "orders", 0, 3, 5, "console-consumer-1234", "/127.0.0.1", "console-consumer"),
        OffsetRow("g", "orders", 1, None, 2, "-", "-", "-"),
    ]
    w = (15, 15, 21, 15)
    assert views.format_offsets(rows) == "\n" + "\n".join([
        offsets_line(w, "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID",
                     "HOST", "CLIENT-ID"),
        offsets_line(w, "g", "orders", 0, 3, 5, 2, "console-consumer-1234", "/127.0.0.1", "console-consumer"),
        offsets_line(w, "g", "orders", 1, "-", 2, "-", "-", "-", "-"),
    ]) + "\n"  # fmt: skip
    first = views.format_offsets(rows).splitlines()[1]
    assert first.startswith("GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  ")


def test_format_offsets_verbose_and_wide_columns() -> None:
    group, topic = "a-group-with-a-long-name", "a-topic-with-a-very-long-name"
    rows = [OffsetRow(group, topic, 0, 3, 5, "c", "h", "cl", leader_epoch=4)]
    fmt = f"%-{len(group)}s %-{len(topic)}s %-10s %-15s %-15s %-15s %-15s %-15s %-15s %s"
    assert views.format_offsets(rows, verbose=True) == "\n" + "\n".join([
        fmt % ("GROUP", "TOPIC", "PARTITION", "LEADER-EPOCH", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
               "CONSUMER-ID", "HOST", "CLIENT-ID"),
        fmt % (group, topic, 0, 4, 3, 5, 2, "c", "h", "cl"),
    ]) + "\n"  # fmt: skip


def test_format_members_matches_kafka() -> None:
    members = [
        MemberView("consumer-1-abc", "console-consumer", "/127.0.0.1", None, (("t", 1), ("t", 0), ("a", 3))),
        MemberView("consumer-2-def", "other", "/127.0.0.2", None, ()),
    ]
    base = "%-15s %-15s %-15s %-16s %-15s "
    assert views.format_members("g", members) == (
        "\n" + base % ("GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS") + "\n"
        + base % ("g", "consumer-1-abc", "/127.0.0.1", "console-consumer", 3) + "\n"
        + base % ("g", "consumer-2-def", "/127.0.0.2", "other", 0) + "\n"
    )  # fmt: skip
    extra = "%-15s %-20s %-15s %-20s"
    assert views.format_members("g", members, verbose=True) == (
        "\n" + base % ("GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS")
        + extra % ("CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT") + "\n"
        + base % ("g", "consumer-1-abc", "/127.0.0.1", "console-consumer", 3) + extra % ("-", "a:3;t:0,1", "-", "-")
        + "\n"
        + base % ("g", "consumer-2-def", "/127.0.0.2", "other", 0) + extra % ("-", "-", "-", "-") + "\n"
    )  # fmt: skip


def test_format_members_with_instance_ids_and_no_members() -> None:
    members = [MemberView("m", "c", "h", "instance-1", (("t", 0),))]
    wide = "%-15s %-15s %-17s %-15s %-15s %-15s "
    assert views.format_members("g", members) == (
        "\n" + wide % ("GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS") + "\n"
        + wide % ("g", "m", "instance-1", "h", "c", 1) + "\n"
    )  # fmt: skip
    short = "%-15s %-15s %-15s %-15s %-15s "
    header = short % ("GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS")
    assert views.format_members("g", []) == "\n" + header + "\n"


def test_assignment_text() -> None:
    assert views.assignment_text([]) == "-"
    assert views.assignment_text([("b", 10), ("b", 9), ("a", 0)]) == "a:0;b:9,10"


def test_format_state_matches_kafka() -> None:
    view = StateView("g", "127.0.0.1", 9092, "1", "range", "Stable", 2)
    fmt = "%-15s %-25s %-20s %-20s %s"
    assert views.format_state(view) == (
        "\n" + fmt % ("GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS")
        + "\n" + fmt % ("g", "127.0.0.1:9092  (1)", "range", "Stable", 2) + "\n"
    )  # fmt: skip
    verbose = "%-15s %-25s %-20s %-20s %-15s %-25s %s"
    empty = StateView("g", "broker-0.example.internal", 9092, "1", "", "Empty", 0)
    coordinator = "broker-0.example.internal:9092  (1)"
    assert views.format_state(empty, verbose=True) == (
        "\n" + verbose.replace("%-25s", f"%-{len(coordinator)}s", 1)
        % ("GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "GROUP-EPOCH", "TARGET-ASSIGNMENT-EPOCH",
           "#MEMBERS")
        + "\n" + verbose.replace("%-25s", f"%-{len(coordinator)}s", 1)
        % ("g", coordinator, "-", "Empty", "-", "-", 0) + "\n"
    )  # fmt: skip


def test_state_notices() -> None:
    assert views.state_notice("g", "Dead") == ("Consumer group 'g' does not exist.", None)
    assert views.state_notice("g", "Empty") == (None, "\nConsumer group 'g' has no active members.")
    assert views.state_notice("g", "PreparingRebalance") == (None, "\nWarning: Consumer group 'g' is rebalancing.")
    assert views.state_notice("g", "CompletingRebalance")[1] == "\nWarning: Consumer group 'g' is rebalancing."
    assert views.state_notice("g", "Stable") == (None, None)


def test_format_group_list() -> None:
    groups = [("a", "Stable"), ("a-much-longer-group-id", "Empty")]
    assert views.format_group_list(groups, with_state=False) == "a\na-much-longer-group-id\n"
    fmt = f"%-{len('a-much-longer-group-id') + 10}s %-20s\n"
    assert views.format_group_list(groups, with_state=True) == (
        fmt % ("GROUP", "STATE") + fmt % ("a", "Stable") + fmt % ("a-much-longer-group-id", "Empty")
    )
    fmt = "%-25s %-20s\n"
    assert views.format_group_list([], with_state=True) == fmt % ("GROUP", "STATE")


# -- reset and delete text -------------------------------------------------------------------------------------


def test_format_reset_plan_matches_kafka() -> None:
    assert views.format_reset_plan({}) == "\n"
    plan: dict[str, Any] = {"g": {("t", 1): 4, ("t", 0): 0}, "refused": {}}
    fmt = "\n%-15s %-15s %-10s %s"
    assert views.format_reset_plan(plan) == (
        fmt % ("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET") + fmt % ("g", "t", 0, 0) + fmt % ("g", "t", 1, 4) + "\n"
    )
    long_topic = "t" * 20
    fmt = "\n%-15s %-20s %-10s %s"
    assert views.format_reset_plan({"g": {(long_topic, 0): 7}}) == (
        fmt % ("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET") + fmt % ("g", long_topic, 0, 7) + "\n"
    )


def test_delete_offsets_text() -> None:
    assert views.delete_offsets_summary("g", 0, "") == ("Request succeeded for deleting offsets from group g.", None)
    assert views.delete_offsets_summary("g", 69, "x") == (None, "The group id does not exist.")
    assert views.delete_offsets_summary("g", 68, "x") == (None, "The group is not empty.")
    assert views.delete_offsets_summary("g", 86, "x") == (
        None, "Encountered some partition-level error, see the follow-up details.",
    )  # fmt: skip
    assert views.delete_offsets_summary("g", 7, "REQUEST_TIMED_OUT") == (
        None, "Encountered some unknown error: REQUEST_TIMED_OUT",
    )  # fmt: skip
    results: dict[tuple[str, int], str | None] = {("t", 10): None, ("t", 2): "subscribed", ("gone", -1): "missing"}
    fmt = "\n%-15s %-10s %-15s"
    assert views.format_delete_offsets(results) == (
        fmt % ("TOPIC", "PARTITION", "STATUS")
        + fmt % ("gone", "-", "Error: missing")
        + fmt % ("t", 10, "Successful")  # Kafka sorts by topic + partition as a string: "t10" < "t2"
        + fmt % ("t", 2, "Error: subscribed")
        + "\n"
    )


def test_delete_groups_text() -> None:
    out, err = views.format_delete_groups({"a": None, "b": None})
    assert (out, err) == ("Deletion of requested consumer groups ('a', 'b') was successful.\n", "")
    out, err = views.format_delete_groups({"a": None, "b": "The group is not empty."})
    assert out == "\nThese consumer groups were deleted successfully: 'a'\n"
    assert err == "Error: Deletion of some consumer groups failed:\n* Group 'b' could not be deleted due to: " \
        "The group is not empty.\n"  # fmt: skip
    out, err = views.format_delete_groups({"b": "x"})
    assert out == "" and err.count("\n") == 2


# -- console-consumer --group ----------------------------------------------------------------------------------


def mode(**overrides: Any) -> Any:
    options: dict[str, Any] = dict(
        topic="t", include=None, partition=None, offset=None, from_beginning=False, group_ids=[]
    )
    options.update(overrides)
    return consumer_mode(**options)


def test_console_consumer_modes() -> None:
    assert mode().group is None and mode().offset == OFFSET_END
    assert mode(group_ids=["g"]).group == "g"
    assert mode(group_ids=["g", "g"]).group == "g"  # the same id given twice is fine
    subscribed = mode(topic=None, include="orders-.*", group_ids=["g"], from_beginning=True)
    assert subscribed.include == "orders-.*" and subscribed.offset == OFFSET_BEGINNING
    assert mode(partition=2, offset="5").partition == 2
    with pytest.raises(CliError, match="Exactly one of --topic or --include"):
        mode(topic=None)
    with pytest.raises(CliError, match="Exactly one of --topic or --include"):
        mode(include="x")
    with pytest.raises(CliError, match=r"^The topic is required when partition is specified\.$"):
        mode(topic=None, include="x", partition=0)
    with pytest.raises(CliError, match=r"^Options group and partition cannot be specified together\.$"):
        mode(group_ids=["g"], partition=0)
    with pytest.raises(CliError, match=r"^The partition is required when offset is specified\.$"):
        mode(group_ids=["g"], offset="earliest")
    with pytest.raises(CliError) as info:
        mode(group_ids=["a", "b"])
    assert str(info.value) == (
        "The group ids provided in different places (directly using '--group', via '--consumer-property', "
        "or via '--consumer.config') do not match. Detected group ids: 'a', 'b'"
    )


def test_console_consumer_auto_offset_reset() -> None:
    assert auto_offset_reset({}, from_beginning=False) == "latest"
    assert auto_offset_reset({}, from_beginning=True) == "earliest"
    assert auto_offset_reset({"auto.offset.reset": "earliest"}, from_beginning=True) == "earliest"
    assert auto_offset_reset({"auto.offset.reset": "earliest"}, from_beginning=False) == "earliest"
    with pytest.raises(CliError) as info:
        auto_offset_reset({"auto.offset.reset": "latest"}, from_beginning=True)
    assert str(info.value) == (
        "Can't simultaneously specify --from-beginning and 'auto.offset.reset=latest', please remove one option"
    )


def test_console_consumer_include_pattern_matches_whole_names() -> None:
    assert subscription_pattern("orders-.*") == "^(orders-.*)$"
    assert subscription_pattern("a|b") == "^(a|b)$"


def test_console_consumer_group_options_refused_before_connecting(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["console-consumer", "--bootstrap-server", "127.0.0.1:1", "--topic", "t", "--group", "g"]
    assert cli_main.main([*argv, "--partition", "0"]) == 1
    assert capsys.readouterr().err == "Error: Options group and partition cannot be specified together.\n"
    assert cli_main.main([*argv, "--consumer-property", "group.id=other"]) == 1
    assert "do not match" in capsys.readouterr().err


# -- OffsetDelete through librdkafka's C API -------------------------------------------------------------------


def test_rdkafka_admin_loads_the_bundled_librdkafka() -> None:
    assert rdkafka_admin.error_text(69) == "Broker: The group id does not exist"
    assert "subscribed" in rdkafka_admin.error_text(86)


def test_rdkafka_admin_reports_a_request_error_and_bad_config() -> None:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        config = {"bootstrap.servers": f"127.0.0.1:{sock.getsockname()[1]}", "log_level": 0}
        started = time.monotonic()
        result = rdkafka_admin.delete_consumer_group_offsets(config, "g", [("t", 0)], timeout_s=0.5)
    assert result.error_code == -185 and "Timed out" in result.error_text and result.partitions == {}
    assert time.monotonic() - started < 10
    with pytest.raises(CliError, match=r"^Invalid client configuration no\.such\.key=1: No such configuration"):
        rdkafka_admin.delete_consumer_group_offsets({"no.such.key": "1"}, "g", [("t", 0)], timeout_s=0.5)


def test_format_group_list_with_types() -> None:
    groups = [("a", "Stable"), ("a-much-longer-group-id", "Empty")]
    types = {"a": "Consumer", "a-much-longer-group-id": "Classic"}
    width = len("a-much-longer-group-id") + 10
    fmt = f"%-{width}s %-20s\n"
    assert views.format_group_list(groups, with_state=False, types=types) == (
        fmt % ("GROUP", "TYPE") + fmt % ("a", "Consumer") + fmt % ("a-much-longer-group-id", "Classic")
    )
    fmt = f"%-{width}s %-20s %-20s\n"  # Kafka's --list --type --state: GROUP TYPE STATE
    assert views.format_group_list(groups, with_state=True, types=types) == (
        fmt % ("GROUP", "TYPE", "STATE")
        + fmt % ("a", "Consumer", "Stable")
        + fmt % ("a-much-longer-group-id", "Classic", "Empty")
    )


def test_parse_types_and_type_names() -> None:
    from confluent_kafka import ConsumerGroupType

    assert views.parse_types("consumer") == {"Consumer"}
    assert views.parse_types(" CLASSIC,consumer,") == {"Classic", "Consumer"}
    for bad in ("", "share", "classic,nope"):
        with pytest.raises(CliError, match="Invalid types list"):
            views.parse_types(bad)
    assert views.type_name(ConsumerGroupType.CONSUMER) == "Consumer"
    assert views.type_name(ConsumerGroupType.CLASSIC) == "Classic"
    assert views.type_name(ConsumerGroupType.UNKNOWN) == "Unknown"
    assert views.type_name(None) == "Unknown"
