"""`FakeApiServer`: the app on 127.0.0.1 (a free port) in a thread of its own with its own event loop, plus the
direct helpers tests use to assert on stored objects and to play the kubelet (pods Ready) without HTTP.
"""

from __future__ import annotations

import asyncio
import copy
import socket
import threading
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from aiohttp import web

from .app import FakeApiApp
from .errors import ApiError
from .kinds import ResourceType
from .store import Store, ThreadWatcher, WriteOptions, now

Json = dict[str, Any]
START_TIMEOUT = 10.0


class FakeApiServer:
    def __init__(self, bookmark_interval: float = 5.0, validate_builtin: bool = True) -> None:
        self.store = Store(validate_builtin=validate_builtin)
        self.api = FakeApiApp(self.store, bookmark_interval)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fake-apiserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError("fake API server did not start")
        if self._failure is not None:
            raise RuntimeError("fake API server failed to start") from self._failure
        # Accepting connections, not just bound: kubectl is started right after this returns.
        with socket.create_connection(("127.0.0.1", self.port), timeout=START_TIMEOUT):
            pass

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:  # reported to start()'s caller
            self._failure = e
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._shutdown())
        loop.close()

    async def _serve(self) -> None:
        self._runner = web.AppRunner(self.api.app, shutdown_timeout=1.0, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]  # a Server, typed as AbstractServer

    async def _shutdown(self) -> None:
        for watcher in list(self.store.watchers):
            watcher.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FakeApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    @property
    def requests(self) -> list[tuple[str, str, str]]:
        """Every request served so far: (method, path with query, User-Agent)."""
        return list(self.api.requests)

    # -- direct helpers ------------------------------------------------------------------------------------------
    def resource(self, name: str) -> ResourceType:
        """A resource type by plural (`configmaps`), `plural.group`, kind (`ConfigMap`) or short name (`cm`)."""
        with self.store.lock:
            types = list(self.store.types.values())
        for rt in types:
            if name in (rt.plural, rt.qualified_plural, rt.kind, rt.qualified_kind, *rt.short_names):
                return rt
        raise KeyError(f"no resource type {name!r}")

    def get(self, resource: str, namespace: str | None, name: str) -> Json | None:
        """The stored object, or None when there is none."""
        try:
            return self.store.get(self.resource(resource), namespace, name)
        except ApiError:
            return None

    def list(self, resource: str, namespace: str | None = None) -> list[Json]:
        return self.store.list_objects(self.resource(resource), namespace)[0]

    def create(self, obj: Json) -> Json:
        """Create an object directly (no HTTP), validated as a POST would be."""
        rt = self.store.find_kind(obj["apiVersion"], obj["kind"])
        return self.store.create(rt, obj.get("metadata", {}).get("namespace"), obj)[0]

    def patch_status(self, resource: str, namespace: str | None, name: str, status: Json) -> Json:
        """Merge `status` into the object's status as a controller (kubelet, StatefulSet controller) would."""
        rt = self.resource(resource)
        return self.store.patch(
            rt,
            namespace,
            name,
            "application/merge-patch+json",
            {"status": status},
            WriteOptions(subresource="status" if rt.status_subresource else ""),
        )[0]

    def set_pod_ready(self, namespace: str, name: str, ready: bool = True) -> Json:
        """Play the kubelet: the pod Running with its Ready and ContainersReady conditions (or not ready)."""
        pod = self.get("pods", namespace, name)
        if pod is None:
            raise KeyError(f"no pod {namespace}/{name}")
        flag = "True" if ready else "False"
        stamp = now()
        containers = pod.get("spec", {}).get("containers", [])
        status = {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "startTime": pod.get("status", {}).get("startTime", stamp),
            "conditions": [
                {"type": t, "status": flag, "lastTransitionTime": stamp}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": ready,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": stamp}},
                }
                for c in containers
            ],
        }
        status["conditions"][0]["status"] = "True"
        return self.patch_status("pods", namespace, name, copy.deepcopy(status))

    def watch_in_thread(self, resource: str, namespace: str | None = None) -> ThreadWatcher:
        """Events of `resource` for a test thread (a test kubelet): `.events` is a `queue.Queue` of
        `{"type", "object"}` dicts, ADDED for every current object first; None means the watch ended (after
        `compact()` an ERROR 410 comes first): subscribe again. Stop with `unwatch(watcher)`."""
        return self.store.watch_in_thread(self.resource(resource), namespace)

    def unwatch(self, watcher: ThreadWatcher) -> None:
        self.store.unwatch(watcher)

    def compact(self) -> None:
        """Forget the watch event log and end open watches with 410 Gone: clients must relist."""
        self.store.compact()
