"""KIP-618 zombie fencing: the transactional ids of a source connector's previous task generation (Kafka's
Worker.fenceZombies and ZombieFencing).

Kafka fences with `Admin.fenceProducers` (KIP-730), an InitProducerId for each transactional id that bumps its
producer epoch and aborts its open transaction. confluent-kafka's AdminClient has no `fence_producers`, so each id
gets a transactional producer of its own whose `init_transactions()` does the same InitProducerId; the producer is
closed without producing anything. A task of the previous generation still running anywhere (a zombie) then fails
its next send or commit with a fenced error, and a new task with the same id starts from a fenced epoch.

The producers take the connector's producer settings (`client_config(worker, "producer", connector)`, the same as
its tasks' producers), then `transactional.id`, `enable.idempotence=true` and `acks=all`, as
ExactlyOnceWorkerSourceTask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from odradek.connect.api.errors import ConnectException

log = logging.getLogger(__name__)

FENCE_TIMEOUT_S = 60.0  # per id: librdkafka retries CONCURRENT_TRANSACTIONS and coordinator moves inside it
MAX_PARALLEL = 8


def transactional_ids(group_id: str, connector: str, task_count: int) -> list[str]:
    """`<group.id>-<connector>-<task>` for tasks 0..task_count-1 (Kafka's DistributedConfig.transactionalProducerId)."""
    return [f"{group_id}-{connector}-{task}" for task in range(task_count)]


def init_transactions_fence(config: Mapping[str, Any], transactional_id: str, timeout_s: float) -> None:
    """Fence one transactional id: a producer with that id runs init_transactions and is closed."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            **config,
            "transactional.id": transactional_id,
            "enable.idempotence": True,
            "acks": "all",
            "client.id": f"connect-fencing-{transactional_id}",
        }
    )
    try:
        producer.init_transactions(timeout_s)
    finally:
        producer.close()


Fence = Callable[[Mapping[str, Any], str, float], None]


def fence_producers(
    config: Mapping[str, Any],
    ids: Sequence[str],
    fence: Fence = init_transactions_fence,
    timeout_s: float = FENCE_TIMEOUT_S,
) -> None:
    """Fence every id in `ids` (in parallel, bounded); raises ConnectException naming the ids that failed."""
    if not ids:
        return
    failures: dict[str, BaseException] = {}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ids)), thread_name_prefix="zombie-fencing") as pool:
        futures = {tid: pool.submit(fence, config, tid, timeout_s) for tid in ids}
        for tid, future in futures.items():
            exc = future.exception()
            if exc is not None:
                failures[tid] = exc
    if failures:
        detail = "; ".join(f"{tid}: {exc}" for tid, exc in sorted(failures.items()))
        raise ConnectException(f"Failed to fence out {len(failures)} of {len(ids)} transactional ids: {detail}")
    log.info("Fenced out transactional ids %s", ", ".join(ids))
