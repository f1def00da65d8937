"""The CRDs in crds/: valid CustomResourceDefinition objects for the oldest and newest Kubernetes versions that
kubernetes-validate bundles, structural schemas, the CEL rules in place, and the examples/ manifests valid
against them (while broken variants are refused with the field named)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kube_schema_support import structural_errors, to_json_schema

ROOT = Path(__file__).resolve().parents[3]
CRDS = sorted((ROOT / "crds").glob("*.yaml"))
KINDS = {"KafkaCluster", "KafkaTopic", "KafkaUser", "KafkaConnect", "KafkaConnector", "KafkaMirrorMaker2"}
OLDEST, NEWEST = "1.25.0", "1.37.0"


def crd(kind: str) -> dict[str, Any]:
    for path in CRDS:
        doc = yaml.safe_load(path.read_text())
        if doc["spec"]["names"]["kind"] == kind:
            return doc
    raise AssertionError(kind)


def schema(kind: str) -> dict[str, Any]:
    version = crd(kind)["spec"]["versions"][0]
    assert isinstance(version["schema"]["openAPIV3Schema"], dict)
    return version["schema"]["openAPIV3Schema"]


def at(tree: dict[str, Any], *path: str) -> dict[str, Any]:
    for name in path:
        tree = tree["items"] if name == "[]" else tree["properties"][name]
    return tree


def example(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "examples" / name).read_text())
    assert isinstance(doc, dict)
    return doc


def test_one_crd_per_kind() -> None:
    assert {yaml.safe_load(p.read_text())["spec"]["names"]["kind"] for p in CRDS} == KINDS


@pytest.mark.parametrize("path", CRDS, ids=lambda p: p.name)
@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_crd_is_a_valid_object(path: Path, version: str) -> None:
    kubernetes_validate.validate(yaml.safe_load(path.read_text()), version, strict=True)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_crd_conventions(kind: str) -> None:
    doc = crd(kind)
    spec = doc["spec"]
    assert doc["metadata"]["name"] == f"{spec['names']['plural']}.kafka.odradek.io"
    assert spec["group"] == "kafka.odradek.io"
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"]["status"] == {}
    assert set(version["subresources"]) <= {"status", "scale"}  # KafkaConnect scales as Strimzi's
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    conditions = at(version["schema"]["openAPIV3Schema"], "status", "conditions", "[]")
    assert set(conditions["properties"]) == {"type", "status", "reason", "message", "lastTransitionTime"}
    assert "observedGeneration" in at(version["schema"]["openAPIV3Schema"], "status")["properties"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_schema_is_structural(kind: str) -> None:
    assert structural_errors(schema(kind)) == []


def test_structural_check_can_fail() -> None:
    broken = copy.deepcopy(schema("KafkaTopic"))
    del at(broken, "spec", "partitions")["type"]
    at(broken, "spec")["additionalProperties"] = {"type": "string"}
    errors = structural_errors(broken)
    assert ".spec.partitions: no type" in errors
    assert ".spec: both properties and additionalProperties" in errors


def rules(node: dict[str, Any]) -> list[str]:
    return [r["rule"] for r in node.get("x-kubernetes-validations", [])]


def test_cel_rules_in_place() -> None:
    topic = schema("KafkaTopic")
    assert any("oldSelf.topicName" in r for r in rules(at(topic, "spec")))
    user = schema("KafkaUser")
    acl = at(user, "spec", "authorization", "acls", "[]")
    by_type = {t: [r for r in rules(acl) if f"self.resource.type != '{t}'" in r] for t in ("topic", "group", "cluster")}
    assert all(len(v) == 1 for v in by_type.values()), by_type
    assert "'IdempotentWrite'" in by_type["cluster"][0] and "'IdempotentWrite'" not in by_type["topic"][0]
    assert "'Write'" not in by_type["group"][0]
    assert any("oldSelf.type" in r for r in rules(at(user, "spec", "authentication")))
    cluster = schema("KafkaCluster")
    assert any("oldSelf.storage" in r for r in rules(at(cluster, "spec", "kafka")))
    assert any("metadataStore" in r for r in rules(at(cluster, "spec")))
    # CEL rules over lists need bounded sizes, or the API server refuses the CRD (cost estimation)
    assert at(user, "spec", "authorization", "acls")["maxItems"] <= 1000
    assert at(cluster, "spec", "kafka", "listeners")["maxItems"] <= 16


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("KafkaCluster", "kafka-cluster.yaml"),
        ("KafkaTopic", "kafka-topic.yaml"),
        ("KafkaUser", "kafka-user.yaml"),
        ("KafkaConnect", "kafka-connect.yaml"),
        ("KafkaConnector", "kafka-connector.yaml"),
        ("KafkaMirrorMaker2", "kafka-mirror-maker-2.yaml"),
    ],
)
def test_examples_are_valid(kind: str, name: str) -> None:
    doc = example(name)
    assert doc["apiVersion"] == "kafka.odradek.io/v1" and doc["kind"] == kind
    jsonschema.validate(doc, to_json_schema(schema(kind)))


@pytest.mark.parametrize(
    ("kind", "name", "change", "field"),
    [
        ("KafkaTopic", "kafka-topic.yaml", lambda d: d["spec"].update(partitions=0), "partitions"),
        ("KafkaTopic", "kafka-topic.yaml", lambda d: d["spec"].update(partitons=3), "partitons"),
        ("KafkaUser", "kafka-user.yaml", lambda d: d["spec"]["authentication"].update(type="plain"), "plain"),
        ("KafkaUser", "kafka-user.yaml", lambda d: d["spec"]["authorization"]["acls"][0].update(type="maybe"), "maybe"),
        (
            "KafkaCluster",
            "kafka-cluster.yaml",
            lambda d: d["spec"]["kafka"]["listeners"][0].update(type="route"),
            "route",
        ),
        (
            "KafkaCluster",
            "kafka-cluster.yaml",
            lambda d: d["spec"]["kafka"]["listeners"][0].update(name="Plain"),
            "Plain",
        ),
    ],
)
def test_bad_manifests_refused_naming_the_field(kind: str, name: str, change: Any, field: str) -> None:
    doc = example(name)
    change(doc)
    with pytest.raises(jsonschema.ValidationError) as info:
        jsonschema.validate(doc, to_json_schema(schema(kind)))
    where = ".".join(str(p) for p in info.value.absolute_path)
    assert field in f"{where}: {info.value.message}"
