"""The controller on a real etcd with three broker processes (issue 10): leadership after SIGKILL, controlled
shutdown on SIGTERM, preferred leader election with `odradek leader-election`. confluent-kafka is the client.

Data is not replicated on this branch (the replica fetchers are another part of issue 10), so these tests look at
leadership and metadata only; a broker's return to an ISR (what its leader's AlterPartition does once followers
fetch) is written into etcd by the test.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from cluster_support import start_brokers, wait_registered
from etcd_support import EtcdCluster, etcd_missing, post
from it_support import REPO, BrokerProcess, ck_admin, unique_topic, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing()))]

Factory = Callable[..., BrokerProcess]
SESSION_MS = 3000
MARGIN_S = 12.0  # elections need the lease to expire (+0.5 s in etcd), a campaign tick and a pass; the box is loaded
CLIENT_TIMEOUT_S = 15


def three_brokers(factory: Factory, url: str) -> list[BrokerProcess]:
    common = {
        "broker.session.timeout.ms": str(SESSION_MS),
        "broker.heartbeat.interval.ms": "500",
        "controlled.shutdown.retry.backoff.ms": "5000",
    }
    return list(start_brokers(factory, url, (1, 2, 3), common, timeout_s=20).values())


def create_rf3_topic(bootstrap: str, partitions: int = 3) -> str:
    from confluent_kafka.admin import NewTopic

    topic = unique_topic("ctrl")
    admin = ck_admin(bootstrap)  # kept: the future fails if its client is destroyed first
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=3)])
    futures[topic].result(timeout=CLIENT_TIMEOUT_S)
    return topic


def partitions_of(bootstrap: str, topic: str) -> dict[int, Any]:
    metadata = ck_admin(bootstrap).list_topics(topic, timeout=CLIENT_TIMEOUT_S)
    found = metadata.topics.get(topic)
    return {} if found is None or found.error is not None else dict(found.partitions)


def etcd_partition(etcd: EtcdCluster, prefix: str, topic: str, index: int) -> tuple[dict[str, Any], str]:
    key = base64.b64encode(f"{prefix}/partitions/{topic}/{index}".encode()).decode()
    kv = post(etcd.endpoints[0], "kv/range", {"key": key})["kvs"][0]
    return json.loads(base64.b64decode(kv["value"])), kv["mod_revision"]


def put_back_in_isr(etcd: EtcdCluster, prefix: str, topic: str, index: int, broker: int) -> None:
    """What the partition leader's AlterPartition does when a follower has caught up (a CAS on the record)."""
    for _ in range(20):
        record, revision = etcd_partition(etcd, prefix, topic, index)
        if broker in record["isr"]:
            return
        record["isr"].append(broker)
        record["partition_epoch"] += 1
        key = base64.b64encode(f"{prefix}/partitions/{topic}/{index}".encode()).decode()
        value = base64.b64encode(json.dumps(record, separators=(",", ":"), sort_keys=True).encode()).decode()
        compare = [{"key": key, "target": "MOD", "result": "EQUAL", "mod_revision": revision}]
        reply = post(
            etcd.endpoints[0],
            "kv/txn",
            {"compare": compare, "success": [{"request_put": {"key": key, "value": value}}]},
        )
        if reply.get("succeeded"):
            return
    raise AssertionError("could not put the broker back in the ISR")


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "broker"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "odradek.cli", *argv], capture_output=True, text=True, timeout=60, env=env
    )


