"""The HTTP sink task against a local aiohttp server (tests/http_support.py) that fails the first requests.

Batching (JSON arrays, string bodies with prefix/separator/suffix, `${topic}` URLs), headers and basic
authentication, retries on the configured status codes with constant and exponential backoff, what happens when
retries run out (fail, log, ignore, or the errant record reporter), and validation naming the offending key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from http_support import RecordingServer
from odradek.connect.api.data import INT32_SCHEMA, STRING_SCHEMA, Struct, struct_of
from odradek.connect.api.errors import ConnectException
from odradek.connect.api.records import SinkRecord
from odradek.connect.connectors.http import HttpSinkConnector, HttpSinkTask, parse_status_codes


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    srv = RecordingServer(fail_first={"/flaky": 2}, always={"/bad": 400, "/down": 503}).start()
    try:
        yield srv
    finally:
        srv.stop()


class Reporter:
    def __init__(self) -> None:
        self.reported: list[tuple[SinkRecord, BaseException]] = []

    def report(self, record: SinkRecord, error: BaseException) -> None:
        self.reported.append((record, error))


class Context:
    def __init__(self, reporter: Reporter | None) -> None:
        self.reporter = reporter

    def errant_record_reporter(self) -> Reporter | None:
        return self.reporter


def task_for(reporter: Reporter | None = None, **props: str) -> HttpSinkTask:
    task = HttpSinkTask()
    task.initialize(Context(reporter))  # type: ignore[arg-type]
    task.start({"retry.backoff.ms": "10", **{k.replace("_", "."): v for k, v in props.items()}})
    return task


def rec(offset: int, value: Any, topic: str = "orders", schema: Any = None) -> SinkRecord:
    return SinkRecord(topic, 0, None, None, schema, value, None, kafka_offset=offset)


def test_json_array_batches_headers_auth_and_retries(server: RecordingServer) -> None:
    task = task_for(
        http_api_url=server.url("/flaky"),
        request_body_format="json",
        batch_max_size="3",
        batch_json_as_array="true",
        headers="X-Team:data|X-Trace: abc",
        auth_type="BASIC",
        connection_user="u",
        connection_password="p",
    )
    schema = struct_of([("id", INT32_SCHEMA), ("name", STRING_SCHEMA)])
    task.put([rec(i, Struct(schema, {"id": i, "name": f"n{i}"}), schema=schema) for i in range(7)])
    seen = server.requests_to("/flaky")
    assert [s.status for s in seen] == [503, 503, 200, 200, 200]
    # The failed request is sent again unchanged, then the next batches in order.
    bodies = [json.loads(s.body) for s in seen]
    assert bodies[0] == bodies[1] == bodies[2] == [{"id": i, "name": f"n{i}"} for i in range(3)]
    assert [b[0]["id"] for b in bodies[3:]] == [3, 6] and len(bodies[3]) == 3 and len(bodies[4]) == 1
    headers = seen[-1].headers
    assert headers["X-Team"] == "data" and headers["X-Trace"] == "abc"
    assert headers["Content-Type"] == "application/json" and headers["Authorization"] == "Basic dTpw"
    assert all(s.method == "POST" for s in seen)


def test_string_bodies_put_and_topic_urls(server: RecordingServer) -> None:
    task = task_for(
        http_api_url=server.url("/t/${topic}"),
        request_method="put",
        batch_max_size="10",
        batch_prefix="<",
        batch_suffix=">",
        batch_separator=";",
    )
    task.put([rec(0, "a"), rec(1, b"b"), rec(2, "c", topic="other"), rec(3, "d")])
    assert [(s.method, s.path, s.body) for s in server.seen] == [
        ("PUT", "/t/orders", b"<a;b>"),
        ("PUT", "/t/other", b"<c>"),
        ("PUT", "/t/orders", b"<d>"),
    ]
    assert server.seen[0].headers["Content-Type"] == "text/plain"


def test_a_status_outside_retry_codes_fails_at_once(server: RecordingServer) -> None:
    task = task_for(http_api_url=server.url("/bad"), retry_on_status_codes="500-")
    with pytest.raises(ConnectException, match="status 400 after 0 retries"):
        task.put([rec(5, "x")])
    assert len(server.requests_to("/bad")) == 1


def test_retries_run_out_then_behavior_on_error(server: RecordingServer) -> None:
    with pytest.raises(ConnectException, match="status 503 after 3 retries"):
        task_for(http_api_url=server.url("/down"), max_retries="3").put([rec(0, "x")])
    assert len(server.requests_to("/down")) == 4
    task_for(http_api_url=server.url("/down"), max_retries="1", behavior_on_error="log").put([rec(0, "x")])
    task_for(http_api_url=server.url("/down"), max_retries="0", behavior_on_error="ignore").put([rec(0, "x")])
    assert len(server.requests_to("/down")) == 4 + 2 + 1


def test_errant_reporter_gets_the_records_of_a_failed_batch(server: RecordingServer) -> None:
    reporter = Reporter()
    task = task_for(reporter, http_api_url=server.url("/${topic}"), max_retries="1", batch_max_size="2")
    task.put([rec(0, "ok", topic="fine"), rec(1, "x", topic="bad"), rec(2, "y", topic="bad")])
    assert [(r.topic, r.kafka_offset) for r, _ in reporter.reported] == [("bad", 1), ("bad", 2)]
    assert "status 400" in str(reporter.reported[0][1])
    assert [s.path for s in server.seen] == ["/fine", "/bad", "/bad"]


def test_backoff_constant_and_exponential(server: RecordingServer) -> None:
    started = time.monotonic()
    task_for(http_api_url=server.url("/flaky"), retry_backoff_ms="300", retry_backoff_policy="CONSTANT_VALUE").put(
        [rec(0, "x")]
    )
    assert time.monotonic() - started >= 0.6  # two waits of 300 ms
    assert len(server.requests_to("/flaky")) == 3


def test_no_server_is_retried_as_a_connection_failure() -> None:
    task = task_for(http_api_url="http://127.0.0.1:9/nothing", max_retries="2", http_request_timeout_ms="2000")
    with pytest.raises(ConnectException, match="no response after 2 retries"):
        task.put([rec(0, "x")])
    assert task.requests == 3


def test_status_code_ranges() -> None:
    assert parse_status_codes("400-") == [(400, 999)]
    assert parse_status_codes("500-599, 429") == [(500, 599), (429, 429)]
    with pytest.raises(ValueError):
        parse_status_codes("abc")


def test_validation_names_the_offending_keys() -> None:
    def errors(props: dict[str, str]) -> dict[str, list[str]]:
        return {v.name: v.errors for v in HttpSinkConnector().validate(props) if v.errors}

    assert errors({"http.api.url": "http://h/x"}) == {}
    assert list(errors({"http.api.url": "ftp://h"})) == ["http.api.url"]
    assert list(errors({"http.api.url": "http://h", "retry.on.status.codes": "4xx"})) == ["retry.on.status.codes"]
    assert list(errors({"http.api.url": "http://h", "headers": "novalue"})) == ["headers"]
    assert list(errors({"http.api.url": "http://h", "request.method": "GET"})) == ["request.method"]
    assert list(errors({"http.api.url": "http://h", "auth.type": "BASIC"})) == ["connection.user"]


class RecordingEvent:
    """Stands in for the task's stop event: records each backoff instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.waits.append(round(seconds, 3))
        return False

    def is_set(self) -> bool:
        return False

    def set(self) -> None:
        pass


