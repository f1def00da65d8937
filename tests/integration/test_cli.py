"""The `odradek` CLI against a real broker process on 127.0.0.1 (started here on a free port, in a temp dir).

Every CLI call is a subprocess (`python -m odradek.cli ...`) with a time limit; the broker must listen within
20 s. The broker fixture lives in this file until shared fixtures exist.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BROKER_START_TIMEOUT_S = 20.0
CLI_TIMEOUT_S = 60.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "broker"), env.get("PYTHONPATH")]))
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + BROKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"broker exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    pytest.fail(f"broker not listening on {port} after {BROKER_START_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("cli-broker")
    port = _free_port()
    log = work / "broker.log"
    cmd = [
        sys.executable, "-m", "odradek.broker",
        "--override", f"log.dirs={work / 'logs'}",
        "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
        "--override", "metrics.port=0",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env())
    try:
        _wait_for_port(port, proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def odradek(*args: str, stdin: bytes | None = None, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "odradek.cli", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
        check=False,
    )
    return proc


def ok(*args: str, stdin: bytes | None = None) -> str:
    proc = odradek(*args, stdin=stdin)
    assert proc.returncode == 0, f"odradek {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_topics_lifecycle(bootstrap: str) -> None:
    b = ("--bootstrap-server", bootstrap)
    out = ok(
        "topics",
        *b,
        "--create",
        "--topic",
        "cli-life",
        "--partitions",
        "3",
        "--replication-factor",
        "1",
        "--config",
        "retention.ms=86400000",
    )
    assert out.strip() == "Created topic cli-life."
    assert "cli-life" in ok("topics", *b, "--list").split()
    dup = odradek("topics", *b, "--create", "--topic", "cli-life", "--partitions", "1")
    assert dup.returncode == 1 and "Traceback" not in dup.stderr and dup.stderr.count("\n") == 1
    ok("topics", *b, "--create", "--topic", "cli-life", "--partitions", "1", "--if-not-exists")

    lines = ok("topics", *b, "--describe", "--topic", "cli-life").splitlines()
    head = lines[0].split("\t")
    assert head[0] == "Topic: cli-life"
    assert "PartitionCount: 3" in head and "ReplicationFactor: 1" in head
    assert "Configs: retention.ms=86400000" in head
    assert [line.split("\t")[2] for line in lines[1:]] == ["Partition: 0", "Partition: 1", "Partition: 2"]
    assert all(line.startswith("\tTopic: cli-life\tPartition: ") and "\tIsr: " in line for line in lines[1:])

    ok("topics", *b, "--alter", "--topic", "cli-life", "--partitions", "4")
    assert "PartitionCount: 4" in ok("topics", *b, "--describe", "--topic", "cli-life")

    ok("topics", *b, "--delete", "--topic", "cli-life")
    deadline = time.monotonic() + 10
    while "cli-life" in ok("topics", *b, "--list").split() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "cli-life" not in ok("topics", *b, "--list").split()
    missing = odradek("topics", *b, "--describe", "--topic", "cli-life")
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_console_producer_then_consumer(bootstrap: str) -> None:
    b = ("--bootstrap-server", bootstrap)
    ok("topics", *b, "--create", "--topic", "cli-console", "--partitions", "1")
    lines = b"k1:hello\nk2:world\nk3:\n"
    ok(
        "console-producer",
        *b,
        "--topic",
        "cli-console",
        "--property",
        "parse.key=true",
        "--property",
        "key.separator=:",
        stdin=lines,
    )
    out = ok(
        "console-consumer",
        *b,
        "--topic",
        "cli-console",
        "--from-beginning",
        "--max-messages",
        "3",
        "--timeout-ms",
        "10000",
        "--property",
        "print.key=true",
        "--property",
        "print.offset=true",
        "--property",
        "key.separator=|",
    )
    assert out.splitlines() == ["Offset:0|k1|hello", "Offset:1|k2|world", "Offset:2|k3|"]
    tail = ok("console-consumer", *b, "--topic", "cli-console", "--partition", "0", "--offset", "1",
              "--max-messages", "1", "--timeout-ms", "10000")  # fmt: skip
    assert tail.splitlines() == ["world"]
    bad = odradek("console-producer", *b, "--topic", "cli-console", "--property", "parse.key=true", stdin=b"nokey\n")
    assert bad.returncode == 1 and "No key separator found on line number 1" in bad.stderr


def test_configs_alter_and_describe(bootstrap: str) -> None:
    b = ("--bootstrap-server", bootstrap)
    ok("topics", *b, "--create", "--topic", "cli-configs", "--partitions", "1")
    out = ok("configs", *b, "--alter", "--entity-type", "topics", "--entity-name", "cli-configs",
             "--add-config", "retention.ms=3600000,cleanup.policy=compact")  # fmt: skip
    assert out.strip() == "Completed updating config for topic cli-configs."
    lines = ok("configs", *b, "--describe", "--entity-type", "topics", "--entity-name", "cli-configs").splitlines()
    assert lines[0] == "Dynamic configs for topic cli-configs are:"
    assert any(line.startswith("  retention.ms=3600000 sensitive=false synonyms={") for line in lines[1:])
    assert any(line.startswith("  cleanup.policy=compact ") for line in lines[1:])
    ok("configs", *b, "--alter", "--entity-type", "topics", "--entity-name", "cli-configs",
       "--delete-config", "cleanup.policy")  # fmt: skip
    lines = ok("configs", *b, "--describe", "--entity-type", "topics", "--entity-name", "cli-configs").splitlines()
    assert not any(line.startswith("  cleanup.policy=") for line in lines)
    every = ok("configs", *b, "--describe", "--all", "--entity-type", "topics", "--entity-name", "cli-configs")
    assert "  cleanup.policy=delete " in every
    broker = ok("configs", *b, "--describe", "--all", "--entity-type", "brokers", "--entity-name", "1")
    assert broker.splitlines()[0] == "All configs for broker 1 are:"


def test_delete_records(bootstrap: str, tmp_path: Path) -> None:
    b = ("--bootstrap-server", bootstrap)
    ok("topics", *b, "--create", "--topic", "cli-delete", "--partitions", "1")
    ok("console-producer", *b, "--topic", "cli-delete", stdin=b"".join(b"r%d\n" % i for i in range(10)))
    spec = tmp_path / "offsets.json"
    spec.write_text(json.dumps({"partitions": [{"topic": "cli-delete", "partition": 0, "offset": 4}], "version": 1}))
    out = ok("delete-records", *b, "--offset-json-file", str(spec))
    assert out.splitlines() == [
        "Executing records delete operation",
        "Records delete operation completed:",
        "partition: cli-delete-0\tlow_watermark: 4",
    ]
    rest = ok("console-consumer", *b, "--topic", "cli-delete", "--from-beginning", "--max-messages", "6",
              "--timeout-ms", "10000")  # fmt: skip
    assert rest.splitlines() == [f"r{i}" for i in range(4, 10)]


def test_perf_tools_print_kafka_formats(bootstrap: str) -> None:
    b = ("--bootstrap-server", bootstrap)
    ok("topics", *b, "--create", "--topic", "cli-perf", "--partitions", "1")
    out = ok(
        "producer-perf-test",
        "--topic",
        "cli-perf",
        "--num-records",
        "2000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={bootstrap}",
        "acks=all",
    )
    last = out.strip().splitlines()[-1]
    assert last.startswith("2000 records sent, ") and last.endswith(" ms 99.9th.")
    out = ok("consumer-perf-test", *b, "--topic", "cli-perf", "--messages", "2000", "--timeout", "10000")
    header, row = out.strip().splitlines()[-2:]
    assert header.startswith("start.time, end.time, data.consumed.in.MB")
    assert row.split(", ")[4] == "2000"


def test_unknown_topic_and_unreachable_broker_are_one_line_errors(bootstrap: str) -> None:
    proc = odradek("console-consumer", "--bootstrap-server", bootstrap, "--topic", "no-such-topic-here",
                   "--max-messages", "1", "--timeout-ms", "2000")  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
        proc = odradek("topics", "--bootstrap-server", dead, "--list", timeout=30)
    assert proc.returncode == 1 and proc.stderr.startswith("Error: Cannot reach broker")


def test_tools_as_kafka_users_type_them(bootstrap: str, tmp_path: Path) -> None:
    """Issue 15: one --property per pair with commas and spaces kept, print.value=false still ends each line,
    Kafka's list syntax in --add-config, --topics-with-overrides, --sync with a flag-less --compression-codec,
    --broker-list, and a consumer group's reset plan exported and read back."""
    b = ("--bootstrap-server", bootstrap)
    ok("topics", *b, "--create", "--topic", "cli-kafka", "--partitions", "1")
    ok("topics", *b, "--create", "--topic", "cli-kafka-plain", "--partitions", "1")
    ok(
        "console-producer", "--broker-list", bootstrap, "--topic", "cli-kafka", "--sync", "--compression-codec",
        "--property", "parse.key=true", "--property", "key.separator=,",
        stdin=b"k1,v1,x\nk2,v2\n",
    )  # fmt: skip
    consume = ("console-consumer", *b, "--topic", "cli-kafka", "--from-beginning", "--max-messages", "2",
               "--timeout-ms", "10000")  # fmt: skip
    out = ok(*consume, "--property", "print.key=true", "--property", "key.separator= | ")
    assert out.splitlines() == ["k1 | v1,x", "k2 | v2"]
    keys = ok(*consume, "--property", "print.key=true", "--property", "print.value=false")
    assert keys == "k1\nk2\n"

    ok(
        "configs",
        *b,
        "--alter",
        "--topic",
        "cli-kafka",
        "--add-config",
        "cleanup.policy=[compact,delete],retention.ms=600000",
    )
    described = ok("configs", *b, "--describe", "--topic", "cli-kafka")
    assert "  cleanup.policy=compact,delete " in described and "  retention.ms=600000 " in described
    overrides = ok("topics", *b, "--describe", "--topics-with-overrides").splitlines()
    assert [line.split("\t")[0] for line in overrides if "cli-kafka" in line] == ["Topic: cli-kafka"]
    assert not any(line.startswith("\t") for line in overrides), "topic lines only"

    group = "cli-kafka-group"
    ok("console-consumer", *b, "--topic", "cli-kafka", "--group", group, "--from-beginning", "--max-messages", "2",
       "--timeout-ms", "10000")  # fmt: skip
    exported = ok("consumer-groups", *b, "--reset-offsets", "--group", group, "--topic", "cli-kafka",
                  "--to-earliest", "--dry-run", "--export")  # fmt: skip
    assert exported.strip() == "cli-kafka,0,0"
    plan = tmp_path / "plan.csv"
    plan.write_text("cli-kafka,0,1\n")
    ok("consumer-groups", *b, "--reset-offsets", "--group", group, "--from-file", str(plan), "--execute")
    described = ok("consumer-groups", *b, "--describe", "--group", group)
    row = next(line.split() for line in described.splitlines() if line.startswith(group))
    assert row[1:4] == ["cli-kafka", "0", "1"], described
    unknown = odradek("consumer-groups", *b, "--list", "--no-such-flag")
    assert unknown.returncode == 2 and unknown.stderr.startswith("usage: odradek consumer-groups ")
