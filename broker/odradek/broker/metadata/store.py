"""The ``MetadataStore`` interface: a small key-value store modelled on etcd v3.

Every implementation (``embedded.EmbeddedMetadataStore``, ``etcd.EtcdMetadataStore``; both opened by
``opener.open_store(url)``) gives these guarantees, which the controller and the metadata cache rely on:

- Keys and values are ``bytes``. The store has one global *revision*, an integer that starts at 0 for an
  empty store and grows by exactly 1 for every transaction that writes something (a put, or a delete that
  removed at least one key). Reads and transactions that write nothing do not change it. Revisions never go
  back, also not across restarts. (etcd: etcd's own revision, which starts at 1 and is shared by every key
  prefix of that etcd, so writes elsewhere advance it too; compare revisions, never count them.)
- Each live key has a ``KeyValue``: ``create_revision`` (revision of the put that created it),
  ``mod_revision`` (revision of its last put), ``version`` (puts since creation, 1 after the first) and
  ``lease`` (0 for none). A key that does not exist compares as version 0, create_revision 0 and
  mod_revision 0, like etcd; a *value* comparison on a missing key is false whatever the operator (also like
  etcd).
- ``txn`` is atomic: all compares are evaluated against one state; if they all hold, the success ops run in
  order, otherwise the failure ops do. Later ops of a branch see the writes of earlier ones.
- Watches: ``watch(prefix, start_revision)`` yields one ``list[WatchEvent]`` per revision, in revision
  order, for keys starting with ``prefix``. ``start_revision`` is inclusive, as in etcd: a consumer that has
  applied everything up to revision R resumes with ``start_revision=R + 1``; ``None`` means "only what is
  committed after the call". If the history needed has been compacted, iterating raises ``CompactedError``
  (the consumer re-reads with ``range`` and watches again from the revision of that read + 1).
- Leases: ``grant_lease(ttl)`` returns a non-zero id; keys put with that lease are deleted (DELETE events at
  a new revision) when the lease expires (no keepalive for ``ttl`` seconds) or is revoked. Leases are not
  durable across restarts of an embedded store: keys attached to one are deleted when it reopens.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "CompactedError",
    "Compare",
    "CompareResult",
    "CompareTarget",
    "EventType",
    "KeyValue",
    "LeaseNotFoundError",
    "MetadataStore",
    "MetadataStoreError",
    "Op",
    "OpKind",
    "OpResponse",
    "RangeResult",
    "StoreClosedError",
    "TxnResult",
    "WatchEvent",
    "WatchStream",
    "prefix_end",
]


class MetadataStoreError(Exception):
    """Base class of the store's errors."""


class CompactedError(MetadataStoreError):
    """The history a watch asked for is gone; re-read with ``range`` and watch from that revision + 1."""

    def __init__(self, requested_revision: int, compact_revision: int) -> None:
        super().__init__(
            f"revision {requested_revision} has been compacted; "
            f"the oldest revision a watch can start from is {compact_revision + 1}"
        )
        self.requested_revision = requested_revision
        self.compact_revision = compact_revision


class LeaseNotFoundError(MetadataStoreError):
    """The lease does not exist (never granted, expired or revoked)."""

    def __init__(self, lease_id: int) -> None:
        super().__init__(f"lease {lease_id} not found (expired, revoked or never granted)")
        self.lease_id = lease_id


class TxnTooLargeError(MetadataStoreError):
    """The store refused a transaction as too large, before applying any of it (etcd: more operations than its
    ``--max-txn-ops``, or a request over ``--max-request-bytes``). Retrying the same transaction cannot help."""


class StoreClosedError(MetadataStoreError):
    """The store has been closed, or failed and closed itself (for example after an I/O error)."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key at one revision (etcd's ``mvccpb.KeyValue``). ``lease`` is 0 when the key has none."""

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


class CompareTarget(enum.Enum):
    VALUE = "value"
    VERSION = "version"
    CREATE_REVISION = "create_revision"
    MOD_REVISION = "mod_revision"


class CompareResult(enum.Enum):
    EQUAL = "=="
    NOT_EQUAL = "!="
    GREATER = ">"
    LESS = "<"


