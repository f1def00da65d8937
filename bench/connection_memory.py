#!/usr/bin/env python3
"""Broker memory over cycles of opening and closing connections (issue 11): leak or allocator fragmentation?

    python bench/connection_memory.py                       # every protocol, 4 cycles of 1,000 connections
    python bench/connection_memory.py --quick               # 2 cycles of 200
    python bench/connection_memory.py --protocols sasl_ssl --cycles 6 --tracemalloc
    python bench/connection_memory.py --env MALLOC_ARENA_MAX=2 --trim

For each security protocol (plaintext, sasl_plaintext, ssl, sasl_ssl) a broker of its own (bench/run.py's
broker_process, wrapped by bench/memory_probe.py) gets `--cycles` cycles: N connections opened one after the other
from this process (TLS handshake where the protocol has TLS; SaslHandshake v1 + SaslAuthenticate v1 with PLAIN
where it has SASL; then one ApiVersions each, with a client id of its own per connection under
`--distinct-client-ids`), held, all closed, `--settle` seconds of quiet (7: the broker trims its heap 5 s after TLS
connections close, odradek.broker.utils.heap), then the probe's figures: the objects only the cyclic garbage
collector could free (what closed connections left in reference cycles, collected by that probe), VmRSS, glibc's
heap (mallinfo2: bytes in use and free inside the arenas), pymalloc's arenas, live Python objects
(gc.get_objects() after gc.collect(), per type), and with `--tracemalloc` the traced size and a snapshot whose top
growth against the first cycle's is printed (tracemalloc slows the broker and its own bookkeeping costs RSS: read
RSS from runs without it). `--trim` calls malloc_trim(0) in the broker after the last cycle and prints the RSS it
gives back. `--env K=V` sets an environment variable of the broker (MALLOC_ARENA_MAX=2). `--ping`: while
settling, ApiVersions round trips every 2 ms on a plaintext connection, their maximum in the first second (the closes
themselves) and after it (the trim included). A JSON goes to
bench/out/connection-memory-*.json.

What a leak looks like: live objects or traced bytes growing by about N times something per cycle. What
fragmentation looks like: objects and traced bytes back at their baseline, RSS higher, the growth inside glibc's
arenas as free bytes (`fordblks`), and malloc_trim giving it back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import ssl
import struct
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import run
from run import HERE, REPO, broker_process, free_port, read_frame, request_frame, write_result

sys.path.insert(0, str(REPO / "tests" / "integration"))
from security_support import PLAIN_JAAS, Pki, tls_overrides

PROTOCOLS = ("plaintext", "sasl_plaintext", "ssl", "sasl_ssl")


def probe(port: int, command: str) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock, sock.makefile("rw") as stream:
        stream.write(command + "\n")
        stream.flush()
        result: dict[str, Any] = json.loads(stream.readline())
    if "error" in result:
        raise RuntimeError(f"probe {command!r}: {result['error']}")
    return result


def wait_probe(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            probe(port, "trim")  # harmless, and answers once the probe listens
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _error_code(frame: bytes) -> int:
    return int(struct.unpack_from(">h", frame, 4)[0])


def open_connection(port: int, context: ssl.SSLContext | None, sasl: bool, client_id: bytes) -> socket.socket:
    sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=30)
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname="localhost")
    if sasl:
        mechanism = b"PLAIN"
        sock.sendall(request_frame(17, 1, 1, struct.pack(">h", len(mechanism)) + mechanism, client_id))
        if (code := _error_code(read_frame(sock))) != 0:
            raise RuntimeError(f"SaslHandshake answered error {code}")
        token = b"\0alice\0alice-secret"
        sock.sendall(request_frame(36, 1, 2, struct.pack(">i", len(token)) + token, client_id))
        if (code := _error_code(read_frame(sock))) != 0:
            raise RuntimeError(f"SaslAuthenticate answered error {code}")
    sock.sendall(request_frame(18, 0, 3, b"", client_id))
    if (code := _error_code(read_frame(sock))) != 0:
        raise RuntimeError(f"ApiVersions answered error {code}")
    return sock


def ping_for(port: int, seconds: float) -> list[tuple[float, float]]:
    """ApiVersions on one plaintext connection every 2 ms for `seconds`: (seconds since the start, round trip ms)."""
    samples: list[tuple[float, float]] = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        start = time.monotonic()
        while (now := time.monotonic()) - start < seconds:
            began = time.perf_counter()
            sock.sendall(request_frame(18, 0, 4, b"", b"ping"))
            read_frame(sock)
            samples.append((now - start, (time.perf_counter() - began) * 1000))
            time.sleep(0.002)
    return samples


def overrides(protocol: str, pki: Pki) -> dict[str, str]:
    out: dict[str, str] = {}
    if protocol in ("ssl", "sasl_ssl"):
        out.update(tls_overrides(pki, f"listener.name.{protocol}."))
    if protocol in ("sasl_plaintext", "sasl_ssl"):
        out[f"listener.name.{protocol}.sasl.enabled.mechanisms"] = "PLAIN"
        out[f"listener.name.{protocol}.plain.sasl.jaas.config"] = PLAIN_JAAS
    return out


def summary(stats: dict[str, Any]) -> str:
    heap = stats.get("mallinfo") or {}
    traced = stats.get("traced_bytes")
    text = f"RSS {stats['rss_kib'] / 1024:7.1f} MiB"
    if heap:
        text += f", malloc in use {heap['uordblks'] / 2**20:.1f} MiB, free {heap['fordblks'] / 2**20:.1f} MiB"
    small = stats.get("pymalloc") or {}
    if small:
        text += (
            f", pymalloc {small['arenas']} arenas, {small['allocated_bytes'] / 2**20:.1f} MiB in blocks, "
            f"{(small['available_bytes'] + small.get('unused_pool_bytes', 0)) / 2**20:.1f} MiB free"
        )
    text += f", {stats['objects']:,} objects"
    if traced is not None:
        text += f", traced {traced / 2**20:.2f} MiB"
    return text


def type_growth(first: dict[str, int], last: dict[str, int], top: int = 8) -> list[tuple[str, int]]:
    growth = {name: last.get(name, 0) - first.get(name, 0) for name in set(first) | set(last)}
    return sorted(((n, d) for n, d in growth.items() if d), key=lambda item: -abs(item[1]))[:top]


def run_protocol(protocol: str, args: argparse.Namespace, pki: Pki, work: Path) -> dict[str, Any]:
    port, probe_port = free_port(), free_port()
    listener = f"{protocol.upper()}://127.0.0.1:{port}"
    env = dict(item.split("=", 1) for item in args.env)
    if args.tracemalloc:
        env["PYTHONTRACEMALLOC"] = "10"
        run.BROKER_START_TIMEOUT_S = max(run.BROKER_START_TIMEOUT_S, 180.0)  # tracing slows the start-up
    tls = ssl.create_default_context(cafile=str(pki.ca_path)) if "ssl" in protocol else None
    sasl = protocol.startswith("sasl")
    cycles: list[dict[str, Any]] = []
    snapshots: list[Path] = []
    (work / protocol).mkdir(parents=True, exist_ok=True)
    extra = [listener] if protocol != "plaintext" else []
    with broker_process(
        work / protocol / "logs",
        work / protocol / "broker.log",
        overrides=[f"{k}={v}" for k, v in overrides(protocol, pki).items()],
        extra_listeners=extra,
        program=[str(HERE / "memory_probe.py"), str(probe_port)],
        env_overrides=env,
    ) as (bootstrap, _pid):
        if protocol == "plaintext":
            port = int(bootstrap.rsplit(":", 1)[1])
        wait_probe(probe_port)
        # One connection first, so that what every first connection builds once (imports, caches) is in the baseline.
        open_connection(port, tls, sasl, b"warm-up").close()
        time.sleep(args.settle)
        baseline = probe(probe_port, "stats")
        print(f"{protocol:>15} baseline: {summary(baseline)}", flush=True)
        for cycle in range(args.cycles):
            held: list[socket.socket] = []
            start = time.perf_counter()
            try:
                for i in range(args.connections):
                    client_id = f"client-{cycle}-{i}".encode() if args.distinct_client_ids else b"bench"
                    held.append(open_connection(port, tls, sasl, client_id))
                opened_s = time.perf_counter() - start
                with_connections = probe(probe_port, "stats")
            finally:
                for sock in held:
                    with contextlib.suppress(OSError):
                        sock.close()
            if args.ping:
                samples = ping_for(int(bootstrap.rsplit(":", 1)[1]), args.settle)
                late = sorted(ms for t, ms in samples if t >= 1.0) or [0.0]
                pings = {
                    "count": len(samples),
                    "max_first_second_ms": max((ms for t, ms in samples if t < 1.0), default=0.0),
                    "max_after_ms": late[-1],
                    "median_after_ms": late[len(late) // 2],
                }
            else:
                time.sleep(args.settle)
            garbage = probe(probe_port, "garbage")  # before `stats`, whose gc.collect() would free it unseen
            after = probe(probe_port, "stats")
            after["cyclic_garbage"] = garbage
            if args.malloc_info:
                probe(probe_port, f"malloc_info {args.malloc_info}/{protocol}-{cycle}.xml")
            if args.tracemalloc:
                path = work / f"{protocol}-{cycle}.snapshot"
                probe(probe_port, f"snapshot {path}")
                snapshots.append(path)
            cycles.append({"opened_s": opened_s, "held": with_connections, "closed": after})
            if args.ping:
                cycles[-1]["pings"] = pings
                print(
                    f"{protocol:>15} cycle {cycle}: ApiVersions round trips after the closes (the trim runs at 5 s): "
                    f"max {pings['max_first_second_ms']:.1f} ms in the first second, then max "
                    f"{pings['max_after_ms']:.1f} ms, median {pings['median_after_ms']:.2f} ms "
                    f"({pings['count']} pings)",
                    flush=True,
                )
            print(
                f"{protocol:>15} cycle {cycle}: {args.connections} opened in {opened_s:5.1f} s; held: "
                f"RSS {with_connections['rss_kib'] / 1024:.1f} MiB; closed: {summary(after)}; "
                f"{garbage['collected']:,} objects in reference cycles",
                flush=True,
            )
        trim = probe(probe_port, "trim") if args.trim else None
        if trim:
            print(
                f"{protocol:>15} malloc_trim(0): RSS {trim['rss_before_kib'] / 1024:.1f} -> "
                f"{trim['rss_after_kib'] / 1024:.1f} MiB in {trim['ms']:.1f} ms",
                flush=True,
            )
    first, last = cycles[0]["closed"], cycles[-1]["closed"]
    per_cycle = max(1, len(cycles) - 1)
    rss_growth_kib = (last["rss_kib"] - first["rss_kib"]) / per_cycle
    result: dict[str, Any] = {
        "protocol": protocol,
        "baseline": baseline,
        "cycles": cycles,
        "trim": trim,
        "rss_growth_kib_per_cycle_after_the_first": rss_growth_kib,
        "rss_growth_kib_per_connection_and_cycle": rss_growth_kib / args.connections,
        "object_growth_per_cycle_after_the_first": (last["objects"] - first["objects"]) / per_cycle,
        "type_growth_first_to_last_cycle": type_growth(first["types"], last["types"]),
    }
    print(
        f"{protocol:>15}: after the first cycle, RSS {rss_growth_kib:+.0f} KiB a cycle "
        f"({result['rss_growth_kib_per_connection_and_cycle']:+.2f} KiB per connection), live objects "
        f"{result['object_growth_per_cycle_after_the_first']:+.0f} a cycle; types that changed: "
        f"{result['type_growth_first_to_last_cycle']}",
        flush=True,
    )
    if len(snapshots) >= 2:
        older, newer = tracemalloc.Snapshot.load(str(snapshots[0])), tracemalloc.Snapshot.load(str(snapshots[-1]))
        top = newer.compare_to(older, "traceback")[:6]
        result["tracemalloc_top_growth"] = [str(stat) for stat in top]
        print(f"{protocol:>15}: tracemalloc, last cycle against the first (top growth by traceback):")
        for stat in top:
            print(f"    {stat}")
            for line in stat.traceback.format()[-6:]:
                print(f"      {line}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 cycles of 200 connections")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--connections", type=int, default=1_000)
    parser.add_argument("--distinct-client-ids", action="store_true", help="a client id of its own per connection")
    parser.add_argument("--tracemalloc", action="store_true", help="trace the broker's allocations (slower)")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) in the broker after the last cycle")
    parser.add_argument(
        "--settle", type=float, default=7.0, help="seconds of quiet after closing (the broker trims after 5 s)"
    )
    parser.add_argument(
        "--ping", action="store_true", help="ApiVersions every 2 ms while settling: does the trim stall the broker?"
    )
    parser.add_argument("--malloc-info", metavar="DIR", help="write glibc's malloc_info XML after each cycle")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="broker environment")
    args = parser.parse_args(argv)
    if args.quick:
        args.cycles, args.connections = 2, 200
    results: dict[str, Any] = {"args": vars(args), "protocols": {}}
    with tempfile.TemporaryDirectory(prefix="odradek-connection-memory-") as tmp:
        work = Path(tmp)
        pki = Pki(work / "pki")
        for protocol in args.protocols.split(","):
            results["protocols"][protocol] = run_protocol(protocol, args, pki, work)
    write_result(HERE / "out", "connection-memory", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
