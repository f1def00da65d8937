"""Connect's REST API over https and with basic authentication, on real `connect-standalone` processes.

Certificates come from security_support.Pki (a CA, a PEM keystore with an encrypted key, client certificates).
No connector runs, so the workers need no broker (`bootstrap.servers` points at a closed port). The forwarding
client (odradek.connect.distributed.herder.forward, what a follower uses to reach an https leader) is exercised
against the same workers with the worker-side client TLS settings, and end to end by two distributed workers with
https listeners, required client certificates and basic authentication: a connector created through the follower
reaches the leader, whose advertised URL is https.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from connect_support import ConnectProcess, DistributedConnectProcess
from it_support import BrokerProcess, free_port, unique_topic, wait_for
from odradek.connect.api.errors import ConnectException
from odradek.connect.config.worker import WorkerConfig
from odradek.connect.distributed.herder import forward
from odradek.connect.rest.security import BASIC_AUTH_EXTENSION, client_ssl_context
from odradek.connect.rest.server import AUTHORIZATION
from security_support import Pki

TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("connect-pki"))


def pem_stores(pki: Pki, truststore: bool = True, prefix: str = "") -> dict[str, str]:
    """The worker's PEM keystore (the key and its chain) and, with `truststore`, the CA as its truststore."""
    keys = {"ssl.keystore.type": "PEM", "ssl.keystore.location": str(pki.keystore)}
    keys["ssl.key.password"] = pki.key_password
    if truststore:
        keys |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(pki.ca_path)}
    return {prefix + k: v for k, v in keys.items()}


def https_worker(workdir: Path, props: dict[str, str], env: dict[str, str] | None = None) -> ConnectProcess:
    worker = ConnectProcess(workdir, "127.0.0.1:9", props)
    worker.extra["listeners"] = f"https://127.0.0.1:{worker.port}"
    worker.env.update(env or {})
    return worker


@pytest.fixture(scope="module")
def mtls_worker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectProcess]:
    """https only, Kafka's listeners.https.-prefixed keys, client certificates required."""
    props = {**pem_stores(pki, prefix="listeners.https."), "listeners.https.ssl.client.authentication": "required"}
    worker = https_worker(tmp_path_factory.mktemp("connect-mtls"), props)
    try:
        yield worker.start()
    finally:
        worker.cleanup()


@pytest.fixture(scope="module")
def auth_worker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectProcess]:
    """https with top-level ssl.* keys, no client certificates, basic authentication from a JAAS file."""
    workdir = tmp_path_factory.mktemp("connect-basic")
    props = {**pem_stores(pki, truststore=False), "rest.extension.classes": BASIC_AUTH_EXTENSION}
    worker = https_worker(workdir, props, jaas_env(workdir))
    try:
        yield worker.start()
    finally:
        worker.cleanup()


def client_context(pki: Pki, *, certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_path))
    if certificate:
        cert, key = pki.client("rest-client")
        context.load_cert_chain(str(cert), str(key))
    return context


def get(
    worker: ConnectProcess,
    path: str,
    context: ssl.SSLContext,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: Any = None,
) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    url = f"https://127.0.0.1:{worker.port}{path}"
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode(), dict(exc.headers)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_https_with_required_client_certificates(mtls_worker: ConnectProcess, pki: Pki) -> None:
    assert f"REST server advertising URL https://127.0.0.1:{mtls_worker.port}/" in mtls_worker.output()
    status, body, _ = get(mtls_worker, "/connectors", client_context(pki, certificate=True))
    assert (status, body) == (200, "[]")
    # without a client certificate the handshake (or, with TLS 1.3, the first read) fails
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        get(mtls_worker, "/connectors", client_context(pki, certificate=False))
    # a client that does not trust the worker's CA refuses the worker
    untrusting = ssl.create_default_context()
    cert, key = pki.client("rest-client")
    untrusting.load_cert_chain(str(cert), str(key))
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        get(mtls_worker, "/connectors", untrusting)


def test_http_and_https_listeners_at_once(pki: Pki, tmp_path: Path) -> None:
    """Both listeners serve the API; rest.advertised.listener=https advertises the https one (default: http)."""
    props = {**pem_stores(pki, truststore=False), "rest.advertised.listener": "https"}
    worker = ConnectProcess(tmp_path, "127.0.0.1:9", props)
    secure = free_port()
    worker.extra["listeners"] = f"http://127.0.0.1:{worker.port},https://127.0.0.1:{secure}"
    try:
        worker.start()
        assert worker.rest("GET", "/connectors")[:2] == (200, [])
        request = urllib.request.Request(f"https://127.0.0.1:{secure}/connectors")
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=client_context(pki, certificate=False)) as r:
            assert (r.status, r.read()) == (200, b"[]")
        assert f"REST server advertising URL https://127.0.0.1:{secure}/" in worker.output()
    finally:
        worker.cleanup()


