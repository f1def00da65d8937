"""A full disk under a replica (the root cause of the disk-full fault scenario, tests/faults).

A segment write cut by ENOSPC leaves the part of the batch it wrote at the end of the `O_APPEND` file, beyond what
the log believes it holds; a broker that went on appending put every later batch after those bytes and served
reads by positions that no longer matched (followers fetched the cut batch, could not complete it and never
caught up again). Kafka's answer, kept here: the I/O error takes the log dir offline, the write is answered
KAFKA_STORAGE_ERROR, nothing is written there again, and with no log dir left the broker halts; the next start's
recovery cuts the torn tail. The disk is made full by a stand-in for the segment module's `os` whose `write` to
files under one broker's log dir fails with ENOSPC after a given number of bytes.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from odradek.broker.config.broker import build
from odradek.broker.config.topic import log_config
from odradek.broker.log import segment as segment_module
from odradek.broker.log.log import Log
from odradek.broker.log.log_dir_failure import KAFKA_STORAGE_ERROR, KafkaStorageError, LogDirFailureChannel
from odradek.broker.log.manager import LogManager
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.api import FetchIsolation, FetchParams, FetchPartition
from odradek.broker.replication.log_dirs import describe_log_dirs
from test_replication_cluster import KEY, TOPIC, Cluster, leo, run, state


class FullDisk:
    """`os` for the segment module: writes to files under `root` get `free` more bytes, then ENOSPC."""

    def __init__(self, root: Path, free: int) -> None:
        self.root = str(root)
        self.free = free
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: Any) -> int:
        if not os.readlink(f"/proc/self/fd/{fd}").startswith(self.root):
            return os.write(fd, data)
        count = min(len(data), self.free)
        if count == 0:
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.free -= count
        return os.write(fd, bytes(data[:count]))


def fill(monkeypatch: pytest.MonkeyPatch, root: Path, free: int = 0) -> FullDisk:
    disk = FullDisk(root, free)
    monkeypatch.setattr(segment_module, "os", disk)
    return disk


def halts(c: Cluster, broker_id: int) -> list[str]:
    reasons: list[str] = []
    c.managers[broker_id].halt = reasons.append
    return reasons


def test_the_storage_error_code_is_kafkas() -> None:
    assert KAFKA_STORAGE_ERROR == ErrorCode.KAFKA_STORAGE_ERROR
    assert KafkaStorageError.error_code == ErrorCode.KAFKA_STORAGE_ERROR


def test_an_io_error_takes_the_log_dir_offline_once_and_every_later_use_is_refused(tmp_path: Path) -> None:
    channel = LogDirFailureChannel()
    told: list[Path] = []
    channel.add_listener(told.append)
    with pytest.raises(KafkaStorageError, match="No space"), channel.guard(tmp_path, "append"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    ran = False
    with pytest.raises(KafkaStorageError, match="offline"), channel.guard(tmp_path, "append"):
        ran = True
    assert not ran, "I/O on an offline dir must not start"
    assert not channel.maybe_add_offline_log_dir(tmp_path, "again", OSError())
    assert told == [tmp_path] and channel.offline_dirs == {tmp_path}
    with channel.guard(tmp_path / "other", "append"):  # other dirs stay online
        pass


def test_a_failed_checkpoint_takes_its_log_dir_offline_and_shutdown_leaves_it_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = build([{"log.dirs": str(tmp_path)}])
    logs = LogManager.open([tmp_path], log_config({}, config))
    logs.get_or_create_log("t", 0)

    def no_space(*_: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("odradek.broker.log.checkpoint.write_offsets", no_space)
    with pytest.raises(KafkaStorageError):
        logs.checkpoint_high_watermarks()
    assert logs.live_log_dirs == [] and logs.online_logs() == []
    logs.shutdown()  # no write into the failed dir: no clean-shutdown marker, so the next start recovers
    assert not (tmp_path / ".kafka_cleanshutdown").exists()


def test_describe_log_dirs_reports_an_offline_dir_unreadable(tmp_path: Path) -> None:
    config = build([{"log.dirs": str(tmp_path)}])
    logs = LogManager.open([tmp_path], log_config({}, config))
    logs.get_or_create_log("t", 0)
    (online,) = describe_log_dirs(logs, None)
    assert online.readable and [(r.topic, r.partition) for r in online.replicas] == [("t", 0)]
    logs.failure_channel.maybe_add_offline_log_dir(tmp_path, "append", OSError(errno.ENOSPC, "full"))
    (offline,) = describe_log_dirs(logs, None)
    assert not offline.readable and offline.replicas == ()  # KAFKA_STORAGE_ERROR in DescribeLogDirs
    logs.shutdown()


def test_a_leader_whose_disk_fills_answers_storage_error_writes_nothing_more_and_halts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body(c: Cluster) -> None:
        reasons = halts(c, 1)
        await c.publish(state(1, (1, 2, 3)))
        first = c.produce(1, 5)
        await c.run_until(first.done)
        assert first.result()[0].error is ErrorCode.NONE
        segment = c.log(1).active_segment
        disk = fill(monkeypatch, tmp_path / "1", free=30)  # the next batch is cut after 30 bytes
        cut = c.produce(1, 5)
        await c.run_until(cut.done)
        assert cut.result()[0].error is ErrorCode.KAFKA_STORAGE_ERROR
        assert reasons and reasons[0].startswith("Shutdown broker because all log dirs in")
        size_after_cut = segment.log_path.stat().st_size
        assert size_after_cut == segment.size + 30  # the hazard: a cut batch beyond the log's end
        # Space again (the halt is a recorder here): the dir stays offline, nothing lands after the cut batch.
        disk.free = 1 << 20
        again = c.produce(1, 5, acks=1)
        await c.run_until(again.done)
        assert again.result()[0].error is ErrorCode.KAFKA_STORAGE_ERROR
        assert segment.log_path.stat().st_size == size_after_cut
        params = FetchParams(2, 0, 1, 1 << 20, FetchIsolation.LOG_END)
        fetched = await c.managers[1].fetch(params, [FetchPartition(TOPIC, 0, 5, 1 << 20, 0)])
        assert fetched[0].error is ErrorCode.KAFKA_STORAGE_ERROR
        assert leo(c, 2) == leo(c, 3) == 5  # the followers hold what was acknowledged, nothing of the cut batch
        # What the restart does: recovery cuts the torn tail, the acknowledged records are all there.
        monkeypatch.setattr(segment_module, "os", os)
        reopened = LogManager.open([tmp_path / "1"], log_config({}, c.managers[1].config))
        log = reopened.get_log(*KEY)
        assert log is not None and log.log_end_offset == 5
        assert log.read(0, 1 << 20).read_bytes() == c.log_bytes(2, 5)
        reopened.shutdown()

    run(tmp_path, (1, 2, 3), body)


def test_a_follower_whose_disk_fills_stops_fetching_and_halts_instead_of_retrying_as_a_network_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body(c: Cluster) -> None:
        reasons = halts(c, 3)
        await c.publish(state(1, (1, 2, 3)))
        first = c.produce(1, 5)
        await c.run_until(first.done)
        disk = fill(monkeypatch, tmp_path / "3")
        c.produce(1, 5, acks=1)
        await c.run_until(lambda: bool(reasons))
        assert "have failed" in reasons[0]
        fetchers = c.managers[3].fetchers.fetchers
        assert all(KEY not in f.states for f in fetchers.values()), "the failed partition is still fetched"
        refused = disk.refused
        await c.run_for(5_000)
        assert disk.refused == refused == 1, "the follower kept writing to its failed dir"
        assert c.managers[3].partitions[KEY].log.log_end_offset == 5
        # The leader goes on without it: the ISR shrinks and acks=all writes go on with brokers 1 and 2.
        await c.run_until(lambda: c.record is not None and c.record.isr == (1, 2), max_ms=20_000)
        later = c.produce(1, 2)
        await c.run_until(later.done)
        assert later.result()[0].error is ErrorCode.NONE

    run(tmp_path, (1, 2, 3), body)


async def diverge(c: Cluster) -> None:
    """Brokers 1 and 2 hold 0..4; broker 2 alone then leads epoch 1 and appends 5..7 (an uncommitted tail), and
    broker 1 leads epoch 2 from 5. Broker 2 has not seen epoch 2 yet: the next image it gets makes it truncate."""
    await c.publish(state(1, (1, 2)))
    first = c.produce(1, 5)
    await c.run_until(first.done)
    await c.publish(c.leader_move(2, isr=(2,)), only=[2])  # epoch 1 on broker 2 alone
    tail = c.produce(2, 3, acks=1)
    await c.run_until(tail.done)
    assert leo(c, 2) == 8
    await c.publish(c.leader_move(1, isr=(1,)), only=[1])  # epoch 2: broker 1 leads from 5


def test_truncation_runs_off_the_event_loop_and_a_leader_epoch_starts_at_the_truncated_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Broker 2 holds an uncommitted tail (5..7 of epoch 1) when it follows broker 1 in epoch 2; its truncation
    runs in a worker thread, held there while the metadata makes broker 2 leader of epoch 3: the role change waits
    for the truncation (the partition's lock), so epoch 3 starts at the truncated end 5, not at the old end 8."""
    threads: list[bool] = []
    release = threading.Event()
    real_truncate = Log.truncate_to

    def slow_truncate(self: Log, offset: int, now_ms: int | None = None) -> bool:
        threads.append(threading.current_thread() is threading.main_thread())
        release.wait(10)
        return real_truncate(self, offset, now_ms)

    async def body(c: Cluster) -> None:
        await diverge(c)
        monkeypatch.setattr(Log, "truncate_to", slow_truncate)
        await c.publish(only=[2])  # broker 2 follows epoch 2 and truncates (held in its thread)
        for _ in range(2_000):
            if threads:
                break
            await asyncio.sleep(0.001)
        assert threads == [False], "the truncation did not run in a worker thread"
        threading.Timer(0.3, release.set).start()
        assert c.record is not None
        await c.publish(c.leader_move(2, isr=(2,)), only=[2])  # epoch 3: blocks until the truncation is done
        assert leo(c, 2) == 5
        assert c.log(2).epoch_cache.entries()[-1] == (3, 5)

    run(tmp_path, (1, 2), body)


