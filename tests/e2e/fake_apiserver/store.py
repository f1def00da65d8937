"""The object store: every object of every type, a global resourceVersion counter, the watch event log, the
registry of resource types (built-in plus CRD-defined) and the rules an API server applies on each write.

Invariants:
- `resourceVersion` is one counter for the whole store, bumped by every change, and each change appends one
  `WatchEvent` to the log (bounded: `EVENT_LOG_SIZE`). A watch from resourceVersion R replays the log after R; R
  older than the log (`compacted_rv`) is 410 Gone, which makes clients relist.
- Objects are stored per (group, plural) whatever version wrote them; reads return them with the apiVersion of the
  URL (no conversion).
- A write that changes nothing is not a change: no new resourceVersion, no event (kopf relies on this to settle).
- An object with finalizers is only marked (deletionTimestamp) by DELETE; it goes when the last finalizer goes,
  and then its dependents (ownerReferences) are collected, and an emptied terminating namespace removed.

All methods take the store's lock: the server's event loop and the test's thread (direct helpers) both use it.
Watchers live on the server's loop and are fed through `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import queue
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import builtin_schemas, defaults, errors, immutability, patches, schema
from .errors import ApiError, Cause
from .kinds import BUILTIN_TYPES, ResourceType, crd_types

Json = dict[str, Any]
EVENT_LOG_SIZE = 10_000
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NS_KEY = ("", "namespaces")
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class WatchEvent:
    rv: int
    key: tuple[str, str]
    type: str  # ADDED, MODIFIED, DELETED
    obj: Json
    previous: Json | None


@dataclass
class WatcherBase:
    """One open watch: the events matching (type, namespace, predicate), as a real watch sends them (an object
    leaving the selector is DELETED, one entering it ADDED); None ends the stream."""

    rtype: ResourceType
    namespace: str | None
    predicate: Callable[[Json], bool]

    def _send(self, item: Json | None) -> None:
        raise NotImplementedError

    def _visible(self, obj: Json | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.predicate(obj)

    def offer(self, event: WatchEvent) -> None:
        now_visible, was_visible = self._visible(event.obj), self._visible(event.previous)
        kind = event.type
        if event.type == "MODIFIED":
            if now_visible and not was_visible:
                kind = "ADDED"
            elif was_visible and not now_visible:
                kind, now_visible = "DELETED", True
        if now_visible:
            obj = copy.deepcopy(event.obj)
            obj["apiVersion"] = self.rtype.api_version
            self._send({"type": kind, "object": obj})

    def close(self, error: Json | None = None) -> None:
        if error is not None:
            self._send({"type": "ERROR", "object": error})
        self._send(None)


@dataclass
class Watcher(WatcherBase):
    """A watch served over HTTP: events go to `queue` on the server's `loop`."""

    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    queue: asyncio.Queue[Json | None] = field(default_factory=asyncio.Queue)

    def _send(self, item: Json | None) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


@dataclass
class ThreadWatcher(WatcherBase):
    """A watch for test threads (a test kubelet): events in a thread-safe `queue.Queue`."""

    events: queue.Queue[Json | None] = field(default_factory=queue.Queue)

    def _send(self, item: Json | None) -> None:
        self.events.put(item)


@dataclass(frozen=True, slots=True)
class WriteOptions:
    dry_run: bool = False
    field_validation: str = "Warn"  # Ignore, Warn, Strict
    field_manager: str = ""
    subresource: str = ""


def _meta(obj: Json) -> Json:
    meta: Json = obj.setdefault("metadata", {})
    return meta


