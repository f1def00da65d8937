"""The fault scenarios of issue 10 (notes/reliability.md section 2.5) on real clusters: etcd, three broker
processes, confluent-kafka clients recording a history, the checker judging it.

- `test_smoke_*` (marker `faults_smoke`, not slow): replication factor 1, a broker SIGKILLed and its active segments
  torn (a power loss) under acks=1: the checker must report the acknowledged records lost on exactly the torn
  partitions, and nothing on the others. It shows the runner, the recorders and the checker working end to end.
- the others (marker `slow`, `make slow`): the replicated scenarios, on the replicated cluster.
"""

from __future__ import annotations

import os
import time
import urllib.request
from typing import Any

import pytest
from fault_support import Factory
from odradek.faults import nemesis, netns
from odradek.faults.cluster import ClusterError, LocalCluster
from odradek.faults.scenario import Fault, ScenarioResult, Workload, partition_states, scenario

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.path.exists("/usr/bin/etcd"), reason="/usr/bin/etcd missing (apt-get install etcd-server)"
    ),
]

ACKS_ALL = {"acks": "all", "enable.idempotence": True, "message.timeout.ms": 60_000}
REPLICATED = {"min.insync.replicas": "2", "unclean.leader.election.enable": "false"}


def leader_of(cluster: LocalCluster, topic: str, partition: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        leader = partition_states(cluster, topic).get(partition, (-1, [], []))[0]
        if leader >= 0:
            return leader
        time.sleep(0.2)
    raise ClusterError(f"{topic}-{partition} has no leader")


def led_by(cluster: LocalCluster, topic: str, node_id: int) -> list[int]:
    return sorted(p for p, (leader, _, _) in partition_states(cluster, topic).items() if leader == node_id)


def scrape(cluster: LocalCluster, node_id: int, name: str) -> float:
    """One series (no labels) of broker `node_id`'s /metrics."""
    broker = cluster.broker(node_id)
    url = f"http://{broker.host}:{broker.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not in {url}")


def assert_safe_and_live(result: ScenarioResult, min_acked: int = 50) -> None:
    assert result.check.ok, result.summary()
    assert result.acked >= min_acked, f"too few acknowledged writes to mean anything: {result.summary()}"


# ---- smoke (runs by default) --------------------------------------------------------------------------------


@pytest.mark.faults_smoke
@pytest.mark.timeout(400)
def test_smoke_a_power_loss_on_a_single_replica_loses_acked_records_and_the_checker_says_where(
    cluster_factory: Factory,
) -> None:
    cluster = cluster_factory(3)
    topic = "smoke"
    torn: dict[str, Any] = {}

    def power_loss(c: LocalCluster) -> None:
        torn["partitions"] = led_by(c, topic, 1)
        nemesis.kill9(c, 1)
        torn["cuts"] = [nemesis.torn_tail(c, 1, topic, p, nbytes=1500) for p in torn["partitions"]]

    workload = Workload(
        topic,
        partitions=6,
        replication_factor=1,
        producers=2,
        producer_config={"acks": 1, "enable.idempotence": False, "message.timeout.ms": 60_000},
        rate_per_s=100,
        duration_s=12,
    )
    fault = Fault("power loss of broker 1", 6.0, power_loss, heal=lambda c: nemesis.restart(c, 1), heal_after_s=1.0)
    result = scenario("smoke", cluster, workload, [fault])
    print(result.summary())  # shown with -rP: what was lost where
    assert torn["partitions"], "broker 1 led none of the 6 partitions"
    assert all(cut.size_after < cut.size_before for cut in torn["cuts"])
    assert result.acked > 500, result.summary()
    assert not result.check.ok and "lost" in result.check.kinds(), result.summary()
    damaged = {a.partition for a in result.check.anomalies}
    assert damaged <= set(torn["partitions"]), f"anomalies outside the torn partitions: {result.summary()}"
    assert result.check.counts["lost"] >= 1
    assert any(what.startswith("apply power loss of broker 1") for _, what in result.timeline)


# ---- the replicated scenarios (make slow) -------------------------------------------------------------------


