"""What replication asks of a replication throttle (Kafka's ReplicaQuota trait): the leader's side
(`leader.replication.throttled.rate` over `leader.replication.throttled.replicas`) and the follower's
(`follower.*`). `quota.replication_quota_manager.ReplicationQuotaManager` implements it; app.py wires it in.

- `is_throttled(topic, partition)`: the partition's replica on this broker is in the topic's throttled list;
- `is_quota_exceeded()`: the measured byte rate is above the rate (never, while the rate is unbounded);
- `record(value)`: bytes of throttled partitions moved (counted whether the replica is in sync or not, so that
  all replication traffic of those partitions stays under the rate).

Which replicas are throttled is Kafka's rule: only those out of the ISR (leader side: the follower is not in the
partition's ISR; follower side: the follower's last fetch left it behind the leader's high watermark), so that a
throttle never makes an in-sync replica fall out of the ISR.
"""

from __future__ import annotations

from typing import Protocol


class ReplicaQuota(Protocol):
    def is_throttled(self, topic: str, partition: int) -> bool: ...

    def is_quota_exceeded(self) -> bool: ...

    def record(self, value: float) -> None: ...


class UnboundedQuota:
    """No throttle (the default where no quota manager is given: tests, tools)."""

    def is_throttled(self, topic: str, partition: int) -> bool:
        return False

    def is_quota_exceeded(self) -> bool:
        return False

    def record(self, value: float) -> None:
        return None


UNBOUNDED = UnboundedQuota()
