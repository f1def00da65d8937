"""Transactions across a three-broker cluster on one etcd (issue 10, "coordinators follow leadership"; issue 9).

A confluent-kafka transactional producer writes to three partitions led by three different brokers, so that at
least two of its markers travel as WriteTxnMarkers from the transaction coordinator to other brokers:

- one transaction committed and one aborted: a read_committed consumer sees exactly the committed records, a
  read_uncommitted one sees both;
- the broker hosting the transaction coordinator killed with SIGKILL between the produce and the commit: the
  outcome is atomic (all of the transaction's records visible to read_committed, or none), and a producer
  re-initialised with the same transactional.id carries on;
- the coordinator's broker of another producer killed with SIGKILL while that producer's transaction is open, and
  the producer never ends it: the new coordinator aborts it at transaction.timeout.ms (read_committed readers of
  its partitions move on, its records never become visible);
- the coordinator's broker killed with SIGKILL right after a commit was acknowledged, with the leader of one of
  the transaction's partitions paused meanwhile (so that its marker cannot have been written): the new
  coordinator (the new leader of the __transaction_state partition) loads PrepareCommit and re-sends the markers,
  so all of the transaction's records become visible; the producer carries on after a re-init.

And KIP-890 part 1 across brokers, on the wire: a partition leader that is not the producer's coordinator refuses
a transactional batch for a partition not in the transaction, and a late batch after the transaction ended, with
INVALID_TXN_STATE (it asked the coordinator with AddPartitionsToTxn verify_only).
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cluster_support import move_leader, partitions_of, read_to_end, wait_until
from etcd_support import EtcdCluster, etcd_missing
from it_support import BrokerProcess, ck_admin, raw_call, raw_connect, unique_topic

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing())),
]

Factory = Callable[..., BrokerProcess]
CLIENT_TIMEOUT_S = 15
TXN_PARTITIONS = 3
PARTITIONS = 3
TXN_TIMEOUT_MS = 20_000
TXN_STATE = "__transaction_state"


def fully_replicated(bootstrap: str, topic: str, count: int) -> bool:
    parts = partitions_of(bootstrap, topic)
    return len(parts) == count and all(sorted(p.isrs) == [1, 2, 3] for p in parts.values())


def create_topics(brokers: dict[int, BrokerProcess], topic: str) -> None:
    """The data topic and __transaction_state, through the controller (a non-controller answers NOT_CONTROLLER)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    bootstrap = ",".join(b.bootstrap for b in brokers.values())
    cluster = ck_admin(bootstrap)
    wait_until("three registered brokers", lambda: len(cluster.list_topics(timeout=CLIENT_TIMEOUT_S).brokers) == 3)
    controller = cluster.describe_cluster(request_timeout=CLIENT_TIMEOUT_S).result(timeout=CLIENT_TIMEOUT_S).controller
    admin = ck_admin(brokers[controller.id].bootstrap)  # kept: the futures fail if their client is destroyed first
    new = [
        NewTopic(topic, PARTITIONS, 3, config={"min.insync.replicas": "2"}),
        NewTopic(TXN_STATE, TXN_PARTITIONS, 3, config={"cleanup.policy": "compact", "min.insync.replicas": "2"}),
    ]
    for name, future in admin.create_topics(new, request_timeout=CLIENT_TIMEOUT_S).items():
        try:
            future.result(timeout=CLIENT_TIMEOUT_S)
        except KafkaException as exc:
            if name != TXN_STATE or exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    wait_until("the data topic replicated", lambda: fully_replicated(bootstrap, topic, PARTITIONS))
    wait_until("__transaction_state replicated", lambda: fully_replicated(bootstrap, TXN_STATE, TXN_PARTITIONS))


