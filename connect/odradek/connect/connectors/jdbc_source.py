"""PostgreSQL source (Confluent's io.confluent.connect.jdbc.JdbcSourceConnector, same keys, queries and offsets).

The connector lists the tables of the database (schemas other than pg_catalog and information_schema, or
`schema.pattern`; `table.whitelist` / `table.include.list` keep only those, `table.blacklist` /
`table.exclude.list` drop some; a name may be `table` or `schema.table`) and spreads them over at most `tasks.max`
tasks; every `table.poll.interval.ms` it lists them again and, when the set changed, asks the worker for new
task configurations. Each task polls its tables in turn every `poll.interval.ms`, reading at most `batch.max.rows`
rows per query, and produces each row as a Struct (schema named after the table, column types per
odradek.connect.connectors.jdbc) with no key to `<topic.prefix><table>`.

Queries per `mode`, as Confluent's TimestampIncrementingTableQuerier (`ts` = `timestamp.column.name`, the first
non-null of several through COALESCE; `inc` = `incrementing.column.name`; `end` = the database's current time
minus `timestamp.delay.interval.ms`):
- bulk: `SELECT * FROM t` (the whole table every poll interval; offsets are not stored);
- incrementing: `WHERE inc > ? ORDER BY inc`;
- timestamp: `WHERE ts > ? AND ts < end ORDER BY ts`;
- timestamp+incrementing: `WHERE ts < end AND ((ts = ? AND inc > ?) OR ts > ?) ORDER BY ts, inc`.
With `query`, one task runs it as a subquery with the same conditions, produces to `topic.prefix` and stores its
offsets under the source partition `{"query": "query"}`.

Source partition (Confluent's offset protocol 1): `{"protocol": "1", "table": "<database>.<schema>.<table>"}`.
Source offset of each row: `{"incrementing": <inc>}`, `{"timestamp": <epoch ms>, "timestamp_nanos": <nanos of the
second>}`, or all three. On start a task reads its stored offsets, so a restarted worker resumes after the last
committed row (at least once: rows produced but not committed are produced again). With mode=timestamp, rows
sharing the last timestamp beyond `batch.max.rows` are skipped, as in Confluent: use timestamp+incrementing.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odradek.connect import VERSION
from odradek.connect.api.connector import SourceConnector, SourceTask, Task
from odradek.connect.api.data import DECIMAL_LOGICAL_NAME, Schema, SchemaBuilder, Struct
from odradek.connect.api.errors import ConnectException
from odradek.connect.api.records import SourceRecord
from odradek.connect.config.configdef import (
    ConfigDef,
    ConfigType,
    ConfigValue,
    Importance,
    Range,
    ValidString,
)
from odradek.connect.connectors import jdbc

log = logging.getLogger(__name__)

MODES = ("bulk", "timestamp", "incrementing", "timestamp+incrementing")
TABLE_KEY, PROTOCOL_KEY, QUERY_KEY = "table", "protocol", "query"
INCREMENTING_FIELD, TIMESTAMP_FIELD, TIMESTAMP_NANOS_FIELD = "incrementing", "timestamp", "timestamp_nanos"
TASK_TABLES = "tables"  # the task's share, as "schema.table" names


def source_config_def() -> ConfigDef:
    mode = "Mode"
    return (
        jdbc.define_connection(ConfigDef())
        .define(
            "table.whitelist",
            ConfigType.LIST,
            "",
            None,
            Importance.MEDIUM,
            "List of tables to include in copying (deprecated name of table.include.list).",
        )
        .define(
            "table.include.list",
            ConfigType.LIST,
            "",
            None,
            Importance.MEDIUM,
            "List of tables to include in copying. If specified, table.exclude.list may not be set.",
        )
        .define(
            "table.blacklist",
            ConfigType.LIST,
            "",
            None,
            Importance.MEDIUM,
            "List of tables to exclude from copying (deprecated name of table.exclude.list).",
        )
        .define(
            "table.exclude.list",
            ConfigType.LIST,
            "",
            None,
            Importance.MEDIUM,
            "List of tables to exclude from copying. If specified, table.include.list may not be set.",
        )
        .define(
            "schema.pattern",
            ConfigType.STRING,
            None,
            None,
            Importance.MEDIUM,
            "Schema pattern (SQL LIKE) to fetch table metadata from the database; unset: every user schema.",
        )
        .define("table.types", ConfigType.LIST, "TABLE", None, Importance.LOW, "Table types to copy: TABLE, VIEW.")
        .define(
            "mode",
            ConfigType.STRING,
            validator=ValidString.in_(*MODES),
            importance=Importance.HIGH,
            documentation="The mode for updating a table each time it is polled: bulk, incrementing, timestamp, "
            "timestamp+incrementing.",
            group=mode,
            order_in_group=1,
        )
        .define(
            "incrementing.column.name",
            ConfigType.STRING,
            "",
            None,
            Importance.MEDIUM,
            "The name of the strictly incrementing column to use to detect new rows.",
            mode,
            2,
        )
        .define(
            "timestamp.column.name",
            ConfigType.LIST,
            "",
            None,
            Importance.MEDIUM,
            "Comma separated list of one or more timestamp columns to detect new or modified rows using the "
            "COALESCE SQL function.",
            mode,
            3,
        )
        .define(
            "timestamp.initial",
            ConfigType.LONG,
            None,
            None,
            Importance.LOW,
            "The epoch timestamp (ms) used for initial queries that use timestamp criteria; unset: all rows.",
            mode,
            4,
        )
        .define(
            "validate.non.null",
            ConfigType.BOOLEAN,
            True,
            None,
            Importance.LOW,
            "By default, the JDBC connector will validate that all incrementing and timestamp tables have NOT "
            "NULL set for the columns being used as their ID/timestamp.",
            mode,
            5,
        )
        .define(
            "poll.interval.ms",
            ConfigType.INT,
            5000,
            Range.at_least(1),
            Importance.HIGH,
            "Frequency in ms to poll for new data in each table.",
        )
        .define(
            "batch.max.rows",
            ConfigType.INT,
            100,
            Range.at_least(1),
            Importance.LOW,
            "Maximum number of rows to include in a single batch when polling for new data.",
        )
        .define(
            "table.poll.interval.ms",
            ConfigType.LONG,
            60000,
            Range.at_least(0),
            Importance.LOW,
            "Frequency in ms to poll for new or removed tables, which may result in updated task configurations "
            "(0: the tables are listed once, at start).",
        )
        .define(
            "topic.prefix",
            ConfigType.STRING,
            validator=None,
            importance=Importance.HIGH,
            documentation="Prefix to prepend to table names to generate the name of the Kafka topic to "
            "publish data to.",
        )
        .define(
            "timestamp.delay.interval.ms",
            ConfigType.LONG,
            0,
            Range.at_least(0),
            Importance.HIGH,
            "How long to wait after a row with certain timestamp appears before we include it in the result.",
        )
        .define(
            "query",
            ConfigType.STRING,
            "",
            None,
            Importance.MEDIUM,
            "If specified, the query to perform to select new or updated rows (whole-table copying is then "
            "disabled; the records go to topic.prefix as the whole topic name).",
        )
    )


def _cross_key_errors(parsed: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    mode = parsed.get("mode")
    if mode in ("incrementing", "timestamp+incrementing") and not parsed.get("incrementing.column.name"):
        errors["incrementing.column.name"] = f"mode {mode} needs incrementing.column.name"
    if mode in ("timestamp", "timestamp+incrementing") and not parsed.get("timestamp.column.name"):
        errors["timestamp.column.name"] = f"mode {mode} needs timestamp.column.name"
    if (parsed.get("table.whitelist") or parsed.get("table.include.list")) and (
        parsed.get("table.blacklist") or parsed.get("table.exclude.list")
    ):
        errors["table.exclude.list"] = "table.include.list (table.whitelist) and table.exclude.list are exclusive"
    if parsed.get("query") and any(
        parsed.get(k) for k in ("table.whitelist", "table.include.list", "table.blacklist", "table.exclude.list")
    ):
        errors["query"] = "Do not specify table filtering parameters with query"
    return errors


def parse_source_config(props: Mapping[str, str]) -> dict[str, Any]:
    return source_config_def().parse_checked(props, _cross_key_errors)


@dataclass(frozen=True, slots=True)
class TableId:
    """A table, or with `query` the connector's custom query (then schema and table are empty)."""

    database: str
    schema: str
    table: str
    query: str | None = None

    @property
    def partition(self) -> dict[str, str]:
        """Confluent's source partition: offset protocol 1 for a table, `{"query": "query"}` for a query."""
        if self.query is not None:
            return {QUERY_KEY: QUERY_KEY}
        return {PROTOCOL_KEY: "1", TABLE_KEY: f"{self.database}.{self.schema}.{self.table}"}


