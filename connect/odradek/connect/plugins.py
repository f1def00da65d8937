"""Plugin discovery and aliases (Kafka's Plugins / DelegatingClassLoader), so pasted Kafka configs work unchanged.

Where plugins come from, in order:
1. the built-ins of this package, each under its Apache Kafka class name
   (`org.apache.kafka.connect.file.FileStreamSinkConnector`, `org.apache.kafka.connect.transforms.InsertField$Value`);
2. entry points in the group `odradek.connect.plugins` (name = the alias users write, value = `module:Class`);
3. `plugin.path` folders: every top-level `*.py` module and package in them is imported, and the connectors,
   converters, header converters, transformations and predicates it defines are registered by class name.

Names accepted for a plugin: the Kafka class name; its simple name (`FileStreamSinkConnector`, `JsonConverter`);
the simple name without the `Connector`/`Converter` suffix (`FileStreamSink`), as Kafka's PluginUtils.prunedName;
for nested SMT classes `InsertField$Value` (Kafka itself needs the full name there); and always the Python path
`package.module.Class` or `package.module:Class`. An alias shared by two plugins is not registered (as in Kafka).
"""

from __future__ import annotations

import enum
import importlib
import inspect
import logging
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from odradek.connect import VERSION
from odradek.connect.api.connector import Connector, SinkConnector, SourceConnector
from odradek.connect.api.errors import ConnectException

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "odradek.connect.plugins"


class PluginType(enum.Enum):
    SOURCE = "source"
    SINK = "sink"
    CONVERTER = "converter"
    HEADER_CONVERTER = "header_converter"
    TRANSFORMATION = "transformation"
    PREDICATE = "predicate"


CONNECTOR_TYPES = (PluginType.SOURCE, PluginType.SINK)

_K = "org.apache.kafka.connect."
BUILTINS: tuple[tuple[str, str, tuple[PluginType, ...]], ...] = (
    (
        _K + "file.FileStreamSourceConnector",
        "odradek.connect.connectors.file:FileStreamSourceConnector",
        (PluginType.SOURCE,),
    ),
    (
        _K + "file.FileStreamSinkConnector",
        "odradek.connect.connectors.file:FileStreamSinkConnector",
        (PluginType.SINK,),
    ),
    (
        "io.confluent.connect.s3.S3SinkConnector",
        "odradek.connect.connectors.s3:S3SinkConnector",
        (PluginType.SINK,),
    ),
    (
        "io.confluent.connect.jdbc.JdbcSourceConnector",
        "odradek.connect.connectors.jdbc_source:JdbcSourceConnector",
        (PluginType.SOURCE,),
    ),
    (
        "io.confluent.connect.jdbc.JdbcSinkConnector",
        "odradek.connect.connectors.jdbc_sink:JdbcSinkConnector",
        (PluginType.SINK,),
    ),
    (
        "io.confluent.connect.http.HttpSinkConnector",
        "odradek.connect.connectors.http:HttpSinkConnector",
        (PluginType.SINK,),
    ),
    (
        _K + "json.JsonConverter",
        "odradek.connect.converters.json:JsonConverter",
        (PluginType.CONVERTER, PluginType.HEADER_CONVERTER),
    ),
    (
        _K + "storage.StringConverter",
        "odradek.connect.converters.simple:StringConverter",
        (PluginType.CONVERTER, PluginType.HEADER_CONVERTER),
    ),
    (
        _K + "converters.ByteArrayConverter",
        "odradek.connect.converters.simple:ByteArrayConverter",
        (PluginType.CONVERTER, PluginType.HEADER_CONVERTER),
    ),
    (
        _K + "storage.SimpleHeaderConverter",
        "odradek.connect.converters.simple:SimpleHeaderConverter",
        (PluginType.HEADER_CONVERTER,),
    ),
    *(
        (
            f"{_K}transforms.{smt}${side}",
            f"odradek.connect.transforms.{module}:{smt}{side}",
            (PluginType.TRANSFORMATION,),
        )
        for smt, module in (
            ("InsertField", "fields"),
            ("ReplaceField", "fields"),
            ("MaskField", "fields"),
            ("ExtractField", "fields"),
            ("HoistField", "fields"),
            ("Flatten", "fields"),
            ("Cast", "cast"),
            ("HeaderFrom", "headers"),
            ("SetSchemaMetadata", "headers"),
            ("TimestampConverter", "timestamps"),
        )
        for side in ("Key", "Value")
    ),
    (_K + "transforms.ValueToKey", "odradek.connect.transforms.fields:ValueToKey", (PluginType.TRANSFORMATION,)),
    (_K + "transforms.RegexRouter", "odradek.connect.transforms.routers:RegexRouter", (PluginType.TRANSFORMATION,)),
    (
        _K + "transforms.TimestampRouter",
        "odradek.connect.transforms.routers:TimestampRouter",
        (PluginType.TRANSFORMATION,),
    ),
    (_K + "transforms.Filter", "odradek.connect.transforms.predicates:Filter", (PluginType.TRANSFORMATION,)),
    (_K + "transforms.DropHeaders", "odradek.connect.transforms.headers:DropHeaders", (PluginType.TRANSFORMATION,)),
    (_K + "transforms.InsertHeader", "odradek.connect.transforms.headers:InsertHeader", (PluginType.TRANSFORMATION,)),
    (
        _K + "transforms.predicates.TopicNameMatches",
        "odradek.connect.transforms.predicates:TopicNameMatches",
        (PluginType.PREDICATE,),
    ),
    (
        _K + "transforms.predicates.HasHeaderKey",
        "odradek.connect.transforms.predicates:HasHeaderKey",
        (PluginType.PREDICATE,),
    ),
    (
        _K + "transforms.predicates.RecordIsTombstone",
        "odradek.connect.transforms.predicates:RecordIsTombstone",
        (PluginType.PREDICATE,),
    ),
)