def replicated(topic: str, duration_s: float = 30, topic_config: dict[str, str] | None = None) -> Workload:
    return Workload(
        topic,
        partitions=3,
        replication_factor=3,
        topic_config={**REPLICATED, **(topic_config or {})},
        producers=2,
        producer_config=ACKS_ALL,
        rate_per_s=50,
        duration_s=duration_s,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_etcd_killed_and_restarted_on_replication_factor_1_keeps_produce_going(cluster_factory: Factory) -> None:
    """What works without replication: brokers keep serving their partitions while etcd is down, and metadata
    writes resume once it is back (docs/broker.md, "Metadata store")."""
    cluster = cluster_factory(3)
    workload = Workload("etcd1", partitions=3, replication_factor=1, producer_config=ACKS_ALL, duration_s=20)
    result = scenario(
        "etcd-rf1", cluster, workload, [Fault("kill etcd", 5, nemesis.kill_etcd, nemesis.restart_etcd, 8)]
    )
    assert_safe_and_live(result)
    assert _acked_between(result, 5.5, 12.5) > 0, "no write was acknowledged while etcd was down"


def _acked_between(result: ScenarioResult, start_s: float, end_s: float) -> int:
    sends = [e["time"] for e in result.events if e["type"] == "send"]
    origin = min(sends) if sends else 0.0
    return sum(1 for e in result.events if e["type"] == "ack" and start_s <= e["time"] - origin <= end_s)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_s1_kill9_of_the_leader_during_acks_all_produce_loses_nothing(cluster_factory: Factory) -> None:
    cluster = cluster_factory(3)
    topic = "s1"
    faults = []
    for round_ in range(3):
        victim: dict[str, int] = {}

        def kill_leader(c: LocalCluster, v: dict[str, int] = victim) -> None:
            v["node"] = leader_of(c, topic, 0)
            nemesis.kill9(c, v["node"])

        def bring_back(c: LocalCluster, v: dict[str, int] = victim) -> None:
            nemesis.restart(c, v["node"])

        faults.append(Fault(f"kill -9 leader of {topic}-0 #{round_}", 5 + 12 * round_, kill_leader, bring_back, 5))
    result = scenario("s1-kill-leader", cluster, replicated(topic, duration_s=45), faults)
    assert_safe_and_live(result)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_s2_followers_stopped_until_not_enough_replicas_then_continued(cluster_factory: Factory) -> None:
    cluster = cluster_factory(3)
    topic = "s2"
    seen: dict[str, Any] = {}

    def stop_followers(c: LocalCluster) -> None:
        leader = seen["leader"] = leader_of(c, topic, 0)
        seen["followers"] = [n for n in c.node_ids if n != leader]
        nemesis.pause(c, seen["followers"][0])
        time.sleep(5)  # > replica.lag.time.max.ms: the ISR shrinks to two, writes go on
        nemesis.pause(c, seen["followers"][1])
        deadline = time.monotonic() + 20
        name = "kafka_server_replicamanager_underminisrpartitioncount"
        while time.monotonic() < deadline and scrape(c, leader, name) == 0:
            time.sleep(0.5)
        seen["under_min_isr"] = scrape(c, leader, name)

    def continue_followers(c: LocalCluster) -> None:
        for node in seen["followers"]:
            nemesis.resume(c, node)

    faults = [Fault("SIGSTOP both followers", 5, stop_followers, continue_followers, 10)]
    result = scenario("s2-stop-followers", cluster, replicated(topic, duration_s=45), faults)
    assert seen["under_min_isr"] >= 1, "the ISR never went below min.insync.replicas"
    assert_safe_and_live(result)
    isr_shrinks = scrape(cluster, seen["leader"], "kafka_server_replicamanager_isrshrinks_total")
    assert isr_shrinks >= 2


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_s3_isr_of_one_whose_leader_dies_goes_offline_without_unclean_election(cluster_factory: Factory) -> None:
    """The Jepsen 2013 pattern: min.insync.replicas=1 lets the ISR shrink to the leader alone; that leader is
    killed; with unclean election off the partition stays offline until it returns, and nothing acked is lost."""
    cluster = cluster_factory(3)
    topic = "s3"
    seen: dict[str, Any] = {}

    def shrink_then_kill(c: LocalCluster) -> None:
        leader = seen["leader"] = leader_of(c, topic, 0)
        seen["followers"] = [n for n in c.node_ids if n != leader]
        for node in seen["followers"]:
            nemesis.pause(c, node)
        time.sleep(6)  # the ISR shrinks to {leader}; acks=all writes still succeed with min.insync.replicas=1
        nemesis.kill9(c, leader)
        for node in seen["followers"]:
            nemesis.resume(c, node)
        # The dead leader stays registered until its lease expires (broker.session.timeout.ms, 9 s by default):
        # until then Metadata still names it. Then the controller must leave the partition offline.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            seen["leader_while_dead"] = partition_states(c, topic).get(0, (None, [], []))[0]
            if seen["leader_while_dead"] != leader:
                break
            time.sleep(0.5)
        time.sleep(2)  # a few more controller passes: nothing out of sync is elected meanwhile
        seen["leader_while_dead"] = partition_states(c, topic).get(0, (None, [], []))[0]

    faults = [
        Fault("ISR of one, then its leader dies", 5, shrink_then_kill, lambda c: nemesis.restart(c, seen["leader"]), 30)
    ]
    workload = replicated(topic, duration_s=55, topic_config={"min.insync.replicas": "1"})
    result = scenario("s3-jepsen-2013", cluster, workload, faults)
    assert seen["leader_while_dead"] == -1, "an out-of-sync replica was elected"
    assert_safe_and_live(result)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_etcd_member_killed_and_restarted_under_replicated_writes(cluster_factory: Factory) -> None:
    cluster = cluster_factory(3)
    faults = [Fault("kill etcd", 5, nemesis.kill_etcd, nemesis.restart_etcd, 8)]
    result = scenario("etcd-rf3", cluster, replicated("etcd3"), faults)
    assert_safe_and_live(result)
    assert _acked_between(result, 5.5, 12.5) > 0, "no write was acknowledged while etcd was down"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_one_of_three_etcd_members_killed_during_produce_loses_nothing_and_metadata_stays_writable(
    cluster_factory: Factory,
) -> None:
    """`odradek cluster up --etcd-members 3`: the brokers hold all three endpoints. Member m0, made etcd's leader
    first, so that it is both the raft leader and the endpoint every broker's store client talks to (the first of
    its list), is SIGKILLed during acks=all produce; the other two keep a quorum and elect a leader, and the
    clients fail over (requests, watches, lease keepalives): no broker loses its registration, writes go on being
    acknowledged, and a metadata write made while the member is down (a topic created, its leaders elected by the
    controller) succeeds. The member then restarts on its data dir and rejoins."""
    from confluent_kafka.admin import AdminClient, NewTopic

    cluster = cluster_factory(3, etcd_members=3)
    assert cluster.store_url().count(",") == 2
    topic = "etcdm"
    seen: dict[str, Any] = {}

    def kill_leading_member(c: LocalCluster) -> None:
        nemesis.move_etcd_leader(c, 0)
        seen["member"] = nemesis.etcd_leader(c)
        nemesis.kill_etcd_member(c, seen["member"])
        admin = AdminClient({"bootstrap.servers": c.bootstrap, "log_level": 0})
        admin.create_topics([NewTopic("made-while-down", 3, 3)], request_timeout=30)["made-while-down"].result(40)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = partition_states(c, "made-while-down")
            if len(states) == 3 and all(leader >= 0 for leader, _, _ in states.values()):
                break
            time.sleep(0.5)
        seen["created"] = partition_states(c, "made-while-down")
        c.wait_registered(timeout_s=30)  # every broker still sees all three registered
        seen["new_leader"] = nemesis.etcd_leader(c)

    def restart_member(c: LocalCluster) -> None:
        nemesis.restart_etcd_member(c, seen["member"])

    faults = [Fault("SIGKILL the leading etcd member", 5, kill_leading_member, restart_member, 15)]
    result = scenario("etcd-member", cluster, replicated(topic, duration_s=35), faults)
    assert seen["new_leader"] != seen["member"]
    created = seen["created"]
    assert len(created) == 3 and all(leader >= 0 and len(isr) == 3 for leader, _, isr in created.values()), created
    assert_safe_and_live(result)
    assert _acked_between(result, 6, 19) > 0, "no write was acknowledged while the etcd member was down"
    assert all(m.pid and m.process.alive() for m in cluster.etcd_members)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_controller_paused_past_its_lease_is_replaced_and_does_not_write_when_resumed(
    cluster_factory: Factory,
) -> None:
    cluster = cluster_factory(3)
    topic = "ctl"
    seen: dict[str, Any] = {}
    name = "kafka_controller_kafkacontroller_activecontrollercount"

    def pause_controller(c: LocalCluster) -> None:
        seen["controller"] = next(n for n in c.node_ids if scrape(c, n, name) == 1)
        nemesis.pause(c, seen["controller"])

    def resume_controller(c: LocalCluster) -> None:
        others = [n for n in c.node_ids if n != seen["controller"]]
        seen["replaced"] = sum(scrape(c, n, name) for n in others)
        # The partition led by the paused broker moves meanwhile, so the new controller writes while the old one
        # still believes it holds the claim.
        nemesis.resume(c, seen["controller"])

    faults = [Fault("SIGSTOP the controller past its lease", 5, pause_controller, resume_controller, 16)]
    result = scenario("controller-paused", cluster, replicated(topic, duration_s=35), faults)
    assert seen["replaced"] == 1, "no other broker took the controller claim"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(scrape(cluster, n, name) for n in cluster.node_ids) != 1:
        time.sleep(0.5)
    assert sum(scrape(cluster, n, name) for n in cluster.node_ids) == 1, "two active controllers"
    assert_safe_and_live(result)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))
