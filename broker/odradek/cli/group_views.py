"""Pure parts of `odradek consumer-groups`: option values, reset arithmetic and Kafka's table formats.

Nothing here talks to a broker, so every rule is unit-tested (tests/unit/cli/test_consumer_groups.py).
Formats follow Apache Kafka's `ConsumerGroupCommand` / `GroupOffsetsResetter` (tools module, Kafka 4.x):

- describe (offsets): a blank line, then
  `%-G s %-T s %-10s %-15s %-15s %-15s %-C s %-H s %s` over GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG
  CONSUMER-ID HOST CLIENT-ID (`--verbose` adds LEADER-EPOCH after PARTITION, `%-15s`); G, T, C, H are the longest
  group, topic, consumer id and host, at least 15. A missing value prints `-`.
- describe --members: GROUP CONSUMER-ID [GROUP-INSTANCE-ID] HOST CLIENT-ID #PARTITIONS (`%-15s ` each, trailing
  space kept), `--verbose` adds CURRENT-EPOCH CURRENT-ASSIGNMENT TARGET-EPOCH TARGET-ASSIGNMENT, an assignment
  written `topic:0,1;other:2`.
- describe --state: GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS, the coordinator as
  `host:port  (id)` (two spaces, as Kafka prints it).
- list --state: GROUP padded to the longest id (at least 15) plus 10, STATE `%-20s`.
- reset-offsets: GROUP TOPIC PARTITION NEW-OFFSET; delete-offsets: TOPIC PARTITION STATUS.

Each `format_*` returns the exact text to write (newlines included), so `print(text, end="")` reproduces Kafka.
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from odradek.cli.common import CliError

MISSING = "-"
TopicPartitionKey = tuple[str, int]

# Kafka's GroupState names for the classic protocol (GroupState.groupStatesForType(CLASSIC)), in enum order.
CLASSIC_STATES = ("PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty")
_STATE_BY_CLIENT_NAME = {
    "UNKNOWN": "Unknown",
    "PREPARING_REBALANCING": "PreparingRebalance",
    "PREPARING_REBALANCE": "PreparingRebalance",
    "COMPLETING_REBALANCING": "CompletingRebalance",
    "COMPLETING_REBALANCE": "CompletingRebalance",
    "STABLE": "Stable",
    "DEAD": "Dead",
    "EMPTY": "Empty",
    "ASSIGNING": "Assigning",
    "RECONCILING": "Reconciling",
}
_STATE_BY_CLIENT_VALUE = {
    0: "Unknown",
    1: "PreparingRebalance",
    2: "CompletingRebalance",
    3: "Stable",
    4: "Dead",
    5: "Empty",
}
INACTIVE_STATES = frozenset({"Empty", "Dead"})
REBALANCING_STATES = frozenset({"PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling"})

RESET_SCENARIOS = (
    "to-offset", "to-datetime", "by-duration", "to-earliest", "to-latest", "to-current", "shift-by", "from-file",
)  # fmt: skip
ACTIONS = ("list", "describe", "delete", "reset-offsets", "delete-offsets")


# -- option values ---------------------------------------------------------------------------------------------


def state_name(state: object) -> str:
    """Kafka's name for a group state given as confluent-kafka's ConsumerGroupState, its int value or a string."""
    name = getattr(state, "name", None)
    if isinstance(name, str):
        return _STATE_BY_CLIENT_NAME.get(name.upper(), "Unknown")
    if isinstance(state, int):
        return _STATE_BY_CLIENT_VALUE.get(state, "Unknown")
    if isinstance(state, str):
        by_kafka_name = {s.upper(): s for s in _STATE_BY_CLIENT_NAME.values()}
        return by_kafka_name.get(state.upper(), _STATE_BY_CLIENT_NAME.get(state.upper(), "Unknown"))
    return "Unknown"


GROUP_TYPES = ("Classic", "Consumer")


def type_name(group_type: object) -> str:
    """Kafka's name of a group type (GroupType.toString) given as confluent-kafka's ConsumerGroupType."""
    name = getattr(group_type, "name", None)
    if isinstance(name, str):
        return {t.upper(): t for t in GROUP_TYPES}.get(name.upper(), "Unknown")
    return "Unknown"


def parse_types(text: str) -> frozenset[str]:
    """`--type classic,consumer` (case-insensitive) into Kafka's type names."""
    parts = [p for p in text.split(",") if p.strip()]
    by_upper = {t.upper(): t for t in GROUP_TYPES}
    types = {by_upper.get(p.strip().upper()) for p in parts}
    if None in types or not types:
        raise CliError(f"Invalid types list '{text}'. Valid types are: {', '.join(t.lower() for t in GROUP_TYPES)}")
    return frozenset(t for t in types if t is not None)


