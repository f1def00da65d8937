"""The real kubectl (1.32, default client-side validation, i.e. fieldValidation=Strict) against the fake API server:
what a user of the operator types, and the error messages they see."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import yaml
from fake_apiserver.fixture import KubeApi, eventually

CRD = Path(__file__).parent / "manifests" / "widget-crd.yaml"


def ok(kube_api: KubeApi, *args: str, input: str | None = None) -> str:
    done = kube_api.kubectl(*args, input=input)
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def fails(kube_api: KubeApi, *args: str, input: str | None = None) -> str:
    done = kube_api.kubectl(*args, input=input)
    assert done.returncode != 0, f"kubectl {' '.join(args)} succeeded: {done.stdout}"
    return done.stderr


def configmap(name: str, data: dict[str, str], extra_meta: str = "") -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, **json.loads(extra_meta or "{}")},
            "data": data,
        }
    )


def widget(name: str, spec: str) -> str:
    return f"apiVersion: fake.odradek.io/v1\nkind: Widget\nmetadata: {{name: {name}}}\nspec: {spec}\n"


@pytest.fixture
def widgets(kube_api: KubeApi) -> KubeApi:
    ok(kube_api, "apply", "-f", str(CRD))
    ok(kube_api, "wait", "--for=condition=Established", "crd/widgets.fake.odradek.io", "--timeout=10s")
    return kube_api


def test_apply_get_label_and_delete(kube_api: KubeApi) -> None:
    assert "created" in ok(kube_api, "apply", "-f", "-", input=configmap("c1", {"a": "1"}))
    first = kube_api.get("configmaps", "default", "c1")
    assert first is not None and first["metadata"]["uid"] and first["metadata"]["creationTimestamp"]
    assert "configured" in ok(kube_api, "apply", "-f", "-", input=configmap("c1", {"a": "2"}))
    second = kube_api.get("configmaps", "default", "c1")
    assert second is not None and second["data"] == {"a": "2"}
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert second["metadata"]["uid"] == first["metadata"]["uid"]

    listed = json.loads(ok(kube_api, "get", "configmaps", "-o", "json"))
    assert [item["metadata"]["name"] for item in listed["items"]] == ["c1"]
    ok(kube_api, "apply", "-f", "-", input=configmap("c2", {}))
    ok(kube_api, "label", "configmap", "c1", "tier=broker")
    assert ok(kube_api, "get", "cm", "-l", "tier=broker", "-o", "name").split() == ["configmap/c1"]
    assert ok(kube_api, "get", "cm", "-l", "tier!=broker", "-o", "name").split() == ["configmap/c2"]
    assert ok(kube_api, "get", "cm", "-l", "tier in (broker,x)", "-o", "name").split() == ["configmap/c1"]
    assert ok(kube_api, "get", "cm", "-l", "!tier", "-o", "name").split() == ["configmap/c2"]
    assert ok(kube_api, "get", "cm", "--field-selector", "metadata.name=c2", "-o", "name").split() == ["configmap/c2"]

    ok(kube_api, "delete", "configmap", "c1")
    assert kube_api.get("configmaps", "default", "c1") is None
    assert "NotFound" in fails(kube_api, "get", "configmap", "c1")


def test_server_side_apply_creates_then_drops_fields_the_manager_no_longer_applies(kube_api: KubeApi) -> None:
    ok(kube_api, "apply", "--server-side", "-f", "-", input=configmap("ssa", {"a": "1", "b": "2"}))
    ok(kube_api, "apply", "--server-side", "-f", "-", input=configmap("ssa", {"a": "3"}))
    stored = kube_api.get("configmaps", "default", "ssa")
    assert stored is not None and stored["data"] == {"a": "3"}


def test_dry_run_server_validates_and_stores_nothing(kube_api: KubeApi) -> None:
    assert "server dry run" in ok(kube_api, "apply", "--dry-run=server", "-f", "-", input=configmap("dry", {}))
    assert kube_api.get("configmaps", "default", "dry") is None
    ok(kube_api, "apply", "-f", "-", input=configmap("dry", {"a": "1"}))
    ok(kube_api, "apply", "--dry-run=server", "-f", "-", input=configmap("dry", {"a": "2"}))
    ok(kube_api, "delete", "--dry-run=server", "configmap", "dry")
    stored = kube_api.get("configmaps", "default", "dry")
    assert stored is not None and stored["data"] == {"a": "1"}


def test_crd_endpoints_appear_with_the_crd_and_vanish_with_it(kube_api: KubeApi) -> None:
    assert "doesn't have a resource type" in fails(kube_api, "get", "widgets")
    ok(kube_api, "apply", "-f", str(CRD))
    crd = kube_api.get("customresourcedefinitions", None, "widgets.fake.odradek.io")
    assert crd is not None
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"
    ok(kube_api, "apply", "-f", "-", input=widget("w1", "{size: 3}"))
    assert ok(kube_api, "get", "wd", "-o", "name").split() == ["widget.fake.odradek.io/w1"]
    ok(kube_api, "delete", "-f", str(CRD))
    assert kube_api.get("widgets", "default", "w1") is None if _has_widgets(kube_api) else True
    with pytest.raises(KeyError):
        kube_api.resource("widgets")


def _has_widgets(kube_api: KubeApi) -> bool:
    try:
        kube_api.resource("widgets")
    except KeyError:
        return False
    return True


def test_schema_defaults_and_validation_messages(widgets: KubeApi) -> None:
    ok(widgets, "apply", "-f", "-", input=widget("w1", "{size: 3}"))
    stored = widgets.get("widgets", "default", "w1")
    assert stored is not None and stored["spec"] == {"size": 3, "colour": "red"}
    assert stored["metadata"]["generation"] == 1

    error = fails(widgets, "apply", "-f", "-", input=widget("w2", "{size: 0, colour: pink, tags: [a, a]}"))
    assert 'The Widget "w2" is invalid' in error
    assert "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1" in error
    assert 'spec.colour: Unsupported value: "pink": supported values: "red", "green", "blue"' in error
    assert 'spec.tags[1]: Duplicate value: "a"' in error
    assert "spec.size: Required value" in fails(widgets, "apply", "-f", "-", input=widget("w3", "{colour: red}"))
    assert 'spec.size in body must be of type integer: "string"' in fails(
        widgets, "apply", "-f", "-", input=widget("w4", "{size: three}")
    )
    strict = fails(widgets, "apply", "-f", "-", input=widget("w5", "{size: 1, bogus: 1}"))
    assert 'strict decoding error: unknown field "spec.bogus"' in strict
    assert "BadRequest" in strict
    assert 'unknown field "spec.bogus"' in fails(
        widgets, "apply", "--server-side", "-f", "-", input=widget("w5", "{size: 1, bogus: 1}")
    )
    # Without Strict, unknown fields are pruned (and reported as a warning).
    lax = widgets.kubectl("apply", "--validate=false", "-f", "-", input=widget("w6", "{size: 1, bogus: 1}"))
    assert lax.returncode == 0, lax.stderr
    pruned = widgets.get("widgets", "default", "w6")
    assert pruned is not None and "bogus" not in pruned["spec"]
    for name in ("w2", "w3", "w4", "w5"):
        assert widgets.get("widgets", "default", name) is None


def test_cel_rules_with_transition_rules_on_update(widgets: KubeApi) -> None:
    ok(widgets, "apply", "-f", "-", input=widget("w1", "{size: 2, name: first}"))
    error = fails(widgets, "apply", "-f", "-", input=widget("w1", "{size: 2, name: second}"))
    assert 'spec.name: Invalid value: "string": name is immutable' in error
    error = fails(widgets, "apply", "-f", "-", input=widget("w1", "{size: 1, name: first}"))
    assert "spec.size: Forbidden: a widget never shrinks" in error
    error = fails(widgets, "apply", "-f", "-", input=widget("w2", "{size: 1, tags: [a, b]}"))
    assert 'spec: Invalid value: "object": a widget has at most as many tags as its size' in error
    ok(widgets, "apply", "-f", "-", input=widget("w1", "{size: 3, name: first, tags: [a]}"))
    assert not widgets.store.unsupported_rules


def test_generation_counts_spec_changes_only(widgets: KubeApi) -> None:
    ok(widgets, "apply", "-f", "-", input=widget("w1", "{size: 3}"))
    ok(widgets, "label", "widget", "w1", "a=b")
    ok(widgets, "patch", "widget", "w1", "--type=merge", "--subresource=status", "-p", '{"status": {"x": 1}}')
    stored = widgets.get("widgets", "default", "w1")
    assert stored is not None and stored["metadata"]["generation"] == 1 and stored["status"] == {"x": 1}
    ok(widgets, "patch", "widget", "w1", "--type=merge", "-p", '{"spec": {"size": 4}, "status": {"x": 2}}')
    stored = widgets.get("widgets", "default", "w1")
    assert stored is not None and stored["metadata"]["generation"] == 2
    assert stored["status"] == {"x": 1}, "a main-resource write changed status"


def test_builtin_kinds_are_validated_with_kubernetes_validate(kube_api: KubeApi) -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "s"},
        "spec": {
            "replicas": "three",
            "serviceName": "s",
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    error = fails(kube_api, "apply", "-f", "-", input=json.dumps(sts))
    assert 'StatefulSet.apps "s" is invalid' in error or 'The StatefulSet "s" is invalid' in error
    assert "spec.replicas" in error
    sts["spec"]["replicas"] = 1  # type: ignore[index]
    sts["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyz"] = "Always"  # type: ignore[index]
    assert 'unknown field "spec.template.spec.containers.0.imagePullPolicyz"' in fails(
        kube_api, "apply", "-f", "-", input=json.dumps(sts)
    )


def test_strategic_merge_patch_merges_containers_by_name(kube_api: KubeApi) -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "s"},
        "spec": {
            "replicas": 1,
            "serviceName": "s",
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "containers": [
                        {"name": "a", "image": "ia"},
                        {"name": "b", "image": "ib", "env": [{"name": "X", "value": "1"}]},
                    ]
                },
            },
        },
    }
    ok(kube_api, "apply", "-f", "-", input=json.dumps(sts))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "env": [{"name": "Y", "value": "2"}]}]}}}}
    ok(kube_api, "patch", "statefulset", "s", "-p", json.dumps(patch))
    stored = kube_api.get("statefulsets", "default", "s")
    assert stored is not None
    containers = stored["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["a", "b"]
    assert containers[1]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    assert stored["metadata"]["generation"] == 2
    # Client-side apply replacing X by Z sends `$setElementOrder/env` and `{"$patch": "delete", "name": "X"}`;
    # Y was never applied, so apply leaves it alone (as on a real server).
    sts["spec"]["template"]["spec"]["containers"][1]["env"] = [{"name": "Z", "value": "3"}]  # type: ignore[index]
    ok(kube_api, "apply", "-f", "-", input=json.dumps(sts))
    stored = kube_api.get("statefulsets", "default", "s")
    assert stored is not None
    env = stored["spec"]["template"]["spec"]["containers"][1]["env"]
    assert sorted(e["name"] for e in env) == ["Y", "Z"]
    assert not any("$" in key for key in json.dumps(stored).split('"')), "a directive was stored literally"


def test_strategic_merge_is_refused_for_custom_resources(widgets: KubeApi) -> None:
    ok(widgets, "apply", "-f", "-", input=widget("w1", "{size: 3}"))
    error = fails(widgets, "patch", "widget", "w1", "--type=strategic", "-p", '{"spec": {"size": 4}}')
    assert "UnsupportedMediaType" in error or "unknown format" in error or "not supported" in error


def test_stale_resource_version_conflicts(kube_api: KubeApi) -> None:
    ok(kube_api, "apply", "-f", "-", input=configmap("c", {"a": "1"}))
    stale = kube_api.get("configmaps", "default", "c")
    assert stale is not None
    ok(kube_api, "apply", "-f", "-", input=configmap("c", {"a": "2"}))
    stale["data"] = {"a": "3"}
    error = fails(kube_api, "replace", "-f", "-", input=json.dumps(stale))
    assert "Conflict" in error and "the object has been modified" in error


def test_generate_name_and_missing_namespace(kube_api: KubeApi) -> None:
    created = ok(
        kube_api,
        "create",
        "-f",
        "-",
        "-o",
        "name",
        input=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}),
    )
    assert created.startswith("configmap/gen-") and len(created.strip()) > len("configmap/gen-")
    error = fails(kube_api, "apply", "-n", "nowhere", "-f", "-", input=configmap("c", {}))
    assert 'namespaces "nowhere" not found' in error


def test_finalizers_hold_deletion_until_removed(kube_api: KubeApi) -> None:
    ok(kube_api, "apply", "-f", "-", input=configmap("held", {}, '{"finalizers": ["odradek.io/test"]}'))
    ok(kube_api, "delete", "configmap", "held", "--wait=false")
    stored = kube_api.get("configmaps", "default", "held")
    assert stored is not None and stored["metadata"]["deletionTimestamp"]
    ok(
        kube_api,
        "patch",
        "configmap",
        "held",
        "--type=json",
        "-p",
        '[{"op": "remove", "path": "/metadata/finalizers"}]',
    )
    assert kube_api.get("configmaps", "default", "held") is None


def test_owner_references_are_garbage_collected_and_namespaces_cascade(kube_api: KubeApi) -> None:
    owner = kube_api.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner", "namespace": "default"}}
    )
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    for name in ("child", "orphan-me"):
        kube_api.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default", "ownerReferences": [ref]},
            }
        )
    grandchild_ref = {**ref, "name": "child", "uid": kube_api.get("cm", "default", "child")["metadata"]["uid"]}  # type: ignore[index]
    kube_api.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "grandchild", "namespace": "default", "ownerReferences": [grandchild_ref]},
        }
    )
    ok(kube_api, "delete", "configmap", "owner")
    assert kube_api.get("cm", "default", "child") is None
    assert kube_api.get("cm", "default", "grandchild") is None

    owner = kube_api.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner2", "namespace": "default"}}
    )
    kube_api.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "kept",
                "namespace": "default",
                "ownerReferences": [{**ref, "uid": owner["metadata"]["uid"]}],
            },
        }
    )
    ok(kube_api, "delete", "configmap", "owner2", "--cascade=orphan")
    kept = kube_api.get("cm", "default", "kept")
    assert kept is not None and "ownerReferences" not in kept["metadata"]

    ok(
        kube_api,
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}),
    )
    ok(kube_api, "apply", "-n", "doomed", "-f", "-", input=configmap("inside", {}))
    ok(kube_api, "delete", "namespace", "doomed", "--timeout=10s")
    assert kube_api.get("cm", "doomed", "inside") is None
    assert kube_api.get("namespaces", None, "doomed") is None


def test_wait_for_a_condition_set_later(widgets: KubeApi) -> None:
    ok(widgets, "apply", "-f", "-", input=widget("w1", "{size: 3}"))

    def become_ready() -> None:
        time.sleep(1.0)
        widgets.patch_status("widgets", "default", "w1", {"conditions": [{"type": "Ready", "status": "True"}]})

    setter = threading.Thread(target=become_ready)
    setter.start()
    try:
        out = ok(widgets, "wait", "--for=condition=Ready", "widget/w1", "--timeout=15s")
    finally:
        setter.join(10)
    assert "condition met" in out


def test_pods_made_ready_by_the_kubelet_hook(kube_api: KubeApi) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "broker", "image": "odradek"}]},
    }
    ok(kube_api, "apply", "-f", "-", input=json.dumps(pod))
    assert "timed out" in fails(kube_api, "wait", "--for=condition=Ready", "pod/p", "--timeout=1s")
    kube_api.set_pod_ready("default", "p")
    assert "condition met" in ok(kube_api, "wait", "--for=condition=Ready", "pod/p", "--timeout=10s")
    kube_api.set_pod_ready("default", "p", ready=False)
    stored = kube_api.get("pods", "default", "p")
    assert stored is not None
    assert {c["type"]: c["status"] for c in stored["status"]["conditions"]}["Ready"] == "False"


def test_get_watch_streams_changes(kube_api: KubeApi) -> None:
    ok(kube_api, "apply", "-f", "-", input=configmap("w-before", {}))
    watching = kube_api.kubectl_popen("get", "configmaps", "-w", "--output-watch-events")
    try:
        eventually(lambda: any("watch=true" in path for _, path, _ in kube_api.requests), timeout=15)
        ok(kube_api, "apply", "-f", "-", input=configmap("w-after", {}))
        ok(kube_api, "delete", "configmap", "w-before")
        time.sleep(0.5)
    finally:
        watching.terminate()
        out, _ = watching.communicate(timeout=10)
    events = [line.split()[:2] for line in out.splitlines()[1:]]
    assert ["ADDED", "w-after"] in events and ["DELETED", "w-before"] in events, out


def test_describe_lists_events_of_the_object(widgets: KubeApi) -> None:
    ok(widgets, "apply", "-f", "-", input=widget("w1", "{size: 3}"))
    uid = widgets.get("widgets", "default", "w1")["metadata"]["uid"]  # type: ignore[index]
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "w1-"},
        "involvedObject": {
            "apiVersion": "fake.odradek.io/v1",
            "kind": "Widget",
            "name": "w1",
            "namespace": "default",
            "uid": uid,
        },
        "reason": "Reconciled",
        "message": "all good",
        "type": "Normal",
        "source": {"component": "test"},
    }
    ok(widgets, "create", "-f", "-", input=json.dumps(event))
    described = ok(widgets, "describe", "widget", "w1")
    assert "Reconciled" in described and "all good" in described


def test_get_prints_the_crd_printer_columns_also_while_watching(widgets: KubeApi) -> None:
    ok(widgets, "apply", "-f", "-", input=widget("w1", "{size: 3}"))
    ok(widgets, "label", "widget", "w1", "fake.odradek.io/owner=team-a")
    widgets.patch_status("widgets", "default", "w1", {"conditions": [{"type": "Ready", "status": "True"}]})
    printed = ok(widgets, "get", "widgets").splitlines()
    assert printed[0].split() == ["NAME", "SIZE", "READY", "OWNER", "AGE"]
    assert printed[1].split()[:4] == ["w1", "3", "True", "team-a"]
    assert ok(widgets, "get", "widget", "w1", "-o", "wide").splitlines()[0].split() == [
        "NAME",
        "SIZE",
        "READY",
        "OWNER",
        "COLOUR",
        "AGE",
    ]
    watching = widgets.kubectl_popen("get", "widgets", "-w")
    try:
        eventually(lambda: any("watch=true" in path for _, path, _ in widgets.requests), timeout=15)
        widgets.patch_status("widgets", "default", "w1", {"conditions": [{"type": "Ready", "status": "False"}]})
        time.sleep(0.5)
    finally:
        watching.terminate()
        out, _ = watching.communicate(timeout=10)
    assert [line.split()[:3] for line in out.splitlines()[1:]][-1] == ["w1", "3", "False"], out


def test_builtin_defaults_clients_read(kube_api: KubeApi) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "pw"}}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc"},
        "spec": {"ports": [{"port": 9092}], "selector": {"a": "b"}},
    }
    ok(kube_api, "apply", "-f", "-", input=yaml.safe_dump_all([secret, service]))
    assert ok(kube_api, "get", "secret", "s", "-o", "jsonpath={.data.password}") == "cHc="
    stored = kube_api.get("secrets", "default", "s")
    assert stored is not None and stored["type"] == "Opaque" and "stringData" not in stored
    svc = kube_api.get("services", "default", "svc")
    assert svc is not None and svc["spec"]["type"] == "ClusterIP" and svc["spec"]["clusterIP"].startswith("10.96.")
    assert svc["spec"]["ports"] == [{"port": 9092, "protocol": "TCP", "targetPort": 9092}]
    ok(kube_api, "label", "service", "svc", "x=y")
    relabelled = kube_api.get("services", "default", "svc")
    assert relabelled is not None and relabelled["spec"]["clusterIP"] == svc["spec"]["clusterIP"]


def test_immutable_fields_of_builtin_kinds_are_refused(kube_api: KubeApi) -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "s"},
        "spec": {
            "replicas": 1,
            "serviceName": "s",
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }
    ok(kube_api, "apply", "-f", "-", input=json.dumps(sts))
    sts["spec"]["replicas"] = 3  # type: ignore[index]
    ok(kube_api, "apply", "-f", "-", input=json.dumps(sts))
    sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "2Gi"  # type: ignore[index]
    error = fails(kube_api, "apply", "-f", "-", input=json.dumps(sts))
    assert "spec: Forbidden: updates to statefulset spec for fields other than 'replicas'" in error
    stored = kube_api.get("statefulsets", "default", "s")
    assert stored is not None and stored["spec"]["replicas"] == 3
    assert stored["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"

    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "frozen"},
        "data": {"a": "1"},
        "immutable": True,
    }
    ok(kube_api, "apply", "-f", "-", input=json.dumps(cm))
    error = fails(kube_api, "apply", "-f", "-", input=json.dumps({**cm, "data": {"a": "2"}}))
    assert "data: Forbidden: field is immutable when `immutable` is set" in error


def test_kubectl_scale_through_the_scale_subresource(kube_api: KubeApi) -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "s"},
        "spec": {
            "replicas": 1,
            "serviceName": "s",
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    ok(kube_api, "apply", "-f", "-", input=json.dumps(sts))
    assert "scaled" in ok(kube_api, "scale", "statefulset", "s", "--replicas=3")
    stored = kube_api.get("statefulsets", "default", "s")
    assert stored is not None and stored["spec"]["replicas"] == 3 and stored["metadata"]["generation"] == 2