def test_a_leader_partitioned_from_its_followers_cannot_ack_and_is_fenced_when_healed(
    cluster_factory: Factory,
) -> None:
    with netns.NetworkNamespaces(os.getpid() % 10_000, brokers=3) as network:
        cluster = cluster_factory(3, placement=network)
        topic = "part"
        seen: dict[str, Any] = {}

        def cut(c: LocalCluster) -> None:
            leader = seen["leader"] = leader_of(c, topic, 0)
            network.partition([leader], [n for n in c.node_ids if n != leader])

        faults = [Fault("partition the leader of part-0 from its followers", 5, cut, lambda c: network.heal(), 15)]
        try:
            result = scenario("network-partition", cluster, replicated(topic, duration_s=35), faults)
        finally:
            network.heal()
            cluster.down(timeout_s=20)
    assert_safe_and_live(result)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_torn_tail_on_a_follower_is_truncated_at_restart_and_refetched(cluster_factory: Factory) -> None:
    cluster = cluster_factory(3)
    topic = "torn"
    seen: dict[str, Any] = {}

    def power_loss(c: LocalCluster) -> None:
        leader = leader_of(c, topic, 0)
        seen["victim"] = next(n for n in c.node_ids if n != leader)
        nemesis.kill9(c, seen["victim"])
        nemesis.torn_tail(c, seen["victim"], topic, 0, nbytes=1500)

    faults = [Fault("power loss of a follower", 6, power_loss, lambda c: nemesis.restart(c, seen["victim"]), 2)]
    result = scenario("torn-tail-follower", cluster, replicated(topic), faults)
    assert_safe_and_live(result)  # includes convergence: the follower's log equals the leader's below the HW


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(nemesis.can_mount() is not None, reason=str(nemesis.can_mount()))
def test_disk_full_on_a_broker_halts_it_as_kafka_does_and_once_healed_and_restarted_it_rejoins_every_isr(
    cluster_factory: Factory,
) -> None:
    """Kafka's log dir failure (docs/cluster.md, "A full disk"). Broker 3 leads one partition of `full` and follows
    the other two when its disk (a 64 MiB tmpfs) is filled: its next write fails with ENOSPC, its only log dir goes
    offline, that write is not acknowledged, and the broker halts ("all log dirs ... have failed", exit 1) rather
    than serve a log whose file may hold a cut batch; leadership moves once its session expires. The heal frees the
    space and starts it again, as a supervisor would: recovery cuts the torn tail, and it must rejoin every ISR
    (the runner's convergence bound) with nothing acknowledged lost and the replicas byte-identical."""
    topic = "full"
    disks: dict[int, nemesis.DiskFull] = {}
    seen: dict[str, Any] = {}

    def mount_disk(c: LocalCluster) -> None:
        disks[3] = nemesis.DiskFull(c, 3, size_mb=64)
        disks[3].mount()

    def fill(c: LocalCluster) -> None:
        seen["led"] = led_by(c, topic, 3)
        disks[3].fill()
        broker = c.broker(3)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and broker.process.alive():
            time.sleep(0.2)
        seen["halted"] = not broker.process.alive()

    def heal(c: LocalCluster) -> None:
        disks[3].heal()
        nemesis.restart(c, 3)

    cluster = cluster_factory(3, before_up=mount_disk)
    try:
        faults = [Fault("disk full on broker 3", 5, fill, heal, 10)]
        result = scenario("disk-full", cluster, replicated(topic), faults)
    finally:
        cluster.down(timeout_s=20)
        disks[3].unmount()
    assert seen["led"], "broker 3 led no partition: the scenario would not fill a leader's disk"
    assert seen["halted"], "broker 3 went on running on a failed log dir"
    output = (cluster.broker_dir(3) / "broker.out").read_text(errors="replace")
    assert "Shutdown broker because all log dirs in" in output and "No space left on device" in output
    assert_safe_and_live(result)  # includes convergence: broker 3 back in every ISR, its logs equal the leaders'
