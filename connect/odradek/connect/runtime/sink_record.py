"""A SinkRecord read lazily from the consumer's Message: the converters run when a plugin reads a field.

`WorkerSinkTask` hands a task `LazySinkRecord`s when its connector has no transformations and errors.tolerance is
`none` (the default). Building one costs two slot stores; each field is computed from the Message when it is read:
`topic`, `kafka_partition`, `kafka_offset`, `timestamp`, `timestamp_type` and the `original_*` fields from the
Message's own accessors (C calls), `key` / `value` (and their schemas) by the key and value converters, `headers`
by the header converter. StringConverter and ByteArrayConverter are read inline (`converters.simple.direct_reading`,
recomputed on each read: their values are immutable); any other converter's `SchemaAndValue` and the header tuple
are computed once and kept (a plugin that mutates a decoded dict sees its change on the next read).

For plugins it is a `SinkRecord`: `isinstance` holds, the fields and `dataclasses.fields` / `asdict` are the same,
it is frozen, it equals (and hashes as) the eager `SinkRecord` with the same fields, `new_record` (and
`dataclasses.replace`, `copy`, `pickle`) give a plain `SinkRecord`, and `repr` is that of the eager record.

Why only under errors.tolerance=none: a conversion that fails when the task reads the field must have the same
outcome as the eager conversion's. It is re-run through the task's `RetryWithToleranceOperator` (retries of a
RetriableException included), which under tolerance `none` raises the same `ToleranceExceeded` ("Tolerance exceeded
in error handler", caused by the converter's exception) out of the plugin's `put`; `WorkerSinkTask` fails the task
with it, as the eager path would have before `put`. The differences, by design: a field the task never reads is
never converted (a key StringConverter cannot decode fails no task that ignores keys), and records of the batch
before the failing one may already have been handled by the task (they are not committed: at-least-once). Under
tolerance `all` a failed record must be skipped and reported before `put`, so conversion stays eager there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from odradek.connect.api.data import SchemaAndValue
from odradek.connect.api.records import Header, SinkRecord
from odradek.connect.converters.simple import direct_reading
from odradek.connect.runtime.errors import ConsumedRecord, RetryWithToleranceOperator, Stage, Tolerated
from odradek.connect.runtime.worker_task import TaskSetup

TIMESTAMP_TYPES = {0: "NoTimestampType", 1: "CreateTime", 2: "LogAppendTime"}
_UNSET: Any = object()  # a conversion not computed yet
_FIELDS = tuple(f.name for f in dataclasses.fields(SinkRecord))


class RecordDecoder:
    """A sink task's converters, as its LazySinkRecords read them (one per task, shared by its records)."""

    __slots__ = (
        "context",
        "header_converter",
        "key_converter",
        "key_direct",
        "key_encoding",
        "operator",
        "record_class",
        "value_converter",
        "value_direct",
        "value_encoding",
    )

    def __init__(self, setup: TaskSetup, context: Callable[[], dict[str, Any]]) -> None:
        self.key_converter = setup.key_converter
        self.value_converter = setup.value_converter
        self.header_converter = setup.header_converter
        # (schema, encoding or None) for StringConverter / ByteArrayConverter, None for any other converter.
        self.key_direct = direct_reading(setup.key_converter)
        self.value_direct = direct_reading(setup.value_converter)
        self.key_encoding = self.key_direct[1] if self.key_direct else None
        self.value_encoding = self.value_direct[1] if self.value_direct else None
        self.operator: RetryWithToleranceOperator = setup.operator
        self.context = context
        # This decoder's records: a subclass holding it as a class attribute, so a record is one slot store.
        self.record_class: type[LazySinkRecord] = type(
            "LazySinkRecord", (LazySinkRecord,), {"__slots__": (), "_d": self, "__module__": __name__}
        )

    def _again(self, stage: Stage, executing: Any, operation: Callable[[], Any], msg: Any) -> Any:
        """A conversion that raised, run again through the operator: its retries, then ToleranceExceeded."""
        out = self.operator.execute(stage, executing, operation, {**self.context(), "consumed": ConsumedRecord.of(msg)})
        if isinstance(out, Tolerated):  # not under tolerance none; kept total for a changed operator
            raise RuntimeError("a lazily converted record's failure was tolerated")
        return out

    def key(self, msg: Any) -> SchemaAndValue:
        return self._data(Stage.KEY_CONVERTER, self.key_converter, msg, msg.key())

    def value(self, msg: Any) -> SchemaAndValue:
        return self._data(Stage.VALUE_CONVERTER, self.value_converter, msg, msg.value())

    def _data(self, stage: Stage, converter: Any, msg: Any, raw: bytes | None) -> SchemaAndValue:
        topic = msg.topic()
        try:
            return converter.to_connect_data(topic, raw)  # type: ignore[no-any-return]
        except Exception:
            pass  # run again after the except clause: the operator's exception gets no __context__ from this one
        return self._again(stage, converter, lambda: converter.to_connect_data(topic, raw), msg)  # type: ignore[no-any-return]

    def headers(self, msg: Any) -> tuple[Header, ...]:
        raw = msg.headers()
        if not raw:
            return ()
        topic, to_header = msg.topic(), self.header_converter.to_connect_header

        def convert() -> tuple[Header, ...]:
            return tuple(Header(k, sv.schema, sv.value) for k, v in raw for sv in (to_header(topic, k, v),))

        try:
            return convert()
        except Exception:
            pass
        return self._again(Stage.HEADER_CONVERTER, self.header_converter, convert, msg)  # type: ignore[no-any-return]


