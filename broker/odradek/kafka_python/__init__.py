"""kafka-python for the admin requests confluent-kafka (and librdkafka) lacks: client quotas, transactions. Shared by
the CLI and the operator, which talk to brokers with confluent-kafka otherwise; depends on no Odradek component
(an import contract).

- `admin_config(config)`: kafka-python's KafkaAdminClient keyword arguments for librdkafka-style client settings
  (what confluent-kafka is given): bootstrap servers, security protocol, SASL mechanism and credentials (also from
  Java's `sasl.jaas.config` with `username="..." password="..."`), PEM trust/certificate/key files and key
  password, hostname verification off for `ssl.endpoint.identification.algorithm=none`, client id, request
  timeout. Keys kafka-python has no equivalent for are left out.
- `send_to_controller(config, request, timeout_s)`: one request through a KafkaAdminClient made for it (its
  `_send_request_to_controller` is the one way kafka-python offers for a request it has no method for: kafka-python
  is pinned exactly in pyproject.toml). kafka-python's own errors propagate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["admin_config", "send_to_controller"]

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


def send_to_controller(config: Mapping[str, Any], request: Any, timeout_s: float) -> Any:
    """`request`'s response from the controller (a kafka-python request object); kafka-python's errors propagate."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(**{**admin_config(config), "request_timeout_ms": int(timeout_s * 1000)})
    try:
        return admin._manager.run(admin._send_request_to_controller, request)
    finally:
        admin.close()
