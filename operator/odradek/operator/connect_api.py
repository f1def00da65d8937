"""The only module that talks to Kafka Connect: its REST API (Apache Kafka's paths and JSON), behind `ConnectApi`,
the protocol the KafkaConnector and KafkaConnect reconcilers use (tests pass a fake, or point it at a real worker).

Errors are `ConnectApiError(status, message)` with the HTTP status and Connect's `{"error_code", "message"}`
message; a worker that cannot be reached is status 0. 409 (a rebalance in progress) is worth retrying soon.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol

TIMEOUT_S = 15.0
UNREACHABLE = 0


class ConnectApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


class ConnectApi(Protocol):
    def connector_config(self, name: str) -> dict[str, str] | None: ...
    def put_connector_config(self, name: str, config: Mapping[str, str]) -> None: ...
    def connector_status(self, name: str) -> dict[str, Any] | None: ...
    def set_state(self, name: str, state: str) -> None: ...
    def restart(self, name: str) -> None: ...
    def delete_connector(self, name: str) -> None: ...
    def connector_topics(self, name: str) -> list[str]: ...
    def plugins(self) -> list[dict[str, Any]]: ...


_STATE_PATHS = {"running": "resume", "paused": "pause", "stopped": "stop"}


class ConnectRestClient:
    """`ConnectApi` over HTTP with urllib (the reconcilers are synchronous; kopf runs them in threads)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, path: str, body: Any = None, missing_ok: bool = False) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                raw = response.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:
                return None
            raw = exc.read()
            try:
                message = str(json.loads(raw).get("message") or raw.decode(errors="replace"))
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")
            raise ConnectApiError(exc.code, message) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ConnectApiError(UNREACHABLE, f"Kafka Connect at {self.url} cannot be reached: {exc}") from None

    @staticmethod
    def _path(name: str) -> str:
        return "/connectors/" + urllib.parse.quote(name, safe="")

    def connector_config(self, name: str) -> dict[str, str] | None:
        result = self._call("GET", self._path(name) + "/config", missing_ok=True)
        return None if result is None else {str(k): str(v) for k, v in result.items()}

    def put_connector_config(self, name: str, config: Mapping[str, str]) -> None:
        self._call("PUT", self._path(name) + "/config", dict(config))

    def connector_status(self, name: str) -> dict[str, Any] | None:
        result = self._call("GET", self._path(name) + "/status", missing_ok=True)
        return None if result is None else dict(result)

    def set_state(self, name: str, state: str) -> None:
        self._call("PUT", self._path(name) + "/" + _STATE_PATHS[state])

    def restart(self, name: str) -> None:
        self._call("POST", self._path(name) + "/restart?includeTasks=true&onlyFailed=true")

    def delete_connector(self, name: str) -> None:
        self._call("DELETE", self._path(name), missing_ok=True)

    def connector_topics(self, name: str) -> list[str]:
        result = self._call("GET", self._path(name) + "/topics", missing_ok=True) or {}
        return sorted(str(t) for t in (result.get(name) or {}).get("topics") or [])

    def plugins(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/connector-plugins") or [])
