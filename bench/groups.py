#!/usr/bin/env python3
"""Consumer-group benchmark (issue 3): rebalance time and offset-commit throughput of the group coordinator.

    python bench/groups.py                 # 20 rebalances x 2 heartbeat settings, 10 s per commit variant
    python bench/groups.py --quick         # 5 rebalances, 3 s per commit variant
    python bench/groups.py --profile DIR   # also py-spy the broker during each commit run (needs py-spy)

The script starts a broker (`python -m odradek.broker`, uvloop when installed) on a free 127.0.0.1 port with a temp
log dir, `group.initial.rebalance.delay.ms=0` and `metrics.port=0`, and creates one topic of 30 partitions.

Members. Every group member is one confluent-kafka `Consumer` (librdkafka) polled by its own Python thread, all
in this process. librdkafka runs the group protocol (FindCoordinator, Join/Sync, heartbeats, commits) in its own C
threads, and `poll()` and a synchronous `commit()` release the GIL while they wait, so the Python threads only
hold the GIL for the rebalance callbacks and for building each commit's offset list. Separate processes would add
ten interpreters on a 2-core machine that the broker shares, for no gain in what is measured; the client
process's CPU time is printed next to the broker's so that a client-side limit would show. confluent-kafka 2.16
serializes the calls on one client handle (a `memberid()` from another thread waits until `poll()` returns, and a
thread polling in a loop starves it), so each Consumer is only ever called from its own member's thread.

Rebalance (eager protocol: librdkafka's default `range,roundrobin`, so every rebalance revokes and reassigns every
member). A group of 10 members is formed and stable. Then, 20 times:
  join   an 11th consumer, already connected to the broker (its metadata fetched), calls `subscribe()` at t0; its
         thread polls from then on. Rebalance time = from t0 until every one of the 11 members has had its
         `on_assign` callback for the new generation (the last callback's time), checked to be an exact
         partition of the 30 partitions among the 11 members.
  leave  the 11th consumer is closed (`close()`: revoke, LeaveGroup) at t1; leave time = from t1 until all 10
         remaining members had `on_assign` again.
Before each trigger the script waits a random U(0, heartbeat.interval.ms) (seeded): after a rebalance every
member's heartbeat runs in phase, so without it each trigger would land at the same point of the heartbeat cycle.
The rebalance is split with the broker's INFO log ("preparing to rebalance ... reason: adding new member <id>",
then "stabilized group ... generation": the join phase ended, SyncGroup follows; millisecond timestamps) and with
a thread polling DescribeGroups every 20 ms (first answer with state Stable, all members, each with an assignment).
Members notice a rebalance only on their next heartbeat (`heartbeat.interval.ms`, librdkafka default 3000), so
the whole run is done twice: client defaults, and `heartbeat.interval.ms=100`. Member m00 runs with `debug=cgrp`
and the script keeps the time of each Heartbeat it sends: the gaps between them outside rebalances (including a
quiet stretch of max(3 heartbeat intervals, 5 s) before the first trigger) show the heartbeat cadence librdkafka
really keeps. Medians and p99 are nearest-rank: with 20 samples p99 is the largest.

Commit throughput. A fresh group of 10 members (3 partitions each); once stable, every member commits explicit
offsets for its 3 partitions (offset n on the n-th commit) for --commit-seconds:
  sync   `commit(offsets, asynchronous=False)` in a loop: one OffsetCommit request in flight per member.
  async  `commit(offsets, asynchronous=True)` with at most 64 outstanding per member, results counted in the
         `on_commit` callback served by `poll(0.005)` between refills.
commits/s = successful commit() calls (each one OffsetCommit request; cross-checked with the OffsetCommit request
count in librdkafka's statistics) / the run's wall time; partition-offsets/s = commits/s x 3. CPU over the run, in
% of one core: the broker process and this process (/proc/<pid>/stat utime+stime), other processes (the rest of
/proc/stat's busy time; a run where they used over 25% is flagged as contended), and the broker's CPU time per commit
with the commits/s one core would give at that cost (the broker serves requests on one event-loop thread).
Each figure is printed with its ratio to the issue's target; a JSON goes to bench/out/.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka import Consumer, ConsumerGroupState, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from run import REPO, broker_process, machine, quantiles, write_result

HERE = Path(__file__).resolve().parent
TOPIC = "bench-groups"
PARTITIONS = 30
MEMBERS = 10
REBALANCE_TARGET_MS = 1000.0
COMMIT_TARGET = 5000.0
ISSUE15_COMMIT_TARGET = 20000.0  # issue 15, item 7
ASYNC_WINDOW = 64
ASYNC_POLL_S = 0.005
CONTENDED_PCT = 25.0  # CPU of other processes (% of one core) above which a commit figure is flagged
WAIT_S = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
NPROC = os.cpu_count() or 1


# ---------------------------------------------------------------- broker


@dataclass
class Broker:
    bootstrap: str
    pid: int
    log_path: Path


@contextlib.contextmanager
def group_broker(data_dir: Path, log_path: Path, checkout: Path = REPO) -> Iterator[Broker]:
    overrides = ["group.initial.rebalance.delay.ms=0"]
    with broker_process(data_dir, log_path, checkout=checkout, overrides=overrides) as (bootstrap, pid):
        yield Broker(bootstrap, pid, log_path)


def cpu_seconds(pid: int | str) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from the first line of /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already in user
    return total - idle, total


LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ odradek\.broker\.group: (.*)$")


def group_log(path: Path, group: str) -> list[tuple[float, str]]:
    """(wall-clock time, message) of the coordinator's log lines about `group` (asctime is local time, ms)."""
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        match = LOG_LINE.match(line)
        if match and f"group {group} " in match[2] + " ":
            stamp = datetime.datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            lines.append((stamp, match[2]))
    return lines


