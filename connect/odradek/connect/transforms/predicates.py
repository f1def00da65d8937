"""Filter and the built-in predicates (Kafka's Filter, TopicNameMatches, HasHeaderKey, RecordIsTombstone).

`Filter` drops every record it is applied to, so it is used with `transforms.<a>.predicate` (and `negate`).
TopicNameMatches matches the whole topic name against `pattern` (Java's Matcher.matches()).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from odradek.connect.api.records import ConnectRecord
from odradek.connect.config.configdef import ConfigDef, ConfigType, Importance, NonEmptyString
from odradek.connect.transforms.base import BaseTransformation, R
from odradek.connect.transforms.routers import REGEX_VALIDATOR, java_regex


class Filter(BaseTransformation):
    def apply(self, record: R) -> R | None:
        return None


class BasePredicate:
    CONFIG_DEF = ConfigDef()

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}

    def config(self) -> ConfigDef:
        return self.CONFIG_DEF

    def configure(self, configs: Mapping[str, Any]) -> None:
        self.settings = self.CONFIG_DEF.parse(configs)

    def close(self) -> None:
        pass


class TopicNameMatches(BasePredicate):
    CONFIG_DEF = ConfigDef().define(
        "pattern",
        ConfigType.STRING,
        validator=REGEX_VALIDATOR,
        importance=Importance.MEDIUM,
        documentation="A Java regular expression for matching against the name of a record's topic.",
    )

    def configure(self, configs: Mapping[str, Any]) -> None:
        super().configure(configs)
        self.pattern = java_regex(self.settings["pattern"])

    def test(self, record: ConnectRecord) -> bool:
        return record.topic is not None and self.pattern.fullmatch(record.topic) is not None


class HasHeaderKey(BasePredicate):
    CONFIG_DEF = ConfigDef().define(
        "name",
        ConfigType.STRING,
        validator=NonEmptyString(),
        importance=Importance.MEDIUM,
        documentation="The header name.",
    )

    def test(self, record: ConnectRecord) -> bool:
        return any(h.key == self.settings["name"] for h in record.headers)


class RecordIsTombstone(BasePredicate):
    def test(self, record: ConnectRecord) -> bool:
        return record.value is None
