"""Live-socket mutation fuzzing of one broker (../shared/notes/reliability.md 3.5; issue 2).

Seeds: the golden frames captured from real clients (tests/golden) and frames built with the generated codecs for
the main APIs (tests/fuzz/fuzz_support.py). Each frame sent is a seed after one to three mutations (bit flips,
interesting bytes, huge or negative length fields, truncation, duplicated or spliced chunks, corrupt varints, the
api_version moved to a neighbour, another api_key, record-batch fields with the CRC fixed). The size prefix is
consistent in most frames (the body reaches the decoders) and wrong in about one in twelve.

Frames go over a few connections (one to three pipelined at a time), and a connection is reopened when the broker
closes it. For a consistently framed request the test knows what Kafka does, by decoding it with the same codecs:
- header undecodable, unknown API key, a version not served, or a body that does not decode: the connection is
  closed, and no later request on it is answered; ApiVersions at an unserved version: answered, error 35;
- a request that decodes: answered (Produce with acks=0: never answered), in order, with its correlation id.
Every `CHECK_EVERY` frames and at the end: the process is alive, a fresh connection completes ApiVersions, VmRSS
and the open descriptors stay within a bound, and the broker's log holds no traceback. At the end the records
produced first with acks=all are all there with their values, and a new produce/consume works.

Not sent: well-formed CreateTopics/CreatePartitions for 65 to ~10,000 partitions (legal and merely slow).

Default run: 1,500 frames, seed `DEFAULT_SEED` (printed; ODRADEK_FUZZ_SEED=<n> to change it). ODRADEK_SLOW=1 adds
a 30,000-frame run with a random seed (also printed).
"""

from __future__ import annotations

import os
import random
import select
import socket
import struct
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from it_support import (
    REPO,
    BrokerProcess,
    api_versions_roundtrip,
    ck_consume,
    ck_create_topic,
    ck_produce,
    raw_call,
    raw_connect,
)
from odradek.broker.protocol.apis import api_info
from odradek.broker.protocol.errors import ProtocolError
from odradek.broker.protocol.headers import decode_request_header
from odradek.broker.protocol.messages.find_coordinator_request import FindCoordinatorRequest
from odradek.broker.protocol.messages.metadata_request import MetadataRequest
from odradek.broker.protocol.primitives import Reader

sys.path.insert(0, str(REPO / "tests" / "fuzz"))
from fuzz_support import SEED_GROUP, SEED_TOPIC, Mutator, seed_frames

pytestmark = pytest.mark.integration

DEFAULT_SEED = 20_240_917
DEFAULT_FRAMES = 5_000  # about 4 s of sending on the 2-core machine
SLOW_FRAMES = 200_000
MAX_REQUEST = 1024 * 1024
CONNECTIONS = 4
FRAMES_PER_CONNECTION = 150  # then it is closed by us and reopened
WAIT_S = 0.1  # how long a request may take before its connection counts as stalled (then closed by us)
CHECK_EVERY = 250
INCONSISTENT = 1 / 12  # share of frames whose size prefix does not match the bytes sent
RSS_GROWTH_KIB = 96 * 1024  # above the warmed-up baseline, plus PER_PARTITION_KIB per partition created meanwhile
PER_PARTITION_KIB = 512
FD_SLACK = 24  # descriptors above baseline + our open connections + FDS_PER_PARTITION per partition created
FDS_PER_PARTITION = 4
LOG_MARKERS = ("Traceback", "Task exception was never retrieved", "Unhandled", "Exception in callback", " ERROR ")
PRECIOUS = [f"precious-{i}".encode() for i in range(200)]
GOLDEN_TOPIC = "golden"  # the topic of the golden Produce frames (tests/golden)


# -- process measurements ------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def partition_count(port: int) -> int:
    with raw_connect(port) as sock:
        response = raw_call(sock, 3, 1, MetadataRequest(topics=None))
    assert response is not None, "Metadata: connection closed"
    return sum(len(topic.partitions) for topic in response.topics)