def spread_leaders(url: str, bootstrap: str, topic: str) -> None:
    """Partition p of the data topic led by broker p + 1: every transaction spans three leaders."""
    for partition in range(PARTITIONS):
        asyncio.run(move_leader(url, topic, partition, partition + 1))
    wait_until(
        "one leader per broker",
        lambda: {p: part.leader for p, part in partitions_of(bootstrap, topic).items()} == {0: 1, 1: 2, 2: 3},
    )


def coordinator_of(bootstrap: str, transactional_id: str) -> int:
    """The broker leading the transactional id's __transaction_state partition (its coordinator)."""
    from odradek.broker.group.offsets_topic import partition_for

    leader = int(partitions_of(bootstrap, TXN_STATE)[partition_for(transactional_id, TXN_PARTITIONS)].leader)
    assert leader in (1, 2, 3)
    return leader


def producer(bootstrap: str, transactional_id: str) -> Any:
    from confluent_kafka import Producer

    made = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": transactional_id,
            "transaction.timeout.ms": TXN_TIMEOUT_MS,
            "linger.ms": 5,
        }
    )
    made.init_transactions(60)
    return made


def produce(made: Any, topic: str, prefix: str) -> list[bytes]:
    """One record of `prefix` per partition, in the current transaction, flushed (acknowledged by the leaders)."""
    values = [f"{prefix}-{p}".encode() for p in range(PARTITIONS)]
    for partition, value in enumerate(values):
        made.produce(topic, value=value, partition=partition)
    assert made.flush(60) == 0
    return values


def transaction(made: Any, topic: str, prefix: str, commit: bool) -> list[bytes]:
    made.begin_transaction()
    values = produce(made, topic, prefix)
    if commit:
        made.commit_transaction(60)
    else:
        made.abort_transaction(60)
    return values


def visible(bootstrap: str, topic: str, values: list[bytes]) -> bool:
    return set(values) <= set(read_to_end(bootstrap, topic, PARTITIONS, "read_committed"))


def test_transactions_across_brokers_and_coordinator_failover(broker_factory: Factory, etcd: EtcdCluster) -> None:
    url = etcd.url("/it/txn-cluster")
    common = {
        "metadata.store.url": url,
        "replica.lag.time.max.ms": "3000",
        "replica.fetch.wait.max.ms": "200",
        "broker.session.timeout.ms": "6000",
        "broker.heartbeat.interval.ms": "1000",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.num.partitions": str(TXN_PARTITIONS),
    }
    brokers = {n: broker_factory({**common, "node.id": str(n)}) for n in (1, 2, 3)}
    try:
        _scenario(url, brokers)
    except BaseException:
        for n, broker in brokers.items():
            print(f"--- broker {n}:\n{broker.tail(6000)}")
        raise


