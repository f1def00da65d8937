"""The queue of requests this broker sends to one other broker (Kafka's InterBrokerSendThread, per destination).

Callers `submit` an entry and await its answer; a task per destination drains the queue: every entry queued while
the previous request was in flight goes into the next request (one `send(entries)` call, answered in order), so
one request at a time travels on the destination's connection (a `BrokerBlockingSender` is not safe for concurrent
requests). `conflicts(a, b)` keeps two entries out of one request (Kafka sends at most one per transactional id):
the later one waits for the next request. An I/O failure (OSError, TimeoutError, EOFError: a connection closed
mid-answer) or a close while in flight
answers every entry of the request with `failed(entry, NETWORK_EXCEPTION)`, another exception with
UNKNOWN_SERVER_ERROR: callers always get an answer, never an exception or a cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.broker_blocking_sender import AuthenticationFailed

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
        self.requests = 0  # requests sent (for tests and logs)

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
            self.requests += 1
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


def _resolve(batch: Sequence[tuple[E, asyncio.Future[A]]], answers: Sequence[A]) -> None:
    for (_, future), answer in zip(batch, answers, strict=True):
        if not future.done():
            future.set_result(answer)
