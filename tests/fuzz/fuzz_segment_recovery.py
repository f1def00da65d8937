"""Fuzz harness: segment recovery (`log.segment.LogSegment.recover`, the scan a broker runs on start-up after an
unclean shutdown) on mutated segment files, then the record decoder (`records.record.iter_records`,
used by compaction, timestamp search and dump-log) on every batch recovery kept.

Input: byte 0 bit 0 set means the CRC-32C of every batch is recomputed before the file is written (so mutations of
lengths, counts, offsets and records get past the CRC check); the rest is the `.log` file of the segment with base
offset 0 (written to a temporary directory, /dev/shm when there is one).

Oracle:
- `recover` never raises; it returns the bytes it truncated, and the file is left at the valid prefix;
- the valid prefix is exactly the one an independent scanner of the documented rules finds (notes/reliability.md
  2.3-2.5 "torn tail", Kafka's LogSegment.recover): a batch is kept while 61 header bytes are there,
  batchLength >= 49 and fits, magic == 2, recordCount >= 0, lastOffsetDelta >= 0, offsets do not go back, the
  last offset is within int32 of the segment base, and the CRC-32C matches; recovery stops at the first other one;
- after recovery `read_next_offset()` is one past the last kept batch and `translate_offset` finds every kept
  batch through the rebuilt offset index;
- `records.record.iter_records` on a kept batch raises nothing but InvalidRecordBatch.

    python tests/fuzz/fuzz_segment_recovery.py -runs=20000 [-max_total_time=60] [CORPUS_DIR] [--pure]

Seeds: segments made of the golden Produce batches and fuzz_support.sample_batches() at consecutive offsets.
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

from fuzz_support import instrumented, run_harness, segment_seeds

with instrumented(__name__):
    import crc32c
    from odradek.broker.log.leader_epoch_cache import LeaderEpochFileCache
    from odradek.broker.log.segment import LogSegment
    from odradek.broker.records.batch import InvalidRecordBatch, read_header
    from odradek.broker.records.record import iter_records

FIX_CRC = 0x01
INT32_MAX = 2**31 - 1
_WORKDIR: Path | None = None


def workdir() -> Path:
    """<tmp>/odradek-fuzz-segment-<pid>; those of processes that are gone are removed (libFuzzer exits without
    running Python's cleanup)."""
    global _WORKDIR
    if _WORKDIR is None:
        shm = os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
        base = Path("/dev/shm" if shm else tempfile.gettempdir())
        for stale in base.glob("odradek-fuzz-segment-*"):
            pid = stale.name.rsplit("-", 1)[1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(stale, ignore_errors=True)
        _WORKDIR = base / f"odradek-fuzz-segment-{os.getpid()}"
        shutil.rmtree(_WORKDIR, ignore_errors=True)
        _WORKDIR.mkdir()
        atexit.register(shutil.rmtree, _WORKDIR, True)
    return _WORKDIR


def fix_all_crcs(buf: bytearray) -> None:
    position = 0
    while position + 61 <= len(buf):
        (length,) = struct.unpack_from(">i", buf, position + 8)
        end = position + 12 + length
        if length < 49 or end > len(buf):
            return
        struct.pack_into(">I", buf, position + 17, crc32c.crc32c(bytes(buf[position + 21 : end])))
        position = end


def reference_prefix(data: bytes, base_offset: int = 0) -> list[tuple[int, int, int, int]]:
    """(position, size, base offset, last offset) of each batch the rules keep, in order."""
    kept = []
    position = 0
    next_offset = base_offset
    while len(data) - position >= 61:
        base, length, _epoch, magic, crc, _attributes, last_delta = struct.unpack_from(">qiibIhi", data, position)
        (count,) = struct.unpack_from(">i", data, position + 57)
        size = length + 12
        if length < 49 or position + size > len(data) or magic != 2:
            break
        if count < 0 or last_delta < 0 or base < next_offset or not 0 <= base + last_delta - base_offset <= INT32_MAX:
            break
        if crc32c.crc32c(data[position + 21 : position + size]) != crc:
            break
        kept.append((position, size, base, base + last_delta))
        next_offset = base + last_delta + 1
        position += size
    return kept


def check(data: bytes) -> None:
    if not data:
        return
    buf = bytearray(data[1:])
    if data[0] & FIX_CRC:
        fix_all_crcs(buf)
    segment_bytes = bytes(buf)
    directory = workdir() / "p-0"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    (directory / "00000000000000000000.log").write_bytes(segment_bytes)
    segment = LogSegment(directory, 0, index_interval_bytes=128, max_index_size=4096)
    try:
        cache = LeaderEpochFileCache(directory / "leader-epoch-checkpoint")
        truncated = segment.recover(1 << 20, cache)
        valid = len(segment_bytes) - truncated
        assert 0 <= truncated <= len(segment_bytes), f"truncated {truncated} of {len(segment_bytes)} bytes"
        assert segment.size == valid == os.path.getsize(segment.log_path), "file not left at the valid prefix"
        kept = reference_prefix(segment_bytes)
        expected = kept[-1][0] + kept[-1][1] if kept else 0
        assert valid == expected, f"recovery kept {valid} bytes, the rules keep {expected} ({len(kept)} batches)"
        next_offset = kept[-1][3] + 1 if kept else 0
        assert segment.read_next_offset() == next_offset, f"next offset {segment.read_next_offset()} != {next_offset}"
        for position, size, _base, last in kept:
            found = segment.translate_offset(last)
            assert found is not None and found.position == position, f"offset {last}: {found} not at {position}"
            batch = segment_bytes[position : position + size]
            try:
                for _ in iter_records(batch, read_header(batch)):
                    pass
            except InvalidRecordBatch:
                pass
    finally:
        segment.close()


def seeds() -> list[bytes]:
    return [bytes([flag]) + segment for segment in segment_seeds() for flag in (0, FIX_CRC)]


if __name__ == "__main__":
    sys.exit(run_harness("segment_recovery", check, seeds()))
