"""Offset syncs: when the source task emits them (OffsetSyncWriter.PartitionState) and how the checkpoint task
translates through them (OffsetSyncStore after KAFKA-12468: never ahead of what was copied, monotonic)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from odradek.mirror.formats import OffsetSync
from odradek.mirror.offsets import SYNCS_PER_PARTITION, OffsetSyncStore, PartitionState


def emitted(state: PartitionState, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for upstream, downstream in pairs:
        if state.update(upstream, downstream):
            out.append((upstream, downstream))
            state.reset()
    return out


def test_partition_state_first_record_and_lag() -> None:
    pairs = [(u, u + 10) for u in range(0, 10)]
    # offset.lag.max=3: first record, then every time the downstream is 3 past last sync + 1.
    assert emitted(PartitionState(3), pairs) == [(0, 10), (4, 14), (8, 18)]


def test_partition_state_skipped_upstream_and_truncated_downstream() -> None:
    state = PartitionState(100)
    assert emitted(state, [(0, 0), (1, 1), (5, 2), (6, 3)]) == [(0, 0), (5, 2)]
    assert emitted(state, [(7, 0)]) == [(7, 0)]  # downstream went backwards: a truncated or rebuilt target


def store_with(*syncs: tuple[int, int], read_to_end: bool = True) -> OffsetSyncStore:
    store = OffsetSyncStore()
    if read_to_end:
        store.read_to_end_done()
    for upstream, downstream in syncs:
        store.handle(OffsetSync("t", 0, upstream, downstream))
    return store


# (syncs applied after read-to-end, upstream group offset, translated downstream offset)
TRANSLATIONS = [
    ([(100, 200)], 100, 200),  # exactly on a sync
    ([(100, 200)], 101, 201),  # one past: at most one record past the sync
    ([(100, 200)], 1000, 201),  # KAFKA-12468: far ahead still only sync + 1, never 1100
    ([(100, 200)], 99, -1),  # behind the oldest sync: cannot translate
    ([(100, 200), (150, 251)], 150, 251),
    ([(100, 200), (150, 251)], 120, 201),  # the older sync is kept and used
    ([(100, 200), (150, 251)], 100, 200),
    ([(100, 200), (150, 251), (50, 400)], 120, 401),  # upstream rewound (topic re-created): old syncs dropped
    ([(100, 200), (150, 251), (50, 400)], 40, -1),
    # The syncs of 30 records copied with offset.lag.max=5 (docs/mirror.md): a group at 20 translates through 18
    # until the last sync (29) arrives, then through 12: the kept syncs are spaced exponentially back from the latest.
    ([(0, 0), (6, 6), (12, 12), (18, 18), (24, 24)], 20, 19),
    ([(0, 0), (6, 6), (12, 12), (18, 18), (24, 24), (29, 29)], 20, 13),
]


@pytest.mark.parametrize(("syncs", "group", "expected"), TRANSLATIONS)
def test_translation_table(syncs: list[tuple[int, int]], group: int, expected: int) -> None:
    assert store_with(*syncs).translate_downstream("t", 0, group) == expected


def test_no_translation_before_read_to_end_or_without_syncs() -> None:
    assert store_with((100, 200), read_to_end=False).translate_downstream("t", 0, 100) is None
    assert store_with((100, 200)).translate_downstream("t", 1, 100) is None
    assert store_with((100, 200)).translate_downstream("other", 0, 100) is None


def test_syncs_read_before_the_end_collapse_to_the_latest() -> None:
    # While catching up, syncs that might have served an earlier generation's translation are not kept: a group at
    # 120 gets no (possibly lower) translation than the latest sync allows.
    store = store_with((100, 200), (150, 251), read_to_end=False)
    store.read_to_end_done()
    assert store.translate_downstream("t", 0, 120) == -1
    assert store.translate_downstream("t", 0, 150) == 251


def check_invariants(syncs: list[OffsetSync]) -> None:
    for i in range(SYNCS_PER_PARTITION - 1):
        a, b = syncs[i], syncs[i + 1]
        if a is b:
            continue
        assert a.upstream_offset <= b.upstream_offset + (1 << (i + 1)) - (1 << i)
        assert a.upstream_offset >= b.upstream_offset + (1 << max(i - 2, 0))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=120), st.integers(0, 5000))
def test_translation_never_ahead_and_monotonic(gaps: list[int], probe_seed: int) -> None:
    """Upstream offsets with gaps (compaction) copied densely: a translated offset never passes the first target
    record at or after the group's position (no record skipped), and is monotonic in the group offset."""
    store = OffsetSyncStore()
    store.read_to_end_done()
    upstream, downstream_of = 0, {}
    for downstream, gap in enumerate(gaps):
        upstream += gap
        downstream_of[upstream] = downstream
        store.handle(OffsetSync("t", 0, upstream, downstream))
        check_invariants(store.syncs[("t", 0)])
    previous = -1
    for group in range(0, upstream + 3):
        translated = store.translate_downstream("t", 0, group)
        assert translated is not None
        first_at_or_after = min((d for u, d in downstream_of.items() if u >= group), default=len(gaps))
        assert translated <= first_at_or_after, (group, translated)
        assert translated >= previous
        previous = translated
    del probe_seed


def test_store_keeps_exponentially_spaced_history() -> None:
    store = store_with(*[(u, u) for u in range(0, 10_000)])
    distinct = {id(s) for s in store.syncs[("t", 0)]}
    assert 10 <= len(distinct) <= SYNCS_PER_PARTITION
    # A group 5000 records behind still translates, within a few thousand re-reads rather than failing.
    translated = store.translate_downstream("t", 0, 4999)
    assert translated is not None and 0 < translated <= 4999