def _scenario(url: str, brokers: dict[int, BrokerProcess]) -> None:
    bootstrap = ",".join(b.bootstrap for b in brokers.values())
    topic = unique_topic("txn-cluster")
    create_topics(brokers, topic)
    spread_leaders(url, bootstrap, topic)
    tid = f"txn-{uuid.uuid4().hex[:8]}"

    # Commit one transaction and abort another, each over three leaders.
    made = producer(bootstrap, tid)
    committed = transaction(made, topic, "committed", commit=True)
    aborted = transaction(made, topic, "aborted", commit=False)
    wait_until("the committed records", lambda: visible(bootstrap, topic, committed))
    assert read_to_end(bootstrap, topic, PARTITIONS, "read_committed") == sorted(committed)
    assert read_to_end(bootstrap, topic, PARTITIONS, "read_uncommitted") == sorted(committed + aborted)
    committed += _verification_across_brokers(brokers, topic)

    # The coordinator's broker killed between the produce and the commit.
    victim = coordinator_of(bootstrap, tid)
    made.begin_transaction()
    interrupted = produce(made, topic, "interrupted")
    brokers[victim].kill()
    survivors = ",".join(b.bootstrap for n, b in brokers.items() if n != victim)
    try:
        made.commit_transaction(60)
        acknowledged = True
    except Exception:  # a retriable, abortable or fatal commit error: the outcome is then the cluster's to decide
        acknowledged = False
    del made
    made = producer(survivors, tid)  # fences the old producer; an Ongoing transaction is aborted
    after_kill = transaction(made, topic, "after-kill", commit=True)
    wait_until("the records of the transaction after the kill", lambda: visible(survivors, topic, after_kill))
    seen = set(read_to_end(survivors, topic, PARTITIONS, "read_committed"))
    outcome = "visible" if set(interrupted) <= seen else "not visible"
    print(f"coordinator {victim} killed before the commit: acknowledged {acknowledged}, records {outcome}")
    assert set(interrupted) <= seen or not set(interrupted) & seen, f"partly visible: {sorted(seen)}"
    if acknowledged:
        assert set(interrupted) <= seen, "an acknowledged commit lost records"
    expected = set(committed) | set(after_kill) | (set(interrupted) if acknowledged else set())
    assert seen - set(interrupted) == expected - set(interrupted)

    brokers[victim].restart()
    wait_until("the killed broker back in every ISR", lambda: fully_replicated(bootstrap, topic, PARTITIONS), 120)
    wait_until("__transaction_state in every ISR", lambda: fully_replicated(bootstrap, TXN_STATE, TXN_PARTITIONS), 120)

    # An Ongoing transaction whose coordinator's broker is killed and whose producer never ends it: the new
    # coordinator aborts it once transaction.timeout.ms has passed, which unblocks the last stable offset.
    hanging_id = f"hanging-{uuid.uuid4().hex[:8]}"
    hanging = producer(bootstrap, hanging_id)
    hanging.begin_transaction()
    stuck = produce(hanging, topic, "hanging")
    victim = coordinator_of(bootstrap, hanging_id)
    brokers[victim].kill()
    survivors = ",".join(b.bootstrap for n, b in brokers.items() if n != victim)
    probe = transaction(made, topic, "probe", commit=True)
    wait_until("the hanging transaction aborted", lambda: visible(survivors, topic, probe), TXN_TIMEOUT_MS / 1000 + 60)
    assert not set(stuck) & set(read_to_end(survivors, topic, PARTITIONS, "read_committed"))
    assert set(stuck) <= set(read_to_end(survivors, topic, PARTITIONS, "read_uncommitted"))
    del hanging
    brokers[victim].restart()
    wait_until("the killed broker back in every ISR", lambda: fully_replicated(bootstrap, topic, PARTITIONS), 120)
    wait_until("__transaction_state in every ISR", lambda: fully_replicated(bootstrap, TXN_STATE, TXN_PARTITIONS), 120)

    # The coordinator's broker killed right after a commit was acknowledged, while the leader of one of the
    # partitions is paused (SIGSTOP), so that at least that marker cannot have been written: the new coordinator
    # loads PrepareCommit and sends the markers again.
    victim = coordinator_of(bootstrap, tid)
    stalled = next(n for n in brokers if n != victim)  # the leader of partition stalled - 1
    made.begin_transaction()
    after_commit = produce(made, topic, "before-kill")
    assert brokers[stalled].proc is not None
    brokers[stalled].proc.send_signal(signal.SIGSTOP)
    try:
        made.commit_transaction(60)
        brokers[victim].kill()
    finally:
        brokers[stalled].proc.send_signal(signal.SIGCONT)
    survivors = ",".join(b.bootstrap for n, b in brokers.items() if n != victim)
    wait_until("the acknowledged commit's records", lambda: visible(survivors, topic, after_commit), 90)
    del made
    made = producer(survivors, tid)
    last = transaction(made, topic, "last", commit=True)
    wait_until("the records of the last transaction", lambda: visible(survivors, topic, last))
    seen = set(read_to_end(survivors, topic, PARTITIONS, "read_committed"))
    assert set(after_commit) <= seen and set(last) <= seen
    assert not set(aborted) & seen and not set(stuck) & seen
    assert set(interrupted) <= seen or not set(interrupted) & seen


