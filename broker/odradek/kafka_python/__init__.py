"""kafka-python for the admin requests confluent-kafka (and librdkafka) lacks: client quotas, transactions. Shared by
the CLI and the operator, which talk to brokers with confluent-kafka otherwise; depends on no Odradek component
(an import contract).

- `admin_config(config)`: kafka-python's KafkaAdminClient keyword arguments for librdkafka-style client settings
  (what confluent-kafka is given): bootstrap servers, security protocol, SASL mechanism and credentials (also from
  Java's `sasl.jaas.config` with `username="..." password="..."`), PEM trust/certificate/key files and key
  password, hostname verification off for `ssl.endpoint.identification.algorithm=none`, client id, request
  timeout. Keys kafka-python has no equivalent for are left out.
- `admin_call(config, call, timeout_s)`: `call(admin)` on a KafkaAdminClient made for it (request and bootstrap
  timeouts `timeout_s`: kafka-python's own bootstrap timeout is 30 s whatever the request timeout), closed
  afterwards. When the call could not reach the cluster (a refused connection, a node that never became ready, a
  timeout) it is tried again with a new client, `ATTEMPTS` times in all: kafka-python asks
  one node, possibly a registered broker that is down, for the controller id and does not try another itself. A
  client that cannot bootstrap at all (no server answered within the timeout) is not made again: that would wait
  as long again. Either way the caller gets a `KafkaConnectionError`; kafka-python's other errors propagate at
  once. A timed-out request may have been applied, so callers pass only calls that are safe to repeat (reads, and
  writes that set a value: quotas, reassignment targets), or calls that catch their own errors.
- Two leaks of kafka-python 3.0.12 are closed here, where every client is made (`_open_admin`): a
  KafkaAdminClient whose bootstrap fails has already started its network thread, and its `close()` does nothing
  before `__init__` finished (a thread and its sockets left per failed client); and `KafkaNetSocket.sock_connect`
  leaves the socket of a refused or timed-out connect to the garbage collector (a ResourceWarning per refused
  connection). Both fixes are version-specific: kafka-python is pinned exactly.
- `send_to_controller(config, request, timeout_s)`: one request through `admin_call` (KafkaAdminClient's
  `_send_request_to_controller` is the one way kafka-python offers for a request it has no method for: kafka-python
  is pinned exactly in pyproject.toml).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["ATTEMPTS", "admin_call", "admin_config", "send_to_controller"]

ATTEMPTS = 5
T = TypeVar("T")

_NAMES = {
    "bootstrap.servers": "bootstrap_servers",
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "ssl.ca.location": "ssl_cafile",
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
    "ssl.key.password": "ssl_password",
    "client.id": "client_id",
    "request.timeout.ms": "request_timeout_ms",
}
_INTS = {"request_timeout_ms"}
_JAAS_CREDENTIALS = re.compile(r'username\s*=\s*"([^"]*)"\s+password\s*=\s*"([^"]*)"')


def admin_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """KafkaAdminClient's keyword arguments for librdkafka-style client settings (module docstring)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        target = _NAMES.get(key)
        if target is not None:
            out[target] = int(value) if target in _INTS else value
        elif key == "sasl.jaas.config" and (found := _JAAS_CREDENTIALS.search(str(value))):
            out.setdefault("sasl_plain_username", found.group(1))
            out.setdefault("sasl_plain_password", found.group(2))
    if "security_protocol" in out:
        out["security_protocol"] = str(out["security_protocol"]).upper()
    if str(config.get("ssl.endpoint.identification.algorithm", "")).lower() == "none":
        out["ssl_check_hostname"] = False
    return out


def admin_call(config: Mapping[str, Any], call: Callable[[Any], T], timeout_s: float, *, attempts: int = ATTEMPTS) -> T:
    """`call(admin)`'s result, retried while the cluster cannot be reached (module docstring)."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError

    timeout_ms = int(timeout_s * 1000)
    settings = {**admin_config(config), "request_timeout_ms": timeout_ms, "bootstrap_timeout_ms": timeout_ms}
    for attempt in range(1, attempts + 1):
        try:
            admin = _open_admin(settings)
        except KafkaTimeoutError as exc:
            # No bootstrap server answered for the whole timeout: another client would wait as long again.
            raise KafkaConnectionError(str(exc)) from exc
        except (KafkaConnectionError, ConnectionError) as exc:
            if attempt == attempts:
                raise KafkaConnectionError(f"{exc} ({attempts} attempts)") from exc
            continue
        try:
            return call(admin)
        except (KafkaConnectionError, ConnectionError, KafkaTimeoutError, NodeNotReadyError) as exc:
            if attempt == attempts:
                raise KafkaConnectionError(f"{exc} ({attempts} attempts)") from exc
        finally:
            admin.close()
    raise AssertionError("unreachable")


def _open_admin(settings: Mapping[str, Any]) -> Any:
    """A KafkaAdminClient for `settings`; if its bootstrap fails, its network thread is stopped before the error
    propagates (module docstring)."""
    from kafka.admin import KafkaAdminClient

    _close_sockets_of_failed_connects()

    class _ClosingAdminClient(KafkaAdminClient):  # type: ignore[misc]
        def __init__(self, **configs: Any) -> None:
            try:
                super().__init__(**configs)
            except BaseException:
                if hasattr(self, "_net"):  # started: close() needs _closed set to act
                    self._closed = False
                    self.close()
                raise

    return _ClosingAdminClient(**settings)


_PATCHED: list[bool] = []


def _close_sockets_of_failed_connects() -> None:
    """Wraps kafka-python's `KafkaNetSocket.sock_connect` once so that the socket of a failed connect is closed."""
    if _PATCHED:
        return
    from kafka.net.inet import KafkaNetSocket

    original = KafkaNetSocket.sock_connect

    async def sock_connect(self: Any, net: Any, sock: Any, sockaddr: Any, timeout_at: Any = None) -> Any:
        try:
            return await original(self, net, sock, sockaddr, timeout_at)
        except BaseException:
            sock.close()
            raise

    KafkaNetSocket.sock_connect = sock_connect
    _PATCHED.append(True)


def send_to_controller(config: Mapping[str, Any], request: Any, timeout_s: float) -> Any:
    """`request`'s response from the controller (a kafka-python request object), through `admin_call`."""
    return admin_call(config, lambda admin: admin._manager.run(admin._send_request_to_controller, request), timeout_s)
