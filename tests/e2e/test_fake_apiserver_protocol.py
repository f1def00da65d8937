"""The fake API server's wire behaviour, checked over HTTP with the standard library (what kopf, kubectl and
Helm rely on but do not show directly), and its pure parts (patches, schema, selectors) as functions."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
from fake_apiserver import cel, patches, schema
from fake_apiserver.fixture import KubeApi
from fake_apiserver.selectors import label_selector

CM = "/api/v1/namespaces/default/configmaps"


def call(
    kube_api: KubeApi,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    accept: str = "application/json",
) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(
        kube_api.url + path, data=data, method=method, headers={"Content-Type": content_type, "Accept": accept}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def watch(kube_api: KubeApi, path: str, accept: str = "application/json", **query: str) -> tuple[str, list[Any]]:
    """Read a watch stream to its end (the caller passes timeoutSeconds): (Content-Type, events)."""
    connection = http.client.HTTPConnection("127.0.0.1", kube_api.port, timeout=15)
    try:
        connection.request("GET", f"{path}?{urlencode({'watch': 'true', **query})}", headers={"Accept": accept})
        response = connection.getresponse()
        lines = response.read().decode().splitlines()
        return response.headers["Content-Type"], [json.loads(line) for line in lines if line]
    finally:
        connection.close()


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_discovery_lists_status_subresources_and_the_groups(kube_api: KubeApi) -> None:
    _, core = call(kube_api, "GET", "/api/v1")
    names = {r["name"] for r in core["resources"]}
    assert {"namespaces", "events", "pods", "pods/status", "configmaps", "secrets"} <= names
    assert "configmaps/status" not in names
    aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    _, groups = call(kube_api, "GET", "/apis", accept=aggregated)
    assert groups["kind"] == "APIGroupList"
    listed = {g["name"] for g in groups["groups"]}
    assert {"apps", "policy", "rbac.authorization.k8s.io", "coordination.k8s.io", "apiextensions.k8s.io"} <= listed
    _, crds = call(kube_api, "GET", "/apis/apiextensions.k8s.io/v1")
    assert {r["name"] for r in crds["resources"]} == {"customresourcedefinitions", "customresourcedefinitions/status"}
    _, root = call(kube_api, "GET", "/openapi/v3")
    assert "apis/apps/v1" in root["paths"]
    _, doc = call(kube_api, "GET", root["paths"]["apis/apps/v1"]["serverRelativeURL"])
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "StatefulSet"


def test_create_is_201_and_lists_carry_kind_and_resource_version(kube_api: KubeApi) -> None:
    status, created = call(kube_api, "POST", CM, cm("a", x="1"))
    assert status == 201 and created["metadata"]["resourceVersion"]
    assert call(kube_api, "POST", CM, cm("a"))[0] == 409
    _, listed = call(kube_api, "GET", CM)
    assert listed["kind"] == "ConfigMapList" and listed["apiVersion"] == "v1"
    assert int(listed["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])
    assert call(kube_api, "POST", CM, b"\x0a\x00", "application/vnd.kubernetes.protobuf")[0] == 415


def test_put_with_a_stale_resource_version_is_a_conflict(kube_api: KubeApi) -> None:
    _, created = call(kube_api, "POST", CM, cm("a", x="1"))
    _, updated = call(kube_api, "PUT", f"{CM}/a", {**created, "data": {"x": "2"}})
    assert updated["data"] == {"x": "2"}
    status, error = call(kube_api, "PUT", f"{CM}/a", {**created, "data": {"x": "3"}})
    assert status == 409 and error["reason"] == "Conflict" and error["kind"] == "Status"


def test_a_failed_json_patch_test_is_422(kube_api: KubeApi) -> None:
    call(kube_api, "POST", CM, cm("a"))
    stale = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x"]},
    ]
    assert call(kube_api, "PATCH", f"{CM}/a", stale, "application/json-patch+json")[0] == 422
    _, current = call(kube_api, "GET", f"{CM}/a")
    fresh = [{**stale[0], "value": current["metadata"]["resourceVersion"]}, stale[1]]
    status, patched = call(kube_api, "PATCH", f"{CM}/a", fresh, "application/json-patch+json")
    assert status == 200 and patched["metadata"]["finalizers"] == ["x"]


def test_status_subresource_separates_main_and_status_writes(kube_api: KubeApi) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    call(kube_api, "POST", "/api/v1/namespaces/default/pods", pod)
    path = "/api/v1/namespaces/default/pods/p"
    _, main = call(
        kube_api,
        "PATCH",
        path,
        {"status": {"phase": "Running"}, "metadata": {"labels": {"a": "b"}}},
        "application/merge-patch+json",
    )
    assert main["status"] == {"phase": "Pending"} and main["metadata"]["labels"] == {"a": "b"}
    _, status = call(
        kube_api,
        "PATCH",
        f"{path}/status",
        {"status": {"phase": "Running"}, "metadata": {"labels": {"a": "c"}}},
        "application/merge-patch+json",
    )
    assert status["status"]["phase"] == "Running" and status["metadata"]["labels"] == {"a": "b"}


def test_watch_replays_from_a_resource_version_and_ends_at_the_timeout(kube_api: KubeApi) -> None:
    _, first = call(kube_api, "POST", CM, cm("a"))
    call(kube_api, "POST", CM, cm("b"))
    call(kube_api, "DELETE", f"{CM}/a")
    started = time.monotonic()
    content_type, events = watch(kube_api, CM, resourceVersion=first["metadata"]["resourceVersion"], timeoutSeconds="1")
    assert time.monotonic() - started < 5
    assert content_type == "application/json"
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b"), ("DELETED", "a")]


def test_watch_from_a_compacted_resource_version_is_410(kube_api: KubeApi) -> None:
    _, first = call(kube_api, "POST", CM, cm("a"))
    call(kube_api, "POST", CM, cm("b"))
    kube_api.compact()
    _, events = watch(kube_api, CM, resourceVersion=first["metadata"]["resourceVersion"], timeoutSeconds="1")
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410
    # A relist gives a resourceVersion to watch from again.
    _, listed = call(kube_api, "GET", CM)
    _, events = watch(kube_api, CM, resourceVersion=listed["metadata"]["resourceVersion"], timeoutSeconds="1")
    assert events == []


def test_send_initial_events_ends_with_the_bookmark(kube_api: KubeApi) -> None:
    call(kube_api, "POST", CM, {**cm("a"), "metadata": {"name": "a", "labels": {"k": "v"}}})
    call(kube_api, "POST", CM, cm("b"))
    _, events = watch(
        kube_api,
        CM,
        sendInitialEvents="true",
        resourceVersionMatch="NotOlderThan",
        allowWatchBookmarks="true",
        labelSelector="k=v",
        timeoutSeconds="1",
    )
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "a"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert all(e["type"] == "BOOKMARK" for e in events[1:])  # and the periodic ones (interval 1 s in the fixture)


def test_a_watch_sees_an_object_leave_its_selector_as_deleted(kube_api: KubeApi) -> None:
    _, created = call(kube_api, "POST", CM, {**cm("a"), "metadata": {"name": "a", "labels": {"k": "v"}}})
    call(kube_api, "PATCH", f"{CM}/a", {"metadata": {"labels": {"k": "w"}}}, "application/merge-patch+json")
    _, events = watch(
        kube_api, CM, resourceVersion=created["metadata"]["resourceVersion"], labelSelector="k=v", timeoutSeconds="1"
    )
    assert [e["type"] for e in events] == ["DELETED"]


def test_strategic_merge_directives() -> None:
    target = {
        "metadata": {"finalizers": ["a"]},
        "spec": {
            "ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}],
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "containers": [{"name": "a", "image": "x", "args": ["1"]}],
            "keep": [1, 2, 3],
        },
    }
    patch = {
        "metadata": {"finalizers": ["b"]},
        "spec": {
            "ports": [{"port": 443, "$patch": "delete"}, {"port": 8080, "name": "alt"}],
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "containers": [{"name": "a", "args": ["2"]}],
            "$deleteFromPrimitiveList/keep": [2],
            "$setElementOrder/ports": [{"port": 8080}, {"port": 80}],
        },
    }
    result = patches.strategic_merge(target, patch)
    assert result["metadata"]["finalizers"] == ["a", "b"]
    assert [p["port"] for p in result["spec"]["ports"]] == [8080, 80]
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    assert result["spec"]["containers"] == [{"name": "a", "image": "x", "args": ["2"]}]
    assert result["spec"]["keep"] == [1, 3]
    replaced = patches.strategic_merge(target, {"spec": {"$patch": "replace", "keep": []}})
    assert replaced["spec"] == {"keep": []}


def test_merge_patch_follows_rfc_7386() -> None:
    assert patches.merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None}, "l": [2]}) == {
        "a": {"c": 2},
        "l": [2],
    }


def test_schema_prunes_defaults_and_validates() -> None:
    crd_schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "port": {"x-kubernetes-int-or-string": True},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "opt": {"type": "string", "nullable": True},
                    "nested": {"type": "object", "default": {}, "properties": {"n": {"type": "integer", "default": 3}}},
                    "template": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": True,
                        "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    },
                },
            }
        },
    }
    outcome = schema.check(
        {
            "apiVersion": "x/v1",
            "kind": "X",
            "metadata": {"name": "x"},
            "spec": {
                "port": "http",
                "labels": {"a": "b"},
                "opt": None,
                "junk": 1,
                "template": {"kind": "Pod", "metadata": {}, "spec": {"any": 1}},
            },
        },
        crd_schema,
    )
    assert outcome.causes == [] and outcome.unknown == ["spec.junk"]
    assert outcome.obj["spec"]["nested"] == {"n": 3}
    assert outcome.obj["spec"]["template"] == {"kind": "Pod", "metadata": {}, "spec": {"any": 1}}
    bad = schema.check({"spec": {"port": 1.5, "labels": {"a": 1}}}, crd_schema)
    assert sorted(c.field for c in bad.causes) == ["spec.labels.a", "spec.port"]


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "c"}, False),
        ("a!=b", {}, True),
        ("a in (b, c)", {"a": "c"}, True),
        ("a notin (b,c)", {"a": "c"}, False),
        ("a", {"a": ""}, True),
        ("!a", {"a": "x"}, False),
        ("a=b,c in (d)", {"a": "b", "c": "d"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert label_selector(selector)({"metadata": {"labels": labels}}) is expected


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ("self.partitions >= 1", {"partitions": 0}, False),
        ("!has(self.x) || self.x.size() <= 3", {"x": "abcd"}, False),
        ("!has(self.x) || self.x.size() <= 3", {}, True),
        (
            'self.type != "topic" || self.operations.all(o, o in ["Read", "Write"])',
            {"type": "topic", "operations": ["Read", "Alter"]},
            False,
        ),
        ("self.replicas == 1 || self.replicas == 3 ? true : false", {"replicas": 3}, True),
        ("size(self.l) > 0 && self.l.exists(e, e.startsWith('a'))", {"l": ["b", "ab"]}, True),
        ("self.l.exists_one(e, e.endsWith('b'))", {"l": ["b", "ab"]}, False),
        ("self.l.filter(e, e.contains('a')).map(e, e + '!') == ['ab!']", {"l": ["b", "ab"]}, True),
        ("self['mode'] in ['a', 'b'] && self.m.matches('^[0-9]+$')", {"mode": "a", "m": "12"}, True),
        ("self.x / 2 == 1 && self.x % 2 == 1 && -self.x < 0", {"x": 3}, True),
        ("int(self.s) + 1 == 4 && string(self.b) == 'true'", {"s": "3", "b": True}, True),
    ],
)
def test_cel_rule_forms(rule: str, value: Any, expected: bool) -> None:
    assert cel.evaluate(cel.compile_rule(rule), {"self": value}) is expected


def test_cel_transition_rules_need_an_old_value_and_unknown_forms_are_recorded() -> None:
    node_schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "id": {
                        "type": "string",
                        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "immutable"}],
                    },
                    "o": {"type": "string", "x-kubernetes-validations": [{"rule": "self.?x.orValue('') == ''"}]},
                },
            }
        },
    }
    obj = {"spec": {"id": "a", "o": "b"}}
    created = schema.check(obj, node_schema)
    assert created.causes == [] and created.unsupported_rules == ["self.?x.orValue('') == ''"]
    assert schema.check({"spec": {"id": "b", "o": "b"}}, node_schema, obj).causes[0].message == (
        'Invalid value: "string": immutable'
    )


def test_tables_for_lists_gets_and_watch_events(kube_api: KubeApi) -> None:
    _, created = call(kube_api, "POST", CM, cm("a"))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    _, listed = call(kube_api, "GET", CM, accept=accept)
    assert listed["kind"] == "Table" and [c["name"] for c in listed["columnDefinitions"]] == ["Name", "Age"]
    assert listed["rows"][0]["cells"][0] == "a" and listed["rows"][0]["object"]["metadata"]["name"] == "a"
    assert call(kube_api, "GET", f"{CM}/a", accept=accept)[1]["kind"] == "Table"
    call(kube_api, "DELETE", f"{CM}/a")
    _, events = watch(kube_api, CM, accept, resourceVersion=created["metadata"]["resourceVersion"], timeoutSeconds="1")
    assert [(e["type"], e["object"]["kind"], e["object"]["rows"][0]["cells"][0]) for e in events] == [
        ("DELETED", "Table", "a")
    ]


def test_thread_watch_for_a_test_kubelet(kube_api: KubeApi) -> None:
    kube_api.create(cm("before") | {"metadata": {"name": "before", "namespace": "default"}})
    watcher = kube_api.watch_in_thread("configmaps", "default")
    try:
        call(kube_api, "POST", CM, cm("after"))
        call(kube_api, "DELETE", f"{CM}/before")
        seen = [watcher.events.get(timeout=5) for _ in range(3)]
    finally:
        kube_api.unwatch(watcher)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in seen] == [
        ("ADDED", "before"),
        ("ADDED", "after"),
        ("DELETED", "before"),
    ]


def test_delete_collection_by_label(kube_api: KubeApi) -> None:
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        call(kube_api, "POST", CM, {**cm(name), "metadata": {"name": name, "labels": {"tier": tier}}})
    status, deleted = call(kube_api, "DELETE", f"{CM}?labelSelector=tier%3Dx")
    assert status == 200 and sorted(i["metadata"]["name"] for i in deleted["items"]) == ["a", "b"]
    assert [o["metadata"]["name"] for o in kube_api.list("configmaps", "default")] == ["c"]
