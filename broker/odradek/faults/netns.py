"""Brokers in network namespaces behind one bridge, and partitions between them (notes/reliability.md 2.2-2.3).

Topology for `NetworkNamespaces(tag, brokers)` (names carry a short tag, so that runs do not collide; the subnet is
10.<a>.<b>.0/24 from the tag; no namespace has a default route, nothing leaves the machine):

    namespace odr<tag>sw:  bridge br0, one port per veth below
    namespace odr<tag>b<i>: eth0 = 10.a.b.<i>/24            (broker i)
    the initial namespace:  odr<tag>h = 10.a.b.254/24      (etcd and the test's clients)

etcd listens on 10.a.b.254 in the initial namespace, so it stays reachable from every broker; clients reach the
brokers through the same bridge. Faults, each with its undo:

- `isolate(i)` / `rejoin(i)`: the switch port of broker i down/up: it reaches nobody (etcd, clients, brokers),
  packets vanish silently (timeouts, as a cut cable).
- `partition(a, b)` / `heal()`: brokers in `a` cannot exchange packets with brokers in `b`; etcd and clients reach
  all. With nftables (`nft`) present, an input drop rule in each victim namespace (silent); otherwise blackhole
  routes in each namespace towards the other side (the sender's own connects fail at once, the other side's
  packets get no answer).

Needs root and iproute2 (`ip netns`); `available()` says why not. `teardown()` deletes everything created here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterable

from odradek.faults.cluster import ClusterError

HOST_OCTET = 254


def available() -> str | None:
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        return f"`ip netns list` failed: {probe.stderr.strip()}"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise ClusterError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


class NetworkNamespaces:
    """A `cluster.Placement` putting broker i in its own namespace; use as a context manager (teardown at exit)."""

    def __init__(self, tag: int, brokers: int) -> None:
        if not 0 <= tag < 10_000:
            raise ValueError("tag is 0..9999 (interface names are at most 15 characters)")
        self.tag = tag
        self.brokers = brokers
        self.prefix = f"odr{tag}"
        self.subnet = f"10.{100 + tag // 256 % 100}.{tag % 256}"
        self.created: list[str] = []
        self.cut: set[int] = set()
        self.rules: list[tuple[int, str]] = []  # (node, peer address) blocked
        self.use_nft = shutil.which("nft") is not None

    # ---- Placement -------------------------------------------------------------------------------------------

    def namespace(self, node_id: int) -> str:
        return f"{self.prefix}b{node_id}"

    def address(self, node_id: int) -> str:
        return f"{self.subnet}.{node_id}"

    def broker_host(self, node_id: int) -> str:
        return self.address(node_id)

    def etcd_host(self) -> str:
        return f"{self.subnet}.{HOST_OCTET}"

    def command_prefix(self, node_id: int) -> list[str]:
        """`ip netns exec <ns>` for a broker (it execs: the PID is the broker's); etcd (node 0) runs here."""
        return [] if node_id == 0 else ["ip", "netns", "exec", self.namespace(node_id)]

    # ---- set-up and teardown -------------------------------------------------------------------------------

    def setup(self) -> NetworkNamespaces:
        switch = f"{self.prefix}sw"
        try:
            self._netns_add(switch)
            _ip("-n", switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", switch, "link", "set", "br0", "up")
            host = f"{self.prefix}h"
            _ip("link", "add", host, "type", "veth", "peer", "name", "p0", "netns", switch)
            self.created.append(f"link:{host}")
            _ip("-n", switch, "link", "set", "p0", "master", "br0", "up")
            _ip("addr", "add", f"{self.etcd_host()}/24", "dev", host)
            _ip("link", "set", host, "up")
            for node_id in range(1, self.brokers + 1):
                ns = self.namespace(node_id)
                self._netns_add(ns)
                _ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{node_id}", "netns", switch)
                _ip("-n", switch, "link", "set", f"p{node_id}", "master", "br0", "up")
                _ip("-n", ns, "addr", "add", f"{self.address(node_id)}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.teardown()
            raise
        return self

    def _netns_add(self, name: str) -> None:
        _ip("netns", "add", name)
        self.created.append(f"netns:{name}")

    def teardown(self) -> None:
        """Delete the namespaces and links made here (their processes must be gone: stop the cluster first)."""
        for item in reversed(self.created):
            kind, name = item.split(":", 1)
            with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
                if kind == "netns":
                    _ip("netns", "del", name, check=False)
                else:
                    _ip("link", "del", name, check=False)
        self.created.clear()

    def __enter__(self) -> NetworkNamespaces:
        return self.setup()

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    # ---- faults ----------------------------------------------------------------------------------------------

    def isolate(self, node_id: int) -> None:
        _ip("-n", f"{self.prefix}sw", "link", "set", f"p{node_id}", "down")
        self.cut.add(node_id)

    def rejoin(self, node_id: int) -> None:
        _ip("-n", f"{self.prefix}sw", "link", "set", f"p{node_id}", "up")
        self.cut.discard(node_id)

    def partition(self, side_a: Iterable[int], side_b: Iterable[int]) -> None:
        a, b = list(side_a), list(side_b)
        for mine, theirs in ((a, b), (b, a)):
            for node_id in mine:
                for peer in theirs:
                    self._block(node_id, self.address(peer))

    def _block(self, node_id: int, peer: str) -> None:
        ns = self.namespace(node_id)
        if self.use_nft:
            if not any(n == node_id for n, _ in self.rules):
                self._nft(ns, "add", "table", "inet", "odrchaos")
                self._nft(ns, "add", "chain", "inet", "odrchaos", "in", "{ type filter hook input priority 0; }")
            self._nft(ns, "add", "rule", "inet", "odrchaos", "in", "ip", "saddr", peer, "drop")
        else:
            _ip("-n", ns, "route", "add", "blackhole", f"{peer}/32")
        self.rules.append((node_id, peer))

    def _nft(self, ns: str, *args: str) -> None:
        result = subprocess.run(["ip", "netns", "exec", ns, "nft", *args], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise ClusterError(f"nft {' '.join(args)} in {ns} failed: {result.stderr.strip()}")

    def heal(self) -> None:
        """Undo every partition and isolation."""
        for node_id in list(self.cut):
            self.rejoin(node_id)
        if self.use_nft:
            for node_id in {n for n, _ in self.rules}:
                self._nft(self.namespace(node_id), "delete", "table", "inet", "odrchaos")
        else:
            for node_id, peer in self.rules:
                _ip("-n", self.namespace(node_id), "route", "del", "blackhole", f"{peer}/32", check=False)
        self.rules.clear()

    def reachable(self, node_id: int, address: str, port: int, timeout_s: float = 2.0) -> bool:
        """Whether a TCP connection from broker `node_id`'s namespace to address:port succeeds (a probe)."""
        code = f"import socket; socket.create_connection(({address!r}, {port}), timeout={timeout_s}).close()"
        probe = subprocess.run(
            ["ip", "netns", "exec", self.namespace(node_id), "python3", "-c", code],
            capture_output=True,
            timeout=timeout_s + 10,
        )
        return probe.returncode == 0
