"""`odradek reassign-partitions`, as kafka-reassign-partitions.sh (Kafka 3.9's ReassignPartitionsCommand).

Exactly one action, with Kafka's required and permitted flags (anything else is a usage error, as Kafka's
`Option "--x" can't be used with action "--y"`):

- `--generate --topics-to-move-json-file F --broker-list 1,2,3 [--disable-rack-aware]`: prints
  `Current partition replica assignment`, the current assignment of those topics as JSON, a blank line,
  `Proposed partition reassignment configuration` and a proposal placing each topic's partitions (same
  replication factor as its first partition) on the listed brokers with Kafka's `AdminUtils.assignReplicasToBrokers`
  (the broker's own `metadata.placement`: random start, rack-aware when the brokers have racks). Nothing changes.
- `--execute --reassignment-json-file F [--additional] [--throttle B/s] [--replica-alter-log-dirs-throttle B/s]
  [--timeout ms]`: refuses while any reassignment is in progress unless `--additional`; refuses unknown brokers
  (`Unknown broker id N`); prints the current assignment of those partitions (`Save this to use as the
  --reassignment-json-file option during rollback`); with `--throttle`, sets Kafka's throttle configs (topic
  `leader.replication.throttled.replicas` = partition:source, `follower.replication.throttled.replicas` =
  partition:destination, broker `leader/follower.replication.throttled.rate` on every broker involved; enforced by
  the brokers: docs/cluster.md, "Replication throttles"); then AlterPartitionReassignments and
  `Successfully started partition reassignment(s) for t-0,t-1`.
- `--verify --reassignment-json-file F [--preserve-throttles]`: `Status of partition reassignment:` then per
  partition `Reassignment of partition t-0 is completed.` / `... is still in progress.` / `There is no active
  reassignment of partition t-0, but replica set is 1,2 rather than 2,3.`; once no reassignment is in progress,
  clears the throttles (`Clearing broker-level throttles on brokers 1,2,3`, `Clearing topic-level throttles on
  topic t`) unless `--preserve-throttles`.
- `--cancel --reassignment-json-file F [--preserve-throttles] [--timeout ms]`: cancels the file's partitions that
  are being reassigned (`Successfully cancelled partition reassignment(s) for: t-0` or `None of the specified
  partition reassignments are active.`), then clears the throttles as --verify does. (Kafka 3.9 skips partitions
  that only add replicas, a quirk not copied: every listed reassignment is cancelled.)
- `--list`: `Current partition reassignments:` and `t-0: replicas: 2,3,1. adding: 3. removing: 1.` lines, or
  `No partition reassignments found.`

JSON files are Kafka's: `{"version": 1, "partitions": [{"topic": "t", "partition": 0, "replicas": [2, 3],
"log_dirs": ["any", "any"]}]}` (log_dirs optional; a dir other than `any` needs AlterReplicaLogDirs, which is not
served: refused) and `{"version": 1, "topics": [{"topic": "t"}]}`; JSON is printed compact, partitions sorted.
AlterPartitionReassignments and ListPartitionReassignments go through kafka-python (confluent-kafka 2.16 has
neither: `odradek.kafka_python`), everything else through confluent-kafka's AdminClient.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from odradek.cli.common import (
    ADMIN_TIMEOUT_S,
    CliError,
    add_bootstrap_options,
    admin_client,
    client_config,
    kafka_admin,
    probe_metadata,
    wait,
)

ANY_LOG_DIR = "any"
T = TypeVar("T")
ACTIONS = ("generate", "execute", "verify", "cancel", "list")
# Kafka's validateAndParseArgs: the flags each action requires, and the others it permits.
REQUIRED = {
    "verify": ("reassignment_json_file",),
    "generate": ("topics_to_move_json_file", "broker_list"),
    "execute": ("reassignment_json_file",),
    "cancel": ("reassignment_json_file",),
    "list": (),
}
PERMITTED = {
    "verify": ("preserve_throttles",),
    "generate": ("disable_rack_aware",),
    "execute": ("additional", "throttle", "replica_alter_log_dirs_throttle", "timeout"),
    "cancel": ("preserve_throttles", "timeout"),
    "list": (),
}
OPTION_DEFAULTS: Mapping[str, Any] = {
    "reassignment_json_file": None,
    "topics_to_move_json_file": None,
    "broker_list": None,
    "disable_rack_aware": False,
    "additional": False,
    "throttle": -1,
    "replica_alter_log_dirs_throttle": -1,
    "timeout": 10000,
    "preserve_throttles": False,
}
BROKER_THROTTLES = (
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
    "replica.alter.log.dirs.io.max.bytes.per.second",
)
LEADER_THROTTLED_REPLICAS = "leader.replication.throttled.replicas"
FOLLOWER_THROTTLED_REPLICAS = "follower.replication.throttled.replicas"
CANNOT_EXECUTE_BECAUSE_OF_EXISTING = (
    "Cannot execute because there is an existing partition assignment.  Use --additional to override this and "
    "create a new partition assignment in addition to the existing one. The --additional flag can also be used to "
    "change the throttle by resubmitting the current reassignment."
)
VERIFY_PERIODICALLY = (
    "Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed."
)

TopicPartition = tuple[str, int]
Assignment = dict[TopicPartition, list[int]]


@dataclass(frozen=True, slots=True)
class OngoingReassignment:
    """One entry of ListPartitionReassignments."""

    replicas: tuple[int, ...]
    adding: tuple[int, ...]
    removing: tuple[int, ...]


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "reassign-partitions", help="move partitions between brokers (kafka-reassign-partitions)"
    )
    add_bootstrap_options(parser)
    for action in ACTIONS:
        parser.add_argument(f"--{action}", action="store_true", help=f"the {action} action")
    parser.add_argument("--reassignment-json-file", metavar="FILE", help="the partitions' target replicas (JSON)")
    parser.add_argument("--topics-to-move-json-file", metavar="FILE", help="the topics to move (JSON, --generate)")
    parser.add_argument("--broker-list", metavar="IDS", help='brokers to place partitions on, e.g. "1,2,3"')
    parser.add_argument("--disable-rack-aware", action="store_true", help="ignore racks in --generate")
    parser.add_argument("--additional", action="store_true", help="execute beside reassignments in progress")
    parser.add_argument("--throttle", type=int, default=-1, metavar="B/s", help="inter-broker throttle")
    parser.add_argument(
        "--replica-alter-log-dirs-throttle", type=int, default=-1, metavar="B/s", help="log dir throttle (not enforced)"
    )
    parser.add_argument("--timeout", type=int, default=10000, metavar="MS", help="log dir move start timeout")
    parser.add_argument("--preserve-throttles", action="store_true", help="leave the throttles in place")
    parser.set_defaults(run=run)


def chosen_action(args: argparse.Namespace) -> str:
    """The one action asked for; CliError for Kafka's usage errors."""
    actions = [a for a in ACTIONS if getattr(args, a)]
    if len(actions) != 1:
        raise CliError("Command must include exactly one action: " + ", ".join(f"--{a}" for a in ACTIONS))
    action = actions[0]
    missing = [name for name in REQUIRED[action] if getattr(args, name) is None]
    if missing:
        raise CliError("Missing required argument(s): " + ", ".join(_flag(m) for m in missing))
    allowed = {*REQUIRED[action], *PERMITTED[action]}
    for name, default in OPTION_DEFAULTS.items():
        if name not in allowed and getattr(args, name) != default:
            raise CliError(f'Option "{_flag(name)}" can\'t be used with action "--{action}"')
    return action


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# -- JSON (Kafka's formats) -------------------------------------------------------------------------------------


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"The input string is not a valid JSON: {exc.msg} (line {exc.lineno})") from None


