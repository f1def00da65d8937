"""The scenario runner: a workload recorded in a history, faults on a schedule, healing, convergence, the check.

`scenario(name, cluster, workload, faults, checker)`:

1. creates the workload's topic (through confluent-kafka's AdminClient) and starts its consumers and producers
   (`recorder`), each in a thread;
2. applies each `Fault` at its time (seconds after the producers started), and its `heal` after `heal_after_s`,
   on this thread, while the workload runs for `workload.duration_s`;
3. stops the producers (their outstanding sends end with an ack or an error), heals whatever is still broken,
   restarts every broker that is not running, and waits (bounded) until every broker is registered and every
   partition has a leader and its full ISR (`converged`);
4. reads every partition to its high watermark (read_uncommitted, then read_committed) and stops the consumers;
5. runs `checker(events, replicas)` with each partition's replica folders, and writes `history.jsonl` and
   `result.json` in the scenario's folder.

The result carries the check and what the scenario saw (acks, the faults applied with their times); callers assert
on both (a run in which nothing was acknowledged proves nothing).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odradek.faults.checker import TP, CheckResult, check
from odradek.faults.cluster import ClusterError, LocalCluster
from odradek.faults.history import Event, History
from odradek.faults.recorder import ConsumerRecorder, ProducerRecorder, final_read

ADMIN_TIMEOUT_S = 30.0
CONVERGE_S = 90.0

Checker = Callable[[list[Event], Mapping[TP, Sequence[Path]]], CheckResult]
Action = Callable[[LocalCluster], Any]


@dataclass(frozen=True, slots=True)
class Fault:
    """`apply` at `at_s` seconds into the workload; `heal` (if any) `heal_after_s` seconds later, or during the
    heal phase if the workload ends first."""

    name: str
    at_s: float
    apply: Action
    heal: Action | None = None
    heal_after_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Workload:
    topic: str
    partitions: int = 3
    replication_factor: int = 3
    topic_config: Mapping[str, str] = field(default_factory=dict)
    producers: int = 2
    producer_config: Mapping[str, Any] = field(default_factory=dict)
    rate_per_s: float = 100.0  # per producer
    consumers: int = 1  # read_committed, from the beginning, on every partition
    duration_s: float = 20.0


@dataclass(slots=True)
class ScenarioResult:
    name: str
    check: CheckResult
    history: Path
    acked: int
    sent: int
    timeline: list[tuple[float, str]]
    high_watermarks: dict[int, int]
    events: list[Event]

    def summary(self) -> str:
        faults = ", ".join(f"{t:.1f}s {what}" for t, what in self.timeline)
        return f"{self.name}: sent {self.sent}, acked {self.acked}; {faults}\n{self.check.summary()}"


def create_topic(cluster: LocalCluster, workload: Workload) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 0})
    topic = NewTopic(
        workload.topic, workload.partitions, workload.replication_factor, config=dict(workload.topic_config)
    )
    futures = admin.create_topics([topic], request_timeout=ADMIN_TIMEOUT_S)
    futures[workload.topic].result(timeout=ADMIN_TIMEOUT_S)
    converged(cluster, workload.topic, workload.partitions, CONVERGE_S)


def partition_states(cluster: LocalCluster, topic: str) -> dict[int, tuple[int, list[int], list[int]]]:
    """{partition: (leader, replicas, isr)} as Metadata answers now (empty when no broker answers)."""
    from confluent_kafka.admin import AdminClient

    for broker in cluster.brokers:
        if not broker.pid or not broker.process.alive():
            continue
        admin = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 0})
        try:
            metadata = admin.list_topics(topic, timeout=5)
        except Exception:
            continue
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            continue
        return {p: (m.leader, list(m.replicas), list(m.isrs)) for p, m in found.partitions.items()}
    return {}


def converged(cluster: LocalCluster, topic: str, partitions: int, timeout_s: float) -> dict[int, list[int]]:
    """Wait until every partition has a leader and its whole replica set in sync; returns {partition: replicas}."""
    deadline = time.monotonic() + timeout_s
    states: dict[int, tuple[int, list[int], list[int]]] = {}
    while time.monotonic() < deadline:
        states = partition_states(cluster, topic)
        if len(states) == partitions and all(
            leader >= 0 and sorted(isr) == sorted(replicas) for leader, replicas, isr in states.values()
        ):
            return {p: replicas for p, (_, replicas, _) in states.items()}
        time.sleep(0.5)
    raise ClusterError(f"{topic} did not converge in {timeout_s:.0f} s: {states}")


def scenario(
    name: str,
    cluster: LocalCluster,
    workload: Workload,
    faults: Sequence[Fault],
    checker: Checker = check,
    *,
    folder: Path | None = None,
    converge_timeout_s: float = CONVERGE_S,
) -> ScenarioResult:
    folder = folder or cluster.folder / "scenarios" / name
    folder.mkdir(parents=True, exist_ok=True)
    history_path = folder / "history.jsonl"
    history_path.unlink(missing_ok=True)
    with History(history_path) as history:
        create_topic(cluster, workload)
        partitions = list(range(workload.partitions))
        consumers = [
            ConsumerRecorder(history, f"c{i}", cluster.bootstrap, workload.topic, partitions)
            for i in range(workload.consumers)
        ]
        producers = [
            ProducerRecorder(
                history,
                f"p{i}",
                cluster.bootstrap,
                workload.topic,
                config=workload.producer_config,
                partitions=partitions,
                rate_per_s=workload.rate_per_s,
                duration_s=workload.duration_s,
            )
            for i in range(workload.producers)
        ]
        for worker in [*consumers, *producers]:
            worker.start()
        timeline = _run_schedule(cluster, faults, workload.duration_s)
        for producer in producers:
            producer.stop(timeout_s=120)
        timeline += _heal_all(cluster, faults, timeline)
        replicas_of = converged(cluster, workload.topic, workload.partitions, converge_timeout_s)
        high_watermarks = final_read(history, cluster.bootstrap, workload.topic, partitions)
        final_read(history, cluster.bootstrap, workload.topic, partitions, isolation="read_committed")
        for consumer in consumers:
            consumer.stop()
        events = list(history.events)
    replicas = {
        (workload.topic, p): [cluster.partition_dir(n, workload.topic, p) for n in nodes]
        for p, nodes in replicas_of.items()
    }
    result = checker(events, replicas)
    outcome = ScenarioResult(
        name,
        result,
        history_path,
        acked=sum(p.acked for p in producers),
        sent=sum(p.sent for p in producers),
        timeline=timeline,
        high_watermarks=high_watermarks,
        events=events,
    )
    summary = {"name": name, "sent": outcome.sent, "acked": outcome.acked, "timeline": timeline}
    (folder / "result.json").write_text(json.dumps({**summary, "check": json.loads(result.to_json())}, indent=2))
    return outcome


def _run_schedule(cluster: LocalCluster, faults: Sequence[Fault], duration_s: float) -> list[tuple[float, str]]:
    """Apply and heal faults at their times (a slow action delays the next ones); returns (seconds when begun,
    "apply NAME" / "heal NAME", with how long it took when 1 s or more)."""
    started = time.monotonic()
    steps: list[tuple[float, str, Fault]] = []
    for fault in faults:
        steps.append((fault.at_s, "apply", fault))
        if fault.heal is not None:
            steps.append((fault.at_s + fault.heal_after_s, "heal", fault))
    steps.sort(key=lambda step: step[0])
    timeline: list[tuple[float, str]] = []
    for at_s, what, fault in steps:
        if at_s > duration_s:
            continue  # healed in the heal phase
        time.sleep(max(0.0, started + at_s - time.monotonic()))
        action = fault.apply if what == "apply" else fault.heal
        assert action is not None
        began = round(time.monotonic() - started, 2)
        action(cluster)
        took = round(time.monotonic() - started - began, 2)
        timeline.append((began, f"{what} {fault.name}" + (f" (took {took} s)" if took >= 1 else "")))
    time.sleep(max(0.0, started + duration_s - time.monotonic()))
    return timeline


def _heal_all(
    cluster: LocalCluster, faults: Sequence[Fault], timeline: list[tuple[float, str]]
) -> list[tuple[float, str]]:
    """Heal every applied fault not healed yet, then restart etcd and every broker that is not running."""
    done = {entry.split(" (took ")[0] for _, entry in timeline}
    healed = []
    for fault in faults:
        if f"apply {fault.name}" in done and fault.heal is not None and f"heal {fault.name}" not in done:
            fault.heal(cluster)
            healed.append((-1.0, f"heal {fault.name} (after the workload)"))
    if any(not m.pid or not m.process.alive() for m in cluster.etcd_members):
        cluster.start_etcd()
        healed.append((-1.0, "restart etcd"))
    for broker in cluster.brokers:
        if broker.pid and broker.process.state() == "T":
            cluster.signal_broker(broker.node_id, signal.SIGCONT)  # a paused broker left over
        if not broker.pid or not broker.process.alive():
            cluster.start_broker(broker.node_id, timeout_s=120)
            healed.append((-1.0, f"restart broker {broker.node_id}"))
    cluster.wait_registered(timeout_s=120)
    return healed
