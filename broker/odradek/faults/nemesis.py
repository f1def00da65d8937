"""Fault primitives on a `LocalCluster`, each with its undo (notes/reliability.md section 2.3).

- Processes: `kill9` / `restart` a broker, `pause` / `resume` one (SIGSTOP / SIGCONT; `paused` bounds the pause),
  `kill_etcd` / `restart_etcd` (every member; each restarts on its data dir), `kill_etcd_member` /
  `restart_etcd_member` (one member of an etcd cluster; `etcd_leader` says which member leads, `move_etcd_leader`
  moves the leadership).
- Power loss: `torn_tail` truncates the last bytes of a stopped replica's active segment (what the page cache had
  not written when the power went), `flip_byte` corrupts its last batch, `append_zeros` leaves a preallocated
  page; each also removes the clean-shutdown marker, as a crash would.
- Disk full: `DiskFull` mounts a small tmpfs on a broker's log dir before it starts and fills it with a ballast
  file on demand (ENOSPC on the next write); `heal` removes the ballast, `unmount` at the end.

Network partitions are in `netns`. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from odradek.faults.cluster import ClusterError, LocalCluster
from odradek.faults.segments import last_batch, segment_files

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
MAX_PAUSE_S = 300.0


def kill9(cluster: LocalCluster, node_id: int) -> None:
    """SIGKILL broker `node_id` (its registration lease stays until its TTL runs out)."""
    cluster.kill_broker(node_id)


def restart(cluster: LocalCluster, node_id: int, timeout_s: float = 90.0) -> None:
    """Start broker `node_id` again on its folder and ports (after a SIGKILL it waits for its old lease)."""
    cluster.start_broker(node_id, timeout_s=timeout_s)


def pause(cluster: LocalCluster, node_id: int) -> None:
    cluster.signal_broker(node_id, signal.SIGSTOP)


def resume(cluster: LocalCluster, node_id: int) -> None:
    cluster.signal_broker(node_id, signal.SIGCONT)


@contextlib.contextmanager
def paused(cluster: LocalCluster, node_id: int, max_s: float = MAX_PAUSE_S) -> Iterator[None]:
    """SIGSTOP for the body of the `with`, SIGCONT however it ends (the body must not outlast `max_s`)."""
    if max_s > MAX_PAUSE_S:
        raise ValueError(f"pauses are bounded by {MAX_PAUSE_S} s")
    started = time.monotonic()
    pause(cluster, node_id)
    try:
        yield
    finally:
        with contextlib.suppress(ClusterError):
            resume(cluster, node_id)
        if time.monotonic() - started > max_s:
            raise RuntimeError(f"broker {node_id} stayed paused longer than {max_s} s")


def kill_etcd(cluster: LocalCluster) -> None:
    cluster.kill_etcd()


def restart_etcd(cluster: LocalCluster) -> None:
    cluster.start_etcd()


def kill_etcd_member(cluster: LocalCluster, member: int) -> None:
    """SIGKILL one etcd member (an index into `cluster.etcd_members`); the others keep the quorum."""
    cluster.kill_etcd(member)


def restart_etcd_member(cluster: LocalCluster, member: int) -> None:
    cluster.start_etcd(member=member)


def move_etcd_leader(cluster: LocalCluster, member: int) -> None:
    """Make etcd member `member` the leader (bounded wait until it is)."""
    cluster.move_etcd_leader(member)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and cluster.etcd_leader() != member:
        time.sleep(0.2)
    if cluster.etcd_leader() != member:
        raise ClusterError(f"etcd member {member} did not become leader")


def etcd_leader(cluster: LocalCluster) -> int:
    """The index of the etcd member leading now (bounded wait)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        leader = cluster.etcd_leader()
        if leader is not None:
            return leader
        time.sleep(0.2)
    raise ClusterError("no etcd member leads")


# ---- power loss --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TornTail:
    """What a power-loss fault did to one segment."""

    segment: Path
    size_before: int
    size_after: int


def _active_segment(partition_dir: Path) -> Path:
    files = segment_files(partition_dir)
    if not files:
        raise ClusterError(f"no segment in {partition_dir}")
    return files[-1]