def log_problems(broker: BrokerProcess) -> list[str]:
    lines = broker.output().splitlines()
    return [f"{i}: {line}" for i, line in enumerate(lines) if any(marker in line for marker in LOG_MARKERS)]


# -- what Kafka does with one frame ---------------------------------------------------------------------------

CLOSE = "close"  # the broker must close the connection without answering
ANSWER = "answer"  # the broker must answer (in order)
NONE = "none"  # Produce acks=0: never answered
V35 = "v35"  # ApiVersions at an unserved version: answered with UNSUPPORTED_VERSION (35)
DECODER_CRASH = "decoder-crash"  # the codecs raised something other than ProtocolError (a bug by itself)


def heavy(frame: bytes) -> bool:
    """A well-formed CreateTopics/CreatePartitions asking for 65 to ~10,000 partitions: a legal request whose cost
    is partition creation (several ms each here), not bad input; such frames are not sent. Larger counts are, and
    must be refused at once (POLICY_VIOLATION, Kafka's 10,000-partition cap per request)."""
    try:
        header, body_offset = decode_request_header(memoryview(frame))
        info = api_info(header.api_key)
        if header.api_key not in (19, 37) or info is None:
            return False
        message = info.request.decode(Reader(memoryview(frame)[body_offset:]), header.api_version)
    except Exception:
        return False
    if header.api_key == 19:
        total = sum(len(t.assignments) or max(t.num_partitions, 1) for t in message.topics)
    else:
        total = sum(max(t.count, 0) for t in message.topics)
    return 64 < total <= 10_200


def expectation(frame: bytes, served: dict[int, tuple[int, int]]) -> str:
    """What the broker must do with a consistently framed request (decoded with the same codecs)."""
    if len(frame) < 8:
        return CLOSE  # shorter than api_key + api_version + correlation_id
    try:
        header, body_offset = decode_request_header(memoryview(frame))
    except ProtocolError:
        return CLOSE
    except Exception as exc:
        return f"{DECODER_CRASH} {exc!r}"
    key, version = header.api_key, header.api_version
    if key not in served:
        return CLOSE
    low, high = served[key]
    info = api_info(key)
    assert info is not None
    if not low <= version <= high:
        return V35 if key == 18 else CLOSE
    if not info.min_version <= version <= info.max_version:
        return CLOSE  # advertised but not decodable here (none since Produce v0-2 are served, issue 15)
    try:
        message = info.request.decode(Reader(memoryview(frame)[body_offset:]), version)
    except ProtocolError:
        return CLOSE
    except Exception as exc:
        return f"{DECODER_CRASH} {exc!r}"
    if key == 0 and message.acks == 0:
        return NONE
    return ANSWER


# -- connections ---------------------------------------------------------------------------------------------


@dataclass
class Sent:
    index: int
    correlation_id: int
    expect: str
    description: str
    frame: bytes


@dataclass
class FuzzConnection:
    sock: socket.socket
    pending: deque[Sent] = field(default_factory=deque)
    inbox: bytearray = field(default_factory=bytearray)
    desynced: bool = False  # a wrong size prefix was sent: responses can no longer be matched
    closed: bool = False
    frames: int = 0