def test_a_shutdown_waits_for_a_truncation_in_flight_before_closing_the_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fetcher's truncation thread is shielded from the shutdown's cancellation and waited for: the logs are
    closed after it, never under it."""
    order: list[str] = []
    started = threading.Event()
    release = threading.Event()
    real_truncate = Log.truncate_to

    def slow_truncate(self: Log, offset: int, now_ms: int | None = None) -> bool:
        started.set()
        release.wait(10)
        result = real_truncate(self, offset, now_ms)
        order.append("truncated")
        return result

    async def body(c: Cluster) -> None:
        await diverge(c)
        monkeypatch.setattr(Log, "truncate_to", slow_truncate)
        logs = c.managers[2].logs
        real_shutdown = logs.shutdown

        def shutdown(broker_epoch: int = -1) -> None:
            order.append("logs closed")
            real_shutdown(broker_epoch)

        monkeypatch.setattr(logs, "shutdown", shutdown)
        await c.publish(only=[2])  # broker 2 follows epoch 2: its truncation starts in a thread and is held
        for _ in range(2_000):
            if started.is_set():
                break
            await asyncio.sleep(0.001)
        assert started.is_set()
        threading.Timer(0.3, release.set).start()
        await c.managers[2].stop()
        assert order == ["truncated", "logs closed"]
        c.managers.pop(2)  # stopped already

    run(tmp_path, (1, 2), body)
