"""`odradek transactions [--bootstrap-server B] [--command-config F] <command>`, as kafka-transactions.sh.

Commands and their output (tab-separated tables with Kafka's headers):
- `list`: every broker's ListTransactions; `TransactionalId  Coordinator  ProducerId  TransactionState`.
- `describe --transactional-id ID`: DescribeTransactions at the id's coordinator; `CoordinatorId
  TransactionalId  ProducerId  ProducerEpoch  TransactionState  TransactionTimeoutMs
  CurrentTransactionStartTimeMs  TransactionDurationMs  TopicPartitions`.
- `describe-producers --topic T --partition P [--broker-id N]`: DescribeProducers at the leader (or replica N);
  `ProducerId  ProducerEpoch  LatestCoordinatorEpoch  LastSequence  LastTimestamp
  CurrentTransactionStartOffset`.
- `abort --topic T --partition P` with `--producer-id --producer-epoch --coordinator-epoch`, or with
  `--start-offset` (the producer whose open transaction starts there, found with DescribeProducers): an ABORT
  marker written by WriteTxnMarkers at the partition leader, as Kafka's Admin.abortTransaction does.
- `find-hanging (--broker-id N | --topic T [--partition P]) [--max-transaction-timeout MS]`: Kafka's semantics.
  The producers with an open transaction on those partitions (DescribeProducers) for longer than the maximum
  transaction timeout (default 15 minutes, `transaction.max.timeout.ms`'s default) are candidates; a candidate is
  hanging if its coordinator does not know it: no transactional id has that producer id (ListTransactions on
  every broker), or the id's transaction (DescribeTransactions) is of another epoch, not Ongoing, or does not
  include the partition. Output `Topic  Partition  ProducerId  ProducerEpoch  CoordinatorEpoch  StartOffset
  LastTimestamp  Duration(min)`.

Client: confluent-kafka (librdkafka 2.16) has none of these admin calls, neither in Python nor in its C API, so
this tool uses kafka-python 3's KafkaAdminClient (a real Kafka client, already a runtime dependency for Connect),
built from the same --bootstrap-server / --command-config as the other tools: the properties file's client keys
(librdkafka / Java names) are translated by `odradek.kafka_python.admin_config`; keys kafka-python has no
equivalent for are ignored.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from odradek.cli.common import ADMIN_TIMEOUT_S, CliError, add_bootstrap_options, client_config
from odradek.kafka_python import admin_call

DEFAULT_MAX_TRANSACTION_TIMEOUT_MS = 15 * 60 * 1000
NO_START_OFFSET = -1
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OpenTransaction:
    """A producer's open transaction on one partition, as DescribeProducers reports it."""

    topic: str
    partition: int
    producer_id: int
    producer_epoch: int
    coordinator_epoch: int
    start_offset: int
    last_timestamp: int


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "transactions", help="list, describe and abort transactions (kafka-transactions)"
    )
    add_bootstrap_options(parser)
    commands = parser.add_subparsers(dest="transactions_command", metavar="<command>", required=True)
    commands.add_parser("list", help="list the transactions of every broker").set_defaults(run=run_list)
    describe = commands.add_parser("describe", help="describe one transaction")
    describe.add_argument("--transactional-id", required=True)
    describe.set_defaults(run=run_describe)
    producers = commands.add_parser("describe-producers", help="the producers of a partition")
    producers.add_argument("--topic", required=True)
    producers.add_argument("--partition", type=int, required=True)
    producers.add_argument("--broker-id", type=int, help="the replica to ask (default: the leader)")
    producers.set_defaults(run=run_describe_producers)
    abort = commands.add_parser("abort", help="abort a hanging transaction on a partition")
    abort.add_argument("--topic", required=True)
    abort.add_argument("--partition", type=int, required=True)
    abort.add_argument("--start-offset", type=int, help="the offset the transaction's first record is at")
    abort.add_argument("--producer-id", type=int)
    abort.add_argument("--producer-epoch", type=int)
    abort.add_argument("--coordinator-epoch", type=int)
    abort.set_defaults(run=run_abort)
    hanging = commands.add_parser(
        "find-hanging", help="transactions open past the timeout and unknown to their coordinator"
    )
    hanging.add_argument("--broker-id", type=int)
    hanging.add_argument("--topic")
    hanging.add_argument("--partition", type=int)
    hanging.add_argument(
        "--max-transaction-timeout",
        type=int,
        default=DEFAULT_MAX_TRANSACTION_TIMEOUT_MS,
        metavar="MS",
        help=f"transaction.max.timeout.ms of the cluster (default {DEFAULT_MAX_TRANSACTION_TIMEOUT_MS})",
    )
    hanging.set_defaults(run=run_find_hanging)


# ==== the client ================================================================================================


