"""The checker catches each planted anomaly and passes a clean history (histories built as the recorders write
them, through `History`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from odradek.faults.checker import check, check_file
from odradek.faults.history import Event, History, read_history

T = "t"


class Builder:
    """A history of producers sending `<process>-<id>` and a final read_uncommitted read."""

    def __init__(self, path: Path | None = None) -> None:
        self.history = History(path)
        self.ids: dict[str, int] = {}

    def send(self, process: str, partition: int, offset: int | None, *, idempotent: bool = True,
             outcome: str = "ack", transactional: bool = False) -> str:  # fmt: skip
        send_id = self.ids.get(process, 0)
        self.ids[process] = send_id + 1
        value = f"{process}-{send_id}"
        self.history.record("send", process, id=send_id, topic=T, partition=partition, value=value,
                            idempotent=idempotent, transactional=transactional)  # fmt: skip
        if outcome == "ack":
            self.history.record("ack", process, id=send_id, partition=partition, offset=offset)
        else:
            self.history.record(outcome, process, id=send_id, error="REQUEST_TIMED_OUT")
        return value

    def read(self, partition: int, offset: int, value: str, *, hw: int = -1, process: str = "c0",
             phase: str = "live", isolation: str = "read_committed") -> None:  # fmt: skip
        self.history.record("read", process, topic=T, partition=partition, offset=offset, value=value, hw=hw,
                            isolation=isolation, phase=phase)  # fmt: skip

    def final(self, partition: int, log: list[str], log_start: int = 0, skip: tuple[int, ...] = ()) -> None:
        """The final read of `partition`: `log[i]` at offset log_start + i (offsets in `skip` not delivered)."""
        for i, value in enumerate(log):
            if log_start + i not in skip:
                self.read(partition, log_start + i, value, process="final", phase="final",
                          isolation="read_uncommitted")  # fmt: skip
        self.history.record("end", "final", topic=T, partition=partition, log_start=log_start,
                            hw=log_start + len(log), isolation="read_uncommitted")  # fmt: skip

    @property
    def events(self) -> list[Event]:
        return self.history.events


def clean() -> Builder:
    b = Builder()
    p0 = [b.send("p0", 0, i) for i in range(5)]
    p1 = [b.send("p1", 1, i) for i in range(3)]
    for i, value in enumerate(p0):
        b.read(0, i, value, hw=i + 1)
    b.final(0, p0)
    b.final(1, p1)
    return b


def test_a_clean_history_passes() -> None:
    result = check(clean().events)
    assert result.ok, result.summary()
    assert result.notes["acked"] == 8
    assert result.summary().startswith("PASS")


def test_a_planted_loss_is_reported() -> None:
    b = Builder()
    values = [b.send("p0", 0, i) for i in range(4)]
    b.final(0, values[:2] + values[3:], skip=())  # offset 2 now holds p0-3: p0-2 is gone, p0-3 moved
    result = check(b.events)
    assert "lost" in result.kinds(), result.summary()
    assert any("p0-2" in a.detail for a in result.anomalies if a.kind == "lost")


def test_an_acked_write_beyond_the_final_high_watermark_is_lost() -> None:
    b = Builder()
    values = [b.send("p0", 0, i) for i in range(4)]
    b.final(0, values[:3])  # truncated: HW 3, the ack at offset 3 is gone
    result = check(b.events)
    assert result.kinds() == {"lost"}
    assert "beyond the high watermark" in result.anomalies[0].detail


def test_a_partition_the_final_read_missed_loses_its_acks() -> None:
    b = Builder()
    b.send("p0", 0, 0)
    assert check(b.events).kinds() == {"lost"}


def test_a_planted_duplicate_is_reported_with_idempotence_and_only_noted_without() -> None:
    b = Builder()
    a0, a1 = b.send("p0", 0, 0), b.send("p0", 0, 1)
    b.final(0, [a0, a1, a1])  # a retry appended p0-1 again at offset 2
    assert check(b.events).kinds() == {"duplicate"}
    plain = Builder()
    a0, a1 = plain.send("p0", 0, 0, idempotent=False), plain.send("p0", 0, 1, idempotent=False)
    plain.final(0, [a0, a1, a1])
    result = check(plain.events)
    assert result.ok and result.notes["duplicates-without-idempotence"] == 1


def test_a_reorder_of_one_producer_in_one_partition_is_reported() -> None:
    b = Builder()
    a0 = b.send("p0", 0, 0)
    a1 = b.send("p0", 0, 2)  # acked at 2
    a2 = b.send("p0", 0, 1)  # sent after p0-1 but stored before it
    b.final(0, [a0, a2, a1])
    result = check(b.events)
    assert result.kinds() == {"reorder"}, result.summary()


def test_interleaved_producers_are_not_a_reorder() -> None:
    b = Builder()
    log = []
    for i in range(6):
        log.append(b.send(f"p{i % 2}", 0, i))
    b.final(0, log)
    assert check(b.events).ok


def test_a_high_watermark_going_backwards_is_reported() -> None:
    b = clean()
    b.read(1, 0, "p1-0", hw=3, process="c1")
    b.read(1, 1, "p1-1", hw=2, process="c1")  # a stale leader answered
    result = check(b.events)
    assert result.kinds() == {"hw-backwards"}, result.summary()


def test_a_consumer_reading_backwards_is_reported() -> None:
    b = clean()
    b.read(0, 2, "p0-2", process="c9")
    b.read(0, 1, "p0-1", process="c9")
    assert check(b.events).kinds() == {"read-backwards"}


def test_two_values_at_one_offset_are_reported() -> None:
    b = clean()
    b.read(1, 0, "someone-else", process="c2")
    assert check(b.events).kinds() == {"offset-conflict"}


def test_a_gap_below_the_high_watermark_is_reported_unless_transactions_explain_it() -> None:
    b = Builder()
    values = [b.send("p0", 0, i) for i in range(3)]
    b.final(0, [*values, "marker"], skip=(3,))
    b.history.events[-1]["hw"] = 4
    assert check(b.events).kinds() == {"offset-gap"}
    txn = Builder()
    values = [txn.send("p0", 0, i, transactional=True) for i in range(3)]
    txn.final(0, [*values, "marker"], skip=(3,))
    result = check(txn.events)
    assert result.ok and result.notes["control-gaps"] == 1


def test_unknown_and_failed_outcomes_are_notes_not_anomalies() -> None:
    b = Builder()
    a0 = b.send("p0", 0, 0)
    maybe = b.send("p0", 0, None, outcome="unknown")  # it did land
    b.send("p0", 0, None, outcome="unknown")  # it did not
    b.final(0, [a0, maybe])
    result = check(b.events)
    assert result.ok, result.summary()
    assert (result.notes["unknown-found"], result.notes["unknown-absent"]) == (1, 1)


def test_the_history_file_round_trips_and_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    b = Builder(path)
    values = [b.send("p0", 0, i) for i in range(3)]
    b.final(0, values)
    b.history.close()
    with open(path, "a") as handle:
        handle.write('{"type": "send", "proc')  # the recorder died mid-line
    assert read_history(path) == b.events
    assert check_file(path).ok
    with open(path, "a") as handle:
        handle.write('\n{"type": "ack"}\n')
    with pytest.raises(ValueError, match="not JSON"):
        read_history(path)


def test_the_cli_check_exits_0_on_a_clean_history_and_1_with_the_anomaly_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from odradek.cli.main import main

    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    b = Builder(good)
    values = [b.send("p0", 0, i) for i in range(3)]
    b.final(0, values)
    b.history.close()
    assert main(["faults", "check", str(good)]) == 0
    assert capsys.readouterr().out.startswith("PASS")
    lossy = Builder(bad)
    values = [lossy.send("p0", 0, i) for i in range(3)]
    lossy.final(0, values[:2])
    lossy.history.close()
    assert main(["faults", "check", str(bad), "--json"]) == 1
    assert '"lost"' in capsys.readouterr().out
    assert main(["faults", "check", str(tmp_path / "missing.jsonl")]) == 1
    assert "cannot read history" in capsys.readouterr().err
