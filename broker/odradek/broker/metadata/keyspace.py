"""The in-memory key space of the embedded store and the planning of transactions against it (no I/O).

``plan_txn`` evaluates a transaction on a ``KeySpace`` without changing it and returns the responses plus
the net ``Change`` per key; ``KeySpace.apply`` then installs those changes once they are durable. Later ops
of a branch see the writes of earlier ones through an overlay. A key written twice in one transaction gets
version + 2 (etcd rejects such transactions; we accept them and keep the result consistent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from odradek.broker.metadata.journal import Change
from odradek.broker.metadata.store import (
    Compare,
    EventType,
    KeyValue,
    Op,
    OpKind,
    OpResponse,
    WatchEvent,
)

__all__ = ["KeySpace", "TxnPlan", "plan_txn"]


class KeySpace:
    """The live keys, by key. ``revision`` is the revision of the last applied write."""

    def __init__(self, kvs: dict[bytes, KeyValue] | None = None, revision: int = 0) -> None:
        self.kvs: dict[bytes, KeyValue] = dict(kvs or {})
        self.revision = revision

    def get(self, key: bytes) -> KeyValue | None:
        return self.kvs.get(key)

    def range(self, prefix: bytes) -> tuple[KeyValue, ...]:
        keys = sorted(k for k in self.kvs if k.startswith(prefix))
        return tuple(self.kvs[k] for k in keys)

    def apply(self, revision: int, changes: Iterable[Change]) -> list[WatchEvent]:
        """Installs the changes of ``revision`` and returns the watch events they make."""
        events = []
        for change in changes:
            prev = self.kvs.get(change.key)
            if change.kv is None:
                if prev is None:
                    continue
                del self.kvs[change.key]
                tombstone = KeyValue(change.key, b"", 0, revision, 0, 0)
                events.append(WatchEvent(EventType.DELETE, tombstone, prev))
            else:
                self.kvs[change.key] = change.kv
                events.append(WatchEvent(EventType.PUT, change.kv, prev))
        self.revision = revision
        return events


@dataclass(frozen=True, slots=True)
class TxnPlan:
    succeeded: bool
    responses: tuple[OpResponse, ...]
    changes: tuple[Change, ...]


class _Overlay:
    """The key space as seen inside one transaction (writes of earlier ops applied)."""

    def __init__(self, space: KeySpace, revision: int) -> None:
        self._space = space
        self._revision = revision
        self._written: dict[bytes, KeyValue | None] = {}

    def get(self, key: bytes) -> KeyValue | None:
        if key in self._written:
            return self._written[key]
        return self._space.get(key)

    def matching(self, op: Op) -> tuple[KeyValue, ...]:
        if not op.prefix:
            kv = self.get(op.key)
            return (kv,) if kv is not None else ()
        keys = {k for k in self._space.kvs if k.startswith(op.key)}
        keys.update(k for k in self._written if k.startswith(op.key))
        found = (self.get(k) for k in sorted(keys))
        return tuple(kv for kv in found if kv is not None)

    def run(self, op: Op) -> OpResponse:
        if op.kind is OpKind.GET:
            return OpResponse(OpKind.GET, self.matching(op))
        if op.kind is OpKind.DELETE:
            deleted = self.matching(op)
            for kv in deleted:
                self._written[kv.key] = None
            return OpResponse(OpKind.DELETE, (), deleted)
        prev = self.get(op.key)
        kv = KeyValue(
            op.key,
            op.value,
            prev.create_revision if prev else self._revision,
            self._revision,
            prev.version + 1 if prev else 1,
            op.lease or 0,
        )
        self._written[op.key] = kv
        return OpResponse(OpKind.PUT, (kv,), (prev,) if prev else ())

    def changes(self) -> tuple[Change, ...]:
        """Net changes: keys whose final state differs from the committed one (a put then delete of a new key
        is no change)."""
        out = []
        for key, kv in self._written.items():
            if kv is None and self._space.get(key) is None:
                continue
            out.append(Change(key, kv))
        return tuple(out)


def plan_txn(space: KeySpace, compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op]) -> TxnPlan:
    """Evaluates a transaction against ``space`` as revision ``space.revision + 1`` without modifying it."""
    succeeded = all(c.holds(space.get(c.key)) for c in compares)
    overlay = _Overlay(space, space.revision + 1)
    responses = tuple(overlay.run(op) for op in (success if succeeded else failure))
    return TxnPlan(succeeded, responses, overlay.changes())
