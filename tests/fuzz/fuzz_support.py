"""Shared fuzzing support: seed corpora, byte mutators and the harness runner (atheris or a pure-Python loop).

Seeds:
- `golden_frames()`: the request frames captured from librdkafka, kcat, kafka-python and aiokafka
  (tests/golden/<client>/<api>_v<N>[_codec].bin, one frame each, without the int32 size prefix);
- `built_frames()`: frames encoded with the generated codecs for the main APIs (Produce with real record
  batches in every codec, Fetch, Metadata, ListOffsets, CreateTopics, the group APIs, configs, ...) at several
  versions, with the topic `SEED_TOPIC` and the group `SEED_GROUP`;
- `sample_batches()` / `segment_seeds()`: record batches and whole segment files.

`Mutator` applies one to three of: bit flips, bytes set to interesting values (0x00, 0xff, 0x7f, 0x80), int16/int32
length-like fields set to huge or negative values, truncation, chunk duplication/deletion, splicing with another
seed, varint corruption, the header's api_version moved to a neighbour version or api_key changed, and mutation
inside a record batch followed (usually) by a CRC-32C fix so that the bytes reach record decoding.

`run_harness` is the `main` of every tests/fuzz/fuzz_*.py script: with atheris installed it runs libFuzzer
(`-runs=N`, `-max_total_time=S`, corpus directories, every libFuzzer flag passes through); without atheris, or with
`--pure`, it runs the same `check` over `Mutator` outputs of the seed corpus, bounded by `-runs` and
`-max_total_time`, and writes a failing input to `<artifact_prefix>crash-<sha1>` as libFuzzer does. With
`--replay FILE...` it runs `check` once on each file (how tests/fuzz/test_atheris.py replays regressions/).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"

SEED_TOPIC = "fuzz-seed"
SEED_GROUP = "fuzz-group"
CLIENT_ID = "odradek-fuzz"

INTERESTING_BYTES = (0x00, 0xFF, 0x7F, 0x80)
INTERESTING_16 = (0x7FFF, 0x8000, 0xFFFF, 0xFFFE, 0x0000)
INTERESTING_32 = (0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x00FFFFFF, 0x01000000, 0x00000000)
BAD_VARINTS = (
    b"\x00",  # compact null / zero length
    b"\xff\xff\xff\xff\x0f",  # 2**32 - 1: a huge length
    b"\xff\xff\xff\xff\x7f",  # more than 32 bits
    b"\x80\x80\x80\x80\x80\x80\x01",  # overlong
    b"\x80",  # truncated (continuation bit, then whatever follows)
    b"\xfe\xff\xff\xff\x0f",  # zigzag: a huge negative
    b"\x01",  # zigzag -1 (null) / compact length 0
)


# -- seeds ------------------------------------------------------------------------------------------------


def golden_frames() -> list[tuple[str, bytes]]:
    """(client/stem, frame) for every captured golden frame, sorted by name."""
    return [(f"{p.parent.name}/{p.stem}", p.read_bytes()) for p in sorted(GOLDEN.glob("*/*.bin"))]


def encode_request(api_key: int, version: int, message: Any, correlation_id: int = 1) -> bytes:
    """Header and body of one request (no size prefix), with Odradek's generated codecs."""
    from odradek.broker.protocol.apis import request_message
    from odradek.broker.protocol.headers import RequestHeader, encode_request_header, request_header_version

    out = bytearray()
    header = RequestHeader(api_key, version, correlation_id, CLIENT_ID)
    encode_request_header(out, header, request_header_version(api_key, version))
    request_message(api_key).encode(out, message, version)
    return bytes(out)


def sample_batches() -> list[bytes]:
    """Valid v2 batches: every codec, keys, null values, headers, an idempotent producer's batch."""
    from odradek.broker.records.builder import build_batch

    now = int(time.time() * 1000)
    plain = [(b"k1", b"value-1", [], now), (None, b"v" * 40, [("h", b"x")], now + 1), (b"k3", None, [], now + 2)]
    batches = [build_batch(plain, codec=codec) for codec in range(5)]
    batches.append(build_batch([(b"id", b"idempotent", [], now)], producer_id=7, producer_epoch=0, base_sequence=0))
    batches.append(build_batch([(b"k", bytes(range(256)) * 4, [("a", b""), ("b", None)], now)], codec=1))
    return batches


