"""Incremental fetch sessions, the leader's side (KIP-227; Kafka's FetchSession.scala: FetchSession,
FetchSessionCache, FetchContext, FetchManager).

A Fetch (v7+) carries `session_id` and `session_epoch` (`FetchMetadata`). The rules, as Kafka's
FetchManager.newContext applies them:

| request (session id, epoch)                | context                 | read                 | answer's id, error |
|---------------------------------------------|-------------------------|----------------------|--------------------|
| any, -1 (FINAL)                             | SessionlessFetchContext | the request's        | 0                  |
| any, 0 (INITIAL)                            | FullFetchContext        | the request's        | new session or 0   |
| unknown, > 0                                | SessionErrorContext     | none                 | 0, *_ID_NOT_FOUND  |
| known, not the session's epoch              | SessionErrorContext     | none                 | 0, INVALID_*_EPOCH |
| known, v13+ vs a session by name (or back)  | SessionErrorContext     | none                 | 0, *_TOPIC_ID_ERROR|
| known, the session's epoch                  | IncrementalFetchContext | the session's        | the session's      |

(errors: FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, FETCH_SESSION_TOPIC_ID_ERROR.)
A full request naming a session (id != 0) closes it first. Fetch v0-6 have no session fields: sessionless
(`LEGACY`). An incremental request's partitions are added to the session or update its cached fetch positions
(`FetchSession.update`); its forgotten topics leave it; a session left empty is closed and the request answered
sessionless. Each incremental request advances the session epoch (`next_epoch`: 1, 2, ... INT32_MAX, then 1).

An incremental response holds only the partitions that must be sent (`CachedPartition.maybe_update_response_data`):
records, a high watermark or log start offset different from the last one sent, or an error (after which the cached
HW is -1, so the partition is sent again once the error is gone). A partition that sent records moves to the end of
the session's order, so that under the response size limit every partition gets its turn. Kafka does not compare the
last stable offset: neither does this (it moves only with the high watermark or a marker, which are records).

The cache (`FetchSessionCache`) holds at most `max.incremental.fetch.session.cache.slots` sessions. A full request
creates one if there is room, or if it may evict one (`try_evict`): first the least recently used if it has been
unused for more than `min.incremental.fetch.session.eviction.ms`; otherwise the least valuable evictable session,
ordered (privileged, size, id), if the new one is not less valuable. Followers' sessions are privileged: they may
evict any consumer's session, while a follower's session is evictable only once older than the eviction time (and
then by any session at least as valuable). Everything runs on the event loop: no locks.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.api import FetchPartition, FetchResult
from odradek.broker.utils.time import Time

INVALID_SESSION_ID = 0
INITIAL_EPOCH = 0
FINAL_EPOCH = -1
INT32_MAX = 2**31 - 1
SESSIONS_FROM = 7  # Fetch v7+ carries the session fields
TOPIC_IDS_FROM = 13  # Fetch v13+ names topics by id

SessionKey = tuple[uuid.UUID | str, int]  # (topic id, partition) for sessions by id, else (topic name, partition)
FetchUpdate = tuple[FetchPartition, FetchResult]  # a partition read (or refused) and its answer


def next_epoch(epoch: int) -> int:
    """Kafka's FetchMetadata.nextEpoch: FINAL stays FINAL; after INT32_MAX comes 1 (0 means a new session)."""
    if epoch < 0:
        return FINAL_EPOCH
    if epoch == INT32_MAX:
        return 1
    return epoch + 1


@dataclass(frozen=True, slots=True)
class FetchMetadata:
    """A fetch's session id and epoch (Kafka's FetchMetadata)."""

    session_id: int
    epoch: int

    @property
    def is_full(self) -> bool:
        """Full requests name every partition: epoch INITIAL (open a session) or FINAL (no session)."""
        return self.epoch in (INITIAL_EPOCH, FINAL_EPOCH)

    def next_close_existing(self) -> FetchMetadata:
        """A full request that closes this session and opens a new one."""
        return FetchMetadata(self.session_id, INITIAL_EPOCH)

    def next_incremental(self) -> FetchMetadata:
        return FetchMetadata(self.session_id, next_epoch(self.epoch))

    @classmethod
    def new_incremental(cls, session_id: int) -> FetchMetadata:
        return cls(session_id, next_epoch(INITIAL_EPOCH))


INITIAL = FetchMetadata(INVALID_SESSION_ID, INITIAL_EPOCH)
LEGACY = FetchMetadata(INVALID_SESSION_ID, FINAL_EPOCH)  # Fetch v0-6: no session


