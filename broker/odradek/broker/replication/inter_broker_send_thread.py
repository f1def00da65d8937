"""The queue of requests this broker sends to one other broker (Kafka's InterBrokerSendThread, per destination).

Callers `submit` an entry and await its answer; a task per destination drains the queue: every entry queued while
the previous request was in flight goes into the next request (one `send(entries)` call, answered in order), so
one request at a time travels on the destination's connection (a `BrokerBlockingSender` is not safe for concurrent
requests). `conflicts(a, b)` keeps two entries out of one request (Kafka sends at most one per transactional id):
the later one waits for the next request. An I/O failure (OSError, TimeoutError, EOFError: a connection closed
mid-answer) or a close while in flight
answers every entry of the request with `failed(entry, NETWORK_EXCEPTION)`, another exception with
UNKNOWN_SERVER_ERROR: callers always get an answer, never an exception or a cancellation.

`DestinationQueues` holds one such queue per destination broker (Kafka's per-node request queues of
InterBrokerSendThread): made on first use from the broker's current endpoint, made again (the old one closed) when
the broker re-registers on another address, all closed with it. The transaction marker channel and the KIP-890
verification manager both send through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.broker_blocking_sender import AuthenticationFailed, BrokerEndPoint

log = logging.getLogger("odradek.broker.replication")

E = TypeVar("E")
A = TypeVar("A")


class DestinationQueue(Generic[E, A]):
    def __init__(
        self,
        name: str,
        send: Callable[[list[E]], Awaitable[list[A]]],
        failed: Callable[[E, ErrorCode], A],
        close: Callable[[], Awaitable[None]],
        conflicts: Callable[[E, E], bool] = lambda _a, _b: False,
    ) -> None:
        self.name = name
        self._send = send
        self._failed = failed
        self._close = close
        self._conflicts = conflicts
        self.pending: list[tuple[E, asyncio.Future[A]]] = []
        self.task: asyncio.Task[None] | None = None

    def submit(self, entry: E) -> asyncio.Future[A]:
        future: asyncio.Future[A] = asyncio.get_running_loop().create_future()
        self.pending.append((entry, future))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._drain(), name=self.name)
        return future

    def _next_batch(self) -> list[tuple[E, asyncio.Future[A]]]:
        batch: list[tuple[E, asyncio.Future[A]]] = []
        later: list[tuple[E, asyncio.Future[A]]] = []
        for item in self.pending:
            if item[1].done():  # its caller gave up
                continue
            (later if any(self._conflicts(taken, item[0]) for taken, _ in batch) else batch).append(item)
        self.pending = later
        return batch

    async def _drain(self) -> None:
        while self.pending:
            batch = self._next_batch()
            if not batch:
                continue
            entries = [entry for entry, _ in batch]
            try:
                answers = await self._send(entries)
            except AuthenticationFailed as exc:
                log.error("%s: inter-broker authentication failed: %s", self.name, exc)
                answers = [self._failed(entry, ErrorCode.NETWORK_EXCEPTION) for entry in entries]
            except (OSError, TimeoutError, EOFError) as exc:  # EOFError: asyncio's IncompleteReadError
                log.info("%s: request failed (%s)", self.name, exc)
                answers = [self._failed(entry, ErrorCode.NETWORK_EXCEPTION) for entry in entries]
            except asyncio.CancelledError:
                _resolve(batch, [self._failed(entry, ErrorCode.NETWORK_EXCEPTION) for entry in entries])
                raise
            except Exception:
                log.exception("%s: request failed", self.name)
                answers = [self._failed(entry, ErrorCode.UNKNOWN_SERVER_ERROR) for entry in entries]
            _resolve(batch, answers)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        pending, self.pending = self.pending, []
        _resolve(pending, [self._failed(entry, ErrorCode.NETWORK_EXCEPTION) for entry, _ in pending])
        await self._close()


class DestinationQueues(Generic[E, A]):
    """The `DestinationQueue` to each destination broker, keyed by broker id; `new_queue(endpoint)` makes one (and
    its connection). `closed` once `close` was called: callers answer without queueing then."""

    def __init__(self, new_queue: Callable[[BrokerEndPoint], DestinationQueue[E, A]]) -> None:
        self._new_queue = new_queue
        self._queues: dict[int, tuple[BrokerEndPoint, DestinationQueue[E, A]]] = {}
        self._closing: set[asyncio.Task[None]] = set()  # queues of moved brokers being closed (held: tasks are weak)
        self.closed = False

    def __getitem__(self, broker_id: int) -> DestinationQueue[E, A]:
        return self._queues[broker_id][1]

    def submit(self, endpoint: BrokerEndPoint, entry: E) -> asyncio.Future[A]:
        """Queue `entry` for the broker at `endpoint` (its current address in the metadata image)."""
        assert not self.closed
        current = self._queues.get(endpoint.broker_id)
        if current is not None and current[0] == endpoint:
            return current[1].submit(entry)
        if current is not None:  # the broker came back on another address: a new connection
            closing = asyncio.get_running_loop().create_task(current[1].close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        queue = self._new_queue(endpoint)
        self._queues[endpoint.broker_id] = (endpoint, queue)
        return queue.submit(entry)

    async def close(self) -> None:
        self.closed = True
        queues, self._queues = self._queues, {}
        closing = [queue.close() for _, queue in queues.values()]
        await asyncio.gather(*closing, *self._closing, return_exceptions=True)


def _resolve(batch: Sequence[tuple[E, asyncio.Future[A]]], answers: Sequence[A]) -> None:
    for (_, future), answer in zip(batch, answers, strict=True):
        if not future.done():
            future.set_result(answer)
