"""``EtcdMetadataStore``: the ``MetadataStore`` on an etcd v3 cluster (Debian's ``etcd-server`` 3.4), for clusters.

Opened by ``opener.open_store("etcd://host:port,host:port/prefix")``; the wire part is ``etcd_client.EtcdClient``
(the ``/v3/`` JSON gateway, endpoint failover, per-request timeouts). Every key of the interface is stored as
``prefix + key`` (``prefix`` is ``b""`` or starts with ``/``, without a trailing ``/``), so several clusters can
share one etcd; keys outside the prefix are never seen.

How the interface maps onto etcd (its guarantees are the module docstring of ``store``):

- Revisions are etcd's: one counter for the whole etcd cluster, so writes under other prefixes (and lease
  expiries) advance it too, and an empty etcd starts at 1. ``revision`` is the highest response-header (or
  event) revision this client has seen.
- ``txn`` is one etcd ``Txn``. A put reply carries only the previous key (``prev_kv``), so the key as written is
  derived from it and the txn's revision. etcd refuses a branch that puts a key twice or puts a key it also
  deletes ("duplicate key"); the interface allows it, so such a txn is *planned*: the keys it touches are read at
  one revision R, ``keyspace.plan_txn`` works out its responses and net changes (what the embedded store does),
  and the net changes are written by a txn that also compares that nothing it read changed since R; if
  something did, it starts over.
- Unknown outcomes: a txn whose request timed out or whose connection broke may or may not have committed. The
  store then reads what it wrote: if every put of the success branch is there with its value and lease, all at
  one revision W newer than any this client had seen before sending, the txn committed at W (its responses are
  rebuilt from a read at W - 1); otherwise it is sent again. A CAS resent after it did commit fails its compares,
  and the same check then finds it committed, so the caller sees one success, never a false conflict. A success
  branch without puts cannot be recognised this way; it is resent (deletes are idempotent, and its compares
  decide). An unconditional put may so be applied twice (one more revision, same value).
- Watches: one streaming ``/v3/watch`` request each (``EtcdWatch``), with ``prev_kv``; events are handed out one
  batch per revision. When the stream breaks (member died, member lost its leader, no answer to a status probe
  while idle) the watch reconnects to the next endpoint from the last revision it delivered + 1. If that history
  has been compacted, iteration raises ``CompactedError`` and the consumer relists (``cache.MetadataCache``
  does). ``start_revision=None`` starts after ``revision``: never later than the call, possibly earlier (events
  committed elsewhere since this client's last reply are then delivered too).
- Leases: etcd's, with a TTL of whole seconds (rounded up; etcd's minimum applies). ``keepalive`` is one
  ``/v3/lease/keepalive`` exchange; the renewal loop is ``lease.keep_lease_alive``, as for the embedded store.
  Leases survive a restart of the broker (and an etcd leader change renews them to their full TTL).

etcd must be compacted by its own configuration (``--auto-compaction-retention``); this store never compacts
on its own (``compact`` exists for operators and tests).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any, TypeVar

from odradek.broker.metadata.etcd_client import (
    GRPC_NOT_FOUND,
    GRPC_OUT_OF_RANGE,
    EtcdClient,
    EtcdError,
    Json,
    OutcomeUnknownError,
    b64,
    int_field,
    unb64,
)
from odradek.broker.metadata.keyspace import KeySpace, plan_txn
from odradek.broker.metadata.store import (
    CompactedError,
    Compare,
    CompareResult,
    CompareTarget,
    EventType,
    KeyValue,
    LeaseNotFoundError,
    MetadataStoreError,
    Op,
    OpKind,
    OpResponse,
    RangeResult,
    StoreClosedError,
    TxnResult,
    TxnTooLargeError,
    WatchEvent,
    prefix_end,
)

__all__ = ["ETCD_LEASE_EXPIRY_CHECK_S", "EtcdMetadataStore", "EtcdWatch", "etcd_lease_ttl"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def etcd_lease_ttl(deadline_s: float) -> int:
    """The whole-second etcd TTL for a lease that must end within ``deadline_s`` seconds of its last keepalive.

    etcd revokes a lease up to ``ETCD_LEASE_EXPIRY_CHECK_S`` after its TTL, so the TTL is ``deadline_s`` less that,
    rounded down: a broker whose ``broker.session.timeout.ms`` is 9000 gets TTL 8 and is fenced 8.0-8.5 s after its
    last heartbeat, never after the configured timeout (Kafka's controller fences at the session timeout). At least 1.
    """
    return max(1, math.floor(deadline_s - ETCD_LEASE_EXPIRY_CHECK_S + 1e-6))


_TARGETS = {
    CompareTarget.VALUE: ("VALUE", "value"),
    CompareTarget.VERSION: ("VERSION", "version"),
    CompareTarget.CREATE_REVISION: ("CREATE", "create_revision"),
    CompareTarget.MOD_REVISION: ("MOD", "mod_revision"),
}
_RESULTS = {
    CompareResult.EQUAL: "EQUAL",
    CompareResult.NOT_EQUAL: "NOT_EQUAL",
    CompareResult.GREATER: "GREATER",
    CompareResult.LESS: "LESS",
}
_WATCH_BACKOFF_S = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)
# etcd's lessor looks for expired leases every 500 ms (lessor.go's run loop), so a lease of TTL t is revoked between
# t and t + 0.5 s after its last keepalive; TTLs are whole seconds.
ETCD_LEASE_EXPIRY_CHECK_S = 0.5


# etcd's refusals of a request too large to apply (INVALID_ARGUMENT, nothing applied): --max-txn-ops and
# --max-request-bytes.
_TOO_LARGE_MESSAGES = ("too many operations in txn request", "request is too large")


class EtcdMetadataStore:
    """A ``MetadataStore`` on etcd. Create it with ``await EtcdMetadataStore.open(endpoints, prefix)``."""

    def __init__(self, client: EtcdClient, prefix: bytes, *, watch_idle_check_s: float) -> None:
        if prefix and (not prefix.startswith(b"/") or prefix.endswith(b"/")):
            raise ValueError(f"etcd key prefix {prefix!r} must start with / and not end with /")
        self._client = client
        self._prefix = prefix
        self._watch_idle_check_s = watch_idle_check_s
        self._revision = 0
        self._watches: set[EtcdWatch] = set()
        self._loop = asyncio.get_running_loop()
        self._closed = False

    @classmethod
    async def open(
        cls,
        endpoints: Sequence[str],
        prefix: bytes = b"",
        *,
        request_timeout_s: float = 2.0,
        operation_timeout_s: float = 10.0,
        watch_idle_check_s: float = 5.0,
    ) -> EtcdMetadataStore:
        """Connects (``endpoints``: ``http://host:port``) and reads the current revision; ``MetadataStoreError``
        if no endpoint answers within ``operation_timeout_s``."""
        client = EtcdClient(endpoints, request_timeout_s=request_timeout_s, operation_timeout_s=operation_timeout_s)
        store = cls(client, prefix, watch_idle_check_s=watch_idle_check_s)
        try:
            await store.get(b"/")
        except BaseException:
            await store.close()
            raise
        return store

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def prefix(self) -> bytes:
        return self._prefix

    @property
    def endpoints(self) -> list[str]:
        return list(self._client.endpoints)

    # -- reads ---------------------------------------------------------------------------------------------

    async def get(self, key: bytes) -> KeyValue | None:
        reply = await self._call("kv/range", {"key": b64(self._prefix + key)}, idempotent=True)
        kvs = [self._kv(kv) for kv in reply.get("kvs", ())]
        return kvs[0] if kvs else None

    async def range(self, prefix: bytes) -> RangeResult:
        reply = await self._call("kv/range", self._range(prefix, True), idempotent=True)
        return RangeResult(tuple(self._kv(kv) for kv in reply.get("kvs", ())), self._header(reply))

    # -- writes --------------------------------------------------------------------------------------------

    async def txn(self, compares: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        return await self._shielded(self._txn(compares, success, failure))

    async def put(self, key: bytes, value: bytes, lease: int | None = None) -> KeyValue:
        result = await self.txn([], [Op.put(key, value, lease)], [])
        return result.responses[0].kvs[0]

    async def delete(self, key: bytes, *, prefix: bool = False) -> int:
        result = await self.txn([], [Op.delete(key, prefix=prefix)], [])
        return result.responses[0].deleted

    async def _txn(self, compares: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        self._check_open()
        if _refused_by_etcd(success) or _refused_by_etcd(failure):
            return await self._planned_txn(compares, success, failure)
        wire = [self._compare(c) for c in compares]
        return await self._sent_txn(wire, compares, success, failure)

    async def _sent_txn(
        self, wire_compares: list[Json], compares: list[Compare], success: list[Op], failure: list[Op]
    ) -> TxnResult:
        """Sends one etcd txn and resolves an unknown outcome (module docstring). ``compares`` are the local form
        of ``wire_compares`` (empty when those are guards only etcd can evaluate)."""
        request = {
            "compare": wire_compares,
            "success": [self._request_op(op) for op in success],
            "failure": [self._request_op(op) for op in failure],
        }
        seen_before = self._revision
        uncertain = False
        deadline = self._loop.time() + self._client.operation_timeout_s
        while True:
            try:
                reply = await self._call("kv/txn", request, idempotent=False)
            except OutcomeUnknownError:
                uncertain = True
                committed = await self._committed(compares, success, failure, seen_before)
                if committed is not None:
                    return committed
                if self._loop.time() >= deadline:
                    raise
                continue
            succeeded = bool(reply.get("succeeded"))
            if not succeeded and uncertain:
                committed = await self._committed(compares, success, failure, seen_before)
                if committed is not None:
                    return committed
            revision = self._header(reply)
            ops = success if succeeded else failure
            responses = tuple(
                self._op_response(op, r, revision) for op, r in zip(ops, reply.get("responses", ()), strict=True)
            )
            return TxnResult(succeeded, revision, responses)

    async def _committed(
        self, compares: list[Compare], success: list[Op], failure: list[Op], seen_before: int
    ) -> TxnResult | None:
        """The result of the txn if what it writes says it committed after ``seen_before``; ``None`` if not."""
        puts = [op for op in success if op.kind is OpKind.PUT]
        if not puts:
            return None
        now = await self._read(puts, at_revision=0)
        found = [now.get(op.key) for op in puts]
        revisions = {kv.mod_revision for kv in found if kv is not None}
        for op, kv in zip(puts, found, strict=True):
            if kv is None or kv.value != op.value or kv.lease != (op.lease or 0):
                return None
        if len(revisions) != 1 or (written := revisions.pop()) <= seen_before:
            return None
        try:
            before = await self._read([*compares, *success, *failure], at_revision=written - 1)
        except CompactedError:
            raise MetadataStoreError(f"txn committed at revision {written}; its prior state is compacted") from None
        plan = plan_txn(before, compares, success, failure)
        if not plan.succeeded:
            return None
        return TxnResult(True, written, plan.responses)

    async def _planned_txn(self, compares: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        """A txn etcd would refuse: planned locally on a read of what it touches, written with guards."""
        deadline = self._loop.time() + self._client.operation_timeout_s
        while True:
            wanted: list[Compare | Op] = [*compares, *success, *failure]
            space = await self._read(wanted, at_revision=0)
            plan = plan_txn(space, compares, success, failure)
            if not plan.changes:
                return TxnResult(plan.succeeded, space.revision, plan.responses)
            guards = self._guards(wanted, space)
            ops = [Op.put(c.key, c.kv.value, c.kv.lease or None) if c.kv else Op.delete(c.key) for c in plan.changes]
            written = await self._sent_txn(guards, [], ops, [])
            if written.succeeded:
                planned = space.revision + 1
                responses = tuple(_with_revision(r, planned, written.revision) for r in plan.responses)
                return TxnResult(plan.succeeded, written.revision, responses)
            if self._loop.time() >= deadline:
                raise MetadataStoreError("etcd txn: the keys it touches kept changing; gave up")

    def _guards(self, wanted: list[Compare | Op], space: KeySpace) -> list[Json]:
        """Compares that hold while nothing read into ``space`` has changed."""
        guards: dict[tuple[bytes, bool], Json] = {}
        for item in wanted:
            prefix = isinstance(item, Op) and item.prefix
            if prefix:
                start, end = self._bounds(item.key)
                # No key of the range was written after the read (this also catches keys created since) ...
                guard = {"key": b64(start), "range_end": b64(end), "target": "MOD", "result": "LESS"}
                guards[(item.key, True)] = guard | {"mod_revision": str(space.revision + 1)}
                keys = [kv.key for kv in space.range(item.key)]
            else:
                keys = [item.key]
            # ... and every key read is still there at its revision (0: still absent).
            for key in keys:
                kv = space.get(key)
                guards[(key, False)] = {
                    "key": b64(self._prefix + key),
                    "target": "MOD",
                    "result": "EQUAL",
                    "mod_revision": str(kv.mod_revision if kv else 0),
                }
        return list(guards.values())

    async def _read(self, wanted: Sequence[Compare | Op], at_revision: int) -> KeySpace:
        """The keys that ``wanted`` touch (a prefix op: its whole range) in one read, at ``at_revision`` (0: now)."""
        ops: list[Json] = []
        for item in wanted:
            request = self._range(item.key, isinstance(item, Op) and item.prefix)
            if at_revision:
                request["revision"] = str(at_revision)
            ops.append({"request_range": request})
        try:
            reply = await self._call("kv/txn", {"success": ops}, idempotent=True)
        except EtcdError as e:
            if e.code == GRPC_OUT_OF_RANGE and "compacted" in e.message:
                raise CompactedError(at_revision, at_revision) from None
            raise
        kvs: dict[bytes, KeyValue] = {}
        for response in reply.get("responses", ()):
            for raw in response.get("response_range", {}).get("kvs", ()):
                kv = self._kv(raw)
                kvs[kv.key] = kv
        return KeySpace(kvs, at_revision or self._header(reply))

    async def _shielded(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs a write in its own task, so a cancelled caller only stops waiting (as in the embedded store)."""
        task = self._loop.create_task(coro)
        task.add_done_callback(_consume_exception)
        return await asyncio.shield(task)

    # -- watches -------------------------------------------------------------------------------------------

    def watch(self, prefix: bytes, start_revision: int | None = None) -> EtcdWatch:
        self._check_open()
        if start_revision is not None and start_revision < 0:
            raise ValueError("start_revision must be >= 0")
        watch = EtcdWatch(self, prefix, start_revision or self._revision + 1)
        self._watches.add(watch)
        return watch

    # -- leases --------------------------------------------------------------------------------------------

    def lease_ttl_within(self, deadline_s: float) -> float:
        return float(etcd_lease_ttl(deadline_s))

    async def grant_lease(self, ttl_s: float) -> int:
        if ttl_s <= 0:
            raise ValueError("lease TTL must be positive")
        reply = await self._call("lease/grant", {"TTL": str(max(1, math.ceil(ttl_s - 1e-6)))}, idempotent=True)
        return int_field(reply, "ID")

    async def keepalive(self, lease_id: int) -> float:
        reply = await self._call("lease/keepalive", {"ID": str(lease_id)}, idempotent=True)
        ttl = int_field(reply, "TTL")
        if ttl <= 0:
            raise LeaseNotFoundError(lease_id)
        return float(ttl)

    async def revoke(self, lease_id: int) -> None:
        await self._shielded(self._revoke(lease_id))

    async def _revoke(self, lease_id: int) -> None:
        uncertain = False
        while True:
            try:
                await self._call("lease/revoke", {"ID": str(lease_id)}, idempotent=False)
                return
            except OutcomeUnknownError:
                uncertain = True
            except LeaseNotFoundError:
                if uncertain:
                    return  # our earlier attempt revoked it
                raise

    async def compact(self, revision: int) -> None:
        """Drops the history before ``revision`` (etcd's compaction; watches from earlier revisions fail)."""
        await self._call("kv/compaction", {"revision": str(revision), "physical": True}, idempotent=True)

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for watch in list(self._watches):
            await watch.aclose()
        await self._client.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the etcd metadata store is closed")

    # -- wire forms ----------------------------------------------------------------------------------------

    async def _call(self, path: str, body: Json, *, idempotent: bool) -> Json:
        self._check_open()
        try:
            reply = await self._client.call(path, body, idempotent=idempotent)
        except EtcdError as e:
            if e.code == GRPC_NOT_FOUND and "lease not found" in e.message:
                raise LeaseNotFoundError(int(body.get("ID") or _lease_of(body))) from None
            if any(text in e.message for text in _TOO_LARGE_MESSAGES):
                raise TxnTooLargeError(str(e)) from None
            raise
        self._header(reply)
        return reply

    def _header(self, reply: Json) -> int:
        """The reply's revision, remembered in ``revision``."""
        revision = int_field(reply.get("header", {}), "revision")
        self.observe(revision)
        return revision

    def observe(self, revision: int) -> None:
        self._revision = max(self._revision, revision)

    def _bounds(self, prefix: bytes) -> tuple[bytes, bytes]:
        """``key`` and ``range_end`` of every stored key starting with ``prefix`` (etcd: a key must not be empty)."""
        full = self._prefix + prefix
        return (full or b"\0"), prefix_end(full)

    def _range(self, key: bytes, prefix: bool) -> Json:
        if not prefix:
            return {"key": b64(self._prefix + key)}
        start, end = self._bounds(key)
        return {"key": b64(start), "range_end": b64(end)}

    def _compare(self, compare: Compare) -> Json:
        target, field = _TARGETS[compare.target]
        operand = compare.operand
        value = b64(operand) if isinstance(operand, bytes) else str(operand)
        return {
            "key": b64(self._prefix + compare.key),
            "target": target,
            "result": _RESULTS[compare.result],
            field: value,
        }

    def _request_op(self, op: Op) -> Json:
        if op.kind is OpKind.GET:
            return {"request_range": self._range(op.key, op.prefix)}
        if op.kind is OpKind.DELETE:
            return {"request_delete_range": self._range(op.key, op.prefix) | {"prev_kv": True}}
        put: Json = {"key": b64(self._prefix + op.key), "value": b64(op.value), "prev_kv": True}
        if op.lease:
            put["lease"] = str(op.lease)
        return {"request_put": put}

    def _op_response(self, op: Op, response: Json, revision: int) -> OpResponse:
        if op.kind is OpKind.GET:
            return OpResponse(
                OpKind.GET, tuple(self._kv(kv) for kv in response.get("response_range", {}).get("kvs", ()))
            )
        if op.kind is OpKind.DELETE:
            deleted = response.get("response_delete_range", {}).get("prev_kvs", ())
            return OpResponse(OpKind.DELETE, (), tuple(self._kv(kv) for kv in deleted))
        raw_prev = response.get("response_put", {}).get("prev_kv")
        prev = self._kv(raw_prev) if raw_prev else None
        kv = KeyValue(
            op.key,
            op.value,
            prev.create_revision if prev else revision,
            revision,
            prev.version + 1 if prev else 1,
            op.lease or 0,
        )
        return OpResponse(OpKind.PUT, (kv,), (prev,) if prev else ())

    def _kv(self, raw: Json) -> KeyValue:
        key = unb64(raw.get("key"))
        if not key.startswith(self._prefix):
            raise MetadataStoreError(f"etcd returned key {key!r} outside prefix {self._prefix!r}")
        return KeyValue(
            key[len(self._prefix) :],
            unb64(raw.get("value")),
            int_field(raw, "create_revision"),
            int_field(raw, "mod_revision"),
            int_field(raw, "version"),
            int_field(raw, "lease"),
        )

    def _event(self, raw: Json) -> WatchEvent:
        kind = EventType.DELETE if raw.get("type") == "DELETE" else EventType.PUT
        prev = raw.get("prev_kv")
        return WatchEvent(kind, self._kv(raw.get("kv", {})), self._kv(prev) if prev else None)


class EtcdWatch:
    """One watch (see the module docstring); a task reads the stream into a queue, ``None`` queued ends it."""

    def __init__(self, store: EtcdMetadataStore, prefix: bytes, start: int) -> None:
        self._store = store
        self.prefix = prefix
        self.next_revision = start
        self.endpoint = ""
        self._queue: asyncio.Queue[list[WatchEvent] | None] = asyncio.Queue()
        self._error: Exception | None = None
        self._done = False
        # On the store's loop: watch() may be called while it is not running (the start revision is fixed here).
        self._task = store._loop.create_task(self._run(), name=f"etcd-watch {prefix!r}")

    async def _run(self) -> None:
        client = self._store._client
        endpoint_index = client.endpoints.index(client.endpoint)
        failures = 0
        try:
            while True:
                self.endpoint = client.endpoints[endpoint_index % len(client.endpoints)]
                start, end = self._store._bounds(self.prefix)
                request = {
                    "create_request": {
                        "key": b64(start),
                        "range_end": b64(end),
                        "start_revision": str(self.next_revision),
                        "prev_kv": True,
                    }
                }
                delivered = self.next_revision
                try:
                    idle = self._store._watch_idle_check_s
                    await client.stream(self.endpoint, "watch", request, self._on_object, idle)
                except CompactedError:
                    raise
                except StoreClosedError:
                    return
                except MetadataStoreError as e:
                    if client.closed:
                        return
                    log.info(
                        "etcd watch on %s broke (%s); resuming from revision %d", self.endpoint, e, self.next_revision
                    )
                failures = 0 if self.next_revision > delivered else failures + 1
                endpoint_index += 1
                await asyncio.sleep(_WATCH_BACKOFF_S[min(failures, len(_WATCH_BACKOFF_S) - 1)])
        except CompactedError as e:
            self._error = e
        finally:
            self._queue.put_nowait(None)

    async def _on_object(self, obj: Json) -> None:
        if "error" in obj:
            raise MetadataStoreError(f"etcd watch: {obj['error']}")
        result = obj.get("result", {})
        if result.get("canceled"):
            compacted = int_field(result, "compact_revision")
            if compacted:
                # etcd can still replay from compact_revision; the interface names the last revision it cannot.
                raise CompactedError(self.next_revision, compacted - 1)
            raise MetadataStoreError(f"etcd watch cancelled: {result.get('cancel_reason', '')}")
        batch: list[WatchEvent] = []
        for raw in result.get("events", ()):
            event = self._store._event(raw)
            if batch and event.revision != batch[0].revision:
                self._deliver(batch)
                batch = []
            batch.append(event)
        if batch:
            self._deliver(batch)

    def _deliver(self, batch: list[WatchEvent]) -> None:
        revision = batch[0].revision
        if revision < self.next_revision:
            return  # already delivered before a reconnect
        self.next_revision = revision + 1
        self._store.observe(revision)
        self._queue.put_nowait(batch)

    def __aiter__(self) -> AsyncIterator[list[WatchEvent]]:
        return self

    async def __anext__(self) -> list[WatchEvent]:
        if self._done:
            raise StopAsyncIteration
        batch = await self._queue.get()
        if batch is None:
            self._done = True
            self._store._watches.discard(self)
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return batch

    async def aclose(self) -> None:
        self._done = True
        self._store._watches.discard(self)
        self._task.cancel()
        await asyncio.wait({self._task})  # waits without taking on the task's CancelledError


def _refused_by_etcd(ops: list[Op]) -> bool:
    """etcd's rule (``checkIntervals``): within a branch no key is put twice, and no put key is also deleted."""
    puts = [op.key for op in ops if op.kind is OpKind.PUT]
    if len(set(puts)) != len(puts):
        return True
    deletes = [op for op in ops if op.kind is OpKind.DELETE]
    return any(d.matches(key) for d in deletes for key in puts)


def _with_revision(response: OpResponse, planned: int, actual: int) -> OpResponse:
    """``response`` with the revision a plan assumed (``planned``) replaced by the one the write got."""
    if planned == actual:
        return response

    def fix(kv: KeyValue) -> KeyValue:
        create = actual if kv.create_revision == planned else kv.create_revision
        mod = actual if kv.mod_revision == planned else kv.mod_revision
        return KeyValue(kv.key, kv.value, create, mod, kv.version, kv.lease)

    return OpResponse(response.kind, tuple(map(fix, response.kvs)), tuple(map(fix, response.prev_kvs)))


def _lease_of(body: Json) -> int:
    """The lease a refused txn named (for ``LeaseNotFoundError``)."""
    for branch in ("success", "failure"):
        for op in body.get(branch, ()):
            lease = op.get("request_put", {}).get("lease")
            if lease:
                return int(lease)
    return 0


def _consume_exception(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
