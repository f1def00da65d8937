"""Reading a replica's log from its folder, as Kafka lays it out, for the convergence check and the torn-tail fault.

A partition folder `<topic>-<partition>/` holds segments `<base offset, 20 digits>.log`, in offset order; each is a
sequence of RecordBatch v2 batches. The 61-byte batch header (big-endian), parsed here without the broker's code:

    0  baseOffset int64      8  batchLength int32 (bytes after this field)   12 partitionLeaderEpoch int32
    16 magic int8 (2)        17 crc uint32 (CRC-32C of bytes 21..end)         21 attributes int16
    23 lastOffsetDelta int32 27 baseTimestamp int64  35 maxTimestamp int64     43 producerId int64
    51 producerEpoch int16   53 baseSequence int32   57 recordsCount int32

Attributes: bits 0-2 compression, bit 3 timestamp type, bit 4 transactional, bit 5 control. A batch occupies
offsets baseOffset..baseOffset+lastOffsetDelta. Scanning stops at the first batch that is incomplete, not magic 2
or whose CRC fails (what a torn tail looks like); `valid_bytes` says where.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import crc32c

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = 12  # baseOffset + batchLength
CONTROL_FLAG = 0x20
TRANSACTIONAL_FLAG = 0x10
assert HEADER_SIZE == 61


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch as stored: where it is and what its header says."""

    segment: Path
    position: int
    size: int
    base_offset: int
    last_offset: int
    leader_epoch: int
    crc: int
    attributes: int
    producer_id: int
    records: int

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_FLAG)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_FLAG)

    def read(self) -> bytes:
        with open(self.segment, "rb") as handle:
            handle.seek(self.position)
            return handle.read(self.size)


@dataclass(frozen=True, slots=True)
class SegmentScan:
    path: Path
    batches: tuple[Batch, ...]
    valid_bytes: int  # the file's length up to the end of its last valid batch
    file_bytes: int

    @property
    def torn(self) -> bool:
        return self.valid_bytes < self.file_bytes


def segment_files(partition_dir: Path) -> list[Path]:
    """The `.log` segments of a partition folder in offset order (their names are 20-digit base offsets)."""
    files = [p for p in partition_dir.glob("*.log") if p.stem.isdigit() and len(p.stem) == 20]
    return sorted(files, key=lambda p: int(p.stem))


def scan_segment(path: Path) -> SegmentScan:
    data = path.read_bytes()
    batches = []
    position = 0
    while position + HEADER_SIZE <= len(data):
        fields = HEADER.unpack_from(data, position)
        base_offset, length, epoch, magic, crc, attributes, last_delta = fields[:7]
        producer_id, records = fields[9], fields[12]
        size = LOG_OVERHEAD + length
        if magic != 2 or length < HEADER_SIZE - LOG_OVERHEAD or position + size > len(data):
            break
        if crc32c.crc32c(data[position + 21 : position + size]) != crc:
            break
        batches.append(
            Batch(
                path,
                position,
                size,
                base_offset,
                base_offset + last_delta,
                epoch,
                crc,
                attributes,
                producer_id,
                records,
            )
        )
        position += size
    return SegmentScan(path, tuple(batches), position, len(data))


def batches(partition_dir: Path) -> Iterator[Batch]:
    """Every valid batch of the replica, in log order (a torn segment contributes its valid prefix)."""
    for path in segment_files(partition_dir):
        yield from scan_segment(path).batches


def control_offsets(partition_dir: Path) -> set[int]:
    """Offsets held by control batches (transaction markers): a consumer never receives them."""
    return {
        offset for b in batches(partition_dir) if b.is_control for offset in range(b.base_offset, b.last_offset + 1)
    }


def log_end_offset(partition_dir: Path) -> int:
    last = -1
    for batch in batches(partition_dir):
        last = batch.last_offset
    return last + 1


def last_batch(partition_dir: Path) -> Batch | None:
    """The last valid batch of the active (last) segment."""
    files = segment_files(partition_dir)
    if not files:
        return None
    scan = scan_segment(files[-1])
    return scan.batches[-1] if scan.batches else None


@dataclass(frozen=True, slots=True)
class Divergence:
    """Replicas whose logs differ below the high watermark: the first batch where they part."""

    replica: Path
    reference: Path
    offset: int
    detail: str


def check_convergence(replicas: Sequence[Path], high_watermark: int) -> list[Divergence]:
    """Replica convergence (Kafka's acceptance oracle): the batches wholly below `high_watermark` are byte-identical
    on every replica, in the same order. Segment boundaries may differ (each replica rolls on its own), so the
    stream of batches is compared, not the files. A replica missing records below the high watermark diverges."""
    if len(replicas) < 2:
        return []
    streams = {path: [b for b in batches(path) if b.last_offset < high_watermark] for path in replicas}
    reference = replicas[0]
    expected = streams[reference]
    found = []
    for path in replicas[1:]:
        found += _compare(path, streams[path], reference, expected, high_watermark)
    return found


def _compare(path: Path, got: list[Batch], reference: Path, want: list[Batch], hw: int) -> list[Divergence]:
    for mine, theirs in zip(got, want, strict=False):
        if (mine.base_offset, mine.last_offset, mine.crc) != (theirs.base_offset, theirs.last_offset, theirs.crc):
            detail = (
                f"batch {mine.base_offset}..{mine.last_offset} crc {mine.crc:#010x} vs "
                f"{theirs.base_offset}..{theirs.last_offset} crc {theirs.crc:#010x}"
            )
            return [Divergence(path, reference, min(mine.base_offset, theirs.base_offset), detail)]
        if mine.read() != theirs.read():
            return [Divergence(path, reference, mine.base_offset, "same header, different bytes")]
    if len(got) != len(want):
        ends = (got[-1].last_offset + 1 if got else 0, want[-1].last_offset + 1 if want else 0)
        return [Divergence(path, reference, min(ends), f"log ends at {ends[0]} vs {ends[1]} below the HW {hw}")]
    return []
