"""The S3 sink's configuration: Confluent's keys (ConfigDef), the checks that span several keys, and the parsed
settings (`S3SinkConfig`) the task works from. See odradek.connect.connectors.s3 for what they do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odradek.connect.api.errors import ConnectException
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
from odradek.connect.connectors import partitioner as parts

JSON_FORMAT = "io.confluent.connect.s3.format.json.JsonFormat"
BYTEARRAY_FORMAT = "io.confluent.connect.s3.format.bytearray.ByteArrayFormat"
FORMATS = (JSON_FORMAT, BYTEARRAY_FORMAT)
# Confluent's other formats, refused with a pointer to docs/not-implemented.md.
UNSUPPORTED_FORMATS = ("AvroFormat", "ParquetFormat")
MIN_PART_SIZE = 5 * 1024 * 1024


def format_class_name(name: str) -> str:
    """The full format class name for a short or full name; raises ValueError for an unknown one."""
    for full in FORMATS:
        if name in (full, full.rpartition(".")[2]):
            return full
    raise ValueError(name)


def _check_format(name: str, value: Any) -> None:
    try:
        format_class_name(str(value))
    except ValueError:
        hint = (
            " (Avro and Parquet are not implemented: docs/not-implemented.md)"
            if any(str(value).endswith(u) for u in UNSUPPORTED_FORMATS)
            else ""
        )
        raise ConfigException(name, value, "must be one of " + ", ".join(FORMATS) + hint) from None


def _check_partitioner(name: str, value: Any) -> None:
    try:
        parts.partitioner_class_name(str(value))
    except ValueError:
        raise ConfigException(name, value, "must be one of " + ", ".join(parts.PARTITIONERS)) from None


def _check_extractor(name: str, value: Any) -> None:
    try:
        parts.extractor_name(str(value))
    except ValueError:
        raise ConfigException(name, value, "must be one of " + ", ".join(parts.EXTRACTORS)) from None


def _check_timezone(name: str, value: Any) -> None:
    if value:
        try:
            parts.zone(str(value))
        except ConnectException:
            raise ConfigException(name, value, "not a known time zone (IANA name, e.g. UTC or Europe/Paris)") from None


def s3_config_def() -> ConfigDef:
    storage, part, rotation = "Storage", "Partitioner", "Connector"
    return (
        ConfigDef()
        .define(
            "s3.bucket.name",
            ConfigType.STRING,
            validator=NonEmptyString(),
            importance=Importance.HIGH,
            documentation="The S3 Bucket.",
            group=storage,
            order_in_group=1,
        )
        .define(
            "s3.region",
            ConfigType.STRING,
            "us-west-2",
            None,
            Importance.MEDIUM,
            "The AWS region to be used the connector.",
            storage,
            2,
        )
        .define(
            "store.url",
            ConfigType.STRING,
            None,
            None,
            Importance.HIGH,
            "Store's connection URL, if applicable (an S3-compatible endpoint: MinIO, moto, ...).",
            storage,
            3,
        )
        .define(
            "topics.dir",
            ConfigType.STRING,
            "topics",
            None,
            Importance.HIGH,
            "Top level directory to store the data ingested from Kafka.",
            storage,
            4,
        )
        .define(
            "directory.delim",
            ConfigType.STRING,
            "/",
            NonEmptyString(),
            Importance.MEDIUM,
            "Directory delimiter pattern",
            storage,
            5,
        )
        .define(
            "file.delim",
            ConfigType.STRING,
            "+",
            NonEmptyString(),
            Importance.MEDIUM,
            "File delimiter pattern",
            storage,
            6,
        )
        .define(
            "filename.offset.zero.pad.width",
            ConfigType.INT,
            10,
            Range.at_least(0),
            Importance.LOW,
            "Width to zero-pad offsets in store's filenames if offsets are too short in order to provide "
            "fixed-width filenames that can be ordered by simple lexicographic sorting.",
            storage,
            7,
        )
        .define(
            "aws.access.key.id",
            ConfigType.STRING,
            "",
            None,
            Importance.HIGH,
            "The AWS access key ID used to authenticate personal AWS credentials (empty: boto3's default "
            "credential chain).",
            storage,
            8,
        )
        .define(
            "aws.secret.access.key",
            ConfigType.PASSWORD,
            "",
            None,
            Importance.HIGH,
            "The secret access key used to authenticate personal AWS credentials.",
            storage,
            9,
        )
        .define(
            "s3.part.size",
            ConfigType.INT,
            25 * 1024 * 1024,
            Range.between(MIN_PART_SIZE, 2**31 - 1),
            Importance.HIGH,
            "The Part Size in S3 Multi-part Uploads (objects above it are uploaded in parts).",
            storage,
            10,
        )
        .define(
            "s3.compression.type",
            ConfigType.STRING,
            "none",
            ValidString.in_("none", "gzip"),
            Importance.LOW,
            "Compression type for files written to S3. Applied when using JsonFormat or ByteArrayFormat.",
            storage,
            11,
        )
        .define(
            "s3.part.retries",
            ConfigType.INT,
            3,
            Range.at_least(0),
            Importance.MEDIUM,
            "Maximum number of retry attempts for failed requests (boto3's max_attempts is this plus one).",
            storage,
            12,
        )
        .define(
            "s3.retry.backoff.ms",
            ConfigType.LONG,
            200,
            Range.at_least(0),
            Importance.LOW,
            "How long to wait before the records of a failed upload are read again.",
            storage,
            13,
        )
        .define(
            "s3.path.style.access.enabled",
            ConfigType.BOOLEAN,
            True,
            None,
            Importance.LOW,
            "Specifies whether or not to enable path style access to the bucket used by the connector",
            storage,
            14,
        )
        .define(
            "format.class",
            ConfigType.CLASS,
            validator=LambdaValidator(_check_format, ", ".join(FORMATS)),
            importance=Importance.HIGH,
            documentation="The format class to use when writing data to the store.",
            group=rotation,
            order_in_group=1,
        )
        .define(
            "format.bytearray.extension",
            ConfigType.STRING,
            ".bin",
            None,
            Importance.LOW,
            "Output file extension for ByteArrayFormat. Defaults to '.bin'",
            rotation,
            2,
        )
        .define(
            "format.bytearray.separator",
            ConfigType.STRING,
            None,
            None,
            Importance.LOW,
            "String inserted between records for ByteArrayFormat. Defaults to a newline.",
            rotation,
            3,
        )
        .define(
            "flush.size",
            ConfigType.INT,
            validator=Range.at_least(1),
            importance=Importance.HIGH,
            documentation="Number of records written to store before invoking file commits.",
            group=rotation,
            order_in_group=4,
        )
        .define(
            "rotate.interval.ms",
            ConfigType.LONG,
            -1,
            None,
            Importance.HIGH,
            "The time interval in milliseconds to invoke file commits, measured on the timestamps of the "
            "records (timestamp.extractor) from the first record of the file. -1 disables it.",
            rotation,
            5,
        )
        .define(
            "rotate.schedule.interval.ms",
            ConfigType.LONG,
            -1,
            None,
            Importance.MEDIUM,
            "The time interval in milliseconds to periodically invoke file commits, on the wall clock. -1 "
            "disables it. Output then depends on timing: not exactly once.",
            rotation,
            6,
        )
        .define(
            "behavior.on.null.values",
            ConfigType.STRING,
            "fail",
            ValidString.in_case_insensitive("fail", "ignore"),
            Importance.LOW,
            "How to handle records with a null value (i.e. Kafka tombstone records).",
            rotation,
            7,
        )
        .define(
            "partitioner.class",
            ConfigType.CLASS,
            parts.DEFAULT_PARTITIONER,
            LambdaValidator(_check_partitioner, ", ".join(parts.PARTITIONERS)),
            Importance.HIGH,
            "The partitioner to use when writing data to the store.",
            part,
            1,
        )
        .define(
            "partition.field.name",
            ConfigType.LIST,
            "",
            None,
            Importance.MEDIUM,
            "The name of the partitioning field when FieldPartitioner is used.",
            part,
            2,
        )
        .define(
            "partition.duration.ms",
            ConfigType.LONG,
            -1,
            None,
            Importance.MEDIUM,
            "The duration of a partition milliseconds used by TimeBasedPartitioner.",
            part,
            3,
        )
        .define(
            "path.format",
            ConfigType.STRING,
            "",
            None,
            Importance.MEDIUM,
            "This configuration is used to set the format of the data directories when partitioning with "
            "TimeBasedPartitioner (a Joda-Time pattern, e.g. 'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH).",
            part,
            4,
        )
        .define(
            "locale",
            ConfigType.STRING,
            "",
            None,
            Importance.MEDIUM,
            "The locale to use when partitioning with TimeBasedPartitioner (numeric patterns only, so it "
            "changes nothing here; accepted for pasted configs).",
            part,
            5,
        )
        .define(
            "timezone",
            ConfigType.STRING,
            "",
            LambdaValidator(_check_timezone, "IANA time zone"),
            Importance.MEDIUM,
            "The timezone to use when partitioning with TimeBasedPartitioner.",
            part,
            6,
        )
        .define(
            "timestamp.extractor",
            ConfigType.STRING,
            "Wallclock",
            LambdaValidator(_check_extractor, ", ".join(parts.EXTRACTORS)),
            Importance.MEDIUM,
            "The extractor that gets the timestamp for records when partitioning with TimeBasedPartitioner "
            "and for rotate.interval.ms.",
            part,
            7,
        )
        .define(
            "timestamp.field",
            ConfigType.STRING,
            "timestamp",
            None,
            Importance.MEDIUM,
            "The record field to be used as timestamp by the timestamp extractor (RecordField).",
            part,
            8,
        )
    )


def cross_key_errors(parsed: Mapping[str, Any]) -> dict[str, str]:
    """Errors that depend on several keys (Confluent checks them when the partitioner is configured)."""
    errors: dict[str, str] = {}
    cls = parsed.get("partitioner.class")
    try:
        full = parts.partitioner_class_name(str(cls))
    except ValueError:
        return errors
    if full == parts.FIELD_PARTITIONER and not parsed.get("partition.field.name"):
        errors["partition.field.name"] = "FieldPartitioner requires partition.field.name"
    if full == parts.TIME_BASED_PARTITIONER:
        if not parsed.get("path.format"):
            errors["path.format"] = "Path format cannot be empty with TimeBasedPartitioner."
        if (parsed.get("partition.duration.ms") or -1) <= 0:
            errors["partition.duration.ms"] = "Partition duration needs to be a positive with TimeBasedPartitioner."
    if full in (parts.TIME_BASED_PARTITIONER, *parts.PRESETS):
        if not parsed.get("locale"):
            errors["locale"] = "Locale cannot be empty with TimeBasedPartitioner."
        if not parsed.get("timezone"):
            errors["timezone"] = "Timezone cannot be empty with TimeBasedPartitioner."
    return errors


@dataclass(frozen=True, slots=True)
class S3SinkConfig:
    """The parsed settings the task uses."""

    bucket: str
    region: str
    endpoint: str | None
    access_key: str
    secret_key: str
    topics_dir: str
    directory_delim: str
    file_delim: str
    zero_pad: int
    part_size: int
    gzip: bool
    retries: int
    retry_backoff_ms: int
    path_style: bool
    format_class: str
    bytearray_extension: str
    bytearray_separator: bytes
    flush_size: int
    rotate_interval_ms: int
    rotate_schedule_interval_ms: int
    ignore_nulls: bool
    partitioner_class: str
    partition_fields: tuple[str, ...]
    partition_duration_ms: int
    path_format: str
    timezone: str
    timestamp_extractor: str
    timestamp_field: str

    @classmethod
    def parse(cls, props: Mapping[str, str]) -> S3SinkConfig:
        p = s3_config_def().parse_checked(props, cross_key_errors)
        partitioner = parts.partitioner_class_name(p["partitioner.class"])
        path_format, duration = p["path.format"], p["partition.duration.ms"]
        if partitioner in parts.PRESETS:
            path_format, duration = parts.PRESETS[partitioner]
        separator = p["format.bytearray.separator"]
        return cls(
            bucket=p["s3.bucket.name"],
            region=p["s3.region"],
            endpoint=p["store.url"] or None,
            access_key=p["aws.access.key.id"],
            secret_key=p["aws.secret.access.key"].value,
            topics_dir=p["topics.dir"].strip("/"),
            directory_delim=p["directory.delim"],
            file_delim=p["file.delim"],
            zero_pad=p["filename.offset.zero.pad.width"],
            part_size=p["s3.part.size"],
            gzip=p["s3.compression.type"] == "gzip",
            retries=p["s3.part.retries"],
            retry_backoff_ms=p["s3.retry.backoff.ms"],
            path_style=p["s3.path.style.access.enabled"],
            format_class=format_class_name(p["format.class"]),
            bytearray_extension=p["format.bytearray.extension"],
            bytearray_separator=b"\n" if separator is None else separator.encode("utf-8"),
            flush_size=p["flush.size"],
            rotate_interval_ms=p["rotate.interval.ms"],
            rotate_schedule_interval_ms=p["rotate.schedule.interval.ms"],
            ignore_nulls=p["behavior.on.null.values"].lower() == "ignore",
            partitioner_class=partitioner,
            partition_fields=tuple(p["partition.field.name"]),
            partition_duration_ms=duration,
            path_format=path_format,
            timezone=p["timezone"] or "UTC",
            timestamp_extractor=p["timestamp.extractor"],
            timestamp_field=p["timestamp.field"],
        )

    @property
    def extension(self) -> str:
        base = ".json" if self.format_class == JSON_FORMAT else self.bytearray_extension
        return base + (".gz" if self.gzip else "")