def test_forwarding_to_an_https_worker(mtls_worker: ConnectProcess, pki: Pki) -> None:
    """A follower's forwarding client with the worker's own TLS settings reaches the https (mTLS) leader."""
    props = pem_stores(pki)
    context = client_ssl_context(WorkerConfig.parse(props))
    answer = forward(f"https://127.0.0.1:{mtls_worker.port}/", "GET", "/connectors", None, ssl_context=context)
    assert (answer.status, answer.body) == (200, [])
    without_certificate = client_ssl_context(
        WorkerConfig.parse({k: v for k, v in props.items() if "keystore" not in k and "key." not in k})
    )
    with pytest.raises(ConnectException, match="forward REST request"):
        forward(f"https://127.0.0.1:{mtls_worker.port}/", "GET", "/connectors", None, ssl_context=without_certificate)


def test_basic_authentication(auth_worker: ConnectProcess, pki: Pki) -> None:
    context = client_context(pki, certificate=False)
    status, body, headers = get(auth_worker, "/connectors", context)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic ")
    assert "User cannot access the resource." in body
    assert get(auth_worker, "/connectors", context, basic("alice", "wrong"))[0] == 401
    assert get(auth_worker, "/connectors", context, basic("mallory", "alice-secret"))[0] == 401
    assert get(auth_worker, "/connectors", context, basic("alice", "alice-secret"))[:2] == (200, "[]")
    # the internal task-config submission is signed between workers and passes without credentials (Kafka's
    # filter); a standalone worker answers it 404
    request = urllib.request.Request(
        f"https://127.0.0.1:{auth_worker.port}/connectors/x/tasks", data=b"[]", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context)
    with refused.value:
        assert refused.value.code == 404


def test_forwarding_passes_the_callers_credentials(auth_worker: ConnectProcess, pki: Pki) -> None:
    context = client_ssl_context(
        WorkerConfig.parse({"ssl.truststore.type": "PEM", "ssl.truststore.location": str(pki.ca_path)})
    )
    url = f"https://127.0.0.1:{auth_worker.port}/"
    with pytest.raises(ConnectException):
        forward(url, "GET", "/connectors", None, ssl_context=context)
    token = AUTHORIZATION.set(basic("alice", "alice-secret")["Authorization"])
    try:
        assert forward(url, "GET", "/connectors", None, ssl_context=context).body == []
    finally:
        AUTHORIZATION.reset(token)


def jaas_env(workdir: Path) -> dict[str, str]:
    users = workdir / "credentials.properties"
    users.write_text("alice=alice-secret\n", encoding="utf-8")
    jaas = workdir / "connect.jaas"
    jaas.write_text(
        "KafkaConnect {\n  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required\n"
        f'  file="{users}";\n}};\n',
        encoding="utf-8",
    )
    return {"KAFKA_OPTS": f"-Djava.security.auth.login.config={jaas}"}


def test_distributed_https_forwarding(broker: BrokerProcess, pki: Pki, tmp_path: Path) -> None:
    prefix = unique_topic("connect-tls")
    props = {
        **pem_stores(pki),
        "ssl.client.authentication": "required",
        "rest.extension.classes": BASIC_AUTH_EXTENSION,
    }
    env = jaas_env(tmp_path)
    workers = []
    try:
        for n in range(2):
            worker = DistributedConnectProcess(tmp_path / f"w{n}", broker.bootstrap, prefix, props)
            worker.extra["listeners"] = f"https://127.0.0.1:{worker.port}"
            worker.env.update(env)
            workers.append(worker)
            worker.start()

        def leader() -> str:
            urls = [re.findall(r"\(leader \S+ at (\S+)\)", w.output()) for w in workers]
            last = {found[-1] for found in urls if found}
            return last.pop() if len(last) == 1 and all(urls) else ""

        url = wait_for(leader, timeout=60.0, interval=0.5, what="both workers in one group")
        assert url.startswith("https://127.0.0.1:")
        follower = next(w for w in workers if f":{w.port}/" not in url)
        context = client_context(pki, certificate=True)
        auth = basic("alice", "alice-secret")
        config = {"connector.class": "FileStreamSink", "topics": prefix, "file": str(tmp_path / "out.txt")}
        assert get(follower, "/connectors", context, method="POST", body={"name": "s", "config": config})[0] == 401

        def create() -> tuple[int, Any] | None:
            code, body, _ = get(follower, "/connectors", context, auth, "POST", {"name": "s", "config": config})
            return None if code == 409 else (code, body)  # 409 while a rebalance is under way

        code, body = wait_for(create, timeout=60.0, interval=0.5, what="POST /connectors outside a rebalance")
        assert code == 201, body
        for worker in workers:
            assert get(worker, "/connectors", context, auth)[:2] == (200, '["s"]')
    finally:
        for worker in workers:
            worker.cleanup()
