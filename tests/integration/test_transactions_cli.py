"""`odradek transactions` (kafka-transactions.sh) against a real broker with real transactions from
confluent-kafka's transactional producer; every CLI call a subprocess (`python -m odradek.cli`).

One transaction is left open (the producer neither commits nor aborts): `list` and `describe` show it Ongoing with
its partition, `describe-producers` shows its start offset, `find-hanging` does not report it while its coordinator
knows it (with a 0 ms maximum timeout every open transaction is a candidate), and `abort --start-offset` writes an
ABORT marker at the partition: the last stable offset moves past it and a read_committed consumer gets the records
produced after it. Bad arguments are one-line errors with exit code 1.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from it_support import BrokerProcess, broker_env, ck_consume, ck_create_topic, ck_produce, scrape_samples, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CLI_TIMEOUT_S = 60.0
TIMEOUT_S = 30.0


def odradek(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "odradek.cli", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env=broker_env(),
        check=False,
        stdin=subprocess.DEVNULL,
    )


def table(bootstrap: str, *args: str) -> list[list[str]]:
    proc = odradek("transactions", "--bootstrap-server", bootstrap, *args)
    assert proc.returncode == 0, f"transactions {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return [line.split("\t") for line in proc.stdout.splitlines()]


def _read_committed_end(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "lso", "isolation.level": "read_committed"})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT_S)[1])
    finally:
        consumer.close()


def test_list_describe_describe_producers_find_hanging_and_abort(broker: BrokerProcess) -> None:
    bootstrap = broker.bootstrap
    topic = f"txcli-{uuid.uuid4().hex[:6]}"
    ck_create_topic(bootstrap, topic)
    ck_produce(bootstrap, topic, [b"before"])
    transactional_id = f"cli-{uuid.uuid4().hex[:6]}"
    # A long transaction timeout: the broker does not abort it during the test; the CLI does.
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": transactional_id, "transaction.timeout.ms": 600_000}
    )
    producer.init_transactions(TIMEOUT_S)
    producer.begin_transaction()
    producer.produce(topic, value=b"open", partition=0)
    producer.flush(TIMEOUT_S)
    ck_produce(bootstrap, topic, [b"after"])  # behind the open transaction for read_committed

    listed = table(bootstrap, "list")
    assert listed[0] == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
    (row,) = [r for r in listed[1:] if r[0] == transactional_id]
    assert row[1] == "1" and row[3] == "Ongoing"
    producer_id = row[2]

    described = table(bootstrap, "describe", "--transactional-id", transactional_id)
    assert described[0][:5] == ["CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState"]
    assert described[1][1:3] == [transactional_id, producer_id]
    assert described[1][4] == "Ongoing" and described[1][5] == "600000"
    assert described[1][8] == f"{topic}-0"

    producers = table(bootstrap, "describe-producers", "--topic", topic, "--partition", "0")
    assert producers[0] == [
        "ProducerId",
        "ProducerEpoch",
        "LatestCoordinatorEpoch",
        "LastSequence",
        "LastTimestamp",
        "CurrentTransactionStartOffset",
    ]
    open_rows = [r for r in producers[1:] if r[0] == producer_id]
    assert len(open_rows) == 1 and open_rows[0][5] == "1", producers  # "before" is at 0

    # Known to its coordinator: not hanging, even as a candidate (0 ms maximum timeout).
    hanging = table(bootstrap, "find-hanging", "--topic", topic, "--max-transaction-timeout", "0")
    assert hanging == [
        ["Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch", "StartOffset", "LastTimestamp",
         "Duration(min)"]
    ]  # fmt: skip
    assert table(bootstrap, "find-hanging", "--broker-id", "1")[1:] == []  # younger than 15 minutes

    assert _read_committed_end(bootstrap, topic) == 1
    # The metrics while the transaction is open: "open" and "after" are behind the last stable offset.
    samples = scrape_samples(broker.metrics_port)
    assert samples[("kafka_cluster_partition_laststableoffsetlag", (("partition", "0"), ("topic", topic)))] == 2
    assert samples[("kafka_server_replicamanager_produceridcount", ())] >= 1  # the transactional producer
    assert samples[("kafka_server_replicamanager_partitionswithlatetransactionscount", ())] == 0
    assert samples[("odradek_transaction_coordinator_transactional_ids", (("state", "Ongoing"),))] == 1
    assert samples[("kafka_server_transaction_coordinator_metrics_partition_load_time_max", ())] >= 0
    channel = "kafka_coordinator_transaction_transactionmarkerchannelmanager"
    assert samples[(f"{channel}_unknowndestinationqueuesize", ())] == 0
    assert samples[(f"{channel}_logappendretryqueuesize", ())] == 0
    table(bootstrap, "abort", "--topic", topic, "--partition", "0", "--start-offset", "1")
    wait_for(lambda: _read_committed_end(bootstrap, topic) == 4, timeout=30)  # before, open, after, marker
    got = ck_consume(bootstrap, topic, 2, extra={"isolation.level": "read_committed"})
    assert [m.value() for m in got] == [b"before", b"after"]
    after = table(bootstrap, "describe-producers", "--topic", topic, "--partition", "0")
    assert all(r[5] == "None" for r in after[1:] if r[0] == producer_id)
    lso_lag = ("kafka_cluster_partition_laststableoffsetlag", (("partition", "0"), ("topic", topic)))
    assert scrape_samples(broker.metrics_port)[lso_lag] == 0


def test_bad_arguments_are_one_line_errors(broker: BrokerProcess) -> None:
    bootstrap = broker.bootstrap
    proc = odradek("transactions", "--bootstrap-server", bootstrap, "abort", "--topic", "t", "--partition", "0")
    assert proc.returncode == 1 and proc.stderr.startswith("Error: abort needs --start-offset")
    proc = odradek("transactions", "--bootstrap-server", bootstrap, "find-hanging")
    assert proc.returncode == 1 and "exactly one of --broker-id and --topic" in proc.stderr
    proc = odradek("transactions", "--bootstrap-server", bootstrap, "describe", "--transactional-id", "nobody")
    assert proc.returncode == 1 and proc.stderr.startswith("Error: DescribeTransactions failed")
