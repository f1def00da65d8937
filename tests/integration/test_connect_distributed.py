"""`odradek connect-distributed` end to end: three workers against a real Odradek broker (module-scoped `broker`).

First scenario, with connect.protocol sessioned (incremental cooperative) and eager, in order (each wait bounded):
- three workers form the Connect group; the storage topics are created compacted with the configured partitions;
- a FileStreamSink with three tasks is created through a follower's REST API (forwarded to the leader), and its
  connector and tasks run, spread over the workers; records produced to the topic reach the file;
- one worker (not the leader) is killed with SIGKILL: within `scheduled.rebalance.max.delay.ms` plus the session
  timeout its tasks run on the survivors; every record produced before and after the kill is in the file (at least
  once, none lost);
- a new worker joins and takes its share (the leader revokes from the loaded workers and hands the tasks on).

Second: two workers; a request already forwarded (`?forward=false`) that reaches a follower is answered 409; a
FileStreamSource created by PUT through the follower produces its lines and its offsets reach the offsets topic
(GET .../offsets on the leader); pause, stop (zero tasks), resume, PATCH, a duplicate POST (409) and DELETE, all
through the follower, take effect on every worker; the internal POST /connectors/{c}/tasks refuses an unsigned
request (400), a bad signature (403) and an algorithm not accepted (400), and accepts one signed with the session
key read from the config topic, sent to the leader or through the follower (KIP-507).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from connect_support import DistributedConnectProcess
from it_support import BrokerProcess, ck_admin, ck_consume, ck_create_topic, ck_produce, unique_topic, wait_for

REBALANCE_DELAY_MS = 3000
SESSION_TIMEOUT_MS = 6000
GROUP_WAIT_S = 60.0
FAILOVER_WAIT_S = (REBALANCE_DELAY_MS + SESSION_TIMEOUT_MS) / 1000 + 30.0
RECORD_WAIT_S = 90.0
PARTITIONS = 3
NO_LEADER = "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway."
NOT_LEADER_AFTER_FORWARD = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"


@pytest.fixture
def workers(tmp_path: Path, broker: BrokerProcess) -> Iterator[Callable[..., DistributedConnectProcess]]:
    started: list[DistributedConnectProcess] = []
    prefix = unique_topic("connect-dist")

    def make(protocol: str = "sessioned") -> DistributedConnectProcess:
        proc = DistributedConnectProcess(
            tmp_path / f"worker{len(started)}",
            broker.bootstrap,
            prefix,
            {
                "scheduled.rebalance.max.delay.ms": str(REBALANCE_DELAY_MS),
                "session.timeout.ms": str(SESSION_TIMEOUT_MS),
                # the sink tasks' consumers: a killed worker's partitions move after this long, not librdkafka's 45 s
                "consumer.session.timeout.ms": str(SESSION_TIMEOUT_MS),
                "consumer.heartbeat.interval.ms": "1000",
                "connect.protocol": protocol,
            },
        )
        started.append(proc)
        return proc.start()  # type: ignore[return-value]

    try:
        yield make
    finally:
        for proc in started:
            proc.cleanup()


def status(worker: DistributedConnectProcess, name: str) -> dict[str, Any] | None:
    code, body, _ = worker.rest("GET", f"/connectors/{name}/status")
    return dict(body) if code == 200 else None


def running_tasks(worker: DistributedConnectProcess, name: str, count: int) -> dict[int, str] | None:
    """{task id: worker_id} once the connector and `count` tasks are RUNNING, else None."""
    body = status(worker, name)
    if body is None or body["connector"]["state"] != "RUNNING" or len(body["tasks"]) != count:
        return None
    if any(t["state"] != "RUNNING" for t in body["tasks"]):
        return None
    return {t["id"]: t["worker_id"] for t in body["tasks"]}


def leader_url(worker: DistributedConnectProcess) -> str:
    found = re.findall(r"Joined group at generation \d+ as \S+ \(leader \S+ at (\S+)\)", worker.output())
    return found[-1] if found else ""


def file_values(path: Path) -> set[str]:
    return set(path.read_text(encoding="utf-8").splitlines()) if path.exists() else set()


def post_signed(
    worker: DistributedConnectProcess, path: str, data: bytes, algorithm: str, signature: str
) -> tuple[int, Any]:
    headers = {
        "Content-Type": "application/json",
        "X-Connect-Authorization": signature,
        "X-Connect-Request-Signature-Algorithm": algorithm,
    }
    request = urllib.request.Request(worker.url + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def write(worker: DistributedConnectProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A REST write, retried while answered 409 for a rebalance (what Connect clients do); bounded."""

    def attempt() -> tuple[int, Any] | None:
        code, answer, _ = worker.rest(method, path, body)
        rebalancing = code == 409 and answer["message"] in (NO_LEADER, NOT_LEADER_AFTER_FORWARD)
        return None if rebalancing else (code, answer)

    return wait_for(attempt, timeout=GROUP_WAIT_S, interval=0.5, what=f"{method} {path} outside a rebalance")


