"""KIP-227 fetch sessions, both sides, as tables: the leader's contexts (FetchManager.new_context), which partitions
an incremental response holds, the cache's eviction (FetchSessionCache), and the client's session handler
(FetchSessionHandler), with Kafka's rules (FetchSession.scala, FetchSessionHandler.java)."""

from __future__ import annotations

import uuid

import pytest
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.api import FetchPartition, FetchResult, FileRecords
from odradek.broker.replication.fetch_session import (
    FINAL_EPOCH,
    INITIAL,
    INT32_MAX,
    CachedPartition,
    FetchManager,
    FetchMetadata,
    FetchSessionCache,
    FullFetchContext,
    IncrementalFetchContext,
    SessionErrorContext,
    SessionlessFetchContext,
    next_epoch,
)
from odradek.broker.replication.fetch_session_handler import FetchSessionHandler
from odradek.broker.utils.time import MockTime

A0 = FetchPartition("a", 0, 10, 1000)
A1 = FetchPartition("a", 1, 20, 1000)
B0 = FetchPartition("b", 0, 30, 1000)
QUIET = FetchResult(ErrorCode.NONE, 10, 10, 0)


def manager(slots: int = 10, eviction_ms: int = 1000) -> tuple[FetchManager, FetchSessionCache, MockTime]:
    time = MockTime()
    cache = FetchSessionCache(slots, eviction_ms)
    return FetchManager(time, cache), cache, time


def open_session(fetches: FetchManager, parts: list[FetchPartition], follower: bool = False, version: int = 12) -> int:
    context = fetches.new_context(version, INITIAL, follower, parts, [])
    answer = context.update_and_generate_response_data([(p, QUIET) for p in parts])
    assert answer.error is ErrorCode.NONE and [p for p, _ in answer.partitions] == parts
    return answer.session_id


def test_next_epoch_wraps_to_1_and_final_stays_final() -> None:
    assert [next_epoch(e) for e in (0, 1, INT32_MAX, FINAL_EPOCH)] == [1, 2, 1, FINAL_EPOCH]


# (version, session id: None = the open session's / 12345 = unknown, epoch, version the session was opened at)
#   -> context type, error of a session error context
CONTEXTS = [
    (12, 0, -1, 12, SessionlessFetchContext, None),
    (12, None, -1, 12, SessionlessFetchContext, None),  # FINAL closes the named session, opens none
    (12, 0, 0, 12, FullFetchContext, None),
    (12, None, 0, 12, FullFetchContext, None),  # closes the named session and opens a new one
    (6, None, 1, 12, SessionlessFetchContext, None),  # v0-6 have no sessions
    (12, 12345, 1, 12, SessionErrorContext, ErrorCode.FETCH_SESSION_ID_NOT_FOUND),
    (12, None, 2, 12, SessionErrorContext, ErrorCode.INVALID_FETCH_SESSION_EPOCH),
    (13, None, 1, 12, SessionErrorContext, ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR),
    (12, None, 1, 13, SessionErrorContext, ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR),
    (12, None, 1, 12, IncrementalFetchContext, None),
    (13, None, 1, 13, IncrementalFetchContext, None),
]


@pytest.mark.parametrize(("version", "session", "epoch", "opened_at", "kind", "error"), CONTEXTS)
def test_the_context_of_a_request(
    version: int, session: int | None, epoch: int, opened_at: int, kind: type, error: ErrorCode | None
) -> None:
    fetches, cache, _ = manager()
    tid = uuid.uuid4()
    part = FetchPartition("a", 0, 10, 1000, topic_id=tid)
    opened = open_session(fetches, [part], version=opened_at)
    session_id = opened if session is None else session
    context = fetches.new_context(version, FetchMetadata(session_id, epoch), False, [], [])
    assert type(context) is kind
    if isinstance(context, SessionErrorContext):
        assert context.error is error
        answer = context.update_and_generate_response_data([])
        assert (answer.error, answer.session_id, answer.partitions) == (error, 0, ())
        assert context.partitions() == []
    full_naming_it = session is None and epoch in (0, -1)
    assert (opened in cache.sessions) is not full_naming_it  # a full request closes the session it names


