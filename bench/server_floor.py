#!/usr/bin/env python3
"""The socket layer's floor (issue 15 item 7): `KafkaServer` with an echo dispatcher, no Kafka work at all.

    python bench/server_floor.py                      # 10 connections, 1 and 64 requests in flight, 6 s each
    python bench/server_floor.py --in-flight 4 --checkout DIR   # the server of another source tree
    python bench/server_floor.py --baseline DIR --rounds 3      # DIR's server and this tree's, alternating

The server runs in its own process (uvloop, `--checkout`'s broker/ first on PYTHONPATH); ten client threads here
each keep N requests of 128 bytes in flight on one connection (a new request for every response; N = 1 is the
synchronous case), and the server's CPU time (/proc) per request answered is printed with the rate. This is what
every request costs before any handler runs: framing, the per-connection loop, one recv and one send per
request (N = 1) or per run of coalesced responses.

With `--baseline DIR` (another source tree: `git archive <rev> broker | tar -x -C DIR`) both servers are measured in
alternating rounds (order reversed every other round, a fresh server process each run), and the medians per tree
are printed with the ratio this tree / baseline, measured side by side under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONNECTIONS = 10
BODY = struct.pack(">hhi", 8, 8, 7) + b"\x00" * 120
REQUEST = struct.pack(">i", len(BODY)) + BODY
RESPONSE_SIZE = 4 + 4 + 16


def serve() -> None:
    import uvloop
    from odradek.broker.server import KafkaServer, ServerLimits

    async def echo(frame: memoryview, connection: object) -> Sequence[bytes]:
        return [bytes(frame[4:8]) + b"\x00" * 16]  # the correlation id and a small body

    async def main() -> None:
        server = KafkaServer(echo, ServerLimits(max_request_bytes=1 << 20, idle_timeout_s=600.0))  # type: ignore[arg-type]
        print(await server.start("127.0.0.1", 0), flush=True)
        await asyncio.sleep(3600)

    uvloop.run(main())


def client(port: int, in_flight: int, seconds: float, counts: list[int], index: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        end = time.monotonic() + seconds
        sock.sendall(REQUEST * in_flight)
        buffered = 0
        while time.monotonic() < end:
            buffered += len(sock.recv(65536))
            done, buffered = divmod(buffered, RESPONSE_SIZE)
            counts[index] += done
            if done:
                sock.sendall(REQUEST * done)  # keep `in_flight` outstanding


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(checkout: Path, in_flight: int, seconds: float, name: str = "") -> tuple[float, float]:
    """One run of `checkout`'s server: (requests/s, server us CPU per request), printed."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(checkout / "broker"), os.environ.get("PYTHONPATH")]))
    )
    proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        counts = [0] * CONNECTIONS
        threads = [
            threading.Thread(target=client, args=(port, in_flight, seconds, counts, i)) for i in range(CONNECTIONS)
        ]
        before = cpu_s(proc.pid)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        used, answered = cpu_s(proc.pid) - before, sum(counts)
        rate, cost = answered / seconds, 1e6 * used / max(answered, 1)
        print(
            f"{name}{in_flight:3d} in flight per connection: {rate:8.0f} requests/s, server"
            f" {cost:5.1f} us CPU per request ({100 * used / seconds:.0f}% of a core)",
            flush=True,
        )
        return rate, cost
    finally:
        proc.kill()
        proc.wait()


def compare(baseline: Path, in_flight: int, seconds: float, rounds: int) -> None:
    """`baseline`'s server and this tree's in alternating rounds; medians and the ratio this tree / baseline."""
    trees = {"baseline": baseline, "this tree": REPO}
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for round_no in range(rounds):
        for name in list(trees) if round_no % 2 == 0 else list(reversed(trees)):
            runs[name].append(measure(trees[name], in_flight, seconds, f"round {round_no} {name:>9}: "))
    medians = {
        name: (statistics.median(r for r, _ in mine), statistics.median(c for _, c in mine))
        for name, mine in runs.items()
    }
    for name, (rate, cost) in medians.items():
        print(f"median {name:>9} {in_flight:3d} in flight: {rate:8.0f} requests/s, {cost:5.1f} us CPU per request")
    (base_rate, base_cost), (rate, cost) = medians["baseline"], medians["this tree"]
    print(
        f"ratio this tree / baseline, {in_flight} in flight: {rate / base_rate:.3f} x requests/s,"
        f" {cost / base_cost:.3f} x CPU per request",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--in-flight", type=int, action="append", help="requests in flight per connection (1, 64)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--checkout", type=Path, default=REPO, help="the source tree whose server is measured")
    parser.add_argument("--baseline", type=Path, help="compare with this source tree's server, alternating rounds")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the --baseline comparison (default 3)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0
    for in_flight in args.in_flight or [1, 64]:
        if args.baseline is not None:
            compare(args.baseline.resolve(), in_flight, args.seconds, args.rounds)
        else:
            measure(args.checkout.resolve(), in_flight, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