@dataclass
class Fuzzer:
    port: int
    served: dict[int, tuple[int, int]]
    violations: list[str] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    connections: list[FuzzConnection] = field(default_factory=list)

    def connect(self) -> FuzzConnection:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError as exc:
            raise AssertionError(f"cannot connect to the broker: {exc}") from exc
        sock.setblocking(False)
        self.stats["connections"] += 1
        return FuzzConnection(sock)

    def violation(self, sent: Sent | None, message: str) -> None:
        where = "" if sent is None else f" [frame {sent.index} {sent.description}: {sent.frame[:160].hex()}]"
        self.violations.append(message + where)

    # responses ------------------------------------------------------------------------------------------

    def on_response(self, conn: FuzzConnection, body: bytes) -> None:
        self.stats["answered"] += 1
        if conn.desynced:
            return
        if len(body) < 4:
            self.violation(None, f"response of {len(body)} bytes has no correlation id")
            return
        (correlation_id,) = struct.unpack_from(">i", body, 0)
        ids = [sent.correlation_id for sent in conn.pending]
        if correlation_id not in ids:
            self.violation(None, f"response with correlation id {correlation_id}, none such pending ({ids[:8]})")
            return
        while conn.pending:
            sent = conn.pending.popleft()
            if sent.correlation_id == correlation_id:
                break
            if sent.expect == CLOSE:
                self.violation(sent, "a later request was answered after one that must close the connection")
            elif sent.expect != NONE:
                self.violation(sent, "request skipped: a later one was answered first")
        if sent.expect == CLOSE:
            self.violation(sent, "answered a request that must close the connection")
        elif sent.expect == NONE:
            self.violation(sent, "answered a Produce with acks=0")
        elif sent.expect == V35:
            error = struct.unpack_from(">h", body, 4)[0] if len(body) >= 6 else None
            if error != 35:
                self.violation(sent, f"ApiVersions at an unserved version answered with error {error}, not 35")

    def on_close(self, conn: FuzzConnection) -> None:
        conn.closed = True
        self.stats["closed_by_broker"] += 1
        if conn.desynced:
            return
        for sent in conn.pending:
            if sent.expect == CLOSE:
                break
            if sent.expect != NONE:
                self.violation(sent, "connection closed without an answer to a request that decodes")
                break

    def pump(self, conn: FuzzConnection, timeout: float) -> bool:
        """Read until every request on `conn` that must be answered is, or it is closed; False on timeout."""
        deadline = time.monotonic() + timeout
        while not conn.closed:
            if not any(sent.expect in (ANSWER, V35) for sent in conn.pending) and not conn.desynced:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, _, _ = select.select([conn.sock], [], [], remaining)
            if not readable:
                return False
            try:
                data = conn.sock.recv(1 << 20)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            except BlockingIOError:
                continue
            if not data:
                self.on_close(conn)
                return True
            conn.inbox += data
            while len(conn.inbox) >= 4:
                (size,) = struct.unpack_from(">i", conn.inbox, 0)
                if not 0 <= size <= 64 << 20:
                    self.violation(None, f"response size prefix {size}")
                    conn.desynced = True
                    conn.inbox.clear()
                    break
                if len(conn.inbox) < 4 + size:
                    break
                body = bytes(conn.inbox[4 : 4 + size])
                del conn.inbox[: 4 + size]
                self.on_response(conn, body)
        return True

    def send(self, conn: FuzzConnection, payload: bytes) -> None:
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(2.0)
            conn.sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.on_close(conn)
        except TimeoutError:
            self.stats["send_timeouts"] += 1
            conn.desynced = True  # part of a frame may have gone: framing is lost
        finally:
            if not conn.closed:
                conn.sock.setblocking(False)

    def drop(self, conn: FuzzConnection) -> None:
        conn.sock.close()
        self.connections.remove(conn)

    def close_all(self) -> None:
        for conn in list(self.connections):
            self.drop(conn)


def frame_payload(rng: random.Random, body: bytes) -> tuple[bytes, bool]:
    """The bytes to send for `body`: a consistent size prefix, or (sometimes) a wrong one."""
    if rng.random() >= INCONSISTENT:
        return struct.pack(">i", len(body)) + body, True
    size = rng.choice(
        (
            len(body) + rng.randint(1, 64),
            max(0, len(body) - rng.randint(1, 16)),
            -1,
            -(2**31),
            0,
            3,
            MAX_REQUEST + 1,
            2**31 - 1,
        )
    )
    return struct.pack(">i", size) + body, False