def session_key(partition: FetchPartition, uses_topic_ids: bool) -> SessionKey:
    return (partition.topic_id, partition.partition) if uses_topic_ids else (partition.topic, partition.partition)


@dataclass(slots=True)
class CachedPartition:
    """One partition of a session: the request's fetch position (`request`: offset, max bytes, leader epoch), and
    the high watermark and log start offset last sent for it (-1: none yet, or an error was sent)."""

    request: FetchPartition
    high_watermark: int = -1
    local_log_start_offset: int = -1

    def maybe_update_response_data(self, result: FetchResult, update: bool) -> bool:
        """Whether the partition must be in an incremental response (records, a moved HW or log start, an error);
        with `update`, remember what is sent."""
        must_respond = result.size > 0
        if self.high_watermark != result.high_watermark:
            must_respond = True
            if update:
                self.high_watermark = result.high_watermark
        if self.local_log_start_offset != result.log_start_offset:
            must_respond = True
            if update:
                self.local_log_start_offset = result.log_start_offset
        if result.error is not ErrorCode.NONE:
            if update:
                self.high_watermark = -1  # sent again once the error is gone
            must_respond = True
        return must_respond


@dataclass(slots=True, eq=False)
class FetchSession:
    """A session: its partitions in fetch order (insertion order of `partitions`), the epoch the next request must
    carry, and when it was created and last used (ms of the injected clock). `cached_size` is the size the cache
    last accounted for it (-1: not in the cache)."""

    id: int
    privileged: bool
    partitions: dict[SessionKey, CachedPartition]
    uses_topic_ids: bool
    creation_ms: int
    last_used_ms: int
    epoch: int
    cached_size: int = -1

    @property
    def evictable_key(self) -> tuple[bool, int, int]:
        """Kafka's EvictableKey: a session is less valuable when unprivileged, smaller, then of a lower id."""
        return (self.privileged, self.cached_size, self.id)

    @property
    def metadata(self) -> FetchMetadata:
        return FetchMetadata(self.id, self.epoch)

    def update(
        self, fetch_data: Sequence[FetchPartition], to_forget: Sequence[SessionKey]
    ) -> tuple[list[SessionKey], list[SessionKey], list[SessionKey]]:
        """An incremental request's partitions join the session or replace their cached request; its forgotten
        partitions leave. Returns (added, updated, removed)."""
        added, updated, removed = [], [], []
        for request in fetch_data:
            key = session_key(request, self.uses_topic_ids)
            cached = self.partitions.get(key)
            if cached is None:
                self.partitions[key] = CachedPartition(request)
                added.append(key)
            else:
                cached.request = request
                updated.append(key)
        for key in to_forget:
            if self.partitions.pop(key, None) is not None:
                removed.append(key)
        return added, updated, removed


@dataclass(frozen=True, slots=True)
class FetchSessionResponse:
    """What a fetch answers: the top-level error, the session id, and the partitions to send (in order)."""

    error: ErrorCode
    session_id: int
    partitions: Sequence[FetchUpdate] = ()


class FetchContext(Protocol):
    def partitions(self) -> list[FetchPartition]:
        """The partitions to read (Kafka's foreachPartition)."""
        ...

    def update_and_generate_response_data(self, updates: Sequence[FetchUpdate]) -> FetchSessionResponse:
        """`updates`: every partition of `partitions()` with its answer, in that order."""
        ...

    def throttled_response(self) -> FetchSessionResponse:
        """The answer (without partitions) when the fetch is throttled (Kafka's getThrottledResponse)."""
        ...


class SessionErrorContext:
    def __init__(self, error: ErrorCode) -> None:
        self.error = error

    def partitions(self) -> list[FetchPartition]:
        return []

    def update_and_generate_response_data(self, updates: Sequence[FetchUpdate]) -> FetchSessionResponse:
        return FetchSessionResponse(self.error, INVALID_SESSION_ID)

    def throttled_response(self) -> FetchSessionResponse:
        return FetchSessionResponse(ErrorCode.NONE, INVALID_SESSION_ID)


class SessionlessFetchContext:
    def __init__(self, fetch_data: Sequence[FetchPartition]) -> None:
        self.fetch_data = fetch_data

    def partitions(self) -> list[FetchPartition]:
        return list(self.fetch_data)

    def update_and_generate_response_data(self, updates: Sequence[FetchUpdate]) -> FetchSessionResponse:
        return FetchSessionResponse(ErrorCode.NONE, INVALID_SESSION_ID, updates)

    def throttled_response(self) -> FetchSessionResponse:
        return FetchSessionResponse(ErrorCode.NONE, INVALID_SESSION_ID)