def built_frames(topic: str = SEED_TOPIC, group: str = SEED_GROUP) -> list[tuple[str, bytes]]:
    """Frames for the main APIs, built with the generated codecs (names are "<api>_v<version>[_detail]")."""
    from odradek.broker.protocol.messages import (
        api_versions_request,
        create_partitions_request,
        create_topics_request,
        delete_records_request,
        describe_cluster_request,
        describe_configs_request,
        describe_groups_request,
        fetch_request,
        find_coordinator_request,
        heartbeat_request,
        join_group_request,
        leave_group_request,
        list_groups_request,
        list_offsets_request,
        metadata_request,
        offset_commit_request,
        offset_fetch_request,
        offset_for_leader_epoch_request,
        produce_request,
        sync_group_request,
    )

    frames: list[tuple[str, bytes]] = []

    def add(name: str, api_key: int, versions: Sequence[int], message: Any) -> None:
        for version in versions:
            frames.append((f"{name}_v{version}", encode_request(api_key, version, message)))

    codecs = ("none", "gzip", "snappy", "lz4", "zstd", "idempotent", "headers")
    for codec, batch in zip(codecs, sample_batches(), strict=True):
        produce = produce_request.ProduceRequest(
            acks=-1,
            timeout_ms=5000,
            topic_data=[
                produce_request.TopicProduceData(
                    name=topic, partition_data=[produce_request.PartitionProduceData(index=0, records=batch)]
                )
            ],
        )
        for version in (3, 7, 9, 11):
            frames.append((f"produce_v{version}_{codec}", encode_request(0, version, produce)))
    fetch = fetch_request.FetchRequest(
        max_wait_ms=100,
        min_bytes=1,
        max_bytes=1 << 20,
        topics=[
            fetch_request.FetchTopic(
                topic=topic,
                partitions=[fetch_request.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)],
            )
        ],
    )
    add("fetch", 1, (4, 7, 11, 12), fetch)
    metadata = metadata_request.MetadataRequest(topics=[metadata_request.MetadataRequestTopic(name=topic)])
    add("metadata", 3, (1, 4, 9, 12), metadata)
    add("metadata_all", 3, (1, 12), metadata_request.MetadataRequest(topics=None))
    list_offsets = list_offsets_request.ListOffsetsRequest(
        topics=[
            list_offsets_request.ListOffsetsTopic(
                name=topic,
                partitions=[list_offsets_request.ListOffsetsPartition(partition_index=0, timestamp=-2)],
            )
        ]
    )
    add("list_offsets", 2, (1, 5, 7), list_offsets)
    create = create_topics_request.CreateTopicsRequest(
        topics=[
            create_topics_request.CreatableTopic(
                name=f"{topic}-new",
                num_partitions=1,
                replication_factor=1,
                configs=[create_topics_request.CreatableTopicConfig(name="retention.ms", value="60000")],
            )
        ],
        timeout_ms=5000,
    )
    add("create_topics", 19, (2, 5, 7), create)
    add(
        "create_partitions",
        37,
        (0, 2),
        create_partitions_request.CreatePartitionsRequest(
            topics=[create_partitions_request.CreatePartitionsTopic(name=f"{topic}-new", count=2)],
            timeout_ms=5000,
            validate_only=True,
        ),
    )
    add(
        "delete_records",
        21,
        (0, 2),
        delete_records_request.DeleteRecordsRequest(
            topics=[
                delete_records_request.DeleteRecordsTopic(
                    name=topic, partitions=[delete_records_request.DeleteRecordsPartition(partition_index=0, offset=0)]
                )
            ],
            timeout_ms=5000,
        ),
    )
    topics = struct.pack(">hi", 0, 1) + struct.pack(">h", len(topic)) + topic.encode()
    subscription = topics + struct.pack(">i", -1)  # ConsumerProtocolSubscription v0, no user data
    assignment = topics + struct.pack(">iii", 1, 0, -1)  # ConsumerProtocolAssignment v0: partition 0
    join = join_group_request.JoinGroupRequest(
        group_id=group,
        session_timeout_ms=10_000,
        rebalance_timeout_ms=10_000,
        member_id="",
        protocol_type="consumer",
        protocols=[join_group_request.JoinGroupRequestProtocol(name="range", metadata=subscription)],
    )
    add("join_group", 11, (0, 5, 7), join)
    sync = sync_group_request.SyncGroupRequest(
        group_id=group,
        generation_id=1,
        member_id="m-1",
        protocol_type="consumer",
        protocol_name="range",
        assignments=[sync_group_request.SyncGroupRequestAssignment(member_id="m-1", assignment=assignment)],
    )
    add("sync_group", 14, (0, 3, 5), sync)
    add("heartbeat", 12, (0, 4), heartbeat_request.HeartbeatRequest(group_id=group, generation_id=1, member_id="m-1"))
    leave = leave_group_request.LeaveGroupRequest(
        group_id=group, member_id="m-1", members=[leave_group_request.MemberIdentity(member_id="m-1")]
    )
    add("leave_group", 13, (0, 3, 5), leave)
    commit = offset_commit_request.OffsetCommitRequest(
        group_id=group,
        generation_id_or_member_epoch=-1,
        member_id="",
        topics=[
            offset_commit_request.OffsetCommitRequestTopic(
                name=topic,
                partitions=[
                    offset_commit_request.OffsetCommitRequestPartition(
                        partition_index=0, committed_offset=1, committed_metadata="meta"
                    )
                ],
            )
        ],
    )
    add("offset_commit", 8, (2, 7, 8), commit)
    offset_fetch = offset_fetch_request.OffsetFetchRequest(
        group_id=group,
        topics=[offset_fetch_request.OffsetFetchRequestTopic(name=topic, partition_indexes=[0])],
        groups=[
            offset_fetch_request.OffsetFetchRequestGroup(
                group_id=group,
                topics=[offset_fetch_request.OffsetFetchRequestTopics(name=topic, partition_indexes=[0])],
            )
        ],
    )
    add("offset_fetch", 9, (1, 6, 8), offset_fetch)
    find = find_coordinator_request.FindCoordinatorRequest(key=group, key_type=0, coordinator_keys=[group])
    add("find_coordinator", 10, (0, 3, 4), find)
    describe = describe_configs_request.DescribeConfigsRequest(
        resources=[describe_configs_request.DescribeConfigsResource(resource_type=2, resource_name=topic)],
        include_synonyms=True,
    )
    add("describe_configs", 32, (1, 4), describe)
    add("describe_groups", 15, (0, 5), describe_groups_request.DescribeGroupsRequest(groups=[group]))
    add("list_groups", 16, (0, 4), list_groups_request.ListGroupsRequest(states_filter=["Empty"]))
    epoch = offset_for_leader_epoch_request.OffsetForLeaderEpochRequest(
        topics=[
            offset_for_leader_epoch_request.OffsetForLeaderTopic(
                topic=topic,
                partitions=[offset_for_leader_epoch_request.OffsetForLeaderPartition(partition=0, leader_epoch=0)],
            )
        ]
    )
    add("offset_for_leader_epoch", 23, (2, 4), epoch)
    add("describe_cluster", 60, (0, 1), describe_cluster_request.DescribeClusterRequest())
    versions = api_versions_request.ApiVersionsRequest(client_software_name="fuzz", client_software_version="1.0")
    add("api_versions", 18, (0, 3), versions)
    return frames


