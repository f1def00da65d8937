"""PostgreSQL sink (Confluent's io.confluent.connect.jdbc.JdbcSinkConnector, same keys and statements).

Each record goes to the table `table.name.format` (`${topic}` replaced by the record's topic; `schema.table`
allowed), as a row of the fields of its value, a Struct with a schema (JsonConverter with schemas.enable=true, or
any converter giving Connect schemas). Per `insert.mode`:
- insert: `INSERT INTO t (cols) VALUES (...)`;
- upsert: `INSERT ... ON CONFLICT (pk) DO UPDATE SET c = EXCLUDED.c` (`DO NOTHING` when every column is a key);
- update: `UPDATE t SET cols WHERE pk`.
The primary key, per `pk.mode`: none; kafka (`__connect_topic`, `__connect_partition`, `__connect_offset`, or the
three names of `pk.fields`); record_key (the key's fields, or a primitive key under the one name of `pk.fields`);
record_value (`pk.fields` of the value, all of its fields when empty). With `delete.enabled=true` (needs
pk.mode=record_key) a tombstone (null value) deletes the row of its key; without it tombstones are skipped.
`fields.whitelist` / `fields.include.list` keep only those value fields.

`auto.create` creates a missing table from the record's schemas (types per odradek.connect.connectors.jdbc,
`NOT NULL` for non-optional fields, the key columns as PRIMARY KEY); `auto.evolve` adds missing optional columns
with `ALTER TABLE ... ADD`. Each put() is one transaction, statements batched (`batch.size`) in record order. A
connection or serialization failure is retried (`max.retries`, `retry.backoff.ms`) by asking the worker to
redeliver the batch (RetriableException); other SQL errors fail the task. Idempotence comes from upserts: a batch
written again after a crash leaves the same rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from odradek.connect import VERSION
from odradek.connect.api.connector import SinkTask, Task, TopicPartition
from odradek.connect.api.data import Schema, Struct, Type, primitive
from odradek.connect.api.errors import ConnectException, RetriableException
from odradek.connect.api.records import SinkRecord
from odradek.connect.config.configdef import (
    ConfigDef,
    ConfigType,
    Importance,
    Range,
    ValidString,
)
from odradek.connect.connectors import jdbc
from odradek.connect.connectors.base import CheckedSinkConnector

log = logging.getLogger(__name__)

KAFKA_PK_FIELDS = ("__connect_topic", "__connect_partition", "__connect_offset")
PRIMITIVE_KEY_DEFAULT = "__connect_key"


def sink_config_def() -> ConfigDef:
    writes, mapping = "Writes", "Data Mapping"
    return (
        jdbc.define_connection(ConfigDef())
        .define(
            "insert.mode",
            ConfigType.STRING,
            "insert",
            ValidString.in_case_insensitive("insert", "upsert", "update"),
            Importance.HIGH,
            "The insertion mode to use: insert, upsert (INSERT .. ON CONFLICT .. DO UPDATE) or update.",
            writes,
            1,
        )
        .define(
            "batch.size",
            ConfigType.INT,
            3000,
            Range.at_least(0),
            Importance.MEDIUM,
            "Specifies how many records to attempt to batch together for insertion into the destination table, "
            "when possible.",
            writes,
            2,
        )
        .define(
            "delete.enabled",
            ConfigType.BOOLEAN,
            False,
            None,
            Importance.MEDIUM,
            "Whether to treat null record values as deletes. Requires pk.mode to be record_key.",
            writes,
            3,
        )
        .define(
            "table.name.format",
            ConfigType.STRING,
            "${topic}",
            None,
            Importance.MEDIUM,
            "A format string for the destination table name, which may contain '${topic}' as a placeholder for "
            "the originating topic name.",
            mapping,
            1,
        )
        .define(
            "pk.mode",
            ConfigType.STRING,
            "none",
            ValidString.in_case_insensitive("none", "kafka", "record_key", "record_value"),
            Importance.HIGH,
            "The primary key mode: none, kafka, record_key, record_value.",
            mapping,
            2,
        )
        .define(
            "pk.fields",
            ConfigType.LIST,
            "",
            None,
            Importance.MEDIUM,
            "List of comma-separated primary key field names; its meaning depends on pk.mode.",
            mapping,
            3,
        )
        .define(
            "fields.whitelist",
            ConfigType.LIST,
            "",
            None,
            Importance.MEDIUM,
            "List of comma-separated record value field names (deprecated name of fields.include.list).",
            mapping,
            4,
        )
        .define(
            "fields.include.list",
            ConfigType.LIST,
            "",
            None,
            Importance.MEDIUM,
            "List of comma-separated record value field names. If empty, all fields from the record value are used.",
            mapping,
            5,
        )
        .define(
            "auto.create",
            ConfigType.BOOLEAN,
            False,
            None,
            Importance.MEDIUM,
            "Whether to automatically create the destination table based on record schema if it is found to be "
            "missing by issuing CREATE.",
            "DDL Support",
            1,
        )
        .define(
            "auto.evolve",
            ConfigType.BOOLEAN,
            False,
            None,
            Importance.MEDIUM,
            "Whether to automatically add columns in the table schema when found to be missing relative to the "
            "record schema by issuing ALTER.",
            "DDL Support",
            2,
        )
        .define(
            "quote.sql.identifiers",
            ConfigType.STRING,
            "always",
            ValidString.in_case_insensitive("always"),
            Importance.MEDIUM,
            "When to quote table names, column names, and other identifiers (always).",
        )
        .define(
            "max.retries",
            ConfigType.INT,
            10,
            Range.at_least(0),
            Importance.MEDIUM,
            "The maximum number of times to retry on errors before failing the task.",
            "Retries",
            1,
        )
        .define(
            "retry.backoff.ms",
            ConfigType.INT,
            3000,
            Range.at_least(0),
            Importance.MEDIUM,
            "The time in milliseconds to wait following an error before a retry attempt is made.",
            "Retries",
            2,
        )
    )


def _cross_key_errors(parsed: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    pk_mode = str(parsed.get("pk.mode") or "none").lower()
    if parsed.get("delete.enabled") and pk_mode != "record_key":
        errors["delete.enabled"] = "Primary key mode must be 'record_key' when delete support is enabled"
    if str(parsed.get("insert.mode") or "").lower() in ("upsert", "update") and pk_mode == "none":
        errors["pk.mode"] = "upsert and update need a primary key: pk.mode may not be none"
    if pk_mode == "kafka" and parsed.get("pk.fields") and len(parsed["pk.fields"]) != 3:
        errors["pk.fields"] = "PK mode for table is KAFKA so there should either be no field names defined for "
        errors["pk.fields"] += "defaults __connect_topic,__connect_partition,__connect_offset to be used, or exactly 3"
    return errors


def parse_sink_config(props: Mapping[str, str]) -> dict[str, Any]:
    return sink_config_def().parse_checked(props, _cross_key_errors)


class JdbcSinkConnector(CheckedSinkConnector):
    def task_class(self) -> type[Task]:
        return JdbcSinkTask

    def config_def(self) -> ConfigDef:
        return sink_config_def()

    def checks(self, parsed: Mapping[str, Any]) -> dict[str, str]:
        return _cross_key_errors(parsed)


@dataclass(frozen=True, slots=True)
class Row:
    """One record as SQL: its table, key columns (name, schema, value) and value columns; `delete` for tombstones."""

    table: tuple[str, ...]
    keys: tuple[tuple[str, Schema, Any], ...]
    values: tuple[tuple[str, Schema, Any], ...]
    delete: bool = False

    @property
    def shape(self) -> tuple[Any, ...]:
        """Rows of one shape share one statement."""
        return (self.table, self.delete, tuple(k[0] for k in self.keys), tuple(v[0] for v in self.values))


def _struct_fields(value: Struct, names: Sequence[str] = ()) -> list[tuple[str, Schema, Any]]:
    fields = [f for f in value.schema.fields if not names or f.name in names]
    missing = set(names) - {f.name for f in value.schema.fields}
    if missing:
        raise ConnectException(f"PK field(s) {sorted(missing)} not in the record schema {value.schema}")
    return [(f.name, f.schema, value.get(f.name)) for f in fields]


class JdbcSinkTask(SinkTask):
    def __init__(self) -> None:
        self.conn: Any = None
        self.known_columns: dict[tuple[str, ...], set[str] | None] = {}
        self.retries_left = 0

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        self.parsed = parse_sink_config(props)
        self.insert_mode = str(self.parsed["insert.mode"]).lower()
        self.pk_mode = str(self.parsed["pk.mode"]).lower()
        self.pk_fields: list[str] = self.parsed["pk.fields"]
        self.include = set(self.parsed["fields.include.list"] or self.parsed["fields.whitelist"])
        self.retries_left = self.parsed["max.retries"]

    def _connection(self) -> Any:
        if self.conn is None or self.conn.closed:
            self.conn = jdbc.connect(self.parsed)
        return self.conn

    def put(self, records: list[SinkRecord]) -> None:
        import psycopg

        rows = [row for row in (self._row(r) for r in records) if row is not None]
        if not rows:
            return
        try:
            conn = self._connection()
            with conn.transaction():
                self._write(conn, rows)
        except (psycopg.OperationalError, psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            self._close()
            if self.retries_left <= 0:
                raise ConnectException(f"JDBC sink failed after {self.parsed['max.retries']} retries: {exc}") from exc
            self.retries_left -= 1
            if self.context is not None:
                self.context.timeout(self.parsed["retry.backoff.ms"])
            raise RetriableException(str(exc)) from exc
        except psycopg.Error as exc:
            raise ConnectException(f"JDBC sink write failed: {exc}") from exc
        self.retries_left = self.parsed["max.retries"]

    def _table(self, topic: str) -> tuple[str, ...]:
        return tuple(self.parsed["table.name.format"].replace("${topic}", topic).split("."))

    def _row(self, record: SinkRecord) -> Row | None:
        table = self._table(record.topic)
        if record.value is None:
            if not self.parsed["delete.enabled"]:
                return None
            return Row(table, tuple(self._key_columns(record)), (), delete=True)
        if not isinstance(record.value, Struct):
            raise ConnectException(
                f"JDBC sink needs values with a struct schema (e.g. JsonConverter with schemas.enable=true); "
                f"got {type(record.value).__name__} from {record.topic}-{record.kafka_partition}@{record.kafka_offset}"
            )
        keys = self._key_columns(record)
        key_names = {k[0] for k in keys}
        values = [
            f
            for f in _struct_fields(record.value)
            if f[0] not in key_names and (not self.include or f[0] in self.include)
        ]
        return Row(table, tuple(keys), tuple(values))

    def _key_columns(self, record: SinkRecord) -> list[tuple[str, Schema, Any]]:
        mode = self.pk_mode
        if mode == "none":
            return []
        if mode == "kafka":
            names = self.pk_fields or list(KAFKA_PK_FIELDS)
            return [
                (names[0], primitive(Type.STRING), record.topic),
                (names[1], primitive(Type.INT32), record.kafka_partition),
                (names[2], primitive(Type.INT64), record.kafka_offset),
            ]
        if mode == "record_key":
            key = record.key
            if isinstance(key, Struct):
                return _struct_fields(key, self.pk_fields)
            if key is None:
                raise ConnectException(f"pk.mode=record_key but the record at offset {record.kafka_offset} has no key")
            schema = record.key_schema or primitive(Type.STRING if isinstance(key, str) else Type.INT64)
            if schema.type in (Type.STRUCT, Type.MAP, Type.ARRAY):
                raise ConnectException(f"Unsupported key schema for pk.mode=record_key: {schema}")
            return [(self.pk_fields[0] if self.pk_fields else PRIMITIVE_KEY_DEFAULT, schema, key)]
        if not isinstance(record.value, Struct):
            raise ConnectException("pk.mode=record_value needs a struct value")
        return _struct_fields(record.value, self.pk_fields)

    def _write(self, conn: Any, rows: list[Row]) -> None:
        batch: list[Row] = []
        for row in rows:
            if batch and (batch[0].shape != row.shape or len(batch) >= max(1, self.parsed["batch.size"])):
                self._flush(conn, batch)
                batch = []
            batch.append(row)
        if batch:
            self._flush(conn, batch)

    def _flush(self, conn: Any, batch: list[Row]) -> None:
        first = batch[0]
        if not first.delete:
            self._ensure_table(conn, first)
        statement = self._statement(first)
        with conn.cursor() as cur:
            cur.executemany(statement, [self._params(r) for r in batch])

    def _params(self, row: Row) -> list[Any]:
        keys = [v for _, _, v in row.keys]
        values = [v for _, _, v in row.values]
        if row.delete:
            return keys
        if self.insert_mode == "update":
            return values + keys
        return keys + values

    def _statement(self, row: Row) -> Any:
        from psycopg import sql

        table = sql.Identifier(*row.table)
        key_names = [sql.Identifier(k[0]) for k in row.keys]
        value_names = [sql.Identifier(v[0]) for v in row.values]

        def where() -> Any:
            return sql.SQL(" AND ").join(sql.SQL("{} = %s").format(k) for k in key_names)

        if row.delete:
            return sql.SQL("DELETE FROM {} WHERE {}").format(table, where())
        if self.insert_mode == "update":
            sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(v) for v in value_names)
            return sql.SQL("UPDATE {} SET {} WHERE {}").format(table, sets, where())
        columns = key_names + value_names
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            table, sql.SQL(", ").join(columns), sql.SQL(", ").join(sql.Placeholder() * len(columns))
        )
        if self.insert_mode != "upsert":
            return insert
        conflict = sql.SQL(", ").join(key_names)
        if not value_names:
            return insert + sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(conflict)
        updates = sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(v, v) for v in value_names)
        return insert + sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(conflict, updates)

    def _columns(self, conn: Any, table: tuple[str, ...]) -> set[str] | None:
        schema, name = (table[0], table[1]) if len(table) > 1 else (None, table[0])
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            " AND table_schema = COALESCE(%s, current_schema())",
            (name, schema),
        ).fetchall()
        return {r[0] for r in rows} or None

    def _ensure_table(self, conn: Any, row: Row) -> None:
        """CREATE (auto.create) or ALTER (auto.evolve) so the table has every column of the row."""
        from psycopg import sql

        known = self.known_columns.get(row.table)
        wanted = [*row.keys, *row.values]
        if known is not None and all(c[0] in known for c in wanted):
            return
        known = self._columns(conn, row.table)
        table = sql.Identifier(*row.table)
        if known is None:
            if not self.parsed["auto.create"]:
                raise ConnectException(f"Table {'.'.join(row.table)} is missing and auto.create is disabled")
            definitions = [
                sql.SQL("{} {}{}").format(
                    sql.Identifier(n), sql.SQL(jdbc.sql_type(s)), sql.SQL("" if s.optional else " NOT NULL")
                )
                for n, s, _ in wanted
            ]
            if row.keys:
                keys = sql.SQL(", ").join(sql.Identifier(k[0]) for k in row.keys)
                definitions.append(sql.SQL("PRIMARY KEY({})").format(keys))
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(definitions)))
            known = {c[0] for c in wanted}
        missing = [c for c in wanted if c[0] not in known]
        if missing:
            if not self.parsed["auto.evolve"]:
                raise ConnectException(
                    f"Table {'.'.join(row.table)} is missing fields {[c[0] for c in missing]} and auto.evolve is "
                    "disabled"
                )
            for n, s, _ in missing:
                if not s.optional and s.default is None:
                    raise ConnectException(f"Cannot ALTER to add missing field {n}: it is not optional")
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD {} {}").format(table, sql.Identifier(n), sql.SQL(jdbc.sql_type(s)))
                )
                known.add(n)
        self.known_columns[row.table] = known

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        """Nothing buffered: every put() committed its transaction."""

    def _close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None
        self.known_columns.clear()

    def stop(self) -> None:
        self._close()