def test_exponential_backoff_doubles_with_jitter_under_it(
    server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import odradek.connect.connectors.http as http_module

    server.fail_first["/slow"] = 3
    monkeypatch.setattr(http_module.random, "uniform", lambda low, high: high)  # the jitter's upper bound
    task = task_for(http_api_url=server.url("/slow"), retry_backoff_ms="100")
    task.stopping = RecordingEvent()  # type: ignore[assignment]
    task.put([rec(0, "x")])
    assert task.stopping.waits == [0.1, 0.2, 0.4]  # type: ignore[attr-defined]
    constant = task_for(http_api_url=server.url("/slow"), retry_backoff_ms="100", retry_backoff_policy="CONSTANT_VALUE")
    server.fail_first["/slow"] = 4 + 3  # 4 requests so far: the next 3 fail
    constant.stopping = RecordingEvent()  # type: ignore[assignment]
    constant.put([rec(1, "y")])
    assert constant.stopping.waits == [0.1, 0.1, 0.1]  # type: ignore[attr-defined]


def test_key_in_the_url(server: RecordingServer) -> None:
    task = task_for(http_api_url=server.url("/k/${key}"), batch_max_size="10")
    keyed = [SinkRecord("t", 0, None, key, None, "v", None, kafka_offset=i) for i, key in enumerate(["a", "a", "b/c"])]
    task.put(keyed)
    assert [(s.raw_path, s.body) for s in server.seen] == [("/k/a", b"v,v"), ("/k/b%2Fc", b"v")]
