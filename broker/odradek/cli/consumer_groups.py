"""`odradek consumer-groups`: list, describe, delete consumer groups and reset or delete their offsets,
as kafka-consumer-groups.sh.

Exactly one action: `--list [--state [states]] [--type [types]]`, `--describe` (offsets by default, or
`--members` / `--state`, each with `--verbose`), `--delete`, `--reset-offsets` (dry run unless `--execute`),
`--delete-offsets`. Option rules, messages and table layouts are Kafka's (see group_views for the formats).
Differences, by convention of this CLI: errors go to stderr as `Error: ...` and make the exit code 1 (Kafka prints
them on stdout and exits 0); `--timeout` defaults to 30000 ms (Kafka: 5000).

Broker calls, all through confluent-kafka's AdminClient: ListGroups, DescribeGroups, OffsetFetch
(list_consumer_group_offsets), OffsetCommit (alter_consumer_group_offsets), DeleteGroups, ListOffsets and
Metadata; OffsetDelete goes through librdkafka's C API (rdkafka_admin), which confluent-kafka does not wrap.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from odradek.cli import group_views as views
from odradek.cli import rdkafka_admin
from odradek.cli.common import (
    ADMIN_TIMEOUT_S,
    CliError,
    add_bootstrap_options,
    admin_client,
    client_config,
    describe_kafka_error,
    kafka_admin,
    kafka_error_code,
)
from odradek.cli.group_views import TopicPartitionKey

# librdkafka's "no offset" (OFFSET_INVALID); Kafka's -1 means the same in OffsetFetch answers.
_NO_OFFSET = -1001


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "consumer-groups",
        help="list, describe, delete consumer groups; reset or delete offsets (kafka-consumer-groups)",
    )
    add_bootstrap_options(parser)
    for flag, text in (
        ("--list", "list all consumer groups"),
        ("--describe", "describe groups: offsets and lag (default), --members or --state"),
        ("--delete", "delete groups (--group, repeatable, or --all-groups)"),
        ("--reset-offsets", "reset offsets of inactive groups (dry run unless --execute)"),
        ("--delete-offsets", "delete committed offsets of one group for --topic T[:P,...]"),
    ):
        parser.add_argument(flag, action="store_true", help=text)
    parser.add_argument("--group", action="append", default=[], metavar="GROUP", help="consumer group; repeatable")
    parser.add_argument("--all-groups", action="store_true", help="apply to all consumer groups")
    parser.add_argument(
        "--topic", action="append", default=[], metavar="T[:P,P]", help="topic (and partitions); repeatable"
    )
    parser.add_argument("--all-topics", action="store_true", help="reset every partition the group has offsets for")
    parser.add_argument("--members", action="store_true", help="describe: members of the group")
    parser.add_argument("--offsets", action="store_true", help="describe: offsets and lag (the default)")
    parser.add_argument(
        "--state", nargs="?", const="", default=None, metavar="STATES",
        help="describe: group state; list: show states, optionally only these (e.g. stable,empty)",
    )  # fmt: skip
    parser.add_argument(
        "--type", nargs="?", const="", default=None, metavar="TYPES",
        help="list: show group types (Classic, Consumer), optionally only these (e.g. consumer)",
    )  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help="describe: more columns")
    parser.add_argument("--dry-run", action="store_true", help="reset: only show the new offsets (the default)")
    parser.add_argument("--execute", action="store_true", help="reset: commit the new offsets")
    parser.add_argument("--to-earliest", action="store_true", help="reset to the log start offset")
    parser.add_argument("--to-latest", action="store_true", help="reset to the log end offset")
    parser.add_argument("--to-current", action="store_true", help="reset to the committed offset")
    parser.add_argument("--to-offset", type=int, metavar="N", help="reset to N (clamped into the log)")
    parser.add_argument("--shift-by", type=int, metavar="N", help="move the committed offset by N (clamped)")
    parser.add_argument(
        "--to-datetime", metavar="YYYY-MM-DDTHH:mm:SS.sss", help="first offset at or after this time (UTC default)"
    )
    parser.add_argument("--by-duration", metavar="PnDTnHnMnS", help="first offset at or after now minus duration")
    parser.add_argument("--from-file", metavar="CSV", help="reset to the offsets of a CSV plan (as --export writes)")
    parser.add_argument("--export", action="store_true", help="reset: print the plan as CSV (for --from-file)")
    parser.add_argument(
        "--timeout", type=int, default=int(ADMIN_TIMEOUT_S * 1000), metavar="MS", help="admin request timeout"
    )
    parser.set_defaults(run=run)


def selection(args: argparse.Namespace) -> views.Selection:
    """The action and reset mode after Kafka's option rules."""
    actions = [a for a in views.ACTIONS if getattr(args, a.replace("-", "_"))]
    scenarios = [s for s in views.RESET_SCENARIOS if _scenario_given(args, s)]
    return views.check_args(
        actions=actions,
        groups=args.group,
        all_groups=args.all_groups,
        topics=args.topic,
        all_topics=args.all_topics,
        members=args.members,
        offsets=args.offsets,
        state=args.state,
        verbose=args.verbose,
        dry_run=args.dry_run,
        execute=args.execute,
        scenarios=scenarios,
    )


