"""Per-log configuration with Kafka's defaults (Kafka 4, `LogConfig` / `ServerLogConfigs`).

Field names are Kafka's topic config keys with dots replaced by underscores (`segment.bytes` ->
`segment_bytes`); the broker's config module maps keys and broker-level synonyms (`log.segment.bytes`, ...)
onto this class.
"""

from __future__ import annotations

from dataclasses import dataclass

LONG_MAX = 2**63 - 1

CLEANUP_DELETE = "delete"
CLEANUP_COMPACT = "compact"


@dataclass(frozen=True, slots=True)
class LogConfig:
    segment_bytes: int = 1024 * 1024 * 1024
    segment_ms: int = 7 * 24 * 60 * 60 * 1000
    segment_jitter_ms: int = 0
    segment_index_bytes: int = 10 * 1024 * 1024
    index_interval_bytes: int = 4096
    retention_ms: int = 7 * 24 * 60 * 60 * 1000  # -1: infinite
    retention_bytes: int = -1  # -1: infinite
    cleanup_policy: tuple[str, ...] = (CLEANUP_DELETE,)
    delete_retention_ms: int = 24 * 60 * 60 * 1000
    min_cleanable_dirty_ratio: float = 0.5
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = LONG_MAX
    file_delete_delay_ms: int = 60_000
    max_message_bytes: int = 1024 * 1024 + 12  # 1048588
    message_timestamp_type: str = "CreateTime"  # or "LogAppendTime"
    message_timestamp_before_max_ms: int = LONG_MAX
    message_timestamp_after_max_ms: int = 3_600_000
    compression_type: str = "producer"
    flush_messages: int = LONG_MAX
    flush_ms: int = LONG_MAX
    preallocate: bool = False
    min_insync_replicas: int = 1
    unclean_leader_election_enable: bool = False

    @property
    def compact(self) -> bool:
        return CLEANUP_COMPACT in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return CLEANUP_DELETE in self.cleanup_policy

    @property
    def max_index_entries(self) -> int:
        """Entries an offset index may hold (segment.index.bytes / 8), as Kafka's `OffsetIndex.maxEntries`."""
        return max(1, self.segment_index_bytes // 8)
