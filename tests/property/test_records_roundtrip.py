"""Hypothesis: build_batch / iter_records / rebuild_batch / validate_records round trips over every codec."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odradek.broker.log.validator import ValidationConfig, validate_records
from odradek.broker.records.batch import iter_batches, read_header
from odradek.broker.records.builder import RecordInput, build_batch, rebuild_batch
from odradek.broker.records.record import iter_records

CAP = 16 * 1024 * 1024
NOW = 1_700_000_000_000

blobs = st.one_of(st.none(), st.binary(max_size=300))
headers = st.lists(st.tuples(st.text(max_size=20), blobs), max_size=4)
timestamps = st.integers(min_value=-1, max_value=2**62)
records = st.lists(st.tuples(blobs, blobs, headers, timestamps), min_size=1, max_size=30)
codecs = st.integers(min_value=0, max_value=4)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _as_tuples(data: list[RecordInput]) -> list[tuple[object, ...]]:
    return [(k, v, tuple(h), t) for k, v, h, t in data]


@SETTINGS
@given(records, codecs, st.integers(min_value=0, max_value=2**40), st.booleans())
def test_build_then_decode(data: list[RecordInput], codec: int, base_offset: int, transactional: bool) -> None:
    batch = build_batch(
        data,
        base_offset=base_offset,
        codec=codec,
        producer_id=1,
        producer_epoch=0,
        base_sequence=0,
        transactional=transactional,
    )
    (header,) = list(iter_batches(batch))
    assert header.compression == codec and header.record_count == len(data)
    assert header.is_transactional == transactional
    decoded = list(iter_records(batch, header, CAP))
    assert [(r.key, r.value, r.headers, r.timestamp) for r in decoded] == _as_tuples(data)
    assert [r.offset for r in decoded] == list(range(base_offset, base_offset + len(data)))


@SETTINGS
@given(records, codecs, codecs, st.data())
def test_rebuild_subset(data: list[RecordInput], codec: int, target: int, draw: st.DataObject) -> None:
    batch = build_batch(data, base_offset=1000, codec=codec)
    header = read_header(batch)
    decoded = list(iter_records(batch, header, CAP))
    keep = draw.draw(st.lists(st.booleans(), min_size=len(decoded), max_size=len(decoded)))
    kept = [r for r, k in zip(decoded, keep, strict=True) if k]
    rebuilt = rebuild_batch(header, kept, target)
    (new,) = list(iter_batches(rebuilt))
    assert new.last_offset == header.last_offset
    assert new.compression == (target if kept else 0)  # empty batches are written uncompressed
    assert list(iter_records(rebuilt, new, CAP)) == kept


@SETTINGS
@given(records, codecs, st.one_of(st.none(), codecs), st.booleans())
def test_validate_accepts_what_we_build(
    data: list[RecordInput], codec: int, target: int | None, log_append: bool
) -> None:
    data = [(k if k is not None else b"", v, h, NOW) for k, v, h, _ in data]
    buf = bytearray(build_batch(data, codec=codec))
    config = ValidationConfig(target_codec=target, log_append_time=log_append, compacted=True)
    result = validate_records(buf, config, NOW + 1)
    (header,) = list(iter_batches(result.records))
    decoded = list(iter_records(result.records, header, CAP))
    assert [(r.key, r.value, r.headers) for r in decoded] == [(k, v, tuple(h)) for k, v, h, _ in data]
    assert result.max_timestamp == (NOW + 1 if log_append else NOW)
