"""The Helm SDK (helm-python-sdk: Helm v4's Go SDK, no helm binary) installs, upgrades and uninstalls a chart in
the fake API server: CRDs from crds/ by server-side apply, templates by server-side apply with
fieldValidation=Strict, deletions on uninstall. Release storage is `memory` (Secret storage sends protobuf)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_apiserver.fixture import KubeApi

helm = pytest.importorskip("helm_python")

CHART = Path(__file__).parent / "manifests" / "charts" / "widget-app"


def test_install_upgrade_uninstall(kube_api: KubeApi) -> None:
    config = helm.Config(kubeconfig_path=str(kube_api.kubeconfig), storage_driver="memory", namespace="default")
    release = config.install(str(CHART), "rel", {"replicas": 1}, timeout=30)
    assert release["status"] == "deployed"
    crd = kube_api.get("customresourcedefinitions", None, "widgets.fake.odradek.io")
    assert crd is not None
    deployment = kube_api.get("deployments", "default", "rel-app")
    assert deployment is not None and deployment["spec"]["replicas"] == 1
    assert kube_api.get("widgets", "default", "rel-widget")["spec"] == {"size": 3, "colour": "red"}  # type: ignore[index]

    config.upgrade(str(CHART), "rel", {"replicas": 3, "size": 5}, timeout=30)
    deployment = kube_api.get("deployments", "default", "rel-app")
    assert deployment is not None and deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["--size", "5"]
    assert deployment["metadata"]["generation"] == 2
    assert kube_api.get("configmaps", "default", "rel-config")["data"] == {"size": "5"}  # type: ignore[index]

    config.uninstall("rel", timeout=30)
    for resource, name in (("deployments", "rel-app"), ("configmaps", "rel-config"), ("widgets", "rel-widget")):
        assert kube_api.get(resource, "default", name) is None
    # Helm keeps CRDs on uninstall.
    assert kube_api.get("customresourcedefinitions", None, "widgets.fake.odradek.io") is not None


def test_an_invalid_value_fails_the_install_with_the_schema_message(kube_api: KubeApi) -> None:
    config = helm.Config(kubeconfig_path=str(kube_api.kubeconfig), storage_driver="memory", namespace="default")
    with pytest.raises(helm.HelmError) as failure:
        config.install(str(CHART), "bad", {"size": 0}, timeout=30)
    assert "spec.size in body should be greater than or equal to 1" in str(failure.value)
