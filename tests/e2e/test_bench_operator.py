"""Smoke run of bench/operator.py at tiny sizes (5 KafkaTopics at once, 3 x 3 sequential applies, resyncs every 8 s,
no roll; about 50 s): the script runs against the fake API server, the test kubelet and an operator process of this
checkout, prints its figures with their targets and writes its JSON, and the topics it applied exist on the
broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from etcd_support import etcd_missing
from fake_apiserver.fixture import KUBECTL

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,  # 50 s for a smoke run of a benchmark: `make slow` runs it, the default suite does not
    pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing())),
    pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed"),
]


def test_operator_bench_smoke(tmp_path: Path) -> None:
    paths = [str(REPO / part) for part in ("broker", "connect", "mirror", "operator")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}
    sizes = ["--topics", "5", "--applies", "3", "--resync-seconds", "8", "--skip-roll"]
    command = [sys.executable, str(REPO / "bench" / "operator.py"), *sizes]
    run = subprocess.run(
        [*command, "--out", str(tmp_path)], capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "5 KafkaTopics, one kubectl apply -f: 5 Ready in" in out, out
    assert "(target 5 within 60 s" in out and "target < 200 MB" in out and "target p99 < 2 s" in out, out
    assert "on the broker: 5 of 5 topics listed" in out, out
    (written,) = tmp_path.glob("operator-*.json")
    result = json.loads(written.read_text())
    bulk = result["topics"]["bulk"]
    assert (bulk["ready"], bulk["missing_on_broker"]) == (5, 0)
    assert bulk["operator_peak_rss_mb"] > 0 and bulk["operator_cpu_s"] > 0
    assert result["topics"]["idle"]["applies"] == result["topics"]["loaded"]["applies"] == 3
    # the third series ran while the 5 (+ 6) topics' resyncs (every 8 s) did
    assert result["topics"]["resync"]["applies"] == 3 and result["topics"]["resync"]["timer_runs_meanwhile"] > 0
    # two idle resync periods: the 14 topics' resync is one timer run and one DescribeConfigs per period
    cost = result["topics"]["resync_cost"]
    assert cost["topics"] == 14 and cost["operator_cpu_s_per_period"] > 0, cost
    assert 0 < cost["timer_runs_per_period"] <= 1.5, cost
    assert 0 < cost["kafka_requests_per_period"]["DescribeConfigs"] <= 1.5, cost
    assert "roll" not in result
