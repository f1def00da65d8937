"""A broker that held many TLS connections gives their memory back once they close (issue 11; measured in
bench/RESULTS.md with bench/connection_memory.py): a SASL_SSL broker gets two cycles of 1,000 connections opened
(TLS, SaslHandshake + SaslAuthenticate with PLAIN, one ApiVersions each), held and closed. After each cycle the
listener's `kafka_server_socket_server_metrics_connection_count` is back at 0, and the broker's VmRSS falls back
towards where it started: without the heap trim (odradek.broker.utils.heap) it stayed at the level it had with
the connections open (the freed TLS buffers' pages stay in glibc's heap) and crept up cycle after cycle."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import struct
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from it_support import recv_frame, request_frame, wait_for
from security_support import Pki, SecureBroker, sasl_overrides, tls_overrides

pytestmark = pytest.mark.integration

CONNECTIONS = 1_000
TRIM_WAIT_S = 60.0  # the trim runs 5 s after the closes; generous for a loaded machine


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SecureBroker, Pki]]:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    proc = SecureBroker(tmp_path_factory.mktemp("memory"), "SASL_SSL", {**tls_overrides(pki), **sasl_overrides()})
    proc.metrics = True  # the connection count is read from the Prometheus endpoint
    try:
        proc.start()
        yield proc, pki
    finally:
        proc.cleanup()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def connection_count(metrics_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(r'^kafka_server_socket_server_metrics_connection_count\{listener="CLIENT"\} (\S+)$', text, re.M)
    assert match is not None, "no connection count for listener CLIENT"
    return float(match.group(1))


def authenticated(port: int, context: ssl.SSLContext) -> ssl.SSLSocket:
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname="localhost")
    mechanism = b"PLAIN"
    sock.sendall(request_frame(17, 1, 1, struct.pack(">h", len(mechanism)) + mechanism))
    assert (answer := recv_frame(sock)) is not None and struct.unpack_from(">h", answer, 4)[0] == 0
    token = b"\0alice\0alice-secret"
    sock.sendall(request_frame(36, 1, 2, struct.pack(">i", len(token)) + token))
    assert (answer := recv_frame(sock)) is not None and struct.unpack_from(">h", answer, 4)[0] == 0
    sock.sendall(request_frame(18, 0, 3, b""))
    assert (answer := recv_frame(sock)) is not None and struct.unpack_from(">h", answer, 4)[0] == 0
    return sock


@pytest.mark.timeout(600)
def test_memory_of_closed_tls_connections_is_given_back(broker: tuple[SecureBroker, Pki]) -> None:
    proc, pki = broker
    context = ssl.create_default_context(cafile=str(pki.ca_path))
    authenticated(proc.port, context).close()  # what a first connection builds once is in the baseline
    wait_for(lambda: connection_count(proc.metrics_port) == 0, 30, what="no connection")
    baseline = rss_mib(proc.pid)
    for cycle in range(2):
        held: list[ssl.SSLSocket] = []
        try:
            for _ in range(CONNECTIONS):
                held.append(authenticated(proc.port, context))
            assert connection_count(proc.metrics_port) == CONNECTIONS
            with_connections = rss_mib(proc.pid)
        finally:
            for sock in held:
                with contextlib.suppress(OSError):
                    sock.close()
        wait_for(lambda: connection_count(proc.metrics_port) == 0, 60, what=f"cycle {cycle}: connections closed")
        growth = with_connections - baseline
        assert growth > 20, f"1,000 TLS connections cost only {growth:.1f} MiB: the test measures nothing"
        bound = baseline + growth / 2
        # Given back: at most half of what the connections took (measured: about a quarter stays, pymalloc's free
        # arenas; without the trim all of it stayed and the next cycle added more).
        wait_for(
            lambda: rss_mib(proc.pid) < bound,  # noqa: B023 (called here, in this iteration)
            TRIM_WAIT_S,
            interval=0.5,
            what=f"cycle {cycle}: RSS back below {bound:.1f} MiB (baseline {baseline:.1f}, "
            f"{with_connections:.1f} with the connections)",
        )
    assert proc.alive()
