"""The S3 sink task against moto's S3 server run as its own process (tests/s3_support.py), driven record by record.

Object keys and bytes as Confluent writes them, rotation by flush.size, rotate.interval.ms (record time) and
rotate.schedule.interval.ms (an injected wall clock), the three partitioners, both formats and gzip, pre_commit
never passing what is not uploaded, identical objects when records are read again after a crash, a failed upload
rewinding the consumer, and validation naming the offending key.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from odradek.connect.api.data import INT32_SCHEMA, STRING_SCHEMA, Struct, struct_of
from odradek.connect.api.errors import ConnectException
from odradek.connect.api.records import SinkRecord
from odradek.connect.connectors.s3 import S3SinkConnector, S3SinkTask
from s3_support import MotoServer, moto_missing

if (why := moto_missing()) is not None:
    pytest.fail(why, pytrace=False)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    name = f"b-{uuid.uuid4().hex[:10]}"
    moto.client().create_bucket(Bucket=name)
    return name


class Reporter:
    def __init__(self) -> None:
        self.reported: list[tuple[int, str]] = []

    def report(self, record: SinkRecord, error: BaseException) -> None:
        self.reported.append((record.kafka_offset, str(error)))


class Context:
    def __init__(self) -> None:
        self.rewinds: dict[tuple[str, int], int] = {}
        self.reporter: Reporter | None = None

    def offset(self, offsets: dict[tuple[str, int], int]) -> None:
        self.rewinds.update(offsets)

    def errant_record_reporter(self) -> Reporter | None:
        return self.reporter


def task_for(moto: MotoServer, bucket: str, clock: list[int] | None = None, **props: str) -> S3SinkTask:
    task = S3SinkTask(wallclock_ms=(lambda: clock[0]) if clock is not None else lambda: 0)
    task.initialize(Context())  # type: ignore[arg-type]
    settings = {
        **moto.connector_settings(bucket),
        "format.class": "io.confluent.connect.s3.format.json.JsonFormat",
        "flush.size": "3",
        "s3.retry.backoff.ms": "0",
        **{k.replace("_", "."): v for k, v in props.items()},
    }
    task.start(settings)
    return task


def rec(offset: int, value: Any, partition: int = 0, topic: str = "orders", ts: int | None = None) -> SinkRecord:
    return SinkRecord(topic, partition, None, None, None, value, ts, kafka_offset=offset)


def test_default_partitioner_json_keys_contents_and_pre_commit(moto: MotoServer, bucket: str) -> None:
    task = task_for(moto, bucket)
    task.open([("orders", 0), ("orders", 1)])
    task.put([rec(i, {"n": i}) for i in range(7)] + [rec(i, f"v{i}", partition=1) for i in range(2)])
    assert moto.objects(bucket) == {
        "topics/orders/partition=0/orders+0+0000000000.json": b'{"n":0}\n{"n":1}\n{"n":2}\n',
        "topics/orders/partition=0/orders+0+0000000003.json": b'{"n":3}\n{"n":4}\n{"n":5}\n',
    }
    # Offset 6 is buffered and partition 1 has nothing uploaded: neither passes what S3 holds.
    assert task.pre_commit({("orders", 0): 7, ("orders", 1): 2}) == {("orders", 0): 6}
    task.put([rec(2, "v2", partition=1)])
    assert moto.objects(bucket)["topics/orders/partition=1/orders+1+0000000000.json"] == b'"v0"\n"v1"\n"v2"\n'
    assert task.pre_commit({("orders", 0): 7, ("orders", 1): 3}) == {("orders", 0): 6, ("orders", 1): 3}


def test_records_read_again_after_a_crash_rewrite_identical_objects(moto: MotoServer, bucket: str) -> None:
    first = task_for(moto, bucket, topics_dir="out/data", filename_offset_zero_pad_width="5")
    first.open([("orders", 0)])
    first.put([rec(i, {"n": i}) for i in range(8)])
    before = moto.objects(bucket)
    assert sorted(before) == [
        "out/data/orders/partition=0/orders+0+00000.json",
        "out/data/orders/partition=0/orders+0+00003.json",
    ]
    # The worker died after uploading offsets 3-5 but before committing 6: a new task reads from 3 again.
    second = task_for(moto, bucket, topics_dir="out/data", filename_offset_zero_pad_width="5")
    second.open([("orders", 0)])
    second.put([rec(i, {"n": i}) for i in range(3, 9)])
    after = moto.objects(bucket)
    assert {k: after[k] for k in before} == before
    lines = [line for key in sorted(after) for line in after[key].splitlines()]
    assert lines == [json.dumps({"n": i}, separators=(",", ":")).encode() for i in range(9)]


def test_bytearray_format_gzip_and_custom_separator(moto: MotoServer, bucket: str) -> None:
    task = task_for(
        moto,
        bucket,
        format_class="ByteArrayFormat",
        s3_compression_type="gzip",
        format_bytearray_separator="|",
        flush_size="2",
    )
    task.open([("raw", 0)])
    task.put([rec(10, b"\x00ab", topic="raw"), rec(11, "cd", topic="raw")])
    objects = moto.objects(bucket)
    assert list(objects) == ["topics/raw/partition=0/raw+0+0000000010.bin.gz"]
    assert gzip.decompress(objects["topics/raw/partition=0/raw+0+0000000010.bin.gz"]) == b"\x00ab|cd|"


def test_field_partitioner_uploads_every_encoded_partition_together(moto: MotoServer, bucket: str) -> None:
    schema = struct_of([("region", STRING_SCHEMA), ("n", INT32_SCHEMA)])
    task = task_for(moto, bucket, partitioner_class="FieldPartitioner", partition_field_name="region", flush_size="3")
    task.open([("orders", 0)])
    values = [Struct(schema, {"region": r, "n": i}) for i, r in enumerate(["eu", "us", "eu"])]
    task.put([SinkRecord("orders", 0, None, None, schema, v, None, kafka_offset=i) for i, v in enumerate(values)])
    assert moto.objects(bucket) == {
        "topics/orders/region=eu/orders+0+0000000000.json": b'{"region":"eu","n":0}\n{"region":"eu","n":2}\n',
        "topics/orders/region=us/orders+0+0000000001.json": b'{"region":"us","n":1}\n',
    }
    assert task.pre_commit({("orders", 0): 3}) == {("orders", 0): 3}


def test_time_based_partitioner_and_rotate_interval_on_record_time(moto: MotoServer, bucket: str) -> None:
    task = task_for(
        moto,
        bucket,
        partitioner_class="io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
        path_format="'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH",
        partition_duration_ms="3600000",
        locale="en-US",
        timezone="Europe/Paris",
        timestamp_extractor="Record",
        rotate_interval_ms="120000",
        flush_size="100",
    )
    task.open([("ev", 0)])
    t0 = int(dt.datetime(2024, 1, 31, 22, 59, 0, tzinfo=dt.UTC).timestamp() * 1000)
    # 0 and 1 in the same hour (23h in Paris), 2 one minute later in the next hour: rotation on the partition
    # change (before rotate.interval.ms); 3 and 4 stay with 2 (less than 2 minutes after it), 5 is 140 s after 2
    # (rotate.interval.ms) and starts the next file.
    task.put([rec(i, i, topic="ev", ts=t0 + d) for i, d in enumerate([0, 30_000, 60_000, 130_000, 140_000, 200_000])])
    assert moto.objects(bucket) == {
        "topics/ev/year=2024/month=01/day=31/hour=23/ev+0+0000000000.json": b"0\n1\n",
        "topics/ev/year=2024/month=02/day=01/hour=00/ev+0+0000000002.json": b"2\n3\n4\n",
    }
    assert task.pre_commit({("ev", 0): 6}) == {("ev", 0): 5}


def test_rotate_schedule_interval_on_the_wall_clock(moto: MotoServer, bucket: str) -> None:
    clock = [1_000]
    task = task_for(moto, bucket, clock, rotate_schedule_interval_ms="10000", flush_size="100")
    task.open([("orders", 0)])
    task.put([rec(0, "a"), rec(1, "b")])
    assert moto.objects(bucket) == {}
    clock[0] = 10_000  # the next scheduled rotation: the empty put the worker makes every poll uploads
    task.put([])
    assert moto.objects(bucket) == {"topics/orders/partition=0/orders+0+0000000000.json": b'"a"\n"b"\n'}
    assert task.pre_commit({("orders", 0): 2}) == {("orders", 0): 2}


def test_failed_upload_rewinds_and_commits_nothing(moto: MotoServer) -> None:
    task = task_for(moto, f"missing-{uuid.uuid4().hex[:8]}", s3_part_retries="0")
    task.open([("orders", 0)])
    task.put([rec(i, i) for i in range(5, 10)])
    assert task.context.rewinds == {("orders", 0): 5}
    assert task.pre_commit({("orders", 0): 5}) == {("orders", 0): 5}


def test_null_values_fail_or_are_skipped(moto: MotoServer, bucket: str) -> None:
    strict = task_for(moto, bucket)
    strict.open([("orders", 0)])
    with pytest.raises(ConnectException, match=r"behavior\.on\.null\.values"):
        strict.put([rec(0, None)])
    lenient = task_for(moto, bucket, behavior_on_null_values="ignore", flush_size="2")
    lenient.open([("orders", 0)])
    lenient.put([rec(0, None), rec(1, "x"), rec(2, None), rec(3, "y")])
    assert moto.objects(bucket) == {"topics/orders/partition=0/orders+0+0000000001.json": b'"x"\n"y"\n'}


def errors_of(props: dict[str, str]) -> dict[str, list[str]]:
    return {v.name: v.errors for v in S3SinkConnector().validate(props) if v.errors}


def test_validation_names_the_offending_keys() -> None:
    base = {"s3.bucket.name": "b", "format.class": "JsonFormat", "flush.size": "10"}
    assert errors_of(base) == {}
    assert list(errors_of({**base, "flush.size": "0"})) == ["flush.size"]
    assert (
        "not implemented"
        in errors_of({**base, "format.class": "io.confluent.connect.s3.format.avro.AvroFormat"})["format.class"][0]
    )
    time_based = errors_of({**base, "partitioner.class": "TimeBasedPartitioner", "timezone": "Mars/Olympus"})
    assert sorted(time_based) == ["locale", "partition.duration.ms", "path.format", "timezone"]
    assert list(errors_of({**base, "partitioner.class": "FieldPartitioner"})) == ["partition.field.name"]
    assert (
        'Missing required configuration "s3.bucket.name"'
        in errors_of({"format.class": "JsonFormat", "flush.size": "1"})["s3.bucket.name"][0]
    )


def test_key_joins_with_custom_delimiters(moto: MotoServer, bucket: str, tmp_path: Path) -> None:
    task = task_for(moto, bucket, file_delim="-", flush_size="1", topics_dir="")
    task.open([("t", 2)])
    task.put([rec(42, "z", partition=2, topic="t")])
    assert list(moto.objects(bucket)) == ["t/partition=2/t-2-0000000042.json"]


def test_records_that_cannot_be_partitioned_go_to_the_reporter_or_fail(moto: MotoServer, bucket: str) -> None:
    from odradek.connect.api.errors import DataException

    task = task_for(moto, bucket, partitioner_class="FieldPartitioner", partition_field_name="region", flush_size="2")
    task.open([("orders", 0)])
    with pytest.raises(DataException, match="field region"):
        task.put([rec(0, {"n": 1})])
    task.context.reporter = Reporter()
    task.put([rec(0, {"n": 1}), rec(1, {"region": "eu"}), rec(2, {"region": "eu"})])
    assert [offset for offset, _ in task.context.reporter.reported] == [0]
    assert list(moto.objects(bucket)) == ["topics/orders/region=eu/orders+0+0000000001.json"]
    assert task.pre_commit({("orders", 0): 3}) == {("orders", 0): 3}
