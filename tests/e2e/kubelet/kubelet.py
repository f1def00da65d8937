"""The test kubelet: runs the pods stored in the fake API server as local processes on loopback, reports their
status from their probes, and plays the StatefulSet and Deployment controllers (statefulsets.py, deployments.py).
Test-only; one per test.

    kubelet = Kubelet(kube_api, tmp_path / "kubelet")
    kubelet.start()                 # a thread: watches pods, StatefulSets and Deployments, probes, restarts
    kubelet.pod_ip("default", "c1-kafka-0")             # a pod's loopback address (network.py), before it exists
    kubelet.service_servers("default", "c1-kafka-bootstrap", 9092)   # "ip:9092,..." of the ready endpoints
    kubelet.stop()                  # every process terminated (SIGTERM, then SIGKILL after the grace period)

A pod, from ADDED to DELETED:

1. Its containers' images must be ones the kubelet knows (images.py); otherwise the container waits with reason
   ErrImageNeverPull and the pod stays Pending.
2. Volumes are materialised under `<workdir>/pods/<namespace>/<pod>-<uid prefix>/volumes/<volume>/`: a ConfigMap's
   keys as files (text rewritten as the pod sees it, network.py), a Secret's keys decoded (unchanged), an emptyDir
   empty; a persistentVolumeClaim is `<workdir>/claims/<namespace>/<claim>/`, kept across pods (a restarted broker
   keeps its log).
3. Each container runs `command + args` (the image's ENTRYPOINT/CMD when absent) with `$(VAR)` expanded from its
   environment as Kubernetes does, then rewritten (network.py: host name, pod DNS names, 0.0.0.0, mount paths).
   Environment: PATH (the image's folders first), HOME (the pod folder), HOSTNAME (the pod's hostname), the image's
   variables, then the container's `env` (value, or valueFrom secretKeyRef / configMapKeyRef / fieldRef
   metadata.name, metadata.namespace, status.podIP). Output goes to `<pod folder>/<container>.log`.
4. Probes (tcpSocket, httpGet) on the pod's address with Kubernetes' fields and defaults (initialDelaySeconds 0,
   periodSeconds 10, timeoutSeconds 1, failureThreshold 3, successThreshold 1). Readiness sets the container's
   `ready` and the pod's ContainersReady/Ready conditions; a container without a readiness probe is ready while it
   runs. A liveness failure `failureThreshold` times in a row kills the container (it is then restarted).
5. A container that exits is restarted under restartPolicy Always (OnFailure: unless it exited 0; Never: not),
   after a back-off of 1 s doubling to 10 s (Kubernetes: 10 s to 5 min, too slow for tests), restartCount counted,
   `lastState.terminated` kept.
6. DELETED: every process gets SIGTERM (its process group), SIGKILL after terminationGracePeriodSeconds (at most
   GRACE_CAP_S); a new pod of the same name starts only once the old one's processes are gone (they share the
   address and ports).

Status written (status subresource, only when it changes): phase, hostIP, podIP, podIPs, startTime, conditions
PodScheduled / Initialized / ContainersReady / Ready, containerStatuses (name, image, imageID, ready, started,
restartCount, state, lastState).

Not done: init containers, exec probes, startup probes, resource limits, ConfigMap/Secret updates reaching a
running pod's files, graceful deletion (the fake deletes pods at once; the kubelet stops them afterwards),
Deployments/ReplicaSets, Services with a virtual IP.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_apiserver.errors import ApiError
from fake_apiserver.server import FakeApiServer
from fake_apiserver.store import now

from . import deployments, statefulsets
from .images import LocalImage, default_images
from .network import AddressPlan, Rewriter

Json = dict[str, Any]
TICK_S = 0.2
RESYNC_S = 1.0
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 10.0
GRACE_CAP_S = 30.0
KILL_WAIT_S = 10.0  # after SIGKILL, how long a process may take to be reaped
STOP_BOUND_S = GRACE_CAP_S + KILL_WAIT_S + 5.0  # one pod's `_terminate`, at most
LOOP_JOIN_S = 30.0
EVENTS_PER_TICK = 200  # per watch: a stream of events (its own status patches among them) cannot starve the pods
WATCHED = ("pods", "statefulsets", "deployments")  # pod events start and stop runs; the others reconcile


@dataclass
class Probe:
    spec: Json
    started: float
    successes: int = 0
    failures: int = 0
    next_at: float = 0.0

    def __post_init__(self) -> None:
        self.next_at = self.started + float(self.spec.get("initialDelaySeconds", 0))

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds", 10))


@dataclass
class ContainerRun:
    spec: Json
    image: LocalImage | None
    log: Path
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    started_at: str = ""
    started_mono: float = 0.0
    restart_count: int = 0
    backoff: float = BACKOFF_START_S
    next_start: float = 0.0
    ready: bool = False
    readiness: Probe | None = None
    liveness: Probe | None = None
    last_terminated: Json | None = None
    waiting: Json | None = None
    done: bool = False  # exited and not to be restarted (restartPolicy)

    @property
    def name(self) -> str:
        return str(self.spec["name"])


@dataclass
class PodRun:
    namespace: str
    name: str
    uid: str
    ip: str
    folder: Path
    pod: Json
    containers: list[ContainerRun]
    start_time: str
    last_status: Json | None = None  # as last written, without lastTransitionTime
    transitions: dict[str, tuple[str, str]] = field(default_factory=dict)  # condition type -> (status, since)


class Kubelet:
    def __init__(self, api: FakeApiServer, workdir: Path, images: Sequence[LocalImage] | None = None) -> None:
        self.api = api
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.images = tuple(images) if images is not None else tuple(default_images(workdir))
        self.plan = AddressPlan()
        self.runs: dict[str, PodRun] = {}  # by pod uid
        self.stopping: dict[tuple[str, str], threading.Thread] = {}  # (namespace, name) of pods being stopped
        self.wanted: dict[str, Json] = {}  # pods seen and not yet started, by uid
        self.errors: list[str] = []  # what went wrong inside the kubelet's thread (tests assert it is empty)
        self.spawned: list[subprocess.Popen[bytes]] = []  # every process started, for stop()'s check
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- public ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="test-kubelet", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the loop and every process the kubelet started, bounded (STOP_BOUND_S after the loop's join).
        A process found still running afterwards is killed and reported in `errors` (the fixtures assert it is
        empty): a Popen dropped while its process runs is a leak ("ResourceWarning: subprocess ... is still
        running" at the end of the test run)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(LOOP_JOIN_S)
            if self._thread.is_alive():
                self.errors.append(f"the kubelet's loop did not end within {LOOP_JOIN_S} s")
        with self._lock:
            runs = list(self.runs.values())
            self.runs.clear()
        threads = [threading.Thread(target=self._terminate, args=(run,)) for run in runs]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + STOP_BOUND_S
        for thread in [*threads, *self.stopping.values()]:
            thread.join(max(0.0, deadline - time.monotonic()))
        for proc in self.spawned:
            if proc.poll() is None:
                self.errors.append(f"process {proc.pid} ({proc.args!r:.80}) still running after stop: killed")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(KILL_WAIT_S)

    def pod_ip(self, namespace: str, name: str) -> str:
        return self.plan.pod_ip(namespace, name)

    def service_servers(self, namespace: str, service: str, port: int) -> str:
        """`ip:port,...` of the ready pods a Service selects (its endpoints), in pod-name order ("" if none)."""
        svc = self.api.get("services", namespace, service)
        if svc is None:
            return ""
        selector = (svc.get("spec") or {}).get("selector") or {}
        target = port
        for item in (svc.get("spec") or {}).get("ports") or []:
            if item.get("port") == port and isinstance(item.get("targetPort"), int):
                target = item["targetPort"]
        pods = [
            pod
            for pod in self.api.list("pods", namespace)
            if selector
            and all(((pod["metadata"].get("labels") or {}).get(k)) == v for k, v in selector.items())
            and statefulsets.is_ready(pod)
        ]
        pods.sort(key=lambda pod: pod["metadata"]["name"])
        return ",".join(f"{self.pod_ip(namespace, pod['metadata']['name'])}:{target}" for pod in pods)

    def logs(self, namespace: str, name: str, tail: int = 4000) -> str:
        """The end of each container log of every run of the pod `name` so far (for failure messages)."""
        out = []
        for log in sorted((self.workdir / "pods" / namespace).glob(f"{name}-*/*.log")):
            out.append(f"== {log.parent.name}/{log.name}\n{log.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)

    # -- the loop ----------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        watchers = {resource: self.api.watch_in_thread(resource) for resource in WATCHED}
        next_resync = 0.0
        try:
            while not self._stop.is_set():
                dirty = False
                for resource in WATCHED:
                    for _ in range(EVENTS_PER_TICK):
                        try:
                            event = watchers[resource].events.get(timeout=TICK_S / len(WATCHED))
                        except queue.Empty:
                            break
                        if event is None:  # the watch ended (compact): subscribe again, ADDED for everything
                            self.api.unwatch(watchers[resource])
                            watchers[resource] = self.api.watch_in_thread(resource)
                            continue
                        dirty = True
                        if resource == "pods" and event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                            self._on_pod(event["type"], event["object"])
                if dirty or time.monotonic() >= next_resync:
                    self._guard(self._sync_workloads)
                    next_resync = time.monotonic() + RESYNC_S
                self._guard(self._start_wanted)
                with self._lock:
                    runs = list(self.runs.values())
                for run in runs:
                    self._guard(lambda run=run: self._tend(run))
        finally:
            for watcher in watchers.values():
                self.api.unwatch(watcher)

    def _guard(self, step: Any) -> None:
        try:
            step()
        except Exception as exc:  # the kubelet must go on; the test sees what failed in `errors`
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _sync_workloads(self) -> None:
        for statefulset in self.api.list("statefulsets"):
            statefulsets.reconcile(self.api, statefulset)
        for deployment in self.api.list("deployments"):
            deployments.reconcile(self.api, deployment)

    def _on_pod(self, kind: str, pod: Json) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "DELETED" or pod["metadata"].get("deletionTimestamp"):
            self.wanted.pop(uid, None)
            with self._lock:
                run = self.runs.pop(uid, None)
            if run is not None:
                key = (run.namespace, run.name)
                thread = threading.Thread(target=self._terminate, args=(run,), name=f"stop-{run.name}")
                self.stopping[key] = thread
                thread.start()
            return
        with self._lock:
            known = uid in self.runs
        if not known:
            self.wanted[uid] = pod

    def _start_wanted(self) -> None:
        for key, thread in list(self.stopping.items()):
            if not thread.is_alive():
                del self.stopping[key]
        for uid, pod in list(self.wanted.items()):
            meta = pod["metadata"]
            if (meta["namespace"], meta["name"]) in self.stopping:
                continue  # the previous pod of this name still holds the address and ports
            del self.wanted[uid]
            run = self._prepare(pod)
            with self._lock:
                self.runs[uid] = run

    # -- starting ----------------------------------------------------------------------------------------------
    def _image(self, image: str) -> LocalImage | None:
        return next((candidate for candidate in self.images if candidate.matches(image)), None)

    def _prepare(self, pod: Json) -> PodRun:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        namespace, name = meta["namespace"], meta["name"]
        ip = self.pod_ip(namespace, name)
        folder = self.workdir / "pods" / namespace / f"{name}-{meta['uid'][:8]}"
        folder.mkdir(parents=True, exist_ok=True)
        hostname = str(spec.get("hostname") or name)
        volumes = {volume["name"]: volume for volume in spec.get("volumes") or []}
        run = PodRun(namespace, name, meta["uid"], ip, folder, pod, [], now())
        for container in spec.get("containers") or []:
            image = self._image(str(container.get("image", "")))
            item = ContainerRun(container, image, folder / f"{container['name']}.log")
            run.containers.append(item)
            if image is None:
                message = f"image {container.get('image')!r} is not one the test kubelet can run (kubelet/images.py)"
                item.waiting = {"reason": "ErrImageNeverPull", "message": message}
                continue
            mounts = {}
            for mount in container.get("volumeMounts") or []:
                host = self._volume(run, volumes[mount["name"]])
                if mount.get("subPath"):
                    host = host / mount["subPath"]
                mounts[mount["mountPath"]] = str(host)
            rewrite = Rewriter(self.plan, hostname, ip, mounts)
            self._materialise_config_maps(run, volumes, rewrite)
            env = self._environment(run, container, image, hostname)
            argv = list(container.get("command") or image.entrypoint)
            argv += list(
                container.get("args") if "args" in container else [] if container.get("command") else image.cmd
            )
            item.argv = [rewrite(expand(arg, env)) for arg in argv]
            item.env = {key: rewrite(value) for key, value in env.items()}
        return run

    def _volume(self, run: PodRun, volume: Json) -> Path:
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            path = self.workdir / "claims" / run.namespace / claim
        else:
            path = run.folder / "volumes" / volume["name"]
        path.mkdir(parents=True, exist_ok=True)
        if "secret" in volume:
            secret = self.api.get("secrets", run.namespace, volume["secret"]["secretName"]) or {}
            for key, value in (secret.get("data") or {}).items():
                (path / key).write_bytes(base64.b64decode(value))
        return path

    def _materialise_config_maps(self, run: PodRun, volumes: dict[str, Json], rewrite: Rewriter) -> None:
        # after the mounts are known: a ConfigMap's text names them (log.dirs, certificate paths)
        for volume in volumes.values():
            if "configMap" not in volume:
                continue
            config_map = self.api.get("configmaps", run.namespace, volume["configMap"]["name"]) or {}
            path = run.folder / "volumes" / volume["name"]
            path.mkdir(parents=True, exist_ok=True)
            for key, value in (config_map.get("data") or {}).items():
                (path / key).write_text(rewrite(str(value)))
            for key, value in (config_map.get("binaryData") or {}).items():
                (path / key).write_bytes(base64.b64decode(value))

    def _environment(self, run: PodRun, container: Json, image: LocalImage, hostname: str) -> dict[str, str]:
        env = {
            "PATH": os.pathsep.join([*image.path, "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(run.folder),
            "HOSTNAME": hostname,
            "LANG": "C.UTF-8",
            **image.env,
        }
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = expand(str(item["value"]), env)
                continue
            source = item.get("valueFrom") or {}
            value: str | None = None
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                data = (self.api.get("secrets", run.namespace, ref["name"]) or {}).get("data") or {}
                value = base64.b64decode(data[ref["key"]]).decode() if ref["key"] in data else None
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                data = (self.api.get("configmaps", run.namespace, ref["name"]) or {}).get("data") or {}
                value = data.get(ref["key"])
            elif "fieldRef" in source:
                path = source["fieldRef"]["fieldPath"]
                value = {"metadata.name": run.name, "metadata.namespace": run.namespace, "status.podIP": run.ip}.get(
                    path
                )
            if value is None:
                raise KeyError(f"pod {run.namespace}/{run.name}: env {item['name']} has no value ({source})")
            env[item["name"]] = value
        return env

    # -- running -----------------------------------------------------------------------------------------------
    def _spawn(self, item: ContainerRun, folder: Path) -> None:
        with open(item.log, "ab") as log:
            log.write(f"--- start {now()}: {item.argv}\n".encode())
            log.flush()
            item.proc = subprocess.Popen(
                item.argv,
                env=item.env,
                cwd=folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: a stop reaches the shell's children
            )
        self.spawned.append(item.proc)
        item.started_at = now()
        item.started_mono = time.monotonic()
        item.ready = False
        item.waiting = None
        probe = item.spec.get("readinessProbe")
        item.readiness = Probe(probe, item.started_mono) if probe else None
        probe = item.spec.get("livenessProbe")
        item.liveness = Probe(probe, item.started_mono) if probe else None

    def _tend(self, run: PodRun) -> None:
        policy = (run.pod.get("spec") or {}).get("restartPolicy", "Always")
        mono = time.monotonic()
        for item in run.containers:
            if item.image is None or item.done:
                continue
            if item.proc is None:
                if mono >= item.next_start:
                    self._spawn(item, run.folder)
                continue
            code = item.proc.poll()
            if code is not None:
                item.last_terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}
                item.proc, item.ready = None, False
                restart = policy == "Always" or (policy == "OnFailure" and code != 0)
                if not restart:
                    item.done = True
                    continue
                item.restart_count += 1
                item.next_start = mono + item.backoff
                item.backoff = min(item.backoff * 2, BACKOFF_MAX_S)
                item.waiting = {"reason": "CrashLoopBackOff", "message": f"exited {code}; restarting"}
                continue
            if mono - item.started_mono > 60:
                item.backoff = BACKOFF_START_S  # ran a while: the next exit starts the back-off again
            if item.readiness is not None and mono >= item.readiness.next_at:
                item.ready = self._probe(run, item, item.readiness, item.ready)
            elif item.readiness is None:
                item.ready = True
            if item.liveness is not None and mono >= item.liveness.next_at:
                alive = self._probe(run, item, item.liveness, True)
                if not alive:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(item.proc.pid, signal.SIGKILL)
        self._report(run)

    def _probe(self, run: PodRun, item: ContainerRun, probe: Probe, current: bool) -> bool:
        """One probe attempt; returns the probe's verdict after Kubernetes' thresholds."""
        probe.next_at = time.monotonic() + probe.period
        ok = check(probe.spec, run.ip, item.spec, float(probe.spec.get("timeoutSeconds", 1)))
        if ok:
            probe.successes, probe.failures = probe.successes + 1, 0
            return current or probe.successes >= int(probe.spec.get("successThreshold", 1))
        probe.successes, probe.failures = 0, probe.failures + 1
        return current and probe.failures < int(probe.spec.get("failureThreshold", 3))

    def _report(self, run: PodRun) -> None:
        statuses = []
        for item in run.containers:
            if item.proc is not None:
                state: Json = {"running": {"startedAt": item.started_at}}
            elif item.done and item.last_terminated is not None:
                state = {"terminated": dict(item.last_terminated)}
            else:
                state = {"waiting": dict(item.waiting or {"reason": "ContainerCreating"})}
            entry: Json = {
                "name": item.name,
                "image": item.spec.get("image", ""),
                "imageID": "",
                "ready": bool(item.proc is not None and item.ready),
                "started": item.proc is not None,
                "restartCount": item.restart_count,
                "state": state,
            }
            if item.last_terminated is not None:
                entry["lastState"] = {"terminated": dict(item.last_terminated)}
            statuses.append(entry)
        all_ready = bool(statuses) and all(entry["ready"] for entry in statuses)
        running = any(item.proc is not None for item in run.containers)
        finished = bool(run.containers) and all(item.done for item in run.containers)
        if finished:
            failed = any((item.last_terminated or {}).get("exitCode") for item in run.containers)
            phase = "Failed" if failed else "Succeeded"
        else:
            phase = "Running" if running else "Pending"
        conditions = [("PodScheduled", True), ("Initialized", True), ("ContainersReady", all_ready),
                      ("Ready", all_ready)]  # fmt: skip
        status: Json = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "podIP": run.ip,
            "podIPs": [{"ip": run.ip}],
            "startTime": run.start_time,
            "conditions": [{"type": kind, "status": "True" if flag else "False"} for kind, flag in conditions],
            "containerStatuses": statuses,
        }
        if status == run.last_status:
            return
        stamped = copy.deepcopy(status)
        for condition in stamped["conditions"]:
            since = run.transitions.get(condition["type"])
            if since is None or since[0] != condition["status"]:
                since = run.transitions[condition["type"]] = (condition["status"], now())
            condition["lastTransitionTime"] = since[1]
        try:
            current = self.api.get("pods", run.namespace, run.name)
            if current is None or current["metadata"]["uid"] != run.uid:
                return  # deleted: the DELETED event stops it
            self.api.patch_status("pods", run.namespace, run.name, stamped)
        except ApiError:
            return
        run.last_status = status

    # -- stopping ----------------------------------------------------------------------------------------------
    def _terminate(self, run: PodRun) -> None:
        grace = min(float((run.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)), GRACE_CAP_S)
        procs = [item.proc for item in run.containers if item.proc is not None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        end = time.monotonic() + grace
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, end - time.monotonic()))
        end = time.monotonic() + KILL_WAIT_S
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            try:
                proc.wait(max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.errors.append(f"pod {run.namespace}/{run.name}: process {proc.pid} survived SIGKILL")
        for proc in procs:
            # the group may outlive its leader (a shell's children): nothing of the pod may keep the ports
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for item in run.containers:
            item.proc = None


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion in command, args and env values: a defined variable is replaced, `$$(` stays
    a literal `$(`, anything else is left as written."""

    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return "$(" + match.group(2) + ")"
        return env.get(match.group(2), match.group(0))

    return re.sub(r"(\$)?\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, text)


def check(probe: Json, ip: str, container: Json, timeout: float) -> bool:
    """One tcpSocket or httpGet probe against the pod's address (a named port is looked up in the container)."""

    def port_of(value: Any) -> int:
        if isinstance(value, int):
            return value
        for port in container.get("ports") or []:
            if port.get("name") == value:
                return int(port["containerPort"])
        return int(value)

    if "tcpSocket" in probe:
        try:
            socket.create_connection((ip, port_of(probe["tcpSocket"]["port"])), timeout=timeout).close()
            return True
        except OSError:
            return False
    if "httpGet" in probe:
        get = probe["httpGet"]
        url = f"http://{ip}:{port_of(get['port'])}{get.get('path', '/')}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return 200 <= int(response.status) < 400
        except (OSError, urllib.error.URLError):
            return False
    raise ValueError(f"probe kind not supported by the test kubelet: {sorted(probe)}")