def test_an_incremental_request_reads_the_session_updated_and_answers_only_what_changed() -> None:
    fetches, cache, _ = manager()
    session_id = open_session(fetches, [A0, A1, B0])
    moved_a1 = FetchPartition("a", 1, 25, 1000)
    context = fetches.new_context(12, FetchMetadata(session_id, 1), False, [moved_a1], [("b", 0)])
    assert context.partitions() == [A0, moved_a1]  # B0 forgotten, A1's position replaced
    assert cache.total_partitions == 2
    answer = context.update_and_generate_response_data([(A0, QUIET), (moved_a1, QUIET)])
    assert (answer.error, answer.session_id, answer.partitions) == (ErrorCode.NONE, session_id, [])
    assert cache.sessions[session_id].epoch == 2


# the cached (HW, log start) is (10, 0); the answer -> must it be sent?
RESPONDS = [
    (FetchResult(ErrorCode.NONE, 10, 10, 0), False),
    (FetchResult(ErrorCode.NONE, 11, 10, 0), True),  # a new HW
    (FetchResult(ErrorCode.NONE, 10, 10, 5), True),  # a new log start
    (FetchResult(ErrorCode.NONE, 10, 12, 0), False),  # Kafka does not compare the last stable offset
    (FetchResult(ErrorCode.NOT_LEADER_OR_FOLLOWER), True),
]


@pytest.mark.parametrize(("result", "sent"), RESPONDS)
def test_which_partitions_an_incremental_response_holds(result: FetchResult, sent: bool) -> None:
    cached = CachedPartition(A0, 10, 0)
    assert cached.maybe_update_response_data(result, update=False) is sent
    assert (cached.high_watermark, cached.local_log_start_offset) == (10, 0)  # not updated
    assert cached.maybe_update_response_data(result, update=True) is sent
    again = cached.maybe_update_response_data(result, update=True)
    assert again is (result.error is not ErrorCode.NONE)  # once sent, only an error is sent again


def test_records_are_always_sent_and_move_the_partition_to_the_end() -> None:
    fetches, _, _ = manager()
    session_id = open_session(fetches, [A0, A1, B0])
    context = fetches.new_context(12, FetchMetadata(session_id, 1), False, [], [])
    with_records = FetchResult(ErrorCode.NONE, 10, 10, 0, records=FileRecords(-1, 0, 100))
    answer = context.update_and_generate_response_data([(A0, with_records), (A1, QUIET), (B0, QUIET)])
    assert [p for p, _ in answer.partitions] == [A0]
    assert context.partitions() == [A1, B0, A0]


def test_an_error_is_sent_again_after_it_is_gone() -> None:
    fetches, _, _ = manager()
    session_id = open_session(fetches, [A0])
    failed = FetchResult(ErrorCode.OFFSET_OUT_OF_RANGE, 10, 10, 0)  # the same HW and log start as before
    for epoch, result, sent in ((1, failed, True), (2, QUIET, True), (3, QUIET, False)):
        context = fetches.new_context(12, FetchMetadata(session_id, epoch), False, [], [])
        answer = context.update_and_generate_response_data([(A0, result)])
        assert bool(answer.partitions) is sent, epoch


def test_a_session_left_empty_is_closed_and_the_request_answered_sessionless() -> None:
    fetches, cache, _ = manager()
    session_id = open_session(fetches, [A0])
    context = fetches.new_context(12, FetchMetadata(session_id, 1), False, [], [("a", 0)])
    assert type(context) is SessionlessFetchContext and session_id not in cache.sessions
    assert cache.total_partitions == 0


