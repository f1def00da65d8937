"""HTTP sink (Confluent's io.confluent.connect.http.HttpSinkConnector, same keys), with urllib from the task thread.

Each put() sends its records in order, `batch.max.size` records per request, to `http.api.url` (where `${topic}`
and `${key}` are replaced by the record's topic and key, URL-encoded; records for different URLs never share a
request) with `request.method` and the
`headers` (`Name:Value` pairs split by `header.separator`, `|`). The body, per `request.body.format`:
- string: each value as text (bytes as UTF-8, structs and maps as JSON), joined by `batch.separator` (`,`)
  between `batch.prefix` and `batch.suffix` (empty);
- json: each value as JSON without schema (JsonConverter, schemas.enable=false); with `batch.json.as.array=true`
  the batch is one JSON array, otherwise the values are joined as for string.
`Content-Type` is `application/json` for json, `text/plain` for string, unless `headers` sets it.

A response whose status is in `retry.on.status.codes` (ranges as Confluent writes them: `400-` is every code from
400, `500-599,429` a list), a connection failure or a timeout (`http.request.timeout.ms`) is retried up to
`max.retries` times, waiting `retry.backoff.ms` and doubling each time under
`retry.backoff.policy=EXPONENTIAL_WITH_JITTER` (the default: a random wait up to the doubled value) or the same wait
under CONSTANT_VALUE. Any other status of 300 and above, or retries exhausted, is an error for the batch's records:
- when the connector has an error reporter (`errors.tolerance=all` with `errors.deadletterqueue.topic.name` or
  `errors.log.enable`), each record goes to it (the DLQ holds the records with Kafka's context headers) and the
  task goes on;
- otherwise per `behavior.on.error`: fail (the default: the task goes FAILED with the response in its trace),
  log (logged and skipped) or ignore (skipped).
Delivery is at least once: offsets are committed after put() returned, so requests of a batch that was being sent
during a crash are sent again.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odradek.connect import VERSION
from odradek.connect.api.connector import SinkTask, Task
from odradek.connect.api.errors import ConnectException
from odradek.connect.api.records import SinkRecord
from odradek.connect.config.configdef import (
    ConfigDef,
    ConfigException,
    ConfigType,
    Importance,
    LambdaValidator,
    NonEmptyString,
    Range,
    ValidString,
)
from odradek.connect.connectors.base import CheckedSinkConnector
from odradek.connect.converters.json import JsonConverter
from odradek.connect.converters.simple import _text

log = logging.getLogger(__name__)

METHODS = ("POST", "PUT", "PATCH", "DELETE")


def parse_status_codes(text: str) -> list[tuple[int, int]]:
    """`400-,503,500-502` -> inclusive ranges [(400, 999), (503, 503), (500, 502)]; raises ValueError."""
    ranges: list[tuple[int, int]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        low, dash, high = item.partition("-")
        start = int(low) if low.strip() else 100
        end = (int(high) if high.strip() else 999) if dash else start
        if not 100 <= start <= end <= 999:
            raise ValueError(item)
        ranges.append((start, end))
    return ranges


def parse_headers(text: str, separator: str) -> list[tuple[str, str]]:
    """`A:1|B:2` -> [("A", "1"), ("B", "2")]; raises ValueError for an entry without a colon."""
    out = []
    for item in (part for part in text.split(separator) if part.strip()):
        name, colon, value = item.partition(":")
        if not colon or not name.strip():
            raise ValueError(item)
        out.append((name.strip(), value.strip()))
    return out


def _check_codes(name: str, value: Any) -> None:
    try:
        parse_status_codes(str(value or ""))
    except ValueError as exc:
        raise ConfigException(name, value, f"not a status code range: {exc}") from None


def _check_url(name: str, value: Any) -> None:
    if not str(value or "").startswith(("http://", "https://")):
        raise ConfigException(name, value, "must be an http:// or https:// URL")


def http_config_def() -> ConfigDef:
    return (
        ConfigDef()
        .define(
            "http.api.url",
            ConfigType.STRING,
            validator=LambdaValidator(_check_url, "http(s) URL"),
            importance=Importance.HIGH,
            documentation="HTTP API URL (`${topic}` and `${key}` are replaced by the record's topic and key).",
            group="Connection",
            order_in_group=1,
        )
        .define(
            "request.method",
            ConfigType.STRING,
            "POST",
            ValidString.in_case_insensitive(*METHODS),
            Importance.HIGH,
            "HTTP Request Method.",
            "Connection",
            2,
        )
        .define(
            "headers",
            ConfigType.STRING,
            "",
            None,
            Importance.MEDIUM,
            "HTTP headers to be included in all requests, separated by header.separator (`Name:Value|Name2:Value2`).",
            "Connection",
            3,
        )
        .define(
            "header.separator",
            ConfigType.STRING,
            "|",
            NonEmptyString(),
            Importance.MEDIUM,
            "Separator character used in headers property.",
            "Connection",
            4,
        )
        .define(
            "auth.type",
            ConfigType.STRING,
            "NONE",
            ValidString.in_case_insensitive("NONE", "BASIC"),
            Importance.HIGH,
            "Authentication type of the endpoint: NONE or BASIC.",
            "Authentication",
            1,
        )
        .define(
            "connection.user",
            ConfigType.STRING,
            None,
            None,
            Importance.HIGH,
            "The username to be used with an endpoint requiring basic authentication.",
            "Authentication",
            2,
        )
        .define(
            "connection.password",
            ConfigType.PASSWORD,
            None,
            None,
            Importance.HIGH,
            "The password to be used with an endpoint requiring basic authentication.",
            "Authentication",
            3,
        )
        .define(
            "request.body.format",
            ConfigType.STRING,
            "string",
            ValidString.in_case_insensitive("string", "json"),
            Importance.MEDIUM,
            "Used to produce request body in either JSON or String format.",
            "Request",
            1,
        )
        .define(
            "batch.max.size",
            ConfigType.INT,
            1,
            Range.at_least(1),
            Importance.HIGH,
            "The number of records accumulated in a batch before the HTTP API is invoked.",
            "Request",
            2,
        )
        .define(
            "batch.json.as.array",
            ConfigType.BOOLEAN,
            False,
            None,
            Importance.HIGH,
            "Whether or not to use an array to bundle JSON records. Only used when request.body.format is set to json.",
            "Request",
            3,
        )
        .define(
            "batch.prefix",
            ConfigType.STRING,
            "",
            None,
            Importance.HIGH,
            "Prefix added to record batches.",
            "Request",
            4,
        )
        .define(
            "batch.suffix",
            ConfigType.STRING,
            "",
            None,
            Importance.HIGH,
            "Suffix added to record batches.",
            "Request",
            5,
        )
        .define(
            "batch.separator",
            ConfigType.STRING,
            ",",
            None,
            Importance.HIGH,
            "Separator for records in a batch.",
            "Request",
            6,
        )
        .define(
            "http.connect.timeout.ms",
            ConfigType.INT,
            30000,
            Range.at_least(1),
            Importance.LOW,
            "Time to wait for a connection (with http.request.timeout.ms, the larger bounds a request here).",
            "Request",
            7,
        )
        .define(
            "http.request.timeout.ms",
            ConfigType.INT,
            30000,
            Range.at_least(1),
            Importance.LOW,
            "Time to wait for a request response.",
            "Request",
            8,
        )
        .define(
            "retry.on.status.codes",
            ConfigType.STRING,
            "400-",
            LambdaValidator(_check_codes, "status ranges"),
            Importance.MEDIUM,
            "The HTTP error codes to retry on (`400-`: every code from 400; `500-599,429`).",
            "Retries",
            1,
        )
        .define(
            "max.retries",
            ConfigType.INT,
            10,
            Range.at_least(0),
            Importance.MEDIUM,
            "The maximum number of times to retry on errors before failing the task.",
            "Retries",
            2,
        )
        .define(
            "retry.backoff.ms",
            ConfigType.INT,
            3000,
            Range.at_least(0),
            Importance.MEDIUM,
            "The initial duration in milliseconds to wait following an error before a retry attempt is made.",
            "Retries",
            3,
        )
        .define(
            "retry.backoff.policy",
            ConfigType.STRING,
            "EXPONENTIAL_WITH_JITTER",
            ValidString.in_case_insensitive("CONSTANT_VALUE", "EXPONENTIAL_WITH_JITTER"),
            Importance.LOW,
            "The backoff policy between retries: CONSTANT_VALUE or EXPONENTIAL_WITH_JITTER.",
            "Retries",
            4,
        )
        .define(
            "behavior.on.error",
            ConfigType.STRING,
            "fail",
            ValidString.in_case_insensitive("fail", "log", "ignore"),
            Importance.MEDIUM,
            "Error handling behavior when no error reporter (DLQ) is configured: fail, log or ignore.",
            "Retries",
            5,
        )
    )


def _cross_key_errors(parsed: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    try:
        parse_headers(str(parsed.get("headers") or ""), str(parsed.get("header.separator") or "|"))
    except ValueError as exc:
        errors["headers"] = f"header {exc} is not Name:Value"
    if str(parsed.get("auth.type") or "").upper() == "BASIC" and not parsed.get("connection.user"):
        errors["connection.user"] = "auth.type=BASIC needs connection.user"
    return errors


def parse_http_config(props: Mapping[str, str]) -> dict[str, Any]:
    return http_config_def().parse_checked(props, _cross_key_errors)


class HttpSinkConnector(CheckedSinkConnector):
    def task_class(self) -> type[Task]:
        return HttpSinkTask

    def config_def(self) -> ConfigDef:
        return http_config_def()

    def checks(self, parsed: Mapping[str, Any]) -> dict[str, str]:
        return _cross_key_errors(parsed)


@dataclass(frozen=True, slots=True)
class Response:
    status: int | None  # None: no response (connection failure, timeout)
    body: str


class HttpSinkTask(SinkTask):
    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.requests = 0

    def version(self) -> str:
        return VERSION

    def start(self, props: dict[str, str]) -> None:
        p = self.parsed = parse_http_config(props)
        self.method = str(p["request.method"]).upper()
        self.json_body = str(p["request.body.format"]).lower() == "json"
        self.retry_codes = parse_status_codes(p["retry.on.status.codes"])
        self.headers = dict(parse_headers(p["headers"], p["header.separator"]))
        if not any(k.lower() == "content-type" for k in self.headers):
            self.headers["Content-Type"] = "application/json" if self.json_body else "text/plain"
        if str(p["auth.type"]).upper() == "BASIC":
            password = p["connection.password"].value if p["connection.password"] else ""
            token = base64.b64encode(f"{p['connection.user']}:{password}".encode()).decode("ascii")
            self.headers["Authorization"] = f"Basic {token}"
        self.timeout_s = max(p["http.request.timeout.ms"], p["http.connect.timeout.ms"]) / 1000
        self.converter = JsonConverter()
        self.converter.configure({"schemas.enable": "false"})

    def put(self, records: list[SinkRecord]) -> None:
        batch: list[SinkRecord] = []
        url: str | None = None
        for record in records:
            record_url = self._url(record)
            if batch and (record_url != url or len(batch) >= self.parsed["batch.max.size"]):
                self._send(url or record_url, batch)
                batch = []
            url = record_url
            batch.append(record)
        if batch and url is not None:
            self._send(url, batch)

    def _url(self, record: SinkRecord) -> str:
        url = str(self.parsed["http.api.url"]).replace("${topic}", urllib.parse.quote(record.topic, safe=""))
        if "${key}" in url:
            key = "" if record.key is None else _text(record.key)
            url = url.replace("${key}", urllib.parse.quote(key, safe=""))
        return url

    def body(self, batch: list[SinkRecord]) -> bytes:
        if self.json_body:
            values = [self.converter.from_connect_data(r.topic, r.value_schema, r.value) or b"null" for r in batch]
            if self.parsed["batch.json.as.array"]:
                return b"[" + b",".join(values) + b"]"
            texts = [v.decode("utf-8") for v in values]
        else:
            texts = ["null" if r.value is None else _text(r.value) for r in batch]
        prefix, separator, suffix = (str(self.parsed[k]) for k in ("batch.prefix", "batch.separator", "batch.suffix"))
        return (prefix + separator.join(texts) + suffix).encode("utf-8")

    def _retriable(self, response: Response) -> bool:
        return response.status is None or any(lo <= response.status <= hi for lo, hi in self.retry_codes)

    def _send(self, url: str, batch: list[SinkRecord]) -> None:
        data = self.body(batch)
        backoff_ms = float(self.parsed["retry.backoff.ms"])
        exponential = str(self.parsed["retry.backoff.policy"]).upper() == "EXPONENTIAL_WITH_JITTER"
        attempt = 0
        while True:
            response = self._request(url, data)
            if response.status is not None and response.status < 300:
                return
            if not self._retriable(response) or attempt >= self.parsed["max.retries"] or self.stopping.is_set():
                break
            attempt += 1
            wait_ms = random.uniform(0, backoff_ms) if exponential else backoff_ms
            log.info(
                "HTTP %s to %s answered %s; retry %d in %.0f ms", self.method, url, response.status, attempt, wait_ms
            )
            self.stopping.wait(wait_ms / 1000)
            if exponential:
                backoff_ms *= 2
        self._failed(url, batch, response, attempt)

    def _request(self, url: str, data: bytes) -> Response:
        request = urllib.request.Request(url, data=data, method=self.method, headers=self.headers)
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                return Response(reply.status, reply.read().decode("utf-8", errors="replace"))
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.read().decode("utf-8", errors="replace"))
        except (urllib.error.URLError, OSError) as exc:
            return Response(None, str(exc))

    def _failed(self, url: str, batch: list[SinkRecord], response: Response, attempts: int) -> None:
        status = "no response" if response.status is None else f"status {response.status}"
        message = (
            f"HTTP {self.method} {url} failed with {status} after {attempts} retries: {response.body[:500]} "
            f"({len(batch)} records from {batch[0].topic}-{batch[0].kafka_partition}@{batch[0].kafka_offset})"
        )
        reporter = self.context.errant_record_reporter() if self.context is not None else None
        if reporter is not None:
            error = ConnectException(message)
            for record in batch:
                reporter.report(record, error)
            return
        behavior = str(self.parsed["behavior.on.error"]).lower()
        if behavior == "fail":
            raise ConnectException(message)
        if behavior == "log":
            log.error("%s; records skipped (behavior.on.error=log)", message)

    def stop(self) -> None:
        self.stopping.set()