def _with_admin(args: argparse.Namespace, session: Callable[[Any], T]) -> T:
    """`session(admin)` on a KafkaAdminClient made for it (`odradek.kafka_python.admin_call`: made again while the
    cluster cannot be reached). The requests of a session report their own errors (`_call`), so none is sent twice:
    an abort's WriteTxnMarkers is not one to repeat after a timeout."""
    from kafka.errors import KafkaError as PythonKafkaError

    config = client_config(args)
    timeout_s = int(config.get("request.timeout.ms", ADMIN_TIMEOUT_S * 1000)) / 1000
    try:
        return admin_call(config, session, timeout_s)
    except PythonKafkaError as exc:
        raise CliError(f"Cannot reach broker at {args.bootstrap_server}: {exc}") from None


def _call(what: str, call: Any, *arguments: Any, **keywords: Any) -> Any:
    from kafka.errors import KafkaError as PythonKafkaError

    try:
        return call(*arguments, **keywords)
    except PythonKafkaError as exc:
        raise CliError(f"{what} failed: {type(exc).__name__}: {exc}") from None


def _print_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    print("\t".join(header))
    for row in rows:
        print("\t".join(str(cell) for cell in row))


def _state_name(state: Any) -> str:
    value = getattr(state, "value", state)
    return str(value)


# ==== list, describe ============================================================================================


def run_list(args: argparse.Namespace) -> int:
    by_broker = _with_admin(args, lambda admin: _call("ListTransactions", admin.list_transactions))
    rows = [
        (t.transactional_id, broker, t.producer_id, _state_name(t.state))
        for broker, listings in sorted(by_broker.items())
        for t in sorted(listings, key=lambda t: t.transactional_id)
    ]
    _print_table(("TransactionalId", "Coordinator", "ProducerId", "TransactionState"), rows)
    return 0


def run_describe(args: argparse.Namespace) -> int:
    described = _with_admin(
        args, lambda admin: _call("DescribeTransactions", admin.describe_transactions, [args.transactional_id])
    )
    d = described[args.transactional_id]
    now = int(time.time() * 1000)
    start = d.transaction_start_time_ms
    duration = now - start if start >= 0 else None
    partitions = ",".join(f"{tp.topic}-{tp.partition}" for tp in sorted(d.topic_partitions))
    _print_table(
        (
            "CoordinatorId",
            "TransactionalId",
            "ProducerId",
            "ProducerEpoch",
            "TransactionState",
            "TransactionTimeoutMs",
            "CurrentTransactionStartTimeMs",
            "TransactionDurationMs",
            "TopicPartitions",
        ),
        [
            (
                d.coordinator_id,
                args.transactional_id,
                d.producer_id,
                d.producer_epoch,
                _state_name(d.state),
                d.transaction_timeout_ms,
                start if start >= 0 else "None",
                duration if duration is not None else "None",
                partitions,
            )
        ],
    )
    return 0


# ==== describe-producers, abort =================================================================================


def _producers(admin: Any, partitions: Sequence[tuple[str, int]], broker_id: int | None = None) -> list[Any]:
    """(topic, partition, ProducerState) of the active producers of `partitions`."""
    from kafka import TopicPartition

    wanted = [TopicPartition(topic, index) for topic, index in partitions]
    if not wanted:
        return []
    states = _call("DescribeProducers", admin.describe_producers, wanted, broker_id=broker_id)
    return [(tp.topic, tp.partition, p) for tp in wanted for p in states[tp].active_producers]


def run_describe_producers(args: argparse.Namespace) -> int:
    found = _with_admin(args, lambda admin: _producers(admin, [(args.topic, args.partition)], args.broker_id))
    _print_table(
        (
            "ProducerId",
            "ProducerEpoch",
            "LatestCoordinatorEpoch",
            "LastSequence",
            "LastTimestamp",
            "CurrentTransactionStartOffset",
        ),
        [
            (
                p.producer_id,
                p.producer_epoch,
                p.coordinator_epoch,
                p.last_sequence,
                p.last_timestamp,
                p.current_transaction_start_offset if p.current_transaction_start_offset >= 0 else "None",
            )
            for _, _, p in found
        ],
    )
    return 0


def run_abort(args: argparse.Namespace) -> int:
    from kafka import TopicPartition
    from kafka.admin import AbortTransactionSpec

    explicit = (args.producer_id, args.producer_epoch, args.coordinator_epoch)
    if args.start_offset is None and None in explicit:
        raise CliError("abort needs --start-offset, or all of --producer-id, --producer-epoch, --coordinator-epoch")
    if args.start_offset is not None and any(v is not None for v in explicit):
        raise CliError("abort takes --start-offset or the producer's ids, not both")

    def abort(admin: Any) -> tuple[int, int]:
        if args.start_offset is not None:
            matching = [
                p
                for _, _, p in _producers(admin, [(args.topic, args.partition)])
                if p.current_transaction_start_offset == args.start_offset
            ]
            if not matching:
                raise CliError(
                    f"Could not find any open transactions starting at offset {args.start_offset} on partition "
                    f"{args.topic}-{args.partition}"
                )
            producer = matching[0]
            producer_id, epoch, coordinator_epoch = (
                producer.producer_id,
                producer.producer_epoch,
                max(producer.coordinator_epoch, 0),
            )
        else:
            producer_id, epoch, coordinator_epoch = explicit
        spec = AbortTransactionSpec(TopicPartition(args.topic, args.partition), producer_id, epoch, coordinator_epoch)
        _call("WriteTxnMarkers (abort)", admin.abort_transaction, spec)
        return producer_id, epoch

    producer_id, epoch = _with_admin(args, abort)
    print(f"Aborted the transaction of producer {producer_id} (epoch {epoch}) on {args.topic}-{args.partition}")
    return 0