def broker_phase(lines: list[tuple[float, str]], reason: str) -> tuple[float, float] | None:
    """(prepare, stabilized) times of the first rebalance whose reason contains `reason`."""
    for i, (stamp, message) in enumerate(lines):
        if message.startswith("preparing to rebalance") and reason in message:
            for later, other in lines[i + 1 :]:
                if other.startswith("stabilized group"):
                    return stamp, later
            return None
    return None


# ---------------------------------------------------------------- members


@dataclass(frozen=True)
class Assignment:
    member: str
    mono: float
    wall: float
    partitions: tuple[int, ...]


class Recorder:
    """Every member's on_assign, in arrival order; the main thread waits on it."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.assignments: list[Assignment] = []

    def on_assign(self, member: str, partitions: list[TopicPartition]) -> None:
        item = Assignment(member, time.monotonic(), time.time(), tuple(sorted(p.partition for p in partitions)))
        with self.cond:
            self.assignments.append(item)
            self.cond.notify_all()

    def wait_assigned(self, members: set[str], since: float, timeout: float) -> dict[str, Assignment] | None:
        """The latest assignment since `since` of each of `members`, once they partition the topic exactly."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                latest = {a.member: a for a in self.assignments if a.mono >= since and a.member in members}
                if len(latest) == len(members):
                    given = [p for a in latest.values() for p in a.partitions]
                    if sorted(given) == list(range(PARTITIONS)):
                        return latest
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(remaining)

    def count_since(self, since: float) -> int:
        with self.cond:
            return sum(1 for a in self.assignments if a.mono >= since)


@dataclass
class CommitStats:
    commits: int = 0
    errors: int = 0
    partition_offsets: int = 0
    outstanding: int = 0
    first_error: str = ""


class HeartbeatTrace:
    """A librdkafka logger (debug=cgrp) keeping the time of each Heartbeat request the member sends.

    confluent-kafka hands the lines over in the member's poll(), which runs continuously, so the time is that of the
    send within a few ms."""

    def __init__(self) -> None:
        self.sent: list[float] = []

    def log(self, _level: int, _fmt: str, facility: str, _name: str, message: str) -> None:
        if facility == "HEARTBEAT" and "Heartbeat for group" in message:
            self.sent.append(time.monotonic())

    def intervals_ms(self, busy: list[tuple[float, float]]) -> list[float]:
        """Gaps between consecutive heartbeats, leaving out gaps that overlap a rebalance (no heartbeats then)."""
        gaps = []
        for a, b in zip(self.sent, self.sent[1:], strict=False):
            if not any(start < b and a < end for start, end in busy):
                gaps.append((b - a) * 1000)
        return gaps