def session_key(bootstrap: str, topic: str) -> dict[str, Any]:
    """The payload of the last `session-key` record of the config topic (JsonConverter envelope)."""
    from it_support import ck_watermarks

    _low, high = ck_watermarks(bootstrap, topic)
    found = [json.loads(r.value())["payload"] for r in ck_consume(bootstrap, topic, high) if r.key() == b"session-key"]
    assert found, "no session-key record"
    return dict(found[-1])


def produce(bootstrap: str, topic: str, start: int, count: int) -> set[str]:
    values = [f"record-{i}" for i in range(start, start + count)]
    for p in range(PARTITIONS):
        ck_produce(bootstrap, topic, [v.encode() for v in values[p::PARTITIONS]], partition=p)
    return set(values)


# Kafka's default protocol (sessioned) by default; the eager one, which takes the same path with a full revocation
# per rebalance, in the slow set (`make slow`: 34 s).
@pytest.mark.parametrize("protocol", ["sessioned", pytest.param("eager", marks=pytest.mark.slow)])
def test_three_workers_share_tasks_survive_a_kill_and_rebalance_onto_a_new_worker(
    broker: BrokerProcess, workers: Callable[..., DistributedConnectProcess], tmp_path: Path, protocol: str
) -> None:
    group = [workers(protocol) for _ in range(3)]
    leader = wait_for(
        lambda: next((w for w in group if all(leader_url(o) == w.url + "/" for o in group)), None),
        timeout=GROUP_WAIT_S,
        interval=0.5,
        what="one leader known to every worker",
    )
    prefix = group[0].extra["group.id"]
    topics = ck_admin(broker.bootstrap).list_topics(timeout=10).topics
    assert len(topics[f"{prefix}-configs"].partitions) == 1
    assert len(topics[f"{prefix}-offsets"].partitions) == 3
    assert len(topics[f"{prefix}-status"].partitions) == 2

    topic = unique_topic("connect-dist-in")
    ck_create_topic(broker.bootstrap, topic, PARTITIONS)
    out = tmp_path / "sink.txt"
    follower = next(w for w in group if w is not leader)
    config = {"connector.class": "FileStreamSink", "topics": topic, "file": str(out), "tasks.max": "3"}

    def create() -> tuple[int, Any] | None:
        code, body, _ = follower.rest("POST", "/connectors", {"name": "sink", "config": config})
        return None if code == 409 else (code, body)  # 409: a rebalance is underway, try again

    code, body = wait_for(create, timeout=GROUP_WAIT_S, interval=0.5, what="connector created through a follower")
    assert code == 201, body
    assert body["name"] == "sink" and body["type"] == "sink"
    placement = wait_for(
        lambda: running_tasks(leader, "sink", 3), timeout=GROUP_WAIT_S, interval=0.5, what="3 tasks RUNNING"
    )
    assert len(set(placement.values())) == 3, placement  # one task per worker
    # every worker serves the same view (the status topic is read asynchronously: wait for it)
    for w in group:
        wait_for(lambda w=w: running_tasks(w, "sink", 3) == placement, timeout=30, interval=0.5, what="same status")

    expected = produce(broker.bootstrap, topic, 0, 150)
    wait_for(
        lambda: expected <= file_values(out),
        timeout=RECORD_WAIT_S,
        interval=0.5,
        what="records before the kill in the file",
    )

    victim = next(w for w in group if w is not leader and w.worker_id in placement.values())
    moved = [t for t, wid in placement.items() if wid == victim.worker_id]
    victim.kill()
    killed_at = time.monotonic()
    expected |= produce(broker.bootstrap, topic, 150, 150)
    survivors = [w for w in group if w is not victim]

    def moved_to_survivors() -> dict[int, str] | None:
        now = running_tasks(leader, "sink", 3)
        if now is None or any(now[t] == victim.worker_id for t in moved):
            return None
        return now

    after = wait_for(
        moved_to_survivors, timeout=FAILOVER_WAIT_S, interval=0.5, what="the killed worker's tasks running elsewhere"
    )
    elapsed = time.monotonic() - killed_at
    assert set(after.values()) <= {w.worker_id for w in survivors}
    assert elapsed < FAILOVER_WAIT_S
    wait_for(lambda: expected <= file_values(out), timeout=RECORD_WAIT_S, interval=0.5, what="every record in the file")

    newcomer = workers(protocol)

    def newcomer_has_a_task() -> dict[int, str] | None:
        now = running_tasks(leader, "sink", 3)
        return now if now is not None and newcomer.worker_id in now.values() else None

    final = wait_for(newcomer_has_a_task, timeout=GROUP_WAIT_S, interval=0.5, what="the new worker running a task")
    assert len(set(final.values())) == 3, final
    expected |= produce(broker.bootstrap, topic, 300, 60)
    wait_for(
        lambda: expected <= file_values(out), timeout=RECORD_WAIT_S, interval=0.5, what="records after the new worker"
    )


