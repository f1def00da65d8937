"""A fetch session's client side (Kafka's clients FetchSessionHandler), used by the replica fetcher.

One handler per source broker. `build(next)` turns the partitions to fetch now into a request: while no session
is open (`next_metadata` full), every partition is sent (epoch INITIAL: the leader opens a session, or answers
session id 0 and the next request is full again); in a session, only the partitions added or whose fetch position
changed (`FetchPartition` differs) are sent, and those no longer fetched are forgotten. `handle_response` moves the
metadata on, as Kafka's does:

| response                                   | next request                                    | use the partitions |
|--------------------------------------------|-------------------------------------------------|--------------------|
| top-level FETCH_SESSION_ID_NOT_FOUND       | full, no session (INITIAL)                      | no                 |
| another top-level error                    | full, closing the session (`next_close_existing`) | no               |
| to a full request, not every partition asked, or others | full (INITIAL)                     | no                 |
| to a full request, session id 0            | full (INITIAL)                                  | yes                |
| to a full request, session id S            | incremental in S, epoch 1                       | yes                |
| to an incremental one, partitions not in the session | full, closing the session           | no                 |
| to an incremental one, session id 0        | full (INITIAL): the leader closed it            | yes                |
| to an incremental one                      | incremental, the next epoch                     | yes                |

An I/O error (`handle_error`): the next request is full and closes the session (the leader may have it still).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.replication.api import FetchPartition, TopicPartition
from odradek.broker.replication.fetch_session import INITIAL, INVALID_SESSION_ID, LEGACY, FetchMetadata


@dataclass(frozen=True, slots=True)
class FetchRequestData:
    """One request's session part: its metadata, the partitions it names and those it forgets; `session` is
    every partition the request fetches (named or cached at the leader), in order."""

    metadata: FetchMetadata
    to_send: tuple[FetchPartition, ...]
    to_forget: tuple[FetchPartition, ...]
    session: Mapping[TopicPartition, FetchPartition]

    @classmethod
    def sessionless(cls, partitions: Iterable[FetchPartition]) -> FetchRequestData:
        """A request outside any session (epoch FINAL): every partition named, every one answered."""
        named = {(p.topic, p.partition): p for p in partitions}
        return cls(LEGACY, tuple(named.values()), (), named)


class FetchSessionHandler:
    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self.next_metadata = INITIAL
        self.session_partitions: dict[TopicPartition, FetchPartition] = {}

    def build(self, next_partitions: Mapping[TopicPartition, FetchPartition]) -> FetchRequestData:
        """The request for fetching `next_partitions` now (and the session it leaves)."""
        if self.next_metadata.is_full:
            self.session_partitions = dict(next_partitions)
            return FetchRequestData(
                self.next_metadata, tuple(next_partitions.values()), (), dict(self.session_partitions)
            )
        remaining = dict(next_partitions)
        altered: list[FetchPartition] = []
        removed: list[FetchPartition] = []
        for key, previous in list(self.session_partitions.items()):
            wanted = remaining.pop(key, None)
            if wanted is None:
                removed.append(previous)
                del self.session_partitions[key]
            elif wanted != previous:
                self.session_partitions[key] = wanted
                altered.append(wanted)
        added = list(remaining.values())
        self.session_partitions.update(remaining)
        return FetchRequestData(self.next_metadata, (*added, *altered), tuple(removed), dict(self.session_partitions))

    def would_forget(self, next_partitions: Collection[TopicPartition]) -> bool:
        """Whether fetching `next_partitions` would forget partitions the open session holds (such a request is sent
        even with nothing else in it, as Kafka's fetcher does, so that the leader stops answering for them)."""
        if self.next_metadata.is_full:
            return False
        return any(key not in next_partitions for key in self.session_partitions)

    def handle_response(self, error: ErrorCode, session_id: int, answered: Collection[TopicPartition]) -> bool:
        """The response's top-level error, session id and the partitions it holds; False if its partitions must
        not be used."""
        if error is not ErrorCode.NONE:
            if error is ErrorCode.FETCH_SESSION_ID_NOT_FOUND:
                self.next_metadata = INITIAL
            else:
                self.next_metadata = self.next_metadata.next_close_existing()
            return False
        keys = set(answered)
        extra = not keys.issubset(self.session_partitions)
        if self.next_metadata.is_full:
            if extra or len(keys) != len(self.session_partitions):  # a full answer holds every partition
                self.next_metadata = INITIAL
                return False
            if session_id == INVALID_SESSION_ID:
                self.next_metadata = INITIAL
            else:
                self.next_metadata = FetchMetadata.new_incremental(session_id)
            return True
        if extra:
            self.next_metadata = self.next_metadata.next_close_existing()
            return False
        if session_id == INVALID_SESSION_ID:
            self.next_metadata = INITIAL
        else:
            self.next_metadata = self.next_metadata.next_incremental()
        return True

    def handle_error(self) -> None:
        """The request failed (I/O): the next one is full and closes the session."""
        self.next_metadata = self.next_metadata.next_close_existing()
