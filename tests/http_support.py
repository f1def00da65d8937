"""A local aiohttp server for the HTTP sink's tests, in a thread of the test process, on a free port of 127.0.0.1.

`RecordingServer().start()` serves every path: the first `fail_first[path]` requests to a path get
`fail_status[path]` (default 503), paths in `always[path]` always get that status, everything else 200. Every
request is recorded as a `Seen(method, path, raw_path, headers, body, status)`, in arrival order; `stop()` shuts
the server and its loop down.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str
    raw_path: str  # as sent, percent-encoding kept
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class RecordingServer:
    fail_first: dict[str, int] = field(default_factory=dict)
    fail_status: dict[str, int] = field(default_factory=dict)
    always: dict[str, int] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.runner: Any = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.read()
        with self.lock:
            earlier = sum(1 for s in self.seen if s.path == request.path)
            if request.path in self.always:
                status = self.always[request.path]
            elif earlier < self.fail_first.get(request.path, 0):
                status = self.fail_status.get(request.path, 503)
            else:
                status = 200
            self.seen.append(Seen(request.method, request.path, request.raw_path, dict(request.headers), body, status))
        return web.Response(status=status, text="ok" if status == 200 else f"failing with {status}")

    def start(self) -> RecordingServer:
        from aiohttp import web

        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = self.runner.addresses[0][1]
            ready.set()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            self.loop.run_until_complete(serve())
            self.loop.run_forever()
            self.loop.run_until_complete(self.runner.cleanup())
            self.loop.close()

        self.thread = threading.Thread(target=run, name="http-test-server", daemon=True)
        self.thread.start()
        if not ready.wait(15):
            raise RuntimeError("the test HTTP server did not start within 15 s")
        return self

    def stop(self) -> None:
        if self.loop is not None and self.thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=15)

    def requests_to(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == path]