def parse_states(text: str) -> frozenset[str]:
    """`--state stable,empty` (case-insensitive, Kafka names) into canonical state names."""
    parts = text.split(",")
    while parts and parts[-1] == "":  # Java's String.split drops trailing empty strings
        parts.pop()
    by_upper = {s.upper(): s for s in CLASSIC_STATES}
    states = {by_upper.get(p.strip().upper()) for p in parts}
    if None in states or not states:
        raise CliError(f"Invalid state list '{text}'. Valid states are: {', '.join(CLASSIC_STATES)}")
    return frozenset(s for s in states if s is not None)


_INT = re.compile(r"[+-]?[0-9]+")


def parse_topic_arg(arg: str) -> tuple[str, list[int] | None]:
    """`topic` or `topic:0,1,2` (Kafka's --topic in reset-offsets/delete-offsets); partitions None = all of them."""
    if ":" not in arg:
        return arg, None
    pieces = arg.split(":")
    while pieces and pieces[-1] == "":
        pieces.pop()
    if len(pieces) != 2:
        raise CliError(f"Invalid topic arg '{arg}', expected topic name and partitions")
    topic, partitions = pieces
    result = []
    for item in partitions.split(","):
        if not _INT.fullmatch(item):
            raise CliError(f"Invalid partition '{item}' specified in topic arg '{arg}''")
        result.append(int(item))
    return topic, result


# java.time.Duration.parse: [-+]PnDTnHnMn.nS, case-insensitive, every number may carry its own sign.
_DURATION = re.compile(
    r"([-+]?)P(?:([-+]?[0-9]+)D)?(T(?:([-+]?[0-9]+)H)?(?:([-+]?[0-9]+)M)?(?:([-+]?[0-9]+)(?:[.,]([0-9]{0,9}))?S)?)?",
    re.IGNORECASE,
)
_NANOS_PER = {"D": 86_400 * 10**9, "H": 3_600 * 10**9, "M": 60 * 10**9, "S": 10**9}


def parse_duration_ns(text: str) -> int:
    """An ISO-8601 duration as java.time.Duration.parse reads it (`P1DT2H`, `PT-30M`, `-PT1.5S`), in nanoseconds."""
    match = _DURATION.fullmatch(text)
    if match is None or (match.group(3) is not None and match.group(3).upper() == "T"):
        raise CliError(f"Text cannot be parsed to a Duration: '{text}'")
    days, hours, minutes, seconds, fraction = match.group(2, 4, 5, 6, 7)
    if days is None and hours is None and minutes is None and seconds is None:
        raise CliError(f"Text cannot be parsed to a Duration: '{text}'")
    total = 0
    for value, unit in ((days, "D"), (hours, "H"), (minutes, "M"), (seconds, "S")):
        if value is not None:
            total += int(value) * _NANOS_PER[unit]
    if fraction:
        nanos = int(fraction.ljust(9, "0"))
        total += -nanos if seconds is not None and seconds.startswith("-") else nanos
    return -total if match.group(1) == "-" else total


def duration_timestamp_ms(duration_ns: int, now_ns: int) -> int:
    """Kafka's --by-duration target: now minus the duration, as epoch milliseconds (floor, like toEpochMilli)."""
    return (now_ns - duration_ns) // 1_000_000


