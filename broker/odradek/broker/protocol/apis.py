"""API key table: name, request codec module and response codec module for every generated API.

Each codec module (``odradek.broker.protocol.messages.<name>_request`` / ``_response``) exposes ``API_KEY``,
``MIN_VERSION``, ``MAX_VERSION``, ``FLEXIBLE_VERSION``, ``decode(r, version)`` and
``encode(w, msg, version)``;
:class:`MessageModule` states that contract for type checkers.

Version ranges here are the *spec's* ``validVersions`` (Kafka 4.x), i.e. what the codecs can decode, not what
the broker advertises (the handler registry decides that). Two carve-outs matter to the server:

- Produce's spec starts at v3 and Fetch's at v4. Older clients may still send Produce v0-2 (the broker
  advertises Produce 0+ for librdkafka <= 2.11's compression gate and answers v0-2 with UNSUPPORTED_VERSION),
  and Fetch v1-3. Their bodies cannot be decoded here, but the request header can:
  :func:`odradek.broker.protocol.headers.decode_request_header` parses any version (out-of-range versions as
  header v1), so the server can reply with an error instead of dropping the connection.
- ApiVersions requests with an unknown higher version must be answered with a v0 body and error 35; the
  header is parsed as v1 for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, cast

from odradek.broker.protocol.messages.registry import MESSAGES
from odradek.broker.protocol.primitives import Reader


class MessageModule(Protocol):
    """The interface of a generated codec module."""

    API_KEY: int
    MIN_VERSION: int
    MAX_VERSION: int
    FLEXIBLE_VERSION: int | None

    def decode(self, r: Reader, version: int) -> Any: ...

    def encode(self, w: bytearray, msg: Any, version: int) -> None: ...


@dataclass(frozen=True, slots=True)
class ApiInfo:
    api_key: int
    name: str
    request: MessageModule
    response: MessageModule

    @property
    def min_version(self) -> int:
        return self.request.MIN_VERSION

    @property
    def max_version(self) -> int:
        return self.request.MAX_VERSION

    def is_flexible(self, version: int) -> bool:
        fv = self.request.FLEXIBLE_VERSION
        return fv is not None and version >= fv


APIS: dict[int, ApiInfo] = {
    key: ApiInfo(key, name, cast(MessageModule, req), cast(MessageModule, resp)) for key, name, req, resp in MESSAGES
}


def api_info(api_key: int) -> ApiInfo | None:
    """The table entry for ``api_key``, or None for an API without a spec."""
    return APIS.get(api_key)


def request_message(api_key: int) -> MessageModule:
    """Request codec module for ``api_key``; KeyError if unknown."""
    return APIS[api_key].request


def response_message(api_key: int) -> MessageModule:
    """Response codec module for ``api_key``; KeyError if unknown."""
    return APIS[api_key].response
