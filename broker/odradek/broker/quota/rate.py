"""Kafka's sampled statistics (org.apache.kafka.common.metrics): a value recorded into ``samples`` windows of
``window_ms``, as quota sensors use them (``quota.window.num`` = 11 windows of ``quota.window.size.seconds`` = 1).

Semantics copied from Kafka 3.x's SampledStat and Rate:

- ``samples + 1`` samples are kept in a ring; a record goes to the current sample unless it is complete (its start
  is ``window_ms`` or more ago), in which case the next sample of the ring is reset to start now.
- Before a measurement, samples whose last event is ``samples * window_ms`` or more ago are reset (obsolete).
- A rate is the sum of the samples divided by the elapsed time since the oldest sample's start, where fewer than
  ``samples - 1`` full windows count as ``samples - 1`` (so a first burst is not measured over a few
  milliseconds), and never less than 1 ms.
- A ``SimpleRate`` (the replication quotas' sensor) measures over the elapsed time since the oldest sample's start
  but at least one window: a first burst counts at once against the quota (Kafka's SimpleRate).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetricConfig:
    samples: int = 11
    window_ms: int = 1000


class _Sample:
    __slots__ = ("event_count", "last_event_ms", "start_ms", "value")

    def __init__(self, now_ms: float) -> None:
        self.reset(now_ms)

    def reset(self, now_ms: float) -> None:
        self.value = 0.0
        self.event_count = 0
        self.start_ms = now_ms
        self.last_event_ms = now_ms


class SampledStat:
    """The ring of samples (Kafka's SampledStat with a sum per sample)."""

    __slots__ = ("_current", "_samples", "config")

    def __init__(self, config: MetricConfig) -> None:
        self.config = config
        self._samples: list[_Sample] = []
        self._current = 0

    def record(self, value: float, now_ms: float) -> None:
        sample = self._current_sample(now_ms)
        if now_ms - sample.start_ms >= self.config.window_ms:
            sample = self._advance(now_ms)
        sample.value += value
        sample.event_count += 1
        sample.last_event_ms = now_ms

    def _current_sample(self, now_ms: float) -> _Sample:
        if not self._samples:
            self._samples.append(_Sample(now_ms))
        return self._samples[self._current]

    def _advance(self, now_ms: float) -> _Sample:
        self._current = (self._current + 1) % (self.config.samples + 1)
        if self._current >= len(self._samples):
            sample = _Sample(now_ms)
            self._samples.append(sample)
            return sample
        sample = self._samples[self._current]
        sample.reset(now_ms)
        return sample

    def purge_obsolete(self, now_ms: float) -> None:
        expire_age = self.config.samples * self.config.window_ms
        for sample in self._samples:
            if now_ms - sample.last_event_ms >= expire_age:
                sample.reset(now_ms)

    def total(self, now_ms: float) -> float:
        self.purge_obsolete(now_ms)
        return sum(s.value for s in self._samples)

    def count(self, now_ms: float) -> int:
        self.purge_obsolete(now_ms)
        return sum(s.event_count for s in self._samples)

    def oldest_start_ms(self, now_ms: float) -> float:
        if not self._samples:
            self._samples.append(_Sample(now_ms))
        return min(s.start_ms for s in self._samples)


class Rate:
    """Units per second over the samples (Kafka's Rate over a WindowedSum)."""

    __slots__ = ("stat",)

    def __init__(self, config: MetricConfig) -> None:
        self.stat = SampledStat(config)

    def record(self, value: float, now_ms: float) -> None:
        self.stat.record(value, now_ms)

    def window_size_ms(self, now_ms: float) -> float:
        """The elapsed time the rate is measured over (Kafka's Rate.windowSize)."""
        config = self.stat.config
        self.stat.purge_obsolete(now_ms)
        elapsed = now_ms - self.stat.oldest_start_ms(now_ms)
        full_windows = int(elapsed // config.window_ms)
        minimum = config.samples - 1
        if full_windows < minimum:
            elapsed += (minimum - full_windows) * config.window_ms
        return max(elapsed, 1.0)

    def measure(self, now_ms: float) -> float:
        total = self.stat.total(now_ms)
        return total / (self.window_size_ms(now_ms) / 1000.0)


class SimpleRate(Rate):
    """Units per second over the elapsed time since the oldest sample's start, at least one window (Kafka's
    SimpleRate: ReplicationQuotaManager's sensor)."""

    __slots__ = ()

    def window_size_ms(self, now_ms: float) -> float:
        self.stat.purge_obsolete(now_ms)
        elapsed = now_ms - self.stat.oldest_start_ms(now_ms)
        return max(elapsed, float(self.stat.config.window_ms))


class Avg:
    """The mean of the recorded values over the samples (Kafka's Avg; 0 with no value)."""

    __slots__ = ("stat",)

    def __init__(self, config: MetricConfig) -> None:
        self.stat = SampledStat(config)

    def record(self, value: float, now_ms: float) -> None:
        self.stat.record(value, now_ms)

    def measure(self, now_ms: float) -> float:
        count = self.stat.count(now_ms)
        return self.stat.total(now_ms) / count if count else 0.0
