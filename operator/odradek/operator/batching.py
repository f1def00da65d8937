"""`GroupCall`: many threads' requests of one kind sent to Kafka as one request (a group commit).

The operator's KafkaTopic reconciles run in threads (kopf's executor for creates and updates, the resync pool for
timers), each asking about one topic. A thousand KafkaTopics applied at once would cost a thousand DescribeTopics,
DescribeConfigs and CreateTopics requests. A `GroupCall` instead queues each caller's key; the caller that finds no
request in flight becomes the sender (a group commit's leader): in its own thread it sends every key that is pending
as ONE request, then everything that arrived meanwhile as the next one, until nothing is pending. So N reconciles in
flight together cost one round trip instead of N, while a lone call goes out at once from its own thread: there is
no linger, no thread hand-off, and nothing waits for a batch to fill.

Rules:
- `send(items)` gets distinct keys with their arguments and returns one outcome per key: its value, or the
  exception for that key alone (Kafka answers CreateTopics, DescribeTopics and DescribeConfigs per topic, so one
  topic's refusal never fails the others of the same request). If `send` itself raises, every key of that request
  gets the exception.
- Two callers with the same key and the same argument share one outcome; the same key with another argument waits
  for the next request (a request cannot carry one topic twice).
- A caller that is not the sender waits at most `timeout_s` (its own request may have to wait for the one in flight
  first), then gets `TimeoutError`; the sender's own wait is `send`'s (the AdminClient's request timeout).
- The sender serves the callers that queued while its request was in flight before it returns: its call may take a
  few round trips under load, never more than the load brings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["GroupCall"]

K = TypeVar("K", bound=Hashable)
A = TypeVar("A")
V = TypeVar("V")


class GroupCall(Generic[K, A, V]):
    def __init__(
        self, name: str, send: Callable[[Sequence[tuple[K, A]]], Mapping[K, V | BaseException]], timeout_s: float
    ) -> None:
        self._name = name
        self._send = send
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        # key -> (argument, the futures of every caller waiting for it), in arrival order
        self._pending: dict[K, tuple[A, list[Future[V]]]] = {}
        self._later: list[tuple[K, A, Future[V]]] = []  # same key, other argument: for a later request
        self._sending = False
        self.requests = 0  # requests sent, for tests and the benchmark
        self.largest = 0  # most keys in one request

    def __call__(self, key: K, argument: A) -> V:
        future: Future[V] = Future()
        with self._lock:
            self._enqueue(key, argument, future)
            lead = not self._sending
            self._sending = True
        if lead:
            self._send_pending()
        try:
            return future.result(timeout=self._timeout_s)
        except TimeoutError:
            raise TimeoutError(f"{self._name} of {key!r}: no answer within {self._timeout_s} s") from None

    def _enqueue(self, key: K, argument: A, future: Future[V]) -> None:
        waiting = self._pending.get(key)
        if waiting is None:
            self._pending[key] = (argument, [future])
        elif waiting[0] == argument:
            waiting[1].append(future)
        else:
            self._later.append((key, argument, future))

    def _send_pending(self) -> None:
        """The sender's loop: one request per round, until a round finds nothing pending."""
        try:
            while True:
                with self._lock:
                    batch, self._pending = self._pending, {}
                    later, self._later = self._later, []
                    for key, argument, future in later:
                        self._enqueue(key, argument, future)
                    if not batch:
                        self._sending = False  # under the lock: the next caller becomes the sender
                        return
                self._deliver(batch)
        except BaseException:
            with self._lock:
                self._sending = False
            raise

    def _deliver(self, batch: dict[K, tuple[A, list[Future[V]]]]) -> None:
        self.requests += 1
        self.largest = max(self.largest, len(batch))
        try:
            outcomes: Mapping[K, V | BaseException] = self._send([(key, arg) for key, (arg, _) in batch.items()])
        except Exception as exc:  # the whole request failed: every caller of it learns why
            outcomes = dict.fromkeys(batch, exc)
        for key, (_, futures) in batch.items():
            outcome = outcomes.get(key, LookupError(f"{self._name}: no answer for {key!r}"))
            for future in futures:
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