# ==== find-hanging ==============================================================================================


def _partitions_of(admin: Any, args: argparse.Namespace) -> list[tuple[str, int]]:
    """The partitions find-hanging looks at: those with a replica on --broker-id, or of --topic (--partition)."""
    if (args.broker_id is None) == (args.topic is None):
        raise CliError("find-hanging needs exactly one of --broker-id and --topic")
    if args.partition is not None and args.topic is None:
        raise CliError("--partition needs --topic")
    topics = _call("Metadata", admin.describe_topics, None if args.topic is None else [args.topic])
    found: list[tuple[str, int]] = []
    for topic in topics:
        if topic.get("error_code", 0) != 0:
            raise CliError(
                f"Topic {topic.get('topic') or topic.get('name')} cannot be described: {topic['error_code']}"
            )
        name = topic.get("topic") or topic.get("name")
        for part in topic["partitions"]:
            index = part.get("partition") if "partition" in part else part.get("partition_index")
            replicas = part.get("replicas") or part.get("replica_nodes") or []
            if args.broker_id is not None and args.broker_id not in replicas:
                continue
            if args.partition is not None and index != args.partition:
                continue
            found.append((name, int(index)))
    if args.topic is not None and args.partition is not None and not found:
        raise CliError(f"Topic partition {args.topic}-{args.partition} does not exist")
    return sorted(found)


def hanging_transactions(
    candidates: Sequence[OpenTransaction], coordinators: Mapping[int, Sequence[Any]], described: Mapping[str, Any]
) -> list[OpenTransaction]:
    """Kafka's FindHangingTransactionsCommand decision: a candidate is hanging unless a transactional id with its
    producer id (`coordinators`: producer id -> its TransactionListings) is described (`described`) as Ongoing at
    the same epoch with the candidate's partition in it."""
    hanging = []
    for candidate in candidates:
        known = False
        for listing in coordinators.get(candidate.producer_id, ()):
            d = described.get(listing.transactional_id)
            if d is None:
                continue
            partitions = {(tp.topic, tp.partition) for tp in d.topic_partitions}
            if (
                d.producer_id == candidate.producer_id
                and d.producer_epoch == candidate.producer_epoch
                and _state_name(d.state) == "Ongoing"
                and (candidate.topic, candidate.partition) in partitions
            ):
                known = True
        if not known:
            hanging.append(candidate)
    return hanging


def run_find_hanging(args: argparse.Namespace) -> int:
    now = int(time.time() * 1000)

    def find(admin: Any) -> tuple[list[OpenTransaction], dict[int, list[Any]], dict[str, Any]]:
        partitions = _partitions_of(admin, args)
        candidates = [
            OpenTransaction(
                topic,
                index,
                p.producer_id,
                p.producer_epoch,
                p.coordinator_epoch,
                p.current_transaction_start_offset,
                p.last_timestamp,
            )
            for topic, index, p in _producers(admin, partitions)
            if p.current_transaction_start_offset >= 0 and now - p.last_timestamp > args.max_transaction_timeout
        ]
        coordinators: dict[int, list[Any]] = {}
        described: dict[str, Any] = {}
        if candidates:
            by_broker = _call(
                "ListTransactions",
                admin.list_transactions,
                producer_id_filters=sorted({c.producer_id for c in candidates}),
            )
            for listings in by_broker.values():
                for listing in listings:
                    coordinators.setdefault(listing.producer_id, []).append(listing)
            ids = sorted({listing.transactional_id for listings in coordinators.values() for listing in listings})
            if ids:
                described = _call("DescribeTransactions", admin.describe_transactions, ids)
        return candidates, coordinators, described

    candidates, coordinators, described = _with_admin(args, find)
    rows = [
        (
            h.topic,
            h.partition,
            h.producer_id,
            h.producer_epoch,
            h.coordinator_epoch,
            h.start_offset,
            h.last_timestamp,
            (now - h.last_timestamp) // 60_000,
        )
        for h in hanging_transactions(candidates, coordinators, described)
    ]
    _print_table(
        (
            "Topic",
            "Partition",
            "ProducerId",
            "ProducerEpoch",
            "CoordinatorEpoch",
            "StartOffset",
            "LastTimestamp",
            "Duration(min)",
        ),
        rows,
    )
    return 0