def _require_stopped(cluster: LocalCluster, node_id: int) -> None:
    broker = cluster.broker(node_id)
    if broker.pid and broker.process.alive():
        raise ClusterError(f"broker {node_id} runs: stop or kill it before editing its files")


def _crashed(cluster: LocalCluster, node_id: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        (cluster.log_dir(node_id) / CLEAN_SHUTDOWN_FILE).unlink()


def torn_tail(cluster: LocalCluster, node_id: int, topic: str, partition: int, nbytes: int) -> TornTail:
    """Cut the last `nbytes` of the replica's active segment (never below 0) while its broker is stopped."""
    _require_stopped(cluster, node_id)
    segment = _active_segment(cluster.partition_dir(node_id, topic, partition))
    before = segment.stat().st_size
    after = max(0, before - nbytes)
    os.truncate(segment, after)
    _crashed(cluster, node_id)
    return TornTail(segment, before, after)


def flip_byte(cluster: LocalCluster, node_id: int, topic: str, partition: int) -> TornTail:
    """Flip one byte inside the last batch's CRC-covered range (its last byte), while its broker is stopped."""
    _require_stopped(cluster, node_id)
    folder = cluster.partition_dir(node_id, topic, partition)
    batch = last_batch(folder)
    if batch is None:
        raise ClusterError(f"no batch in {folder}")
    with open(batch.segment, "r+b") as handle:
        handle.seek(batch.position + batch.size - 1)
        value = handle.read(1)[0]
        handle.seek(batch.position + batch.size - 1)
        handle.write(bytes([value ^ 0xFF]))
    _crashed(cluster, node_id)
    size = batch.segment.stat().st_size
    return TornTail(batch.segment, size, size)


def append_zeros(cluster: LocalCluster, node_id: int, topic: str, partition: int, nbytes: int = 4096) -> TornTail:
    """Append `nbytes` zeros to the active segment (a preallocated page never written), broker stopped."""
    _require_stopped(cluster, node_id)
    segment = _active_segment(cluster.partition_dir(node_id, topic, partition))
    before = segment.stat().st_size
    with open(segment, "ab") as handle:
        handle.write(b"\0" * nbytes)
    _crashed(cluster, node_id)
    return TornTail(segment, before, before + nbytes)


# ---- disk full ---------------------------------------------------------------------------------------------


def can_mount() -> str | None:
    """Why tmpfs mounts are not possible here (not root, no mount), or None."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if subprocess.run(["which", "mount"], capture_output=True).returncode != 0:
        return "no mount command"
    return None


class DiskFull:
    """A tmpfs of `size_mb` on broker `node_id`'s log dir. `mount` before the broker first starts (the log dir must
    be empty), `fill` to leave no free byte, `heal` to free the space again, `unmount` once the broker is gone."""

    def __init__(self, cluster: LocalCluster, node_id: int, size_mb: int = 64) -> None:
        self.path = cluster.log_dir(node_id)
        self.size_mb = size_mb
        self.ballast = self.path / "ballast"
        self.mounted = False

    def mount(self) -> None:
        why = can_mount()
        if why is not None:
            raise ClusterError(why)
        self.path.mkdir(parents=True, exist_ok=True)
        if any(self.path.iterdir()):
            raise ClusterError(f"{self.path} is not empty: mount the tmpfs before the broker first starts")
        _run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(self.path)])
        self.mounted = True

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def fill(self) -> None:
        """Write ballast until the filesystem has no free byte (tmpfs allocates as it is written): the broker's next
        write fails with ENOSPC."""
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for size in (1 << 20, 65536, 4096, 512, 1):
                # bounded: each size is written at most (the filesystem's size / size) + 1 times
                for _ in range((self.size_mb << 20) // size + 1):
                    try:
                        os.write(fd, b"\0" * size)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)

    def heal(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.ballast.unlink()

    def unmount(self) -> None:
        """Unmount (lazily if a process still holds a file there: it is detached now, freed when closed)."""
        if self.mounted:
            try:
                _run(["umount", str(self.path)])
            except ClusterError:
                _run(["umount", "-l", str(self.path)])
            self.mounted = False


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise ClusterError(f"{' '.join(command)} failed: {result.stderr.strip()}")