def _version(document: Any) -> None:
    if not isinstance(document, dict):
        raise CliError("The JSON must be an object")
    version = document.get("version", 1)
    if version != 1:
        raise CliError(f"Not supported version field value {version}")


def _ints(value: Any, what: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise CliError(f"{what} must be a list of integers")
    return list(value)


def parse_reassignment_json(text: str) -> list[tuple[TopicPartition, list[int]]]:
    """Kafka's parsePartitionReassignmentData: the (partition, target replicas) entries in file order (duplicates
    kept for the checks of `check_execute`). A `log_dirs` entry other than "any" is refused."""
    document = _load(text)
    _version(document)
    entries = document.get("partitions", [])
    if not isinstance(entries, list):
        raise CliError('"partitions" must be a list')
    parsed = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise CliError(f"Invalid partition entry: {json.dumps(entry)}")
        topic, partition = entry.get("topic"), entry.get("partition")
        if not isinstance(topic, str) or not isinstance(partition, int) or isinstance(partition, bool):
            raise CliError(f"Invalid partition entry: {json.dumps(entry)}")
        replicas = _ints(entry.get("replicas"), f"The replicas of {topic}-{partition}")
        log_dirs = entry.get("log_dirs", [ANY_LOG_DIR] * len(replicas))
        if not isinstance(log_dirs, list) or len(log_dirs) != len(replicas):
            raise CliError(
                f"Size of replicas list {replicas} is different from size of log dirs list {log_dirs} for partition "
                f"{topic}-{partition}"
            )
        if any(d != ANY_LOG_DIR for d in log_dirs):
            raise CliError(
                f"Moving replicas between log dirs (log_dirs of {topic}-{partition}) needs AlterReplicaLogDirs, "
                'which Odradek does not serve; use "any"'
            )
        parsed.append(((topic, partition), replicas))
    return parsed


def check_execute(entries: list[tuple[TopicPartition, list[int]]]) -> Assignment:
    """Kafka's parseExecuteAssignmentArgs checks: non-empty, no duplicate partitions, no duplicate replicas."""
    if not entries:
        raise CliError("Partition reassignment list cannot be empty")
    if any(not replicas for _, replicas in entries):
        raise CliError("Partition replica list cannot be empty")
    parts = [tp for tp, _ in entries]
    duplicated = sorted({tp for tp in parts if parts.count(tp) > 1})
    if duplicated:
        raise CliError(
            "Partition reassignment contains duplicate topic partitions: " + ",".join(_label(tp) for tp in duplicated)
        )
    repeated = [
        f"{_label(tp)} contains multiple entries for {_ids(sorted({b for b in r if r.count(b) > 1}))}"
        for tp, r in entries
        if len(set(r)) != len(r)
    ]
    if repeated:
        raise CliError("Partition replica lists may not contain duplicate entries: " + ". ".join(repeated))
    return dict(entries)


def parse_topics_json(text: str) -> list[str]:
    """Kafka's parseTopicsData: `{"version": 1, "topics": [{"topic": "t"}, ...]}`."""
    document = _load(text)
    _version(document)
    topics = []
    for entry in document.get("topics", []):
        topic = entry.get("topic") if isinstance(entry, dict) else None
        if not isinstance(topic, str):
            raise CliError(f"Invalid topic entry: {json.dumps(entry)}")
        topics.append(topic)
    duplicated = sorted({t for t in topics if topics.count(t) > 1})
    if duplicated:
        raise CliError(f"List of topics to reassign contains duplicate entries: {', '.join(duplicated)}")
    return topics


def parse_broker_list(text: str) -> list[int]:
    try:
        brokers = [int(b) for b in text.split(",")]
    except ValueError:
        raise CliError(f"Invalid broker list: {text}") from None
    duplicated = sorted({b for b in brokers if brokers.count(b) > 1})
    if duplicated:
        raise CliError(f"Broker list contains duplicate entries: {', '.join(map(str, duplicated))}")
    return brokers


def format_reassignment_json(assignment: Mapping[TopicPartition, Sequence[int]]) -> str:
    """Kafka's formatAsReassignmentJson: compact, partitions sorted by (topic, partition), every log dir "any"."""
    partitions = [
        {
            "topic": topic,
            "partition": partition,
            "replicas": list(assignment[(topic, partition)]),
            "log_dirs": [ANY_LOG_DIR] * len(assignment[(topic, partition)]),
        }
        for topic, partition in sorted(assignment)
    ]
    return json.dumps({"version": 1, "partitions": partitions}, separators=(",", ":"))


def _label(tp: TopicPartition) -> str:
    return f"{tp[0]}-{tp[1]}"


def _ids(ids: Iterable[int]) -> str:
    return ",".join(str(i) for i in ids)


# -- the reports (Kafka's lines) --------------------------------------------------------------------------------


def list_lines(ongoing: Mapping[TopicPartition, OngoingReassignment]) -> list[str]:
    """Kafka's curReassignmentsToString."""
    if not ongoing:
        return ["No partition reassignments found."]
    lines = ["Current partition reassignments:"]
    for tp in sorted(ongoing):
        r = ongoing[tp]
        line = f"{_label(tp)}: replicas: {_ids(r.replicas)}."
        if r.adding:
            line += f" adding: {_ids(r.adding)}."
        if r.removing:
            line += f" removing: {_ids(r.removing)}."
        lines.append(line)
    return lines


def verify_lines(
    targets: Mapping[TopicPartition, Sequence[int]],
    ongoing: Mapping[TopicPartition, OngoingReassignment],
    current: Mapping[TopicPartition, Sequence[int]],
) -> list[str]:
    """Kafka's partitionReassignmentStatesToString: in progress when listed as ongoing, else completed when the
    replicas are the target (an unknown partition has no replicas)."""
    lines = ["Status of partition reassignment:"]
    for tp in sorted(targets):
        target = list(targets[tp])
        replicas = list(current.get(tp, []))
        if tp in ongoing:
            lines.append(f"Reassignment of partition {_label(tp)} is still in progress.")
        elif replicas == target:
            lines.append(f"Reassignment of partition {_label(tp)} is completed.")
        else:
            lines.append(
                f"There is no active reassignment of partition {_label(tp)}, but replica set is {_ids(replicas)} "
                f"rather than {_ids(target)}."
            )
    return lines


def proposed_moves(
    ongoing: Mapping[TopicPartition, OngoingReassignment],
    proposed: Mapping[TopicPartition, Sequence[int]],
    current: Mapping[TopicPartition, Sequence[int]],
) -> dict[TopicPartition, tuple[frozenset[int], frozenset[int]]]:
    """Kafka's calculateProposedMoveMap: (sources, destinations) per partition, ongoing reassignments included
    (their sources are their original replicas, destinations their adding replicas)."""
    moves = {tp: (frozenset(r.replicas) - frozenset(r.adding), frozenset(r.adding)) for tp, r in ongoing.items()}
    for tp, replicas in proposed.items():
        sources = moves[tp][0] if tp in moves else frozenset(current.get(tp, ()))
        moves[tp] = (sources, frozenset(replicas) - sources)
    return moves


def throttle_configs(
    moves: Mapping[TopicPartition, tuple[frozenset[int], frozenset[int]]],
) -> tuple[dict[str, str], dict[str, str], list[int]]:
    """Kafka's calculateLeaderThrottles / calculateFollowerThrottles / calculateReassigningBrokers: per topic the
    `partition:broker` lists (sorted as strings, as Kafka's TreeSet), and every broker involved."""
    leader: dict[str, set[str]] = {}
    follower: dict[str, set[str]] = {}
    brokers: set[int] = set()
    for (topic, partition), (sources, destinations) in moves.items():
        leader.setdefault(topic, set()).update(f"{partition}:{b}" for b in sources)
        follower.setdefault(topic, set()).update(f"{partition}:{b}" for b in destinations - sources)
        brokers |= sources | destinations
    joined = {t: ",".join(sorted(v)) for t, v in leader.items()}
    return joined, {t: ",".join(sorted(v)) for t, v in follower.items()}, sorted(brokers)


def propose(
    current: Mapping[TopicPartition, Sequence[int]], brokers: Sequence[int], racks: Mapping[int, str | None] | None
) -> Assignment:
    """Kafka's calculateAssignment: each topic's partitions placed anew on `brokers` with the replication factor of
    its first partition (the broker's Kafka-identical placement)."""
    from odradek.broker.metadata.placement import assign_replicas

    by_topic: dict[str, list[int]] = {}
    for topic, partition in current:
        by_topic.setdefault(topic, []).append(partition)
    proposal: Assignment = {}
    for topic, partitions in sorted(by_topic.items()):
        factor = len(current[(topic, min(partitions))])
        if factor > len(brokers):
            raise CliError(f"Replication factor: {factor} larger than available brokers: {len(brokers)}.")
        placed = assign_replicas(sorted(brokers), len(partitions), factor, racks=racks)
        proposal.update({(topic, p): replicas for p, replicas in placed.items()})
    return proposal


# -- talking to the cluster -------------------------------------------------------------------------------------


def kafka_python_call(args: argparse.Namespace, call: Callable[[Any], T]) -> T:
    """`call(admin)` through `odradek.kafka_python.admin_call` (a new KafkaAdminClient, retried while the cluster
    cannot be reached; the calls made through here are safe to repeat: listing, or setting the same target), with
    `--command-config`'s settings; CliError for kafka-python's errors."""
    from kafka.errors import KafkaConnectionError
    from kafka.errors import KafkaError as KafkaPythonError
    from odradek.kafka_python import admin_call

    config = {"client.id": "reassign-partitions-tool", **client_config(args)}
    try:
        return admin_call(config, call, ADMIN_TIMEOUT_S)
    except KafkaConnectionError as exc:
        raise CliError(f"Cannot reach the controller through {args.bootstrap_server}: {exc}") from None
    except KafkaPythonError as exc:
        raise CliError(f"The request failed: {exc}") from None


def list_ongoing(
    args: argparse.Namespace, partitions: Iterable[TopicPartition] | None = None
) -> dict[TopicPartition, OngoingReassignment]:
    """ListPartitionReassignments (None: every partition); also `odradek topics --describe`'s source for Kafka's
    `Adding Replicas` / `Removing Replicas` fields."""
    from kafka import TopicPartition as KafkaTopicPartition

    wanted = None if partitions is None else [KafkaTopicPartition(t, p) for t, p in partitions]
    listed = kafka_python_call(args, lambda admin: admin.list_partition_reassignments(wanted))
    return {
        (tp.topic, tp.partition): OngoingReassignment(
            tuple(r["replicas"]), tuple(r["adding_replicas"]), tuple(r["removing_replicas"])
        )
        for tp, r in listed.items()
    }


class Cluster:
    """The admin calls the tool makes: confluent-kafka's AdminClient, and kafka-python for the reassignment APIs."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self.admin = admin_client(args)

    def broker_racks(self) -> dict[int, str | None]:
        described = wait(self.admin.describe_cluster(), "describing the cluster")
        return {node.id: node.rack for node in described.nodes}

    def replicas(self, topics: Iterable[str], *, skip_unknown: bool = False) -> Assignment:
        """The current replicas of every partition of `topics` (one Metadata request); CliError naming a topic that
        does not exist, unless `skip_unknown` (its partitions are then left out)."""
        metadata = probe_metadata(self.admin, self._args.bootstrap_server)
        found: Assignment = {}
        for topic in sorted(set(topics)):
            described = metadata.topics.get(topic)
            if described is None or described.error is not None:
                if skip_unknown:
                    continue
                raise CliError(f"Topic {topic} not found.")
            found.update({(topic, p): list(part.replicas) for p, part in described.partitions.items()})
        return found

    def _kafka_python(self, call: Callable[[Any], T]) -> T:
        return kafka_python_call(self._args, call)

    def ongoing(self, partitions: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, OngoingReassignment]:
        return list_ongoing(self._args, partitions)

    def alter(self, targets: Mapping[TopicPartition, Sequence[int] | None]) -> dict[TopicPartition, str]:
        """AlterPartitionReassignments (None: cancel); the partitions that failed, with Kafka's error text."""
        from kafka import TopicPartition as KafkaTopicPartition

        wanted = {KafkaTopicPartition(t, p): None if r is None else list(r) for (t, p), r in targets.items()}
        results = self._kafka_python(lambda admin: admin.alter_partition_reassignments(wanted))
        failed = {(tp.topic, tp.partition): _error_text(e) for tp, e in results.items() if e is not None}
        missing = [tp for tp in targets if tp not in {(k.topic, k.partition) for k in results}]
        failed.update({tp: "The controller did not answer for this partition" for tp in missing})
        return failed

    def alter_configs(self, resources: list[tuple[str, str, list[tuple[str, str | None]]]]) -> None:
        """IncrementalAlterConfigs: (TOPIC|BROKER, name, [(key, value to SET, or None to DELETE)])."""
        admin_module = kafka_admin()
        made = []
        for kind, name, items in resources:
            entries = [
                admin_module.ConfigEntry(
                    key,
                    value,
                    incremental_operation=admin_module.AlterConfigOpType.DELETE
                    if value is None
                    else admin_module.AlterConfigOpType.SET,
                )
                for key, value in items
            ]
            made.append(admin_module.ConfigResource(kind, name, incremental_configs=entries))
        # One resource a call: librdkafka allows one BROKER resource per IncrementalAlterConfigs.
        for resource in made:
            for future in self.admin.incremental_alter_configs([resource]).values():
                wait(future, "changing the throttle configs")


def _error_text(error: Any) -> str:
    text = getattr(error, "description", None) or getattr(error, "message", None)
    name = getattr(error, "__name__", None) or type(error).__name__
    return f"{name}: {text}" if text else str(name)


# -- the actions ------------------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise CliError(f"Cannot read {path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    action = chosen_action(args)
    cluster = Cluster(args)
    if action == "list":
        print("\n".join(list_lines(cluster.ongoing())))
    elif action == "generate":
        generate(cluster, args)
    elif action == "execute":
        execute(cluster, args)
    elif action == "verify":
        verify(cluster, args)
    else:
        cancel(cluster, args)
    return 0


def generate(cluster: Cluster, args: argparse.Namespace) -> None:
    brokers = parse_broker_list(args.broker_list)
    topics = parse_topics_json(_read(args.topics_to_move_json_file))
    current = cluster.replicas(topics)
    racks = cluster.broker_racks()
    chosen = [b for b in brokers if b in racks]
    rack_of = {b: racks[b] for b in chosen}
    rackless = sum(1 for r in rack_of.values() if r is None)
    if not args.disable_rack_aware and 0 < rackless < len(chosen):
        raise CliError(
            "Not all brokers have rack information. Add --disable-rack-aware in command line to make replica "
            "assignment without rack information."
        )
    use_racks = None if args.disable_rack_aware or rackless else rack_of
    proposal = propose(current, chosen, use_racks)
    print(f"Current partition replica assignment\n{format_reassignment_json(current)}\n")
    print(f"Proposed partition reassignment configuration\n{format_reassignment_json(proposal)}")


def execute(cluster: Cluster, args: argparse.Namespace) -> None:
    proposed = check_execute(parse_reassignment_json(_read(args.reassignment_json_file)))
    ongoing = cluster.ongoing()
    if ongoing and not args.additional:
        raise CliError(CANNOT_EXECUTE_BECAUSE_OF_EXISTING)
    known = cluster.broker_racks()
    unknown = next((b for r in proposed.values() for b in r if b not in known), None)
    if unknown is not None:
        raise CliError(f"Unknown broker id {unknown}")
    current = cluster.replicas(t for t, _ in proposed)
    missing = sorted(tp for tp in proposed if tp not in current)
    if missing:
        raise CliError("Unable to find partition: " + ", ".join(_label(tp) for tp in missing))
    print("Current partition replica assignment\n")
    print(format_reassignment_json({tp: current[tp] for tp in proposed}))
    print("\nSave this to use as the --reassignment-json-file option during rollback")
    if args.throttle >= 0 or args.replica_alter_log_dirs_throttle >= 0:
        print(VERIFY_PERIODICALLY)
        if args.throttle >= 0:
            set_throttles(cluster, proposed_moves(ongoing, proposed, current), args.throttle)
        if args.replica_alter_log_dirs_throttle >= 0:
            print(f"The replica-alter-dir throttle limit was set to {args.replica_alter_log_dirs_throttle} B/s")
    errors = cluster.alter(dict(proposed))
    if errors:
        lines = [f"{_label(tp)}: {errors[tp]}" for tp in sorted(errors)]
        raise CliError("Error reassigning partition(s):\n" + "\n".join(lines))
    plural = "" if len(proposed) == 1 else "s"
    print(f"Successfully started partition reassignment{plural} for {','.join(_label(tp) for tp in sorted(proposed))}")


def set_throttles(
    cluster: Cluster, moves: Mapping[TopicPartition, tuple[frozenset[int], frozenset[int]]], rate: int
) -> None:
    leader, follower, brokers = throttle_configs(moves)
    topics = sorted(leader.keys() | follower.keys())
    cluster.alter_configs(
        [
            (
                "TOPIC",
                t,
                [(LEADER_THROTTLED_REPLICAS, leader.get(t, "")), (FOLLOWER_THROTTLED_REPLICAS, follower.get(t, ""))],
            )
            for t in topics
        ]
    )
    cluster.alter_configs(
        [("BROKER", str(b), [(BROKER_THROTTLES[0], str(rate)), (BROKER_THROTTLES[1], str(rate))]) for b in brokers]
    )
    print(f"The inter-broker throttle limit was set to {rate} B/s")


def clear_throttles(cluster: Cluster, targets: Mapping[TopicPartition, Sequence[int]]) -> None:
    """Kafka's clearAllThrottles: the broker throttle rates on every broker (and every target replica), the topic
    throttle lists on every topic of the file."""
    brokers = sorted(set(cluster.broker_racks()) | {b for r in targets.values() for b in r})
    print(f"Clearing broker-level throttles on broker{'' if len(brokers) == 1 else 's'} {_ids(brokers)}")
    cluster.alter_configs([("BROKER", str(b), [(k, None) for k in BROKER_THROTTLES]) for b in brokers])
    topics = sorted({t for t, _ in targets})
    print(f"Clearing topic-level throttles on topic{'' if len(topics) == 1 else 's'} {','.join(topics)}")
    cluster.alter_configs(
        [("TOPIC", t, [(LEADER_THROTTLED_REPLICAS, None), (FOLLOWER_THROTTLED_REPLICAS, None)]) for t in topics]
    )


def verify(cluster: Cluster, args: argparse.Namespace) -> None:
    targets = dict(parse_reassignment_json(_read(args.reassignment_json_file)))
    ongoing = cluster.ongoing()
    # An unknown topic's partitions have no replicas (Kafka's UnknownTopicOrPartition case).
    current = cluster.replicas({t for t, _ in targets}, skip_unknown=True)
    print("\n".join(verify_lines(targets, ongoing, current)))
    print()  # Kafka's (empty) replica log dir move report
    if not ongoing and not args.preserve_throttles:
        clear_throttles(cluster, targets)


def cancel(cluster: Cluster, args: argparse.Namespace) -> None:
    targets = dict(parse_reassignment_json(_read(args.reassignment_json_file)))
    reassigning = sorted(cluster.ongoing(targets))
    if reassigning:
        errors = cluster.alter(dict.fromkeys(reassigning))
        if errors:
            plural = "" if len(errors) == 1 else "s"
            lines = [f"{_label(tp)}: {errors[tp]}" for tp in sorted(errors)]
            raise CliError(f"Error cancelling partition reassignment{plural} for:\n" + "\n".join(lines))
        plural = "" if len(reassigning) == 1 else "s"
        print(f"Successfully cancelled partition reassignment{plural} for: {','.join(map(_label, reassigning))}")
    else:
        print("None of the specified partition reassignments are active.")
    print("None of the specified partition moves are active.", end="")
    if not args.preserve_throttles:
        clear_throttles(cluster, targets)