@dataclass(frozen=True, slots=True)
class PluginDesc:
    """One plugin: the class name shown by the REST API, its kinds, and the Python class."""

    class_name: str
    types: tuple[PluginType, ...]
    cls: type

    @property
    def version(self) -> str:
        if issubclass(self.cls, Connector):
            try:
                return str(self.cls().version())
            except Exception:
                return "undefined"
        return str(getattr(self.cls, "VERSION", VERSION))


def load_class(target: str) -> type:
    """`package.module:Class` or `package.module.Class` (nested classes with dots after the colon)."""
    module_name, _, attr = target.partition(":") if ":" in target else target.rpartition(".")
    if not module_name or not attr:
        raise ImportError(f"not a Python class path: {target}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise ImportError(f"{target} is not a class")
    return obj


def classify(cls: type) -> tuple[PluginType, ...]:
    """The plugin kinds a class implements, by base class or by the methods Kafka's interfaces require."""
    if inspect.isabstract(cls):
        return ()
    if issubclass(cls, SourceConnector):
        return (PluginType.SOURCE,)
    if issubclass(cls, SinkConnector):
        return (PluginType.SINK,)
    kinds: list[PluginType] = []
    if callable(getattr(cls, "from_connect_data", None)) and callable(getattr(cls, "to_connect_data", None)):
        kinds.append(PluginType.CONVERTER)
    if callable(getattr(cls, "from_connect_header", None)) and callable(getattr(cls, "to_connect_header", None)):
        kinds.append(PluginType.HEADER_CONVERTER)
    if callable(getattr(cls, "apply", None)) and callable(getattr(cls, "config", None)):
        kinds.append(PluginType.TRANSFORMATION)
    if callable(getattr(cls, "test", None)) and callable(getattr(cls, "config", None)):
        kinds.append(PluginType.PREDICATE)
    return tuple(kinds)


def aliases(class_name: str) -> list[str]:
    simple = class_name.rpartition(".")[2]
    names = [simple]
    if "$" in simple:
        names.append(simple.rpartition("$")[2])
    for suffix in ("Connector", "Converter"):
        if simple.endswith(suffix) and simple != suffix:
            names.append(simple[: -len(suffix)])
    return names


class Plugins:
    """The registry: `find(name, *types)` resolves any accepted name to a PluginDesc."""

    def __init__(self, plugin_path: Sequence[str] = (), entry_points: bool = True) -> None:
        self.by_name: dict[str, PluginDesc] = {}
        self._alias_owners: dict[str, set[str]] = {}
        for class_name, target, types in BUILTINS:
            self.register(PluginDesc(class_name, types, load_class(target)))
        if entry_points:
            self._load_entry_points()
        for folder in plugin_path:
            self._load_folder(Path(folder))
        self._publish_aliases()

    def register(self, desc: PluginDesc) -> None:
        self.by_name[desc.class_name] = desc
        for alias in aliases(desc.class_name):
            self._alias_owners.setdefault(alias, set()).add(desc.class_name)

    def _publish_aliases(self) -> None:
        self.aliases = {
            alias: self.by_name[next(iter(owners))]
            for alias, owners in self._alias_owners.items()
            if len(owners) == 1 and alias not in self.by_name
        }

    def _load_entry_points(self) -> None:
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                cls = entry.load()
            except Exception as exc:  # a broken third-party plugin must not stop the worker
                log.warning("cannot load Connect plugin %s (%s): %s", entry.name, entry.value, exc)
                continue
            types = classify(cls)
            if not types:
                log.warning("entry point %s (%s) is not a Connect plugin", entry.name, entry.value)
                continue
            known = next((d for d in self.by_name.values() if d.cls is cls), None)
            desc = known or PluginDesc(f"{cls.__module__}.{cls.__qualname__}", types, cls)
            if known is None:
                self.register(desc)
            if entry.name not in self.by_name:
                self._alias_owners.setdefault(entry.name, set()).add(desc.class_name)

    def _load_folder(self, folder: Path) -> None:
        if not folder.is_dir():
            log.warning("plugin.path entry %s is not a folder; ignored", folder)
            return
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
        for entry in sorted(folder.iterdir()):
            name = entry.stem if entry.suffix == ".py" else entry.name if (entry / "__init__.py").exists() else None
            if name is None or name.startswith("_"):
                continue
            try:
                module = importlib.import_module(name)
            except Exception as exc:
                log.warning("cannot import plugin module %s from %s: %s", name, folder, exc)
                continue
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ == module.__name__ and (types := classify(cls)):
                    self.register(PluginDesc(f"{cls.__module__}.{cls.__qualname__}", types, cls))

    def find(self, name: str, *types: PluginType) -> PluginDesc:
        wanted = types or tuple(PluginType)
        desc = self.by_name.get(name) or self.aliases.get(name)
        if desc is None:
            try:
                cls = load_class(name)
            except (ImportError, AttributeError, ValueError):
                cls = None
            if cls is not None and classify(cls):
                desc = PluginDesc(f"{cls.__module__}.{cls.__qualname__}", classify(cls), cls)
        if desc is None or not set(desc.types) & set(wanted):
            raise ConnectException(self._not_found(name, wanted))
        return desc

    def _not_found(self, name: str, wanted: Iterable[PluginType]) -> str:
        kinds = set(wanted)
        if kinds <= set(CONNECTOR_TYPES):
            available = ", ".join(sorted(d.class_name for d in self.plugins(*CONNECTOR_TYPES)))
            return (
                f"Failed to find any class that implements Connector and which name matches {name}, "
                f"available connectors are: {available}"
            )
        return f"Class {name} could not be found."

    def plugins(self, *types: PluginType) -> list[PluginDesc]:
        wanted = set(types or PluginType)
        return sorted((d for d in self.by_name.values() if set(d.types) & wanted), key=lambda d: d.class_name)

    def connector_type(self, name: str) -> str:
        """`source`, `sink`, or `unknown` (for ConnectorInfo.type)."""
        try:
            desc = self.find(name, *CONNECTOR_TYPES)
        except ConnectException:
            return "unknown"
        return desc.types[0].value

    def new_instance(self, name: str, *types: PluginType) -> Any:
        return self.find(name, *types).cls()
