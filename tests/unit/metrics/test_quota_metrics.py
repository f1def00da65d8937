"""Client quota sensors exported under the names the JMX exporter gives Kafka's
`kafka.server:type=Produce|Fetch|Request,user=..,client-id=..` attributes."""

from __future__ import annotations

from odradek.broker.metrics.broker import BrokerMetrics
from odradek.broker.quota.entity import ClientQuotaEntity
from odradek.broker.quota.manager import QuotaManagers
from odradek.broker.quota.replication_quota_manager import ReplicationQuotaManagers
from odradek.broker.utils.time import MockTime
from prometheus_client import generate_latest


def test_quota_sensors_are_exported_with_kafkas_names() -> None:
    time = MockTime()
    quotas = QuotaManagers(time)
    metrics = BrokerMetrics()
    metrics.watch_quotas(quotas.stats)
    assert b"kafka_server_produce_byte_rate" not in generate_latest(metrics.registry)  # no quota: nothing measured
    quotas.update({ClientQuotaEntity("alice", None): {"producer_byte_rate": 100.0, "request_percentage": 1.0}})
    quotas.produce.record_and_get_throttle_time_ms("alice", "app", 5000)
    quotas.produce.record_throttle("alice", "app", 40_000)
    quotas.request.record_and_get_throttle_time_ms("alice", "app", 10.0)
    text = generate_latest(metrics.registry).decode()
    assert 'kafka_server_produce_byte_rate{client_id="",user="alice"} 500.0' in text
    assert 'kafka_server_produce_throttle_time{client_id="",user="alice"} 40000.0' in text
    assert 'kafka_server_request_request_time{client_id="",user="alice"} 1.0' in text
    assert 'kafka_server_request_throttle_time{client_id="",user="alice"} 0.0' in text


def test_replication_throttle_rates_are_exported_with_kafkas_names() -> None:
    """`kafka.server:type=LeaderReplication,name=byte-rate` and FollowerReplication's, over one window at first."""
    quotas = ReplicationQuotaManagers(1, MockTime())
    metrics = BrokerMetrics()
    metrics.watch_replication_quotas(quotas.byte_rates)
    quotas.leader.record(3000)
    text = generate_latest(metrics.registry).decode()
    assert "kafka_server_leaderreplication_byte_rate 3000.0" in text
    assert "kafka_server_followerreplication_byte_rate 0.0" in text
