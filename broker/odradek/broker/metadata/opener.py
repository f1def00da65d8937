"""``open_store(url)``: the one place that turns a metadata store URL into a ``MetadataStore``.

URL schemes (tansu's shape: the engine is chosen by scheme, everything above speaks only ``MetadataStore``):

- ``embedded://PATH``: ``EmbeddedMetadataStore`` journaled in folder ``PATH`` (absolute or relative to the working
  directory: ``embedded:///var/lib/odradek/__cluster_metadata``, ``embedded://data/__cluster_metadata``);
- ``etcd://host:port,host:port,.../PREFIX``: ``etcd.EtcdMetadataStore`` on those etcd v3 endpoints (plain HTTP,
  the ``/v3/`` gateway), every key under ``/PREFIX`` (none when the path is empty), e.g.
  ``etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379/odradek/prod``.

This module is the only importer of ``metadata.embedded`` (an import-linter "protected" contract), so nothing
else can come to depend on the embedded store's extras (``revision`` aside, which every store has).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from odradek.broker.config.definitions import ConfigError
from odradek.broker.metadata.embedded import METADATA_DIR_NAME, EmbeddedMetadataStore
from odradek.broker.metadata.store import MetadataStore, MetadataStoreError

__all__ = ["EMBEDDED_SCHEME", "ETCD_SCHEME", "default_store_url", "etcd_endpoints", "open_store", "store_url"]

EMBEDDED_SCHEME = "embedded://"
ETCD_SCHEME = "etcd://"


def default_store_url(log_dirs: Sequence[str | os.PathLike[str]]) -> str:
    """``embedded://<log.dirs[0]>/__cluster_metadata``: where every broker so far has kept its metadata."""
    return EMBEDDED_SCHEME + os.path.join(os.fspath(log_dirs[0]), METADATA_DIR_NAME)


def store_url(configured: str | None, log_dirs: Sequence[str | os.PathLike[str]]) -> str:
    """``metadata.store.url`` as configured, or the embedded default when it is empty."""
    return configured or default_store_url(log_dirs)


def etcd_endpoints(url: str) -> tuple[list[str], bytes]:
    """``(["http://host:port", ...], prefix)`` of an ``etcd://`` URL; ``ConfigError`` if it is malformed."""
    hosts, _, path = url[len(ETCD_SCHEME) :].partition("/")
    endpoints = []
    for host in hosts.split(","):
        name, colon, port = host.rpartition(":")
        if not colon or not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"metadata.store.url {url!r}: {host!r} is not host:port")
        endpoints.append(f"http://{host}")
    prefix = path.strip("/")
    if "?" in prefix or "//" in prefix:
        raise ConfigError(f"metadata.store.url {url!r}: the prefix must be a plain path like /odradek/prod")
    return endpoints, (b"/" + prefix.encode() if prefix else b"")


async def open_store(url: str) -> MetadataStore:
    """Opens the store that ``url`` names; ``ConfigError`` for an unknown scheme, a malformed URL or an etcd that
    does not answer (within ``EtcdMetadataStore.open``'s timeout)."""
    if url.startswith(EMBEDDED_SCHEME):
        path = url[len(EMBEDDED_SCHEME) :]
        if not path:
            raise ConfigError(f"metadata.store.url {url!r}: embedded:// needs a folder, e.g. embedded://data/meta")
        return await EmbeddedMetadataStore.open(path)
    if url.startswith(ETCD_SCHEME):
        endpoints, prefix = etcd_endpoints(url)
        # Imported here: aiohttp takes about 0.25 s to import, which brokers on the embedded store need not pay.
        from odradek.broker.metadata.etcd import EtcdMetadataStore

        try:
            return await EtcdMetadataStore.open(endpoints, prefix)
        except MetadataStoreError as e:
            raise ConfigError(f"metadata.store.url {url!r}: cannot open the etcd metadata store: {e}") from None
    raise ConfigError(f"metadata.store.url {url!r}: unknown scheme (expected embedded://PATH or etcd://host:port,...)")