def _call(broker: BrokerProcess, api_key: int, version: int, message: Any) -> Any:
    with raw_connect(broker.port) as sock:
        return raw_call(sock, api_key, version, message)


def _retry(call: Callable[[], Any], done: Callable[[Any], bool], what: str) -> Any:
    """`call` again while its answer is a retriable one (bounded)."""
    deadline = time.monotonic() + 60
    while True:
        answer = call()
        if done(answer) or time.monotonic() > deadline:
            assert done(answer), f"{what}: {answer}"
            return answer
        time.sleep(0.2)


def _produce_error(leader: BrokerProcess, topic: str, partition: int, tid: str, pid: int, epoch: int, seq: int) -> int:
    from odradek.broker.protocol.messages import produce_request as pr
    from odradek.broker.records.builder import build_batch

    records = build_batch(
        [(None, f"verified-{partition}".encode(), (), int(time.time() * 1000))],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        transactional=True,
    )
    data = [pr.TopicProduceData(name=topic, partition_data=[pr.PartitionProduceData(index=partition, records=records)])]
    answer = _call(leader, 0, 9, pr.ProduceRequest(transactional_id=tid, acks=-1, timeout_ms=10_000, topic_data=data))
    return int(answer.responses[0].partition_responses[0].error_code)


def _verification_across_brokers(brokers: dict[int, BrokerProcess], topic: str) -> list[bytes]:
    """A raw transactional producer whose coordinator leads neither partition it writes to; returns what it
    committed."""
    from odradek.broker.protocol.errors import ErrorCode as E
    from odradek.broker.protocol.messages import add_partitions_to_txn_request as ap
    from odradek.broker.protocol.messages import end_txn_request as et
    from odradek.broker.protocol.messages import init_producer_id_request as ip

    bootstrap = ",".join(b.bootstrap for b in brokers.values())
    tid = f"verify-{uuid.uuid4().hex[:8]}"
    coordinator = coordinator_of(bootstrap, tid)
    added, other = [p for p in range(PARTITIONS) if p + 1 != coordinator]  # partition p is led by broker p + 1
    init = _retry(
        lambda: _call(
            brokers[coordinator], 22, 4, ip.InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=60_000)
        ),
        lambda answer: answer.error_code == E.NONE,
        "InitProducerId",
    )
    pid, epoch = init.producer_id, init.producer_epoch
    add = ap.AddPartitionsToTxnRequest(
        v3_and_below_transactional_id=tid,
        v3_and_below_producer_id=pid,
        v3_and_below_producer_epoch=epoch,
        v3_and_below_topics=[ap.AddPartitionsToTxnTopic(name=topic, partitions=[added])],
    )
    answer = _call(brokers[coordinator], 24, 3, add)
    assert answer.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code == E.NONE
    retriable = {E.NOT_ENOUGH_REPLICAS}
    produce = _produce_error
    assert (
        _retry(
            lambda: produce(brokers[added + 1], topic, added, tid, pid, epoch, 0),
            lambda e: e not in retriable,
            "the added partition",
        )
        == E.NONE
    )
    assert produce(brokers[other + 1], topic, other, tid, pid, epoch, 0) == E.INVALID_TXN_STATE  # never added
    end = et.EndTxnRequest(transactional_id=tid, producer_id=pid, producer_epoch=epoch, committed=True)
    _retry(lambda: _call(brokers[coordinator], 26, 3, end), lambda answer: answer.error_code == E.NONE, "EndTxn")
    wait_until("the verified record committed", lambda: visible(bootstrap, topic, [f"verified-{added}".encode()]))
    # A late batch of the ended transaction (the next sequence, so only the verification can refuse it).
    late = _retry(
        lambda: produce(brokers[added + 1], topic, added, tid, pid, epoch, 1),
        lambda e: e not in retriable,
        "late batch",
    )
    assert late == E.INVALID_TXN_STATE
    return [f"verified-{added}".encode()]
