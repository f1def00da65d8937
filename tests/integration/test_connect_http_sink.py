"""The HTTP sink end to end: confluent-kafka produces to an Odradek broker, `odradek connect-standalone` runs
io.confluent.connect.http.HttpSinkConnector against a local aiohttp server (tests/http_support.py).

- The server fails the first requests with 503: the sink retries with backoff, and every record arrives once, in
  order, in JSON-array batches of `batch.max.size`, with the configured headers; the group commits to the end.
- An endpoint answering 400 (not retried with `retry.on.status.codes=500-`): with errors.tolerance=all and a DLQ
  the records land in the DLQ topic, unchanged, with Kafka's `__connect.errors.*` headers, and the task stays
  RUNNING; with behavior.on.error=fail and no DLQ the task goes FAILED with the response in its trace while the
  other connectors keep running.
- A bad config: per-key errors from the validate endpoint, 400 naming the key from `POST /connectors`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from connect_support import ConnectProcess, write_properties
from http_support import RecordingServer
from it_support import BrokerProcess, ck_consume, ck_create_topic, ck_produce, unique_topic, wait_for

pytestmark = pytest.mark.integration

JSON = "org.apache.kafka.connect.json.JsonConverter"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    srv = RecordingServer(fail_first={"/flaky": 3}, always={"/bad": 400}).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[[str], ConnectProcess]]:
    started: list[ConnectProcess] = []

    def make(bootstrap: str) -> ConnectProcess:
        proc = ConnectProcess(tmp_path / "worker", bootstrap)
        started.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in started:
            proc.cleanup()


def http_sink(path: Path, name: str, topic: str, url: str, **extra: str) -> Path:
    return write_properties(
        path,
        {
            "name": name,
            "connector.class": "io.confluent.connect.http.HttpSinkConnector",
            "topics": topic,
            "http.api.url": url,
            "request.body.format": "json",
            "batch.json.as.array": "true",
            "batch.max.size": "5",
            "retry.backoff.ms": "100",
            "value.converter": JSON,
            "value.converter.schemas.enable": "false",
            **{k.replace("_", "."): v for k, v in extra.items()},
        },
    )


def status(worker: ConnectProcess, name: str) -> dict[str, Any]:
    code, body, _ = worker.rest("GET", f"/connectors/{name}/status")
    assert code == 200, body
    return dict(body)


def test_retries_batches_dlq_and_failure(
    broker: BrokerProcess,
    server: RecordingServer,
    worker_factory: Callable[[str], ConnectProcess],
    tmp_path: Path,
) -> None:
    good, bad, failing, dlq = (unique_topic(p) for p in ("http-good", "http-bad", "http-fail", "http-dlq"))
    for topic in (good, bad, failing):
        ck_create_topic(broker.bootstrap, topic)
    values = [json.dumps({"n": i}).encode() for i in range(12)]
    ck_produce(broker.bootstrap, good, values)
    ck_produce(broker.bootstrap, bad, values[:3])
    ck_produce(broker.bootstrap, failing, values[:1])
    files = [
        http_sink(tmp_path / "good.properties", "http-good", good, server.url("/flaky"), headers="X-Source:odradek"),
        http_sink(
            tmp_path / "bad.properties",
            "http-bad",
            bad,
            server.url("/bad"),
            retry_on_status_codes="500-",
            errors_tolerance="all",
            errors_deadletterqueue_topic_name=dlq,
            errors_deadletterqueue_topic_replication_factor="1",
            errors_deadletterqueue_context_headers_enable="true",
        ),
        http_sink(tmp_path / "fail.properties", "http-fail", failing, server.url("/bad"), max_retries="1"),
    ]
    worker = worker_factory(broker.bootstrap).start(files)

    wait_for(lambda: sum(s.status == 200 for s in server.requests_to("/flaky")) == 3, timeout=60, what="3 batches")
    flaky = server.requests_to("/flaky")
    assert [s.status for s in flaky][:3] == [503, 503, 503]
    delivered = [item for s in flaky if s.status == 200 for item in json.loads(s.body)]
    assert delivered == [{"n": i} for i in range(12)]
    assert [len(json.loads(s.body)) for s in flaky if s.status == 200] == [5, 5, 2]
    assert all(s.headers["X-Source"] == "odradek" and s.method == "POST" for s in flaky)

    dead = ck_consume(broker.bootstrap, dlq, 3, timeout=60)
    assert [m.value() for m in dead] == values[:3]
    headers = {k: v.decode() for k, v in dead[0].headers()}
    assert headers["__connect.errors.topic"] == bad and headers["__connect.errors.offset"] == "0"
    assert headers["__connect.errors.stage"] == "TASK_PUT"
    assert "status 400" in headers["__connect.errors.exception.message"]
    assert len(server.requests_to("/bad")) >= 1
    assert status(worker, "http-bad")["tasks"][0]["state"] == "RUNNING"

    failed = wait_for(
        lambda: (t := status(worker, "http-fail")["tasks"]) and t[0]["state"] == "FAILED" and t[0],
        timeout=60,
        what="the failing task FAILED",
    )
    assert "status 400 after 1 retries" in failed["trace"], failed
    assert status(worker, "http-good")["tasks"][0]["state"] == "RUNNING"

    code, body, _ = worker.rest(
        "PUT",
        "/connector-plugins/HttpSinkConnector/config/validate",
        {
            "name": "v",
            "connector.class": "HttpSink",
            "topics": good,
            "http.api.url": "localhost:80",
            "max.retries": "-1",
        },
    )
    assert code == 200 and body["error_count"] == 2, body
    bad_keys = sorted(c["value"]["name"] for c in body["configs"] if c["value"]["errors"])
    assert bad_keys == ["http.api.url", "max.retries"]
    code, body, _ = worker.rest(
        "POST",
        "/connectors",
        {"name": "x", "config": {"connector.class": "HttpSink", "topics": good, "http.api.url": "nope"}},
    )
    assert code == 400 and body["error_code"] == 400 and "http.api.url" in body["message"], body
    assert worker.stop() == 0