# Utils.getDateTime: yyyy-MM-dd'T'HH:mm:ss.SSS with an optional zone (Z, +HH, +HHMM, +HH:MM); no zone means UTC.
_DATETIME = re.compile(
    r"([0-9]+)-([0-9]+)-([0-9]+)T([0-9]+):([0-9]+):([0-9]+)\.([0-9]+)(Z|[+-][0-9]{2}(?::?[0-9]{2})?)"
)


def parse_datetime_ms(text: str) -> int:
    """`--to-datetime` as Kafka's Utils.getDateTime parses it, in epoch milliseconds.

    SimpleDateFormat rules: fields may have fewer digits, out-of-range fields are refused (non-lenient), and the
    `SSS` field is a millisecond count (`.5` is 5 ms, as in Kafka). A value without a zone is UTC.
    """
    parts = text.split("T")
    if len(parts) < 2:
        raise CliError("Error parsing timestamp. It does not contain a 'T' according to ISO8601 format")
    if not any(c in parts[1] for c in "+-Z"):
        text += "Z"
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise CliError(f'Unparseable date: "{text}"')
    year, month, day, hour, minute, second, millis = (int(g) for g in match.group(1, 2, 3, 4, 5, 6, 7))
    zone = match.group(8)
    try:
        if millis > 999:
            raise ValueError("millisecond out of range")
        moment = datetime.datetime(year, month, day, hour, minute, second, millis * 1000)
        offset_min = 0 if zone == "Z" else _zone_minutes(zone)
    except ValueError:
        raise CliError(f'Unparseable date: "{text}"') from None
    epoch_s = calendar.timegm(moment.timetuple()) - offset_min * 60
    return epoch_s * 1000 + millis


def _zone_minutes(zone: str) -> int:
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("zone offset out of range")
    total = hours * 60 + minutes
    return -total if zone[0] == "-" else total


# -- reset arithmetic ------------------------------------------------------------------------------------------


def clamp_offset(requested: int, start: int | None, end: int | None) -> int:
    """Kafka's checkOffsetsRange: above the log end -> log end; below the log start -> log start."""
    if end is not None and requested > end:
        return end
    if start is not None and requested < start:
        return start
    return requested


def clamp_warning(tp: TopicPartitionKey, requested: int, clamped: int) -> str | None:
    """The WARN line Kafka logs when clamp_offset moved the value, or None."""
    if clamped == requested:
        return None
    side = "higher than latest" if requested > clamped else "lower than earliest"
    return (
        f"WARN New offset ({requested}) is {side} offset for topic partition {tp[0]}-{tp[1]}. "
        f"Value will be set to {clamped}."
    )


def shifted_offset(tp: TopicPartitionKey, committed: int | None, shift: int) -> int:
    """committed + shift (clamped afterwards by the caller); a partition without a committed offset is refused."""
    if committed is None:
        raise CliError(f"Cannot shift offset for partition {tp[0]}-{tp[1]} since there is no current committed offset")
    return committed + shift


# -- argument rules --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Selection:
    """What the command line asked for, after Kafka's checkArgs rules."""

    action: str
    dry_run: bool = True
    warn_no_execute: bool = False
    scenario: str | None = None