class Member:
    """One Consumer and the thread that polls it (and, in a commit run, commits from it)."""

    def __init__(
        self,
        name: str,
        bootstrap: str,
        group: str,
        extra: dict[str, Any],
        recorder: Recorder,
        trace: HeartbeatTrace | None = None,
    ) -> None:
        self.name = name
        self.recorder = recorder
        self.stats = CommitStats()
        self.last_stats: dict[str, Any] = {}
        tracing: dict[str, Any] = {"debug": "cgrp", "logger": trace} if trace is not None else {}
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": name,
                "enable.auto.commit": False,
                "log_level": 3,
                "on_commit": self._on_commit,
                "stats_cb": self._on_stats,
                **extra,
            },
            **tracing,
        )
        self.stopping = threading.Event()
        self.job: tuple[str, threading.Barrier, float] | None = None
        self.job_ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.assigned: list[TopicPartition] = []
        self.member_id = ""  # read by this member's thread after each assignment (see _run)

    def connect(self) -> None:
        """Bootstrap connection and topic metadata, so that a later subscribe() starts from a connected client."""
        self.consumer.list_topics(TOPIC, timeout=10)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)
        self.consumer.close()

    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self.recorder.on_assign(self.name, partitions)
        self.member_id = ""

    def _on_commit(self, err: Any, partitions: list[TopicPartition]) -> None:
        stats = self.stats
        stats.outstanding -= 1
        failed = next((p.error for p in partitions if p.error is not None), None) if err is None else err
        if failed is None:
            stats.commits += 1
            stats.partition_offsets += len(partitions)
        else:
            stats.errors += 1
            stats.first_error = stats.first_error or str(failed)

    def _on_stats(self, text: str) -> None:
        self.last_stats = json.loads(text)

    def _run(self) -> None:
        poll = self.consumer.poll
        self.consumer.subscribe([TOPIC], on_assign=self._on_assign)
        while not self.stopping.is_set():
            if not self.member_id:
                self.member_id = self.consumer.memberid() or ""
            if self.job_ready.is_set():
                self.job_ready.clear()
                assert self.job is not None
                mode, barrier, seconds = self.job
                barrier.wait(timeout=WAIT_S)
                (self._commit_sync if mode == "sync" else self._commit_async)(time.monotonic() + seconds)
                barrier.wait(timeout=WAIT_S)
            poll(0.05)

    def _offsets(self, n: int) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, p.partition, n) for p in self.assigned]

    def _commit_sync(self, deadline: float) -> None:
        self.assigned = self.consumer.assignment()
        stats, commit, n = self.stats, self.consumer.commit, 0
        while time.monotonic() < deadline:
            n += 1
            try:
                result = commit(offsets=self._offsets(n), asynchronous=False)
            except KafkaException as exc:
                stats.errors += 1
                stats.first_error = stats.first_error or str(exc)
                continue
            failed = next((p.error for p in result if p.error is not None), None)
            if failed is None:
                stats.commits += 1
                stats.partition_offsets += len(result)
            else:
                stats.errors += 1
                stats.first_error = stats.first_error or str(failed)

    def _commit_async(self, deadline: float) -> None:
        self.assigned = self.consumer.assignment()
        stats, commit, poll, n = self.stats, self.consumer.commit, self.consumer.poll, 0
        while time.monotonic() < deadline:
            while stats.outstanding < ASYNC_WINDOW:
                n += 1
                stats.outstanding += 1
                commit(offsets=self._offsets(n), asynchronous=True)
            poll(ASYNC_POLL_S)
        drain_until = time.monotonic() + 10
        while stats.outstanding > 0 and time.monotonic() < drain_until:
            poll(0.001)


