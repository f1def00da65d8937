"""The REST server: every endpoint of Kafka's Connect REST API that a standalone worker serves.

Conventions (Kafka's ConnectExceptionMapper): errors are `{"error_code": <status>, "message": "..."}`; 404 for an
unknown connector, task, logger or plugin; 409 for a duplicate connector; 400 for invalid configs and bad bodies;
403 when topic tracking is off; 500 for anything unexpected and for herder calls that take longer than
`REQUEST_TIMEOUT_S` ("Request timed out"). Herder calls run in threads (`asyncio.to_thread`), so the event loop
keeps answering while connectors start or tasks stop. Boolean query parameters are `true` in any case, anything
else false (Java's Boolean.parseBoolean), so Python clients sending `False`/`True` work.

Endpoints: GET / ; GET /health ; GET, POST /connectors ; GET, DELETE /connectors/{c} ; GET, PUT, PATCH
/connectors/{c}/config ; GET /connectors/{c}/status ; POST /connectors/{c}/restart ; PUT /connectors/{c}/pause,
/resume, /stop ; GET /connectors/{c}/tasks ; GET /connectors/{c}/tasks-config ; GET
/connectors/{c}/tasks/{t}/status ; POST /connectors/{c}/tasks/{t}/restart ; GET /connectors/{c}/topics ; PUT
/connectors/{c}/topics/reset ; GET, PATCH, DELETE /connectors/{c}/offsets ; GET /connector-plugins ; GET
/connector-plugins/{p}/config ; PUT /connector-plugins/{p}/config/validate ; GET /admin/loggers ; GET, PUT
/admin/loggers/{name}; the internal POST /connectors/{c}/tasks (distributed mode: a worker running a connector
submits its task configs to the leader; 404 on a standalone worker) and the internal PUT /connectors/{c}/fence
(KIP-618: the leader fences the connector's previous task generation if it is pending, 204; 404 for an unknown
connector or on a standalone worker, 400 for a sink connector, signed as POST /tasks in a sessioned group).

Forwarding (distributed mode): a follower forwards config writes to the leader with `?forward=false`; the herder
reads that flag from `FORWARDED` (a context variable set here, copied into the herder call's thread) and answers a
forwarded request it cannot serve with 409 instead of forwarding it again.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import web
from odradek.connect import VERSION
from odradek.connect.api.errors import (
    AlreadyExistsException,
    BadRequestException,
    ConflictException,
    ConnectException,
    ForbiddenException,
    NotFoundException,
)
from odradek.connect.config.connector import string_config
from odradek.connect.rest.loggers import Loggers
from odradek.connect.rest.security import BasicAuthenticator, basic_auth_middleware
from odradek.connect.rest.signature import InternalRequestSignature
from odradek.connect.runtime.standalone import StandaloneHerder
from odradek.connect.runtime.states import TargetState

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 90.0
HEALTH_TIMEOUT_S = 10.0
T = TypeVar("T")

_STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (NotFoundException, 404),
    (AlreadyExistsException, 409),
    (ConflictException, 409),
    (BadRequestException, 400),
    (ForbiddenException, 403),
)

FORWARDED: contextvars.ContextVar[bool] = contextvars.ContextVar("forwarded", default=False)
# The caller's Authorization header, passed on when the call is forwarded to another worker (as Kafka's RestClient).
AUTHORIZATION: contextvars.ContextVar[str | None] = contextvars.ContextVar("authorization", default=None)

HERDER_KEY = web.AppKey("herder", StandaloneHerder)
LOGGERS_KEY = web.AppKey("loggers", Loggers)


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error_code": status, "message": message}, status=status)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    FORWARDED.set(request.query.get("forward", "").strip().lower() == "false")
    AUTHORIZATION.set(request.headers.get("Authorization"))
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, f"HTTP {exc.status} {exc.reason}")
    except ConnectException as exc:
        for cls, status in _STATUS_OF:
            if isinstance(exc, cls):
                return error_response(status, str(exc))
        log.error("Uncaught exception in REST call to %s", request.path, exc_info=exc)
        return error_response(500, str(exc))
    except TimeoutError:
        return error_response(500, "Request timed out")
    except Exception as exc:
        log.error("Uncaught exception in REST call to %s", request.path, exc_info=exc)
        return error_response(500, f"{type(exc).__name__}: {exc}")


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    return default if value is None else value.strip().lower() == "true"


async def call(func: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
    """Run a herder call in a thread, bounded by `timeout` (default REQUEST_TIMEOUT_S, read at call time)."""
    return await asyncio.wait_for(asyncio.to_thread(func, *args), timeout or REQUEST_TIMEOUT_S)


async def body_json(request: web.Request) -> Any:
    try:
        text = await request.text()
        return json.loads(text) if text.strip() else None
    except ValueError as exc:
        raise BadRequestException(f"Cannot deserialize the request body: {exc}") from None


def herder_of(request: web.Request) -> StandaloneHerder:
    return request.app[HERDER_KEY]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers)


def location(request: web.Request, name: str) -> str:
    return str(request.url.with_path("/connectors/" + quote(name, safe="")).with_query(None))


# -- root and health ------------------------------------------------------------------------------------------


async def root(request: web.Request) -> web.Response:
    herder = herder_of(request)
    return json_response(
        {"version": VERSION, "commit": "odradek-" + VERSION, "kafka_cluster_id": herder.kafka_cluster_id}
    )


async def health(request: web.Request) -> web.Response:
    herder = herder_of(request)
    if not herder.ready:
        return json_response({"status": "starting", "message": "Worker is still starting up."}, 503)
    try:
        await call(herder.connectors, timeout=HEALTH_TIMEOUT_S)
    except TimeoutError:
        return json_response(
            {
                "status": "unhealthy",
                "message": "Worker was unable to handle this request and may be unable to handle other requests.",
            },
            500,
        )
    return json_response(
        {"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."}
    )


# -- connectors -----------------------------------------------------------------------------------------------


async def list_connectors(request: web.Request) -> web.Response:
    herder = herder_of(request)
    names = await call(herder.connectors)
    expand = set(request.query.getall("expand", []))
    if not expand & {"status", "info"}:
        return json_response(names)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        entry: dict[str, Any] = {}
        try:
            if "status" in expand:
                entry["status"] = await call(herder.connector_status, name)
            if "info" in expand:
                entry["info"] = await call(herder.connector_info, name)
        except NotFoundException:
            continue  # deleted while we listed
        out[name] = entry
    return json_response(out)


def _initial_state(value: Any) -> TargetState | None:
    if value is None:
        return None
    text = str(value).upper()
    if text == "RUNNING":
        return TargetState.STARTED
    if text in ("PAUSED", "STOPPED"):
        return TargetState[text]
    raise BadRequestException(f"Invalid initial state {value}: must be one of RUNNING, PAUSED, STOPPED")


def _checked_config(name: str, config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise BadRequestException("Connector configuration must be a JSON object")
    if "name" in config and str(config["name"]) != name:
        raise BadRequestException(
            f"Connector name configuration ({config['name']}) doesn't match connector name in the URL ({name})"
        )
    return {**config, "name": name}


async def create_connector(request: web.Request) -> web.Response:
    body = await body_json(request)
    if not isinstance(body, dict):
        raise BadRequestException("Request body must be a JSON object with name and config")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequestException("Connector name must not be empty")
    name = name.strip()
    if "/" in name:
        raise BadRequestException("connector name should not contain '/'")
    config = _checked_config(name, body.get("config") or {})
    state = _initial_state(body.get("initial_state"))
    _, info = await call(herder_of(request).put_connector_config, name, config, False, state)
    return json_response(info, 201, {"Location": location(request, name)})


async def get_connector(request: web.Request) -> web.Response:
    return json_response(await call(herder_of(request).connector_info, request.match_info["connector"]))


async def delete_connector(request: web.Request) -> web.Response:
    await call(herder_of(request).delete_connector_config, request.match_info["connector"])
    return web.Response(status=204)


async def get_config(request: web.Request) -> web.Response:
    return json_response(await call(herder_of(request).connector_config, request.match_info["connector"]))


async def put_config(request: web.Request) -> web.Response:
    name = request.match_info["connector"]
    config = _checked_config(name, await body_json(request))
    created, info = await call(herder_of(request).put_connector_config, name, config, True)
    if created:
        return json_response(info, 201, {"Location": location(request, name)})
    return json_response(info)


async def patch_config(request: web.Request) -> web.Response:
    patch = await body_json(request)
    if not isinstance(patch, dict):
        raise BadRequestException("Connector configuration must be a JSON object")
    return json_response(await call(herder_of(request).patch_connector_config, request.match_info["connector"], patch))


async def get_status(request: web.Request) -> web.Response:
    return json_response(await call(herder_of(request).connector_status, request.match_info["connector"]))


async def restart_connector(request: web.Request) -> web.Response:
    name = request.match_info["connector"]
    include_tasks, only_failed = flag(request, "includeTasks"), flag(request, "onlyFailed")
    herder = herder_of(request)
    if not include_tasks and not only_failed:
        await call(herder.restart_connector, name)
        return web.Response(status=204)
    return json_response(await call(herder.restart_connector_and_tasks, name, include_tasks, only_failed), 202)


async def pause(request: web.Request) -> web.Response:
    await call(herder_of(request).pause_connector, request.match_info["connector"])
    return web.Response(status=202)


async def resume(request: web.Request) -> web.Response:
    await call(herder_of(request).resume_connector, request.match_info["connector"])
    return web.Response(status=202)


async def stop(request: web.Request) -> web.Response:
    await call(herder_of(request).stop_connector, request.match_info["connector"])
    return web.Response(status=204)


def _task(request: web.Request) -> int:
    try:
        return int(request.match_info["task"])
    except ValueError:
        raise NotFoundException(
            f"Task {request.match_info['connector']}-{request.match_info['task']} not found"
        ) from None


async def get_tasks(request: web.Request) -> web.Response:
    return json_response(await call(herder_of(request).tasks, request.match_info["connector"]))


async def put_task_configs(request: web.Request) -> web.Response:
    herder = herder_of(request)
    raw = await request.read()
    try:
        configs = json.loads(raw) if raw.strip() else None
    except ValueError as exc:
        raise BadRequestException(f"Cannot deserialize the request body: {exc}") from None
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise BadRequestException("Task configs must be a JSON array of objects")
    signature = InternalRequestSignature.from_headers(request.headers, raw)
    name = request.match_info["connector"]
    await call(herder.put_task_configs, name, [string_config(c) for c in configs], signature)
    return web.Response(status=204)


async def fence_zombies(request: web.Request) -> web.Response:
    raw = await request.read()
    signature = InternalRequestSignature.from_headers(request.headers, raw)
    await call(herder_of(request).fence_zombie_source_tasks, request.match_info["connector"], signature)
    return web.Response(status=204)


async def get_tasks_config(request: web.Request) -> web.Response:
    return json_response(await call(herder_of(request).tasks_config, request.match_info["connector"]))


async def get_task_status(request: web.Request) -> web.Response:
    return json_response(await call(herder_of(request).task_status, request.match_info["connector"], _task(request)))


async def restart_task(request: web.Request) -> web.Response:
    await call(herder_of(request).restart_task, request.match_info["connector"], _task(request))
    return web.Response(status=204)


async def get_topics(request: web.Request) -> web.Response:
    return json_response(await call(herder_of(request).active_topics, request.match_info["connector"]))


async def reset_topics(request: web.Request) -> web.Response:
    await call(herder_of(request).reset_active_topics, request.match_info["connector"])
    return web.Response(status=202)


async def get_offsets(request: web.Request) -> web.Response:
    return json_response(await call(herder_of(request).connector_offsets, request.match_info["connector"]))


async def patch_offsets(request: web.Request) -> web.Response:
    name = request.match_info["connector"]
    body = await body_json(request)
    offsets = body.get("offsets") if isinstance(body, dict) else None
    herder = herder_of(request)
    await call(herder.connector_info, name)  # 404 before 400, as Kafka
    if not isinstance(offsets, list) or not offsets:
        raise BadRequestException("Partitions / offsets need to be provided for an alter offsets request")
    return json_response({"message": await call(herder.alter_connector_offsets, name, offsets)})


async def reset_offsets(request: web.Request) -> web.Response:
    return json_response(
        {"message": await call(herder_of(request).reset_connector_offsets, request.match_info["connector"])}
    )


# -- plugins --------------------------------------------------------------------------------------------------


async def list_plugins(request: web.Request) -> web.Response:
    return json_response(await call(herder_of(request).plugin_list, flag(request, "connectorsOnly", True)))


async def plugin_config(request: web.Request) -> web.Response:
    return json_response(await call(herder_of(request).plugin_config, request.match_info["plugin"]))


def _normalized(name: str) -> str:
    simple = name.rpartition(".")[2]
    return simple[: -len("Connector")] if simple.endswith("Connector") else simple


async def validate_config(request: web.Request) -> web.Response:
    plugin = request.match_info["plugin"]
    config = await body_json(request)
    if not isinstance(config, dict):
        raise BadRequestException("Connector configuration must be a JSON object")
    included = config.get("connector.class")
    if included is not None and not _normalized(str(included)).endswith(_normalized(plugin)):
        raise BadRequestException(f"Included connector type {included} does not match request type {plugin}")
    config = {**config, "connector.class": included or plugin}
    return json_response(await call(herder_of(request).validate, config))


# -- loggers --------------------------------------------------------------------------------------------------


async def list_loggers(request: web.Request) -> web.Response:
    return json_response(request.app[LOGGERS_KEY].all_levels())


async def get_logger(request: web.Request) -> web.Response:
    return json_response(request.app[LOGGERS_KEY].level(request.match_info["logger"]))


async def set_logger(request: web.Request) -> web.Response:
    body = await body_json(request)
    level = body.get("level") if isinstance(body, dict) else None
    scope = request.query.get("scope", "worker").lower()
    affected = request.app[LOGGERS_KEY].set_level(request.match_info["logger"], level)
    if scope == "cluster":
        # One worker is the whole cluster in standalone mode.
        return web.Response(status=204)
    return json_response(affected)


def build_app(
    herder: StandaloneHerder, loggers: Loggers | None = None, authenticator: BasicAuthenticator | None = None
) -> web.Application:
    """The REST application; with `authenticator`, every request but the internal ones needs basic credentials."""
    auth = [basic_auth_middleware(authenticator)] if authenticator is not None else []
    app = web.Application(middlewares=[*auth, error_middleware])
    app[HERDER_KEY] = herder
    app[LOGGERS_KEY] = loggers or Loggers()
    c = "/connectors/{connector}"
    app.router.add_routes(
        [
            web.get("/", root),
            web.get("/health", health),
            web.get("/connectors", list_connectors),
            web.post("/connectors", create_connector),
            web.get(c, get_connector),
            web.delete(c, delete_connector),
            web.get(c + "/config", get_config),
            web.put(c + "/config", put_config),
            web.patch(c + "/config", patch_config),
            web.get(c + "/status", get_status),
            web.post(c + "/restart", restart_connector),
            web.put(c + "/pause", pause),
            web.put(c + "/resume", resume),
            web.put(c + "/stop", stop),
            web.get(c + "/tasks", get_tasks),
            web.post(c + "/tasks", put_task_configs),
            web.put(c + "/fence", fence_zombies),
            web.get(c + "/tasks-config", get_tasks_config),
            web.get(c + "/tasks/{task}/status", get_task_status),
            web.post(c + "/tasks/{task}/restart", restart_task),
            web.get(c + "/topics", get_topics),
            web.put(c + "/topics/reset", reset_topics),
            web.get(c + "/offsets", get_offsets),
            web.patch(c + "/offsets", patch_offsets),
            web.delete(c + "/offsets", reset_offsets),
            web.get("/connector-plugins", list_plugins),
            web.get("/connector-plugins/{plugin}/config", plugin_config),
            web.put("/connector-plugins/{plugin}/config/validate", validate_config),
            web.get("/admin/loggers", list_loggers),
            web.get("/admin/loggers/{logger}", get_logger),
            web.put("/admin/loggers/{logger}", set_logger),
        ]
    )
    return app
