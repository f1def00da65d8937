"""Kafka's ClientQuotaManager and ClientRequestQuotaManager: what a request costs against its quota, and for how
long its connection is throttled.

- ``record_and_get_throttle_time_ms(user, client_id, value)`` records ``value`` (bytes for PRODUCE and FETCH, a
  percentage of one second of handler time for REQUEST) into the rate the request's quota is kept under
  (``entity.resolve``), then measures it. Above the quota the throttle time is Kafka's:
  ``(rate - quota) / quota * window`` ms, where ``window`` is the rate's measured window (``rate.Rate``); the REQUEST
  quota's is at most one quota window (``quota.window.size.seconds``), as in Kafka.
- Nothing is recorded while no quota of the type exists anywhere (Kafka's ``quotasEnabled``): unquoted brokers pay
  nothing per request.
- ``record_throttle`` keeps the throttle-time average Kafka exports; ``unrecord`` takes back a value that was not
  delivered (a throttled fetch answers without data).
- Rates of (user, client id) pairs idle for an hour are dropped (Kafka's inactive sensor expiration).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from odradek.broker.quota.entity import ClientQuotaEntity, QuotaType, ResolvedQuota, resolve
from odradek.broker.quota.rate import Avg, MetricConfig, Rate
from odradek.broker.utils.memo import BoundedMemo
from odradek.broker.utils.time import Time

INACTIVE_SENSOR_EXPIRATION_MS = 3_600_000
_SWEEP_INTERVAL_MS = 60_000


@dataclass(frozen=True, slots=True)
class QuotaSensorStats:
    """One rate as Kafka exports it: ``kafka.server:type=<group>,user=<user>,client-id=<client_id>``."""

    group: str  # Produce, Fetch, Request
    metric: str  # byte-rate, request-time
    user: str
    client_id: str
    rate: float  # byte-rate (bytes/s) or request-time (percent)
    throttle_time_ms: float  # the mean throttle time over the quota window
    limit: float | None


class _Sensors:
    __slots__ = ("last_record_ms", "limit", "rate", "throttle")

    def __init__(self, config: MetricConfig, limit: float | None, now_ms: float) -> None:
        self.rate = Rate(config)
        self.throttle = Avg(config)
        self.limit = limit
        self.last_record_ms = now_ms


class ClientQuotaManager:
    def __init__(
        self, quota_type: QuotaType, time: Time, config: MetricConfig, max_throttle_ms: float | None = None
    ) -> None:
        self.quota_type = quota_type
        self._time = time
        self._config = config
        self._max_throttle_ms = max_throttle_ms
        self._quotas: Mapping[ClientQuotaEntity, float] = {}
        self._resolved: BoundedMemo[tuple[str, str], ResolvedQuota] = BoundedMemo(100_000)  # ids chosen by clients
        self._sensors: dict[tuple[str, str], _Sensors] = {}
        self._last_sweep_ms = time.monotonic_ms()

    @property
    def quotas_enabled(self) -> bool:
        return bool(self._quotas)

    def update_quotas(self, quotas: Mapping[ClientQuotaEntity, float]) -> None:
        """The quota values of this type in force (from the metadata image); rates already measured are kept."""
        self._quotas = dict(quotas)
        self._resolved.clear()  # each pair's limit is resolved again at its next record

    def resolve(self, user: str, client_id: str) -> ResolvedQuota:
        return self._resolved.get((user, client_id), lambda: resolve(self._quotas, user, client_id))

    def _sensors_of(self, user: str, client_id: str, now_ms: float) -> _Sensors:
        resolved = self.resolve(user, client_id)
        key = (resolved.user_tag, resolved.client_id_tag)
        sensors = self._sensors.get(key)
        if sensors is None:
            sensors = self._sensors[key] = _Sensors(self._config, resolved.limit, now_ms)
        else:
            sensors.limit = resolved.limit
        sensors.last_record_ms = now_ms
        return sensors

    def record_and_get_throttle_time_ms(self, user: str, client_id: str | None, value: float) -> int:
        if not self._quotas:
            return 0
        now = self._time.monotonic_ms()
        self._maybe_sweep(now)
        sensors = self._sensors_of(user, client_id or "", now)
        sensors.rate.record(value, now)
        limit = sensors.limit
        if limit is None:
            return 0
        rate = sensors.rate.measure(now)
        if rate <= limit:
            return 0
        return self._throttle_time_ms(rate, limit, sensors.rate.window_size_ms(now))

    def _throttle_time_ms(self, rate: float, limit: float, window_ms: float) -> int:
        if limit <= 0:
            throttle = self._max_throttle_ms if self._max_throttle_ms is not None else window_ms
        else:
            throttle = (rate - limit) / limit * window_ms
        if self._max_throttle_ms is not None:
            throttle = min(throttle, self._max_throttle_ms)
        return min(round(throttle), 2**31 - 1)

    def unrecord(self, user: str, client_id: str | None, value: float) -> None:
        if not self._quotas:
            return
        now = self._time.monotonic_ms()
        self._sensors_of(user, client_id or "", now).rate.record(-value, now)

    def record_throttle(self, user: str, client_id: str | None, throttle_ms: int) -> None:
        if not self._quotas:
            return
        now = self._time.monotonic_ms()
        self._sensors_of(user, client_id or "", now).throttle.record(throttle_ms, now)

    def max_value_in_quota_window(self, user: str, client_id: str | None) -> float:
        """The most a request may take in one go (Kafka caps a fetch's bytes to it): the quota over all windows."""
        limit = self.resolve(user, client_id or "").limit if self._quotas else None
        if limit is None:
            return math.inf
        return limit * self._config.samples * self._config.window_ms / 1000.0

    def stats(self) -> list[QuotaSensorStats]:
        """A snapshot (called from the metrics thread: the sensors are copied before they are read)."""
        if not self._quotas:
            return []
        now = self._time.monotonic_ms()
        group, metric = self.quota_type.group, self.quota_type.metric
        return [
            QuotaSensorStats(group, metric, user, client_id, s.rate.measure(now), s.throttle.measure(now), s.limit)
            for (user, client_id), s in sorted(list(self._sensors.items()))
        ]

    def _maybe_sweep(self, now_ms: float) -> None:
        if now_ms - self._last_sweep_ms < _SWEEP_INTERVAL_MS:
            return
        self._last_sweep_ms = now_ms
        for key in [k for k, s in self._sensors.items() if now_ms - s.last_record_ms >= INACTIVE_SENSOR_EXPIRATION_MS]:
            del self._sensors[key]


def request_percentage(handler_ms: float) -> float:
    """Handler time as a percentage of one second (Kafka's nanosToPercentage): 10 ms -> 1.0."""
    return handler_ms * 100.0 / 1000.0


class QuotaManagers:
    """The broker's quota managers (Kafka's QuotaFactory.QuotaManagers): produce and fetch byte rates, request time.
    ``controller_mutation_rate`` values are stored and described but not enforced."""

    def __init__(self, time: Time, samples: int = 11, window_seconds: int = 1) -> None:
        config = MetricConfig(samples, window_seconds * 1000)
        self.produce = ClientQuotaManager(QuotaType.PRODUCE, time, config)
        self.fetch = ClientQuotaManager(QuotaType.FETCH, time, config)
        self.request = ClientQuotaManager(QuotaType.REQUEST, time, config, max_throttle_ms=window_seconds * 1000)

    def update(self, quotas: Mapping[ClientQuotaEntity, Mapping[str, float]]) -> None:
        """All quota values in force, by entity and quota key."""
        for manager in (self.produce, self.fetch, self.request):
            key = manager.quota_type.key
            manager.update_quotas({entity: values[key] for entity, values in quotas.items() if key in values})

    def stats(self) -> list[QuotaSensorStats]:
        return [*self.produce.stats(), *self.fetch.stats(), *self.request.stats()]
