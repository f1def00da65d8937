"""The test kubelet's network: pod IPs on loopback and the cluster DNS names that resolve to them.

Each pod gets its own loopback address (Linux routes all of 127.0.0.0/8 to `lo`), so every container binds the
ports its spec names, as in a pod's own network namespace, and several brokers all listen on 9092. The addresses
come from one /24 in 127.0.0.0/8 picked at random per kubelet (`127.<b>.<c>.<n>`, n = 1..254), so that tests
running side by side on one machine do not meet. A pod's address is handed out by (namespace, pod name) on first
use and kept for the kubelet's life: a StatefulSet pod that is deleted and recreated comes back at the same
address, which is what its stable DNS name gives it in a real cluster (there the IP changes but the name stays;
here the IP stands in for the name).

No client can be given a resolver (librdkafka resolves with getaddrinfo), so the cluster DNS is applied as text
before a process starts (`Rewriter`): in a container's command, args, environment values and the ConfigMaps and
Secrets it mounts,

- `${HOSTNAME}` and `$HOSTNAME` become the pod's host name (the kubelet sets HOSTNAME to it, so this is what `sh`
  would do);
- a pod DNS name `<hostname>.<subdomain>.<namespace>.svc[.cluster.local]` becomes that pod's address;
- `0.0.0.0` becomes the pod's address (binding every interface of the pod's own namespace);
- each volume's mountPath becomes the host folder the kubelet materialised it in (longest path first).

Service names (`<service>.<namespace>.svc`) are not rewritten (a ClusterIP would need a proxy); tests reach a
Service through `Kubelet.service_servers`, the ready endpoints' addresses.
"""

from __future__ import annotations

import random
import re
import socket
import threading
from collections.abc import Mapping

# <hostname>.<subdomain>.<namespace>.svc with an optional .cluster.local: a pod's name under a headless Service
POD_DNS = re.compile(r"\b([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?\b")


def _free_block() -> str:
    """`127.<b>.<c>` whose first address nobody listens on (a cheap check against a neighbour's block)."""
    rng = random.Random()
    for _ in range(50):
        prefix = f"127.{rng.randint(64, 250)}.{rng.randint(0, 255)}"
        with socket.socket() as probe:
            try:
                probe.bind((f"{prefix}.1", 0))
            except OSError:
                continue
        return prefix
    raise RuntimeError("no free loopback block")


class AddressPlan:
    """Pod addresses by (namespace, pod name), thread-safe; the same pair always gets the same address."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or _free_block()
        self._lock = threading.Lock()
        self._addresses: dict[tuple[str, str], str] = {}

    def pod_ip(self, namespace: str, name: str) -> str:
        with self._lock:
            key = (namespace, name)
            if key not in self._addresses:
                if len(self._addresses) >= 254:
                    raise RuntimeError(f"loopback block {self.prefix}.0/24 is full")
                self._addresses[key] = f"{self.prefix}.{len(self._addresses) + 1}"
            return self._addresses[key]

    def resolve(self, host: str) -> str | None:
        """The address of a pod DNS name (`<pod>.<service>.<ns>.svc[.cluster.local]`), else None."""
        match = POD_DNS.fullmatch(host)
        if match is None:
            return None
        return self.pod_ip(match.group(4), match.group(1))


class Rewriter:
    """Text as one pod sees it (module docstring): `hostname`, its address, mountPath -> host folder."""

    def __init__(self, plan: AddressPlan, hostname: str, pod_ip: str, mounts: Mapping[str, str]) -> None:
        self.plan = plan
        self.hostname = hostname
        self.pod_ip = pod_ip
        # longest first, so /etc/odradek/broker-certs is not taken for /etc/odradek + "/broker-certs"
        self.mounts = sorted(mounts.items(), key=lambda item: -len(item[0]))

    def __call__(self, text: str) -> str:
        text = text.replace("${HOSTNAME}", self.hostname)
        text = re.sub(r"\$HOSTNAME\b", self.hostname, text)
        text = POD_DNS.sub(lambda m: self.plan.resolve(m.group(0)) or m.group(0), text)
        text = text.replace("0.0.0.0", self.pod_ip)
        for mount_path, host_path in self.mounts:
            text = re.sub(re.escape(mount_path.rstrip("/")) + r"(?![\w.-])", host_path, text)
        return text