@dataclass(frozen=True, slots=True)
class Compare:
    """``<target of key> <result> <operand>``; the operand is ``bytes`` for VALUE and ``int`` otherwise.

    Build them with the class methods, for example ``Compare.mod_revision(k, CompareResult.EQUAL, 7)`` or the
    shorthands ``Compare.absent(k)`` (create_revision == 0) and ``Compare.unchanged(k, kv.mod_revision)``.
    """

    key: bytes
    target: CompareTarget
    result: CompareResult
    operand: bytes | int

    def __post_init__(self) -> None:
        wants_bytes = self.target is CompareTarget.VALUE
        if wants_bytes != isinstance(self.operand, bytes):
            raise TypeError(f"compare on {self.target.value} needs a {'bytes' if wants_bytes else 'int'} operand")

    @classmethod
    def value(cls, key: bytes, result: CompareResult, value: bytes) -> Compare:
        return cls(key, CompareTarget.VALUE, result, value)

    @classmethod
    def version(cls, key: bytes, result: CompareResult, version: int) -> Compare:
        return cls(key, CompareTarget.VERSION, result, version)

    @classmethod
    def create_revision(cls, key: bytes, result: CompareResult, revision: int) -> Compare:
        return cls(key, CompareTarget.CREATE_REVISION, result, revision)

    @classmethod
    def mod_revision(cls, key: bytes, result: CompareResult, revision: int) -> Compare:
        return cls(key, CompareTarget.MOD_REVISION, result, revision)

    @classmethod
    def absent(cls, key: bytes) -> Compare:
        """True when ``key`` does not exist."""
        return cls(key, CompareTarget.CREATE_REVISION, CompareResult.EQUAL, 0)

    @classmethod
    def unchanged(cls, key: bytes, mod_revision: int) -> Compare:
        """True when ``key`` was last written at ``mod_revision`` (0: the key must not exist)."""
        return cls(key, CompareTarget.MOD_REVISION, CompareResult.EQUAL, mod_revision)

    def holds(self, kv: KeyValue | None) -> bool:
        """Evaluates the compare against the key's current state (``None``: the key does not exist)."""
        actual: bytes | int
        if self.target is CompareTarget.VALUE:
            if kv is None:
                return False
            actual = kv.value
        elif self.target is CompareTarget.VERSION:
            actual = kv.version if kv else 0
        elif self.target is CompareTarget.CREATE_REVISION:
            actual = kv.create_revision if kv else 0
        else:
            actual = kv.mod_revision if kv else 0
        return _apply(self.result, actual, self.operand)


def _apply(result: CompareResult, actual: bytes | int, operand: bytes | int) -> bool:
    if result is CompareResult.EQUAL:
        return actual == operand
    if result is CompareResult.NOT_EQUAL:
        return actual != operand
    if result is CompareResult.GREATER:
        return actual > operand  # type: ignore[operator]  # same type, checked in Compare.__post_init__
    return actual < operand  # type: ignore[operator]


