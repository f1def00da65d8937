"""The fault tools on real processes, files, mounts and network namespaces (root-only parts skip elsewhere)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from odradek.faults import netns, processes
from odradek.faults.nemesis import DiskFull, can_mount
from odradek.faults.processes import ProcessId

pytestmark = pytest.mark.integration


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)


def test_a_process_id_tells_stopped_paused_and_reused_processes_apart() -> None:
    proc = sleeper()
    try:
        process = ProcessId.of(proc.pid)
        assert process.alive() and process.state() in "RS"
        assert process.signal(signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while process.state() != "T" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.state() == "T"
        process.signal(signal.SIGCONT)
        assert not ProcessId(proc.pid, process.start_time + 1).alive(), "another start time: another process"
        assert process.stop(timeout_s=5) == "terminated"
        assert not process.alive() and not process.signal(signal.SIGTERM)
    finally:
        proc.kill()
        proc.wait(5)


def test_stop_kills_a_process_that_ignores_sigterm() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        assert ProcessId.of(proc.pid).stop(timeout_s=0.5) == "killed"
    finally:
        proc.kill()
        proc.wait(5)
        assert proc.stdout is not None
        proc.stdout.close()


def test_a_child_that_exits_between_the_reap_and_the_read_is_reaped_not_left_a_zombie(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race CI's end-of-run ResourceWarning came from: `alive()` polled the child while it still ran, read its
    /proc state after it died (a zombie), said "gone", and nobody polled it again."""
    process = processes.launch([sys.executable, "-c", "pass"], start_new_session=True)
    real_reap = processes.reap
    calls: list[int] = []

    def late_reap(pid: int) -> None:  # the first reap runs "before" the exit: it collects nothing
        calls.append(pid)
        if len(calls) > 1:
            real_reap(pid)

    monkeypatch.setattr(processes, "reap", late_reap)
    deadline = time.monotonic() + 10
    while (state := process.state()) != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert state == "Z", "the child should be an unreaped zombie by now"
    assert not process.alive()
    assert process.pid not in processes._CHILDREN and process.state() == "-", "reaped, not left a zombie"


@pytest.mark.skipif(can_mount() is not None, reason=str(can_mount()))
def test_disk_full_leaves_no_free_byte_until_healed(tmp_path: Path) -> None:
    class Folder:
        def log_dir(self, node_id: int) -> Path:
            return tmp_path / "data"

    disk = DiskFull(Folder(), 1, size_mb=2)  # type: ignore[arg-type]
    disk.mount()
    try:
        disk.fill()
        assert disk.free_bytes() == 0
        fd = os.open(tmp_path / "data" / "segment.log", os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError) as raised:
                os.write(fd, b"x" * 100)
            assert raised.value.errno == 28  # ENOSPC, what the broker's next append gets
        finally:
            os.close(fd)
        disk.heal()
        assert disk.free_bytes() == 2 << 20
    finally:
        disk.unmount()
    mounts = Path("/proc/mounts").read_text().splitlines()
    assert not any(line.split()[1] == str(tmp_path / "data") for line in mounts)


@pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))
def test_namespaces_carry_traffic_and_a_partition_cuts_it_until_healed() -> None:
    with netns.NetworkNamespaces(os.getpid() % 10_000, brokers=3) as network:
        code = (
            "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            f"s.bind(({network.address(2)!r}, 7000)); s.listen(); print('up', flush=True)\n"
            "for _ in range(100): s.accept()[0].close()"
        )
        server = subprocess.Popen(
            [*network.command_prefix(2), sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
        )
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == b"up"
            assert network.reachable(1, network.address(2), 7000)
            assert network.reachable(3, network.address(2), 7000)
            network.partition([1], [2, 3])
            assert not network.reachable(1, network.address(2), 7000, timeout_s=1)
            assert network.reachable(3, network.address(2), 7000), "the other side still talks"
            network.heal()
            assert network.reachable(1, network.address(2), 7000)
            network.isolate(2)
            assert not network.reachable(3, network.address(2), 7000, timeout_s=1)
            network.heal()
            assert network.reachable(3, network.address(2), 7000)
        finally:
            server.kill()
            server.wait(5)
            assert server.stdout is not None
            server.stdout.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert network.prefix not in listed
