"""`ReplicaFetcherManager`: which fetcher fetches which followed partition (Kafka's AbstractFetcherManager).

Fetchers are keyed by (source broker, fetcher id): a partition goes to fetcher
`crc32(topic) * 31 + partition mod num.replica.fetchers` of its leader's broker, so with the default of one there
is one fetcher task, and one connection, per source broker, carrying all its partitions in one Fetch. A fetcher is
created when it gets its first partition and shut down when it has none left. Partitions whose leader has no known
address wait here until `update_brokers` tells it (the leader registered); a changed address restarts that
broker's fetchers with their partitions (truncating again, which is always safe).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Iterable, Mapping

from odradek.broker.replication.api import TopicPartition
from odradek.broker.replication.leader_end_point import BrokerEndPoint, LeaderEndPoint
from odradek.broker.replication.replica_fetcher import FetcherConfig, FollowerReplicas, ReplicaFetcherThread
from odradek.broker.replication.replica_quota import UNBOUNDED, ReplicaQuota
from odradek.broker.utils.time import Time

EndPointFactory = Callable[[BrokerEndPoint], LeaderEndPoint]
FetcherKey = tuple[int, int]  # (source broker, fetcher id)


class ReplicaFetcherManager:
    def __init__(
        self,
        replicas: FollowerReplicas,
        endpoints: EndPointFactory,
        config: FetcherConfig,
        time: Time,
        quota: ReplicaQuota = UNBOUNDED,
    ) -> None:
        self.replicas = replicas
        self.quota = quota  # the follower's replication throttle, shared by every fetcher
        self.endpoints = endpoints
        self.config = config
        self.time = time
        self.brokers: dict[int, BrokerEndPoint] = {}
        self.fetchers: dict[FetcherKey, ReplicaFetcherThread] = {}
        self._assigned: dict[TopicPartition, tuple[int, int]] = {}  # key -> (leader, leader epoch)
        self._where: dict[TopicPartition, FetcherKey] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._stopped = False

    def fetcher_id(self, key: TopicPartition) -> int:
        return (zlib.crc32(key[0].encode()) * 31 + key[1]) % max(self.config.num_fetchers, 1)

    def update_brokers(self, brokers: Mapping[int, BrokerEndPoint]) -> None:
        changed = {b for b, endpoint in self.brokers.items() if brokers.get(b) != endpoint}
        self.brokers = dict(brokers)
        for fetcher_key in [k for k in self.fetchers if k[0] in changed]:
            moved = [key for key, where in self._where.items() if where == fetcher_key]
            for key in moved:
                del self._where[key]
            self._close(self.fetchers.pop(fetcher_key))
        waiting = {key: self._assigned[key] for key in self._assigned if key not in self._where}
        if waiting:
            self.add_fetcher_for_partitions(waiting)

    def add_fetcher_for_partitions(self, partitions: Mapping[TopicPartition, tuple[int, int]]) -> None:
        """Follow each partition (key -> (leader, leader epoch)) from its leader, truncating first."""
        if self._stopped:
            return
        self.remove_fetcher_for_partitions(partitions.keys())
        by_fetcher: dict[FetcherKey, dict[TopicPartition, int]] = {}
        for key, (leader, epoch) in partitions.items():
            self._assigned[key] = (leader, epoch)
            if leader not in self.brokers:
                continue  # until the leader's address is known
            by_fetcher.setdefault((leader, self.fetcher_id(key)), {})[key] = epoch
        for fetcher_key, items in by_fetcher.items():
            fetcher = self.fetchers.get(fetcher_key)
            if fetcher is None:
                source = self.brokers[fetcher_key[0]]
                fetcher = ReplicaFetcherThread(
                    f"ReplicaFetcherThread-{fetcher_key[1]}-{fetcher_key[0]}",
                    fetcher_key[0],
                    self.endpoints(source),
                    self.replicas,
                    self.config,
                    self.time,
                    self.quota,
                )
                self.fetchers[fetcher_key] = fetcher
                fetcher.start()
            fetcher.add_partitions(items)
            for key in items:
                self._where[key] = fetcher_key

    def remove_fetcher_for_partitions(self, keys: Iterable[TopicPartition]) -> None:
        touched: set[FetcherKey] = set()
        for key in list(keys):
            self._assigned.pop(key, None)
            where = self._where.pop(key, None)
            if where is not None and where in self.fetchers:
                self.fetchers[where].remove_partitions([key])
                touched.add(where)
        for fetcher_key in touched:
            if self.fetchers[fetcher_key].partition_count == 0:
                self._close(self.fetchers.pop(fetcher_key))

    def _close(self, fetcher: ReplicaFetcherThread) -> None:
        task = asyncio.ensure_future(fetcher.shutdown())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def is_fetching(self, key: TopicPartition) -> bool:
        return key in self._where

    async def shutdown(self) -> None:
        self._stopped = True
        fetchers = list(self.fetchers.values())
        self.fetchers.clear()
        self._where.clear()
        self._assigned.clear()
        await asyncio.gather(*(f.shutdown() for f in fetchers), *self._closing, return_exceptions=True)
