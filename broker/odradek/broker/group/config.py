"""The group coordinator's settings (Kafka's GroupCoordinatorConfig), filled from the broker's `group.*` and
`offset*` keys by app.py."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ConsumerGroupMigrationPolicy(enum.Enum):
    """`group.consumer.migration.policy` (Kafka's ConsumerGroupMigrationPolicy): which online conversions of a
    non-empty group between the classic and the consumer protocol are allowed. An empty group always changes
    protocol, whatever the policy. Value: (upgrade allowed, downgrade allowed)."""

    BIDIRECTIONAL = (True, True)
    UPGRADE = (True, False)
    DOWNGRADE = (False, True)
    DISABLED = (False, False)

    @property
    def upgrade_enabled(self) -> bool:
        """A ConsumerGroupHeartbeat may turn a non-empty classic group into a consumer group."""
        return self.value[0]

    @property
    def downgrade_enabled(self) -> bool:
        """The last consumer-protocol member leaving may turn the group back into a classic group."""
        return self.value[1]

    @classmethod
    def parse(cls, text: str) -> ConsumerGroupMigrationPolicy:
        """The policy named `text`, case-insensitively (Kafka accepts any case); ValueError if unknown."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown group.consumer.migration.policy {text!r}") from None


@dataclass(frozen=True, slots=True)
class GroupConfig:
    initial_rebalance_delay_ms: int = 3000
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1_800_000
    max_size: int = 2**31 - 1
    offset_metadata_max_bytes: int = 4096
    offsets_retention_ms: int = 7 * 24 * 3600 * 1000
    new_member_join_timeout_ms: int = 300_000
    # KIP-848 consumer groups (group.consumer.*)
    consumer_heartbeat_interval_ms: int = 5000
    consumer_session_timeout_ms: int = 45_000
    consumer_max_size: int = 2**31 - 1
    consumer_assignors: tuple[str, ...] = ("uniform", "range")
    consumer_migration_policy: ConsumerGroupMigrationPolicy = ConsumerGroupMigrationPolicy.BIDIRECTIONAL
