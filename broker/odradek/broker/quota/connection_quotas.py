"""Kafka's ConnectionQuotas (KIP-402): how many connections the broker, each listener and each client address hold.

- ``max.connections`` (broker-wide) and ``listener.name.<l>.max.connections`` (one listener): a new connection above
  either waits, unserved, until another closes (Kafka stops accepting and leaves it in the listen backlog; here it is
  accepted at the TCP level and nothing is read from it meanwhile). Connections on the inter-broker listener are
  let in above the broker-wide limit (they still count), as Kafka allows them; Kafka also closes the least recently
  used connection of another listener then, which is not done here.
- ``max.connection.creation.rate`` (broker-wide, not counting the inter-broker listener) and
  ``listener.name.<l>.max.connection.creation.rate`` (one listener, the inter-broker one included): each new
  connection is recorded into a rate measured as client quotas are (``rate.Rate``); above a limit the connection
  waits the larger throttle time (``(rate - limit) / limit * window``) before it is served, as Kafka's acceptor
  waits before accepting more (KIP-612).
- ``max.connections.per.ip`` with ``max.connections.per.ip.overrides``: a connection that would exceed its address's
  count, over all listeners, is closed at once (Kafka's TooManyConnectionsException).

Single-threaded (the event loop); ``acquire`` and ``release`` pair up for every admitted connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from odradek.broker.quota.rate import MetricConfig, Rate
from odradek.broker.utils.time import SystemTime, Time

INT_MAX = 2**31 - 1


def parse_overrides(value: str | None) -> dict[str, int]:
    """``max.connections.per.ip.overrides``: ``host:count`` pairs separated by commas (ValueError if malformed)."""
    out: dict[str, int] = {}
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        host, colon, count = item.rpartition(":")
        if not colon or not host or not count.strip().isdigit():
            raise ValueError(f"Invalid max.connections.per.ip.overrides entry {item!r} (expected host:count)")
        out[host.strip()] = int(count)
    return out


class ConnectionQuotas:
    def __init__(
        self,
        max_connections: int = INT_MAX,
        max_connections_per_ip: int = INT_MAX,
        per_ip_overrides: Mapping[str, int] | None = None,
        listener_max_connections: Mapping[str, int] | None = None,
        inter_broker_listener: str | None = None,
        *,
        max_connection_creation_rate: int = INT_MAX,
        listener_max_connection_creation_rate: Mapping[str, int] | None = None,
        time: Time | None = None,
        rate_config: MetricConfig | None = None,
    ) -> None:
        self._max = max_connections
        self._per_ip = max_connections_per_ip
        self._overrides = dict(per_ip_overrides or {})
        self._listener_max = dict(listener_max_connections or {})
        self._inter_broker = inter_broker_listener
        self.total = 0
        self.by_listener: dict[str, int] = {}
        self.by_address: dict[str, int] = {}
        self._waiters: list[asyncio.Future[None]] = []  # connections waiting for a slot, woken by every release
        self._time: Time = time or SystemTime()
        self._rate_config = rate_config or MetricConfig()
        self._max_rate = max_connection_creation_rate
        self._listener_max_rate = dict(listener_max_connection_creation_rate or {})
        self._broker_rate = Rate(self._rate_config)
        self._listener_rates: dict[str, Rate] = {}

    def max_for_address(self, host: str) -> int:
        return self._overrides.get(host, self._per_ip)

    def _slot_free(self, listener: str) -> bool:
        if self.by_listener.get(listener, 0) >= self._listener_max.get(listener, INT_MAX):
            return False
        return listener == self._inter_broker or self.total < self._max

    async def acquire(self, listener: str, host: str) -> bool:
        """Waits for a broker and listener slot, then counts the connection; False (not counted: close it) if its
        address already holds its maximum."""
        while not self._slot_free(listener):
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        throttle_ms = self.record_connection_and_get_throttle_time_ms(listener)
        if throttle_ms > 0:
            await self._time.sleep(throttle_ms)
            while not self._slot_free(listener):  # others may have taken the slot meanwhile
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
        if self.by_address.get(host, 0) >= self.max_for_address(host):
            return False
        self.total += 1
        self.by_listener[listener] = self.by_listener.get(listener, 0) + 1
        self.by_address[host] = self.by_address.get(host, 0) + 1
        return True

    def record_connection_and_get_throttle_time_ms(self, listener: str) -> int:
        """Kafka's ConnectionQuotas.recordConnectionAndGetThrottleTimeMs: the listener's rate, and the broker's for
        any listener but the inter-broker one; the larger throttle time."""
        now = self._time.monotonic_ms()
        limits: list[tuple[Rate, int]] = []
        listener_limit = self._listener_max_rate.get(listener, INT_MAX)
        if listener_limit < INT_MAX:
            rate = self._listener_rates.get(listener)
            if rate is None:
                rate = self._listener_rates[listener] = Rate(self._rate_config)
            limits.append((rate, listener_limit))
        if listener != self._inter_broker and self._max_rate < INT_MAX:
            limits.append((self._broker_rate, self._max_rate))
        throttle = 0.0
        for rate, limit in limits:
            rate.record(1.0, now)
            measured = rate.measure(now)
            if measured > limit:
                window = rate.window_size_ms(now)
                throttle = max(throttle, window if limit <= 0 else (measured - limit) / limit * window)
        return round(throttle)

    def release(self, listener: str, host: str) -> None:
        self.total -= 1
        self.by_listener[listener] -= 1
        self.by_address[host] -= 1
        if not self.by_address[host]:
            del self.by_address[host]
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
