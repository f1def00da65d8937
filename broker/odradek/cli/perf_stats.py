"""Statistics and output lines of the perf-test tools, in Kafka's exact formats.

Producer (ProducerPerformance): every 5 s a window line
`N records sent, X.X records/sec (Y.YY MB/sec), A.A ms avg latency, M.M ms max latency.`
and at the end
`N records sent, X.XXXXXX records/sec (Y.YY MB/sec), A.AA ms avg latency, M.MM ms max latency,
P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th.` (one line). Latencies are whole milliseconds;
at most 500,000 are kept (every `num_records // min(num_records, 500000)`-th); a percentile p is the sorted
sample at index int(p * size). MB means 1024 * 1024 bytes.

Consumer (ConsumerPerformance): the header
`start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec` and one row with times as `yyyy-MM-dd HH:mm:ss:SSS`.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MB = 1024.0 * 1024.0
REPORTING_INTERVAL_MS = 5000
CONSUMER_HEADER = (
    "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
    "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
)
DETAILED_CONSUMER_HEADER = (
    "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
    "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
)


def percentiles(samples: Sequence[int], *points: float) -> list[int]:
    """Kafka's percentile rule: sort, take the element at int(p * size). Empty input gives zeros."""
    ordered = sorted(samples)
    if not ordered:
        return [0 for _ in points]
    return [ordered[min(int(p * len(ordered)), len(ordered) - 1)] for p in points]


def _rate(amount: float, elapsed_ms: float) -> float:
    return 1000.0 * amount / elapsed_ms if elapsed_ms > 0 else math.inf if amount else 0.0


class ProducerStats:
    """Latency and throughput bookkeeping fed by delivery callbacks (times in ms from `clock_ms`)."""

    def __init__(self, num_records: int, clock_ms: Callable[[], float], emit: Callable[[str], None]) -> None:
        self._clock_ms = clock_ms
        self._emit = emit
        self.start_ms = clock_ms()
        self.sampling = max(1, num_records // max(1, min(num_records, 500_000)))
        self.latencies: list[int] = []
        self.iteration = 0
        self.count = 0
        self.bytes = 0
        self.total_latency = 0
        self.max_latency = 0
        self._new_window(self.start_ms)

    def _new_window(self, now_ms: float) -> None:
        self.window_start_ms = now_ms
        self.window_count = 0
        self.window_bytes = 0
        self.window_total_latency = 0
        self.window_max_latency = 0

    def record(self, latency_ms: int, size: int, now_ms: float) -> None:
        self.count += 1
        self.bytes += size
        self.total_latency += latency_ms
        self.max_latency = max(self.max_latency, latency_ms)
        self.window_count += 1
        self.window_bytes += size
        self.window_total_latency += latency_ms
        self.window_max_latency = max(self.window_max_latency, latency_ms)
        if self.iteration % self.sampling == 0:
            self.latencies.append(latency_ms)
        self.iteration += 1
        if now_ms - self.window_start_ms >= REPORTING_INTERVAL_MS:
            self._emit(self.window_line(now_ms))
            self._new_window(now_ms)

    def window_line(self, now_ms: float) -> str:
        return format_window(
            self.window_count,
            now_ms - self.window_start_ms,
            self.window_bytes,
            self.window_total_latency,
            self.window_max_latency,
        )

    def total_line(self, now_ms: float) -> str:
        return format_total(
            self.count,
            now_ms - self.start_ms,
            self.bytes,
            self.total_latency,
            self.max_latency,
            self.latencies,
        )


def format_window(count: int, elapsed_ms: float, size: int, total_latency: int, max_latency: int) -> str:
    avg = total_latency / count if count else 0.0
    return (
        f"{count} records sent, {_rate(count, elapsed_ms):.1f} records/sec "
        f"({_rate(size, elapsed_ms) / MB:.2f} MB/sec), {avg:.1f} ms avg latency, "
        f"{float(max_latency):.1f} ms max latency."
    )


def format_total(
    count: int, elapsed_ms: float, size: int, total_latency: int, max_latency: int, samples: Sequence[int]
) -> str:
    p50, p95, p99, p999 = percentiles(samples, 0.5, 0.95, 0.99, 0.999)
    avg = total_latency / count if count else 0.0
    return (
        f"{count} records sent, {_rate(count, elapsed_ms):f} records/sec "
        f"({_rate(size, elapsed_ms) / MB:.2f} MB/sec), {avg:.2f} ms avg latency, "
        f"{float(max_latency):.2f} ms max latency, "
        f"{p50} ms 50th, {p95} ms 95th, {p99} ms 99th, {p999} ms 99.9th."
    )


_JAVA_DATE_TOKENS = (
    ("yyyy", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"),
)  # fmt: skip
DEFAULT_DATE_FORMAT = "yyyy-MM-dd HH:mm:ss:SSS"


def format_time_ms(epoch_ms: float, java_format: str = DEFAULT_DATE_FORMAT) -> str:
    """Epoch ms in local time, with the SimpleDateFormat subset yyyy yy MM dd HH mm ss SSS."""
    moment = datetime.datetime.fromtimestamp(epoch_ms / 1000.0)
    millis = f"{int(epoch_ms) % 1000:03d}"
    parts = []
    for piece in java_format.split("SSS"):
        pattern = piece.replace("%", "%%")
        for token, directive in _JAVA_DATE_TOKENS:
            pattern = pattern.replace(token, directive)
        parts.append(moment.strftime(pattern))
    return millis.join(parts)


@dataclass(frozen=True, slots=True)
class ConsumerResult:
    start_ms: int
    end_ms: int
    bytes: int
    messages: int
    rebalance_ms: int = 0


def format_consumer_row(result: ConsumerResult, date_format: str = DEFAULT_DATE_FORMAT) -> str:
    elapsed_s = (result.end_ms - result.start_ms) / 1000.0
    fetch_ms = result.end_ms - result.start_ms - result.rebalance_ms
    total_mb = result.bytes / MB

    def per_s(amount: float, seconds: float) -> float:
        return amount / seconds if seconds > 0 else math.nan

    return (
        f"{format_time_ms(result.start_ms, date_format)}, {format_time_ms(result.end_ms, date_format)}, "
        f"{total_mb:.4f}, {per_s(total_mb, elapsed_s):.4f}, {result.messages}, "
        f"{per_s(result.messages, elapsed_s):.4f}, {result.rebalance_ms}, {fetch_ms}, "
        f"{per_s(total_mb, fetch_ms / 1000.0):.4f}, {per_s(result.messages, fetch_ms / 1000.0):.4f}"
    )


def format_consumer_progress(
    now_ms: int, bytes_read: int, last_bytes: int, messages: int, last_messages: int, interval_ms: int,
    date_format: str = DEFAULT_DATE_FORMAT,
) -> str:  # fmt: skip
    """A --show-detailed-stats line (thread id 0, no rebalance time in assign mode)."""
    mb_rate = _rate((bytes_read - last_bytes) / MB, interval_ms)
    msg_rate = _rate(messages - last_messages, interval_ms)
    return (
        f"{format_time_ms(now_ms, date_format)}, 0, {bytes_read / MB:.4f}, {mb_rate:.4f}, {messages}, "
        f"{msg_rate:.4f}, 0, {interval_ms}, {mb_rate:.4f}, {msg_rate:.4f}"
    )