def seed_frames() -> list[tuple[str, bytes]]:
    return golden_frames() + built_frames()


def find_batches(data: bytes | bytearray) -> list[tuple[int, int]]:
    """(start, end) of every well-formed v2 record batch (length, magic and CRC-32C all right) inside `data`."""
    import crc32c

    spans: list[tuple[int, int]] = []
    position = 0
    limit = len(data) - 61
    while position <= limit:
        if data[position + 16] == 2:
            (length,) = struct.unpack_from(">i", data, position + 8)
            end = position + 12 + length
            if length >= 49 and end <= len(data):
                (crc,) = struct.unpack_from(">I", data, position + 17)
                if crc32c.crc32c(bytes(data[position + 21 : end])) == crc:
                    spans.append((position, end))
                    position = end
                    continue
        position += 1
    return spans


def fix_crc(data: bytearray, start: int, end: int) -> None:
    """Recompute the CRC-32C of the batch at [start, end) (a no-op if it is too short to hold one)."""
    import crc32c

    if end - start >= 61 and end <= len(data):
        struct.pack_into(">I", data, start + 17, crc32c.crc32c(bytes(data[start + 21 : end])))


def restamp(batch: bytes, base_offset: int, leader_epoch: int = 0) -> bytes:
    """The batch with another baseOffset and partitionLeaderEpoch (both outside the CRC)."""
    out = bytearray(batch)
    struct.pack_into(">q", out, 0, base_offset)
    struct.pack_into(">i", out, 12, leader_epoch)
    return bytes(out)