class LazySinkRecord(SinkRecord):
    """A SinkRecord whose fields are read from `_m` (a confluent_kafka.Message) through `_d` (its RecordDecoder).

    Made by `lazy_record` (or as it does, for a batch), as an instance of its decoder's `record_class` (which
    holds `_d`), never by calling the class: `LazySinkRecord(**fields)` (what `dataclasses.replace` does) returns a
    plain SinkRecord."""

    # `_m` in a slot (set for every record); the conversions a record computes go to its `__dict__`, made on the
    # first one only, and read as the class's `_UNSET` until then (no AttributeError per first read).
    __slots__ = ("__dict__", "_m")
    _d: RecordDecoder  # set by each decoder's record_class
    _m: Any  # the Message
    _kc: Any = _UNSET  # the key's and value's SchemaAndValue and the headers, once computed (not for direct parts)
    _vc: Any = _UNSET
    _hc: Any = _UNSET

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # dataclasses.replace and copies: an eager record
        return SinkRecord(*args, **kwargs)

    # Message metadata -------------------------------------------------------------------------------------

    @property
    def topic(self) -> str:
        return self._m.topic()  # type: ignore[no-any-return]

    @property
    def kafka_partition(self) -> int:
        return self._m.partition()  # type: ignore[no-any-return]

    @property
    def kafka_offset(self) -> int:
        return self._m.offset()  # type: ignore[no-any-return]

    @property
    def original_topic(self) -> str:
        return self._m.topic()  # type: ignore[no-any-return]

    @property
    def original_kafka_partition(self) -> int:
        return self._m.partition()  # type: ignore[no-any-return]

    @property
    def original_kafka_offset(self) -> int:
        return self._m.offset()  # type: ignore[no-any-return]

    @property
    def timestamp(self) -> int | None:
        ts_type, ts = self._m.timestamp()
        return ts if ts_type != 0 else None

    @property
    def timestamp_type(self) -> str:
        return TIMESTAMP_TYPES.get(self._m.timestamp()[0], "CreateTime")

    # Converted parts --------------------------------------------------------------------------------------

    def _key(self) -> SchemaAndValue:
        converted = self._kc
        if converted is _UNSET:
            converted = self.__dict__["_kc"] = self._d.key(self._m)
        return converted  # type: ignore[no-any-return]

    def _value(self) -> SchemaAndValue:
        converted = self._vc
        if converted is _UNSET:
            converted = self.__dict__["_vc"] = self._d.value(self._m)
        return converted  # type: ignore[no-any-return]

    @property
    def key(self) -> Any:
        d = self._d
        if d.key_direct is None:
            return self._key().value
        return _direct(self._m.key(), d.key_encoding, self._key)

    @property
    def key_schema(self) -> Any:
        d = self._d
        if d.key_direct is None:
            return self._key().schema
        self.key  # noqa: B018 - an undecodable key fails here too, as its eager conversion would
        return d.key_direct[0]

    @property
    def value(self) -> Any:
        d = self._d
        if d.value_direct is None:
            return self._value().value
        return _direct(self._m.value(), d.value_encoding, self._value)

    @property
    def value_schema(self) -> Any:
        d = self._d
        if d.value_direct is None:
            return self._value().schema
        self.value  # noqa: B018 - as key_schema
        return d.value_direct[0]

    @property
    def headers(self) -> tuple[Header, ...]:
        converted = self._hc
        if converted is _UNSET:
            converted = self.__dict__["_hc"] = self._d.headers(self._m)
        return converted  # type: ignore[no-any-return]

    # SinkRecord's value semantics ---------------------------------------------------------------------------

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def eager(self) -> SinkRecord:
        """The plain SinkRecord with the same fields (every part converted)."""
        return SinkRecord(*self._fields())

    def __eq__(self, other: object) -> bool:
        if type(other) is SinkRecord or isinstance(other, LazySinkRecord):
            return self._fields() == tuple(getattr(other, name) for name in _FIELDS)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return repr(self.eager())

    def __reduce__(self) -> tuple[Any, ...]:
        return SinkRecord, self._fields()

    def new_record(self, **changes: Any) -> Any:
        return dataclasses.replace(self.eager(), **changes)


def _direct(raw: bytes | None, encoding: str | None, converted: Callable[[], SchemaAndValue]) -> Any:
    """A part read by a StringConverter (`encoding`) or ByteArrayConverter (None) without calling it; an
    undecodable one through `converted` (the converter's DataException, through the operator)."""
    if encoding is None or raw is None:
        return raw
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        pass
    return converted().value


_new = object.__new__
_set_m = vars(LazySinkRecord)["_m"].__set__  # the slot's member descriptor: a C-level store


def lazy_record(msg: Any, decoder: RecordDecoder) -> LazySinkRecord:
    """One LazySinkRecord over `msg` (a Message without error)."""
    record: LazySinkRecord = _new(decoder.record_class)
    _set_m(record, msg)
    return record
