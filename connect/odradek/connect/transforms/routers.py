"""Topic routers: RegexRouter and TimestampRouter (Kafka's classes of the same names).

RegexRouter: if `regex` matches the whole topic name (Java's Matcher.matches()), the topic becomes `replacement`
with Java's group references (`$1`, `${name}`, `\\$` for a literal dollar). TimestampRouter: the topic becomes
`topic.format` with `${topic}` and `${timestamp}` replaced, the record timestamp formatted in UTC by
`timestamp.format`, a java.text.SimpleDateFormat pattern (letters y, M, d, H, h, m, s, S, a, E and quoted text).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from odradek.connect.api.errors import DataException
from odradek.connect.config.configdef import ConfigDef, ConfigException, ConfigType, Importance, LambdaValidator
from odradek.connect.transforms.base import BaseTransformation, R


def java_replacement(replacement: str) -> str:
    """A java.util.regex replacement string in Python's re syntax."""
    out: list[str] = []
    i = 0
    while i < len(replacement):
        char = replacement[i]
        if char == "\\" and i + 1 < len(replacement):
            out.append(replacement[i + 1].replace("\\", "\\\\"))
            i += 2
        elif char == "$" and i + 1 < len(replacement) and replacement[i + 1] == "{":
            end = replacement.index("}", i)
            out.append(f"\\g<{replacement[i + 2 : end]}>")
            i = end + 1
        elif char == "$":
            j = i + 1
            while j < len(replacement) and replacement[j].isdigit():
                j += 1
            if j == i + 1:
                raise ValueError("Illegal group reference")
            out.append(f"\\g<{replacement[i + 1 : j]}>")
            i = j
        else:
            out.append(char.replace("\\", "\\\\"))
            i += 1
    return "".join(out)


_JAVA_NAMED_GROUP = re.compile(r"\(\?<([A-Za-z][A-Za-z0-9]*)>")


def java_regex(pattern: str) -> re.Pattern[str]:
    """Compile a java.util.regex pattern: named groups `(?<name>...)` become Python's `(?P<name>...)`."""
    return re.compile(_JAVA_NAMED_GROUP.sub(r"(?P<\1>", pattern))


def _check_regex(name: str, value: Any) -> None:
    try:
        java_regex(value)
    except (re.error, TypeError) as exc:
        raise ConfigException(name, value, f"Invalid regex: {exc}") from None


REGEX_VALIDATOR = LambdaValidator(_check_regex, "valid regex")


class RegexRouter(BaseTransformation):
    CONFIG_DEF = (
        ConfigDef()
        .define(
            "regex",
            ConfigType.STRING,
            validator=REGEX_VALIDATOR,
            importance=Importance.HIGH,
            documentation="Regular expression to use for matching.",
        )
        .define("replacement", ConfigType.STRING, importance=Importance.HIGH, documentation="Replacement string.")
    )

    def configured(self) -> None:
        self.regex = java_regex(self.settings["regex"])
        self.replacement = java_replacement(self.settings["replacement"])

    def apply(self, record: R) -> R | None:
        match = self.regex.fullmatch(record.topic)
        if match is None:
            return record
        return record.new_record(topic=match.expand(self.replacement))


_JAVA_LETTERS = re.compile(r"'([^']*)'|(y+|M+|d+|H+|h+|m+|s+|S+|a+|E+)")


def format_java_date(pattern: str, when: dt.datetime) -> str:
    """Format `when` with a SimpleDateFormat pattern (the subset in the module docstring)."""

    def letter(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1) or "'"
        token = match.group(2)
        kind, width = token[0], len(token)
        if kind == "y":
            return f"{when.year % 100:02d}" if width == 2 else f"{when.year:0{width}d}"
        if kind == "M":
            return when.strftime("%B" if width >= 4 else "%b") if width >= 3 else f"{when.month:0{width}d}"
        values = {"d": when.day, "H": when.hour, "h": (when.hour % 12) or 12, "m": when.minute, "s": when.second}
        if kind in values:
            return f"{values[kind]:0{width}d}"
        if kind == "S":
            return f"{when.microsecond // 1000:0{width}d}"
        if kind == "a":
            return "AM" if when.hour < 12 else "PM"
        return when.strftime("%A" if width >= 4 else "%a")

    return _JAVA_LETTERS.sub(letter, pattern)


class TimestampRouter(BaseTransformation):
    CONFIG_DEF = (
        ConfigDef()
        .define(
            "topic.format",
            ConfigType.STRING,
            "${topic}-${timestamp}",
            None,
            Importance.HIGH,
            "Format string which can contain ${topic} and ${timestamp} as placeholders for the topic and "
            "timestamp, respectively.",
        )
        .define(
            "timestamp.format",
            ConfigType.STRING,
            "yyyyMMdd",
            None,
            Importance.HIGH,
            "Format string for the timestamp that is compatible with java.text.SimpleDateFormat.",
        )
    )

    def apply(self, record: R) -> R | None:
        if record.timestamp is None:
            raise DataException(f"Timestamp missing on record: {record}")
        when = dt.datetime.fromtimestamp(record.timestamp / 1000, tz=dt.UTC)
        stamp = format_java_date(self.settings["timestamp.format"], when)
        topic = self.settings["topic.format"].replace("${topic}", record.topic).replace("${timestamp}", stamp)
        return record.new_record(topic=topic)