def _scenario_given(args: argparse.Namespace, scenario: str) -> bool:
    value = getattr(args, scenario.replace("-", "_"))
    return value is not None and value is not False


def run(args: argparse.Namespace) -> int:
    chosen = selection(args)
    if args.export and chosen.action != "reset-offsets":
        raise CliError("Option(s) [export] are unavailable given other options on the command line")
    if args.timeout <= 0:
        raise CliError("--timeout must be positive")
    if chosen.warn_no_execute:
        print(views.NO_EXECUTE_WARNING, file=sys.stderr)
    service = GroupService(args)
    if args.type is not None and chosen.action != "list":
        raise CliError("Option(s) [type] are unavailable given other options on the command line")
    if chosen.action == "list":
        return service.list_groups(args.state, args.type)
    if chosen.action == "describe":
        return service.describe(args)
    if chosen.action == "delete":
        return service.delete_groups(args)
    if chosen.action == "reset-offsets":
        return service.reset_offsets(args, chosen)
    return service.delete_offsets(args.group[0], args.topic)


def _err(text: str) -> None:
    print(f"Error: {text}", file=sys.stderr)


class GroupService:
    """One AdminClient and the calls the actions are made of; every wait bounded by --timeout."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.timeout_s = args.timeout / 1000.0
        self.admin = admin_client(args)

    # -- small client calls -----------------------------------------------------------------------------------

    def _wait(self, future: concurrent.futures.Future[Any], what: str) -> Any:
        try:
            return future.result(timeout=self.timeout_s + 5)
        except concurrent.futures.TimeoutError:
            raise CliError(f"Timed out after {self.timeout_s:.0f} s waiting for {what}") from None
        except KafkaException as exc:
            raise CliError(f"{what} failed: {describe_kafka_error(exc)}") from None

    def group_listings(self) -> list[tuple[str, str, str]]:
        """(group id, Kafka state name, Kafka type name) of every consumer group, sorted by id."""
        result = self._wait(self.admin.list_consumer_groups(request_timeout=self.timeout_s), "listing consumer groups")
        for error in result.errors or ():
            raise CliError(f"listing consumer groups failed: {describe_kafka_error(error)}")
        listed = result.valid or ()
        return sorted(
            (g.group_id, views.state_name(g.state), views.type_name(getattr(g, "type", None))) for g in listed
        )

    def describe_groups(self, groups: Sequence[str]) -> dict[str, Any]:
        """ConsumerGroupDescription per group; None for a group the coordinator does not know (GROUP_ID_NOT_FOUND)."""
        if not groups:
            return {}
        futures = self.admin.describe_consumer_groups(list(dict.fromkeys(groups)), request_timeout=self.timeout_s)
        described: dict[str, Any] = {}
        for group, future in futures.items():
            try:
                described[group] = future.result(timeout=self.timeout_s + 5)
            except concurrent.futures.TimeoutError:
                raise CliError(f"Timed out after {self.timeout_s:.0f} s describing group {group}") from None
            except KafkaException as exc:
                if kafka_error_code(exc) != KafkaError.GROUP_ID_NOT_FOUND:
                    raise CliError(f"describing group {group} failed: {describe_kafka_error(exc)}") from None
                described[group] = None
        return described

    def committed(self, group: str) -> dict[TopicPartitionKey, tuple[int | None, int | None]]:
        """Committed offsets of a group: partition -> (offset or None, leader epoch or None)."""
        from confluent_kafka import ConsumerGroupTopicPartitions

        futures = self.admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=self.timeout_s
        )
        answer = self._wait(futures[group], f"fetching committed offsets of group {group}")
        result: dict[TopicPartitionKey, tuple[int | None, int | None]] = {}
        for tp in answer.topic_partitions or ():
            if tp.error is not None:
                continue
            offset = tp.offset if tp.offset >= 0 else None
            epoch = tp.leader_epoch if tp.leader_epoch is not None and tp.leader_epoch >= 0 else None
            result[(tp.topic, tp.partition)] = (offset, epoch)
        return result

    def log_offsets(self, partitions: Iterable[TopicPartitionKey], spec: Any) -> dict[TopicPartitionKey, int | None]:
        """ListOffsets for each partition with one OffsetSpec; None where the broker gave no answer."""
        from confluent_kafka import TopicPartition

        wanted = sorted(set(partitions))
        if not wanted:
            return {}
        futures = self.admin.list_offsets(
            {TopicPartition(t, p): spec for t, p in wanted}, request_timeout=self.timeout_s
        )
        result: dict[TopicPartitionKey, int | None] = {tp: None for tp in wanted}
        for tp, future in futures.items():
            try:
                result[(tp.topic, tp.partition)] = int(future.result(timeout=self.timeout_s + 5).offset)
            except (KafkaException, concurrent.futures.TimeoutError):
                continue
        return result

    def log_end_offsets(self, partitions: Iterable[TopicPartitionKey]) -> dict[TopicPartitionKey, int | None]:
        return self.log_offsets(partitions, kafka_admin().OffsetSpec.latest())

    def topic_partitions(self) -> dict[str, dict[int, bool]]:
        """Every topic's partitions with whether each has a leader (Metadata)."""
        try:
            metadata = self.admin.list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            raise CliError(f"fetching metadata failed: {describe_kafka_error(exc)}") from None
        return {
            name: {p.id: p.leader >= 0 for p in topic.partitions.values()}
            for name, topic in metadata.topics.items()
            if topic.error is None
        }

    def group_ids(self, args: argparse.Namespace) -> list[str]:
        return [g for g, _, _ in self.group_listings()] if args.all_groups else list(dict.fromkeys(args.group))

    # -- --list -----------------------------------------------------------------------------------------------

    def list_groups(self, state: str | None, group_type: str | None = None) -> int:
        listings = self.group_listings()
        if state is not None and state != "":
            wanted = views.parse_states(state)
            listings = [row for row in listings if row[1] in wanted]
        if group_type is not None and group_type != "":
            types = views.parse_types(group_type)
            listings = [row for row in listings if row[2] in types]
        rows = [(g, s) for g, s, _ in listings]
        types_shown = {g: t for g, _, t in listings} if group_type is not None else None
        print(views.format_group_list(rows, with_state=state is not None, types=types_shown), end="")
        return 0

    # -- --describe -------------------------------------------------------------------------------------------

    def describe(self, args: argparse.Namespace) -> int:
        groups = self.group_ids(args)
        described = self.describe_groups(groups)
        failed = False
        for group in sorted(described):
            description = described[group]
            state = "Dead" if description is None else views.state_name(description.state)
            members = [] if description is None else [_member_view(m) for m in description.members]
            if args.members:
                failed |= _notice(group, state)
                print(views.format_members(group, members, args.verbose), end="")
            elif args.state is not None:
                if _notice(group, state):
                    failed = True
                    continue
                print(views.format_state(_state_view(group, description, state), args.verbose), end="")
            else:
                rows = self._offset_rows(group, members) if state != "Dead" else []
                failed |= _notice(group, state)
                if state != "Dead" and rows:
                    print(views.format_offsets(rows, args.verbose), end="")
        sys.stdout.flush()
        return 1 if failed else 0

    def _offset_rows(self, group: str, members: Sequence[views.MemberView]) -> list[views.OffsetRow]:
        committed = self.committed(group)
        partitions = set(committed) | {tp for m in members for tp in m.assignment}
        leaders = self.topic_partitions()
        with_leader = [tp for tp in partitions if leaders.get(tp[0], {}).get(tp[1], False)]
        log_end = self.log_end_offsets(with_leader)
        return views.offset_rows(group, members, committed, log_end)

    # -- --delete ---------------------------------------------------------------------------------------------

    def delete_groups(self, args: argparse.Namespace) -> int:
        groups = self.group_ids(args)
        if not groups:
            print(views.format_delete_groups({})[0], end="")
            return 0
        futures = self.admin.delete_consumer_groups(groups, request_timeout=self.timeout_s)
        results: dict[str, str | None] = {}
        for group in groups:
            try:
                futures[group].result(timeout=self.timeout_s + 5)
                results[group] = None
            except concurrent.futures.TimeoutError:
                results[group] = f"timed out after {self.timeout_s:.0f} s"
            except KafkaException as exc:
                results[group] = describe_kafka_error(exc)
        out, err = views.format_delete_groups(results)
        print(out, end="")
        print(err, end="", file=sys.stderr)
        return 1 if err else 0

    # -- --reset-offsets --------------------------------------------------------------------------------------

    def reset_offsets(self, args: argparse.Namespace, chosen: views.Selection) -> int:
        groups = self.group_ids(args)
        described = self.describe_groups(groups)
        plan: dict[str, dict[TopicPartitionKey, int]] = {}
        failed = False
        for group in sorted(described):
            description = described[group]
            state = "Dead" if description is None else views.state_name(description.state)
            if state not in views.INACTIVE_STATES:
                _err(
                    f"Assignments can only be reset if the group '{group}' is inactive, "
                    f"but the current state is {state}."
                )
                plan[group] = {}
                failed = True
                continue
            partitions = self._partitions_to_reset(group, args)
            offsets = self._prepare(group, partitions, args, chosen.scenario or "")
            if not chosen.dry_run:
                self._alter(group, offsets)
            plan[group] = offsets
        if args.export:
            print(views.export_reset_plan(plan, single_group=len(args.group) == 1))
        else:
            print(views.format_reset_plan(plan), end="")
        return 1 if failed else 0

    def _partitions_to_reset(self, group: str, args: argparse.Namespace) -> list[TopicPartitionKey]:
        if args.from_file:
            partitions = sorted(self._file_plan(group, args))
        elif args.all_topics:
            partitions = sorted(self.committed(group))
        else:
            partitions = self._topic_args_partitions(args.topic)
        self._check_valid(partitions)
        return partitions

    def _topic_args_partitions(self, topic_args: Sequence[str]) -> list[TopicPartitionKey]:
        parsed = [views.parse_topic_arg(arg) for arg in topic_args]
        known = self.topic_partitions() if any(p is None for _, p in parsed) else {}
        result: list[TopicPartitionKey] = []
        for topic, partitions in parsed:
            if partitions is None:
                if topic not in known:
                    raise CliError(f"Topic '{topic}' does not exist")
                partitions = sorted(known[topic])
            result += [(topic, p) for p in partitions]
        return list(dict.fromkeys(result))

    def _check_valid(self, partitions: Sequence[TopicPartitionKey]) -> None:
        """GroupOffsetsResetter.checkAllTopicPartitionsValid: every partition exists and has a leader."""
        if not partitions:
            return
        known = self.topic_partitions()
        missing = [tp for tp in partitions if tp[1] not in known.get(tp[0], {})]
        if missing:
            raise CliError(f'The partitions "{",".join(f"{t}-{p}" for t, p in missing)}" do not exist')
        leaderless = [tp for tp in partitions if not known[tp[0]][tp[1]]]
        if leaderless:
            raise CliError(f'The partitions "{",".join(f"{t}-{p}" for t, p in leaderless)}" have no leader')

    def _prepare(
        self, group: str, partitions: Sequence[TopicPartitionKey], args: argparse.Namespace, scenario: str
    ) -> dict[TopicPartitionKey, int]:
        spec = kafka_admin().OffsetSpec
        if scenario in ("to-earliest", "to-latest"):
            found = self.log_offsets(partitions, spec.earliest() if scenario == "to-earliest" else spec.latest())
            which = "starting" if scenario == "to-earliest" else "ending"
            return {tp: _known(found.get(tp), f"Error getting {which} offset of topic partition: {tp[0]}-{tp[1]}")
                    for tp in partitions}  # fmt: skip
        if scenario == "to-offset":
            return self._clamped({tp: args.to_offset for tp in partitions})
        if scenario == "shift-by":
            committed = self.committed(group)
            wanted = {tp: views.shifted_offset(tp, committed.get(tp, (None, None))[0], args.shift_by)
                      for tp in partitions}  # fmt: skip
            return self._clamped(wanted)
        if scenario == "to-current":
            current = {tp: offset for tp, (offset, _) in self.committed(group).items() if offset is not None}
            ends = self.log_end_offsets(tp for tp in partitions if tp not in current)
            return {tp: current[tp] if tp in current else
                    _known(ends.get(tp), f"Error getting ending offset of topic partition: {tp[0]}-{tp[1]}")
                    for tp in partitions}  # fmt: skip
        if scenario == "from-file":
            return self._file_plan(group, args)
        if scenario == "to-datetime":
            return self._by_timestamp(partitions, views.parse_datetime_ms(args.to_datetime))
        duration = views.parse_duration_ns(args.by_duration)
        return self._by_timestamp(partitions, views.duration_timestamp_ms(duration, time.time_ns()))

    def _file_plan(self, group: str, args: argparse.Namespace) -> dict[TopicPartitionKey, int]:
        try:
            with open(args.from_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise CliError(f"Cannot read {args.from_file}: {exc.strerror or exc}") from None
        plan = views.parse_reset_plan(text, args.group)
        if group not in plan:
            raise CliError(f"No reset plan for group {group} found")
        return plan[group]

    def _clamped(self, wanted: Mapping[TopicPartitionKey, int]) -> dict[TopicPartitionKey, int]:
        spec = kafka_admin().OffsetSpec
        starts = self.log_offsets(wanted, spec.earliest())
        ends = self.log_offsets(wanted, spec.latest())
        result = {}
        for tp, requested in wanted.items():
            result[tp] = views.clamp_offset(requested, starts.get(tp), ends.get(tp))
            warning = views.clamp_warning(tp, requested, result[tp])
            if warning:
                print(warning, file=sys.stderr)
        return result

    def _by_timestamp(self, partitions: Sequence[TopicPartitionKey], timestamp_ms: int) -> dict[TopicPartitionKey, int]:
        found = self.log_offsets(partitions, kafka_admin().OffsetSpec.for_timestamp(timestamp_ms))
        empty = [tp for tp in partitions if found.get(tp) is None or found[tp] == -1]
        for topic, partition in empty:
            print(f"\nWarn: Partition {partition} from topic {topic} is empty. Falling back to latest known offset.")
        ends = self.log_end_offsets(empty)
        return {tp: _known(ends.get(tp) if tp in empty else found.get(tp),
                           f"Error getting offset by timestamp of topic partition: {tp[0]}-{tp[1]}")
                for tp in partitions}  # fmt: skip

    def _alter(self, group: str, offsets: Mapping[TopicPartitionKey, int]) -> None:
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

        if not offsets:
            return
        request = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for (t, p), o in offsets.items()])
        futures = self.admin.alter_consumer_group_offsets([request], request_timeout=self.timeout_s)
        answer = self._wait(futures[group], f"committing offsets of group {group}")
        for tp in answer.topic_partitions or ():
            if tp.error is not None:
                raise CliError(
                    f"committing offset of {tp.topic}-{tp.partition} for group {group} failed: "
                    f"{describe_kafka_error(tp.error)}"
                )

    # -- --delete-offsets -------------------------------------------------------------------------------------

    def delete_offsets(self, group: str, topic_args: Sequence[str]) -> int:
        parsed = [views.parse_topic_arg(arg) for arg in topic_args]
        results: dict[TopicPartitionKey, str | None] = {}
        partitions: list[TopicPartitionKey] = []
        known = self.topic_partitions() if any(p is None for _, p in parsed) else {}
        for topic, listed in parsed:
            if listed is not None:
                partitions += [(topic, p) for p in listed]
            elif topic in known:
                partitions += [(topic, p) for p in sorted(known[topic])]
            else:
                results[(topic, -1)] = rdkafka_admin.error_text(KafkaError.UNKNOWN_TOPIC_OR_PART)
        partitions = list(dict.fromkeys(partitions))
        outcome = rdkafka_admin.delete_consumer_group_offsets(
            client_config(self.args), group, partitions, self.timeout_s
        )
        code, name = outcome.error_code, outcome.error_text
        failing = [c for c in outcome.partitions.values() if c != 0]
        if code == 0 and failing:  # Kafka's all() fails with the first partition error
            code, name = failing[0], rdkafka_admin.error_text(failing[0])
        for tp in partitions:
            partition_code = outcome.partitions.get(tp, outcome.error_code)
            results[tp] = None if partition_code == 0 else rdkafka_admin.error_text(partition_code)
        stdout_line, error = views.delete_offsets_summary(group, code, name)
        if stdout_line:
            print(stdout_line)
        if error:
            _err(error)
        print(views.format_delete_offsets(results), end="")
        return 1 if error or any(e is not None for e in results.values()) else 0


