"""LocalCluster's bookkeeping without starting anything: ports from a base port or kept from the last run, the
state file round trip, refusing a folder whose cluster lives, the missing-etcd message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from odradek.faults.cluster import ClusterError, ClusterState, LocalCluster, etcd_binary
from odradek.faults.processes import ProcessId


def test_a_base_port_lays_out_brokers_metrics_and_etcd(tmp_path: Path) -> None:
    state = LocalCluster(tmp_path)._plan(3, 19092, {"k": "v"})
    assert [(b.node_id, b.port, b.metrics_port) for b in state.brokers] == [
        (1, 19092, 19192), (2, 19093, 19193), (3, 19094, 19194),
    ]  # fmt: skip
    assert (state.etcd.client_port, state.etcd.peer_port) == (19292, 19293)
    assert ClusterState.from_json(state.to_json()) == state
    with pytest.raises(ClusterError, match="out of range"):
        LocalCluster(tmp_path)._plan(3, 65400, {})


def test_without_a_base_port_the_ports_of_the_last_run_are_kept(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path)
    cluster.state = cluster._plan(2, None, {})
    cluster._save()
    again = LocalCluster(tmp_path)
    plan = again._plan(3, None, {})
    assert [b.port for b in plan.brokers[:2]] == [b.port for b in cluster.brokers]
    assert plan.etcd.client_port == cluster.etcd.client_port
    assert plan.brokers[2].port not in {b.port for b in cluster.brokers}


def test_up_is_refused_while_a_process_of_the_folder_lives(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        cluster = LocalCluster(tmp_path)
        cluster.state = cluster._plan(1, None, {})
        process = ProcessId.of(sleeper.pid)
        cluster.state.etcd.pid, cluster.state.etcd.start_time = process.pid, process.start_time
        cluster._save()
        with pytest.raises(ClusterError, match=r"a cluster is running .*\(etcd alive\)"):
            LocalCluster(tmp_path).up(1)
        cluster.state.etcd.start_time += 1  # the same PID, another process: not ours, not alive
        cluster._save()
        assert LocalCluster(tmp_path).live() == []
    finally:
        sleeper.kill()
        sleeper.wait(5)


def test_a_missing_etcd_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=r"apt-get install etcd-server"):
        etcd_binary(str(tmp_path / "etcd"))
    with pytest.raises(ClusterError, match="no cluster in"):
        LocalCluster(tmp_path / "none").down()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "cluster.json").write_text('{"format": 7}')
    with pytest.raises(ClusterError, match="unknown state file format"):
        LocalCluster(tmp_path / "bad")


def test_an_etcd_cluster_of_three_members_gets_its_ports_and_the_brokers_get_every_endpoint(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path)
    cluster.state = cluster._plan(3, 19092, {}, etcd_members=3)
    members = cluster.etcd_members
    assert [(m.name, m.client_port, m.peer_port) for m in members] == [
        ("m0", 19292, 19293), ("m1", 19294, 19295), ("m2", 19296, 19297),
    ]  # fmt: skip
    assert cluster.store_url() == "etcd://127.0.0.1:19292,127.0.0.1:19294,127.0.0.1:19296/odradek"
    assert [cluster.etcd_dir(m).name for m in members] == ["etcd-m0", "etcd-m1", "etcd-m2"]
    assert ClusterState.from_json(cluster.state.to_json()) == cluster.state
    command = members[1].command("/usr/bin/etcd", tmp_path, "m0=a,m1=b,m2=c", "tok")
    assert command[command.index("--name") + 1] == "m1"
    assert command[command.index("--initial-cluster") + 1] == "m0=a,m1=b,m2=c"
    # A rerun with as many members keeps their ports; with another count it cannot (the data dirs record peers).
    cluster._save()
    again = LocalCluster(tmp_path)
    assert [m.client_port for m in again._plan(3, None, {}, etcd_members=3).etcd_members] == [19292, 19294, 19296]
    assert 19292 not in [m.client_port for m in again._plan(3, None, {}, etcd_members=1).etcd_members]
    with pytest.raises(ClusterError, match="--etcd-members"):
        again.up(3, etcd_members=0)


def test_a_state_file_of_format_1_is_still_read(tmp_path: Path) -> None:
    doc = {
        "format": 1,
        "etcd": {"client_port": 2379, "peer_port": 2380, "host": "127.0.0.1", "pid": 0, "start_time": 0},
        "brokers": [{"node_id": 1, "port": 9092, "metrics_port": 9192, "host": "127.0.0.1"}],
    }
    state = ClusterState.from_json(json.dumps(doc))
    assert [(m.name, m.client_port) for m in state.etcd_members] == [("m0", 2379)]
    cluster = LocalCluster(tmp_path)
    cluster.state = state
    assert cluster.store_url() == "etcd://127.0.0.1:2379/odradek" and cluster.etcd_dir(state.etcd).name == "etcd"
