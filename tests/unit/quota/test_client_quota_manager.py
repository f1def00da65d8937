"""Kafka's quota math on a MockTime: the sampled rate (11 windows of 1 s, the first windows counted as full), the
throttle time ((rate - quota) / quota * window), the request quota's bound, the eight-level precedence and who shares
a rate. Expected values are worked out by hand from Kafka's Rate/SampledStat/ClientQuotaManager."""

from __future__ import annotations

import math

import pytest
from odradek.broker.quota.entity import DEFAULT, ClientQuotaEntity, QuotaType, resolve
from odradek.broker.quota.manager import ClientQuotaManager, QuotaManagers, request_percentage
from odradek.broker.quota.rate import Avg, MetricConfig, Rate
from odradek.broker.utils.time import MockTime

E = ClientQuotaEntity


def test_a_first_burst_is_measured_over_ten_full_windows() -> None:
    # 500 bytes at t=0: elapsed 0 < 10 full windows, so the window is 10 s: 50 B/s.
    rate = Rate(MetricConfig(11, 1000))
    rate.record(500, 0)
    assert rate.window_size_ms(0) == 10_000
    assert rate.measure(0) == pytest.approx(50.0)


def test_the_window_grows_past_ten_seconds_and_old_samples_expire() -> None:
    rate = Rate(MetricConfig(11, 1000))
    for second in range(12):
        rate.record(100, second * 1000)
    # 12 samples are kept (11 + 1); at 11 000 ms the one whose last event was at 0 is 11 s old, obsolete: the
    # other 11 (1100 B) are measured from the oldest start, 1000, over 10 s.
    assert rate.window_size_ms(11_000) == 10_000
    assert rate.measure(11_000) == pytest.approx(110.0)
    # 11 s after the last record every sample is obsolete: nothing measured.
    assert rate.measure(22_000) == 0.0


def test_the_ring_reuses_the_oldest_sample() -> None:
    rate = Rate(MetricConfig(2, 1000))  # 3 samples kept
    for t in (0, 1000, 2000, 3000):
        rate.record(10, t)
    # the sample started at 0 was reused at 3000: samples 1000, 2000, 3000 remain
    assert rate.stat.oldest_start_ms(3000) == 1000
    # measuring at 3000 purges the one last written at 1000 (2 s = samples * window old): 20 B over 1 s
    assert rate.measure(3000) == pytest.approx(20.0)


def test_avg_is_zero_without_values_and_the_mean_with() -> None:
    avg = Avg(MetricConfig(11, 1000))
    assert avg.measure(0) == 0.0
    avg.record(100, 0)
    avg.record(300, 10)
    assert avg.measure(10) == pytest.approx(200.0)


def manager(
    time: MockTime, quotas: dict[ClientQuotaEntity, float], kind: QuotaType = QuotaType.PRODUCE
) -> ClientQuotaManager:
    m = ClientQuotaManager(kind, time, MetricConfig(11, 1000), 1000.0 if kind is QuotaType.REQUEST else None)
    m.update_quotas(quotas)
    return m


def test_within_the_quota_no_throttle_and_above_it_kafkas_throttle_time() -> None:
    time = MockTime(monotonic_ms=0.0)
    m = manager(time, {E("alice", None): 1000.0})
    # 10 000 bytes over the 10 s minimum window: exactly 1000 B/s, not above.
    assert m.record_and_get_throttle_time_ms("alice", "app", 10_000) == 0
    # 5000 more: 15 000 B over 10 s = 1500 B/s -> (1500 - 1000) / 1000 * 10 000 ms = 5000 ms.
    assert m.record_and_get_throttle_time_ms("alice", "app", 5_000) == 5_000


def test_the_throttle_time_falls_as_time_passes() -> None:
    time = MockTime(monotonic_ms=0.0)
    m = manager(time, {E("alice", None): 1000.0})
    assert m.record_and_get_throttle_time_ms("alice", "app", 20_000) == 10_000  # 2000 B/s over 10 s
    time.advance(10_000)
    # window now 10 s elapsed + ... the oldest sample started at 0, 10 full windows: 10 000 ms; 20 001 B
    assert m.record_and_get_throttle_time_ms("alice", "app", 1) == round((2000.1 - 1000) / 1000 * 10_000)
    time.advance(12_000)  # all obsolete
    assert m.record_and_get_throttle_time_ms("alice", "app", 1) == 0


def test_no_quota_anywhere_records_nothing() -> None:
    time = MockTime()
    m = manager(time, {})
    assert not m.quotas_enabled
    assert m.record_and_get_throttle_time_ms("alice", "app", 10**12) == 0
    assert m.stats() == []
    assert m.max_value_in_quota_window("alice", "app") == math.inf


def test_a_quota_on_someone_else_does_not_throttle() -> None:
    time = MockTime()
    m = manager(time, {E("bob", None): 1.0})
    assert m.record_and_get_throttle_time_ms("alice", "app", 10**9) == 0


