"""Brokers that left the metadata image a moment ago, still listed in Metadata answers for `DEPARTED_LINGER_MS`.

A broker that dies (SIGKILL, a lost machine) leaves the image when its registration lease expires; the controller
then elects new leaders for its partitions, a few tens of milliseconds later. A client polling Metadata (librdkafka
asks once a second while a leader is down) often gets both changes in one answer: the new leader named, and the
dead broker no longer listed. librdkafka (2.16) then decommissions the broker while it moves the partition to the
new leader, and the partition lands on its internal broker until the next 1 s topic scan: a producer stalls about a
second more (bench/RESULTS.md, "Replication", SIGKILL rounds of 10-11.5 s). Kafka lists only live brokers and has
the same race; here a departed broker stays listed (with the endpoints it registered) while the new leaders reach
the clients, and is dropped without any partition move a moment later. A client that connects to it meanwhile gets
a refused connection, as it was already getting. The controlled-shutdown linger (controlled_shutdown.py) does the
same for a broker that stops cleanly, while it is still registered.

Only Metadata's broker list uses this: leaders, ISRs, offline replicas and DescribeCluster are the image's.
A broker that registers again is the image's own entry at once.
"""

from __future__ import annotations

from odradek.broker.metadata.image import BrokerImage, MetadataDelta, MetadataImage
from odradek.broker.utils.time import SystemTime, Time

__all__ = ["DEPARTED_LINGER_MS", "DepartedBrokers"]

# Longer than a controller's election after a registration expires plus librdkafka's 1 s Metadata re-query.
DEPARTED_LINGER_MS = 3_000.0


class DepartedBrokers:
    """A metadata listener (`on_image`) remembering when each broker left the image; `listed(image)` is the
    image's brokers plus those that left less than `linger_ms` ago, by broker id."""

    def __init__(self, time: Time | None = None, linger_ms: float = DEPARTED_LINGER_MS) -> None:
        self._time = SystemTime() if time is None else time
        self._linger_ms = linger_ms
        self._departed: dict[int, tuple[BrokerImage, float]] = {}  # broker id -> (its last registration, left at)

    def on_image(self, image: MetadataImage, delta: MetadataDelta) -> None:
        now = self._time.monotonic_ms()
        for broker_id in delta.changed_brokers:
            before = delta.previous.brokers.get(broker_id)
            if broker_id in image.brokers:
                self._departed.pop(broker_id, None)
            elif before is not None:
                self._departed[broker_id] = (before, now)
        self._expire(now)

    def listed(self, image: MetadataImage) -> list[BrokerImage]:
        self._expire(self._time.monotonic_ms())
        lingering = [b for b, _ in self._departed.values() if b.broker_id not in image.brokers]
        return sorted([*image.brokers.values(), *lingering], key=lambda b: b.broker_id)

    def _expire(self, now: float) -> None:
        for broker_id in [b for b, (_, left) in self._departed.items() if now - left >= self._linger_ms]:
            del self._departed[broker_id]
