import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from log_batches import simple_batch
from odradek.broker.log import checkpoint
from odradek.broker.log.config import LogConfig
from odradek.broker.log.manager import LogManager, LogSpec

NOW = 1_700_000_000_000


def test_placement_in_fewest_partitions_dir(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    manager = LogManager.open(dirs, LogConfig())
    try:
        logs = [manager.get_or_create_log("t", p) for p in range(6)]
        assert sorted(log.dir.parent.name for log in logs) == ["a", "a", "b", "b", "c", "c"]
        assert manager.get_or_create_log("t", 0) is logs[0]
        assert manager.get_log("t", 9) is None
    finally:
        manager.shutdown()


def test_clean_shutdown_then_restart(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    topic_id = uuid.uuid4()
    manager = LogManager.open(dirs, LogConfig())
    for p in range(2):
        log = manager.get_or_create_log("orders", p, topic_id)
        for _ in range(3):
            log.append_as_leader(simple_batch(2), 0, now_ms=NOW)
    manager.shutdown(broker_epoch=7)
    for d in dirs:
        marker = json.loads((d / ".kafka_cleanshutdown").read_text())
        assert marker == {"version": 0, "brokerEpoch": 7}
        assert (d / "recovery-point-offset-checkpoint").read_text().startswith("0\n1\norders ")
    again = LogManager.open(dirs, LogConfig())
    try:
        assert again.had_clean_shutdown
        for p in range(2):
            log = again.get_log("orders", p)
            assert log is not None and log.log_end_offset == 6 and log.recovery_point == 6
            assert log.topic_id == topic_id
        assert not any((d / ".kafka_cleanshutdown").exists() for d in dirs)
    finally:
        again.shutdown()


def test_unclean_restart_recovers_from_checkpoint(tmp_path: Path) -> None:
    manager = LogManager.open([tmp_path], LogConfig())
    log = manager.get_or_create_log("t", 0)
    log.append_as_leader(simple_batch(2), 0, now_ms=NOW)
    log.flush()
    manager.checkpoint_recovery_points()
    log.append_as_leader(simple_batch(2), 0, now_ms=NOW)
    log.maybe_increment_log_start_offset(1)
    manager.checkpoint_recovery_points()
    log.close()  # "crash": no marker
    assert (tmp_path / "recovery-point-offset-checkpoint").read_text() == "0\n1\nt 0 2\n"
    again = LogManager.open([tmp_path], LogConfig())
    try:
        assert not again.had_clean_shutdown, "the broker registers as restarted after an unclean shutdown"
        reopened = again.get_log("t", 0)
        assert reopened is not None
        assert (reopened.log_start_offset, reopened.log_end_offset) == (1, 4)
    finally:
        again.shutdown()


def test_a_new_empty_log_dir_counts_as_a_clean_shutdown(tmp_path: Path) -> None:
    manager = LogManager.open([tmp_path / "fresh"], LogConfig())
    try:
        assert manager.had_clean_shutdown, "no marker, but nothing that could have been lost"
    finally:
        manager.shutdown()


def test_delete_log_and_retention(tmp_path: Path) -> None:
    config = LogConfig(retention_ms=1000, file_delete_delay_ms=500)
    manager = LogManager.open([tmp_path], config)
    try:
        log = manager.get_or_create_log("gone", 0)
        log.append_as_leader(simple_batch(1, ts=NOW), 0, now_ms=NOW)
        assert manager.delete_log("gone", 0, now_ms_value=NOW)
        assert manager.get_log("gone", 0) is None
        assert [p.name.endswith("-delete") for p in tmp_path.iterdir() if p.is_dir()] == [True]
        assert manager.delete_expired_files(NOW + 500) == 1
        assert [p for p in tmp_path.iterdir() if p.is_dir()] == []
        kept = manager.get_or_create_log("kept", 0)
        kept.append_as_leader(simple_batch(1, ts=NOW), 0, now_ms=NOW)
        assert manager.run_retention(NOW + 5000) == 1
        assert kept.log_start_offset == 1
        assert manager.delete_expired_files(NOW + 5000) == 0
        assert manager.delete_expired_files(NOW + 5500) == 1
        assert "kept 0 1" in (tmp_path / "log-start-offset-checkpoint").read_text()
    finally:
        manager.shutdown()


def test_flush_dirty_after_roll(tmp_path: Path) -> None:
    batch = simple_batch(1)
    manager = LogManager.open([tmp_path], LogConfig(segment_bytes=len(batch)))
    try:
        log = manager.get_or_create_log("t", 0)
        for _ in range(3):
            log.append_as_leader(bytearray(batch), 0, now_ms=NOW)
        assert log.recovery_point == 0
        assert manager.flush_dirty(NOW) == 1
        assert log.recovery_point == 2
    finally:
        manager.shutdown()


def test_the_flush_pass_guards_only_the_logs_it_flushes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The every-second pass over 1,000 idle partitions was 12 % of an idle broker's profile (a path and a message
    per log for the guard): logs with nothing to flush are decided from memory."""
    batch = simple_batch(1)
    manager = LogManager.open([tmp_path], LogConfig(segment_bytes=len(batch)))
    try:
        idle = [manager.get_or_create_log("idle", p) for p in range(5)]
        rolled = manager.get_or_create_log("rolled", 0)
        for _ in range(3):
            rolled.append_as_leader(bytearray(batch), 0, now_ms=NOW)
        guarded: list[str] = []
        original = LogManager.guard

        def counted(self: LogManager, log: Any, message: str) -> Any:
            guarded.append(log.dir.name)
            return original(self, log, message)

        monkeypatch.setattr(LogManager, "guard", counted)
        assert manager.flush_dirty(NOW) == 1
        assert guarded == ["rolled-0"] and rolled.recovery_point == 2
        assert manager.flush_dirty(NOW) == 0 and guarded == ["rolled-0"]
        assert all(log.recovery_point == 0 for log in idle)
    finally:
        manager.shutdown()


def test_batch_creation_places_by_counts_kept_across_load_and_delete(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    manager = LogManager.open(dirs, LogConfig())
    topic_id = uuid.uuid4()
    logs = manager.get_or_create_logs([LogSpec("t", p, topic_id) for p in range(4)])
    assert [log.partition for log in logs] == [0, 1, 2, 3]
    assert sorted(log.dir.parent.name for log in logs) == ["a", "a", "b", "b"]
    assert manager.get_or_create_logs([LogSpec("t", 1), LogSpec("t", 4, topic_id)])[0] is logs[1]
    manager.shutdown()

    again = LogManager.open(dirs, LogConfig())  # counts rebuilt from the folders found: a 3 / b 2 or a 2 / b 3
    try:
        fuller = max(dirs, key=lambda d: sum(1 for p in d.iterdir() if p.is_dir()))
        emptier = min(dirs, key=lambda d: sum(1 for p in d.iterdir() if p.is_dir()))
        assert again.get_or_create_log("u", 0).dir.parent == emptier
        # Deleting two partitions of the fuller dir makes it the emptier one.
        gone = [(lg.topic, lg.partition) for lg in again.all_logs() if lg.dir.parent == fuller][:2]
        assert again.delete_logs([*gone, ("missing", 0)], now_ms_value=NOW) == 2
        assert again.get_or_create_log("u", 1).dir.parent == fuller
        assert len(list(fuller.glob("*-delete"))) == 2
    finally:
        again.shutdown()


def test_new_partition_folder_and_its_files_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    real_fsync_dir = checkpoint.fsync_dir

    def spy(directory: Path) -> None:
        synced.append(Path(directory))
        real_fsync_dir(directory)

    monkeypatch.setattr(checkpoint, "fsync_dir", spy)
    manager = LogManager.open([tmp_path], LogConfig())
    try:
        logs = manager.get_or_create_logs([LogSpec("t", p, uuid.uuid4()) for p in range(3)])
        # partition.metadata written atomically in each new folder (which also makes its segment files durable),
        # then the log dir once for the three new folders.
        assert synced.count(tmp_path) == 1 and synced[-1] == tmp_path
        assert all(synced.count(log.dir) >= 1 for log in logs)
        assert all((log.dir / "partition.metadata").exists() for log in logs)
        synced.clear()
        manager.get_or_create_logs([LogSpec("t", 0)])  # existing: no file work
        assert synced == []
    finally:
        manager.shutdown()


def test_high_watermark_checkpoint_survives_a_restart(tmp_path: Path) -> None:
    """replication-offset-checkpoint: a restarted replica starts at the HW it had, not at its log end offset."""
    manager = LogManager.open([tmp_path], LogConfig())
    log = manager.get_or_create_log("t", 0)
    for _ in range(5):
        log.append_as_leader(simple_batch(2), 0, now_ms=NOW)
    log.update_high_watermark(4)
    other = manager.get_or_create_log("t", 1)
    other.append_as_leader(simple_batch(1), 0, now_ms=NOW)
    other.update_high_watermark(1)
    manager.checkpoint_high_watermarks()
    assert (tmp_path / "replication-offset-checkpoint").read_text() == "0\n2\nt 0 4\nt 1 1\n"
    manager.shutdown()
    again = LogManager.open([tmp_path], LogConfig())
    try:
        restarted = again.get_log("t", 0)
        assert restarted is not None
        assert (restarted.log_end_offset, restarted.high_watermark) == (10, 4)
        assert again.had_clean_shutdown
    finally:
        again.shutdown()


def test_high_watermark_of_a_partition_missing_from_the_checkpoint_is_zero(tmp_path: Path) -> None:
    manager = LogManager.open([tmp_path], LogConfig())
    manager.get_or_create_log("t", 0).append_as_leader(simple_batch(3), 0, now_ms=NOW)
    checkpoint.write_offsets(tmp_path / "replication-offset-checkpoint", {})
    manager.shutdown()
    (tmp_path / "replication-offset-checkpoint").write_text("0\n0\n")  # as if the partition came after it
    again = LogManager.open([tmp_path], LogConfig())
    try:
        log = again.get_log("t", 0)
        assert log is not None and log.high_watermark == 0
    finally:
        again.shutdown()


def test_unclean_shutdown_is_reported(tmp_path: Path) -> None:
    manager = LogManager.open([tmp_path], LogConfig())
    manager.get_or_create_log("t", 0).append_as_leader(simple_batch(1), 0, now_ms=NOW)
    manager.shutdown()
    (tmp_path / ".kafka_cleanshutdown").unlink()
    again = LogManager.open([tmp_path], LogConfig())
    try:
        assert not again.had_clean_shutdown
    finally:
        again.shutdown()
    assert LogManager.open([tmp_path / "empty"], LogConfig()).had_clean_shutdown  # a new dir is not unclean