def list_tables(conn: Any, parsed: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(schema, table) of the tables to copy, in name order."""
    types = {"TABLE": "BASE TABLE", "VIEW": "VIEW"}
    wanted_types = [types.get(t.upper(), t.upper()) for t in parsed["table.types"]]
    rows = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = ANY(%s)"
        " AND table_schema LIKE %s ORDER BY table_schema, table_name",
        (wanted_types, parsed["schema.pattern"] or "%"),
    ).fetchall()
    include = set(parsed["table.include.list"] or parsed["table.whitelist"])
    exclude = set(parsed["table.exclude.list"] or parsed["table.blacklist"])

    def named(schema: str, table: str, names: set[str]) -> bool:
        return table in names or f"{schema}.{table}" in names

    return [(s, t) for s, t in rows if (not include or named(s, t, include)) and not (exclude and named(s, t, exclude))]


class JdbcSourceConnector(SourceConnector):
    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.monitor: threading.Thread | None = None
        self.tables: list[tuple[str, str]] = []

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return source_config_def()

    def validate(self, connector_configs: Mapping[str, str]) -> list[ConfigValue]:
        return source_config_def().validate_checked(connector_configs, _cross_key_errors)

    def start(self, props: dict[str, str]) -> None:
        self.parsed = parse_source_config(props)
        self.props = dict(props)
        if self.parsed["query"]:
            return  # one task runs the query; no tables to list or watch
        with jdbc.connect(self.parsed, autocommit=True) as conn:
            self.tables = list_tables(conn, self.parsed)
        if not self.tables:
            log.warning("JdbcSourceConnector %s: no tables to copy", props.get("name"))
        if self.parsed["table.poll.interval.ms"] > 0:
            self.monitor = threading.Thread(target=self._monitor_tables, name="jdbc-table-monitor", daemon=True)
            self.monitor.start()

    def _monitor_tables(self) -> None:
        """Confluent's TableMonitorThread: list the tables every table.poll.interval.ms and ask the worker for new
        task configs when the set changed (a table created or dropped)."""
        interval = self.parsed["table.poll.interval.ms"] / 1000
        while not self.stopping.wait(interval):
            try:
                with jdbc.connect(self.parsed, autocommit=True) as conn:
                    tables = list_tables(conn, self.parsed)
            except Exception as exc:  # the database may be away for a while: try again next interval
                log.warning("JdbcSourceConnector: listing tables failed: %s", exc)
                continue
            with self.lock:
                changed, self.tables = tables != self.tables, tables
            if changed and self.context is not None:
                log.info("JdbcSourceConnector: tables changed, reconfiguring tasks: %s", tables)
                self.context.request_task_reconfiguration()

    def task_class(self) -> type[Task]:
        return JdbcSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        if self.parsed["query"]:
            return [dict(self.props)]
        with self.lock:
            tables = list(self.tables)
        groups: list[list[str]] = [[] for _ in range(min(max_tasks, len(tables)))]
        for i, (schema, table) in enumerate(tables):
            groups[i % len(groups)].append(f"{schema}.{table}")
        return [{**self.props, TASK_TABLES: ",".join(group)} for group in groups]

    def stop(self) -> None:
        self.stopping.set()
        if self.monitor is not None:
            self.monitor.join(timeout=10)

    def alter_offsets(
        self, connector_config: Mapping[str, str], offsets: Mapping[tuple[tuple[str, Any], ...], dict[str, Any] | None]
    ) -> bool:
        for offset in offsets.values():
            if offset is None:
                continue
            for key in (INCREMENTING_FIELD, TIMESTAMP_FIELD, TIMESTAMP_NANOS_FIELD):
                value = offset.get(key)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise ConnectException(f"The '{key}' of an offset must be an integer, found {value!r}")
        return True


@dataclass(slots=True)
class TableState:
    """Where a task is in one table: the last offset it produced (None: nothing yet) and the schema it read."""

    table: TableId
    incrementing: int | None = None
    timestamp: dt.datetime | None = None
    next_poll: float = 0.0


def _to_epoch(ts: dt.datetime) -> tuple[int, int]:
    aware = ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
    delta = aware - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    micros = delta // dt.timedelta(microseconds=1)
    return micros // 1000, (micros % 1_000_000) * 1000


def _from_epoch(ms: int, nanos: int | None) -> dt.datetime:
    base = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    if nanos is not None:
        base = base.replace(microsecond=nanos // 1000)
    return base


class JdbcSourceTask(SourceTask):
    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.conn: Any = None

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        self.parsed = parse_source_config(props)
        self.mode: str = self.parsed["mode"]
        self.inc_col: str = self.parsed["incrementing.column.name"]
        self.ts_cols: list[str] = self.parsed["timestamp.column.name"]
        self.conn = jdbc.connect(self.parsed, autocommit=True)
        database = self.conn.info.dbname
        self.states: list[TableState] = []
        if self.parsed["query"]:
            self.states.append(self._initial_state(TableId(database, "", "", self.parsed["query"])))
        for name in (t for t in props.get(TASK_TABLES, "").split(",") if t):
            schema, _, table = name.partition(".")
            self.states.append(self._initial_state(TableId(database, schema, table)))

    def _initial_state(self, table: TableId) -> TableState:
        state = TableState(table)
        initial = self.parsed["timestamp.initial"]
        if initial is not None:
            state.timestamp = _from_epoch(initial, None)
        stored = self.context.offset_storage_reader().offset(table.partition) if self.context else None
        if stored:
            if stored.get(INCREMENTING_FIELD) is not None:
                state.incrementing = int(stored[INCREMENTING_FIELD])
            if stored.get(TIMESTAMP_FIELD) is not None:
                state.timestamp = _from_epoch(int(stored[TIMESTAMP_FIELD]), stored.get(TIMESTAMP_NANOS_FIELD))
        return state

    def poll(self) -> list[SourceRecord] | None:
        if not self.states:
            self.stopping.wait(1.0)
            return None
        state = min(self.states, key=lambda s: s.next_poll)
        wait = state.next_poll - time.monotonic()
        if wait > 0:
            # Sleep at most a second at a time so that stop() is seen soon; the next poll checks again.
            self.stopping.wait(min(wait, 1.0))
            return None
        records = self._query(state)
        if len(records) < self.parsed["batch.max.rows"] or self.mode == "bulk":
            state.next_poll = time.monotonic() + self.parsed["poll.interval.ms"] / 1000
        return records or None

    def _query(self, state: TableState) -> list[SourceRecord]:
        from psycopg import sql

        t = state.table
        # A custom query is read as a subquery, so the mode's WHERE and ORDER BY apply to its result (Confluent
        # appends them to the query's text instead, which breaks queries with their own WHERE).
        table = (
            sql.SQL("({}) AS {}").format(sql.SQL(t.query.replace("%", "%%")), sql.Identifier("odradek_query"))
            if t.query is not None
            else sql.Identifier(t.schema, t.table)
        )
        ts = (
            sql.SQL("COALESCE({})").format(sql.SQL(", ").join(map(sql.Identifier, self.ts_cols)))
            if len(self.ts_cols) > 1
            else sql.Identifier(self.ts_cols[0])
            if self.ts_cols
            else None
        )
        inc = sql.Identifier(self.inc_col) if self.inc_col else None
        end = sql.SQL("CURRENT_TIMESTAMP - make_interval(secs => %(delay)s)")
        params: dict[str, Any] = {"delay": self.parsed["timestamp.delay.interval.ms"] / 1000}
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        if self.mode == "bulk":
            query = sql.SQL("SELECT * FROM {}").format(table)
        elif self.mode == "incrementing":
            query = sql.SQL("SELECT * FROM {} WHERE {} > %(inc)s ORDER BY {} ASC").format(table, inc, inc)
            params["inc"] = -1 if state.incrementing is None else state.incrementing
        elif self.mode == "timestamp":
            query = sql.SQL("SELECT * FROM {t} WHERE {ts} > %(ts)s AND {ts} < {end} ORDER BY {ts} ASC").format(
                t=table, ts=ts, end=end
            )
            params["ts"] = state.timestamp or epoch
        else:
            query = sql.SQL(
                "SELECT * FROM {t} WHERE {ts} < {end} AND (({ts} = %(ts)s AND {inc} > %(inc)s) OR {ts} > %(ts)s)"
                " ORDER BY {ts}, {inc} ASC"
            ).format(t=table, ts=ts, inc=inc, end=end)
            params["ts"] = state.timestamp or epoch
            params["inc"] = -1 if state.incrementing is None else state.incrementing
        if self.mode != "bulk":
            query = query + sql.SQL(" LIMIT {}").format(sql.Literal(self.parsed["batch.max.rows"]))
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            assert cur.description is not None
            description = list(cur.description)
            rows = cur.fetchall()
        if not rows:
            return []
        columns = [d.name for d in description]
        schema = self._query_schema(description) if t.query is not None else self._schema(t, columns)
        return [self._record(state, schema, columns, row) for row in rows]

    def _query_schema(self, description: list[Any]) -> Schema:
        """A custom query's schema, from the result's type OIDs (nullability unknown: every field optional)."""
        builder = SchemaBuilder.struct()
        for column in description:
            info = self.conn.adapters.types.get(column.type_code)
            data_type = _PG_TYPE_NAMES.get(info.name if info is not None else "", "text")
            builder.field(column.name, jdbc.column_schema(data_type, column.scale, True))
        return builder.build()

    def _schema(self, table: TableId, columns: list[str]) -> Schema:
        info = {
            name: (data_type, scale, nullable == "YES")
            for name, data_type, scale, nullable in self.conn.execute(
                "SELECT column_name, data_type, numeric_scale, is_nullable FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s",
                (table.schema, table.table),
            ).fetchall()
        }
        builder = SchemaBuilder.struct().name(table.table)
        for column in columns:
            data_type, scale, nullable = info.get(column, ("text", None, True))
            builder.field(column, jdbc.column_schema(data_type, scale, nullable))
        return builder.build()

    def _record(self, state: TableState, schema: Schema, columns: list[str], row: tuple[Any, ...]) -> SourceRecord:
        values = {}
        for field, column, raw in zip(schema.fields, columns, row, strict=True):
            values[column] = _connect_value(field.schema, raw)
        offset: dict[str, Any] | None = None
        if self.mode != "bulk":
            offset = {}
            if self.inc_col:
                state.incrementing = int(row[columns.index(self.inc_col)])
                offset[INCREMENTING_FIELD] = state.incrementing
            if self.ts_cols:
                ts = next((row[columns.index(c)] for c in self.ts_cols if row[columns.index(c)] is not None), None)
                if ts is not None:
                    state.timestamp = ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
                    ms, nanos = _to_epoch(state.timestamp)
                    offset[TIMESTAMP_FIELD], offset[TIMESTAMP_NANOS_FIELD] = ms, nanos
        return SourceRecord(
            self.parsed["topic.prefix"] + state.table.table,  # the prefix alone for a query (table is "")
            None,
            None,
            None,
            schema,
            Struct(schema, values),
            source_partition=state.table.partition,
            source_offset=offset,
        )

    def stop(self) -> None:
        self.stopping.set()
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # closing from another thread while a query runs
                log.debug("closing the JDBC source connection", exc_info=True)


# PostgreSQL's internal type names -> information_schema.columns.data_type (what jdbc.column_schema reads).
_PG_TYPE_NAMES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "bytea": "bytea",
    "numeric": "numeric",
    "date": "date",
    "time": "time",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
}


def _connect_value(schema: Schema, raw: Any) -> Any:
    """A column value as Connect data of `schema` (ints stay ints, timestamps aware UTC, text for the rest)."""
    if raw is None:
        return None
    if schema.name == DECIMAL_LOGICAL_NAME:
        return decimal.Decimal(raw)
    if isinstance(raw, dt.datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=dt.UTC)
    if isinstance(raw, dt.date | dt.time | bool | int | float | bytes):
        return raw
    if isinstance(raw, memoryview):
        return bytes(raw)
    return raw if isinstance(raw, str) else str(raw)
