"""Which topics, groups and topic configs are replicated (Kafka's DefaultTopicFilter, DefaultGroupFilter and
DefaultConfigPropertyFilter), with Kafka's keys and defaults.

Each of `topics`, `topics.exclude`, `groups`, `groups.exclude`, `config.properties.exclude` is a comma-separated
list of Java regexes that must match the whole name; a name is replicated when it matches an include and no exclude.
(Python's `re` is close to Java's for these patterns: character classes, `.*`, alternation, escapes.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

TOPICS_DEFAULT = ".*"
TOPICS_EXCLUDE_DEFAULT = r".*[\-\.]internal, .*\.replica, __.*"
GROUPS_DEFAULT = ".*"
GROUPS_EXCLUDE_DEFAULT = "console-consumer-.*, connect-.*, __.*"
CONFIG_PROPERTIES_EXCLUDE_DEFAULT = (
    "follower\\.replication\\.throttled\\.replicas, leader\\.replication\\.throttled\\.replicas, "
    "message\\.timestamp\\.difference\\.max\\.ms, message\\.timestamp\\.type, unclean\\.leader\\.election\\.enable, "
    "min\\.insync\\.replicas"
)


def compile_list(value: str) -> re.Pattern[str] | None:
    """A comma-separated list of regexes as one pattern (None for an empty list)."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    return re.compile("|".join(f"(?:{item})" for item in items)) if items else None


@dataclass(frozen=True, slots=True)
class NameFilter:
    include: re.Pattern[str] | None
    exclude: re.Pattern[str] | None

    @classmethod
    def of(cls, include: str, exclude: str) -> NameFilter:
        return cls(compile_list(include), compile_list(exclude))

    def accepts(self, name: str) -> bool:
        included = self.include is not None and self.include.fullmatch(name) is not None
        return included and not (self.exclude is not None and self.exclude.fullmatch(name) is not None)


def topic_filter(props: Mapping[str, str]) -> NameFilter:
    exclude = props.get("topics.exclude", props.get("topics.blacklist", TOPICS_EXCLUDE_DEFAULT))
    return NameFilter.of(props.get("topics", TOPICS_DEFAULT), exclude)


def group_filter(props: Mapping[str, str]) -> NameFilter:
    exclude = props.get("groups.exclude", props.get("groups.blacklist", GROUPS_EXCLUDE_DEFAULT))
    return NameFilter.of(props.get("groups", GROUPS_DEFAULT), exclude)


def config_property_filter(props: Mapping[str, str]) -> NameFilter:
    """Accepts the topic config names that are synced to the target."""
    return NameFilter.of(".*", props.get("config.properties.exclude", CONFIG_PROPERTIES_EXCLUDE_DEFAULT))
