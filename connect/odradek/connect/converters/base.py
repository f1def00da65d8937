"""What a converter implements (Kafka's Converter and HeaderConverter interfaces).

`configure(configs, is_key)` receives the converter's own settings with the worker or connector prefix removed
(`value.converter.schemas.enable=false` arrives as `schemas.enable=false`). `from_connect_data` returns None for a
null record part (a tombstone value); `to_connect_data(topic, None)` returns `NULL_SCHEMA_AND_VALUE`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from odradek.connect.api.data import Schema, SchemaAndValue
from odradek.connect.config.configdef import ConfigDef


class Converter(Protocol):
    def configure(self, configs: Mapping[str, Any], is_key: bool) -> None: ...

    def from_connect_data(self, topic: str, schema: Schema | None, value: Any) -> bytes | None: ...

    def to_connect_data(self, topic: str, value: bytes | None) -> SchemaAndValue: ...

    def config(self) -> ConfigDef: ...


class HeaderConverter(Protocol):
    def configure(self, configs: Mapping[str, Any]) -> None: ...

    def from_connect_header(self, topic: str, header_key: str, schema: Schema | None, value: Any) -> bytes | None: ...

    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue: ...

    def config(self) -> ConfigDef: ...