def _content(obj: Json) -> Json:
    """What `generation` counts: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Store:
    def __init__(self, validate_builtin: bool = True) -> None:
        self.lock = threading.RLock()
        self.validate_builtin = validate_builtin
        self._rv = itertools.count(1)
        self.current_rv = 0
        self.objects: dict[tuple[str, str], dict[tuple[str, str], Json]] = {}
        self.log: deque[WatchEvent] = deque(maxlen=EVENT_LOG_SIZE)
        self.compacted_rv = 0
        self.watchers: list[WatcherBase] = []
        self.types: dict[tuple[str, str, str], ResourceType] = {}
        self.applied: dict[tuple[str, str, str, str, str], Json] = {}
        # CEL rules of stored CRDs that cel.py cannot compile (skipped, not enforced).
        self.unsupported_rules: set[str] = set()
        for rt in BUILTIN_TYPES:
            self.types[(rt.group, rt.version, rt.plural)] = rt
        for name in ("default", "kube-system", "kube-public"):
            self.create(self.resolve("", "v1", "namespaces"), None, {"metadata": {"name": name}})

    # -- types ---------------------------------------------------------------------------------------------------
    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        with self.lock:
            rt = self.types.get((group, version, plural))
        if rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return rt

    def find_kind(self, api_version: str, kind: str) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        with self.lock:
            for rt in self.types.values():
                if rt.group == group and rt.version == version and rt.kind == kind:
                    return rt
        raise ApiError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')

    def _register_crd(self, crd: Json) -> None:
        self._unregister_crd(crd)
        for rt in crd_types(crd):
            self.types[(rt.group, rt.version, rt.plural)] = rt

    def _unregister_crd(self, crd: Json) -> None:
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        for key in [k for k in self.types if k[0] == group and k[2] == plural]:
            del self.types[key]

    # -- reads ---------------------------------------------------------------------------------------------------
    def _bucket(self, rt: ResourceType) -> dict[tuple[str, str], Json]:
        return self.objects.setdefault((rt.group, rt.plural), {})

    def _ns(self, rt: ResourceType, namespace: str | None) -> str:
        return (namespace or "") if rt.namespaced else ""

    def _out(self, rt: ResourceType, obj: Json) -> Json:
        result = copy.deepcopy(obj)
        result["apiVersion"] = rt.api_version
        result["kind"] = rt.kind
        return result

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Json:
        with self.lock:
            obj = self._bucket(rt).get((self._ns(rt, namespace), name))
            if obj is None:
                raise errors.not_found(rt.qualified_plural, name, rt.group, rt.plural)
            return self._out(rt, obj)

    def list_objects(
        self, rt: ResourceType, namespace: str | None, predicate: Callable[[Json], bool] = lambda o: True
    ) -> tuple[list[Json], str]:
        with self.lock:
            items = [
                self._out(rt, obj)
                for (ns, _), obj in sorted(self._bucket(rt).items())
                if (namespace is None or ns == namespace) and predicate(obj)
            ]
            return items, str(self.current_rv)

    # -- watch ---------------------------------------------------------------------------------------------------
    def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        predicate: Callable[[Json], bool],
        resource_version: str,
        send_initial: bool,
        loop: asyncio.AbstractEventLoop,
    ) -> Watcher:
        """Open a watch; its queue starts with the initial or replayed events. 410 if `resource_version` is older
        than the event log."""
        with self.lock:
            watcher = Watcher(rt, namespace, predicate, loop)
            self._watch_from(watcher, resource_version, send_initial)
            return watcher

    def watch_in_thread(
        self, rt: ResourceType, namespace: str | None, predicate: Callable[[Json], bool] = lambda o: True
    ) -> ThreadWatcher:
        """A watch for a test thread: ADDED for every current object, then every change; `unwatch` it."""
        with self.lock:
            watcher = ThreadWatcher(rt, namespace, predicate)
            self._watch_from(watcher, "", False)
            return watcher

    def _watch_from(self, watcher: WatcherBase, resource_version: str, send_initial: bool) -> None:
        rt, namespace, predicate = watcher.rtype, watcher.namespace, watcher.predicate
        if send_initial or resource_version in ("", "0"):
            for obj in self.list_objects(rt, namespace, predicate)[0]:
                watcher._send({"type": "ADDED", "object": obj})
            if send_initial:
                watcher._send(self.bookmark(rt, initial_end=True))
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise errors.bad_request(f"invalid resource version: {resource_version!r}") from None
            if since < self.compacted_rv:
                raise errors.gone(f"too old resource version: {since} ({self.compacted_rv})")
            for event in self.log:
                if event.rv > since and event.key == (rt.group, rt.plural):
                    watcher.offer(event)
        self.watchers.append(watcher)

    def unwatch(self, watcher: WatcherBase) -> None:
        with self.lock:
            if watcher in self.watchers:
                self.watchers.remove(watcher)

    def bookmark(self, rt: ResourceType, initial_end: bool = False) -> Json:
        meta: Json = {"resourceVersion": str(self.current_rv)}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        return {"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}}

    def compact(self) -> None:
        """Forget the event log and end every open watch with 410 Gone (clients must relist)."""
        with self.lock:
            # A watch from the current resourceVersion needs no forgotten event; one from any earlier one does.
            self.compacted_rv = self.current_rv
            self.log.clear()
            for watcher in self.watchers:
                watcher.close(errors.gone("too old resource version (compacted)").status())
            self.watchers.clear()

    def _emit(self, rt: ResourceType, kind: str, obj: Json, previous: Json | None) -> None:
        if len(self.log) == self.log.maxlen:
            self.compacted_rv = self.log[0].rv
        event = WatchEvent(int(obj["metadata"]["resourceVersion"]), (rt.group, rt.plural), kind, obj, previous)
        self.log.append(event)
        for watcher in self.watchers:
            if (watcher.rtype.group, watcher.rtype.plural) == event.key:
                watcher.offer(event)

    def _next_rv(self) -> str:
        self.current_rv = next(self._rv)
        return str(self.current_rv)

    # -- validation ----------------------------------------------------------------------------------------------
    def _validated(
        self, rt: ResourceType, obj: Json, options: WriteOptions, old: Json | None = None
    ) -> tuple[Json, list[str]]:
        """The object as stored (pruned and defaulted) and the warnings; raises 422 Invalid or 400 (Strict)."""
        name = obj["metadata"].get("name") or obj["metadata"].get("generateName", "")
        if rt.schema is not None:
            outcome = schema.check(obj, rt.schema, old)
            self.unsupported_rules.update(outcome.unsupported_rules)
            unknown, causes, result = outcome.unknown, outcome.causes, outcome.obj
        else:
            defaults.apply_defaults(rt.group, rt.kind, obj, old)
            result, unknown, causes = obj, *self._validate_builtin(obj, options)
            if old is not None and not causes and options.subresource != "status":
                causes = immutability.update_causes(rt.group, rt.kind, old, obj)
        if unknown and options.field_validation == "Strict":
            listed = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise errors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict decoding error: {listed}'
            )
        if causes:
            raise errors.invalid(rt.qualified_kind, name, rt.group, rt.kind, causes)
        warnings = [f'unknown field "{u}"' for u in unknown] if options.field_validation == "Warn" else []
        return result, warnings

    def _validate_builtin(self, obj: Json, options: WriteOptions) -> tuple[list[str], list[Cause]]:
        if not self.validate_builtin:
            return [], []
        error = builtin_schemas.first_error(obj, strict=False)
        if error is not None:
            return [], [Cause("FieldValueInvalid", f"Invalid value: {error.message}", error.path)]
        if options.field_validation == "Ignore":
            return [], []
        error = builtin_schemas.first_error(obj, strict=True)
        if error is None:
            return [], []
        fields = error.message.split("(", 1)[-1].split(" was unexpected")[0].replace("'", "").split(", ")
        return [f"{error.path}.{f}" if error.path else f for f in fields], []

    # -- writes --------------------------------------------------------------------------------------------------
    def create(
        self, rt: ResourceType, namespace: str | None, body: Json, options: WriteOptions = WriteOptions()
    ) -> tuple[Json, list[str]]:
        with self.lock:
            obj = copy.deepcopy(body)
            meta = _meta(obj)
            ns = self._ns(rt, namespace or meta.get("namespace"))
            if rt.namespaced:
                if meta.get("namespace") not in (None, "", ns):
                    raise errors.bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request"
                    )
                namespace_obj = self.objects.get(NS_KEY, {}).get(("", ns))
                if namespace_obj is None:
                    raise errors.not_found("namespaces", ns, "", "namespaces")
                if namespace_obj["metadata"].get("deletionTimestamp"):
                    raise ApiError(
                        403,
                        "Forbidden",
                        f'{rt.plural} "{meta.get("name", "")}" is forbidden: unable to '
                        f"create new content in namespace {ns} because it is being terminated",
                    )
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise errors.invalid(
                        rt.qualified_kind,
                        "",
                        rt.group,
                        rt.kind,
                        [
                            Cause(
                                "FieldValueRequired",
                                "Required value: name or generateName is required",
                                "metadata.name",
                            )
                        ],
                    )
                meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
            if (ns, meta["name"]) in self._bucket(rt):
                raise errors.already_exists(rt.qualified_plural, meta["name"], rt.group, rt.plural)
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            if rt.status_subresource and rt.schema is not None:
                obj.pop("status", None)
            for server_field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                meta.pop(server_field, None)
            obj, warnings = self._validated(rt, obj, options)
            meta = obj["metadata"]
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
            self._on_create(rt, obj)
            if options.dry_run:
                meta["resourceVersion"] = str(self.current_rv)
                return self._out(rt, obj), warnings
            meta["resourceVersion"] = self._next_rv()
            self._bucket(rt)[(ns, meta["name"])] = obj
            if (rt.group, rt.plural) == CRD_KEY:
                self._register_crd(obj)
            self._emit(rt, "ADDED", copy.deepcopy(obj), None)
            return self._out(rt, obj), warnings

    def _on_create(self, rt: ResourceType, obj: Json) -> None:
        """What controllers would set at once: namespace phase, CRD conditions."""
        if (rt.group, rt.plural) == NS_KEY:
            obj["status"] = {"phase": "Active"}
        elif (rt.group, rt.plural) == CRD_KEY:
            obj["status"] = self._crd_status(obj)

    def _crd_status(self, crd: Json) -> Json:
        stamp = now()
        storage = [v["name"] for v in crd["spec"].get("versions", []) if v.get("storage")]
        return {
            "conditions": [
                {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": stamp}
                for t, r, m in (
                    ("NamesAccepted", "NoConflicts", "no conflicts found"),
                    ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                )
            ],
            "acceptedNames": copy.deepcopy(crd["spec"]["names"]),
            "storedVersions": storage,
        }

    def update(
        self, rt: ResourceType, namespace: str | None, name: str, body: Json, options: WriteOptions = WriteOptions()
    ) -> tuple[Json, list[str]]:
        with self.lock:
            old = self._stored(rt, namespace, name)
            rv = (body.get("metadata") or {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.qualified_plural, name, rt.group, rt.plural)
            return self._replace(rt, old, copy.deepcopy(body), options)

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: Any,
        options: WriteOptions = WriteOptions(),
        force: bool = False,
    ) -> tuple[Json, list[str]]:
        with self.lock:
            key = (rt.group, rt.plural, self._ns(rt, namespace), name, options.field_manager)
            try:
                old = self._stored(rt, namespace, name)
            except ApiError:
                if content_type != "application/apply-patch+yaml" or options.subresource:
                    raise
                applied = copy.deepcopy(body)
                _meta(applied)["name"] = name
                result = self.create(rt, namespace, applied, options)
                if not options.dry_run:
                    self.applied[key] = copy.deepcopy(body)
                return result
            current = copy.deepcopy(old)
            try:
                if content_type == "application/merge-patch+json":
                    new = patches.merge_patch(current, body)
                elif content_type == "application/json-patch+json":
                    new = patches.json_patch(current, body)
                elif content_type == "application/strategic-merge-patch+json":
                    if not rt.builtin:
                        raise ApiError(
                            415,
                            "UnsupportedMediaType",
                            "the body of the request was in an unknown "
                            "format - accepted media types include: application/json-patch+json, "
                            "application/merge-patch+json, application/apply-patch+yaml",
                        )
                    new = patches.strategic_merge(current, body)
                elif content_type == "application/apply-patch+yaml":
                    if not isinstance(body, dict) or not body.get("apiVersion") or not body.get("kind"):
                        raise errors.bad_request("apiVersion and kind must be set in an applied configuration")
                    new = patches.apply(current, body, self.applied.get(key))
                else:
                    raise ApiError(
                        415,
                        "UnsupportedMediaType",
                        f"the body of the request was in an unknown format - {content_type}",
                    )
            except patches.PatchFailed as e:
                raise ApiError(422, "Invalid", str(e), name, rt.group, rt.plural) from e
            if not isinstance(new, dict):
                raise errors.bad_request("the patched object is not an object")
            result = self._replace(rt, old, new, options)
            if content_type == "application/apply-patch+yaml" and not options.dry_run:
                self.applied[key] = copy.deepcopy(body)
            return result

    def _stored(self, rt: ResourceType, namespace: str | None, name: str) -> Json:
        obj = self._bucket(rt).get((self._ns(rt, namespace), name))
        if obj is None:
            raise errors.not_found(rt.qualified_plural, name, rt.group, rt.plural)
        return obj

    def _replace(self, rt: ResourceType, old: Json, new: Json, options: WriteOptions) -> tuple[Json, list[str]]:
        """Store `new` in place of `old` after the subresource, immutability, validation and finalizer rules."""
        old_meta = old["metadata"]
        if options.subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        else:
            meta = _meta(new)
            if meta.get("name", old_meta["name"]) != old_meta["name"]:
                raise errors.bad_request(
                    f"the name of the object ({meta.get('name')}) does not match the name on "
                    f"the URL ({old_meta['name']})"
                )
            if rt.status_subresource:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            if old_meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
                if added:
                    raise ApiError(
                        422,
                        "Invalid",
                        f'{rt.qualified_kind} "{old_meta["name"]}" is invalid: '
                        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is "
                        "being deleted",
                        old_meta["name"],
                        rt.group,
                        rt.kind,
                    )
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        meta = _meta(new)
        for immutable in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ):
            if immutable in old_meta:
                meta[immutable] = old_meta[immutable]
            else:
                meta.pop(immutable, None)
        new, warnings = self._validated(rt, new, options, old)
        if _content(new) != _content(old):
            new["metadata"]["generation"] = old_meta.get("generation", 1) + 1
        if (rt.group, rt.plural) == CRD_KEY and options.subresource != "status":
            new["status"] = {
                **self._crd_status(new),
                **{k: v for k, v in (old.get("status") or {}).items() if k not in ("conditions", "acceptedNames")},
            }
        if new == old:
            return self._out(rt, old), warnings
        if options.dry_run:
            return self._out(rt, new), warnings
        if old_meta.get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._remove(rt, new)
            return self._out(rt, new), warnings
        new["metadata"]["resourceVersion"] = self._next_rv()
        self._bucket(rt)[(old_meta.get("namespace", ""), old_meta["name"])] = new
        if (rt.group, rt.plural) == CRD_KEY:
            self._register_crd(new)
        self._emit(rt, "MODIFIED", copy.deepcopy(new), copy.deepcopy(old))
        return self._out(rt, new), warnings

    # -- deletion ------------------------------------------------------------------------------------------------
    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        propagation: str = "Background",
        dry_run: bool = False,
        preconditions: Json | None = None,
    ) -> Json:
        with self.lock:
            obj = self._stored(rt, namespace, name)
            meta = obj["metadata"]
            for field_name in ("uid", "resourceVersion"):
                wanted = (preconditions or {}).get(field_name)
                if wanted and wanted != meta.get(field_name):
                    raise errors.conflict(rt.qualified_plural, name, rt.group, rt.plural)
            if dry_run:
                return self._out(rt, obj)
            if propagation == "Orphan":
                self._orphan(meta["uid"])
            return self._delete(rt, obj)

    def _delete(self, rt: ResourceType, obj: Json) -> Json:
        meta = obj["metadata"]
        is_namespace = (rt.group, rt.plural) == NS_KEY
        if meta.get("finalizers") or (is_namespace and self._namespace_contents(meta["name"])):
            if not meta.get("deletionTimestamp"):
                previous = copy.deepcopy(obj)
                meta["deletionTimestamp"] = now()
                meta["deletionGracePeriodSeconds"] = 0
                if is_namespace:
                    obj["status"] = {"phase": "Terminating"}
                meta["resourceVersion"] = self._next_rv()
                self._emit(rt, "MODIFIED", copy.deepcopy(obj), previous)
                if is_namespace:
                    for child_rt, child in self._namespace_contents(meta["name"]):
                        self._delete(child_rt, child)
                    self._maybe_remove_namespace(meta["name"])
            return self._out(rt, obj)
        meta["resourceVersion"] = self._next_rv()
        self._remove(rt, obj)
        return self._out(rt, obj)

    def _remove(self, rt: ResourceType, obj: Json) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        if self._bucket(rt).pop((ns, meta["name"]), None) is None:
            return
        for key in [k for k in self.applied if k[:4] == (rt.group, rt.plural, ns, meta["name"])]:
            del self.applied[key]
        self._emit(rt, "DELETED", copy.deepcopy(obj), None)
        if (rt.group, rt.plural) == CRD_KEY:
            self._drop_custom_resources(obj)
        self._collect_dependents(meta["uid"])
        if ns:
            self._maybe_remove_namespace(ns)

    def _drop_custom_resources(self, crd: Json) -> None:
        types = crd_types(crd)
        if types:
            rt = types[0]
            for obj in list(self._bucket(rt).values()):
                obj["metadata"]["resourceVersion"] = self._next_rv()
                self._remove(rt, obj)
        self._unregister_crd(crd)

    def _rtype_of(self, key: tuple[str, str]) -> ResourceType:
        return next(rt for rt in self.types.values() if (rt.group, rt.plural) == key)

    def _all(self) -> list[tuple[ResourceType, Json]]:
        return [
            (self._rtype_of(key), obj)
            for key, bucket in self.objects.items()
            if bucket
            for obj in list(bucket.values())
        ]

    def _namespace_contents(self, namespace: str) -> list[tuple[ResourceType, Json]]:
        return [(rt, obj) for rt, obj in self._all() if rt.namespaced and obj["metadata"].get("namespace") == namespace]

    def _maybe_remove_namespace(self, namespace: str) -> None:
        ns_obj = self.objects.get(NS_KEY, {}).get(("", namespace))
        if ns_obj and ns_obj["metadata"].get("deletionTimestamp") and not self._namespace_contents(namespace):
            ns_obj["metadata"]["resourceVersion"] = self._next_rv()
            self._remove(self._rtype_of(NS_KEY), ns_obj)

    def _live_uids(self) -> set[str]:
        return {obj["metadata"]["uid"] for _, obj in self._all()}

    def _collect_dependents(self, uid: str) -> None:
        """Background garbage collection: a dependent goes once none of its owners exist."""
        live = self._live_uids()
        for rt, obj in self._all():
            owners = [ref.get("uid") for ref in obj["metadata"].get("ownerReferences") or []]
            still_stored = obj is self._bucket(rt).get((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
            if uid in owners and not any(owner in live for owner in owners) and still_stored:
                self._delete(rt, obj)

    def _orphan(self, uid: str) -> None:
        for rt, obj in self._all():
            refs = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == uid for ref in refs):
                previous = copy.deepcopy(obj)
                kept = [ref for ref in refs if ref.get("uid") != uid]
                if kept:
                    obj["metadata"]["ownerReferences"] = kept
                else:
                    del obj["metadata"]["ownerReferences"]
                obj["metadata"]["resourceVersion"] = self._next_rv()
                self._emit(rt, "MODIFIED", copy.deepcopy(obj), previous)