def check_args(
    *,
    actions: Sequence[str],
    groups: Sequence[str],
    all_groups: bool,
    topics: Sequence[str],
    all_topics: bool,
    members: bool,
    offsets: bool,
    state: str | None,
    verbose: bool,
    dry_run: bool,
    execute: bool,
    scenarios: Sequence[str],
) -> Selection:
    """Kafka's ConsumerGroupCommandOptions.checkArgs, with its messages ([name] is how joptsimple names options)."""
    if len(actions) != 1:
        raise CliError("Command must include exactly one action: " + ", ".join(f"--{a}" for a in ACTIONS))
    action = actions[0]
    scope = "[group], [all-groups]"
    if action != "describe":
        for flag, given in (("members", members), ("offsets", offsets), ("verbose", verbose)):
            if given:
                raise CliError(f"Option(s) [{flag}] are unavailable given other options on the command line")
        if state is not None and action != "list":
            raise CliError("Option(s) [state] are unavailable given other options on the command line")
    if action == "describe":
        if not groups and not all_groups:
            raise CliError(f"Option [describe] takes one of these options: {scope}")
        if sum((members, offsets, state is not None)) > 1:
            raise CliError("Option [describe] takes at most one of these options: [members], [offsets], [state]")
        if state:
            raise CliError("Option [describe] does not take a value for [state]")
    if action == "delete":
        if not groups and not all_groups:
            raise CliError(f"Option [delete] takes one of these options: {scope}")
        if topics:
            raise CliError("The consumer does not support topic-specific offset deletion from a consumer group.")
    if action == "delete-offsets" and (len(groups) == 0 or not topics):
        raise CliError("Option [delete-offsets] takes the following options: [group], [topic]")
    if action == "delete-offsets" and len(groups) > 1:
        raise CliError("Option [delete-offsets] supports one consumer group at the time")
    selection = Selection(action)
    if action == "reset-offsets":
        selection = _check_reset(groups, all_groups, topics, all_topics, dry_run, execute, scenarios)
    if groups and all_groups:
        raise CliError('Option "[group]" can\'t be used with option "[all-groups]"')
    if groups and action == "list":
        raise CliError('Option "[group]" can\'t be used with option "[list]"')
    if topics and action in ("list", "describe"):
        raise CliError(f'Option "[topic]" can\'t be used with option "[{action}]"')
    return selection


def _check_reset(
    groups: Sequence[str],
    all_groups: bool,
    topics: Sequence[str],
    all_topics: bool,
    dry_run: bool,
    execute: bool,
    scenarios: Sequence[str],
) -> Selection:
    if dry_run and execute:
        raise CliError("Option [reset-offsets] only accepts one of [execute] and [dry-run]")
    if not groups and not all_groups:
        raise CliError("Option [reset-offsets] takes one of these options: [group], [all-groups]")
    used = [s for s in RESET_SCENARIOS if s in scenarios]
    if len(used) > 1:
        raise CliError(f'Option "[{used[0]}]" can\'t be used with option "[{used[1]}]"')
    if not used:
        listed = ", ".join(f"[{s}]" for s in RESET_SCENARIOS)
        raise CliError(f"Option '[reset-offsets]' requires one of the following scenarios: [{listed}]")
    if not topics and not all_topics and used[0] != "from-file":
        raise CliError("One of the reset scopes should be defined: --all-topics, --topic.")
    if topics and all_topics:
        raise CliError('Option "[topic]" can\'t be used with option "[all-topics]"')
    return Selection(
        "reset-offsets", dry_run=not execute, warn_no_execute=not dry_run and not execute, scenario=used[0]
    )


NO_EXECUTE_WARNING = (
    "WARN: No action will be performed as the --execute option is missing."
    "In a future major release, the default behavior of this command will be to prompt the user before "
    "executing the reset rather than doing a dry run. You should add the --dry-run option explicitly "
    "if you are scripting this command and want to keep the current default behavior without prompting."
)


# -- describe: rows ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberView:
    member_id: str
    client_id: str
    host: str
    group_instance_id: str | None
    assignment: tuple[TopicPartitionKey, ...]
    target_assignment: tuple[TopicPartitionKey, ...] = ()


@dataclass(frozen=True, slots=True)
class OffsetRow:
    group: str
    topic: str | None
    partition: int | None
    offset: int | None
    log_end: int | None
    consumer_id: str | None
    host: str | None
    client_id: str | None
    leader_epoch: int | None = None

    @property
    def lag(self) -> int | None:
        if self.offset is None or self.offset == -1 or self.log_end is None:
            return None
        return self.log_end - self.offset


