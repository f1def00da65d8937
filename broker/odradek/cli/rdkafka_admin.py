"""librdkafka admin calls that confluent-kafka's Python API does not expose, through ctypes.

confluent-kafka 2.16 has no `delete_consumer_group_offsets`, but the librdkafka it bundles does
(`rd_kafka_DeleteConsumerGroupOffsets`, KIP-496, the OffsetDelete API). This module calls it on a short-lived
librdkafka handle configured like the tool's AdminClient, so the request still comes from librdkafka (DESIGN.md
section 3: no Kafka client of our own), with the same bootstrap, security settings and coordinator lookup.

`describe_configs` is `rd_kafka_DescribeConfigs` read through the C API because confluent-kafka's Python
ConfigEntry keeps synonyms in a dict keyed by name: when several levels set the same name (a dynamic
`log.retention.ms` over its default) only the last survives, where kafka-configs.sh prints them all in order.

C structures used (rdkafka.h, stable ABI since librdkafka 1.0):
  rd_kafka_topic_partition_t      {char *topic; int32 partition; int64 offset; void *metadata;
                                   size_t metadata_size; void *opaque; int err; void *_private}
  rd_kafka_topic_partition_list_t {int cnt; int size; rd_kafka_topic_partition_t *elems}
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import glob
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from odradek.cli.common import CliError

_RD_KAFKA_PRODUCER = 0
_RD_KAFKA_ADMIN_OP_ANY = 0
_RD_KAFKA_CONF_OK = 0
_ERRSTR_SIZE = 512


class _TopicPartition(ctypes.Structure):
    _fields_ = [
        ("topic", ctypes.c_char_p),
        ("partition", ctypes.c_int32),
        ("offset", ctypes.c_int64),
        ("metadata", ctypes.c_void_p),
        ("metadata_size", ctypes.c_size_t),
        ("opaque", ctypes.c_void_p),
        ("err", ctypes.c_int),
        ("_private", ctypes.c_void_p),
    ]


class _TopicPartitionList(ctypes.Structure):
    _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int), ("elems", ctypes.POINTER(_TopicPartition))]


@dataclass(frozen=True, slots=True)
class OffsetDeleteResult:
    """Group-level error (0 = none) and, per requested partition, its error code (0 = deleted)."""

    error_code: int
    error_text: str
    partitions: Mapping[tuple[str, int], int]


@dataclass(frozen=True, slots=True)
class DescribedEntry:
    """One config entry as DescribeConfigs returned it; synonyms as (source code, name, value), in order."""

    name: str
    value: str | None
    source: int
    is_sensitive: bool
    is_default: bool
    synonyms: tuple[tuple[int, str, str | None], ...]


@functools.cache
def _library() -> Any:
    """The librdkafka that confluent-kafka loaded (its wheel bundles one), else the system's."""
    import confluent_kafka

    here = os.path.dirname(os.path.dirname(confluent_kafka.__file__))
    candidates = sorted(glob.glob(os.path.join(here, "confluent_kafka.libs", "librdkafka*.so*")))
    path = candidates[0] if candidates else ctypes.util.find_library("rdkafka")
    if path is None:
        raise CliError("librdkafka not found (needed for --delete-offsets)")
    lib = ctypes.CDLL(path)
    _declare(lib)
    return lib


