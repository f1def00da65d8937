"""The checker: the fault suite's invariants over a history (and, optionally, the replicas' folders).

Anomalies (any one fails the check):

- `lost`: an acknowledged send is not at its (partition, offset) in the final read (read_uncommitted), or the
  final read did not reach that offset's partition at all.
- `offset-conflict`: two different values at one (topic, partition, offset), across acks, live reads and final
  reads (offsets must be unique).
- `offset-gap`: an offset between the log start and the high watermark that the final read_uncommitted read
  skipped and that is not a control batch (transaction marker). When no replica folder tells where the control
  batches are, gaps are accepted only on topics that transactional producers wrote, and counted in `notes`.
- `duplicate`: one value at two offsets of a partition, when its producer was idempotent (without idempotence a
  retry may duplicate: counted in `notes`).
- `reorder`: an idempotent producer's values at increasing offsets of one partition whose send ids decrease.
- `hw-backwards`: a consumer saw the high watermark of a partition decrease.
- `read-backwards`: a consumer received a record at an offset not above the previous one it read there.
- `diverged`: replicas of a partition whose batches below the high watermark are not byte-identical
  (`segments.check_convergence`).

Notes (reported, never failing): sends with an unknown outcome, found or not; failed sends found anyway;
duplicates without idempotence; control gaps.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from odradek.faults.history import Event
from odradek.faults.segments import check_convergence, control_offsets

TP = tuple[str, int]
MAX_EXAMPLES = 20


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str
    topic: str
    partition: int
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.topic}-{self.partition}: {self.detail}"


@dataclass(slots=True)
class CheckResult:
    anomalies: list[Anomaly] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    notes: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def ok(self) -> bool:
        return not self.anomalies

    def kinds(self) -> set[str]:
        return {a.kind for a in self.anomalies}

    def add(self, kind: str, tp: TP, detail: str) -> None:
        self.counts[kind] += 1
        if sum(1 for a in self.anomalies if a.kind == kind) < MAX_EXAMPLES:
            self.anomalies.append(Anomaly(kind, tp[0], tp[1], detail))

    def summary(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        counts = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "no anomalies"
        notes = ", ".join(f"{k}={v}" for k, v in sorted(self.notes.items()))
        lines = [f"{verdict}: {counts}" + (f" ({notes})" if notes else "")]
        lines += [f"  {a}" for a in self.anomalies]
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(
            {
                "ok": self.ok,
                "counts": dict(self.counts),
                "notes": dict(self.notes),
                "anomalies": [{"kind": a.kind, "topic": a.topic, "partition": a.partition, "detail": a.detail}
                              for a in self.anomalies],
            }
        )  # fmt: skip


@dataclass(slots=True)
class _Send:
    process: str
    id: int
    topic: str
    value: str
    idempotent: bool
    transactional: bool
    outcome: str = "pending"  # ack | fail | unknown | pending (the recorder stopped before an outcome)
    partition: int = -1
    offset: int = -1


def check(
    events: Iterable[Event],
    replicas: Mapping[TP, Sequence[Path]] | None = None,
) -> CheckResult:
    """Check a history. `replicas`: for a (topic, partition), the folders of its replicas (any order); with them the
    check also covers convergence and tells control batches from gaps."""
    history = list(events)
    result = CheckResult()
    sends = _sends(history)
    finals, ends = _finals(history)
    controls = {tp: set().union(*(control_offsets(d) for d in dirs)) for tp, dirs in (replicas or {}).items()}
    _check_offsets_unique(history, sends, result)
    _check_acked_present(sends, finals, ends, result)
    _check_contiguous(sends, finals, ends, controls, result)
    _check_duplicates_and_order(sends, finals, result)
    _check_consumers(history, result)
    _note_unacked(sends, finals, result)
    for tp, dirs in (replicas or {}).items():
        if tp in ends:
            for divergence in check_convergence(list(dirs), ends[tp]["hw"]):
                result.add(
                    "diverged", tp, f"{divergence.replica} vs {divergence.reference} at {divergence.offset}: "
                    f"{divergence.detail}"
                )  # fmt: skip
    result.notes["acked"] = sum(1 for s in sends.values() if s.outcome == "ack")
    return result


def _sends(history: list[Event]) -> dict[tuple[str, int], _Send]:
    sends: dict[tuple[str, int], _Send] = {}
    for e in history:
        key = (e["process"], e.get("id", -1))
        if e["type"] == "send":
            sends[key] = _Send(
                e["process"], e["id"], e["topic"], e["value"], bool(e.get("idempotent")), bool(e.get("transactional"))
            )
        elif e["type"] in ("ack", "fail", "unknown") and key in sends:
            send = sends[key]
            send.outcome = e["type"]
            if e["type"] == "ack":
                send.partition, send.offset = e["partition"], e["offset"]
    return sends


def _finals(history: list[Event]) -> tuple[dict[TP, dict[int, str]], dict[TP, Event]]:
    """The final read_uncommitted read: (topic, partition) -> {offset: value}, and its `end` events."""
    finals: dict[TP, dict[int, str]] = defaultdict(dict)
    ends: dict[TP, Event] = {}
    for e in history:
        if e.get("isolation") != "read_uncommitted":
            continue
        tp = (e.get("topic", ""), e.get("partition", -1))
        if e["type"] == "read" and e.get("phase") == "final":
            finals[tp][e["offset"]] = e["value"]
        elif e["type"] == "end":
            ends[tp] = e
    return finals, ends


def _check_offsets_unique(history: list[Event], sends: dict[tuple[str, int], _Send], result: CheckResult) -> None:
    seen: dict[tuple[str, int, int], str] = {}

    def claim(tp: TP, offset: int, value: str, source: str) -> None:
        key = (tp[0], tp[1], offset)
        other = seen.setdefault(key, value)
        if other != value:
            result.add("offset-conflict", tp, f"offset {offset} holds {other!r} and {value!r} ({source})")

    for s in sends.values():
        if s.outcome == "ack":
            claim((s.topic, s.partition), s.offset, s.value, f"ack of {s.process}#{s.id}")
    for e in history:
        if e["type"] == "read":
            claim((e["topic"], e["partition"]), e["offset"], e["value"], f"read by {e['process']}")


def _check_acked_present(
    sends: dict[tuple[str, int], _Send], finals: dict[TP, dict[int, str]], ends: dict[TP, Event], result: CheckResult
) -> None:
    for s in sends.values():
        if s.outcome != "ack":
            continue
        tp = (s.topic, s.partition)
        end = ends.get(tp)
        if end is None:
            result.add("lost", tp, f"acked {s.value!r} at {s.offset}: the final read never reached this partition")
        elif s.offset < end["log_start"]:
            result.notes["acked-below-log-start"] += 1  # deleted by retention or DeleteRecords, not lost
        elif finals.get(tp, {}).get(s.offset) != s.value:
            found = finals.get(tp, {}).get(s.offset)
            where = "beyond the high watermark" if s.offset >= end["hw"] else f"found {found!r}"
            result.add("lost", tp, f"acked {s.value!r} at {s.offset}, {where}")


def _check_contiguous(
    sends: dict[tuple[str, int], _Send],
    finals: dict[TP, dict[int, str]],
    ends: dict[TP, Event],
    controls: dict[TP, set[int]],
    result: CheckResult,
) -> None:
    transactional_topics = {s.topic for s in sends.values() if s.transactional}
    for tp, end in ends.items():
        read = finals.get(tp, {})
        gaps = [o for o in range(end["log_start"], end["hw"]) if o not in read]
        if tp in controls:
            unexplained = [o for o in gaps if o not in controls[tp]]
            result.notes["control-gaps"] += len(gaps) - len(unexplained)
        elif tp[0] in transactional_topics:
            result.notes["control-gaps"] += len(gaps)
            unexplained = []
        else:
            unexplained = gaps
        if unexplained:
            result.add("offset-gap", tp, f"{len(unexplained)} offsets missing below the HW {end['hw']}, first "
                       f"{unexplained[:5]}")  # fmt: skip


def _check_duplicates_and_order(
    sends: dict[tuple[str, int], _Send], finals: dict[TP, dict[int, str]], result: CheckResult
) -> None:
    by_value = {s.value: s for s in sends.values()}
    for tp, read in finals.items():
        offsets_of: dict[str, list[int]] = defaultdict(list)
        for offset, value in sorted(read.items()):
            offsets_of[value].append(offset)
        for value, offsets in offsets_of.items():
            send = by_value.get(value)
            if len(offsets) > 1:
                if send is not None and send.idempotent:
                    result.add("duplicate", tp, f"{value!r} at offsets {offsets}")
                else:
                    result.notes["duplicates-without-idempotence"] += len(offsets) - 1
        last_id: dict[str, tuple[int, int]] = {}
        for offset, value in sorted(read.items()):
            send = by_value.get(value)
            if send is None or not send.idempotent:
                continue
            previous = last_id.get(send.process)
            if previous is not None and send.id < previous[0]:
                result.add(
                    "reorder", tp, f"{send.process}#{send.id} at {offset} after {send.process}#{previous[0]} at "
                    f"{previous[1]}"
                )  # fmt: skip
            last_id[send.process] = (max(send.id, previous[0]) if previous else send.id, offset)


def _check_consumers(history: list[Event], result: CheckResult) -> None:
    # Per consumer (process and isolation: the final reads of both levels are two consumers) and partition.
    hw: dict[tuple[str, str, int], int] = {}
    position: dict[tuple[str, str, int], int] = {}
    for e in history:
        if e["type"] != "read":
            continue
        key = (f"{e['process']}/{e.get('isolation')}", e["topic"], e["partition"])
        tp = (e["topic"], e["partition"])
        seen = e.get("hw", -1)
        if seen >= 0:
            if seen < hw.get(key, -1):
                result.add("hw-backwards", tp, f"{key[0]} saw HW {hw[key]} then {seen}")
            hw[key] = max(seen, hw.get(key, -1))
        if e["offset"] <= position.get(key, -1):
            result.add("read-backwards", tp, f"{key[0]} read {position[key]} then {e['offset']}")
        position[key] = max(e["offset"], position.get(key, -1))


def _note_unacked(sends: dict[tuple[str, int], _Send], finals: dict[TP, dict[int, str]], result: CheckResult) -> None:
    present = {value for read in finals.values() for value in read.values()}
    for s in sends.values():
        if s.outcome == "ack":
            continue
        found = "found" if s.value in present else "absent"
        result.notes[f"{s.outcome}-{found}"] += 1


def check_file(path: Path | str, replicas: Mapping[TP, Sequence[Path]] | None = None) -> CheckResult:
    from odradek.faults.history import read_history

    return check(read_history(path), replicas)


def partitions_of(events: Iterable[Event]) -> set[TP]:
    """Every (topic, partition) the history's final read ended on."""
    return {(e["topic"], e["partition"]) for e in events if e["type"] == "end"}
