"""The Helm chart charts/odradek-operator: linted and rendered with the Helm SDK (helm-python-sdk), every rendered
manifest valid for the oldest and newest Kubernetes that kubernetes-validate bundles, RBAC covering exactly what
the operator builds, the chart's CRD templates the ones of crds/ (tools/gen_chart_crds.py), values checked by the
schema."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from odradek.operator.resources import cluster as model

helm = pytest.importorskip("helm_python")

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "odradek-operator"
EXAMPLE = yaml.safe_load((ROOT / "examples" / "kafka-cluster.yaml").read_text())


def gen_tool() -> Any:
    spec = importlib.util.spec_from_file_location("gen_chart_crds", ROOT / "tools" / "gen_chart_crds.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART)
    rendered = chart.render(values or {}, name="odradek-operator", namespace="kafka", is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".txt"):
            continue
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"watchAnyNamespace": True},
        {"watchNamespaces": ["a", "b"]},
        {"prometheusRule": {"enabled": True}},
        {"grafanaDashboard": {"enabled": True}},
    ],
)
def test_lint_clean(values: dict[str, Any]) -> None:
    report = helm.lint(CHART, values, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("version", ["1.25.0", "1.37.0"])
@pytest.mark.parametrize(
    "values",
    [
        {},
        {"watchAnyNamespace": True, "logLevel": "debug"},
        {"crds": {"install": False, "keep": False}},
        {"prometheusRule": {"enabled": True}},
        {"grafanaDashboard": {"enabled": True, "namespace": "monitoring", "annotations": {"grafana_folder": "Kafka"}}},
    ],
)
def test_rendered_manifests_are_valid(version: str, values: dict[str, Any]) -> None:
    docs = render(values)
    assert {d["kind"] for d in docs} >= {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"}
    for doc in docs:
        if doc["kind"] == "PrometheusRule":
            continue  # the Prometheus Operator's CRD kind, unknown to kubernetes-validate: promtool checks its rules
        kubernetes_validate.validate(doc, version, strict=True)


def test_deployment_runs_kopf_on_the_watched_namespaces() -> None:
    [deployment] = by_kind(render({"watchNamespaces": ["a", "b"]}), "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:4] == ["kopf", "run", "-m", "odradek.operator.main"]
    assert container["args"] == ["--namespace=a", "--namespace=b"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["ODRADEK_BROKER_IMAGE"] == "ghcr.io/odradek/odradek:0.1.0"
    [any_ns] = by_kind(render({"watchAnyNamespace": True}), "Deployment")
    assert any_ns["spec"]["template"]["spec"]["containers"][0]["args"] == ["--all-namespaces"]


def test_rbac_namespaced_by_default_cluster_wide_on_request() -> None:
    docs = render({"watchNamespaces": ["a", "b"]})
    assert [(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in by_kind(docs, "RoleBinding")] == [
        ("a", "odradek-operator-namespaced"),
        ("b", "odradek-operator-namespaced"),
    ]
    assert [b["metadata"]["name"] for b in by_kind(docs, "ClusterRoleBinding")] == ["odradek-operator-global"]
    wide = render({"watchAnyNamespace": True})
    assert by_kind(wide, "RoleBinding") == []
    assert len(by_kind(wide, "ClusterRoleBinding")) == 2
    none = render(
        {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "mine"}, "crds": {"install": False}}
    )
    assert {d["kind"] for d in none} == {"Deployment"}


def test_rbac_covers_what_the_operator_builds_and_no_wildcards() -> None:
    roles = {r["metadata"]["name"]: r for r in by_kind(render(), "ClusterRole")}
    rules = roles["odradek-operator-namespaced"]["rules"]
    granted = {(g, r): set(rule["verbs"]) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    for role in roles.values():
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
    doc = dict(EXAMPLE)
    doc["metadata"] = {**doc["metadata"], "namespace": "kafka", "uid": "u"}
    plurals = {"ConfigMap": "configmaps", "Secret": "secrets", "Service": "services", "StatefulSet": "statefulsets",
               "PodDisruptionBudget": "poddisruptionbudgets"}  # fmt: skip
    for manifest in model.manifests(model.from_resource(doc), "pw"):
        group = manifest["apiVersion"].rpartition("/")[0]
        assert {"get", "create", "patch"} <= granted[(group, plurals[manifest["kind"]])], manifest["kind"]
    for plural in ("kafkaclusters", "kafkatopics", "kafkausers"):
        assert "patch" in granted[("kafka.odradek.io", plural)]
        assert "patch" in granted[("kafka.odradek.io", f"{plural}/status")]


def test_chart_crds_are_the_generated_templates() -> None:
    tool = gen_tool()
    assert tool.stale() == []
    assert helm.Chart.load(CHART).crds == []  # no plain crds/: Helm would install those and never upgrade them
    crds = by_kind(render(), "CustomResourceDefinition")
    source = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "crds").glob("*.yaml"))]
    by_name = {c["metadata"]["name"]: c for c in crds}
    assert sorted(by_name) == sorted(s["metadata"]["name"] for s in source)
    for want in source:
        have = by_name[want["metadata"]["name"]]
        assert have["spec"] == want["spec"]
        assert have["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert have["metadata"]["labels"] == want["metadata"]["labels"]


def test_crds_switch_off_and_keep_off() -> None:
    assert by_kind(render({"crds": {"install": False}}), "CustomResourceDefinition") == []
    assert {d["kind"] for d in render({"crds": {"install": False}})} >= {"Deployment", "ClusterRole"}
    for crd in by_kind(render({"crds": {"keep": False}}), "CustomResourceDefinition"):
        assert "annotations" not in crd["metadata"]


def test_gen_refuses_a_template_action_in_a_source() -> None:
    with pytest.raises(ValueError, match="template action"):
        gen_tool().template("x.yaml", "metadata:\n  name: '{{ .Values.x }}'\n")


def test_gen_check_finds_stale_missing_and_extra(tmp_path: Path) -> None:
    tool = gen_tool()
    source, target = tmp_path / "crds", tmp_path / "chart"
    shutil.copytree(ROOT / "crds", source)
    tool.write(source, target)
    assert tool.stale(source, target) == []
    (source / "kafkatopic.yaml").write_text((source / "kafkatopic.yaml").read_text() + "# changed\n")
    (target / "old.yaml").write_text("x")
    (target / "kafkauser.yaml").unlink()
    assert tool.stale(source, target) == ["kafkatopic.yaml", "kafkauser.yaml", "old.yaml"]
    tool.write(source, target)
    assert tool.stale(source, target) == []


def test_values_schema_refuses_bad_values() -> None:
    chart = helm.Chart.load(CHART)
    chart.validate_schema({})
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"logLevel": "loud"})
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"watchNamespaces": ["Not_A_Namespace"]})
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"crds": {"install": "yes"}})
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"crds": {"instal": True}})
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"prometheusRule": {"for": "five minutes"}})
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"prometheusRule": {"consumerLagThreshold": -1}})
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"grafanaDashboard": {"enabled": "on"}})
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema({"grafanaDashboard": {"label": "not a label"}})


def test_grafana_dashboard_configmap_is_the_dashboard_file_and_off_by_default() -> None:
    # the metrics its panels query are checked on a real broker: tests/integration/test_grafana_dashboard_metrics.py
    assert [d for d in by_kind(render(), "ConfigMap") if "grafana" in d["metadata"]["name"]] == []
    [config_map] = by_kind(render({"grafanaDashboard": {"enabled": True}}), "ConfigMap")
    assert config_map["metadata"]["name"] == "odradek-operator-grafana-dashboards"
    assert config_map["metadata"]["namespace"] == "kafka"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"  # what Grafana's sidecar looks for
    files = {path.name: path.read_text().rstrip("\n") for path in (CHART / "dashboards").glob("*.json")}
    assert sorted(files) == ["odradek-kafka.json", "odradek-operator.json"]
    assert config_map["data"] == files
    assert json.loads(config_map["data"]["odradek-kafka.json"])["uid"] == "odradek-kafka"
    assert json.loads(config_map["data"]["odradek-operator.json"])["uid"] == "odradek-operator"
    values = {"enabled": True, "namespace": "monitoring", "label": "dash", "labelValue": "yes"}
    [moved] = by_kind(render({"grafanaDashboard": values}), "ConfigMap")
    assert moved["metadata"]["namespace"] == "monitoring"
    assert moved["metadata"]["labels"]["dash"] == "yes" and "grafana_dashboard" not in moved["metadata"]["labels"]