class Group:
    def __init__(self, bootstrap: str, group: str, extra: dict[str, Any], trace: HeartbeatTrace | None = None) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.extra = extra
        self.recorder = Recorder()
        self.members: list[Member] = []
        self.trace = trace  # given to the first member

    def add(self, name: str) -> Member:
        trace = self.trace if not self.members else None
        member = Member(name, self.bootstrap, self.group, self.extra, self.recorder, trace)
        self.members.append(member)
        return member

    def form(self, count: int) -> None:
        since = time.monotonic()
        for i in range(count):
            self.add(f"m{i:02d}").start()
        if self.recorder.wait_assigned({m.name for m in self.members}, since, WAIT_S) is None:
            raise RuntimeError(f"group {self.group}: {count} members not all assigned within {WAIT_S:.0f} s")

    def close(self) -> None:
        for member in self.members:
            member.stopping.set()
        for member in self.members:
            member.close()
        self.members.clear()


# ---------------------------------------------------------------- DescribeGroups poller


class StablePoller:
    """Polls DescribeGroups every `interval` s in a thread; `stable_since(t, n)` = first Stable answer with n
    members, every one assigned, sent at or after monotonic time t (the time the answer arrived)."""

    def __init__(self, bootstrap: str, group: str, interval: float) -> None:
        self.admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
        self.group = group
        self.interval = interval
        self.samples: list[tuple[float, float, bool, int]] = []  # (sent, answered, stable+assigned, members)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        if self.interval > 0:
            self.thread.start()

    def close(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            sent = time.monotonic()
            try:
                desc = self.admin.describe_consumer_groups([self.group], request_timeout=5)[self.group].result()
            except KafkaException:
                continue
            stable = desc.state == ConsumerGroupState.STABLE and all(
                m.assignment.topic_partitions for m in desc.members
            )
            with self.lock:
                self.samples.append((sent, time.monotonic(), stable, len(desc.members)))

    def stable_since(self, since: float, members: int) -> float | None:
        with self.lock:
            for sent, answered, stable, count in self.samples:
                if sent >= since and stable and count == members:
                    return answered
        return None


# ---------------------------------------------------------------- rebalance


@dataclass
class Rebalance:
    trigger: str
    client_ms: float
    describe_stable_ms: float | None = None
    to_prepare_ms: float | None = None
    join_phase_ms: float | None = None
    after_stabilized_ms: float | None = None
    member_id: str = ""
    extra_assignments: int = 0


@dataclass
class RebalanceRun:
    heartbeat_ms: int
    joins: list[Rebalance] = field(default_factory=list)
    leaves: list[Rebalance] = field(default_factory=list)
    heartbeat_gaps_ms: list[float] = field(default_factory=list)  # member m00's, outside rebalances


def run_rebalances(broker: Broker, heartbeat_ms: int | None, count: int, describe_ms: int, seed: int) -> RebalanceRun:
    """`count` join + leave rebalances of an 11th member into a stable group of MEMBERS."""
    effective = heartbeat_ms or 3000
    extra = {"heartbeat.interval.ms": heartbeat_ms} if heartbeat_ms else {}
    group_id = f"bench-rebalance-hb{effective}"
    trace = HeartbeatTrace()
    group = Group(broker.bootstrap, group_id, extra, trace)
    busy: list[tuple[float, float]] = []
    poller = StablePoller(broker.bootstrap, group_id, describe_ms / 1000.0)
    rng = random.Random(seed)
    run = RebalanceRun(effective)
    marks: list[tuple[Rebalance, float, float]] = []  # (rebalance, trigger wall time, last on_assign wall time)
    try:
        group.form(MEMBERS)
        poller.start()
        # A quiet stretch first, so that member m00's heartbeat cadence is also seen outside rebalances.
        time.sleep(max(3 * effective, 5000) / 1000.0)
        settled = time.monotonic()
        for i in range(count):
            joiner = Member(f"joiner{i:02d}", broker.bootstrap, group_id, extra, group.recorder)
            joiner.connect()
            time.sleep(rng.uniform(0, effective / 1000.0))
            extra_before = group.recorder.count_since(settled)
            t0, w0 = time.monotonic(), time.time()
            joiner.start()
            everyone = {m.name for m in group.members} | {joiner.name}
            done = group.recorder.wait_assigned(everyone, t0, WAIT_S)
            if done is None:
                raise RuntimeError(f"join {i}: not every member assigned within {WAIT_S:.0f} s")
            last = max(done.values(), key=lambda a: a.mono)
            join = Rebalance("join", (last.mono - t0) * 1000, extra_assignments=extra_before)
            time.sleep(rng.uniform(0, effective / 1000.0))
            deadline = time.monotonic() + 5
            while not joiner.member_id and time.monotonic() < deadline:
                time.sleep(0.01)
            join.member_id = joiner.member_id
            t1, w1 = time.monotonic(), time.time()
            joiner.close()
            stayers = {m.name for m in group.members}
            done = group.recorder.wait_assigned(stayers, t1, WAIT_S)
            if done is None:
                raise RuntimeError(f"leave {i}: not every member assigned within {WAIT_S:.0f} s")
            last_leave = max(done.values(), key=lambda a: a.mono)
            leave = Rebalance("leave", (last_leave.mono - t1) * 1000, member_id=join.member_id)
            settled = last_leave.mono + 1e-6
            busy += [(t0, last.mono), (t1, last_leave.mono)]
            # Let the poller see the final Stable before reading its samples.
            time.sleep(max(3 * describe_ms / 1000.0, 0.05))
            fill_describe(join, poller, t0, len(everyone))
            fill_describe(leave, poller, t1, len(stayers))
            marks += [(join, w0, last.wall), (leave, w1, last_leave.wall)]
            run.joins.append(join)
            run.leaves.append(leave)
            print(
                f"    {i + 1:2d}/{count}  join {join.client_ms:8.1f} ms   leave {leave.client_ms:8.1f} ms",
                flush=True,
            )
    finally:
        poller.close()
        group.close()
    run.heartbeat_gaps_ms = trace.intervals_ms(busy)
    lines = group_log(broker.log_path, group_id)
    for item, w0, last_wall in marks:
        reason = ("adding new member " if item.trigger == "join" else "removing member ") + item.member_id
        phase = broker_phase(lines, reason) if item.member_id else None
        if phase is not None:
            prepare, stabilized = phase
            item.to_prepare_ms = (prepare - w0) * 1000
            item.join_phase_ms = (stabilized - prepare) * 1000
            item.after_stabilized_ms = (last_wall - stabilized) * 1000
    return run


def fill_describe(item: Rebalance, poller: StablePoller, since: float, members: int) -> None:
    answered = poller.stable_since(since, members)
    if answered is not None:
        item.describe_stable_ms = (answered - since) * 1000


def summary(values: list[float | None]) -> dict[str, float]:
    present = [v for v in values if v is not None]
    if not present:
        return {}
    p50, p99 = quantiles(present, 0.50, 0.99)
    return {"n": len(present), "median": p50, "p99": p99, "min": min(present), "max": max(present)}


def report_rebalances(run: RebalanceRun) -> dict[str, Any]:
    out: dict[str, Any] = {"heartbeat_interval_ms": run.heartbeat_ms}
    for name, items in (("join", run.joins), ("leave", run.leaves)):
        figures = {
            "client_ms": summary([r.client_ms for r in items]),
            "describe_stable_ms": summary([r.describe_stable_ms for r in items]),
            "to_prepare_ms": summary([r.to_prepare_ms for r in items]),
            "join_phase_ms": summary([r.join_phase_ms for r in items]),
            "after_stabilized_ms": summary([r.after_stabilized_ms for r in items]),
        }
        out[name] = {"summary": figures, "samples": [asdict(r) for r in items]}
        extra = sum(r.extra_assignments for r in items)
        label = f"{name} (heartbeat.interval.ms={run.heartbeat_ms})"
        client = figures["client_ms"]
        print(f"  {label}", flush=True)
        print(
            f"    {'client: trigger -> last on_assign':<44} median {client['median']:8.1f} ms"
            f"  p99 {client['p99']:8.1f} ms   {client['median'] / REBALANCE_TARGET_MS:6.3f} x target (< 1000 ms)",
            flush=True,
        )
        for key, text in (
            ("describe_stable_ms", "DescribeGroups: trigger -> Stable"),
            ("to_prepare_ms", "trigger -> broker 'preparing to rebalance'"),
            ("join_phase_ms", "broker: preparing -> 'stabilized' (join)"),
            ("after_stabilized_ms", "broker 'stabilized' -> last on_assign"),
        ):
            if figures[key]:
                print(
                    f"    {text:<44} median {figures[key]['median']:8.1f} ms  p99 {figures[key]['p99']:8.1f} ms",
                    flush=True,
                )
        if extra:
            print(f"    (unexpected assignments between rebalances: {extra})", flush=True)
    gaps = out["heartbeat_gaps_ms"] = summary(list(run.heartbeat_gaps_ms))
    if gaps:
        p10, p90 = quantiles(run.heartbeat_gaps_ms, 0.10, 0.90)
        gaps.update(p10=p10, p90=p90)
        print(
            f"  member m00's heartbeats (configured every {run.heartbeat_ms} ms): {gaps['n']} gaps, p10 {p10:.0f} ms,"
            f" median {gaps['median']:.0f} ms, p90 {p90:.0f} ms, max {gaps['max']:.0f} ms",
            flush=True,
        )
    return out


# ---------------------------------------------------------------- commits


def run_commits(broker: Broker, mode: str, seconds: float, profile: Path | None) -> dict[str, Any]:
    group = Group(broker.bootstrap, f"bench-commit-{mode}", {"statistics.interval.ms": 1000})
    try:
        group.form(MEMBERS)
        barrier = threading.Barrier(len(group.members) + 1)
        for member in group.members:
            member.job = (mode, barrier, seconds)
            member.job_ready.set()
        spy = start_profile(broker.pid, profile / f"commit-{mode}.txt", seconds) if profile else None
        barrier.wait(timeout=WAIT_S)
        start = time.monotonic()
        broker_cpu, own_cpu, busy = cpu_seconds(broker.pid), cpu_seconds("self"), machine_busy()
        barrier.wait(timeout=seconds + WAIT_S)
        elapsed = time.monotonic() - start
        broker_cpu = cpu_seconds(broker.pid) - broker_cpu
        own_cpu = cpu_seconds("self") - own_cpu
        busy_end = machine_busy()
        machine_pct = 100.0 * (busy_end[0] - busy[0]) / max(busy_end[1] - busy[1], 1) * NPROC
        if spy is not None:
            spy.wait(timeout=seconds + 30)
        time.sleep(1.5)  # one more statistics interval, served by the members' poll()
        requests = sum(
            broker_stats.get("req", {}).get("OffsetCommit", 0)
            for member in group.members
            for broker_stats in member.last_stats.get("brokers", {}).values()
        )
    finally:
        members = list(group.members)
        group.close()
    commits = sum(m.stats.commits for m in members)
    offsets = sum(m.stats.partition_offsets for m in members)
    errors = sum(m.stats.errors for m in members)
    result = {
        "mode": mode,
        "members": MEMBERS,
        "seconds": elapsed,
        "commits": commits,
        "errors": errors,
        "first_error": next((m.stats.first_error for m in members if m.stats.first_error), ""),
        "offsetcommit_requests_librdkafka": requests,
        "commits_per_s": commits / elapsed,
        "partition_offsets_per_s": offsets / elapsed,
        "per_member_commits_per_s": sorted(round(m.stats.commits / elapsed) for m in members),
        "broker_cpu_pct": 100.0 * broker_cpu / elapsed,
        "client_cpu_pct": 100.0 * own_cpu / elapsed,
        "machine_cpu_pct": machine_pct,
        "other_cpu_pct": machine_pct - 100.0 * (broker_cpu + own_cpu) / elapsed,
        "broker_cpu_us_per_commit": 1e6 * broker_cpu / max(commits, 1),
    }
    print(
        f"  commit {mode:<5} {result['commits_per_s']:10.0f} commits/s  {result['partition_offsets_per_s']:10.0f}"
        f" partition-offsets/s  {result['commits_per_s'] / COMMIT_TARGET:6.3f} x target (>= 5000 commits/s)",
        flush=True,
    )
    print(
        f"    {commits} commits in {elapsed:.2f} s, {errors} errors, {requests} OffsetCommit requests (librdkafka);"
        f" CPU: broker {result['broker_cpu_pct']:.0f}%, client {result['client_cpu_pct']:.0f}%,"
        f" other processes {max(result['other_cpu_pct'], 0.0):.0f}%, machine {machine_pct:.0f}% (of {100 * NPROC}%)",
        flush=True,
    )
    per_commit = result["broker_cpu_us_per_commit"]
    print(
        f"    broker CPU per commit {per_commit:.0f} us: one core's worth is {1e6 / per_commit:.0f} commits/s"
        f" ({1e6 / per_commit / COMMIT_TARGET:.3f} x target)",
        flush=True,
    )
    if result["other_cpu_pct"] > CONTENDED_PCT:
        print(f"    (other processes used {result['other_cpu_pct']:.0f}% of a core: contended run)", flush=True)
    if result["first_error"]:
        print(f"    first error: {result['first_error']}", flush=True)
    return result


def compare_commits(baseline: Path, rounds: int, seconds: float, data_dir: Path | None) -> dict[str, Any]:
    """The commit runs on a broker from `baseline` (another checkout) and on one from this tree, alternating
    (order reversed every other round, a fresh broker and topic each run); medians per tree and mode, and the
    ratio this tree / baseline, measured side by side under the same load."""
    trees = {"baseline": baseline.resolve(), "this tree": REPO}
    runs: list[dict[str, Any]] = []
    for round_no in range(rounds):
        order = list(trees) if round_no % 2 == 0 else list(reversed(trees))
        for name in order:
            work = Path(tempfile.mkdtemp(prefix="odradek-bench-groups-", dir=data_dir))
            try:
                print(f"round {round_no + 1}/{rounds}: {name} ({trees[name]})", flush=True)
                with group_broker(work / "logs", work / "broker.log", trees[name]) as broker:
                    create_topic(broker.bootstrap)
                    for mode in ("sync", "async"):
                        runs.append({"tree": name, "round": round_no, **run_commits(broker, mode, seconds, None)})
            finally:
                shutil.rmtree(work, ignore_errors=True)
    summary: dict[str, Any] = {}
    for mode in ("sync", "async"):
        medians = {}
        for name in trees:
            mine = [r for r in runs if r["tree"] == name and r["mode"] == mode]
            rate = statistics.median(r["commits_per_s"] for r in mine)
            cost = statistics.median(r["broker_cpu_us_per_commit"] for r in mine)
            medians[name] = {"commits_per_s": rate, "broker_cpu_us_per_commit": cost}
            print(
                f"median {mode:<5} {name:<9} {rate:8.0f} commits/s ({rate / ISSUE15_COMMIT_TARGET:.3f} x 20,000),"
                f" broker {cost:5.0f} us CPU per commit",
                flush=True,
            )
        ratio = medians["this tree"]["commits_per_s"] / medians["baseline"]["commits_per_s"]
        cost_ratio = medians["this tree"]["broker_cpu_us_per_commit"] / medians["baseline"]["broker_cpu_us_per_commit"]
        print(f"ratio {mode:<5} this tree / baseline: {ratio:.3f} x commits/s, {cost_ratio:.3f} x CPU per commit")
        summary[mode] = {**medians, "ratio_commits": ratio, "ratio_cpu_per_commit": cost_ratio}
    return {"baseline": str(trees["baseline"]), "rounds": rounds, "runs": runs, "medians": summary}


def start_profile(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes] | None:
    if shutil.which("py-spy") is None:
        print("    (py-spy not found: no profile)", flush=True)
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["py-spy", "record", "--pid", str(pid), "--rate", "200", "--duration", str(max(int(seconds), 1))]
    cmd += ["--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------- main


def revision() -> dict[str, Any]:
    """The commit measured, and whether broker/ had uncommitted changes; the load average before the run."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "broker_dirty": bool(git("status", "--porcelain", "--", "broker")),
        "loadavg": os.getloadavg()[0],
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
    }


def create_topic(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)])[TOPIC].result(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 rebalances, 3 s per commit variant")
    parser.add_argument("--rebalances", type=int, help="rebalances per heartbeat setting (default 20)")
    parser.add_argument("--commit-seconds", type=float, help="length of each commit run (default 10)")
    parser.add_argument("--describe-interval-ms", type=int, default=20, help="DescribeGroups poll period; 0: off")
    parser.add_argument("--skip-rebalance", action="store_true", help="only the commit runs")
    parser.add_argument("--skip-commit", action="store_true", help="only the rebalance runs")
    parser.add_argument("--seed", type=int, default=3, help="seed of the random pauses before each trigger")
    parser.add_argument("--profile", type=Path, help="py-spy the broker during the commit runs, raw stacks here")
    parser.add_argument("--data-dir", type=Path, help="parent of the temp dir for the broker's logs")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="directory for the JSON result")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another source tree (`git archive <rev> broker | tar -x -C DIR`): only the commit runs, on its"
        " broker and on this tree's in alternating rounds, with the ratios",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the --baseline comparison (default 3)")
    args = parser.parse_args(argv)
    rebalances = args.rebalances or (5 if args.quick else 20)
    seconds = args.commit_seconds or (3.0 if args.quick else 10.0)
    if args.baseline is not None:
        compared: dict[str, Any] = {"machine": machine(), "revision": revision(), "commit_seconds": seconds}
        print(json.dumps(compared["machine"]), json.dumps(compared["revision"]), flush=True)
        compared.update(compare_commits(args.baseline, args.rounds, seconds, args.data_dir))
        write_result(args.out, "groups-compare", compared)
        return 0
    work = Path(tempfile.mkdtemp(prefix="odradek-bench-groups-", dir=args.data_dir))
    result: dict[str, Any] = {"machine": machine(), "revision": revision()}
    result.update(rebalances=rebalances, commit_seconds=seconds)
    print(json.dumps(result["machine"]), json.dumps(result["revision"]), flush=True)
    try:
        with group_broker(work / "logs", work / "broker.log") as broker:
            create_topic(broker.bootstrap)
            if not args.skip_rebalance:
                result["rebalance"] = []
                for heartbeat in (None, 100):
                    label = "librdkafka default (3000)" if heartbeat is None else str(heartbeat)
                    print(f"Rebalance: {MEMBERS} members + 1 joining, heartbeat.interval.ms {label}", flush=True)
                    run = run_rebalances(broker, heartbeat, rebalances, args.describe_interval_ms, args.seed)
                    result["rebalance"].append(report_rebalances(run))
            if not args.skip_commit:
                print(f"Commit throughput: {MEMBERS} members x {PARTITIONS // MEMBERS} partitions", flush=True)
                result["commit"] = [run_commits(broker, mode, seconds, args.profile) for mode in ("sync", "async")]
    except (RuntimeError, KafkaException, OSError, threading.BrokenBarrierError) as exc:
        result["error"] = str(exc)
        print(f"bench failed: {exc!r}", file=sys.stderr)
        log = work / "broker.log"
        if log.exists():
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
    finally:
        log = work / "broker.log"
        if log.exists():
            problems = [
                line
                for line in log.read_text(errors="replace").splitlines()
                if re.search(r" (WARNING|ERROR|CRITICAL) ", line)
            ]
            result["broker_log_problems"] = problems[:20]
            print(f"broker log: {len(problems)} WARNING/ERROR lines", *problems[:5], sep="\n  ", flush=True)
        shutil.rmtree(work, ignore_errors=True)
    write_result(args.out, f"groups-{'quick' if args.quick else 'full'}", result)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
