#!/usr/bin/env python3
"""Operator benchmark (issue 12): KafkaTopics at scale, apply-to-Ready latency, a rolling restart under load.

    python bench/operator.py                  # 1,000 topics, 3 x 50 sequential applies, a 3-broker roll
    python bench/operator.py --quick          # 50 topics, 3 x 10 applies (resync 30 s), no roll
    python bench/operator.py --profile DIR    # also py-spy the operator during the bulk apply (raw stacks in DIR)
    python bench/operator.py --skip-topics / --skip-roll / --skip-resync / --topics N / --applies N
    python bench/operator.py --operator-tree DIR   # another checkout's operator (a baseline), same everything else

Everything runs against the project's test-only Kubernetes stand-ins (tests/e2e/README.md): the fake API server
(in this process, its own thread) driven by the real kubectl, and the test kubelet (this process, its own thread)
running the pods the operator creates as local broker and etcd processes. The operator is its own process,
`python -m kopf run --standalone --namespace=default -m odradek.operator.main` (how users run it,
../shared/DESIGN.md section 1), so its peak RSS (VmHWM, /proc/<pid>/status) and CPU seconds (utime + stime,
/proc/<pid>/stat) are its own.

Two environments, one after the other, each with a fresh API server, kubelet and operator process:

topics  examples/kafka-cluster.yaml as ONE broker and one etcd member (SCRAM listener and ACLs kept; test
        `secured_single_broker`): three Python brokers replicating 1,000 extra partitions on two shared cores
        would measure the brokers, not the operator.
        1. `applies` sequential KafkaTopic applies on the idle operator: `kubectl apply -f -` of one KafkaTopic,
           then the fake's store polled every 10 ms until its Ready condition is True; p50 / p99 / max.
        2. `topics` KafkaTopics (1 partition, RF 1, one topic config) in one multi-document file applied with
           `kubectl apply -f FILE` (kubectl sends them one by one); time from kubectl's start until every one
           has Ready=True (store polled every 0.25 s), kubectl's own time, the operator's CPU seconds over that
           window and its peak RSS; then confluent-kafka `list_topics` (as the operator's SCRAM super-user) must
           list every topic.
        3. `applies` sequential applies again, now with `topics` KafkaTopics managed (side by side with 1).
        4. `applies` sequential applies spread over the window in which the `topics` KafkaTopics' resync timers
           fire (ODRADEK_RESYNC_SECONDS, `--resync-seconds`, after the bulk apply); the resyncs that ran meanwhile
           are counted in the operator's log.
        5. the resync's own cost, nothing else happening, over two resync periods: the operator's CPU seconds,
           timer runs, KafkaTopic PATCHes (status writes) and the broker's DescribeConfigs and Metadata requests,
           per period (`resync_cost`).
roll    examples/kafka-cluster.yaml as it is (three brokers, three etcd members, min.insync.replicas 2) and
        examples/kafka-topic.yaml (6 partitions, RF 3). An acks=all idempotent producer (the e2e test's
        `KeptProducing`) runs while a broker config change (`kubectl patch`, as tests/e2e/test_kubelet_cluster.py)
        makes the operator roll the brokers: the roll's duration (patch -> every broker pod replaced and Ready),
        failed deliveries, the longest pause between acknowledgements.

Each figure is printed with its target; a JSON goes to bench/out/. The module is named after what it measures; the
standard library's `operator` is imported before this script runs, so the name does not shadow it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# the e2e helpers (fake API server, kubelet, the tests' cluster helpers) and this checkout's operator
sys.path[1:1] = [str(REPO / "tests" / "e2e"), str(REPO / "tests"), str(REPO / "operator"), str(REPO / "broker")]

import yaml  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402
from fake_apiserver.fixture import KubeApi, eventually  # noqa: E402
from kubelet import Kubelet  # noqa: E402
from odradek.operator.resources.cluster import REPLICATION_PORT  # noqa: E402
from run import machine, own_cpu_s, process_cpu_s, quantiles, write_result  # noqa: E402
from test_kubelet_cluster import (  # noqa: E402
    CLUSTER,
    READY_TIMEOUT_S,
    KeptProducing,
    broker_uids,
    example,
    operator_client,
    roll,
    rolled,
    secured_single_broker,
    start_cluster,
)
from test_operator_kopf import apply_crds  # noqa: E402
from worker_support import Profiler, worker_env  # noqa: E402

TOPICS_TARGET_S = 60.0
RSS_TARGET_MB = 200.0
P99_TARGET_S = 2.0
APPLY_TIMEOUT_S = 30.0  # one sequential apply to Ready
ROLL_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class Sizes:
    topics: int
    applies: int
    roll: bool


FULL = Sizes(1000, 50, True)
QUICK = Sizes(50, 10, False)


# ---------------------------------------------------------------- the operator as its own process


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (/proc/stat's `cpu` line; idle and iowait
    are not busy)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - fields[3] - fields[4]) / tick, sum(fields) / tick


def status_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class OperatorProcess:
    """`python -m kopf run --standalone --namespace=default -m odradek.operator.main` of this checkout, against
    `kube_api`, reaching the brokers at `bootstrap` (ODRADEK_OPERATOR_BOOTSTRAP); output in `<work>/operator.log`."""

    def __init__(self, work: Path, kube_api: KubeApi, bootstrap: str, tree: Path, resync_s: float) -> None:
        self.log = work / "operator.log"
        env = worker_env()
        env["PYTHONPATH"] = os.pathsep.join([str(tree / "operator"), str(tree / "broker"), env["PYTHONPATH"]])
        env.update({"KUBECONFIG": str(kube_api.kubeconfig), "ODRADEK_OPERATOR_BOOTSTRAP": bootstrap})
        env["ODRADEK_RESYNC_SECONDS"] = str(resync_s)
        command = [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace=default"]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*command, "-m", "odradek.operator.main"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=work,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the operator exited with {self.proc.returncode}:\n{self.tail()}")

    def timer_runs(self) -> int:
        """KafkaTopic resync timer runs so far, counted in the operator's log: one per KafkaTopic per period with a
        timer per KafkaTopic (`topic_resync`, before), one per KafkaCluster per period since (`topics_resync`)."""
        return len(re.findall(r"Timer 'topics?_resync' succeeded", self.log.read_text(errors="replace")))

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid)

    def rss_mb(self) -> float:
        return status_kb(self.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return status_kb(self.pid, "VmHWM") / 1024

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass(frozen=True, slots=True)
class Environment:
    kube_api: KubeApi
    kubelet: Kubelet
    operator: OperatorProcess


@contextlib.contextmanager
def environment(work: Path, cluster: dict[str, Any], tree: Path, resync_s: float) -> Iterator[Environment]:
    """A fresh fake API server, test kubelet and operator process with `cluster` applied and Ready; all stopped
    afterwards (the kubelet leaves no process; its errors are raised)."""
    work.mkdir(parents=True)
    kube_api = KubeApi(work, bookmark_interval=1.0)
    kube_api.start()
    kubelet = Kubelet(kube_api, work / "kubelet")
    kubelet.start()
    try:
        apply_crds(kube_api)
        brokers = int(cluster["spec"]["kafka"]["replicas"])
        bootstrap = ",".join(
            f"{kubelet.pod_ip('default', f'{CLUSTER}-kafka-{i}')}:{REPLICATION_PORT}" for i in range(brokers)
        )
        operator = OperatorProcess(work, kube_api, bootstrap, tree, resync_s)
        try:
            began = time.perf_counter()
            start_cluster(kube_api, kubelet, cluster)
            operator.alive()
            print(f"  cluster of {brokers} broker(s) Ready in {time.perf_counter() - began:.1f} s", flush=True)
            yield Environment(kube_api, kubelet, operator)
        finally:
            operator.stop()
    finally:
        kubelet.stop()
        kube_api.stop()
    if kubelet.errors:
        raise RuntimeError(f"kubelet errors: {kubelet.errors}")


# ---------------------------------------------------------------- KafkaTopics


def kafka_topic(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.odradek.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "labels": {"odradek.io/cluster": CLUSTER}},
        "spec": {"partitions": 1, "replicas": 1, "config": {"retention.ms": 3600000}},
    }


def is_ready(resource: dict[str, Any] | None) -> bool:
    status = (resource or {}).get("status") or {}
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def sequential_applies(env: Environment, prefix: str, count: int, spacing_s: float = 0.0) -> dict[str, Any]:
    """`count` KafkaTopics applied one at a time (`kubectl apply -f -`), each waited for until Ready=True; an apply
    starts `spacing_s` after the one before started (or when it is Ready, if later)."""
    total_s: list[float] = []
    after_kubectl_s: list[float] = []
    timed_out = False
    first = time.perf_counter()
    for i in range(count):
        name = f"{prefix}-{i:03d}"
        time.sleep(max(0.0, first + i * spacing_s - time.perf_counter()))
        began = time.perf_counter()
        applied = env.kube_api.kubectl("apply", "-f", "-", input=yaml.safe_dump(kafka_topic(name)))
        if applied.returncode != 0:
            raise RuntimeError(applied.stderr)
        kubectl_done = time.perf_counter()
        end = kubectl_done + APPLY_TIMEOUT_S
        while not is_ready(env.kube_api.get("kafkatopics", "default", name)) and time.perf_counter() < end:
            env.operator.alive()
            time.sleep(0.01)
        ready = time.perf_counter()
        total_s.append(ready - began)
        after_kubectl_s.append(ready - kubectl_done)
        if ready >= end:
            # counted at the timeout (so p99 shows it), and the series ends: the next would wait as long
            print(f"  {name} not Ready {APPLY_TIMEOUT_S:.0f} s after its apply; {i + 1} of {count} applies done")
            timed_out = True
            break
    p50, p99 = quantiles(total_s, 0.5, 0.99)
    k50, k99 = quantiles(after_kubectl_s, 0.5, 0.99)
    return {
        "applies": len(total_s),
        "timed_out": timed_out,
        "p50_s": p50,
        "p99_s": p99,
        "max_s": max(total_s),
        "after_kubectl_p50_s": k50,
        "after_kubectl_p99_s": k99,
        "samples_s": total_s,
    }


def bulk_apply(env: Environment, work: Path, count: int, profile: Path | None) -> dict[str, Any]:
    """`count` KafkaTopics in one file, `kubectl apply -f FILE`; time until all are Ready=True."""
    manifest = work / "topics.yaml"
    manifest.write_text(yaml.safe_dump_all([kafka_topic(f"bulk-{i:04d}") for i in range(count)]))
    rss_before, cpu_before = env.operator.rss_mb(), env.operator.cpu_s()
    machine_before, own_before = machine_busy_s(), own_cpu_s()
    profiler = Profiler(env.operator.pid, profile / "operator-bulk.txt") if profile else None
    kubectl_log = work / "kubectl-apply.log"  # a file, not a pipe: 1,000 objects' warnings could fill a pipe
    began = time.perf_counter()
    with open(kubectl_log, "wb") as log:
        kubectl = subprocess.Popen(
            [*kubectl_command(env.kube_api), "apply", "-f", str(manifest)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=kubectl_env(env.kube_api),
        )
    kubectl_s: float | None = None
    ready, first_ready_s, peak_rss = 0, None, rss_before
    timeout_s = max(300.0, count * 0.6)
    try:
        while True:
            now = time.perf_counter()
            if kubectl_s is None and kubectl.poll() is not None:
                kubectl_s = now - began
                if kubectl.returncode != 0:
                    raise RuntimeError(kubectl_log.read_text(errors="replace")[-3000:])
            topics = env.kube_api.list("kafkatopics", "default")
            ready = sum(1 for t in topics if t["metadata"]["name"].startswith("bulk-") and is_ready(t))
            peak_rss = max(peak_rss, env.operator.rss_mb())
            if ready and first_ready_s is None:
                first_ready_s = now - began
            if ready >= count and kubectl_s is not None:
                break  # `now` is when all were seen Ready
            if now - began > timeout_s:
                print(f"  only {ready} of {count} Ready after {timeout_s:.0f} s", flush=True)
                break
            env.operator.alive()
            time.sleep(0.25)
        # taken before py-spy is stopped, which takes a while
        all_ready_s = now - began
        cpu_s = env.operator.cpu_s() - cpu_before
        machine_after, own_s = machine_busy_s(), own_cpu_s() - own_before
    finally:
        if kubectl.poll() is None:
            kubectl.kill()
        kubectl.wait(10)
        if profiler:
            profiler.stop()
    if profile:
        profile_summary(profile / "operator-bulk.txt")
    busy = (machine_after[0] - machine_before[0]) / max(machine_after[1] - machine_before[1], 1e-9)
    names = listed_topics(operator_client(env.kube_api, env.kubelet))
    missing = [i for i in range(count) if f"bulk-{i:04d}" not in names]
    return {
        "topics": count,
        "ready": ready,
        "all_ready_s": all_ready_s,
        "first_ready_s": first_ready_s,
        "kubectl_s": kubectl_s,
        "operator_cpu_s": cpu_s,
        "operator_rss_before_mb": rss_before,
        "operator_rss_sampled_peak_mb": peak_rss,
        "operator_peak_rss_mb": env.operator.peak_rss_mb(),
        "missing_on_broker": len(missing),
        "began": began,
        "machine_busy": busy,
        "bench_process_cpu_s": own_s,
    }


def profile_summary(path: Path, top: int = 14) -> list[tuple[str, float]]:
    """From py-spy's raw output (one `frame;frame;... count` line per stack, a `thread (...)` frame first): the
    operator's own frames (odradek/operator) and the library calls they make, each with its inclusive share of all
    samples, largest first; printed."""
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        frames = stack.split(";")
        seen = {f for i, f in enumerate(frames) if "operator/" in f or (i and "operator/" in frames[i - 1])}
        for frame in seen:
            counts[frame] = counts.get(frame, 0) + int(count)
    shares = sorted(((frame, n / max(total, 1)) for frame, n in counts.items()), key=lambda x: -x[1])[:top]
    print(f"  py-spy of the operator ({total} samples, inclusive share of each):", flush=True)
    for frame, share in shares:
        print(f"    {share:6.1%}  {frame}", flush=True)
    return shares


def kubectl_command(kube_api: KubeApi) -> list[str]:
    # KubeApi.kubectl waits for kubectl; the bulk apply needs it in the background while Ready is counted
    from fake_apiserver.fixture import KUBECTL

    return [KUBECTL, f"--kubeconfig={kube_api.kubeconfig}", f"--cache-dir={kube_api.cache_dir}"]


def kubectl_env(kube_api: KubeApi) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(kube_api.kubeconfig), "HOME": str(kube_api.workdir)}


def listed_topics(config: dict[str, Any]) -> set[str]:
    admin = AdminClient(config)
    return set(admin.list_topics(timeout=30).topics)


def run_topics(
    work: Path, sizes: Sizes, profile: Path | None, tree: Path, resync_s: float, skip_resync: bool
) -> dict[str, Any]:
    print("KafkaTopics (one broker)", flush=True)
    with environment(work / "topics", secured_single_broker(), tree, resync_s) as env:
        result: dict[str, Any] = {"operator_rss_idle_mb": env.operator.rss_mb()}
        result["idle"] = sequential_applies(env, "idle", sizes.applies)
        report_applies(f"{sizes.applies} applies, idle operator", result["idle"])
        result["bulk"] = bulk_apply(env, work, sizes.topics, profile)
        report_bulk(result["bulk"])
        result["loaded"] = sequential_applies(env, "loaded", sizes.applies)
        report_applies(f"{sizes.applies} applies, {sizes.topics} managed", result["loaded"])
        ratio = result["loaded"]["p99_s"] / result["idle"]["p99_s"]
        print(f"  p99 with {sizes.topics} topics managed / idle: {ratio:.2f} x", flush=True)
        if not skip_resync:
            result["resync"] = resync_series(env, result["bulk"], sizes, resync_s)
            result["resync_cost"] = resync_cost(env, sizes, resync_s)
            report_resync_cost(sizes.topics, result["resync_cost"])
        result["operator_peak_rss_mb"] = env.operator.peak_rss_mb()
        result["operator_cpu_total_s"] = env.operator.cpu_s()
    return result


def resync_series(env: Environment, bulk: dict[str, Any], sizes: Sizes, resync_s: float) -> dict[str, Any]:
    """Sequential applies while the bulk topics' resync timers run. kopf fires each (`initial_delay` and `idle` both
    resync_s) about resync_s after the topic's last change (its Ready status), so the applies are spread over that
    window: from resync_s after the bulk apply began until 10 s after resync_s past the last Ready."""
    time.sleep(max(0.0, bulk["began"] + resync_s - time.perf_counter()))
    timers_before = env.operator.timer_runs()
    spacing = (bulk["all_ready_s"] + 10.0) / sizes.applies
    result = sequential_applies(env, "resync", sizes.applies, spacing)
    result["timer_runs_meanwhile"] = env.operator.timer_runs() - timers_before
    report_applies(f"{sizes.applies} applies, during the resync of the {sizes.topics}", result)
    print(f"  ({result['timer_runs_meanwhile']} KafkaTopic resyncs ran meanwhile)", flush=True)
    return result


RESYNC_PERIODS = 2


def resync_cost(env: Environment, sizes: Sizes, resync_s: float) -> dict[str, Any]:
    """What resyncing the managed KafkaTopics costs with nothing else happening: over RESYNC_PERIODS resync
    periods right after the third apply series (every KafkaTopic is resynced once per period whatever the design),
    the operator's CPU seconds, its timer runs, the KafkaTopic PATCHes the fake API server served and the broker's
    DescribeConfigs and Metadata requests (its /metrics, kafka_network_requestmetrics_requests_total), per period."""
    pod = env.kubelet.pod_ip("default", f"{CLUSTER}-kafka-0")
    window = RESYNC_PERIODS * resync_s
    cpu, timers, patches, kafka = env.operator.cpu_s(), env.operator.timer_runs(), topic_patches(env), served(pod)
    time.sleep(window)
    env.operator.alive()
    after = served(pod)
    per = 1.0 / RESYNC_PERIODS
    return {
        "topics": sizes.topics + 3 * sizes.applies,
        "window_s": window,
        "operator_cpu_s_per_period": (env.operator.cpu_s() - cpu) * per,
        "timer_runs_per_period": (env.operator.timer_runs() - timers) * per,
        "topic_patches_per_period": (topic_patches(env) - patches) * per,
        "kafka_requests_per_period": {api: (after.get(api, 0.0) - kafka.get(api, 0.0)) * per for api in after},
    }


def topic_patches(env: Environment) -> int:
    """KafkaTopic PATCH requests (the resyncs' status writes) the fake API server has served."""
    return sum(1 for method, path, _ in list(env.kube_api.requests) if method == "PATCH" and "/kafkatopics/" in path)


def served(pod_ip: str) -> dict[str, float]:
    """DescribeConfigs and Metadata requests the broker at `pod_ip` has served (its metrics port, 9404)."""
    with urllib.request.urlopen(f"http://{pod_ip}:9404/metrics", timeout=10) as response:
        text = response.read().decode()
    counts: dict[str, float] = {"DescribeConfigs": 0.0, "Metadata": 0.0}
    for api, value in re.findall(
        r'^kafka_network_requestmetrics_requests_total\{request="(\w+)",[^}]*\} (\S+)$', text, re.M
    ):
        if api in counts:
            counts[api] += float(value)
    return counts


def report_resync_cost(topics: int, cost: dict[str, Any]) -> None:
    kafka = cost["kafka_requests_per_period"]
    print(
        f"  resync of {cost['topics']} KafkaTopics ({topics} + the applies'), per period, nothing else happening: "
        f"operator {cost['operator_cpu_s_per_period']:.2f} CPU s, {cost['timer_runs_per_period']:.0f} timer runs, "
        f"{cost['topic_patches_per_period']:.0f} KafkaTopic PATCHes, {kafka['DescribeConfigs']:.0f} DescribeConfigs "
        f"and {kafka['Metadata']:.0f} Metadata requests",
        flush=True,
    )


def report_applies(label: str, applies: dict[str, Any]) -> None:
    print(
        f"  {label}: apply-to-Ready p50 {applies['p50_s']:.3f} s, p99 {applies['p99_s']:.3f} s "
        f"(target p99 < {P99_TARGET_S:.0f} s), max {applies['max_s']:.3f} s; after kubectl returned: "
        f"p50 {applies['after_kubectl_p50_s']:.3f} s, p99 {applies['after_kubectl_p99_s']:.3f} s",
        flush=True,
    )


def report_bulk(bulk: dict[str, Any]) -> None:
    count = bulk["topics"]
    print(
        f"  {count} KafkaTopics, one kubectl apply -f: {bulk['ready']} Ready in {bulk['all_ready_s']:.1f} s "
        f"(target {count} within {TOPICS_TARGET_S:.0f} s; kubectl itself {bulk['kubectl_s'] or 0:.1f} s, "
        f"first Ready at {bulk['first_ready_s'] or 0:.1f} s)",
        flush=True,
    )
    print(
        f"  operator: {bulk['operator_cpu_s']:.1f} CPU s ({bulk['operator_cpu_s'] / count * 1000:.1f} ms per topic), "
        f"peak RSS {bulk['operator_peak_rss_mb']:.0f} MB (target < {RSS_TARGET_MB:.0f} MB; "
        f"{bulk['operator_rss_before_mb']:.0f} MB before the apply)",
        flush=True,
    )
    print(
        f"  meanwhile: the machine {bulk['machine_busy']:.0%} busy (all cores), this process (fake API server, test "
        f"kubelet, the Ready poll) {bulk['bench_process_cpu_s']:.1f} CPU s",
        flush=True,
    )
    print(f"  on the broker: {count - bulk['missing_on_broker']} of {count} topics listed", flush=True)


# ---------------------------------------------------------------- rolling restart


def run_roll(work: Path, tree: Path, resync_s: float) -> dict[str, Any]:
    print("Rolling restart (three brokers)", flush=True)
    with environment(work / "roll", example("kafka-cluster.yaml"), tree, resync_s) as env:
        kube_api = env.kube_api
        applied = kube_api.kubectl("apply", "-f", str(REPO / "examples" / "kafka-topic.yaml"))
        if applied.returncode != 0:
            raise RuntimeError(applied.stderr)
        eventually(lambda: is_ready(kube_api.get("kafkatopics", "default", "orders")), timeout=READY_TIMEOUT_S)
        client = operator_client(kube_api, env.kubelet)
        brokers = int(example("kafka-cluster.yaml")["spec"]["kafka"]["replicas"])
        before = broker_uids(kube_api, brokers)
        cpu_before = env.operator.cpu_s()
        with KeptProducing(client, "orders") as producing:
            eventually(lambda: producing.delivered > 50, timeout=60)
            began = time.perf_counter()
            roll(kube_api, {"log.retention.hours": 100})
            eventually(lambda: rolled(kube_api, before) and brokers_ready(kube_api, brokers), ROLL_TIMEOUT_S, 0.2)
            roll_s = time.perf_counter() - began
            count = producing.delivered
            eventually(lambda: producing.delivered > count + 50, timeout=60)
        result = {
            "brokers": brokers,
            "roll_s": roll_s,
            "delivered": producing.delivered,
            "failed": len(producing.failed),
            "first_failures": [str(err) for err in producing.failed[:5]],
            "longest_stall_s": producing.longest_stall(),
            "operator_cpu_s": env.operator.cpu_s() - cpu_before,
            "operator_peak_rss_mb": env.operator.peak_rss_mb(),
        }
    print(
        f"  roll of {brokers} brokers under an acks=all producer: {roll_s:.1f} s (patch -> every broker replaced and "
        f"Ready); {result['delivered']} delivered, {result['failed']} failed (target 0); longest pause between "
        f"acks {result['longest_stall_s']:.2f} s; operator {result['operator_cpu_s']:.1f} CPU s, "
        f"peak RSS {result['operator_peak_rss_mb']:.0f} MB",
        flush=True,
    )
    return result


def brokers_ready(kube_api: KubeApi, brokers: int) -> bool:
    return all(is_ready(kube_api.get("pods", "default", f"{CLUSTER}-kafka-{i}")) for i in range(brokers))


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 topics, 10 applies, no roll")
    parser.add_argument("--topics", type=int, help="KafkaTopics applied at once")
    parser.add_argument("--applies", type=int, help="sequential applies (each of the two runs)")
    parser.add_argument("--skip-topics", action="store_true")
    parser.add_argument("--skip-roll", action="store_true")
    parser.add_argument("--profile", type=Path, help="py-spy the operator during the bulk apply into this folder")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument(
        "--resync-seconds",
        type=float,
        help="the operator's ODRADEK_RESYNC_SECONDS (default: 120, the operator's own; --quick: 30); the third "
        "apply series waits for it",
    )
    parser.add_argument("--skip-resync", action="store_true", help="no third apply series (no wait for the resync)")
    parser.add_argument(
        "--operator-tree",
        type=Path,
        default=REPO,
        help="run the operator (and the broker package it imports) of another checkout (`git archive REV operator "
        "broker | tar -x -C DIR`), e.g. a baseline; the brokers, kubelet and fake API server stay this checkout's",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    sizes = Sizes(args.topics or sizes.topics, args.applies or sizes.applies, sizes.roll and not args.skip_roll)
    resync_s = args.resync_seconds or (30.0 if args.quick else 120.0)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"machine": machine(), "sizes": {"topics": sizes.topics, "applies": sizes.applies}}
    result["operator_tree"] = str(args.operator_tree.resolve())
    work = Path(tempfile.mkdtemp(prefix="odradek-opbench-"))
    try:
        if not args.skip_topics:
            result["topics"] = run_topics(work, sizes, args.profile, args.operator_tree, resync_s, args.skip_resync)
        if sizes.roll:
            result["roll"] = run_roll(work, args.operator_tree, resync_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_result(args.out, "operator", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
