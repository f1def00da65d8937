"""What the built-in sink connectors (FileStream, S3, JDBC, HTTP) share: a connector whose tasks all run its own
config, checked by its ConfigDef plus the rules between its keys (`ConfigDef.parse_checked` / `validate_checked`),
with offsets that are the consumer group's alone (any offsets change through the REST API is allowed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from odradek.connect import VERSION
from odradek.connect.api.connector import SinkConnector, Task, TopicPartition
from odradek.connect.config.configdef import ConfigDef, ConfigValue

__all__ = ["CheckedSinkConnector"]


class CheckedSinkConnector(SinkConnector):
    """Subclasses override `task_class`, `config_def` and `checks` (and `check` when starting needs more than
    parsing: S3 builds its typed config)."""

    def config_def(self) -> ConfigDef:
        raise NotImplementedError

    def checks(self, parsed: Mapping[str, Any]) -> dict[str, str]:
        """Key -> message for each broken rule between keys (none by default)."""
        return {}

    def check(self, props: Mapping[str, str]) -> None:
        """Refuse a config the tasks could not run (ConfigException naming the key)."""
        self.config_def().parse_checked(props, self.checks)

    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return self.config_def()

    def validate(self, connector_configs: Mapping[str, str]) -> list[ConfigValue]:
        return self.config_def().validate_checked(connector_configs, self.checks)

    def start(self, props: dict[str, str]) -> None:
        self.check(props)
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        raise NotImplementedError

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks)]

    def stop(self) -> None:
        pass

    def alter_offsets(self, connector_config: Mapping[str, str], offsets: Mapping[TopicPartition, int | None]) -> bool:
        # The offsets are the sink's consumer group's alone (nothing outside Kafka records them): any change is allowed.
        return True
