"""``EmbeddedMetadataStore``: the single-node, in-process, file-backed ``MetadataStore`` (the default).

State lives in memory (``keyspace.KeySpace``); every write transaction is appended to a journal and fsynced
before it becomes visible (format in ``journal``). Every ``snapshot_every`` journal entries the whole key
space is written as a snapshot and the journal emptied. Writes are serialised by one ``asyncio.Lock``; the
fsync runs in a worker thread (``asyncio.to_thread``) so the event loop keeps serving reads meanwhile, and
readers only ever see durable state.

Watches are fed from the commit path through ``asyncio.Queue`` objects (no polling). The store keeps the
events of the last ``history_revisions`` revisions (including those replayed from the journal on open), so
watches can resume from any revision after ``compact_revision``.

Leases use an injectable monotonic clock; one ``loop.call_later`` timer is armed for the earliest deadline
and runs ``expire_leases()``, which tests with a fake clock can also call directly. Leases are not
persisted: on open, keys that carry a lease are deleted in one journaled transaction (what etcd does once
their TTL has run out).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from odradek.broker.metadata.journal import Change, JournalEntry, MetadataDirectory
from odradek.broker.metadata.keyspace import KeySpace, plan_txn
from odradek.broker.metadata.store import (
    CompactedError,
    Compare,
    KeyValue,
    LeaseNotFoundError,
    Op,
    OpKind,
    RangeResult,
    StoreClosedError,
    TxnResult,
    WatchEvent,
)

__all__ = ["METADATA_DIR_NAME", "EmbeddedMetadataStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

METADATA_DIR_NAME = "__cluster_metadata"


@dataclass(slots=True)
class _Lease:
    lease_id: int
    ttl: float
    deadline: float
    keys: set[bytes] = field(default_factory=set)


class _Watch:
    """A watch stream: events at or after ``start`` for keys with ``prefix``; ``None`` queued ends it."""

    def __init__(self, store: EmbeddedMetadataStore, prefix: bytes, start: int) -> None:
        self._store = store
        self.prefix = prefix
        self.start = start
        self._queue: asyncio.Queue[list[WatchEvent] | None] = asyncio.Queue()
        self._error: Exception | None = None
        self._done = False

    def offer(self, revision: int, events: list[WatchEvent]) -> None:
        if self._done or revision < self.start:
            return
        mine = [e for e in events if e.kv.key.startswith(self.prefix)]
        if mine:
            self._queue.put_nowait(mine)

    def fail(self, error: Exception) -> None:
        self._error = error
        self._queue.put_nowait(None)

    def end(self) -> None:
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[list[WatchEvent]]:
        return self

    async def __anext__(self) -> list[WatchEvent]:
        if self._done:
            raise StopAsyncIteration
        batch = await self._queue.get()
        if batch is None:
            self._done = True
            self._store._watches.discard(self)
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return batch

    async def aclose(self) -> None:
        self._done = True
        self._store._watches.discard(self)
        self._queue.put_nowait(None)


class EmbeddedMetadataStore:
    """A ``MetadataStore`` kept in memory and journaled to ``path``. Create it with ``await open(path)``."""

    def __init__(
        self,
        directory: MetadataDirectory,
        *,
        clock: Callable[[], float],
        snapshot_every: int,
        history_revisions: int,
    ) -> None:
        self._dir = directory
        self._clock = clock
        self._snapshot_every = snapshot_every
        self._history_revisions = history_revisions
        self._space = KeySpace()
        self._history: collections.deque[tuple[int, list[WatchEvent]]] = collections.deque()
        self._compact_revision = 0
        self._entries_since_snapshot = 0
        self._lock = asyncio.Lock()
        self._watches: set[_Watch] = set()
        self._leases: dict[int, _Lease] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._expiry_task: asyncio.Task[int] | None = None
        self._loop = asyncio.get_running_loop()
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        fsync: bool = True,
        snapshot_every: int = 1000,
        history_revisions: int = 10_000,
    ) -> EmbeddedMetadataStore:
        """Opens (creating if needed) the store in folder ``path``, recovering from a torn journal tail.

        ``path`` is the metadata folder itself, normally ``<log.dirs[0]>/__cluster_metadata``
        (``opener.default_store_url``).
        """
        directory = MetadataDirectory(path, fsync=fsync)
        recovered = await asyncio.to_thread(directory.open)
        if recovered.truncated_bytes:
            log.warning("metadata journal in %s: dropped a torn tail of %d bytes", path, recovered.truncated_bytes)
        store = cls(directory, clock=clock, snapshot_every=snapshot_every, history_revisions=history_revisions)
        store._space = KeySpace(recovered.kvs, recovered.snapshot_revision)
        store._compact_revision = recovered.snapshot_revision
        for entry in recovered.entries:
            store._remember(entry.revision, store._space.apply(entry.revision, entry.changes))
        store._entries_since_snapshot = len(recovered.entries)
        await store._drop_leased_keys()
        return store

    @property
    def revision(self) -> int:
        """The revision of the last committed write."""
        return self._space.revision

    @property
    def compact_revision(self) -> int:
        """Watches must start after this revision."""
        return self._compact_revision

    @property
    def path(self) -> str:
        return self._dir.path

    # -- reads ---------------------------------------------------------------------------------------------

    async def get(self, key: bytes) -> KeyValue | None:
        self._check_open()
        return self._space.get(key)

    async def range(self, prefix: bytes) -> RangeResult:
        self._check_open()
        return RangeResult(self._space.range(prefix), self._space.revision)

    # -- writes --------------------------------------------------------------------------------------------

    async def txn(self, compares: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        return await self._shielded(self._txn(compares, success, failure))

    async def _txn(self, compares: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        async with self._lock:
            self._check_open()
            plan = plan_txn(self._space, compares, success, failure)
            for op in success if plan.succeeded else failure:
                if op.kind is OpKind.PUT and op.lease and op.lease not in self._leases:
                    raise LeaseNotFoundError(op.lease)
            if plan.changes:
                await self._commit(plan.changes)
            return TxnResult(plan.succeeded, self._space.revision, plan.responses)

    async def put(self, key: bytes, value: bytes, lease: int | None = None) -> KeyValue:
        result = await self.txn([], [Op.put(key, value, lease)], [])
        return result.responses[0].kvs[0]

    async def delete(self, key: bytes, *, prefix: bool = False) -> int:
        result = await self.txn([], [Op.delete(key, prefix=prefix)], [])
        return result.responses[0].deleted

    async def _shielded(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs a write in its own task, so a cancelled caller cannot interrupt a commit half-way (it just
        stops waiting; the outcome is then unknown to it, as with a timed-out etcd request)."""
        task = self._loop.create_task(coro)
        task.add_done_callback(_consume_exception)
        return await asyncio.shield(task)

    async def _commit(self, changes: tuple[Change, ...]) -> None:
        """Journals, applies and publishes one write transaction; the caller holds the lock."""
        revision = self._space.revision + 1
        try:
            await asyncio.to_thread(self._dir.append, JournalEntry(revision, changes))
        except BaseException as e:
            if isinstance(e, Exception):
                log.exception("metadata journal write failed; closing the store")
            self._shut_down()
            raise
        for change in changes:
            self._track_lease(change)
        events = self._space.apply(revision, changes)
        self._remember(revision, events)
        for watch in list(self._watches):
            watch.offer(revision, events)
        self._entries_since_snapshot += 1
        if self._entries_since_snapshot >= self._snapshot_every:
            await self._snapshot()

    def _track_lease(self, change: Change) -> None:
        prev = self._space.get(change.key)
        if prev is not None and prev.lease in self._leases:
            self._leases[prev.lease].keys.discard(change.key)
        if change.kv is not None and change.kv.lease in self._leases:
            self._leases[change.kv.lease].keys.add(change.key)

    def _remember(self, revision: int, events: list[WatchEvent]) -> None:
        self._history.append((revision, events))
        while len(self._history) > self._history_revisions:
            self._compact_revision = self._history.popleft()[0]

    async def _snapshot(self) -> None:
        kvs = list(self._space.kvs.values())
        try:
            await asyncio.to_thread(self._dir.write_snapshot, self._space.revision, kvs)
        except OSError:
            # The journal is still complete; try again after the next commit.
            log.exception("metadata snapshot failed in %s", self._dir.path)
            return
        self._entries_since_snapshot = 0

    async def _drop_leased_keys(self) -> None:
        leased = [kv.key for kv in self._space.kvs.values() if kv.lease]
        if leased:
            async with self._lock:
                await self._commit(tuple(Change(key, None) for key in leased))

    # -- watches -------------------------------------------------------------------------------------------

    def watch(self, prefix: bytes, start_revision: int | None = None) -> _Watch:
        self._check_open()
        if start_revision is not None and start_revision < 0:
            raise ValueError("start_revision must be >= 0")
        start = start_revision if start_revision else self._space.revision + 1
        watch = _Watch(self, prefix, start)
        if start <= self._compact_revision:
            watch.fail(CompactedError(start, self._compact_revision))
            return watch
        for revision, events in self._history:
            watch.offer(revision, events)
        self._watches.add(watch)
        return watch

    # -- leases --------------------------------------------------------------------------------------------

    def lease_ttl_within(self, deadline_s: float) -> float:
        return deadline_s  # leases end on the timer at their TTL, to the clock's precision

    async def grant_lease(self, ttl_s: float) -> int:
        self._check_open()
        if ttl_s <= 0:
            raise ValueError("lease TTL must be positive")
        lease_id = 0
        while lease_id == 0 or lease_id in self._leases:
            lease_id = secrets.randbits(63)
        self._leases[lease_id] = _Lease(lease_id, ttl_s, self._clock() + ttl_s)
        self._arm_timer()
        return lease_id

    async def keepalive(self, lease_id: int) -> float:
        self._check_open()
        lease = self._leases.get(lease_id)
        if lease is None or lease.deadline <= self._clock():
            raise LeaseNotFoundError(lease_id)
        lease.deadline = self._clock() + lease.ttl
        self._arm_timer()
        return lease.ttl

    async def revoke(self, lease_id: int) -> None:
        await self._shielded(self._revoke(lease_id))

    async def _revoke(self, lease_id: int) -> None:
        async with self._lock:
            self._check_open()
            lease = self._leases.pop(lease_id, None)
            if lease is None:
                raise LeaseNotFoundError(lease_id)
            await self._end_lease(lease)
        self._arm_timer()

    async def expire_leases(self) -> int:
        """Ends every lease whose deadline has passed (deleting its keys); returns how many ended."""
        ended = 0
        async with self._lock:
            if self._closed:
                return 0
            now = self._clock()
            for lease in [lease for lease in self._leases.values() if lease.deadline <= now]:
                del self._leases[lease.lease_id]
                await self._end_lease(lease)
                ended += 1
        self._arm_timer()
        return ended

    async def _end_lease(self, lease: _Lease) -> None:
        keys = sorted(k for k in lease.keys if (kv := self._space.get(k)) is not None and kv.lease == lease.lease_id)
        if keys:
            await self._commit(tuple(Change(k, None) for k in keys))

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._closed or not self._leases:
            return
        earliest = min(lease.deadline for lease in self._leases.values())
        self._timer = self._loop.call_later(max(0.0, earliest - self._clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._expiry_task is None or self._expiry_task.done():
            self._expiry_task = self._loop.create_task(self.expire_leases())

    # -- lifecycle -----------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"metadata store {self._dir.path} is closed")

    def _shut_down(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for watch in list(self._watches):
            watch.end()
        self._watches.clear()
        self._dir.close()

    async def close(self) -> None:
        async with self._lock:
            if not self._closed:
                self._shut_down()
        task = self._expiry_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            await task


def _consume_exception(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