def _known(value: int | None, error: str) -> int:
    if value is None or value < 0:
        raise CliError(error)
    return value


def _notice(group: str, state: str) -> bool:
    """Print Kafka's per-group notice; True if it was an error (group missing)."""
    error, notice = views.state_notice(group, state)
    if notice:
        print(notice, file=sys.stderr)
    if error:
        _err(error)
        return True
    return False


def _member_view(member: Any) -> views.MemberView:
    def partitions(assignment: Any) -> tuple[TopicPartitionKey, ...]:
        if assignment is None:
            return ()
        return tuple((tp.topic, tp.partition) for tp in assignment.topic_partitions or ())

    return views.MemberView(
        member_id=member.member_id,
        client_id=member.client_id,
        host=member.host,
        group_instance_id=member.group_instance_id,
        assignment=partitions(member.assignment),
        target_assignment=partitions(getattr(member, "target_assignment", None)),
    )


def _state_view(group: str, description: Any, state: str) -> views.StateView:
    coordinator = description.coordinator
    return views.StateView(
        group=group,
        coordinator_host=coordinator.host if coordinator is not None else MISSING_HOST,
        coordinator_port=coordinator.port if coordinator is not None else -1,
        coordinator_id=coordinator.id_string if coordinator is not None else "-1",
        assignment_strategy=description.partition_assignor or "",
        state=state,
        members=len(description.members),
    )


MISSING_HOST = views.MISSING
