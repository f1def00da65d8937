"""Replica placement: Kafka's assignment (``AdminUtils.assignReplicasToBrokersRackUnaware`` and
``assignReplicasToBrokersRackAware``).

For sorted broker ids ``B`` (n of them), a start index ``s`` and a replica shift ``h`` (both random unless
given), partition ``p`` gets its first replica at ``B[(p + s) % n]``; ``h`` grows by one every time ``p``
wraps past a multiple of n, and the j-th follower sits ``1 + (h + j) % (n - 1)`` places after the first. This
spreads leaders round-robin and followers evenly, and is exactly Kafka's placement for the same s and h.

Rack-aware (``racks`` given, every broker with a rack: Kafka's "safe" mode falls back to rack-unaware when some
broker has none): the brokers are first arranged alternating racks (racks sorted by name, each rack's brokers by
id, one broker of each rack in turn), the first replica is placed as above on that list, and each next replica is
the next candidate ``1 + (h * racks + k) % (n - 1)`` places on, skipping a broker whose rack already has a replica
while some rack has none, and a broker that already has one while some broker has none. So replicas land on as
many racks as there are, leaders round-robin over racks.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

__all__ = ["assign_replicas", "rack_alternated_brokers"]


def assign_replicas(
    brokers: Sequence[int],
    num_partitions: int,
    replication_factor: int,
    *,
    start_partition: int = 0,
    start_index: int | None = None,
    replica_shift: int | None = None,
    rng: random.Random | None = None,
    racks: Mapping[int, str | None] | None = None,
) -> dict[int, list[int]]:
    """Replica lists for partitions ``start_partition .. start_partition + num_partitions - 1``.

    ``brokers`` must hold at least ``replication_factor`` distinct ids; the leader is the first replica.
    ``racks``: each broker's ``broker.rack`` (rack-aware placement when every broker has one).
    """
    ids = sorted(set(brokers))
    n = len(ids)
    if replication_factor < 1 or replication_factor > n:
        raise ValueError(f"replication factor {replication_factor} needs between 1 and {n} brokers")
    rng = rng or random.Random()
    start = start_index if start_index is not None else rng.randrange(n)
    shift = replica_shift if replica_shift is not None else rng.randrange(n)
    if racks is not None and all(racks.get(b) is not None for b in ids):
        rack_of = {b: str(racks[b]) for b in ids}
        return _rack_aware(rack_of, num_partitions, replication_factor, start_partition, start, shift)
    out: dict[int, list[int]] = {}
    for partition in range(start_partition, start_partition + num_partitions):
        if partition > 0 and partition % n == 0:
            shift += 1
        first = (partition + start) % n
        replicas = [ids[first]]
        for j in range(replication_factor - 1):
            replicas.append(ids[(first + 1 + (shift + j) % (n - 1)) % n])
        out[partition] = replicas
    return out


def rack_alternated_brokers(rack_of: Mapping[int, str]) -> list[int]:
    """Kafka's ``getRackAlternatedBrokerList``: racks by name, brokers of a rack by id, one of each rack in turn."""
    by_rack: dict[str, list[int]] = {}
    for broker in sorted(rack_of):
        by_rack.setdefault(rack_of[broker], []).append(broker)
    queues = [by_rack[r] for r in sorted(by_rack)]
    arranged: list[int] = []
    depth = 0
    while len(arranged) < len(rack_of):
        arranged += [queue[depth] for queue in queues if depth < len(queue)]
        depth += 1
    return arranged


def _rack_aware(
    rack_of: Mapping[int, str], num_partitions: int, factor: int, start_partition: int, start: int, shift: int
) -> dict[int, list[int]]:
    arranged = rack_alternated_brokers(rack_of)
    n, num_racks = len(arranged), len(set(rack_of.values()))
    out: dict[int, list[int]] = {}
    for partition in range(start_partition, start_partition + num_partitions):
        if partition > 0 and partition % n == 0:
            shift += 1
        first = (partition + start) % n
        leader = arranged[first]
        replicas, racks_used, used = [leader], {rack_of[leader]}, {leader}
        k = 0
        for _ in range(factor - 1):
            while True:  # ends: with factor <= n some candidate is always acceptable within n - 1 steps
                broker = arranged[(first + 1 + (shift * num_racks + k) % (n - 1)) % n]
                k += 1
                rack = rack_of[broker]
                if (rack not in racks_used or len(racks_used) == num_racks) and (broker not in used or len(used) == n):
                    replicas.append(broker)
                    racks_used.add(rack)
                    used.add(broker)
                    break
        out[partition] = replicas
    return out