def _declare(lib: Any) -> None:
    p, i, c = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "rd_kafka_conf_new": (p, []),
        "rd_kafka_conf_set": (i, [p, c, c, c, ctypes.c_size_t]),
        "rd_kafka_conf_destroy": (None, [p]),
        "rd_kafka_new": (p, [i, p, c, ctypes.c_size_t]),
        "rd_kafka_destroy": (None, [p]),
        "rd_kafka_queue_new": (p, [p]),
        "rd_kafka_queue_destroy": (None, [p]),
        "rd_kafka_queue_poll": (p, [p, i]),
        "rd_kafka_event_destroy": (None, [p]),
        "rd_kafka_event_error": (i, [p]),
        "rd_kafka_event_error_string": (c, [p]),
        "rd_kafka_AdminOptions_new": (p, [p, i]),
        "rd_kafka_AdminOptions_destroy": (None, [p]),
        "rd_kafka_AdminOptions_set_request_timeout": (i, [p, i, c, ctypes.c_size_t]),
        "rd_kafka_topic_partition_list_new": (ctypes.POINTER(_TopicPartitionList), [i]),
        "rd_kafka_topic_partition_list_add": (p, [ctypes.POINTER(_TopicPartitionList), c, ctypes.c_int32]),
        "rd_kafka_topic_partition_list_destroy": (None, [ctypes.POINTER(_TopicPartitionList)]),
        "rd_kafka_DeleteConsumerGroupOffsets_new": (p, [c, ctypes.POINTER(_TopicPartitionList)]),
        "rd_kafka_DeleteConsumerGroupOffsets_destroy": (None, [p]),
        "rd_kafka_DeleteConsumerGroupOffsets": (None, [p, ctypes.POINTER(p), ctypes.c_size_t, p, p]),
        "rd_kafka_event_DeleteConsumerGroupOffsets_result": (p, [p]),
        "rd_kafka_DeleteConsumerGroupOffsets_result_groups": (
            ctypes.POINTER(p),
            [p, ctypes.POINTER(ctypes.c_size_t)],
        ),
        "rd_kafka_group_result_error": (p, [p]),
        "rd_kafka_group_result_partitions": (ctypes.POINTER(_TopicPartitionList), [p]),
        "rd_kafka_ConfigResource_new": (p, [i, c]),
        "rd_kafka_ConfigResource_destroy": (None, [p]),
        "rd_kafka_DescribeConfigs": (None, [p, ctypes.POINTER(p), ctypes.c_size_t, p, p]),
        "rd_kafka_event_DescribeConfigs_result": (p, [p]),
        "rd_kafka_DescribeConfigs_result_resources": (ctypes.POINTER(p), [p, ctypes.POINTER(ctypes.c_size_t)]),
        "rd_kafka_ConfigResource_error": (i, [p]),
        "rd_kafka_ConfigResource_error_string": (c, [p]),
        "rd_kafka_ConfigResource_configs": (ctypes.POINTER(p), [p, ctypes.POINTER(ctypes.c_size_t)]),
        "rd_kafka_ConfigEntry_name": (c, [p]),
        "rd_kafka_ConfigEntry_value": (c, [p]),
        "rd_kafka_ConfigEntry_source": (i, [p]),
        "rd_kafka_ConfigEntry_is_sensitive": (i, [p]),
        "rd_kafka_ConfigEntry_is_default": (i, [p]),
        "rd_kafka_ConfigEntry_synonyms": (ctypes.POINTER(p), [p, ctypes.POINTER(ctypes.c_size_t)]),
        "rd_kafka_error_code": (i, [p]),
        "rd_kafka_error_string": (c, [p]),
        "rd_kafka_err2str": (c, [i]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def error_text(code: int) -> str:
    """librdkafka's description of an error code."""
    raw: bytes | None = _library().rd_kafka_err2str(code)
    return raw.decode(errors="replace") if raw else str(code)


@dataclass
class _AdminCall:
    """A short-lived librdkafka handle with a result queue and admin options (request timeout set)."""

    lib: Any
    rk: Any
    queue: Any
    options: Any
    timeout_ms: int

    def wait(self, what: str) -> Any:
        """The result event (the caller destroys it); CliError after the request timeout plus 5 s."""
        event = self.lib.rd_kafka_queue_poll(self.queue, self.timeout_ms + 5000)
        if not event:
            raise CliError(f"Timed out after {self.timeout_ms / 1000:.0f} s waiting for {what}")
        return event


@contextlib.contextmanager
def _admin_call(config: Mapping[str, Any], timeout_s: float) -> Iterator[_AdminCall]:
    lib = _library()
    rk = _new_handle(lib, config)
    queue = options = None
    try:
        queue = lib.rd_kafka_queue_new(rk)
        options = lib.rd_kafka_AdminOptions_new(rk, _RD_KAFKA_ADMIN_OP_ANY)
        errstr = ctypes.create_string_buffer(_ERRSTR_SIZE)
        timeout_ms = int(timeout_s * 1000)
        if lib.rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, errstr, _ERRSTR_SIZE) != 0:
            raise CliError(f"librdkafka: {errstr.value.decode(errors='replace')}")
        yield _AdminCall(lib, rk, queue, options, timeout_ms)
    finally:
        if options:
            lib.rd_kafka_AdminOptions_destroy(options)
        if queue:
            lib.rd_kafka_queue_destroy(queue)
        lib.rd_kafka_destroy(rk)


def delete_consumer_group_offsets(
    config: Mapping[str, Any], group: str, partitions: Sequence[tuple[str, int]], timeout_s: float
) -> OffsetDeleteResult:
    """rd_kafka_DeleteConsumerGroupOffsets for one group; waits at most timeout_s (plus a little) for the answer."""
    with _admin_call(config, timeout_s) as call:
        lib = call.lib
        request = tplist = None
        try:
            tplist = lib.rd_kafka_topic_partition_list_new(max(1, len(partitions)))
            for topic, partition in partitions:
                lib.rd_kafka_topic_partition_list_add(tplist, topic.encode(), partition)
            request = lib.rd_kafka_DeleteConsumerGroupOffsets_new(group.encode(), tplist)
            requests = (ctypes.c_void_p * 1)(request)
            lib.rd_kafka_DeleteConsumerGroupOffsets(call.rk, requests, 1, call.options, call.queue)
            event = call.wait(f"deleting offsets of group {group}")
            try:
                return _read_result(lib, event, partitions)
            finally:
                lib.rd_kafka_event_destroy(event)
        finally:
            if request:
                lib.rd_kafka_DeleteConsumerGroupOffsets_destroy(request)
            if tplist:
                lib.rd_kafka_topic_partition_list_destroy(tplist)


