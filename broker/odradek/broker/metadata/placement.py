"""Replica placement: Kafka's rack-unaware assignment (``AdminUtils.assignReplicasToBrokersRackUnaware``).

For sorted broker ids ``B`` (n of them), a start index ``s`` and a replica shift ``h`` (both random unless
given), partition ``p`` gets its first replica at ``B[(p + s) % n]``; ``h`` grows by one every time ``p``
wraps past a multiple of n, and the j-th follower sits ``1 + (h + j) % (n - 1)`` places after the first. This
spreads leaders round-robin and followers evenly, and is exactly Kafka's placement for the same s and h.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["assign_replicas"]


def assign_replicas(
    brokers: Sequence[int],
    num_partitions: int,
    replication_factor: int,
    *,
    start_partition: int = 0,
    start_index: int | None = None,
    replica_shift: int | None = None,
    rng: random.Random | None = None,
) -> dict[int, list[int]]:
    """Replica lists for partitions ``start_partition .. start_partition + num_partitions - 1``.

    ``brokers`` must hold at least ``replication_factor`` distinct ids; the leader is the first replica.
    """
    ids = sorted(set(brokers))
    n = len(ids)
    if replication_factor < 1 or replication_factor > n:
        raise ValueError(f"replication factor {replication_factor} needs between 1 and {n} brokers")
    rng = rng or random.Random()
    start = start_index if start_index is not None else rng.randrange(n)
    shift = replica_shift if replica_shift is not None else rng.randrange(n)
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
