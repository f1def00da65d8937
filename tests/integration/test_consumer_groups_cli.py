"""`odradek consumer-groups` and `odradek console-consumer --group` against a real broker with the group
coordinator, every CLI call a subprocess (`python -m odradek.cli`), as test_cli.py runs them.

Each test starts its own broker (`broker_factory`) with `group.initial.rebalance.delay.ms=0`, so a group's first
rebalance does not wait 3 s. Every wait is bounded: CLI calls by CLI_TIMEOUT_S, polling by `wait_for`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence

import pytest
from it_support import BrokerProcess, broker_env, ck_create_topic, ck_produce, wait_for

pytestmark = pytest.mark.integration

CLI_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 15.0
GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": "0"}
OFFSETS_HEADER = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
                  "CLIENT-ID")  # fmt: skip


def odradek(*args: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "odradek.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=broker_env(),
        check=False,
        stdin=subprocess.DEVNULL,
    )


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    proc = odradek(*args)
    assert proc.returncode == 0, f"odradek {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def failed(*args: str) -> subprocess.CompletedProcess[str]:
    proc = odradek(*args)
    assert proc.returncode == 1, f"odradek {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def table(stdout: str) -> list[list[str]]:
    """Rows of a Kafka table (blank lines dropped), each split on whitespace; the header is row 0."""
    return [line.split() for line in stdout.splitlines() if line.strip()]


def offsets(b: str, group: str) -> dict[tuple[str, int], list[str]]:
    """--describe rows by (topic, partition): [CURRENT-OFFSET, LOG-END-OFFSET, LAG, CONSUMER-ID, HOST, CLIENT-ID]."""
    rows = table(ok("consumer-groups", "--bootstrap-server", b, "--describe", "--group", group).stdout)
    if not rows:
        return {}
    assert tuple(rows[0]) == OFFSETS_HEADER
    assert all(r[0] == group for r in rows[1:])
    return {(r[1], int(r[2])): r[3:] for r in rows[1:]}


def group_state(b: str, group: str) -> list[str]:
    """--describe --state data row: [GROUP, host:port, (id), STRATEGY, STATE, #MEMBERS] (split on whitespace)."""
    rows = table(ok("consumer-groups", "--bootstrap-server", b, "--describe", "--group", group, "--state").stdout)
    assert rows[0] == ["GROUP", "COORDINATOR", "(ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]
    return rows[1]


def consume(b: str, topic: str, group: str, count: int, *extra: str) -> list[str]:
    proc = ok("console-consumer", "--bootstrap-server", b, "--topic", topic, "--group", group,
              "--max-messages", str(count), "--timeout-ms", "30000", *extra)  # fmt: skip
    assert f"Processed a total of {count} messages" in proc.stderr, proc.stderr
    return proc.stdout.splitlines()


def reset(b: str, group: str, *scenario: str) -> tuple[dict[tuple[str, int], int], str]:
    """--reset-offsets; returns ({(topic, partition): NEW-OFFSET}, stderr + Kafka's stdout `Warn:` lines)."""
    proc = ok("consumer-groups", "--bootstrap-server", b, "--reset-offsets", "--group", group, *scenario)
    warnings = [line for line in proc.stdout.splitlines() if line.startswith("Warn: ")]
    rows = [r for r in table(proc.stdout) if r[0] != "Warn:"]
    assert rows[0] == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
    return {(r[1], int(r[2])): int(r[3]) for r in rows[1:]}, proc.stderr + "".join(w + "\n" for w in warnings)


def start_consumer(b: str, topic: str, group: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "odradek.cli", "console-consumer", "--bootstrap-server", b, "--topic", topic,
         "--group", group, "--timeout-ms", "120000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=broker_env(),
    )  # fmt: skip


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str, str, float]:
    """Send sig; returns (exit code, stdout, stderr, seconds until exit)."""
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=EXIT_TIMEOUT_S)
        raise AssertionError(f"console-consumer ignored signal {sig} for {EXIT_TIMEOUT_S} s") from None
    return proc.returncode, out, err, time.monotonic() - started