def describe_configs(
    config: Mapping[str, Any], resource_type: int, name: str, timeout_s: float
) -> tuple[int, str, list[DescribedEntry]]:
    """rd_kafka_DescribeConfigs for one resource: (error code, error text, entries); waits at most timeout_s."""
    with _admin_call(config, timeout_s) as call:
        lib = call.lib
        resource = lib.rd_kafka_ConfigResource_new(resource_type, name.encode())
        if not resource:
            raise CliError(f"librdkafka cannot name the resource {name!r} of type {resource_type}")
        try:
            lib.rd_kafka_DescribeConfigs(call.rk, (ctypes.c_void_p * 1)(resource), 1, call.options, call.queue)
            event = call.wait("DescribeConfigs")
            try:
                return _read_describe(lib, event)
            finally:
                lib.rd_kafka_event_destroy(event)
        finally:
            lib.rd_kafka_ConfigResource_destroy(resource)


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode(errors="replace")


def _array(lib_call: Any, owner: Any) -> list[Any]:
    count = ctypes.c_size_t(0)
    items = lib_call(owner, ctypes.byref(count))
    return [items[index] for index in range(count.value)] if items else []


def _read_describe(lib: Any, event: Any) -> tuple[int, str, list[DescribedEntry]]:
    code = lib.rd_kafka_event_error(event)
    if code != 0:
        return code, _text(lib.rd_kafka_event_error_string(event)) or error_text(code), []
    result = lib.rd_kafka_event_DescribeConfigs_result(event)
    resources = _array(lib.rd_kafka_DescribeConfigs_result_resources, result) if result else []
    if not resources:
        raise CliError("librdkafka returned no resource for DescribeConfigs")
    code = lib.rd_kafka_ConfigResource_error(resources[0])
    if code != 0:
        return code, _text(lib.rd_kafka_ConfigResource_error_string(resources[0])) or error_text(code), []
    entries = []
    for entry in _array(lib.rd_kafka_ConfigResource_configs, resources[0]):
        synonyms = tuple(
            (
                int(lib.rd_kafka_ConfigEntry_source(synonym)),
                _text(lib.rd_kafka_ConfigEntry_name(synonym)) or "",
                _text(lib.rd_kafka_ConfigEntry_value(synonym)),
            )
            for synonym in _array(lib.rd_kafka_ConfigEntry_synonyms, entry)
        )
        entries.append(
            DescribedEntry(
                _text(lib.rd_kafka_ConfigEntry_name(entry)) or "",
                _text(lib.rd_kafka_ConfigEntry_value(entry)),
                int(lib.rd_kafka_ConfigEntry_source(entry)),
                bool(lib.rd_kafka_ConfigEntry_is_sensitive(entry)),
                bool(lib.rd_kafka_ConfigEntry_is_default(entry)),
                synonyms,
            )
        )
    return 0, "", entries


def _new_handle(lib: Any, config: Mapping[str, Any]) -> Any:
    conf = lib.rd_kafka_conf_new()
    errstr = ctypes.create_string_buffer(_ERRSTR_SIZE)
    for key, value in config.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if lib.rd_kafka_conf_set(conf, key.encode(), text.encode(), errstr, _ERRSTR_SIZE) != _RD_KAFKA_CONF_OK:
            lib.rd_kafka_conf_destroy(conf)
            raise CliError(f"Invalid client configuration {key}={text}: {errstr.value.decode(errors='replace')}")
    rk = lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errstr, _ERRSTR_SIZE)
    if not rk:  # on failure the conf object is still ours
        lib.rd_kafka_conf_destroy(conf)
        raise CliError(f"librdkafka: {errstr.value.decode(errors='replace')}")
    return rk


def _read_result(lib: Any, event: Any, partitions: Sequence[tuple[str, int]]) -> OffsetDeleteResult:
    code = lib.rd_kafka_event_error(event)
    if code != 0:
        raw = lib.rd_kafka_event_error_string(event)
        return OffsetDeleteResult(code, raw.decode(errors="replace") if raw else error_text(code), {})
    result = lib.rd_kafka_event_DeleteConsumerGroupOffsets_result(event)
    if not result:
        raise CliError("librdkafka returned an unexpected event for DeleteConsumerGroupOffsets")
    count = ctypes.c_size_t(0)
    groups = lib.rd_kafka_DeleteConsumerGroupOffsets_result_groups(result, ctypes.byref(count))
    if count.value < 1:
        raise CliError("librdkafka returned no group result for DeleteConsumerGroupOffsets")
    group_result = groups[0]
    error = lib.rd_kafka_group_result_error(group_result)
    if error:
        raw = lib.rd_kafka_error_string(error)
        code = lib.rd_kafka_error_code(error)
        return OffsetDeleteResult(code, raw.decode(errors="replace") if raw else error_text(code), {})
    per_partition = {tp: 0 for tp in partitions}
    listed = lib.rd_kafka_group_result_partitions(group_result)
    if listed:
        for index in range(listed.contents.cnt):
            elem = listed.contents.elems[index]
            per_partition[(elem.topic.decode(errors="replace"), int(elem.partition))] = int(elem.err)
    return OffsetDeleteResult(0, "", per_partition)
