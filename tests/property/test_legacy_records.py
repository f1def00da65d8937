"""Hypothesis: message formats v0/v1 (records.legacy) against RecordBatch v2, both ways, over the legacy codecs;
and the lazy down-conversion's promise (exactly `size` bytes, whole messages in offset order, at least the first
batch whole) over random logs and slice cuts."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odradek.broker.records import legacy
from odradek.broker.records.batch import NO_TIMESTAMP, iter_batches
from odradek.broker.records.builder import RecordInput, build_batch, build_control_batch
from odradek.broker.records.record import iter_records

blobs = st.one_of(st.none(), st.binary(max_size=200))
timestamps = st.integers(min_value=0, max_value=2**62)
records = st.lists(st.tuples(blobs, blobs, st.just(()), timestamps), min_size=1, max_size=20)
legacy_codecs = st.sampled_from([0, 1, 2, 3])
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(records, legacy_codecs, st.sampled_from([0, 1]), st.integers(min_value=0, max_value=2**40))
def test_down_convert_then_convert_back(data: list[RecordInput], codec: int, magic: int, base_offset: int) -> None:
    batch = build_batch(data, base_offset=base_offset, codec=codec)
    converted, count = legacy.down_convert_batch(batch, 0, magic)
    assert count == len(data)
    messages = [m for m, _ in legacy.deep_messages(converted)]
    assert [m.offset for m in messages] == [base_offset + i for i in range(len(data))]
    back = legacy.to_record_batch(converted)
    (header,) = iter_batches(back)
    got = [(r.key, r.value, r.timestamp) for r in iter_records(back, header)]
    assert got == [(k, v, t if magic == 1 else NO_TIMESTAMP) for k, v, _, t in data]


@SETTINGS
@given(
    st.lists(st.tuples(records, legacy_codecs, st.booleans()), min_size=1, max_size=6),
    st.sampled_from([0, 1]),
    st.data(),
)
def test_lazy_down_conversion_keeps_its_promise(
    batches: list[tuple[list[RecordInput], int, bool]], magic: int, draw: st.DataObject
) -> None:
    log = bytearray()
    offset = 0
    expected: list[int] = []
    for data, codec, marker in batches:
        if marker:
            log += build_control_batch(True, producer_id=1, producer_epoch=0, base_offset=offset)
            offset += 1
        log += build_batch(data, base_offset=offset, codec=codec)
        expected += range(offset, offset + len(data))
        offset += len(data)
    cut = draw.draw(st.integers(min_value=1, max_value=len(log)))
    view = bytes(log)
    lazy = legacy.LazyDownConversion(lambda p, n: view[p : p + n], 0, cut, magic)
    body = b"".join(lazy.pieces())
    assert len(body) == lazy.size >= cut
    got = [m.offset for m, _ in _whole(body)]
    assert got == expected[: len(got)]  # a prefix, in order, control batches dropped
    whole_batches = list(_whole_v2_batches(view[:cut]))
    if whole_batches:  # the first whole batch of the slice always goes out whole
        first_data = next((b for b in whole_batches if b), [])
        assert got[: len(first_data)] == first_data


def _whole(body: bytes) -> list[tuple[legacy.LegacyMessage, int]]:
    """Every whole top-level message of `body`, expanded (a cut message and the filler are dropped)."""
    out = []
    for message in legacy.iter_messages(body, allow_partial=True):
        if message.offset < 0:
            break
        out += list(legacy.deep_messages(_entry(message)))
    return out


def _entry(message: legacy.LegacyMessage) -> bytes:
    out = bytearray()
    legacy.append_message(
        out, message.offset, message.magic, message.attributes, message.timestamp, message.key, message.value
    )
    return bytes(out)


def _whole_v2_batches(data: bytes) -> list[list[int]]:
    """Offsets of the data records of each batch that is whole in `data` (control batches: [])."""
    from odradek.broker.records.batch import batch_size_at, read_header

    out: list[list[int]] = []
    position = 0
    while (size := batch_size_at(data, position)) is not None and position + size <= len(data):
        header = read_header(data, position)
        out.append([] if header.is_control else [r.offset for r in iter_records(data, header)])
        position += size
    return out