def new_group(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_group_lifecycle_consume_describe_reset_delete(
    broker_factory: Callable[..., BrokerProcess], topic: str
) -> None:
    b = broker_factory(GROUP_OVERRIDES).bootstrap
    cg = ("consumer-groups", "--bootstrap-server", b)
    ck_create_topic(b, topic, partitions=2)
    ck_produce(b, topic, [b"a%d" % i for i in range(6)], partition=0)
    ck_produce(b, topic, [b"b%d" % i for i in range(4)], partition=1)
    group = new_group("cli-life")

    # --from-beginning: the group has no committed offsets, so auto.offset.reset=earliest applies.
    got = consume(b, topic, group, 10, "--from-beginning")
    assert sorted(got) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(4)])
    ck_produce(b, topic, [b"a%d" % i for i in range(6, 9)], partition=0)

    proc = ok(*cg, "--describe", "--group", group)
    assert proc.stderr == f"\nConsumer group '{group}' has no active members.\n"
    assert proc.stdout.startswith("\nGROUP ") and proc.stdout.endswith("\n")
    assert offsets(b, group) == {
        (topic, 0): ["6", "9", "3", "-", "-", "-"],
        (topic, 1): ["4", "4", "0", "-", "-", "-"],
    }
    assert group in ok(*cg, "--list").stdout.splitlines()
    assert [group, "Empty"] in table(ok(*cg, "--list", "--state").stdout)
    assert [group, "Empty"] in table(ok(*cg, "--list", "--state", "empty,stable").stdout)
    assert group not in ok(*cg, "--list", "--state", "stable").stdout

    # Dry run (the default): the plan is printed, nothing is committed.
    plan, err = reset(b, group, "--topic", topic, "--to-earliest")
    assert plan == {(topic, 0): 0, (topic, 1): 0}
    assert err.startswith("WARN: No action will be performed as the --execute option is missing.")
    plan, err = reset(b, group, "--topic", f"{topic}:0", "--to-offset", "100", "--dry-run")
    assert plan == {(topic, 0): 9}
    assert f"New offset (100) is higher than latest offset for topic partition {topic}-0. Value will be set to 9" in err
    assert reset(b, group, "--all-topics", "--shift-by", "-5", "--dry-run")[0] == {(topic, 0): 1, (topic, 1): 0}
    assert reset(b, group, "--topic", topic, "--by-duration", "P1D", "--dry-run")[0] == {(topic, 0): 0, (topic, 1): 0}
    later, warned = reset(b, group, "--topic", topic, "--to-datetime", "2999-01-01T00:00:00.000", "--dry-run")
    assert later == {(topic, 0): 9, (topic, 1): 4}
    assert f"Warn: Partition 0 from topic {topic} is empty. Falling back to latest known offset.\n" in warned
    assert reset(b, group, "--topic", topic, "--to-current", "--dry-run")[0] == {(topic, 0): 6, (topic, 1): 4}
    assert offsets(b, group)[(topic, 0)][0] == "6"

    # --execute commits; the next consumer of the group starts there.
    plan, err = reset(b, group, "--topic", f"{topic}:0", "--to-offset", "2", "--execute")
    assert plan == {(topic, 0): 2} and "WARN" not in err
    assert offsets(b, group)[(topic, 0)][:3] == ["2", "9", "7"]
    assert consume(b, topic, group, 7) == [f"a{i}" for i in range(2, 9)]
    assert offsets(b, group) == {
        (topic, 0): ["9", "9", "0", "-", "-", "-"],
        (topic, 1): ["4", "4", "0", "-", "-", "-"],
    }
    assert reset(b, group, "--all-topics", "--shift-by", "-3", "--execute")[0] == {(topic, 0): 6, (topic, 1): 1}
    assert {tp: row[0] for tp, row in offsets(b, group).items()} == {(topic, 0): "6", (topic, 1): "1"}

    bad = failed(*cg, "--reset-offsets", "--group", group, "--topic", f"{topic}:7", "--to-earliest", "--execute")
    assert bad.stderr == f'Error: The partitions "{topic}-7" do not exist\n'

    # Delete one partition's offset, then the group.
    proc = ok(*cg, "--delete-offsets", "--group", group, "--topic", f"{topic}:1")
    assert proc.stdout.splitlines()[0] == f"Request succeeded for deleting offsets from group {group}."
    assert table(proc.stdout)[1:] == [["TOPIC", "PARTITION", "STATUS"], [topic, "1", "Successful"]]
    assert list(offsets(b, group)) == [(topic, 0)]

    proc = ok(*cg, "--delete", "--group", group)
    assert proc.stdout == f"Deletion of requested consumer groups ('{group}') was successful.\n"
    missing = failed(*cg, "--describe", "--group", group)
    assert missing.stderr == f"Error: Consumer group '{group}' does not exist.\n" and missing.stdout == ""
    assert group not in ok(*cg, "--list").stdout.splitlines()
    gone = failed(*cg, "--delete", "--group", group)
    assert gone.stderr.startswith(f"Error: Deletion of some consumer groups failed:\n* Group '{group}' could not")


