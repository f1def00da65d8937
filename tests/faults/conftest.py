"""Fixtures for the fault scenarios: a `LocalCluster` of real processes (one etcd member, or `etcd_members` of them,
and three brokers) in the test's folder, always brought down at the end, with whatever it left running killed by
PID."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fault_support import ETCD, FAST, Factory
from odradek.faults.cluster import LocalCluster, Placement
from odradek.faults.processes import ProcessId


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Factory]:
    started: list[LocalCluster] = []

    def make(
        brokers: int = 3,
        configs: dict[str, str] | None = None,
        placement: Placement | None = None,
        before_up: Callable[[LocalCluster], None] | None = None,
        etcd_members: int = 1,
    ) -> LocalCluster:
        cluster = LocalCluster(tmp_path / f"cluster{len(started)}", placement=placement, etcd=ETCD)
        started.append(cluster)
        if before_up is not None:
            before_up(cluster)
        cluster.up(brokers, configs={**FAST, **(configs or {})}, etcd_members=etcd_members)
        return cluster

    try:
        yield make
    finally:
        for cluster in started:
            if cluster.state is None:
                continue
            recorded: list[ProcessId] = [
                *(m.process for m in cluster.etcd_members),
                *(b.process for b in cluster.brokers),
            ]
            try:
                cluster.down(timeout_s=20)
            finally:
                for process in recorded:
                    if process.pid and process.alive():
                        process.kill()