def record_count(batch: bytes) -> int:
    return int(struct.unpack_from(">i", batch, 57)[0])


def golden_batches() -> list[bytes]:
    """The record batches inside the golden Produce frames (every client and codec)."""
    out: list[bytes] = []
    for name, frame in golden_frames():
        if "produce" in name:
            out.extend(frame[start:end] for start, end in find_batches(frame))
    return out


def segment_seeds() -> list[bytes]:
    """Segment files (base offset 0): runs of golden and sample batches at consecutive offsets."""
    batches = golden_batches() + sample_batches()
    seeds: list[bytes] = []
    for start in range(0, len(batches), 4):
        chunk = batches[start : start + 4] or batches[:4]
        offset = 0
        data = bytearray()
        for epoch, batch in enumerate(chunk):
            data += restamp(batch, offset, epoch // 2)
            offset += struct.unpack_from(">i", batch, 23)[0] + 1
        seeds.append(bytes(data))
    seeds.append(b"")
    return seeds


# -- mutation ---------------------------------------------------------------------------------------------


class Mutator:
    """Structure-blind and structure-aware byte mutations, deterministic for a given `random.Random`."""

    def __init__(self, rng: random.Random, seeds: Sequence[bytes], frames: bool = True) -> None:
        self.rng = rng
        self.seeds = [s for s in seeds if s] or [b"\x00" * 16]
        self.frames = frames  # inputs start with a request header (api_key, api_version, ...)
        self.ops: list[Callable[[bytearray], str]] = [
            self.bit_flip,
            self.bit_flip,
            self.interesting_byte,
            self.interesting_byte,
            self.length_field,
            self.length_field,
            self.truncate,
            self.duplicate_chunk,
            self.delete_chunk,
            self.splice,
            self.varint,
            self.varint,
            self.batch_field,
            self.batch_field,
            self.batch_field,
        ]
        if frames:
            self.ops += [self.api_version, self.api_version, self.api_key]
            self.ops += [self.field_value] * 8  # about a third: well-formed requests with odd values

    def pick_seed(self) -> bytes:
        return self.rng.choice(self.seeds)

    def mutate(self, data: bytes) -> tuple[bytes, str]:
        """One to three mutations of `data`; returns the bytes and a short description."""
        out = bytearray(data)
        done = [self.rng.choice(self.ops)(out) for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3)))]
        return bytes(out), "+".join(done)

    def _pos(self, out: bytearray, width: int = 1) -> int:
        return self.rng.randrange(max(1, len(out) - width + 1))

    def bit_flip(self, out: bytearray) -> str:
        if not out:
            out.append(self.rng.randrange(256))
            return "grow"
        for _ in range(self.rng.choice((1, 1, 2, 4))):
            out[self._pos(out)] ^= 1 << self.rng.randrange(8)
        return "bitflip"

    def interesting_byte(self, out: bytearray) -> str:
        if not out:
            return "noop"
        out[self._pos(out)] = self.rng.choice(INTERESTING_BYTES)
        return "byte"

    def _length_like(self, out: bytearray, width: int) -> list[int]:
        """Offsets of int16/int32 values that look like a length or count of what follows."""
        fmt = ">h" if width == 2 else ">i"
        found = []
        for pos in range(len(out) - width + 1):
            (value,) = struct.unpack_from(fmt, out, pos)
            if 0 < value <= len(out) - pos - width:
                found.append(pos)
        return found

    def length_field(self, out: bytearray) -> str:
        width = self.rng.choice((2, 4))
        if len(out) < width:
            return "noop"
        candidates = self._length_like(out, width)
        pos = self.rng.choice(candidates) if candidates and self.rng.random() < 0.8 else self._pos(out, width)
        if width == 2:
            struct.pack_into(">H", out, pos, self.rng.choice(INTERESTING_16))
        else:
            struct.pack_into(">I", out, pos, self.rng.choice(INTERESTING_32))
        return f"len{width * 8}"

    def truncate(self, out: bytearray) -> str:
        if len(out) > 1:
            del out[self.rng.randrange(1, len(out)) :]
        return "truncate"

    def duplicate_chunk(self, out: bytearray) -> str:
        if not out:
            return "noop"
        start = self._pos(out)
        chunk = out[start : start + self.rng.randint(1, 64)]
        at = self.rng.randrange(len(out) + 1)
        out[at:at] = chunk * self.rng.choice((1, 1, 2, 8))
        return "dup"

    def delete_chunk(self, out: bytearray) -> str:
        if len(out) < 2:
            return "noop"
        start = self._pos(out)
        del out[start : start + self.rng.randint(1, 16)]
        return "delete"

    def splice(self, out: bytearray) -> str:
        other = self.pick_seed()
        cut = self.rng.randrange(len(out) + 1)
        out[cut:] = other[self.rng.randrange(len(other) + 1) :]
        return "splice"

    def varint(self, out: bytearray) -> str:
        """Replace a byte that could start a varint (a length-like value) with a bad varint."""
        if not out:
            return "noop"
        candidates = [p for p in range(len(out)) if 0 < out[p] < 0x80 and out[p] <= len(out) - p]
        pos = self.rng.choice(candidates) if candidates else self._pos(out)
        out[pos : pos + 1] = self.rng.choice(BAD_VARINTS)
        return "varint"

    def batch_field(self, out: bytearray) -> str:
        """Mutate inside a record batch (header fields or records), then usually fix its CRC."""
        spans = find_batches(out)
        if not spans:
            return self.bit_flip(out)
        start, end = self.rng.choice(spans)
        choice = self.rng.randrange(6)
        if choice == 0:  # recordCount, lastOffsetDelta, batchLength or baseOffset
            field = self.rng.choice((57, 23, 8, 0))
            width = 8 if field == 0 else 4
            value = self.rng.choice((-1, 0, 1, 2, 0x7FFFFFFF, -0x80000000, 1000))
            struct.pack_into(">q" if width == 8 else ">i", out, start + field, value)
        elif choice == 1:  # attributes: codec, timestamp type, transactional, control
            struct.pack_into(">h", out, start + 21, self.rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 0x10, 0x20, 0x30, -1)))
        elif choice == 2:  # producer id / epoch / base sequence
            field, fmt = self.rng.choice(((43, ">q"), (51, ">h"), (53, ">i")))
            struct.pack_into(fmt, out, start + field, self.rng.choice((-1, 0, 5, 0x7FFF)))
        elif choice == 3 and end - start > 61:  # a varint or byte in the records section
            pos = self.rng.randrange(start + 61, end)
            if self.rng.random() < 0.5:
                out[pos] = self.rng.choice(INTERESTING_BYTES)
            else:
                out[pos : pos + 1] = self.rng.choice(BAD_VARINTS)  # batchLength is left as it was
        elif choice == 4:  # timestamps
            field = self.rng.choice((27, 35))
            struct.pack_into(">q", out, start + field, self.rng.choice((-1, 0, 2**62, int(time.time() * 1000) + 10**9)))
        else:
            pos = self.rng.randrange(start + 21, end)
            out[pos] ^= 1 << self.rng.randrange(8)
        if self.rng.random() < 0.85:
            (length,) = struct.unpack_from(">i", out, start + 8)
            fix_crc(out, start, min(len(out), start + 12 + max(length, 0)))
            return "batch+crc"
        return "batch"

    def field_value(self, out: bytearray) -> str:
        """Decode the request with the generated codecs, set one field to an odd value, encode it again."""
        import dataclasses
        import uuid

        from odradek.broker.protocol.apis import api_info
        from odradek.broker.protocol.headers import decode_request_header
        from odradek.broker.protocol.primitives import Reader

        try:
            header, offset = decode_request_header(memoryview(bytes(out)))
            info = api_info(header.api_key)
            if info is None:
                return self.bit_flip(out)
            message = info.request.decode(Reader(memoryview(bytes(out))[offset:]), header.api_version)
        except Exception:
            return self.bit_flip(out)
        slots: list[tuple[Any, str, Any]] = []

        def walk(obj: Any) -> None:
            for f in dataclasses.fields(obj):
                value = getattr(obj, f.name)
                slots.append((obj, f.name, value))
                items = value if isinstance(value, list) else [value]
                for item in items:
                    if dataclasses.is_dataclass(item):
                        walk(item)

        walk(message)
        if not slots:
            return self.bit_flip(out)
        for _ in range(4):
            obj, name, value = self.rng.choice(slots)
            new = self._odd_value(value, uuid)
            setattr(obj, name, new)
            body = bytearray(bytes(out[:offset]))
            try:
                info.request.encode(body, message, header.api_version)
            except Exception:
                setattr(obj, name, value)
                continue
            out[:] = body
            return f"field:{name}"
        return self.bit_flip(out)

    def _odd_value(self, value: Any, uuid: Any) -> Any:
        rng = self.rng
        if isinstance(value, bool):
            return not value
        if isinstance(value, int):
            return rng.choice(
                (0, -1, 1, -2, -3, -4, -5, -6, -34, 2, 17, 2**15 - 1, -(2**15), 2**31 - 1, -(2**31), 2**63 - 1)
            )
        if isinstance(value, float):
            return rng.choice((0.0, -1.0, float("nan"), float("inf"), 1e300))
        if isinstance(value, str) or value is None:
            return rng.choice(
                ("", "a" * 300, "\u00fc\u4e2d", "\x00", "..", ".", "__consumer_offsets", SEED_TOPIC, SEED_GROUP, None)
            )
        if isinstance(value, bytes | bytearray | memoryview):
            return rng.choice((b"", None, rng.randbytes(rng.randrange(64)), bytes(value) * 3))
        if isinstance(value, uuid.UUID):
            return rng.choice((uuid.UUID(int=0), uuid.UUID(int=rng.getrandbits(128))))
        if isinstance(value, list):
            if not value:
                return value
            return rng.choice(([], value * 2, value[:1] * 50, value[::-1]))
        return value

    def api_version(self, out: bytearray) -> str:
        if len(out) < 4:
            return "noop"
        (version,) = struct.unpack_from(">h", out, 2)
        new = self.rng.choice((version - 1, version + 1, version - 2, version + 2, -1, 99, self.rng.randrange(20)))
        struct.pack_into(">h", out, 2, max(-0x8000, min(0x7FFF, new)))
        return "version"

    def api_key(self, out: bytearray) -> str:
        if len(out) < 2:
            return "noop"
        struct.pack_into(">h", out, 0, self.rng.choice((-1, 7, 17, 36, 67, 74, 999, 0x7FFF, self.rng.randrange(80))))
        return "apikey"


