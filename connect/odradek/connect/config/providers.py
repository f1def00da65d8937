"""Config providers: `${provider:[path:]key}` references resolved where Kafka resolves them (KIP-297, KIP-421).

Declared in the worker config: `config.providers=file,env,directory`,
`config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider` (or the short names
`FileConfigProvider`, `EnvVarConfigProvider`, `DirectoryConfigProvider`), parameters as
`config.providers.<name>.param.<key>`. References:
- `${file:/path/app.properties:db.password}`: the key `db.password` of that Java properties file;
- `${env:DB_PASSWORD}`: an environment variable (optional parameter `allowlist.pattern`, a regex of allowed names);
- `${directory:/run/secrets:db_password}`: the content of the file `db_password` in that folder.

Worker configs are resolved at start-up. Connector and task configs are stored and served by the REST API with the
references intact (so secrets never appear in `GET /connectors/{c}/config`) and are resolved only when the worker
starts the connector or a task, as in Kafka. A reference to an unknown provider is left as is; a failing lookup
raises ConfigException naming the reference.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from odradek.connect.config.configdef import ConfigException
from odradek.connect.config.properties import load_properties

REFERENCE = re.compile(r"\$\{([^}]*?):(([^}]*?):)?([^}]*?)\}")


class ConfigProvider(Protocol):
    def configure(self, params: Mapping[str, str]) -> None: ...

    def get(self, path: str, key: str) -> str | None: ...


class FileConfigProvider:
    def configure(self, params: Mapping[str, str]) -> None:
        pass

    def get(self, path: str, key: str) -> str | None:
        try:
            return load_properties(path).get(key)
        except OSError as exc:
            raise ConfigException(f"Could not read properties from file {path}: {exc}", plain=True) from None


class EnvVarConfigProvider:
    def __init__(self) -> None:
        self.allowlist: re.Pattern[str] | None = None

    def configure(self, params: Mapping[str, str]) -> None:
        pattern = params.get("allowlist.pattern")
        self.allowlist = re.compile(pattern) if pattern else None

    def get(self, path: str, key: str) -> str | None:
        if path:
            raise ConfigException(
                "Path is not supported for EnvVarConfigProvider, invalid value '" + path + "'", plain=True
            )
        if self.allowlist is not None and not self.allowlist.fullmatch(key):
            return None
        return os.environ.get(key)


class DirectoryConfigProvider:
    def configure(self, params: Mapping[str, str]) -> None:
        pass

    def get(self, path: str, key: str) -> str | None:
        target = Path(path) / key
        if Path(key).name != key or not target.is_file():
            return None
        return target.read_text(encoding="utf-8")


_PROVIDER_CLASSES: dict[str, type[ConfigProvider]] = {}
for _cls in (FileConfigProvider, EnvVarConfigProvider, DirectoryConfigProvider):
    for _name in (
        f"org.apache.kafka.common.config.provider.{_cls.__name__}",
        _cls.__name__,
        f"{_cls.__module__}.{_cls.__name__}",
    ):
        _PROVIDER_CLASSES[_name] = _cls


@dataclass(frozen=True, slots=True)
class ConfigTransformer:
    """The configured providers; `transform(config)` returns a copy with every reference resolved."""

    providers: Mapping[str, ConfigProvider]

    @classmethod
    def from_worker_config(cls, props: Mapping[str, str]) -> ConfigTransformer:
        providers: dict[str, ConfigProvider] = {}
        names = [n.strip() for n in props.get("config.providers", "").split(",") if n.strip()]
        for name in names:
            class_name = props.get(f"config.providers.{name}.class")
            if class_name is None:
                raise ConfigException(
                    f"config.providers.{name}.class", None, "no class given for config provider " + name
                )
            provider_cls = _PROVIDER_CLASSES.get(class_name.strip())
            if provider_cls is None:
                raise ConfigException(f"config.providers.{name}.class", class_name, "Class could not be found.")
            provider = provider_cls()
            prefix = f"config.providers.{name}.param."
            provider.configure({k[len(prefix) :]: v for k, v in props.items() if k.startswith(prefix)})
            providers[name] = provider
        return cls(providers)

    def transform(self, config: Mapping[str, str]) -> dict[str, str]:
        return {key: self.resolve(value) for key, value in config.items()}

    def resolve(self, value: str) -> str:
        if not isinstance(value, str) or "${" not in value:
            return value

        def lookup(match: re.Match[str]) -> str:
            provider = self.providers.get(match.group(1))
            if provider is None:
                return match.group(0)
            found = provider.get(match.group(3) or "", match.group(4))
            return match.group(0) if found is None else found

        return REFERENCE.sub(lookup, value)
