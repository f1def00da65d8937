"""Fixtures for the integration tests: broker processes on 127.0.0.1 (see it_support.BrokerProcess).

- `broker`: one broker per test module (fast client tests share it; each test uses its own topics).
- `broker_factory`: function-scoped; `broker_factory({key: value}, metrics=...)` starts a fresh broker
  in the test's tmp_path (durability and bad-input tests). Every process started is killed in the finalizer
  if still running.
- `topic`: a topic name unique to the test.
- `etcd`: function-scoped; a one-member etcd in the test's tmp_path (etcd_support.EtcdCluster) for tests of
  several brokers on one metadata store (`etcd.url(prefix)`; helpers for them in cluster_support.py).
- `prometheus_factory`: function-scoped; `prometheus_factory(["127.0.0.1:<port>", ...])` starts Debian's
  Prometheus scraping those targets every second (prometheus_support.PrometheusProcess), stopped in the finalizer.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from etcd_support import EtcdCluster
from it_support import BrokerProcess, unique_topic
from prometheus_support import PrometheusProcess

with warnings.catch_warnings():
    # kafka-python 3.0 loads its JSON specs with the deprecated importlib.resources.open_text at import time;
    # pyproject turns warnings into errors, so import it once here, before the test modules are collected.
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka
    import kafka.admin  # noqa: F401


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(tmp_path_factory.mktemp("broker"))
    try:
        proc.start()
        yield proc
    finally:
        proc.cleanup()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., BrokerProcess]]:
    started: list[BrokerProcess] = []

    def make(overrides: dict[str, str] | None = None, metrics: bool = False) -> BrokerProcess:
        proc = BrokerProcess(tmp_path / f"broker{len(started)}", overrides=overrides, metrics=metrics)
        started.append(proc)
        return proc.start()

    try:
        yield make
    finally:
        for proc in started:
            proc.cleanup()


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    return unique_topic(f"it-{request.node.name}")


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdCluster]:
    with EtcdCluster(tmp_path / "etcd", 1) as cluster:
        yield cluster


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., PrometheusProcess]]:
    started: list[PrometheusProcess] = []

    def make(targets: list[str], scrape_interval: str = "1s") -> PrometheusProcess:
        proc = PrometheusProcess(tmp_path / f"prometheus{len(started)}", targets, scrape_interval)
        started.append(proc)
        return proc.start()

    try:
        yield make
    finally:
        for proc in started:
            proc.cleanup()