def test_writes_through_a_follower_pause_stop_resume_offsets_delete(
    broker: BrokerProcess, workers: Callable[..., DistributedConnectProcess], tmp_path: Path
) -> None:
    group = [workers() for _ in range(2)]
    leader = wait_for(
        lambda: next((w for w in group if all(leader_url(o) == w.url + "/" for o in group)), None),
        timeout=GROUP_WAIT_S,
        interval=0.5,
        what="one leader known to every worker",
    )
    follower = next(w for w in group if w is not leader)

    # a forwarded request (forward=false) that reaches a follower is not forwarded again
    def forwarded_put() -> tuple[int, Any] | None:
        code, body, _ = follower.rest(
            "PUT", "/connectors/x/config?forward=false", {"connector.class": "FileStreamSink"}
        )
        return (code, body["message"]) if body["message"] != NO_LEADER else None

    assert wait_for(forwarded_put, timeout=GROUP_WAIT_S, interval=0.5, what="a stable group") == (
        409,
        NOT_LEADER_AFTER_FORWARD,
    )

    source_file = tmp_path / "in.txt"
    source_file.write_text("".join(f"line-{i}\n" for i in range(20)), encoding="utf-8")
    topic = unique_topic("connect-dist-src")
    ck_create_topic(broker.bootstrap, topic, 1)
    config = {"connector.class": "FileStreamSource", "file": str(source_file), "topic": topic}

    def put() -> tuple[int, Any] | None:
        code, body, _ = follower.rest("PUT", "/connectors/src/config", config)
        return None if code == 409 else (code, body)

    code, body = wait_for(put, timeout=GROUP_WAIT_S, interval=0.5, what="connector created by PUT via a follower")
    assert code == 201, body
    wait_for(lambda: running_tasks(follower, "src", 1), timeout=GROUP_WAIT_S, interval=0.5, what="source RUNNING")
    records = ck_consume(broker.bootstrap, topic, 20)
    assert [r.value().decode() for r in records] == [f"line-{i}" for i in range(20)]

    def offsets() -> Any:
        code, body, _ = leader.rest("GET", "/connectors/src/offsets")
        entries = body["offsets"] if code == 200 else []
        return entries if entries and entries[0]["offset"].get("position", 0) > 0 else None

    entries = wait_for(offsets, timeout=30, interval=0.5, what="source offsets in the offsets topic")
    # KIP-507: the internal task-config endpoint of a sessioned group takes only signed requests
    code, body, _ = leader.rest("POST", "/connectors/src/tasks", [{"task.class": "x"}])
    assert (code, body["message"]) == (400, "Internal request missing required signature")
    code, body = post_signed(leader, "/connectors/src/tasks", b'[{"task.class":"x"}]', "HmacSHA256", "AAAA")
    assert (code, body["message"]) == (403, "Internal request contained invalid signature.")
    code, body = post_signed(leader, "/connectors/src/tasks", b"[]", "HmacMD4", "AAAA")
    assert code == 400 and "key signing algorithm" in body["message"]
    # signed with the session key the leader wrote to the config topic: accepted, also through the follower
    session = session_key(broker.bootstrap, f"{group[0].extra['group.id']}-configs")
    assert session["algorithm"] == "HmacSHA256" and session["creation-timestamp"] > 0
    key = base64.b64decode(session["key"])
    assert len(key) == 32
    tasks = [t["config"] for t in leader.rest("GET", "/connectors/src/tasks")[1]]
    data = json.dumps(tasks).encode()
    good = base64.b64encode(hmac.new(key, data, hashlib.sha256).digest()).decode()
    for target in (leader, follower):
        assert post_signed(target, "/connectors/src/tasks", data, "HmacSHA256", good) == (204, None)
    assert entries[0]["partition"] == {"filename": str(source_file)}

    def state(worker: DistributedConnectProcess) -> tuple[str, int] | None:
        body = status(worker, "src")
        return None if body is None else (body["connector"]["state"], len(body["tasks"]))

    assert write(follower, "PUT", "/connectors/src/pause")[0] == 202
    wait_for(lambda: state(leader) == ("PAUSED", 1), timeout=30, interval=0.5, what="PAUSED")
    assert write(follower, "PUT", "/connectors/src/stop")[0] == 204
    wait_for(lambda: state(leader) == ("STOPPED", 0), timeout=30, interval=0.5, what="STOPPED with no tasks")
    assert write(follower, "PUT", "/connectors/src/resume")[0] == 202
    wait_for(lambda: running_tasks(leader, "src", 1), timeout=30, interval=0.5, what="RUNNING again")

    code, body = write(follower, "PATCH", "/connectors/src/config", {"batch.size": "10"})
    assert code == 200 and body["config"]["batch.size"] == "10", body
    assert write(follower, "POST", "/connectors", {"name": "src", "config": config}) == (
        409,
        {"error_code": 409, "message": "Connector src already exists"},
    )
    assert write(follower, "DELETE", "/connectors/src")[0] == 204
    for w in group:
        wait_for(lambda w=w: w.rest("GET", "/connectors/src")[0] == 404, timeout=30, interval=0.5, what="deleted")
    assert write(follower, "DELETE", "/connectors/src")[0] == 404
