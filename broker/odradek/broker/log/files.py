"""File names of a partition folder (Kafka's `LogFileUtils`).

A segment is named by its base offset zero-padded to 20 digits "so that ls sorts the files numerically"::

    00000000000000000000.log        records (RecordBatch v2, back to back)
    00000000000000000000.index      OffsetIndex
    00000000000000000000.timeindex  TimeIndex
    00000000000000000000.txnindex   TransactionIndex (only once the segment holds an ABORT marker)
    00000000000000000000.snapshot   producer state below that offset (producer_state.py; at rolls, clean stop)

Suffixes appended to all four during maintenance: `.deleted` (waiting for file.delete.delay.ms), `.cleaned`
(cleaner output being written), `.swap` (cleaner output ready to replace the originals).
"""

from __future__ import annotations

from pathlib import Path

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
TXN_INDEX_SUFFIX = ".txnindex"
DELETED_SUFFIX = ".deleted"
CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
SNAPSHOT_SUFFIX = ".snapshot"
SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)
CLEANER_OFFSET_CHECKPOINT = "cleaner-offset-checkpoint"  # per log dir, written by the cleaner


def filename_prefix(offset: int) -> str:
    return f"{offset:020d}"


def segment_file(directory: Path, base_offset: int, suffix: str, extra_suffix: str = "") -> Path:
    return directory / f"{filename_prefix(base_offset)}{suffix}{extra_suffix}"


def offset_from_file_name(name: str) -> int:
    return int(name.split(".", 1)[0])


def snapshot_file(directory: Path, offset: int) -> Path:
    return directory / f"{filename_prefix(offset)}{SNAPSHOT_SUFFIX}"


def snapshot_offsets(directory: Path) -> list[int]:
    """The offsets of the producer snapshots in `directory`, ascending."""
    found = []
    for path in directory.glob("*" + SNAPSHOT_SUFFIX):
        prefix = path.name[: -len(SNAPSHOT_SUFFIX)]
        if len(prefix) == 20 and prefix.isdigit():
            found.append(int(prefix))
    return sorted(found)


def partition_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


def parse_partition_dir_name(name: str) -> tuple[str, int]:
    """`my-topic-3` -> ("my-topic", 3). Raises ValueError on a name that is not a partition folder."""
    topic, sep, partition = name.rpartition("-")
    if not sep or not topic or not partition.isdigit():
        raise ValueError(f"{name!r} is not a topic-partition folder name")
    return topic, int(partition)