def test_the_request_quota_is_bounded_by_one_window() -> None:
    time = MockTime()
    m = manager(time, {E(None, "app"): 1.0}, QuotaType.REQUEST)
    # 1000 ms of handler time = 100 % of a second, over 10 s = 10 %/s against 1 %: (10 - 1) / 1 * 10 s, capped at 1 s
    assert m.record_and_get_throttle_time_ms("alice", "app", request_percentage(1000)) == 1000


def test_request_percentage_is_of_one_second() -> None:
    assert request_percentage(10) == pytest.approx(1.0)


def test_max_value_in_quota_window_is_the_quota_over_all_windows() -> None:
    m = manager(MockTime(), {E(DEFAULT, None): 100.0}, QuotaType.FETCH)
    assert m.max_value_in_quota_window("anyone", "c") == pytest.approx(1100.0)


def test_unrecord_takes_a_value_back() -> None:
    time = MockTime()
    m = manager(time, {E("alice", None): 1000.0}, QuotaType.FETCH)
    assert m.record_and_get_throttle_time_ms("alice", "app", 20_000) > 0
    m.unrecord("alice", "app", 20_000)
    assert m.record_and_get_throttle_time_ms("alice", "app", 0) == 0


U, C = "alice", "app"
LEVELS = [
    E(U, C),
    E(U, DEFAULT),
    E(U, None),
    E(DEFAULT, C),
    E(DEFAULT, DEFAULT),
    E(DEFAULT, None),
    E(None, C),
    E(None, DEFAULT),
]
# (level set, who shares the rate: (user tag, client-id tag)), Kafka's DefaultQuotaCallback.quotaMetricTags
SHARING = [(U, C), (U, C), (U, ""), (U, C), (U, C), (U, ""), ("", C), ("", C)]


@pytest.mark.parametrize("level", range(8))
def test_each_level_wins_over_every_level_below_it(level: int) -> None:
    # Quotas at this level and every lower one; the value names the level: this level must be chosen.
    quotas = {LEVELS[i]: float(i + 1) for i in range(level, 8)}
    resolved = resolve(quotas, U, C)
    assert resolved.limit == level + 1
    assert resolved.level == level + 1
    assert (resolved.user_tag, resolved.client_id_tag) == SHARING[level]


@pytest.mark.parametrize("level", range(8))
def test_each_level_alone_applies(level: int) -> None:
    resolved = resolve({LEVELS[level]: 7.0}, U, C)
    assert resolved.limit == 7.0 and resolved.level == level + 1


def test_other_names_do_not_match() -> None:
    quotas = {E("bob", C): 1.0, E(U, "other"): 2.0, E("bob", None): 3.0, E(None, "other"): 4.0}
    resolved = resolve(quotas, U, C)
    assert resolved.limit is None and resolved.level == 0
    assert (resolved.user_tag, resolved.client_id_tag) == ("", C)


def test_a_default_user_quota_is_kept_per_user_over_all_its_client_ids() -> None:
    time = MockTime()
    m = manager(time, {E(DEFAULT, None): 1000.0})
    assert m.record_and_get_throttle_time_ms("alice", "a", 10_000) == 0
    assert m.record_and_get_throttle_time_ms("alice", "b", 5_000) == 5_000  # shares alice's rate
    assert m.record_and_get_throttle_time_ms("bob", "a", 10_000) == 0  # bob has his own


def test_a_client_id_quota_is_shared_by_every_user_of_it() -> None:
    time = MockTime()
    m = manager(time, {E(None, "app"): 1000.0})
    assert m.record_and_get_throttle_time_ms("alice", "app", 10_000) == 0
    assert m.record_and_get_throttle_time_ms("bob", "app", 5_000) == 5_000


def test_quota_managers_update_splits_values_by_key_and_stats_name_kafkas_sensors() -> None:
    time = MockTime()
    managers = QuotaManagers(time)
    managers.update({E("alice", None): {"producer_byte_rate": 1000.0, "request_percentage": 50.0}})
    assert managers.produce.quotas_enabled and managers.request.quotas_enabled
    assert not managers.fetch.quotas_enabled
    managers.produce.record_and_get_throttle_time_ms("alice", "app", 20_000)
    managers.produce.record_throttle("alice", "app", 10_000)
    (stat,) = managers.stats()
    assert (stat.group, stat.metric, stat.user, stat.client_id) == ("Produce", "byte-rate", "alice", "")
    assert stat.rate == pytest.approx(2000.0) and stat.throttle_time_ms == pytest.approx(10_000)
    managers.update({})  # quotas removed: nothing recorded or exported
    assert managers.produce.record_and_get_throttle_time_ms("alice", "app", 10**9) == 0
    assert managers.stats() == []


def test_a_changed_quota_applies_to_the_next_record() -> None:
    time = MockTime()
    m = manager(time, {E("alice", None): 1000.0})
    assert m.record_and_get_throttle_time_ms("alice", "app", 10_000) == 0
    m.update_quotas({E("alice", None): 500.0})
    # the rate is kept: 10 001 B over 10 s = 1000.1 B/s against 500
    assert m.record_and_get_throttle_time_ms("alice", "app", 1) == round((1000.1 - 500) / 500 * 10_000)