def test_sigkill_of_the_controller_and_leader_moves_its_partitions_to_in_sync_replicas_within_the_session_timeout(
    broker_factory: Factory, etcd: EtcdCluster
) -> None:
    brokers = three_brokers(broker_factory, etcd.url("/it/kill"))
    topic = create_rf3_topic(brokers[0].bootstrap)
    before = partitions_of(brokers[0].bootstrap, topic)
    admin = ck_admin(brokers[0].bootstrap)
    victim = admin.describe_cluster(request_timeout=CLIENT_TIMEOUT_S).result(timeout=CLIENT_TIMEOUT_S).controller.id
    led = {p for p, s in before.items() if s.leader == victim}
    assert led, "round-robin placement: every broker leads one of the 3 partitions"  # the controller dies too
    from confluent_kafka.admin import NewTopic

    solo = unique_topic("solo")  # one replica, on the broker about to die: it goes offline
    new_topic = NewTopic(solo, num_partitions=1, replication_factor=-1, replica_assignment=[[victim]])
    admin.create_topics([new_topic])[solo].result(timeout=CLIENT_TIMEOUT_S)
    survivor = next(b for b in brokers if b.overrides["node.id"] != str(victim))
    brokers[victim - 1].kill()
    killed_at = time.monotonic()

    def moved() -> dict[int, Any] | None:
        now = partitions_of(survivor.bootstrap, topic)
        ok = now and all(now[p].leader not in (victim, -1) and now[p].leader in before[p].isrs for p in led)
        return now if ok else None

    after = wait_for(moved, timeout=SESSION_MS / 1000 + MARGIN_S, interval=0.2, what="new leaders")
    elapsed = time.monotonic() - killed_at
    survivor_admin = ck_admin(survivor.bootstrap)
    new_controller = survivor_admin.describe_cluster(request_timeout=CLIENT_TIMEOUT_S).result(CLIENT_TIMEOUT_S)
    assert new_controller.controller.id not in (victim, -1)
    # etcd's lease ends within the session timeout of the last keepalive (TTL 2 s for 3 s: app.lease_ttl), and that
    # keepalive was at most one heartbeat interval (0.5 s) before the kill.
    assert elapsed >= SESSION_MS / 1000 - 1.5, "the registration lease, not something faster, decided"
    for p in led:
        assert victim not in after[p].isrs, "the lost broker left the ISR"
        assert victim in after[p].replicas
    described = run_cli("topics", "--describe", "--topic", topic, "--bootstrap-server", survivor.bootstrap)
    assert described.returncode == 0, described.stderr
    for p in led:
        isr = ",".join(map(str, after[p].isrs))
        replicas = ",".join(map(str, after[p].replicas))
        line = f"\tTopic: {topic}\tPartition: {p}\tLeader: {after[p].leader}\tReplicas: {replicas}\tIsr: {isr}"
        assert line in described.stdout.splitlines(), described.stdout
    offline = run_cli(
        "topics", "--describe", "--unavailable-partitions", "--topic", solo, "--bootstrap-server", survivor.bootstrap
    )
    assert offline.returncode == 0, offline.stderr
    line = f"\tTopic: {solo}\tPartition: 0\tLeader: none\tReplicas: {victim}\tIsr: {victim}"
    assert offline.stdout.splitlines() == [line], offline.stdout
    solo_now = partitions_of(survivor.bootstrap, solo)
    assert solo_now == {} or solo_now[0].leader == -1
    # The lost broker comes back (an unclean restart): it registers fenced, out of every ISR, and does not lead; its
    # leaders put it back in their ISRs once it has caught up (replication), and leadership stays where it is until a
    # preferred election.
    brokers[victim - 1].restart()
    wait_registered(survivor.bootstrap, (1, 2, 3), timeout_s=SESSION_MS / 1000 + MARGIN_S)
    time.sleep(1.5)  # a few controller passes
    now = partitions_of(survivor.bootstrap, topic)
    assert all(now[p].leader != victim for p in now)


def test_sigterm_hands_leadership_over_before_the_broker_exits_and_elect_leaders_gives_it_back(
    broker_factory: Factory, etcd: EtcdCluster
) -> None:
    brokers = three_brokers(broker_factory, etcd.url("/it/term"))
    topic = create_rf3_topic(brokers[0].bootstrap)
    before = partitions_of(brokers[0].bootstrap, topic)
    leaving = before[1].leader
    led = {p for p, s in before.items() if s.leader == leaving}
    started = time.monotonic()
    assert brokers[leaving - 1].stop(timeout=30) == 0
    assert time.monotonic() - started < 10, "a controlled shutdown takes a few controller passes, not rounds"
    assert "controlled shutdown: leadership moved away" in brokers[leaving - 1].output()
    other = next(b for b in brokers if b.alive())
    now = partitions_of(other.bootstrap, topic)
    for p in led:
        assert now[p].leader not in (leaving, -1) and leaving not in now[p].isrs
    # Back, and in sync again (the test writes what its leader's AlterPartition would): the preferred election.
    brokers[leaving - 1].restart()
    wait_registered(other.bootstrap, (1, 2, 3), timeout_s=20)
    for p in led:
        put_back_in_isr(etcd, "/it/term", topic, p, leaving)
    command = ["leader-election", "--bootstrap-server", other.bootstrap]
    done = run_cli(*command, "--election-type", "preferred", "--all-topic-partitions")
    assert done.returncode == 0, done.stderr
    expected = ", ".join(f"{topic}-{p}" for p in sorted(led))
    assert f"Successfully completed leader election (PREFERRED) for partitions {expected}" in done.stdout
    wait_for(
        lambda: all(partitions_of(other.bootstrap, topic)[p].leader == leaving for p in led),
        timeout=10,
        what="preferred leaders back",
    )
    again = run_cli(*command, "--election-type", "PREFERRED", "--topic", topic, "--partition", str(min(led)))
    assert again.returncode == 0 and "Valid replica already elected" in again.stdout, again.stdout + again.stderr