def offset_rows(
    group: str,
    members: Sequence[MemberView],
    committed: Mapping[TopicPartitionKey, tuple[int | None, int | None]],
    log_end: Mapping[TopicPartitionKey, int | None],
) -> list[OffsetRow]:
    """Kafka's collectGroupsOffsets: members with partitions (most partitions first), each member's partitions by
    topic and partition, then committed partitions no member owns (consumer columns `-`).

    committed maps a partition to (offset or None, leader epoch or None); log_end to the log end offset or None.
    """

    def row(tp: TopicPartitionKey, consumer: str, host: str, client: str) -> OffsetRow:
        offset, epoch = committed.get(tp, (None, None))
        return OffsetRow(group, tp[0], tp[1], offset, log_end.get(tp), consumer, host, client, epoch)

    rows: list[OffsetRow] = []
    assigned: set[TopicPartitionKey] = set()
    owners = sorted((m for m in members if m.assignment), key=lambda m: len(m.assignment), reverse=True)
    for member in owners:
        assigned.update(member.assignment)
        rows += [row(tp, member.member_id, member.host, member.client_id) for tp in sorted(member.assignment)]
    rows += [row(tp, MISSING, MISSING, MISSING) for tp in sorted(tp for tp in committed if tp not in assigned)]
    return rows


def state_notice(group: str, state: str) -> tuple[str | None, str | None]:
    """(error, notice) Kafka prints before a group's table: missing group, no active members, rebalancing."""
    if state == "Dead":
        return f"Consumer group '{group}' does not exist.", None
    if state == "Empty":
        return None, f"\nConsumer group '{group}' has no active members."
    if state in REBALANCING_STATES:
        return None, f"\nWarning: Consumer group '{group}' is rebalancing."
    return None, None


# -- describe: text -------------------------------------------------------------------------------------------


def _pad(value: object, width: int) -> str:
    return f"{value!s:<{width}}"


def _text(value: object) -> str:
    return MISSING if value is None else str(value)


