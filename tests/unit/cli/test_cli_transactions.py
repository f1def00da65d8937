"""`odradek transactions`' pure parts: the translation of librdkafka-style client properties to kafka-python's
arguments, and Kafka's find-hanging decision (a candidate is hanging unless its coordinator describes it as the
Ongoing transaction of the same producer id and epoch that includes the partition)."""

from __future__ import annotations

import warnings

from odradek.cli.transactions import OpenTransaction, hanging_transactions
from odradek.kafka_python import admin_config

with warnings.catch_warnings():  # kafka-python's import uses importlib.resources' deprecated read_text
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import TopicPartition
    from kafka.admin import TransactionDescription, TransactionListing


def test_client_properties_become_kafka_python_arguments() -> None:
    config = admin_config(
        {
            "bootstrap.servers": "h:1",
            "log_level": 0,
            "security.protocol": "sasl_ssl",
            "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.jaas.config": 'org.apache...ScramLoginModule required username="alice" password="s3cret";',
            "ssl.ca.location": "/ca.pem",
            "request.timeout.ms": "5000",
        }
    )
    assert config == {
        "bootstrap_servers": "h:1",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "alice",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": "/ca.pem",
        "request_timeout_ms": 5000,
    }


def _described(pid: int, epoch: int, state: str, *partitions: tuple[str, int]) -> TransactionDescription:
    return TransactionDescription(1, state, pid, epoch, 60000, 0, [TopicPartition(t, p) for t, p in partitions])


def test_find_hanging_reports_what_the_coordinator_does_not_know() -> None:
    candidate = OpenTransaction("t", 0, 7, 2, 0, 10, 0)
    listing = {7: [TransactionListing("tx", 7, "Ongoing")]}
    assert hanging_transactions([candidate], listing, {"tx": _described(7, 2, "Ongoing", ("t", 0))}) == []
    assert hanging_transactions([candidate], {}, {}) == [candidate]  # no transactional id has the producer id
    for other in (
        _described(7, 3, "Ongoing", ("t", 0)),  # another epoch
        _described(7, 2, "CompleteAbort", ("t", 0)),  # not open at the coordinator
        _described(7, 2, "Ongoing", ("t", 1)),  # without this partition
    ):
        assert hanging_transactions([candidate], listing, {"tx": other}) == [candidate]
