"""The HTTP face of the fake API server (aiohttp): URL parsing, content negotiation, discovery, CRUD verbs and
watch streams over a `Store`.

URLs: `/api/v1/...` (core group) and `/apis/<group>/<version>/...`, then
`[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]`; `/api/v1/namespaces/<name>[/status|/finalize]` is the
Namespace itself. Bodies are JSON (YAML for apply patches); protobuf is refused with 415 (kubectl's `create
namespace` generator sends it: tests use `apply -f` / `create -f`). Lists come back as `<Kind>List`; Table output
is not served (kubectl falls back to printing JSON objects client-side).

Watch stream: `Content-Type: application/json`, one `{"type", "object"}` JSON document per line; ends at
`timeoutSeconds` (or WATCH_DEFAULT_TIMEOUT), with BOOKMARKs every `bookmark_interval` seconds when
`allowWatchBookmarks=true`, and an `ERROR` event carrying a 410 Status when the requested resourceVersion is too old
or the log is compacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import yaml  # type: ignore[import-untyped]
from aiohttp import web

from . import discovery, patches, scale, tables
from .errors import ApiError
from .kinds import ResourceType
from .selectors import SelectorError, field_selector, label_selector
from .store import Store, WriteOptions

Json = dict[str, Any]
WATCH_DEFAULT_TIMEOUT = 1800.0
STORE_KEY = web.AppKey("store", Store)


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else None
    return web.Response(text=json.dumps(body), status=status, content_type="application/json", headers=headers)


def _error(error: ApiError) -> web.Response:
    return _json(error.status(), error.code)


class Route:
    """A resource URL taken apart."""

    def __init__(self, group: str, version: str, rest: list[str]) -> None:
        self.group, self.version = group, version
        self.namespace: str | None = None
        self.name = ""
        self.subresource = ""
        if (
            not group
            and rest[:1] == ["namespaces"]
            and (len(rest) <= 2 or (len(rest) == 3 and rest[2] in ("status", "finalize")))
        ):
            self.plural = "namespaces"
            self.name = rest[1] if len(rest) > 1 else ""
            self.subresource = rest[2] if len(rest) > 2 else ""
            return
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            self.namespace = rest[1]
            rest = rest[2:]
        if not rest or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        self.plural = rest[0]
        self.name = rest[1] if len(rest) > 1 else ""
        self.subresource = rest[2] if len(rest) > 2 else ""


class FakeApiApp:
    def __init__(self, store: Store, bookmark_interval: float = 5.0) -> None:
        self.store = store
        self.bookmark_interval = bookmark_interval
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app[STORE_KEY] = store
        self.app.router.add_route("*", "/{tail:.*}", self.dispatch)
        self.streams: set[web.StreamResponse] = set()
        # Every request as (method, path with query, User-Agent), for tests that assert what a client sent.
        self.requests: list[tuple[str, str, str]] = []

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs, request.headers.get("User-Agent", "")))
        try:
            return await self._dispatch(request)
        except ApiError as e:
            return _error(e)
        except SelectorError as e:
            return _error(ApiError(400, "BadRequest", str(e)))
        except Exception as e:  # a bug of the fake: tell the client (and the test log) what it was
            logging.getLogger(__name__).exception("fake API server failed on %s %s", request.method, request.path_qs)
            return _error(ApiError(500, "InternalError", f"fake API server error: {e!r}"))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        with self.store.lock:
            types = list(self.store.types.values())
        address = f"{request.host}"
        if request.method == "GET":
            found = self._static_document(parts, types, address)
            if found is not None:
                return _json(found)
        if len(parts) >= 3 and parts[0] == "api":
            route = Route("", parts[1], parts[2:])
        elif len(parts) >= 4 and parts[0] == "apis":
            route = Route(parts[1], parts[2], parts[3:])
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        rt = self.store.resolve(route.group, route.version, route.plural)
        if route.subresource == "scale" and rt.scale is not None:
            return await self._scale(request, rt, route)
        if route.subresource not in ("", "finalize") and not (route.subresource == "status" and rt.status_subresource):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if route.namespace is not None and not rt.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return await self._verb(request, rt, route)

    def _static_document(self, parts: list[str], types: list[ResourceType], address: str) -> Json | None:
        match parts:
            case ["version"]:
                return discovery.version_info()
            case ["api"]:
                return discovery.core_versions(address)
            case ["api", version]:
                return self._found(discovery.resource_list(types, "", version))
            case ["apis"]:
                return discovery.group_list(types)
            case ["apis", group]:
                return self._found(discovery.group_doc(types, group))
            case ["apis", group, version]:
                return self._found(discovery.resource_list(types, group, version))
            case ["openapi", "v3"]:
                return discovery.openapi_root(types)
            case ["openapi", "v3", "api", version]:
                return self._found(discovery.openapi_document(types, "", version))
            case ["openapi", "v3", "apis", group, version]:
                return self._found(discovery.openapi_document(types, group, version))
            case ["openapi", "v2"] | ["healthz"] | ["readyz"] | ["livez"]:
                if parts[0] == "openapi":
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                return {"status": "ok"}
        return None

    @staticmethod
    def _found(doc: Json | None) -> Json:
        if doc is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return doc

    async def _body(self, request: web.Request) -> Any:
        content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
        if "protobuf" in content_type:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - "
                f"accepted media types include: application/json, application/yaml "
                f"(sent {content_type})",
            )
        text = await request.text()
        if not text:
            return {}
        try:
            return yaml.safe_load(text) if "yaml" in content_type else json.loads(text)
        except (ValueError, yaml.YAMLError) as e:
            raise ApiError(400, "BadRequest", f"the body could not be decoded: {e}") from e

    @staticmethod
    def _options(request: web.Request, subresource: str) -> WriteOptions:
        q = request.query
        return WriteOptions(
            dry_run=q.get("dryRun") == "All",
            field_validation=q.get("fieldValidation", "Warn"),
            field_manager=q.get("fieldManager", ""),
            subresource=subresource,
        )

    @staticmethod
    def _predicate(request: web.Request) -> Any:
        labels = label_selector(request.query.get("labelSelector", ""))
        fields = field_selector(request.query.get("fieldSelector", ""))
        return lambda obj: labels(obj) and fields(obj)

    async def _verb(self, request: web.Request, rt: ResourceType, route: Route) -> web.StreamResponse:
        store, method, q = self.store, request.method, request.query
        if not route.name:
            if method == "GET" and q.get("watch") in ("true", "1"):
                return await self._watch(request, rt, route)
            if method == "GET":
                items, rv = store.list_objects(rt, route.namespace, self._predicate(request))
                if tables.wants_table(request.headers.get("Accept", "")):
                    return _json(tables.table(items, list(rt.printer_columns), rv))
                return _json(
                    {
                        "kind": f"{rt.kind}List",
                        "apiVersion": rt.api_version,
                        "metadata": {"resourceVersion": rv},
                        "items": items,
                    }
                )
            if method == "POST":
                body = await self._body(request)
                self._check_kind(rt, body)
                obj, warnings = store.create(rt, route.namespace, body, self._options(request, ""))
                return _json(obj, 201, warnings)
            if method == "DELETE":
                items, _ = store.list_objects(rt, route.namespace, self._predicate(request))
                for item in items:
                    store.delete(rt, item["metadata"].get("namespace"), item["metadata"]["name"])
                return _json({"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": {}, "items": items})
            raise ApiError(
                405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({method})"
            )
        options = self._options(request, route.subresource if route.subresource == "status" else "")
        if method == "GET":
            obj = store.get(rt, route.namespace, route.name)
            if tables.wants_table(request.headers.get("Accept", "")):
                return _json(tables.table([obj], list(rt.printer_columns), obj["metadata"]["resourceVersion"]))
            return _json(obj)
        if method == "PUT":
            body = await self._body(request)
            self._check_kind(rt, body)
            obj, warnings = store.update(rt, route.namespace, route.name, body, options)
            return _json(obj, 200, warnings)
        if method == "PATCH":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            body = await self._body(request)
            obj, warnings = store.patch(
                rt, route.namespace, route.name, content_type, body, options, force=q.get("force") == "true"
            )
            return _json(obj, 200, warnings)
        if method == "DELETE":
            body = await self._body(request)
            policy = q.get("propagationPolicy") or (body or {}).get("propagationPolicy") or "Background"
            dry_run = q.get("dryRun") == "All" or "All" in ((body or {}).get("dryRun") or [])
            obj = store.delete(rt, route.namespace, route.name, policy, dry_run, (body or {}).get("preconditions"))
            return _json(obj)
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method ({method})")

    async def _scale(self, request: web.Request, rt: ResourceType, route: Route) -> web.StreamResponse:
        """The scale subresource: an autoscaling/v1 Scale read from and written to the paths of `rt.scale`."""
        assert rt.scale is not None
        spec_path = rt.scale[0]
        obj = self.store.get(rt, route.namespace, route.name)
        if request.method in ("PUT", "PATCH"):
            body = await self._body(request)
            current = scale.scale_of(obj, rt.scale)
            if request.method == "PUT":
                wanted = body
            else:
                content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
                wanted = (
                    patches.json_patch(current, body)
                    if "json-patch" in content_type
                    else patches.merge_patch(current, body)
                )
            replicas = (wanted.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiError(
                    422,
                    "Invalid",
                    f'Scale.autoscaling "{route.name}" is invalid: spec.replicas: '
                    f"Invalid value: {replicas}: must be greater than or equal to 0",
                )
            obj, _ = self.store.patch(
                rt,
                route.namespace,
                route.name,
                "application/merge-patch+json",
                scale.replicas_patch(spec_path, replicas),
                self._options(request, ""),
            )
        return _json(scale.scale_of(obj, rt.scale))

    @staticmethod
    def _check_kind(rt: ResourceType, body: Any) -> None:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        kind, api_version = body.get("kind"), body.get("apiVersion")
        if (kind and kind != rt.kind) or (api_version and api_version != rt.api_version):
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({api_version}) and kind ({kind}) do not "
                f"match the URL's ({rt.api_version}, {rt.kind})",
            )

    async def _watch(self, request: web.Request, rt: ResourceType, route: Route) -> web.StreamResponse:
        q = request.query
        timeout = float(q.get("timeoutSeconds") or WATCH_DEFAULT_TIMEOUT)
        bookmarks = q.get("allowWatchBookmarks") == "true"
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        columns = list(rt.printer_columns)
        loop = asyncio.get_running_loop()
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        await response.prepare(request)
        try:
            watcher = self.store.watch(
                rt,
                route.namespace,
                self._predicate(request),
                q.get("resourceVersion", ""),
                q.get("sendInitialEvents") == "true",
                loop,
            )
        except ApiError as e:
            await response.write((json.dumps({"type": "ERROR", "object": e.status()}) + "\n").encode())
            return response
        self.streams.add(response)
        deadline = loop.time() + timeout
        try:
            while (remaining := deadline - loop.time()) > 0:
                wait = min(remaining, self.bookmark_interval) if bookmarks else remaining
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), wait)
                except TimeoutError:
                    if bookmarks and loop.time() < deadline:
                        item = self.store.bookmark(rt)
                    else:
                        break
                if item is None:
                    break
                if as_table and item["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    obj = item["object"]
                    item = {**item, "object": tables.table([obj], columns, obj["metadata"]["resourceVersion"])}
                await response.write((json.dumps(item) + "\n").encode())
        except ConnectionResetError:
            pass
        finally:
            self.store.unwatch(watcher)
            self.streams.discard(response)
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response