class FullFetchContext:
    """A full request: every partition answered; a new session holding them is created if the cache allows."""

    def __init__(
        self,
        time: Time,
        cache: FetchSessionCache,
        fetch_data: Sequence[FetchPartition],
        uses_topic_ids: bool,
        is_from_follower: bool,
    ) -> None:
        self.time, self.cache = time, cache
        self.fetch_data = fetch_data
        self.uses_topic_ids = uses_topic_ids
        self.is_from_follower = is_from_follower

    def partitions(self) -> list[FetchPartition]:
        return list(self.fetch_data)

    def update_and_generate_response_data(self, updates: Sequence[FetchUpdate]) -> FetchSessionResponse:
        def create() -> dict[SessionKey, CachedPartition]:
            return {
                session_key(request, self.uses_topic_ids): CachedPartition(
                    request, result.high_watermark, result.log_start_offset
                )
                for request, result in updates
            }

        session_id = self.cache.maybe_create_session(
            int(self.time.monotonic_ms()), self.is_from_follower, len(updates), self.uses_topic_ids, create
        )
        return FetchSessionResponse(ErrorCode.NONE, session_id, updates)

    def throttled_response(self) -> FetchSessionResponse:
        return FetchSessionResponse(ErrorCode.NONE, INVALID_SESSION_ID)


class IncrementalFetchContext:
    """An incremental request: the session's partitions are read; only those that must be are answered."""

    def __init__(
        self, metadata: FetchMetadata, session: FetchSession, topic_name: Callable[[uuid.UUID], str | None]
    ) -> None:
        self.metadata = metadata
        self.session = session
        self._topic_name = topic_name

    def partitions(self) -> list[FetchPartition]:
        requests = []
        for cached in self.session.partitions.values():
            request = cached.request
            if not request.topic and self.session.uses_topic_ids:  # an id unknown when it joined: known now?
                name = self._topic_name(request.topic_id)
                if name:
                    request = cached.request = replace(request, topic=name)
            requests.append(request)
        return requests

    def _epoch_moved(self) -> bool:
        """Another request of this session was handled meanwhile (Kafka: a possible duplicate request)."""
        return self.session.epoch != next_epoch(self.metadata.epoch)

    def update_and_generate_response_data(self, updates: Sequence[FetchUpdate]) -> FetchSessionResponse:
        session = self.session
        if self._epoch_moved():
            return FetchSessionResponse(ErrorCode.INVALID_FETCH_SESSION_EPOCH, session.id)
        selected = []
        for request, result in updates:
            key = session_key(request, session.uses_topic_ids)
            cached = session.partitions.get(key)
            if cached is None or not cached.maybe_update_response_data(result, True):
                continue
            selected.append((request, result))
            if result.size > 0:  # to the end of the order: the others come first next time
                del session.partitions[key]
                session.partitions[key] = cached
        return FetchSessionResponse(ErrorCode.NONE, session.id, selected)

    def throttled_response(self) -> FetchSessionResponse:
        if self._epoch_moved():
            return FetchSessionResponse(ErrorCode.INVALID_FETCH_SESSION_EPOCH, self.session.id)
        return FetchSessionResponse(ErrorCode.NONE, self.session.id)


