"""`odradek cluster up|status|down` with real etcd (Debian's etcd-server) and three broker processes, driven as a
user would (the CLI in a subprocess), checked with confluent-kafka and through /proc: nothing outlives `down`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_support import etcd_missing
from it_support import REPO, broker_env, ck_admin, ck_consume, ck_create_topic, ck_produce, unique_topic
from odradek.faults.cluster import LocalCluster
from odradek.faults.processes import ProcessId

pytestmark = [pytest.mark.integration, pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing()))]

CLI_TIMEOUT_S = 180


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "odradek.cli", "cluster", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env=broker_env(),
        cwd=REPO,
        check=check,
    )


def processes(folder: Path) -> list[ProcessId]:
    cluster = LocalCluster(folder)
    return [*(m.process for m in cluster.etcd_members), *(b.process for b in cluster.brokers)]


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "cluster"
    recorded: list[ProcessId] = []
    try:
        yield path
    finally:
        if (path / "cluster.json").exists():
            recorded = processes(path)
            LocalCluster(path).down(timeout_s=20)
        for process in recorded:  # whatever happened, nothing of ours survives the test
            if process.pid and process.alive():
                process.kill()


def up(folder: Path, brokers: int = 3) -> str:
    result = cli("up", "--brokers", str(brokers), "--dir", str(folder))
    bootstrap = result.stdout.strip()
    assert len(bootstrap.split(",")) == brokers, result.stdout + result.stderr
    return bootstrap


def test_up_serves_three_brokers_on_one_etcd_refuses_a_second_up_and_down_leaves_no_process(folder: Path) -> None:
    bootstrap = up(folder)
    recorded = processes(folder)
    assert all(p.alive() for p in recorded) and len(recorded) == 4
    metadata = ck_admin(bootstrap).list_topics(timeout=15)
    assert sorted(metadata.brokers) == [1, 2, 3]
    status = cli("status", "--dir", str(folder))
    assert status.stdout.count(" alive ") == 4, status.stdout
    again = cli("up", "--brokers", "3", "--dir", str(folder), check=False)
    assert again.returncode == 1 and "a cluster is running" in again.stderr
    assert all(p.alive() for p in recorded), "a refused up touches nothing"
    # A topic spread over the three brokers (replication factor 1: each partition lives on one broker).
    topic = unique_topic("cluster")
    ck_create_topic(bootstrap, topic, partitions=3)
    leaders = {p.leader for p in ck_admin(bootstrap).list_topics(topic, timeout=15).topics[topic].partitions.values()}
    assert leaders == {1, 2, 3}
    for partition in range(3):
        values = [b"p%d-%d" % (partition, i) for i in range(10)]
        ck_produce(bootstrap, topic, values, partition=partition)
        assert [m.value() for m in ck_consume(bootstrap, topic, 10, partition=partition)] == values
    down = cli("down", "--dir", str(folder))
    assert down.stdout.count("stopped") == 3 and "etcd" in down.stdout, down.stdout
    assert not any(p.alive() for p in recorded)
    assert not any(os.path.exists(f"/proc/{p.pid}") and p.alive() for p in recorded)
    assert cli("status", "--dir", str(folder), check=False).returncode == 1
    # The same folder comes up again on the same ports, with its data.
    assert up(folder) == bootstrap
    assert [m.value() for m in ck_consume(bootstrap, topic, 10, partition=1)][:1] == [b"p1-0"]


def test_up_with_three_etcd_members_gives_every_broker_all_endpoints_and_down_stops_them_all(folder: Path) -> None:
    result = cli("up", "--brokers", "1", "--etcd-members", "3", "--dir", str(folder))
    bootstrap = result.stdout.strip()
    recorded = processes(folder)
    assert len(recorded) == 4 and all(p.alive() for p in recorded)
    cluster = LocalCluster(folder)
    endpoints = [f"127.0.0.1:{m.client_port}" for m in cluster.etcd_members]
    properties = (folder / "broker-1" / "server.properties").read_text()
    assert f"metadata.store.url=etcd://{','.join(endpoints)}/odradek" in properties
    assert cluster.etcd_leader() is not None  # the three formed one etcd cluster with a leader
    status = cli("status", "--dir", str(folder))
    assert status.stdout.count(" alive ") == 4 and "etcd m2" in status.stdout, status.stdout
    topic = unique_topic("etcd3")
    ck_create_topic(bootstrap, topic, partitions=1)
    ck_produce(bootstrap, topic, [b"x"], partition=0)
    down = cli("down", "--dir", str(folder))
    assert all(f"etcd m{i} (pid" in down.stdout for i in range(3)), down.stdout
    assert not any(p.alive() for p in recorded)


def test_up_without_etcd_names_the_package_to_install(tmp_path: Path) -> None:
    result = cli("up", "--brokers", "1", "--dir", str(tmp_path / "c"), "--etcd", str(tmp_path / "no-etcd"), check=False)
    assert result.returncode == 1
    assert "apt-get install etcd-server" in result.stderr


def test_a_replication_factor_3_topic_takes_acks_all_writes_and_serves_them(folder: Path) -> None:
    bootstrap = up(folder)
    topic = unique_topic("cluster-rf3")
    from confluent_kafka.admin import NewTopic

    admin = ck_admin(bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(timeout=30)
    values = [b"v%d" % i for i in range(20)]
    ck_produce(bootstrap, topic, values, partition=0, extra={"acks": "all", "message.timeout.ms": 15000})
    assert [m.value() for m in ck_consume(bootstrap, topic, 20, partition=0)] == values
