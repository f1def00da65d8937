"""What an SMT and a predicate implement, the `$Key`/`$Value` plumbing, and the transformation chain.

A transformation's `apply(record)` returns the new record, or None to drop it. In a connector config
`transforms=a,b` applies `a` then `b`; `transforms.a.predicate=p` applies `a` only to records for which predicate
`p` (declared as `predicates=p`, `predicates.p.type=...`) is true, or false with `transforms.a.negate=true`.

`KeyOrValue` implements Kafka's `$Key`/`$Value` pairs: a subclass works on `operating_schema(record)` /
`operating_value(record)` and returns `new_record(record, schema, value)`; `Key` and `Value` subclasses choose the
side. Errors carry Kafka's texts ("Only Map objects supported in absence of schema for [...], found: ...").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from odradek.connect.api.data import Schema, Struct, Type
from odradek.connect.api.errors import DataException
from odradek.connect.api.records import ConnectRecord
from odradek.connect.config.configdef import ConfigDef

R = TypeVar("R", bound=ConnectRecord)


class Transformation(Protocol):
    def config(self) -> ConfigDef: ...

    def configure(self, configs: Mapping[str, Any]) -> None: ...

    def apply(self, record: R) -> R | None: ...

    def close(self) -> None: ...


class Predicate(Protocol):
    def config(self) -> ConfigDef: ...

    def configure(self, configs: Mapping[str, Any]) -> None: ...

    def test(self, record: ConnectRecord) -> bool: ...

    def close(self) -> None: ...


class BaseTransformation:
    """Shared defaults: `CONFIG_DEF` declared by the subclass, parsed into `self.settings` by `configure`."""

    CONFIG_DEF: ClassVar[ConfigDef] = ConfigDef()

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}

    def config(self) -> ConfigDef:
        return self.CONFIG_DEF

    def configure(self, configs: Mapping[str, Any]) -> None:
        self.settings = self.CONFIG_DEF.parse(configs)
        self.configured()

    def configured(self) -> None:
        """Hook run after `settings` is parsed (validate cross-key rules, precompute)."""

    def close(self) -> None:
        pass


class KeyOrValue(BaseTransformation):
    """Base of SMTs with `$Key` and `$Value` variants; `IS_KEY` is set by the variant."""

    IS_KEY: ClassVar[bool] = False

    def operating_schema(self, record: ConnectRecord) -> Schema | None:
        return record.key_schema if self.IS_KEY else record.value_schema

    def operating_value(self, record: ConnectRecord) -> Any:
        return record.key if self.IS_KEY else record.value

    def new_record(self, record: R, schema: Schema | None, value: Any) -> R:
        if self.IS_KEY:
            return record.new_record(key_schema=schema, key=value)
        return record.new_record(value_schema=schema, value=value)


def _class_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def require_map(value: Any, purpose: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataException(
            f"Only Map objects supported in absence of schema for [{purpose}], found: {_class_name(value)}"
        )
    return value


def require_struct(value: Any, purpose: str) -> Struct:
    if not isinstance(value, Struct):
        raise DataException(f"Only Struct objects supported for [{purpose}], found: {_class_name(value)}")
    return value


def require_struct_schema(schema: Schema, purpose: str) -> Schema:
    if schema.type is not Type.STRUCT:
        raise DataException(f"Only Struct objects supported for [{purpose}], found: {schema.type.name}")
    return schema


@dataclass(frozen=True, slots=True)
class TransformationStage:
    """One configured SMT with its optional predicate (Kafka's TransformationStage)."""

    alias: str
    transformation: Transformation
    predicate: Predicate | None = None
    negate: bool = False

    def apply(self, record: R) -> R | None:
        if self.predicate is not None and self.predicate.test(record) == self.negate:
            return record
        return self.transformation.apply(record)

    def close(self) -> None:
        self.transformation.close()
        if self.predicate is not None:
            self.predicate.close()


@dataclass(frozen=True, slots=True)
class TransformationChain:
    stages: Sequence[TransformationStage] = ()

    def apply(self, record: R) -> R | None:
        current: R | None = record
        for stage in self.stages:
            assert current is not None
            current = stage.apply(current)
            if current is None:
                return None
        return current

    def close(self) -> None:
        for stage in self.stages:
            stage.close()