def format_offsets(rows: Sequence[OffsetRow], verbose: bool = False) -> str:
    """The offsets table of one group: a blank line, the header, one line per row."""
    group_w = max([15] + [len(r.group) for r in rows])
    topic_w = max([15] + [len(_text(r.topic)) for r in rows])
    consumer_w = max([15] + [len(_text(r.consumer_id)) for r in rows])
    host_w = max([15] + [len(_text(r.host)) for r in rows])
    widths = [group_w, topic_w, 10] + ([15] if verbose else []) + [15, 15, 15, consumer_w, host_w]

    def line(cells: Sequence[str]) -> str:
        return " ".join(_pad(c, w) for c, w in zip(cells, widths, strict=False)) + " " + cells[-1]

    header = ["GROUP", "TOPIC", "PARTITION"] + (["LEADER-EPOCH"] if verbose else [])
    header += ["CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]
    lines = [line(header)]
    for r in rows:
        cells = [r.group, _text(r.topic), _text(r.partition)] + ([_text(r.leader_epoch)] if verbose else [])
        cells += [_text(r.offset), _text(r.log_end), _text(r.lag), _text(r.consumer_id), _text(r.host)]
        cells.append(_text(r.client_id))
        lines.append(line(cells))
    return "\n" + "\n".join(lines) + "\n"


def assignment_text(assignment: Iterable[TopicPartitionKey]) -> str:
    """`topic:0,1;other:2` (Kafka's getAssignmentString), `-` when empty."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in assignment:
        by_topic.setdefault(topic, []).append(partition)
    if not by_topic:
        return MISSING
    return ";".join(sorted(f"{t}:{','.join(str(p) for p in sorted(ps))}" for t, ps in by_topic.items()))


def format_members(group: str, members: Sequence[MemberView], verbose: bool = False) -> str:
    """The members table of one group (header always printed, as Kafka does, even with no members)."""
    with_instance = any(m.group_instance_id for m in members)
    widths = [
        max([15, len(group)]),
        max([15] + [len(m.member_id) for m in members]),
        *([max([17] + [len(m.group_instance_id or "") for m in members])] if with_instance else []),
        max([15] + [len(m.host) for m in members]),
        max([15] + [len(m.client_id) for m in members]),
        15,
    ]
    current_w = max([20] + [len(assignment_text(m.assignment)) for m in members])
    target_w = max([20] + [len(assignment_text(m.target_assignment)) for m in members])

    def base(cells: Sequence[object]) -> str:
        return "".join(_pad(c, w) + " " for c, w in zip(cells, widths, strict=True))

    def extra(cells: Sequence[str]) -> str:
        return f"{cells[0]:<15} {cells[1]:<{current_w}} {cells[2]:<15} {cells[3]:<{target_w}}" if verbose else ""

    head: list[object] = ["GROUP", "CONSUMER-ID", *(["GROUP-INSTANCE-ID"] if with_instance else [])]
    head += ["HOST", "CLIENT-ID", "#PARTITIONS"]
    out = "\n" + base(head) + extra(["CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"])
    out += "\n"
    for m in members:
        cells: list[object] = [group, m.member_id, *([m.group_instance_id or ""] if with_instance else [])]
        cells += [m.host, m.client_id, len(m.assignment)]
        current, target = assignment_text(m.assignment), assignment_text(m.target_assignment)
        out += base(cells) + extra([MISSING, current, MISSING, target]) + "\n"
    return out


@dataclass(frozen=True, slots=True)
class StateView:
    group: str
    coordinator_host: str
    coordinator_port: int
    coordinator_id: str
    assignment_strategy: str
    state: str
    members: int


def format_state(view: StateView, verbose: bool = False) -> str:
    """The state table of one group."""
    coordinator = f"{view.coordinator_host}:{view.coordinator_port}  ({view.coordinator_id})"
    coordinator_w = max(25, len(coordinator))
    group_w = max(15, len(view.group))
    strategy = view.assignment_strategy or MISSING

    def line(cells: Sequence[object]) -> str:
        fixed = f"{cells[0]!s:<{group_w}} {cells[1]!s:<{coordinator_w}} {cells[2]!s:<20} {cells[3]!s:<20} "
        if verbose:
            return fixed + f"{cells[4]!s:<15} {cells[5]!s:<25} {cells[6]}"
        return fixed + str(cells[4])

    if verbose:
        head = ["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "GROUP-EPOCH", "TARGET-ASSIGNMENT-EPOCH"]
        return (
            "\n"
            + line([*head, "#MEMBERS"])
            + "\n"
            + line([view.group, coordinator, strategy, view.state, MISSING, MISSING, view.members])
            + "\n"
        )
    head = ["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]
    return "\n" + line(head) + "\n" + line([view.group, coordinator, strategy, view.state, view.members]) + "\n"


def format_group_list(
    groups: Sequence[tuple[str, str]], with_state: bool, types: Mapping[str, str] | None = None
) -> str:
    """`--list`: one id per line; with `--state` and/or `--type` (`types`: group -> type name), Kafka's
    GROUP [TYPE] [STATE] table (trailing padding kept)."""
    if not with_state and types is None:
        return "".join(f"{g}\n" for g, _ in groups)
    width = max([15] + [len(g) for g, _ in groups]) + 10

    def line(group: str, group_type: str, state: str) -> str:
        text = f"{group:<{width}}"
        if types is not None:
            text += f" {group_type:<20}"
        if with_state:
            text += f" {state:<20}"
        return text + "\n"

    rows = [line(g, (types or {}).get(g, "Unknown"), s) for g, s in groups]
    return line("GROUP", "TYPE", "STATE") + "".join(rows)


# -- reset and delete text -------------------------------------------------------------------------------------


def format_reset_plan(plan: Mapping[str, Mapping[TopicPartitionKey, int]]) -> str:
    """GroupOffsetsResetter.printOffsetsToReset: header if any group was handled, rows by topic and partition."""
    group_w = max([15] + [len(g) for g in plan])
    topic_w = max([15] + [len(tp[0]) for offsets in plan.values() for tp in offsets])

    def line(group: str, topic: str, partition: object, offset: object) -> str:
        return f"\n{group:<{group_w}} {topic:<{topic_w}} {partition!s:<10} {offset}"

    out = line("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET") if plan else ""
    for group in sorted(plan):
        for tp in sorted(plan[group]):
            out += line(group, tp[0], tp[1], plan[group][tp])
    return out + "\n"


def export_reset_plan(plan: Mapping[str, Mapping[TopicPartitionKey, int]], single_group: bool) -> str:
    """`--export`: the plan as Kafka's CSV, `topic,partition,offset` rows for one --group, else
    `group,topic,partition,offset` (the format --from-file reads back)."""
    rows = [
        f"{tp[0]},{tp[1]},{offset}" if single_group else f"{group},{tp[0]},{tp[1]},{offset}"
        for group in sorted(plan)
        for tp, offset in sorted(plan[group].items())
    ]
    return "".join(row + "\n" for row in rows)


def parse_reset_plan(text: str, groups: Sequence[str]) -> dict[str, dict[TopicPartitionKey, int]]:
    """`--from-file`: Kafka's CSV reset plan; three columns (topic,partition,offset) are the one --group's."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    plan: dict[str, dict[TopicPartitionKey, int]] = {}
    three_columns = bool(lines) and len(lines[0].split(",")) == 3 and len(groups) == 1
    for line in lines:
        fields = line.split(",")
        try:
            if three_columns:
                group, (topic, partition, offset) = groups[0], fields
            else:
                group, topic, partition, offset = fields
            plan.setdefault(group, {})[(topic, int(partition))] = int(offset)
        except ValueError:
            expected = "topic,partition,offset" if three_columns else "group,topic,partition,offset"
            raise CliError(f"Invalid reset plan line {line!r}: expected {expected}") from None
    return plan


# Kafka's Errors messages for the group-level errors of OffsetDelete (codes as in the protocol).
DELETE_OFFSETS_GROUP_ERRORS = {
    24: "The configured groupId is invalid.",
    69: "The group id does not exist.",
    30: "Group authorization failed.",
    68: "The group is not empty.",
}
DELETE_OFFSETS_PARTITION_ERRORS = frozenset({86, 29, 3})  # GROUP_SUBSCRIBED_TO_TOPIC, TOPIC_AUTHZ, UNKNOWN_TOPIC


def delete_offsets_summary(group: str, error_code: int, error_name: str) -> tuple[str | None, str | None]:
    """(stdout line, stderr error) for the group-level result of --delete-offsets."""
    if error_code == 0:
        return f"Request succeeded for deleting offsets from group {group}.", None
    if error_code in DELETE_OFFSETS_GROUP_ERRORS:
        return None, DELETE_OFFSETS_GROUP_ERRORS[error_code]
    if error_code in DELETE_OFFSETS_PARTITION_ERRORS:
        return None, "Encountered some partition-level error, see the follow-up details."
    return None, f"Encountered some unknown error: {error_name}"


def format_delete_offsets(results: Mapping[TopicPartitionKey, str | None]) -> str:
    """TOPIC PARTITION STATUS per partition (`-` for a topic that could not be described), as Kafka sorts them:
    by the string topic + partition. A None status is `Successful`, anything else `Error: <text>`."""
    topic_w = max([15] + [len(tp[0]) for tp in results])

    def line(topic: str, partition: object, status: str) -> str:
        return f"\n{topic:<{topic_w}} {partition!s:<10} {status:<15}"

    out = line("TOPIC", "PARTITION", "STATUS")
    for tp in sorted(results, key=lambda k: k[0] + str(k[1])):
        error = results[tp]
        out += line(tp[0], tp[1] if tp[1] >= 0 else MISSING, "Successful" if error is None else f"Error: {error}")
    return out + "\n"


def format_delete_groups(results: Mapping[str, str | None]) -> tuple[str, str]:
    """(stdout, stderr) of --delete: Kafka's success line, or its failure list and the groups that did go."""
    ok = [g for g, error in results.items() if error is None]
    failed = {g: error for g, error in results.items() if error is not None}
    quoted = ", ".join(f"'{g}'" for g in ok)
    if not failed:
        return f"Deletion of requested consumer groups ({quoted}) was successful.\n", ""
    err = "Error: Deletion of some consumer groups failed:\n"
    err += "".join(f"* Group '{g}' could not be deleted due to: {e}\n" for g, e in failed.items())
    out = f"\nThese consumer groups were deleted successfully: {quoted}\n" if ok else ""
    return out, err
