"""kube-proxy's part for a process outside the pods (the operator under test, the test itself): a Service port
reached through a local port. `ServiceProxy(pick)` listens on 127.0.0.1 (a free port, `address`); each accepted
connection goes to the endpoint `pick()` names at that moment ("ip:port" of a ready pod, or "" when none is: the
connection is closed at once, as a Service without endpoints refuses), and bytes are copied both ways until either
side closes. `close()` stops listening and ends every open connection. Test-only.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

CONNECT_TIMEOUT_S = 5.0
CHUNK = 65536


class ServiceProxy:
    def __init__(self, pick: Callable[[], str]) -> None:
        self._pick = pick
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"proxy-{self.address}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        endpoint = self._pick()
        if not endpoint:
            client.close()
            return
        host, port = endpoint.rsplit(":", 1)
        try:
            upstream = socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            if self._closed.is_set():
                client.close()
                upstream.close()
                return
            self._open.update((client, upstream))
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join(30)
        with self._lock:
            self._open.discard(client)
            self._open.discard(upstream)
        client.close()
        upstream.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy until `source` ends; then end `target`'s sending side (the other direction may go on)."""
    with contextlib.suppress(OSError):
        while data := source.recv(CHUNK):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)
