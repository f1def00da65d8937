"""Shared by the fault tests: the cluster factory's type and the brokers' settings for fault scenarios."""

from __future__ import annotations

from collections.abc import Callable

from odradek.faults.cluster import LocalCluster

ETCD = "/usr/bin/etcd"

# Short timeouts so that faults are noticed within a scenario's seconds (notes/reliability.md 2.2); the internal
# topics on one replica, so that a scenario's consumers never wait for their replication.
FAST = {
    "replica.lag.time.max.ms": "3000",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
}

Factory = Callable[..., LocalCluster]