class OpKind(enum.Enum):
    PUT = "put"
    DELETE = "delete"
    GET = "get"


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a transaction branch: build with ``Op.put``, ``Op.delete`` or ``Op.get``.

    ``prefix=True`` makes a delete or get cover every key that starts with ``key`` (``b""``: all keys).
    """

    kind: OpKind
    key: bytes
    value: bytes = b""
    lease: int | None = None
    prefix: bool = False

    @classmethod
    def put(cls, key: bytes, value: bytes, lease: int | None = None) -> Op:
        return cls(OpKind.PUT, key, value, lease)

    @classmethod
    def delete(cls, key: bytes, *, prefix: bool = False) -> Op:
        return cls(OpKind.DELETE, key, prefix=prefix)

    @classmethod
    def get(cls, key: bytes, *, prefix: bool = False) -> Op:
        return cls(OpKind.GET, key, prefix=prefix)

    def matches(self, key: bytes) -> bool:
        return key.startswith(self.key) if self.prefix else key == self.key


@dataclass(frozen=True, slots=True)
class OpResponse:
    """The outcome of one ``Op``, in the order of the branch that ran.

    - GET: ``kvs`` holds the matching keys sorted by key; ``prev_kvs`` is empty.
    - PUT: ``kvs`` holds the key as written; ``prev_kvs`` the key before the put (empty if it was created).
    - DELETE: ``kvs`` is empty; ``prev_kvs`` holds the deleted keys sorted by key (``deleted`` counts
      them).
    """

    kind: OpKind
    kvs: tuple[KeyValue, ...] = ()
    prev_kvs: tuple[KeyValue, ...] = ()

    @property
    def deleted(self) -> int:
        return len(self.prev_kvs) if self.kind is OpKind.DELETE else 0


@dataclass(frozen=True, slots=True)
class TxnResult:
    """``revision`` is the store revision after the txn (the txn's own revision if it wrote something)."""

    succeeded: bool
    revision: int
    responses: tuple[OpResponse, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Keys with a prefix, sorted by key, as of store revision ``revision``."""

    kvs: tuple[KeyValue, ...]
    revision: int


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A change to one key.

    For DELETE, ``kv`` has the key, an empty value, version 0 and ``mod_revision`` set to the revision of the
    delete (etcd's tombstone); ``prev_kv`` is the key's state before the change, if any.
    """

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@runtime_checkable
class WatchStream(Protocol):
    """An async iterator of event batches (one batch per revision) that can be closed early."""

    def __aiter__(self) -> AsyncIterator[list[WatchEvent]]: ...

    async def __anext__(self) -> list[WatchEvent]: ...

    async def aclose(self) -> None: ...


class MetadataStore(Protocol):
    """The cluster-metadata store (see the module docstring for the guarantees)."""

    @property
    def revision(self) -> int:
        """The newest store revision this client knows to be committed: its own last write or a later revision
        it has read (etcd: the highest response-header revision seen). Read-your-writes waits use it."""
        ...

    async def get(self, key: bytes) -> KeyValue | None:
        """The key's current state, or ``None``."""
        ...

    async def range(self, prefix: bytes) -> RangeResult:
        """Keys starting with ``prefix`` (``b""``: all), sorted, with the store revision of the read."""
        ...

    async def txn(self, compares: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        """Atomic compare-and-swap; ``LeaseNotFoundError`` if a put of the branch names an unknown lease."""
        ...

    async def put(self, key: bytes, value: bytes, lease: int | None = None) -> KeyValue:
        """Unconditional put; returns the key as written."""
        ...

    async def delete(self, key: bytes, *, prefix: bool = False) -> int:
        """Unconditional delete of a key (or of every key with the prefix); returns how many were deleted."""
        ...

    def watch(self, prefix: bytes, start_revision: int | None = None) -> WatchStream:
        """Changes to keys with ``prefix`` from ``start_revision`` (inclusive) on; ``None``: from now on.

        The watch is registered when this returns, so nothing committed afterwards is missed. Iteration raises
        ``CompactedError`` if the history is gone, and ends when the store closes.
        """
        ...

    async def grant_lease(self, ttl_s: float) -> int:
        """A new lease that expires ``ttl_s`` seconds from now unless kept alive."""
        ...

    def lease_ttl_within(self, deadline_s: float) -> float:
        """The TTL to grant so that a lease not kept alive is gone at most ``deadline_s`` after its last keepalive
        (where it can be: at least the store's smallest TTL). A store that ends leases late asks for less."""
        ...

    async def keepalive(self, lease_id: int) -> float:
        """Renews the lease to its full TTL and returns the TTL; ``LeaseNotFoundError`` if it is gone."""
        ...

    async def revoke(self, lease_id: int) -> None:
        """Ends the lease now, deleting its keys; ``LeaseNotFoundError`` if it is gone."""
        ...

    async def close(self) -> None:
        """Releases resources; open watches end. Idempotent."""
        ...


def prefix_end(prefix: bytes) -> bytes:
    """etcd's ``range_end`` for a prefix: its last byte below 0xff incremented (``b"\\0"`` for all keys).

    Implementations that talk to etcd need it; the embedded store matches prefixes directly.
    """
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\0"
    return trimmed[:-1] + bytes([trimmed[-1] + 1])