# -- harness runner ---------------------------------------------------------------------------------------


def atheris_available() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def _use_atheris(argv: Sequence[str]) -> bool:
    return "--pure" not in argv and "--replay" not in argv and atheris_available()


@contextlib.contextmanager
def instrumented(module_name: str) -> Iterator[None]:
    """Wrap the harness's imports of the code under test: atheris coverage instrumentation when the harness
    runs as a fuzzing script under atheris, nothing otherwise (pytest replays import the plain modules)."""
    if module_name == "__main__" and _use_atheris(sys.argv):
        import atheris

        with atheris.instrument_imports(include=["odradek"]):
            yield
    else:
        yield


def _flags(argv: Sequence[str]) -> dict[str, str]:
    return {a[1:].split("=", 1)[0]: a.split("=", 1)[1] for a in argv if a.startswith("-") and "=" in a}


def default_corpus(name: str) -> Path:
    return Path(os.environ.get("ODRADEK_FUZZ_CORPUS", Path(tempfile.gettempdir()) / "odradek-fuzz")) / name


def write_seeds(directory: Path, seeds: Sequence[bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (directory / f"seed-{hashlib.sha1(seed).hexdigest()}").write_bytes(seed)


def run_harness(
    name: str, check: Callable[[bytes], None], seeds: Sequence[bytes], argv: Sequence[str] | None = None
) -> int:
    """The command line of a harness script; see the module docstring."""
    argv = list(sys.argv if argv is None else argv)
    if "--replay" in argv:
        return replay(name, check, [Path(a) for a in argv[1:] if not a.startswith("-")])
    corpus_dirs = [a for a in argv[1:] if not a.startswith("-")]
    if not corpus_dirs:
        default = default_corpus(name)
        write_seeds(default, seeds)
        corpus_dirs = [str(default)]
        argv.append(str(default))
    else:
        write_seeds(Path(corpus_dirs[0]), seeds)
    if _use_atheris(argv):
        from importlib.metadata import version

        import atheris

        print(f"{name}: atheris {version('atheris')} (libFuzzer), corpus {corpus_dirs}", flush=True)
        atheris.Setup([a for a in argv if a != "--pure"], check)
        atheris.Fuzz()
        return 0  # not reached: libFuzzer exits
    return _pure_loop(name, check, argv, corpus_dirs)


def replay(name: str, check: Callable[[bytes], None], paths: Sequence[Path]) -> int:
    """Run `check` once on each file (regression inputs); 1 on the first failure, with its traceback."""
    for path in paths:
        try:
            check(path.read_bytes())
        except Exception:
            traceback.print_exc()
            print(f"==ERROR: {name}: {path} fails", flush=True)
            return 1
        print(f"{name}: {path.name} ok", flush=True)
    return 0


def _pure_loop(name: str, check: Callable[[bytes], None], argv: Sequence[str], corpus_dirs: Sequence[str]) -> int:
    flags = _flags(argv)
    runs = int(flags.get("runs", "10000"))
    max_time = float(flags.get("max_total_time", "0")) or float("inf")
    seed = int(flags.get("seed", "0")) or int.from_bytes(os.urandom(4), "big")
    max_len = int(flags.get("max_len", "65536"))
    prefix = flags.get("artifact_prefix", "./")
    inputs = [p.read_bytes()[:max_len] for d in corpus_dirs for p in sorted(Path(d).iterdir()) if p.is_file()]
    rng = random.Random(seed)
    mutator = Mutator(rng, inputs, frames=name == "request_decode")
    reason = "atheris not installed" if not atheris_available() else "--pure"
    print(f"{name}: pure-Python mutation loop ({reason}), seed {seed}, runs {runs}, {len(inputs)} seeds", flush=True)
    start = time.monotonic()
    done = 0
    for done in range(1, runs + 1):
        if time.monotonic() - start > max_time:
            break
        data = inputs[done - 1] if done <= len(inputs) else mutator.mutate(mutator.pick_seed())[0][:max_len]
        try:
            check(data)
        except Exception:
            traceback.print_exc()
            path = Path(f"{prefix}crash-{hashlib.sha1(data).hexdigest()}")
            path.write_bytes(data)
            print(f"==ERROR: {name}: uncaught exception; input written to {path} ({data[:64].hex()}...)", flush=True)
            return 1
    print(f"Done {done} runs in {time.monotonic() - start:.0f} second(s)", flush=True)
    return 0


def regression_inputs(harness: str) -> list[Path]:
    """Committed inputs that once failed `harness` (tests/fuzz/regressions/<harness>/*)."""
    directory = REGRESSIONS / harness
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []
