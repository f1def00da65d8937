"""A fetch waiting for `min_bytes` (Kafka's DelayedFetch).

Watched under (topic, partition, isolation) for each of its partitions, so that only the offset that bounds its
reads wakes it: the log end offset for LOG_END (followers), the high watermark for HIGH_WATERMARK, the last stable
offset for TXN_COMMITTED. Completes when
- the bytes readable at its isolation, summed over its partitions (each at most its partition_max_bytes, as
  Kafka accumulates them), reach `min_bytes`;
- a partition answers an error (not led here any more, deleted, fenced epoch, offset out of range);
- `max_wait_ms` passes.
On completion it reads every partition again (honouring the response-wide max_bytes) and answers that, as Kafka's
DelayedFetch.onComplete does (readFromLog only: a follower's fetch offsets were recorded by the first read, and
are not recorded again).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from odradek.broker.replication.api import FetchIsolation, FetchParams, FetchPartition, FetchResult
from odradek.broker.replication.purgatory import DelayedOperation

FetchKey = tuple[str, int, FetchIsolation]


class FetchReader(Protocol):
    def bytes_available(self, params: FetchParams, request: FetchPartition) -> int | None:
        """Bytes readable for `request` at `params.isolation`, at most its max_bytes; None on an error."""

    def read_all(self, params: FetchParams, requests: Sequence[FetchPartition]) -> list[FetchResult]: ...


class DelayedFetch(DelayedOperation[list[FetchResult]]):
    def __init__(self, params: FetchParams, requests: Sequence[FetchPartition], reader: FetchReader) -> None:
        super().__init__(params.max_wait_ms)
        self._params = params
        self._requests = requests
        self._reader = reader

    @property
    def keys(self) -> list[FetchKey]:
        return [(request.topic, request.partition, self._params.isolation) for request in self._requests]

    def try_complete(self) -> bool:
        accumulated = 0
        for request in self._requests:
            available = self._reader.bytes_available(self._params, request)
            if available is None:
                return self.force_complete()
            accumulated += available
        if accumulated >= self._params.min_bytes:
            return self.force_complete()
        return False

    def on_complete(self) -> list[FetchResult]:
        return self._reader.read_all(self._params, self._requests)