# -- the run -------------------------------------------------------------------------------------------------


def run_fuzz(broker: BrokerProcess, seed: int, frames: int, budget_s: float, check: Callable[[str], None]) -> Fuzzer:
    rng = random.Random(seed)
    named = seed_frames()
    mutator = Mutator(rng, [frame for _, frame in named])
    served = {key: (low, high) for key, low, high in api_versions_roundtrip(broker.port)}
    fuzzer = Fuzzer(broker.port, served)
    start = time.monotonic()
    index = 0
    while index < frames and time.monotonic() - start < budget_s:
        if len(fuzzer.connections) < CONNECTIONS:
            fuzzer.connections.append(fuzzer.connect())
        conn = rng.choice(fuzzer.connections)
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            if conn.closed or index >= frames:
                break
            name, seed_frame = rng.choice(named)
            body, ops = mutator.mutate(seed_frame)
            if heavy(body):
                fuzzer.stats["heavy_skipped"] += 1
                continue
            if len(body) >= 8:
                body = body[:4] + struct.pack(">i", index + 1) + body[8:]  # unique correlation ids
            payload, consistent = frame_payload(rng, body)
            expect = expectation(body, served) if consistent else "-"
            sent = Sent(index, index + 1, expect, f"{name} {ops}{'' if consistent else ' bad-size'}", body)
            if expect.startswith(DECODER_CRASH):
                crash = expect[len(DECODER_CRASH) + 1 :]
                fuzzer.violation(sent, f"the generated codecs raised {crash}, not ProtocolError")
                sent.expect = expect = CLOSE
            fuzzer.stats[f"expect_{expect}"] += 1
            if not consistent:
                conn.desynced = True
            elif not conn.desynced:
                conn.pending.append(sent)
            index += 1
            conn.frames += 1
            fuzzer.send(conn, payload)
        if not conn.closed and not fuzzer.pump(conn, WAIT_S):
            fuzzer.stats["stalled"] += 1
            fuzzer.drop(conn)  # a parked request (long poll, join) or a frame still waiting for its bytes
        elif conn.closed or conn.frames >= FRAMES_PER_CONNECTION or (conn.desynced and rng.random() < 0.3):
            fuzzer.drop(conn)
        if index % CHECK_EVERY < 3 and index >= CHECK_EVERY and fuzzer.stats["checked"] < index // CHECK_EVERY:
            fuzzer.stats["checked"] += 1
            check(f"after {index} frames")
        if len(fuzzer.violations) > 20:
            break
    fuzzer.stats["frames"] = index
    fuzzer.stats["elapsed_s"] = round(time.monotonic() - start)
    fuzzer.close_all()
    return fuzzer


