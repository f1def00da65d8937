"""The fault suite's own batch-header reader against batches written by the broker's builder, and the replica
convergence check on partition folders laid out as the broker lays them out."""

from __future__ import annotations

from pathlib import Path

from odradek.broker.records.builder import build_batch, build_control_batch
from odradek.faults.checker import check
from odradek.faults.history import History
from odradek.faults.segments import (
    HEADER_SIZE,
    batches,
    check_convergence,
    control_offsets,
    last_batch,
    log_end_offset,
    scan_segment,
    segment_files,
)


def batch(base: int, count: int, tag: bytes = b"v", epoch: int = 0) -> bytes:
    records = [(None, tag + b"%d" % (base + i), (), 1_700_000_000_000) for i in range(count)]
    return build_batch(records, base_offset=base, partition_leader_epoch=epoch)


def replica(folder: Path, *segments: list[bytes]) -> Path:
    """A partition folder whose segments hold the given batches (each segment named by its first base offset)."""
    folder.mkdir(parents=True)
    for chunks in segments:
        base = int.from_bytes(chunks[0][:8], "big")
        (folder / f"{base:020d}.log").write_bytes(b"".join(chunks))
        (folder / f"{base:020d}.index").write_bytes(b"")
    return folder


def test_headers_are_read_as_the_broker_wrote_them(tmp_path: Path) -> None:
    marker = build_control_batch(True, producer_id=7, producer_epoch=0, base_offset=5)
    folder = replica(tmp_path / "t-0", [batch(0, 3), batch(3, 2, epoch=4)], [marker])
    assert [p.name for p in segment_files(folder)] == ["00000000000000000000.log", "00000000000000000005.log"]
    found = list(batches(folder))
    assert [(b.base_offset, b.last_offset, b.leader_epoch, b.records) for b in found] == [
        (0, 2, 0, 3), (3, 4, 4, 2), (5, 5, -1, 1),
    ]  # fmt: skip
    assert found[2].is_control and found[2].is_transactional and found[2].producer_id == 7
    assert not found[0].is_control
    assert control_offsets(folder) == {5}
    assert log_end_offset(folder) == 6
    assert HEADER_SIZE == 61


def test_a_torn_tail_ends_the_scan_at_the_last_whole_batch(tmp_path: Path) -> None:
    first, second = batch(0, 3), batch(3, 3)
    folder = replica(tmp_path / "t-0", [first, second])
    segment = segment_files(folder)[0]
    with open(segment, "r+b") as handle:
        handle.truncate(len(first) + len(second) - 7)
    scan = scan_segment(segment)
    assert scan.torn and scan.valid_bytes == len(first) and len(scan.batches) == 1
    corrupt = bytearray(first + second)
    corrupt[len(first) + 40] ^= 0xFF  # a flipped byte inside the CRC's range
    segment.write_bytes(bytes(corrupt))
    assert [b.base_offset for b in batches(folder)] == [0]
    last = last_batch(folder)
    assert last is not None and last.base_offset == 0


def test_identical_replicas_converge_even_when_their_segments_roll_at_different_offsets(tmp_path: Path) -> None:
    chunks = [batch(0, 2), batch(2, 2), batch(4, 2)]
    a = replica(tmp_path / "a" / "t-0", chunks)
    b = replica(tmp_path / "b" / "t-0", chunks[:1], chunks[1:])
    assert check_convergence([a, b], high_watermark=6) == []


def test_replicas_differing_below_the_high_watermark_diverge_and_above_it_do_not(tmp_path: Path) -> None:
    a = replica(tmp_path / "a" / "t-0", [batch(0, 2), batch(2, 2, tag=b"x")])
    b = replica(tmp_path / "b" / "t-0", [batch(0, 2), batch(2, 2, tag=b"y")])
    divergences = check_convergence([a, b], high_watermark=4)
    assert len(divergences) == 1 and divergences[0].offset == 2 and divergences[0].replica == b
    assert check_convergence([a, b], high_watermark=2) == [], "the tail above the HW may still differ"


def test_a_replica_missing_records_below_the_high_watermark_diverges(tmp_path: Path) -> None:
    a = replica(tmp_path / "a" / "t-0", [batch(0, 2), batch(2, 2)])
    b = replica(tmp_path / "b" / "t-0", [batch(0, 2)])
    [divergence] = check_convergence([a, b], high_watermark=4)
    assert "log ends at 2 vs 4" in divergence.detail


def test_same_header_different_bytes_diverge(tmp_path: Path) -> None:
    first = batch(0, 2)
    other = bytearray(first)
    other[-1] ^= 0x01  # the CRC is unchanged in the header, but the bytes differ: the scan refuses the batch
    a = replica(tmp_path / "a" / "t-0", [first])
    b = replica(tmp_path / "b" / "t-0", [bytes(other)])
    assert check_convergence([a, b], high_watermark=2) != []


def test_the_checker_reports_diverged_replicas_and_tells_control_batches_from_gaps(tmp_path: Path) -> None:
    marker = build_control_batch(False, producer_id=1, producer_epoch=0, base_offset=2)
    a = replica(tmp_path / "a" / "t-0", [batch(0, 2), marker])
    b = replica(tmp_path / "b" / "t-0", [batch(0, 2), marker])
    c = replica(tmp_path / "c" / "t-0", [batch(0, 1)])
    history = History()
    for offset in range(2):
        history.record("read", "final", topic="t", partition=0, offset=offset, value=f"v{offset}", hw=3,
                       isolation="read_uncommitted", phase="final")  # fmt: skip
    history.record("end", "final", topic="t", partition=0, log_start=0, hw=3, isolation="read_uncommitted")
    result = check(history.events, {("t", 0): [a, b]})
    assert result.ok and result.notes["control-gaps"] == 1, result.summary()
    assert check(history.events).kinds() == {"offset-gap"}, "without the replicas the gap is unexplained"
    assert check(history.events, {("t", 0): [a, b, c]}).kinds() == {"diverged"}
