"""The test kubelet's own tests (tests/e2e/kubelet): pods of a StatefulSet run as processes on their own loopback
addresses, report readiness from their probes, come back (same address, same claim) when deleted, keep running an
older revision under OnDelete until deleted, and a container that exits is restarted with its restart count; the
text a pod sees (command, mounted ConfigMap) has the pod's address, host name and host paths. A Deployment's pods
run, roll to a new template within maxSurge/maxUnavailable, scale down and come back when deleted.

The processes are small `python -c` programs in the broker image (images.py), so these run in seconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

fake_apiserver = pytest.importorskip("fake_apiserver.fixture")
KubeApi = fake_apiserver.KubeApi
eventually = fake_apiserver.eventually
from kubelet import Kubelet  # noqa: E402
from kubelet.network import AddressPlan, Rewriter  # noqa: E402

IMAGE = "ghcr.io/odradek/odradek:0.1.0"
# listens on 0.0.0.0:8080 (the pod's address once rewritten), counts its starts in the claim, then waits
SERVER = (
    "import os, socket, time\n"
    "path = '/data/starts'\n"
    "n = int(open(path).read()) + 1 if os.path.exists(path) else 1\n"
    "open(path, 'w').write(str(n))\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', 8080)); s.listen()\n"
    "print('serving', os.environ['HOSTNAME'], os.getpid(), flush=True)\n"
    "time.sleep(600)\n"
)


def statefulset(replicas: int, version: str = "1") -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "serviceName": "web",
            "replicas": replicas,
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "OnDelete"},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {"version": version}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": IMAGE,
                            "command": ["python", "-c", SERVER],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1},
                        }
                    ]
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }


def ready(kube_api: KubeApi, name: str) -> dict[str, Any] | None:
    pod = kube_api.get("pods", "default", name)
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return pod if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None


def test_statefulset_pods_run_are_ready_and_come_back_when_deleted(kube_api: KubeApi, kubelet: Kubelet) -> None:
    kube_api.create(statefulset(2))
    eventually(lambda: len(kube_api.list("pods")) == 2)
    waited = kube_api.kubectl("wait", "pod", "-l", "app=web", "--for=condition=Ready", "--timeout=40s", timeout=50)
    assert waited.returncode == 0, (waited.stderr, kubelet.logs("default", "web-0"))
    first = [ready(kube_api, f"web-{i}") for i in range(2)]
    ips = [pod["status"]["podIP"] for pod in first]
    assert ips == [kubelet.pod_ip("default", "web-0"), kubelet.pod_ip("default", "web-1")] and ips[0] != ips[1]
    assert first[0]["spec"]["hostname"] == "web-0" and first[0]["spec"]["subdomain"] == "web"
    assert first[0]["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    [status] = first[0]["status"]["containerStatuses"]
    assert status["ready"] is True and status["restartCount"] == 0 and "running" in status["state"]
    sts = eventually(lambda: (s := kube_api.get("statefulsets", "default", "web")) and
                     s.get("status", {}).get("readyReplicas") == 2 and s)  # fmt: skip
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    assert kube_api.get("persistentvolumeclaims", "default", "data-web-0")["status"]["phase"] == "Bound"
    assert kubelet.service_servers("default", "none", 8080) == ""

    # OnDelete: a new template changes the update revision and restarts nothing
    revision = first[0]["metadata"]["labels"]["controller-revision-hash"]
    updated = statefulset(2, version="2")
    updated["metadata"]["resourceVersion"] = kube_api.get("statefulsets", "default", "web")["metadata"][
        "resourceVersion"
    ]
    kube_api.store.update(kube_api.resource("statefulsets"), "default", "web", updated)
    eventually(lambda: kube_api.get("statefulsets", "default", "web")["status"]["updateRevision"] != revision)
    assert kube_api.get("pods", "default", "web-0")["metadata"]["uid"] == first[0]["metadata"]["uid"]
    assert kube_api.get("statefulsets", "default", "web")["status"]["updatedReplicas"] == 0

    deleted = kube_api.kubectl("delete", "pod", "web-0")
    assert deleted.returncode == 0, deleted.stderr
    again = eventually(
        lambda: (pod := ready(kube_api, "web-0")) and pod["metadata"]["uid"] != first[0]["metadata"]["uid"] and pod,
        timeout=40,
    )
    assert again["status"]["podIP"] == ips[0], "a StatefulSet pod keeps its address (its DNS name)"
    assert again["metadata"]["labels"]["controller-revision-hash"] != revision
    claim = kubelet.workdir / "claims" / "default" / "data-web-0" / "starts"
    assert claim.read_text() == "2", "the claim outlives the pod"
    logs = kubelet.logs("default", "web-0")
    assert logs.count("serving web-0") == 2, logs
    assert ready(kube_api, "web-1")["metadata"]["uid"] == first[1]["metadata"]["uid"], "web-1 was not touched"

    # scale down: the highest ordinal goes
    smaller = statefulset(1, version="2")
    smaller["metadata"]["resourceVersion"] = kube_api.get("statefulsets", "default", "web")["metadata"][
        "resourceVersion"
    ]
    kube_api.store.update(kube_api.resource("statefulsets"), "default", "web", smaller)
    eventually(lambda: kube_api.get("pods", "default", "web-1") is None)


def test_an_exited_container_restarts_and_sees_its_config_map(kube_api: KubeApi, kubelet: Kubelet) -> None:
    kube_api.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf", "namespace": "default"},
                     "data": {"app.properties": "listen=0.0.0.0:8080\nstate=/var/lib/app/state\n"}})  # fmt: skip
    kube_api.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pw", "namespace": "default"},
                     "stringData": {"password": "s3cret"}})  # fmt: skip
    script = "cat /etc/app/app.properties; echo host=$HOSTNAME env=$PASSWORD name=$POD; exit 3"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "job", "namespace": "default"},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": IMAGE,
                    "command": ["sh", "-c", script],
                    "env": [
                        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pw", "key": "password"}}},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    ],
                    "volumeMounts": [
                        {"name": "conf", "mountPath": "/etc/app"},
                        {"name": "state", "mountPath": "/var/lib/app"},
                    ],
                }
            ],
            "volumes": [{"name": "conf", "configMap": {"name": "conf"}}, {"name": "state", "emptyDir": {}}],
        },
    }
    kube_api.create(pod)

    def restarted_twice() -> dict[str, Any] | None:
        statuses = (kube_api.get("pods", "default", "job").get("status") or {}).get("containerStatuses") or []
        return statuses[0] if statuses and statuses[0]["restartCount"] >= 2 else None

    status = eventually(restarted_twice, timeout=30)
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["ready"] is False
    logs = kubelet.logs("default", "job")
    ip = kubelet.pod_ip("default", "job")
    assert f"listen={ip}:8080" in logs, logs
    folder = next((kubelet.workdir / "pods" / "default").glob("job-*"))
    assert f"state={folder}/volumes/state/state" in logs, logs
    assert "host=job env=s3cret name=job" in logs, logs


def deployment(replicas: int, version: str = "1") -> dict[str, Any]:
    labels = {"app": "api"}
    server = SERVER.replace("path = '/data/starts'", "path = '/tmp/starts'")
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {"version": version}},
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "image": IMAGE,
                            "command": ["python", "-c", server],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1},
                        }
                    ]
                },
            },
        },
    }


def replace_spec(kube_api: KubeApi, manifest: dict[str, Any]) -> None:
    stored = kube_api.get("deployments", "default", manifest["metadata"]["name"])
    manifest["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"]
    kube_api.store.update(kube_api.resource("deployments"), "default", manifest["metadata"]["name"], manifest)


def api_pods(kube_api: KubeApi) -> list[dict[str, Any]]:
    return [p for p in kube_api.list("pods", "default") if p["metadata"]["labels"].get("app") == "api"]


def test_deployment_pods_run_roll_within_the_surge_scale_down_and_come_back(
    kube_api: KubeApi, kubelet: Kubelet
) -> None:
    kube_api.create(deployment(2))
    first = eventually(lambda: (pods := [p for p in api_pods(kube_api) if ready(kube_api, p["metadata"]["name"])])
                       and len(pods) == 2 and pods, timeout=40)  # fmt: skip
    names = sorted(p["metadata"]["name"] for p in first)
    revision = first[0]["metadata"]["labels"]["pod-template-hash"]
    assert all(name.startswith(f"api-{revision}-") and len(name) == len(f"api-{revision}-") + 5 for name in names)
    assert first[0]["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    status = eventually(lambda: (d := kube_api.get("deployments", "default", "api")["status"]) and
                        d.get("readyReplicas") == 2 and d)  # fmt: skip
    assert status["updatedReplicas"] == 2 and status["conditions"][0] == {
        "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}  # fmt: skip
    waited = kube_api.kubectl("rollout", "status", "deployment/api", "--timeout=30s", timeout=40)
    assert waited.returncode == 0, waited.stderr

    # a new template rolls: never more than replicas + maxSurge pods, never fewer than replicas ready
    replace_spec(kube_api, deployment(2, version="2"))
    seen_total, seen_ready = [], []
    for _ in range(600):  # bounded: 60 s
        pods = api_pods(kube_api)
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        seen_total.append(len(live))
        seen_ready.append(sum(1 for p in pods if ready(kube_api, p["metadata"]["name"])))
        rolled = [p for p in live if p["metadata"]["labels"]["pod-template-hash"] != revision]
        if len(live) == 2 and len(rolled) == 2 and all(ready(kube_api, p["metadata"]["name"]) for p in rolled):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"not rolled: {[p['metadata']['name'] for p in api_pods(kube_api)]}")
    assert max(seen_total) <= 3, seen_total
    assert min(seen_ready) >= 2, seen_ready

    # scale down, then a deleted pod comes back
    replace_spec(kube_api, deployment(1, version="2"))
    [survivor] = eventually(lambda: len(pods := api_pods(kube_api)) == 1 and pods, timeout=30)
    deleted = kube_api.kubectl("delete", "pod", survivor["metadata"]["name"])
    assert deleted.returncode == 0, deleted.stderr
    gone = survivor["metadata"]["uid"]
    eventually(lambda: any(p["metadata"]["uid"] != gone and ready(kube_api, p["metadata"]["name"])
                           for p in api_pods(kube_api)), timeout=40)  # fmt: skip


def test_rewriter_resolves_pod_names_and_mount_paths() -> None:
    plan = AddressPlan("127.9.9")
    rewrite = Rewriter(plan, "c-kafka-1", "127.9.9.1", {"/etc/odradek": "/h/conf", "/etc/odradek/certs": "/h/certs"})
    assert plan.pod_ip("ns", "c-kafka-1") == "127.9.9.1"
    text = (
        "PLAIN://${HOSTNAME}.c-kafka-brokers.ns.svc:9092 etcd://c-etcd-0.c-etcd.ns.svc.cluster.local:2379 "
        "bind=0.0.0.0 /etc/odradek/server.properties /etc/odradek/certs/ca.crt /etc/odradekx bootstrap.ns.svc:9092"
    )
    assert rewrite(text) == (
        "PLAIN://127.9.9.1:9092 etcd://127.9.9.2:2379 bind=127.9.9.1 /h/conf/server.properties /h/certs/ca.crt "
        "/etc/odradekx bootstrap.ns.svc:9092"
    )


def test_stop_kills_and_reports_a_process_it_lost_track_of(kube_api: KubeApi, tmp_path: Path) -> None:
    node = Kubelet(kube_api, tmp_path / "kubelet")
    node.start()
    try:
        kube_api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lost", "namespace": "default"},
                         "spec": {"containers": [{"name": "main", "image": IMAGE,
                                                  "command": ["sh", "-c", "exec sleep 600"]}]}})  # fmt: skip
        [proc] = eventually(lambda: node.spawned and list(node.spawned), timeout=30)
        with node._lock:
            node.runs.clear()  # as if a run were dropped without `_terminate` (what stop() must still catch)
    finally:
        node.stop()
    assert proc.returncode is not None, "stop() leaves no process running"
    assert any("still running after stop" in error for error in node.errors), node.errors