def test_a_request_handled_meanwhile_makes_the_answer_an_epoch_error() -> None:
    fetches, _, _ = manager()
    session_id = open_session(fetches, [A0])
    first = fetches.new_context(12, FetchMetadata(session_id, 1), False, [], [])
    second = fetches.new_context(12, FetchMetadata(session_id, 2), False, [], [])
    assert second.update_and_generate_response_data([(A0, QUIET)]).error is ErrorCode.NONE
    stale = first.update_and_generate_response_data([(A0, QUIET)])
    assert (stale.error, stale.session_id) == (ErrorCode.INVALID_FETCH_SESSION_EPOCH, session_id)
    assert first.throttled_response().error is ErrorCode.INVALID_FETCH_SESSION_EPOCH


def test_a_session_of_unknown_topic_ids_resolves_them_once_known() -> None:
    fetches, _, _ = manager()
    tid = uuid.uuid4()
    unknown = FetchPartition("", 0, 0, 1000, topic_id=tid)
    session_id = open_session(fetches, [unknown], version=13)
    names: dict[uuid.UUID, str] = {}
    context = fetches.new_context(13, FetchMetadata(session_id, 1), False, [], [], names.get)
    assert [p.topic for p in context.partitions()] == [""]
    names[tid] = "late"
    assert [p.topic for p in context.partitions()] == ["late"]


# Eviction: a full cache of 2 (eviction time 1000 ms). Each row: the sessions present (privileged, size, created at
# ms, last used at ms), the new session (privileged, size) at `now`, and which present session is evicted (index;
# None: no session for the new one). As in Kafka, a session's evictability is decided when it is last used.
EVICTIONS = [
    ([(False, 5, 0, 0), (False, 5, 0, 500)], (False, 1), 1200, 0),  # the first is stale (unused > 1000 ms)
    ([(False, 5, 0, 1100), (False, 5, 0, 1150)], (False, 1), 1200, None),  # none stale, a smaller one
    ([(False, 5, 0, 900), (False, 3, 0, 950)], (False, 4), 1200, None),  # last touched before it was old enough
    ([(False, 5, 0, 1100), (False, 3, 0, 1150)], (False, 4), 1200, 1),  # old enough, smaller than the new one
    ([(False, 5, 500, 900), (False, 3, 500, 950)], (False, 4), 1200, None),  # too young to be evicted by size
    ([(False, 5, 500, 900), (False, 3, 500, 950)], (True, 1), 1200, 1),  # a follower evicts a consumer's
    ([(True, 5, 500, 900), (True, 3, 500, 950)], (True, 9), 1200, None),  # young followers' are protected
    ([(True, 5, 0, 1100), (True, 3, 0, 1150)], (True, 4), 1200, 1),  # old followers' go by size
    ([(True, 5, 0, 1100), (False, 3, 0, 1150)], (False, 9), 1200, 1),  # privileged is worth more than size
    ([(True, 5, 0, 1100), (True, 3, 0, 1150)], (False, 9), 1200, None),  # no consumer evicts a follower's
]


@pytest.mark.parametrize(("present", "new", "now", "evicted"), EVICTIONS)
def test_eviction(
    present: list[tuple[bool, int, int, int]], new: tuple[bool, int], now: int, evicted: int | None
) -> None:
    evictions: list[int] = []
    cache = FetchSessionCache(2, 1000, lambda: evictions.append(1))
    ids = []
    for privileged, size, created, used in present:
        parts = {(f"t{i}", 0): CachedPartition(FetchPartition(f"t{i}", 0, 0, 1)) for i in range(size)}
        session_id = cache.maybe_create_session(created, privileged, size, False, lambda parts=parts: parts)
        assert session_id != 0
        cache.touch(cache.sessions[session_id], used)
        ids.append(session_id)
    privileged, size = new
    parts = {(f"n{i}", 0): CachedPartition(FetchPartition(f"n{i}", 0, 0, 1)) for i in range(size)}
    created = cache.maybe_create_session(now, privileged, size, False, lambda: parts)
    if evicted is None:
        assert created == 0 and set(cache.sessions) == set(ids) and not evictions
    else:
        assert created != 0 and ids[evicted] not in cache.sessions and len(evictions) == 1
        assert cache.size == 2 and cache.total_partitions == sum(len(s.partitions) for s in cache.sessions.values())


