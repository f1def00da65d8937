#!/usr/bin/env python3
"""A broker with a memory probe, for bench/connection_memory.py (never used by the broker itself).

    python bench/memory_probe.py PROBE_PORT [broker arguments ...]

Runs `python -m odradek.broker [broker arguments]` in this process, with a daemon thread listening on
127.0.0.1:PROBE_PORT. Each probe connection sends one line and gets one JSON line back:

  `stats`          VmRSS (KiB), glibc's mallinfo2 (arena bytes in use and free), tracemalloc's traced size, and
                   the count of live objects per type (gc.get_objects(), after gc.collect()), top 60
  `snapshot PATH`  a tracemalloc snapshot written to PATH (only when tracemalloc is tracing: PYTHONTRACEMALLOC=N)
  `garbage`        gc.collect() with DEBUG_SAVEALL: how many objects only the cyclic collector could free, by type
  `malloc_info PATH` glibc's malloc_info XML (per arena: free chunks by size, system bytes) written to PATH
  `trim`           glibc's malloc_trim(0), VmRSS before and after

The thread holds the GIL while it counts objects, so the broker pauses for that long; it is for measuring, not
for production.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import socket
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def mallinfo() -> dict[str, int]:
    """glibc's mallinfo2 over all arenas: `arena` bytes obtained with brk/mmap for the heaps, `uordblks` in use,
    `fordblks` free inside them (fragmentation holds RSS there), `hblkhd` in large mmapped blocks."""
    if not hasattr(_libc, "mallinfo2"):
        return {}
    _libc.mallinfo2.restype = _Mallinfo2
    info = _libc.mallinfo2()
    return {name: int(getattr(info, name)) for name, _ in _Mallinfo2._fields_}


def pymalloc() -> dict[str, int]:
    """Python's small-object allocator (sys._debugmallocstats, which writes to file descriptor 2: captured here
    for the moment): arenas allocated now (1 MiB each, mmapped, so outside mallinfo), bytes in allocated blocks,
    in available blocks and in unused pools (free memory pymalloc holds in arenas it cannot release)."""
    keys = {
        "# arenas allocated current": "arenas",
        "# arenas highwater mark": "arenas_highwater",
        "# bytes in allocated blocks": "allocated_bytes",
        "# bytes in available blocks": "available_bytes",
    }
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    out: dict[str, int] = {}
    for line in text.splitlines():
        head, _, value = line.partition("=")
        head = head.strip()
        if head in keys:
            out[keys[head]] = int(value.strip().replace(",", ""))
        elif head.endswith("unused pools * 16384 bytes"):
            out["unused_pool_bytes"] = int(value.strip().replace(",", ""))
    return out


def _type_name(kind: type) -> str:
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', kind.__name__)}"


def stats() -> dict[str, Any]:
    gc.collect()
    types = Counter(_type_name(type(o)) for o in gc.get_objects())
    traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None
    return {
        "rss_kib": rss_kib(),
        "mallinfo": mallinfo(),
        "pymalloc": pymalloc(),
        "traced_bytes": traced,
        "objects": sum(types.values()),
        "types": dict(types.most_common(60)),
        "threads": threading.active_count(),
    }


def handle(line: str) -> dict[str, Any]:
    command, _, argument = line.strip().partition(" ")
    if command == "stats":
        return stats()
    if command == "snapshot":
        if not tracemalloc.is_tracing():
            return {"error": "tracemalloc is not tracing (set PYTHONTRACEMALLOC)"}
        gc.collect()
        tracemalloc.take_snapshot().dump(argument)
        return {"path": argument}
    if command == "garbage":
        # What only the cyclic collector frees: the objects of reference cycles (kept for counting, then dropped).
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            found = gc.collect()
            kinds = Counter(_type_name(type(o)) for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        return {"collected": found, "types": dict(kinds.most_common(40))}
    if command == "malloc_info":
        _libc.fopen.restype = ctypes.c_void_p
        _libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        _libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        _libc.fclose.argtypes = [ctypes.c_void_p]
        stream = _libc.fopen(argument.encode(), b"w")
        _libc.malloc_info(0, stream)
        _libc.fclose(stream)
        return {"path": argument}
    if command == "trim":
        before = rss_kib()
        start = time.perf_counter()
        _libc.malloc_trim(0)
        took_ms = (time.perf_counter() - start) * 1000
        return {"rss_before_kib": before, "rss_after_kib": rss_kib(), "ms": took_ms}
    return {"error": f"unknown command {command!r}"}


def serve(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port))
    while True:
        conn, _ = listener.accept()
        with conn, conn.makefile("rw") as stream:
            try:
                answer = handle(stream.readline())
            except Exception as exc:  # a probe's failure is answered, and the probe keeps listening
                answer = {"error": repr(exc)}
            stream.write(json.dumps(answer) + "\n")
            stream.flush()


def main() -> int:
    port = int(sys.argv[1])
    threading.Thread(target=serve, args=(port,), name="memory-probe", daemon=True).start()
    from odradek.broker.__main__ import main as broker_main

    return broker_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
