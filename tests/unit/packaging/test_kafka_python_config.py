"""The one translation of client settings to kafka-python's (odradek.kafka_python), used by the CLI and the
operator (the key table: tests/unit/cli/test_security_tools.py and test_cli_transactions.py), and its one retry of
admin calls while the cluster cannot be reached (`admin_call`)."""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
import warnings

import pytest
from odradek.kafka_python import ATTEMPTS, admin_call, admin_config

with warnings.catch_warnings():  # kafka-python's import uses importlib.resources' deprecated read_text
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka.admin
    from kafka.errors import InvalidReplicationFactorError, KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError


def test_explicit_sasl_credentials_win_over_jaas() -> None:
    config = {"sasl.username": "x", "sasl.password": "y", "sasl.jaas.config": 'username="u" password="p"'}
    out = admin_config(config)
    assert (out["sasl_plain_username"], out["sasl_plain_password"]) == ("x", "y")


class _FlakyAdminClient:
    """KafkaAdminClient's stand-in: the first `failures` clients raise `error` (at construction, as kafka-python does
    when its bootstrap node refuses, or from the call); records each client's settings and whether it was closed."""

    failures = 0
    error: BaseException = ConnectionRefusedError()
    at_construction = False
    made: list[_FlakyAdminClient] = []

    def __init__(self, **settings: object) -> None:
        self.settings = settings
        self.closed = False
        self.called = False
        type(self).made.append(self)
        if len(type(self).made) <= type(self).failures and type(self).at_construction:
            raise type(self).error

    def answer(self) -> str:
        self.called = True
        if len(type(self).made) <= type(self).failures:
            raise type(self).error
        return "answered"

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> type[_FlakyAdminClient]:
    monkeypatch.setattr(_FlakyAdminClient, "made", [])
    monkeypatch.setattr(kafka.admin, "KafkaAdminClient", _FlakyAdminClient)
    return _FlakyAdminClient


@pytest.mark.parametrize(
    ("error", "at_construction"),
    [
        (ConnectionRefusedError(), True),
        (KafkaConnectionError(), True),
        (KafkaConnectionError(), False),
        (KafkaTimeoutError(), False),
        (NodeNotReadyError(1), False),
    ],
)
def test_admin_call_retries_with_a_new_client_while_unreachable(
    flaky: type[_FlakyAdminClient], monkeypatch: pytest.MonkeyPatch, error: BaseException, at_construction: bool
) -> None:
    monkeypatch.setattr(flaky, "failures", 2)
    monkeypatch.setattr(flaky, "error", error)
    monkeypatch.setattr(flaky, "at_construction", at_construction)
    assert admin_call({"bootstrap.servers": "b:9092"}, lambda admin: admin.answer(), 2.5) == "answered"
    assert len(flaky.made) == 3
    assert all(c.closed for c in flaky.made if c.called), "every client a call was made on is closed"
    assert flaky.made[-1].called
    assert flaky.made[-1].settings == {
        "bootstrap_servers": "b:9092",
        "request_timeout_ms": 2500,
        "bootstrap_timeout_ms": 2500,
    }


def test_admin_call_gives_up_after_its_attempts_as_a_connection_error(
    flaky: type[_FlakyAdminClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flaky, "failures", ATTEMPTS)
    monkeypatch.setattr(flaky, "error", KafkaTimeoutError("no answer"))
    with pytest.raises(KafkaConnectionError, match="no answer"):
        admin_call({}, lambda admin: admin.answer(), 1.0)
    assert len(flaky.made) == ATTEMPTS


def test_admin_call_does_not_retry_an_error_answer(
    flaky: type[_FlakyAdminClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flaky, "failures", 1)
    monkeypatch.setattr(flaky, "error", InvalidReplicationFactorError("refused"))
    with pytest.raises(InvalidReplicationFactorError):
        admin_call({}, lambda admin: admin.answer(), 1.0)
    assert len(flaky.made) == 1


def test_admin_call_does_not_bootstrap_again_after_a_bootstrap_timeout(
    flaky: type[_FlakyAdminClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """kafka-python's constructor waits the whole bootstrap timeout for a bootstrap server: once is enough."""
    monkeypatch.setattr(flaky, "failures", 1)
    monkeypatch.setattr(flaky, "error", KafkaTimeoutError("Unable to bootstrap from b:9092"))
    monkeypatch.setattr(flaky, "at_construction", True)
    with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
        admin_call({}, lambda admin: admin.answer(), 1.0)
    assert len(flaky.made) == 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_client_that_cannot_bootstrap_leaves_no_thread_socket_or_warning_behind() -> None:
    """Against a closed port, with real kafka-python: the client's network thread is stopped and every refused
    socket closed (kafka-python 3.0.12 leaves both otherwise), within the timeout given, not kafka-python's 30 s."""
    port = _closed_port()
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(2):
            with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
                admin_call({"bootstrap.servers": f"127.0.0.1:{port}"}, lambda admin: None, 0.5)
        gc.collect()
    assert time.monotonic() - started < 10.0
    deadline = time.monotonic() + 5.0
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == fds
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
