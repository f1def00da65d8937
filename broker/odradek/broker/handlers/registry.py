"""The handler registry: one module per API key, each declaring `API_KEY`, `VERSIONS` and `handle` (and
`COORDINATOR_WRITE = True` where the answer waits for a coordinator write: `coordinator_writes`).

ApiVersions is built from this registry, so the broker advertises exactly what is implemented. Registering an
API key twice is an error. `VERSIONS` is the advertised range, and every version in it is served (Produce v0, which
librdkafka up to 2.11 needs advertised before it compresses, KAFKA-18659, is served for old clients since issue 15).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from odradek.broker.protocol import apis

Handle = Callable[[Any, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    api_key: int
    name: str
    min_version: int
    max_version: int
    handle: Handle
    request_module: apis.MessageModule
    response_module: apis.MessageModule
    coordinator_write: bool = False

    def serves(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version


class Registry:
    def __init__(self, modules: Iterable[ModuleType] = ()) -> None:
        self._specs: dict[int, HandlerSpec] = {}
        for module in modules:
            self.register(module)

    def register(self, module: ModuleType) -> None:
        api_key: int = module.API_KEY
        low, high = module.VERSIONS
        if api_key in self._specs:
            raise ValueError(f"API key {api_key} registered twice ({module.__name__})")
        self._specs[api_key] = HandlerSpec(
            api_key=api_key,
            name=apis.APIS[api_key].name,
            min_version=low,
            max_version=high,
            handle=module.handle,
            request_module=apis.request_message(api_key),
            response_module=apis.response_message(api_key),
            coordinator_write=bool(getattr(module, "COORDINATOR_WRITE", False)),
        )

    def coordinator_writes(self) -> frozenset[int]:
        """The API keys answered after a coordinator write (the server's `hold_behind`)."""
        return frozenset(spec.api_key for spec in self._specs.values() if spec.coordinator_write)

    def get(self, api_key: int) -> HandlerSpec | None:
        return self._specs.get(api_key)

    def advertised(self) -> list[tuple[int, int, int]]:
        """(api_key, min_version, max_version) for ApiVersions, sorted by key."""
        return [
            (s.api_key, s.min_version, s.max_version) for s in sorted(self._specs.values(), key=lambda s: s.api_key)
        ]

    def __iter__(self) -> Iterator[HandlerSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: s.api_key))