class FetchSessionCache:
    """At most `max_entries` sessions by id (see the module docstring for eviction). `on_evicted` counts
    evictions (the IncrementalFetchSessionEvictionsPerSec meter)."""

    def __init__(
        self,
        max_entries: int,
        eviction_ms: int,
        on_evicted: Callable[[], None] = lambda: None,
        rng: random.Random | None = None,
    ) -> None:
        self.max_entries = max_entries
        self.eviction_ms = eviction_ms
        self._on_evicted = on_evicted
        self._random = rng or random.Random()
        self.sessions: dict[int, FetchSession] = {}
        self._evictable_by_all: set[int] = set()  # older than eviction_ms: any new session may evict them
        self._evictable_by_privileged: set[int] = set()  # those and every unprivileged session
        self.total_partitions = 0

    @property
    def size(self) -> int:
        return len(self.sessions)

    def get(self, session_id: int) -> FetchSession | None:
        return self.sessions.get(session_id)

    def new_session_id(self) -> int:
        """A random positive id not in use (never INVALID_SESSION_ID)."""
        while True:
            session_id = self._random.randint(1, INT32_MAX - 1)
            if session_id not in self.sessions:
                return session_id

    def maybe_create_session(
        self,
        now_ms: int,
        privileged: bool,
        size: int,
        uses_topic_ids: bool,
        create: Callable[[], dict[SessionKey, CachedPartition]],
    ) -> int:
        """A new session if there is room or one may be evicted for it; its id, else INVALID_SESSION_ID."""
        if len(self.sessions) >= self.max_entries and not self.try_evict(privileged, (privileged, size, 0), now_ms):
            return INVALID_SESSION_ID
        session = FetchSession(
            self.new_session_id(), privileged, create(), uses_topic_ids, now_ms, now_ms, next_epoch(INITIAL_EPOCH)
        )
        self.sessions[session.id] = session
        self.touch(session, now_ms)
        return session.id

    def try_evict(self, privileged: bool, key: tuple[bool, int, int], now_ms: int) -> bool:
        """Evict the least recently used session if stale, else the least valuable evictable one if `key` (the
        new session's) is not less valuable. True if one was evicted."""
        if not self.sessions:
            return False
        oldest = min(self.sessions.values(), key=lambda s: (s.last_used_ms, s.id))
        if now_ms - oldest.last_used_ms > self.eviction_ms:
            self._evict(oldest)
            return True
        candidates = self._evictable_by_privileged if privileged else self._evictable_by_all
        if not candidates:
            return False
        victim = min((self.sessions[i] for i in candidates), key=lambda s: s.evictable_key)
        if key < victim.evictable_key:
            return False
        self._evict(victim)
        return True

    def _evict(self, session: FetchSession) -> None:
        self.remove(session.id)
        self._on_evicted()

    def remove(self, session_id: int) -> FetchSession | None:
        session = self.sessions.pop(session_id, None)
        if session is not None:
            self._evictable_by_all.discard(session_id)
            self._evictable_by_privileged.discard(session_id)
            self.total_partitions -= session.cached_size
            session.cached_size = -1
        return session

    def touch(self, session: FetchSession, now_ms: int) -> None:
        """The session was used: its last use, its accounted size and its evictability are brought up to date."""
        session.last_used_ms = now_ms
        if session.cached_size != -1:
            self.total_partitions -= session.cached_size
        session.cached_size = len(session.partitions)
        self.total_partitions += session.cached_size
        old = now_ms - session.creation_ms > self.eviction_ms
        if not session.privileged or old:
            self._evictable_by_privileged.add(session.id)
        else:
            self._evictable_by_privileged.discard(session.id)
        if old:
            self._evictable_by_all.add(session.id)
        else:
            self._evictable_by_all.discard(session.id)


class FetchManager:
    """Makes each Fetch's context from its session fields (Kafka's FetchManager.newContext)."""

    def __init__(self, time: Time, cache: FetchSessionCache) -> None:
        self.time = time
        self.cache = cache

    def new_context(
        self,
        version: int,
        metadata: FetchMetadata,
        is_follower: bool,
        fetch_data: Sequence[FetchPartition],
        to_forget: Sequence[SessionKey],
        topic_name: Callable[[uuid.UUID], str | None] = lambda _: None,
    ) -> FetchContext:
        """`fetch_data`: the request's partitions (names resolved; "" for an unknown id); `to_forget`: its
        forgotten partitions as session keys; `topic_name`: resolves the ids of a session's unknown topics."""
        if version < SESSIONS_FROM:
            metadata = LEGACY
        if metadata.is_full:
            if metadata.session_id != INVALID_SESSION_ID:
                self.cache.remove(metadata.session_id)  # a full request closes the session it names
            if metadata.epoch == FINAL_EPOCH:
                return SessionlessFetchContext(fetch_data)
            return FullFetchContext(self.time, self.cache, fetch_data, version >= TOPIC_IDS_FROM, is_follower)
        session = self.cache.get(metadata.session_id)
        if session is None:
            return SessionErrorContext(ErrorCode.FETCH_SESSION_ID_NOT_FOUND)
        if session.epoch != metadata.epoch:
            return SessionErrorContext(ErrorCode.INVALID_FETCH_SESSION_EPOCH)
        if session.uses_topic_ids != (version >= TOPIC_IDS_FROM):
            return SessionErrorContext(ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR)
        session.update(fetch_data, to_forget)
        if not session.partitions:
            self.cache.remove(session.id)
            return SessionlessFetchContext(fetch_data)
        self.cache.touch(session, int(self.time.monotonic_ms()))
        session.epoch = next_epoch(session.epoch)
        return IncrementalFetchContext(metadata, session, topic_name)
