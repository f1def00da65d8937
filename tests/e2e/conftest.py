"""End-to-end tests: the operator, the chart and the fake API server they run against (tests/e2e/README.md).

`kube_api` (fake_apiserver/fixture.py) is the fixture: a fresh fake API server per test, its kubeconfig, the real
kubectl bound to it and direct read helpers. pytest puts this folder on sys.path, so tests import
`fake_apiserver.fixture` for `KubeApi` and `eventually`. `kubelet` is a test kubelet (kubelet/kubelet.py) on that
server, stopped after the test with no process left and no error recorded. `broker` is a single broker process on
loopback (PLAINTEXT, test_operator_kopf.start_broker), its bootstrap address, stopped after the test.
"""

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_apiserver.fixture import KubeApi, kube_api
from kubelet import Kubelet
from test_operator_kopf import free_port, start_broker, stop_broker

with warnings.catch_warnings():
    # kafka-python 3.0.12 (behind the operator's client-quota requests, imported lazily there) reads its schemas with
    # importlib.resources' deprecated read_text at its first import. Imported first inside a KafkaUser handler,
    # that DeprecationWarning (attributed to importlib.resources._legacy, so pyproject's kafka.* filter misses it)
    # became the handler's exception under filterwarnings=error and the KafkaUser never got Ready: the KafkaUser
    # tests failed when run on their own. Imported here once, before any test.
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # noqa: F401


@pytest.fixture
def kubelet(kube_api: KubeApi, tmp_path: Path) -> Iterator[Kubelet]:
    node = Kubelet(kube_api, tmp_path / "kubelet")
    node.start()
    try:
        yield node
    finally:
        node.stop()
    assert node.errors == [], node.errors


__all__ = ["kube_api", "kubelet"]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = start_broker(tmp_path, port, {"listeners": f"PLAINTEXT://127.0.0.1:{port}"})
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_broker(proc)