def fuzz_broker(broker_factory: Callable[..., BrokerProcess], seed: int, frames: int, budget_s: float) -> None:
    print(f"live fuzz: seed {seed} (ODRADEK_FUZZ_SEED={seed} to repeat), {frames} frames, budget {budget_s:.0f} s")
    broker = broker_factory(
        {
            "socket.request.max.bytes": str(MAX_REQUEST),
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.num.partitions": "1",
        }
    )
    precious = f"precious-{seed}"
    ck_create_topic(broker.bootstrap, precious)
    ck_create_topic(broker.bootstrap, SEED_TOPIC)
    # The golden Produce frames write to "golden": compacted and LogAppendTime there, so that their mutations go
    # through the validator's decoding paths (per-record checks, keys, timestamps) while the built frames take the
    # default fast path.
    ck_create_topic(
        broker.bootstrap, GOLDEN_TOPIC, config={"cleanup.policy": "compact", "message.timestamp.type": "LogAppendTime"}
    )
    acked = ck_produce(broker.bootstrap, precious, PRECIOUS, extra={"acks": "all"})
    assert [offset for _, offset, _ in acked] == list(range(len(PRECIOUS)))
    ck_produce(broker.bootstrap, SEED_TOPIC, [b"seed-%d" % i for i in range(20)], extra={"acks": "all"})
    with raw_connect(broker.port) as sock:  # __consumer_offsets exists before the baseline is taken
        assert raw_call(sock, 10, 3, FindCoordinatorRequest(key=SEED_GROUP, key_type=0)) is not None
    time.sleep(0.5)
    base_rss, base_fds, base_partitions = rss_kib(broker.pid), fd_count(broker.pid), partition_count(broker.port)
    print(f"baseline: VmRSS {base_rss} KiB, {base_fds} fds, {base_partitions} partitions")

    def check(when: str, open_connections: int = CONNECTIONS) -> None:
        assert broker.alive(), f"broker died {when} (seed {seed}):\n{broker.tail()}"
        apis = api_versions_roundtrip(broker.port)
        assert any(key == 0 for key, _, _ in apis), f"ApiVersions {when}: no Produce"
        problems = log_problems(broker)
        assert not problems, f"broker log {when} (seed {seed}):\n" + "\n".join(problems[:40]) + "\n" + broker.tail()
        grown = partition_count(broker.port) - base_partitions
        rss, fds = rss_kib(broker.pid), fd_count(broker.pid)
        rss_bound = base_rss + RSS_GROWTH_KIB + PER_PARTITION_KIB * grown
        fd_bound = base_fds + open_connections + FD_SLACK + FDS_PER_PARTITION * grown
        print(f"{when}: VmRSS {rss} KiB (bound {rss_bound}), {fds} fds (bound {fd_bound}), {grown} new partitions")
        assert rss <= rss_bound, f"VmRSS {rss} KiB > {rss_bound} KiB {when} (seed {seed})"
        assert fds <= fd_bound, f"{fds} open fds > {fd_bound} {when} (seed {seed})"

    fuzzer = run_fuzz(broker, seed, frames, budget_s, check)
    print(f"live fuzz: {dict(sorted(fuzzer.stats.items()))}")
    assert not fuzzer.violations, f"seed {seed}: {len(fuzzer.violations)} violations:\n" + "\n".join(
        fuzzer.violations[:20]
    )
    assert fuzzer.stats["frames"] >= min(frames, 1000), f"only {fuzzer.stats['frames']} frames sent within budget"
    # Connections are all closed: what they held must be released (bounded wait: parked requests end).
    deadline = time.monotonic() + 10
    while True:
        try:
            check("at the end", open_connections=0)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    got = ck_consume(broker.bootstrap, precious, len(PRECIOUS))
    assert [(m.offset(), m.value()) for m in got] == list(enumerate(PRECIOUS)), "records acknowledged before lost"
    after = ck_produce(broker.bootstrap, precious, [b"after-fuzz"], extra={"acks": "all"})
    assert [m.value() for m in ck_consume(broker.bootstrap, precious, 1, offset=after[0][1])] == [b"after-fuzz"]
    check("after the final produce and consume", open_connections=0)


@pytest.mark.timeout(120)
def test_live_fuzz(broker_factory: Callable[..., BrokerProcess]) -> None:
    seed = int(os.environ.get("ODRADEK_FUZZ_SEED", DEFAULT_SEED))
    fuzz_broker(broker_factory, seed, frames=int(os.environ.get("ODRADEK_FUZZ_FRAMES", DEFAULT_FRAMES)), budget_s=20)


@pytest.mark.slow  # deselected unless ODRADEK_SLOW=1 (tests/conftest.py)
@pytest.mark.timeout(1200)
def test_live_fuzz_long(broker_factory: Callable[..., BrokerProcess]) -> None:
    seed = int(os.environ.get("ODRADEK_FUZZ_SEED", 0)) or random.SystemRandom().randrange(1, 2**31)
    fuzz_broker(broker_factory, seed, frames=int(os.environ.get("ODRADEK_FUZZ_FRAMES", SLOW_FRAMES)), budget_s=900)
