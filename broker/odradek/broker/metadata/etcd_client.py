"""``EtcdClient``: the wire part of the etcd backend, etcd v3's ``/v3/`` JSON gateway over aiohttp.

Format (measured in notes/etcd.md section 2): each call is ``POST <endpoint>/v3/<path>`` with a JSON body; keys,
values and ``range_end`` are base64 strings, int64 fields are JSON strings, fields with a zero value are left
out of replies, and an error reply is ``{"error", "message", "code"}`` with ``code`` a gRPC status code.
Streaming calls (watch) send one JSON object per line.

Failover: the client keeps a current endpoint and moves to the next one whenever a request to it fails; every
request has a short timeout of its own (``request_timeout_s``), because a request forwarded to a dead etcd
leader otherwise hangs for the server's 7 s. Every call has an overall deadline (``operation_timeout_s``).
What a failed attempt means for a retry (the caller passes ``idempotent``):

- *not applied*: the connection could not be made, or etcd refused it before proposing it ("no leader",
  "too many requests"). Always retried, on the next endpoint.
- *unknown*: the request was sent and then timed out, the connection broke, or etcd answered "request timed
  out" / "leader changed". Idempotent calls (reads, lease grant and keepalive) are retried; any other raises
  ``OutcomeUnknownError`` at once, and the caller finds out by reading (``etcd.EtcdMetadataStore``).
- *definite*: any other etcd error (``EtcdError`` with its code and message), raised at once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from odradek.broker.metadata.store import MetadataStoreError, StoreClosedError

__all__ = [
    "EtcdClient",
    "EtcdError",
    "EtcdUnavailableError",
    "OutcomeUnknownError",
    "b64",
    "int_field",
    "unb64",
]

log = logging.getLogger(__name__)

Json = dict[str, Any]

# gRPC status codes (google.golang.org/grpc/codes) that etcd's gateway passes through as "code".
GRPC_CANCELLED = 1
GRPC_UNKNOWN = 2
GRPC_DEADLINE_EXCEEDED = 4
GRPC_NOT_FOUND = 5
GRPC_RESOURCE_EXHAUSTED = 8
GRPC_OUT_OF_RANGE = 11
GRPC_INTERNAL = 13
GRPC_UNAVAILABLE = 14

# Unavailable errors etcd returns before a request is proposed to raft: the request was not applied.
_NOT_APPLIED_MESSAGES = ("no leader", "not capable", "too many requests", "raft proposal dropped")
_UNKNOWN_CODES = frozenset({GRPC_CANCELLED, GRPC_UNKNOWN, GRPC_DEADLINE_EXCEEDED, GRPC_INTERNAL, GRPC_UNAVAILABLE})
_BACKOFF_S = (0.02, 0.05, 0.1, 0.2, 0.5)


class EtcdError(MetadataStoreError):
    """etcd refused a request (``code``: gRPC status code, ``message``: etcd's text)."""

    def __init__(self, code: int, message: str, endpoint: str = "") -> None:
        super().__init__(f"etcd {endpoint}: {message} (code {code})")
        self.code = code
        self.message = message


class EtcdUnavailableError(MetadataStoreError):
    """No endpoint answered before the call's deadline, and the request was known not to be applied."""


class OutcomeUnknownError(MetadataStoreError):
    """A non-idempotent request was sent but its outcome is unknown (timeout, broken connection, leader loss)."""


class _Failure(Exception):
    """One failed attempt: ``applied_maybe`` is False when the request certainly did not take effect."""

    def __init__(self, description: str, applied_maybe: bool) -> None:
        super().__init__(description)
        self.applied_maybe = applied_maybe


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def int_field(obj: Json, name: str) -> int:
    """An int64 field of a reply: a JSON string, left out when zero."""
    return int(obj.get(name, 0) or 0)


def _classify(code: int, message: str) -> bool | None:
    """True: maybe applied; False: not applied; None: a definite error."""
    if any(text in message for text in _NOT_APPLIED_MESSAGES) or code == GRPC_RESOURCE_EXHAUSTED:
        return False
    if code in _UNKNOWN_CODES:
        return True
    return None


class EtcdClient:
    """Requests to a list of ``http://host:port`` endpoints with failover. Create and close inside one event loop."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        request_timeout_s: float = 2.0,
        operation_timeout_s: float = 10.0,
    ) -> None:
        if not endpoints:
            raise ValueError("etcd needs at least one endpoint")
        self.endpoints = list(endpoints)
        self.request_timeout_s = request_timeout_s
        self.operation_timeout_s = operation_timeout_s
        self._current = 0
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
        )
        self._closed = False

    @property
    def endpoint(self) -> str:
        """The endpoint the next request goes to."""
        return self.endpoints[self._current]

    def rotate(self, failed: str) -> None:
        """Moves on from ``failed`` (if it is still the current endpoint)."""
        if self.endpoints[self._current] == failed:
            self._current = (self._current + 1) % len(self.endpoints)

    @property
    def closed(self) -> bool:
        return self._closed

    async def call(self, path: str, body: Json, *, idempotent: bool) -> Json:
        """``POST /v3/<path>`` on the current endpoint, failing over as the module docstring says; returns the
        reply (for a streaming path: its first object's ``result``)."""
        deadline = asyncio.get_running_loop().time() + self.operation_timeout_s
        attempt = 0
        last = ""
        while True:
            self._check_open()
            endpoint = self.endpoint
            try:
                return await self._attempt(endpoint, path, body)
            except _Failure as failure:
                self._check_open()
                last = f"{endpoint}: {failure}"
                self.rotate(endpoint)
                if failure.applied_maybe and not idempotent:
                    raise OutcomeUnknownError(f"etcd {path}: outcome unknown ({last})") from None
            attempt += 1
            # After a full pass over the endpoints without an answer, wait a little before the next one.
            passes, rest = divmod(attempt, len(self.endpoints))
            pause = 0.0 if rest else _BACKOFF_S[min(passes - 1, len(_BACKOFF_S) - 1)]
            if asyncio.get_running_loop().time() + pause >= deadline:
                raise EtcdUnavailableError(f"etcd {path}: no endpoint answered in time (last: {last})")
            log.debug("etcd %s failed (%s); trying %s", path, last, self.endpoint)
            await asyncio.sleep(pause)

    async def _attempt(self, endpoint: str, path: str, body: Json) -> Json:
        timeout = aiohttp.ClientTimeout(total=self.request_timeout_s)
        try:
            async with self._session.post(f"{endpoint}/v3/{path}", json=body, timeout=timeout) as response:
                text = await response.text()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as e:
            raise _Failure(f"cannot connect ({e})", applied_maybe=False) from None
        except (aiohttp.ClientError, TimeoutError) as e:
            raise _Failure(f"no reply ({type(e).__name__}: {e})", applied_maybe=True) from None
        reply = _first_object(text)
        if reply is None:
            raise _Failure(f"unreadable reply (HTTP {response.status}): {text[:200]!r}", applied_maybe=True)
        error = _error_of(reply)
        if error is not None:
            code, message = error
            applied = _classify(code, message)
            if applied is None:
                raise EtcdError(code, message, endpoint)
            raise _Failure(message, applied_maybe=applied)
        result = reply.get("result")
        return result if isinstance(result, dict) else reply

    async def stream(
        self,
        endpoint: str,
        path: str,
        body: Json,
        on_object: Callable[[Json], Awaitable[None]],
        idle_check_s: float,
    ) -> None:
        """A streaming call on ``endpoint``: ``on_object`` gets every object of the reply, in order.

        Returns never; raises ``MetadataStoreError`` when the stream breaks or ends. When nothing arrives for
        ``idle_check_s`` the endpoint is asked for its status (an idle watch gets nothing for minutes, notes/etcd.md
        section 5), and the stream is given up if that fails or the member has no leader.
        """
        self._check_open()
        timeout = aiohttp.ClientTimeout(total=None, connect=self.request_timeout_s, sock_connect=self.request_timeout_s)
        # Makes etcd end the watch when this member loses its leader (gRPC metadata "hasleader").
        headers = {"Grpc-Metadata-Hasleader": "true"}
        try:
            async with self._session.post(
                f"{endpoint}/v3/{path}", json=body, timeout=timeout, headers=headers
            ) as response:
                pending = b""
                reader = response.content
                while True:
                    read = asyncio.ensure_future(reader.readany())
                    try:
                        while True:
                            done, _ = await asyncio.wait({read}, timeout=idle_check_s)
                            if done:
                                break
                            await self._check_member(endpoint)
                    finally:
                        if not read.done():
                            read.cancel()
                    chunk = read.result()
                    if not chunk:
                        raise MetadataStoreError(f"etcd {endpoint}: {path} stream ended")
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            await on_object(json.loads(line))
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            self._check_open()
            raise MetadataStoreError(f"etcd {endpoint}: {path} stream failed ({type(e).__name__}: {e})") from None

    async def _check_member(self, endpoint: str) -> None:
        try:
            status = await self._attempt(endpoint, "maintenance/status", {})
        except (_Failure, EtcdError) as e:
            raise MetadataStoreError(f"etcd {endpoint} does not answer ({e})") from None
        if not int_field(status, "leader"):
            raise MetadataStoreError(f"etcd {endpoint} has no leader")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the etcd metadata store is closed")

    async def close(self) -> None:
        self._closed = True
        await self._session.close()


def _first_object(text: str) -> Json | None:
    """The first JSON object of a reply (a streaming reply has one per line)."""
    for line in text.splitlines():
        if line.strip():
            try:
                obj = json.loads(line)
            except ValueError:
                return None
            return obj if isinstance(obj, dict) else None
    return None


def _error_of(reply: Json) -> tuple[int, str] | None:
    """``(code, message)`` of an error reply: unary ``{"error", "message", "code"}``, streaming
    ``{"error": {"grpc_code", "message"}}``; ``None`` for a normal reply."""
    error = reply.get("error")
    if error is None:
        return None
    if isinstance(error, dict):
        return int(error.get("grpc_code", GRPC_UNKNOWN)), str(error.get("message", ""))
    return int(reply.get("code", GRPC_UNKNOWN)), str(reply.get("message") or error)
