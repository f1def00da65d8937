"""Fixtures for record tests: kafka-python as an independent RecordBatch v2 oracle.

kafka-python's DefaultRecordBatch/DefaultRecordBatchBuilder need python-snappy, lz4 and zstandard for those
codecs, which are not test dependencies. `kafka_records` plugs cramjam's raw codecs in underneath: the record
and batch layout, the CRC and the xerial snappy framing stay kafka-python's own code.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace

import cramjam
import pytest

with warnings.catch_warnings():
    # kafka-python 3.0 loads its JSON specs with the deprecated importlib.resources.read_text
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka.codec
    import kafka.record.default_records as default_records


def _zstd_stream_compress(data: bytes) -> bytes:
    """A zstd frame without a content size, as librdkafka and zstd-jni write them."""
    compressor = cramjam.zstd.Compressor()
    compressor.compress(data)
    return bytes(compressor.finish())


@pytest.fixture
def kafka_records(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """kafka.record.default_records with every codec available."""
    snappy = SimpleNamespace(
        compress=lambda data: bytes(cramjam.snappy.compress_raw(bytes(data))),
        decompress=lambda data: bytes(cramjam.snappy.decompress_raw(bytes(data))),
    )
    monkeypatch.setattr(kafka.codec, "snappy", snappy)
    monkeypatch.setattr(kafka.codec, "lz4", SimpleNamespace())
    monkeypatch.setattr(kafka.codec, "zstd", SimpleNamespace())
    monkeypatch.setattr(default_records, "lz4_encode", lambda data: bytes(cramjam.lz4.compress(bytes(data))))
    monkeypatch.setattr(default_records, "lz4_decode", lambda data: bytes(cramjam.lz4.decompress(bytes(data))))
    monkeypatch.setattr(default_records, "zstd_encode", _zstd_stream_compress)
    monkeypatch.setattr(default_records, "zstd_decode", lambda data: bytes(cramjam.zstd.decompress(bytes(data))))
    yield default_records