def test_no_slots_no_sessions() -> None:
    fetches, cache, _ = manager(slots=0)
    assert open_session(fetches, [A0]) == 0 and cache.size == 0


# The client's handler: (answer error, session id, partitions answered) -> (next metadata, use the answer)
SESSION = 77
HANDLER_RULES = [
    # to the full request of A0, A1
    ("full", ErrorCode.NONE, SESSION, {("a", 0), ("a", 1)}, FetchMetadata(SESSION, 1), True),
    ("full", ErrorCode.NONE, 0, {("a", 0), ("a", 1)}, INITIAL, True),
    ("full", ErrorCode.NONE, SESSION, {("a", 0)}, INITIAL, False),  # a full answer lacking a partition
    ("full", ErrorCode.NONE, SESSION, {("a", 0), ("a", 1), ("b", 0)}, INITIAL, False),
    ("full", ErrorCode.FETCH_SESSION_ID_NOT_FOUND, 0, set(), INITIAL, False),
    # to an incremental request at epoch 1 of session 77
    ("incremental", ErrorCode.NONE, SESSION, set(), FetchMetadata(SESSION, 2), True),
    ("incremental", ErrorCode.NONE, SESSION, {("a", 1)}, FetchMetadata(SESSION, 2), True),
    ("incremental", ErrorCode.NONE, 0, set(), INITIAL, True),  # the leader closed it
    ("incremental", ErrorCode.NONE, SESSION, {("b", 0)}, FetchMetadata(SESSION, 0), False),  # not in the session
    ("incremental", ErrorCode.FETCH_SESSION_ID_NOT_FOUND, 0, set(), INITIAL, False),
    ("incremental", ErrorCode.INVALID_FETCH_SESSION_EPOCH, 0, set(), FetchMetadata(SESSION, 0), False),
]


@pytest.mark.parametrize(("request_kind", "error", "session_id", "answered", "following", "used"), HANDLER_RULES)
def test_the_session_handler(
    request_kind: str,
    error: ErrorCode,
    session_id: int,
    answered: set[tuple[str, int]],
    following: FetchMetadata,
    used: bool,
) -> None:
    handler = FetchSessionHandler(1)
    wanted = {("a", 0): A0, ("a", 1): A1}
    if request_kind == "incremental":
        handler.build(wanted)
        assert handler.handle_response(ErrorCode.NONE, SESSION, set(wanted))
    request = handler.build(wanted)
    assert request.metadata.is_full is (request_kind == "full")
    assert handler.handle_response(error, session_id, answered) is used
    assert handler.next_metadata == following


def test_the_handler_sends_only_what_changed_and_forgets_what_is_gone() -> None:
    handler = FetchSessionHandler(1)
    first = handler.build({("a", 0): A0, ("a", 1): A1})
    assert first.to_send == (A0, A1) and first.metadata == INITIAL
    handler.handle_response(ErrorCode.NONE, SESSION, {("a", 0), ("a", 1)})
    idle = handler.build({("a", 0): A0, ("a", 1): A1})
    assert (idle.metadata, idle.to_send, idle.to_forget) == (FetchMetadata(SESSION, 1), (), ())
    handler.handle_response(ErrorCode.NONE, SESSION, set())
    moved = FetchPartition("a", 0, 11, 1000)
    changed = handler.build({("a", 0): moved, ("b", 0): B0})
    assert (changed.metadata.epoch, changed.to_send, changed.to_forget) == (2, (B0, moved), (A1,))
    assert dict(changed.session) == {("a", 0): moved, ("b", 0): B0}
    handler.handle_error()
    assert handler.next_metadata == FetchMetadata(SESSION, 0)  # full, closing the session
    assert handler.build({("a", 0): moved}).to_send == (moved,)
