"""kopf (KopfRunner, the real kopf from PyPI) against the fake API server: create -> handler -> status patched ->
delete through the finalizer; a watch that gets 410 Gone relists and keeps handling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_apiserver.fixture import KubeApi, eventually

kopf_testing = pytest.importorskip("kopf.testing")

HERE = Path(__file__).parent
CRD = HERE / "manifests" / "widget-crd.yaml"
OPERATOR = HERE / "widget_operator.py"
DEADLINE = 30.0


def widget(name: str, size: int) -> str:
    return f"apiVersion: fake.odradek.io/v1\nkind: Widget\nmetadata: {{name: {name}}}\nspec: {{size: {size}}}\n"


@pytest.fixture
def operator(kube_api: KubeApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    assert kube_api.kubectl("apply", "-f", str(CRD)).returncode == 0
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    args = ["run", "--standalone", "--namespace=default", "--verbose", str(OPERATOR)]
    with kopf_testing.KopfRunner(args, timeout=DEADLINE) as runner:
        yield runner
    assert runner.exception is None, runner.output
    assert runner.exit_code == 0, runner.output


def test_create_handler_status_and_delete_through_the_finalizer(kube_api: KubeApi, operator: Any) -> None:
    assert kube_api.kubectl("apply", "-f", "-", input=widget("w1", 3)).returncode == 0
    stored = eventually(
        lambda: (w := kube_api.get("widgets", "default", "w1")) and w.get("status", {}).get("created") and w
    )
    assert stored["status"]["created"] == {"size": 3}
    assert "fake.odradek.io/widget-operator" in stored["metadata"]["finalizers"]
    events = eventually(
        lambda: [
            e
            for e in kube_api.list("events", "default")
            if e["involvedObject"].get("name") == "w1" and e["reason"] == "Created"
        ]
    )
    assert events[0]["message"] == "widget of size 3"

    patched = kube_api.kubectl("patch", "widget", "w1", "--type=merge", "-p", '{"spec": {"size": 5}}')
    assert patched.returncode == 0, patched.stderr
    eventually(lambda: (kube_api.get("widgets", "default", "w1") or {}).get("status", {}).get("sizeSeen") == 5)

    deleted = kube_api.kubectl("delete", "widget", "w1", "--timeout=20s")
    assert deleted.returncode == 0, deleted.stderr
    assert kube_api.get("widgets", "default", "w1") is None


def test_a_watch_ended_by_410_gone_relists_and_keeps_handling(kube_api: KubeApi, operator: Any) -> None:
    assert kube_api.kubectl("apply", "-f", "-", input=widget("before", 1)).returncode == 0
    eventually(lambda: (kube_api.get("widgets", "default", "before") or {}).get("status", {}).get("created"))
    served = len(kube_api.requests)
    kube_api.compact()
    assert kube_api.kubectl("apply", "-f", "-", input=widget("after", 2)).returncode == 0
    eventually(lambda: (kube_api.get("widgets", "default", "after") or {}).get("status", {}).get("created"))
    relists = [
        path
        for method, path, agent in kube_api.requests[served:]
        if agent.startswith("kopf") and path == "/apis/fake.odradek.io/v1/namespaces/default/widgets"
    ]
    assert relists, "kopf did not relist after 410 Gone"