def test_active_group_members_state_refusals_and_clean_leave(
    broker_factory: Callable[..., BrokerProcess], topic: str
) -> None:
    b = broker_factory(GROUP_OVERRIDES).bootstrap
    cg = ("consumer-groups", "--bootstrap-server", b)
    ck_create_topic(b, topic, partitions=2)
    ck_produce(b, topic, [b"x%d" % i for i in range(3)], partition=0)
    group = new_group("cli-active")
    consume(b, topic, group, 3, "--from-beginning")

    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = start_consumer(b, topic, group)
        try:
            state = wait_for(lambda: _stable(b, group), timeout=30, interval=0.3, what=f"{group} Stable")
            assert state[3:] == ["range", "Stable", "1"] and state[1] == b and state[2] == "(1)"

            members = table(ok(*cg, "--describe", "--group", group, "--members", "--verbose").stdout)
            assert members[0] == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "CURRENT-EPOCH",
                                  "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"]  # fmt: skip
            assert len(members) == 2
            _, member_id, host, client_id, count, epoch, assignment, target_epoch, target = members[1]
            assert member_id.startswith("console-consumer-") and client_id == "console-consumer"
            assert (count, epoch, assignment, target_epoch, target) == ("2", "-", f"{topic}:0,1", "-", "-")
            assert host.endswith("127.0.0.1")
            rows = offsets(b, group)
            assert rows[(topic, 0)][:3] == ["3", "3", "0"] and rows[(topic, 0)][3:] == [member_id, host, client_id]
            assert rows[(topic, 1)][0] == "-" and rows[(topic, 1)][3] == member_id  # assigned, nothing committed

            refused = failed(*cg, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
            assert refused.stderr == (
                f"Error: Assignments can only be reset if the group '{group}' is inactive, "
                "but the current state is Stable.\n"
            )
            assert table(refused.stdout) == [["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]]
            subscribed = failed(*cg, "--delete-offsets", "--group", group, "--topic", topic)
            assert "Error: Encountered some partition-level error, see the follow-up details." in subscribed.stderr
            assert [r[:3] for r in table(subscribed.stdout)[1:]] == [
                [topic, "0", "Error:"], [topic, "1", "Error:"],
            ]  # fmt: skip
            busy = failed(*cg, "--delete", "--group", group)
            assert f"* Group '{group}' could not be deleted due to: " in busy.stderr
        finally:
            code, _, err, took = stop(proc, sig)
        assert code == 0 and "Processed a total of 0 messages" in err, err
        # close() sent LeaveGroup: the group is empty now, not after the 45 s session timeout.
        assert took < 10, took
        state = group_state(b, group)
        assert state[4:] == ["Empty", "0"], state
        assert offsets(b, group)[(topic, 0)][0] == "3"


def _stable(b: str, group: str) -> list[str] | None:
    state = group_state(b, group)
    return state if state[4] == "Stable" else None


def test_console_consumer_include_regex_with_group(broker_factory: Callable[..., BrokerProcess], topic: str) -> None:
    b = broker_factory(GROUP_OVERRIDES).bootstrap
    names: Sequence[str] = (f"{topic}-in-a", f"{topic}-in-b", f"{topic}-out")
    for name in names:
        ck_create_topic(b, name, partitions=1)
        ck_produce(b, name, [name.encode()], partition=0)
    group = new_group("cli-include")
    proc = ok("console-consumer", "--bootstrap-server", b, "--include", f"{topic}-in-.*", "--group", group,
              "--from-beginning", "--max-messages", "2", "--timeout-ms", "30000")  # fmt: skip
    assert sorted(proc.stdout.splitlines()) == [f"{topic}-in-a", f"{topic}-in-b"]
    assert sorted(offsets(b, group)) == [(f"{topic}-in-a", 0), (f"{topic}-in-b", 0)]
    # Without a group, --include assigns every matching topic's partitions (no commits, no group left behind).
    proc = ok("console-consumer", "--bootstrap-server", b, "--include", f"{topic}-in-.*", "--from-beginning",
              "--max-messages", "2", "--timeout-ms", "30000")  # fmt: skip
    assert sorted(proc.stdout.splitlines()) == [f"{topic}-in-a", f"{topic}-in-b"]
    assert ok("consumer-groups", "--bootstrap-server", b, "--list").stdout.splitlines() == [group]
