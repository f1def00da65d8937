"""The operator's chart installed, upgraded and uninstalled with the Helm SDK into the fake API server (tests/e2e,
`kube_api`): the three CRDs, the Deployment, the ServiceAccount and the RBAC; an upgrade to watchAnyNamespace swaps
the RoleBinding for a ClusterRoleBinding and the Deployment's args; uninstall keeps the CRDs (Helm's rule)."""

from __future__ import annotations

from pathlib import Path

import pytest

# the fake API server (tests/e2e/fake_apiserver, another part of issue 12): skipped where it is not there yet
fake_apiserver = pytest.importorskip("fake_apiserver.fixture")
KubeApi = fake_apiserver.KubeApi
helm = pytest.importorskip("helm_python")

CHART = Path(__file__).resolve().parents[2] / "charts" / "odradek-operator"
CRDS = ("kafkaclusters", "kafkatopics", "kafkausers")


def test_install_upgrade_uninstall(kube_api: KubeApi) -> None:
    config = helm.Config(kubeconfig_path=str(kube_api.kubeconfig), storage_driver="memory", namespace="default")
    release = config.install(str(CHART), "odradek-operator", {}, timeout=30)
    assert release["status"] == "deployed"
    for plural in CRDS:
        assert kube_api.get("customresourcedefinitions", None, f"{plural}.kafka.odradek.io") is not None
    deployment = kube_api.get("deployments", "default", "odradek-operator")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["--namespace=default"]
    assert kube_api.get("serviceaccounts", "default", "odradek-operator") is not None
    assert kube_api.get("rolebindings", "default", "odradek-operator-namespaced") is not None
    assert kube_api.get("clusterrolebindings", None, "odradek-operator-namespaced") is None

    config.upgrade(str(CHART), "odradek-operator", {"watchAnyNamespace": True}, timeout=30)
    deployment = kube_api.get("deployments", "default", "odradek-operator")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["--all-namespaces"]
    assert kube_api.get("clusterrolebindings", None, "odradek-operator-namespaced") is not None
    assert kube_api.get("rolebindings", "default", "odradek-operator-namespaced") is None

    config.uninstall("odradek-operator", timeout=30)
    assert kube_api.get("deployments", "default", "odradek-operator") is None
    assert kube_api.get("customresourcedefinitions", None, "kafkatopics.kafka.odradek.io") is not None
