"""`odradek connect-standalone worker.properties [connector.properties|connector.json ...]` and
`odradek connect-distributed worker.properties` (distributed mode: odradek.connect.distributed).

Standalone start-up, as Kafka's ConnectStandalone: read the worker properties (config providers resolved), start the
REST server on `listeners` (GET /health answers 503 "starting" until the herder is ready), start the herder, then
create each connector given on the command line; a connector file that fails validation stops the worker with exit
code 1 and the validation message. Connector files are Java properties, or JSON: either `{"name": ..., "config":
{...}}` or a flat object of the config. SIGTERM or SIGINT stop the tasks (bounded by
`task.shutdown.graceful.timeout.ms`), commit offsets and exit 0.

Log lines a supervisor can wait for: `REST server listening at <scheme>://<host>:<port>/` (one per listener),
`REST server advertising URL <url>` and `Kafka Connect started`.
REST listener security (https, mTLS, basic auth): odradek.connect.rest.security.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from odradek.connect.api.errors import ConnectException
from odradek.connect.config.configdef import ConfigException
from odradek.connect.config.connector import config_string, string_config
from odradek.connect.config.properties import load_properties
from odradek.connect.config.providers import ConfigTransformer
from odradek.connect.config.worker import WorkerConfig
from odradek.connect.plugins import Plugins
from odradek.connect.rest.security import (
    BasicAuthenticator,
    advertised_address,
    advertised_scheme,
    client_ssl_context,
    parse_listeners,
    server_ssl_context,
)
from odradek.connect.rest.server import build_app
from odradek.connect.runtime import tracing
from odradek.connect.runtime.gil import SwitchIntervalError, configure_switch_interval
from odradek.connect.runtime.metrics import ConnectCollector
from odradek.connect.runtime.metrics import serve as serve_metrics
from odradek.connect.runtime.offsets import FileOffsetBackingStore
from odradek.connect.runtime.standalone import StandaloneHerder
from odradek.connect.runtime.states import StatusBackingStore
from odradek.connect.runtime.worker import Worker

log = logging.getLogger("odradek.connect")

LOG_FORMAT = "[%(asctime)s] %(levelname)s %(message)s (%(name)s)"


class StartupError(Exception):
    pass


def load_connector_file(path: str) -> tuple[str, dict[str, str]]:
    """A connector file (properties or JSON) as (name, config)."""
    file = Path(path)
    if not file.is_file():
        raise StartupError(f"connector config file {path} not found")
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise StartupError(f"connector config file {path} is not valid JSON: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            config = string_config(data["config"])
            config.setdefault("name", config_string(data.get("name", "")))
        elif isinstance(data, dict):
            config = string_config(data)
        else:
            raise StartupError(f"connector config file {path} must hold a JSON object")
    else:
        config = load_properties(file)
    name = config.get("name", "").strip()
    if not name:
        raise StartupError(f'connector config file {path} has no "name"')
    return name, config


@dataclass(frozen=True, slots=True)
class RestServing:
    """A started REST server: its runner, the worker_id (`host:port`) and advertised URL (`scheme://host:port/`)."""

    runner: web.AppRunner
    worker_id: str
    url: str


async def start_rest(config: WorkerConfig, herder: StandaloneHerder) -> RestServing:
    """Serve the REST API on every listener (odradek.connect.rest.security) and work out the advertised URL."""
    listeners = parse_listeners(config["listeners"])
    scheme = advertised_scheme(config, listeners)
    tls = server_ssl_context(config) if any(listener.scheme == "https" for listener in listeners) else None
    authenticator = BasicAuthenticator.from_worker(config, os.environ)
    runner = web.AppRunner(build_app(herder, authenticator=authenticator), access_log=None)
    await runner.setup()
    advertised = ""
    try:
        for listener in listeners:
            site_tls = tls if listener.scheme == "https" else None
            site = web.TCPSite(runner, listener.host, listener.port, reuse_address=True, ssl_context=site_tls)
            await site.start()
            bound = int(runner.addresses[-1][1])
            log.info("REST server listening at %s://%s:%d/", listener.scheme, listener.host, bound)
            if not advertised and listener.scheme == scheme:
                advertised = advertised_address(config, listener, bound)
    except BaseException:
        await runner.cleanup()
        raise
    url = f"{scheme}://{advertised}/"
    log.info("REST server advertising URL %s", url)
    return RestServing(runner, advertised, url)


class ConnectStandalone:
    """The running process: REST server plus herder; `run` blocks until a stop signal."""

    def __init__(self, worker_props: dict[str, str], connector_files: Sequence[str]) -> None:
        transformer = ConfigTransformer.from_worker_config(worker_props)
        self.config = WorkerConfig.parse(transformer.transform(worker_props))
        if not self.config["offset.storage.file.filename"]:
            raise StartupError(
                'Missing required configuration "offset.storage.file.filename" which has no default value.'
            )
        self.transformer = transformer
        self.connector_files = list(connector_files)
        self.plugins = Plugins(self.config["plugin.path"] or ())
        self.stop_event: asyncio.Event | None = None

    async def run(self) -> int:
        offsets = FileOffsetBackingStore(self.config["offset.storage.file.filename"])
        loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        statuses = StatusBackingStore("")
        if self.config.exactly_once_read_committed:
            log.warning(
                "exactly.once.source.support is a distributed worker's setting: this standalone worker ignores it"
            )
        worker = Worker("", self.config, self.plugins, offsets, statuses, self.transformer)
        serve_metrics(ConnectCollector(worker), self.config["metrics.port"], self.config["metrics.host"])
        herder = StandaloneHerder(worker, self.plugins, statuses, self.config)
        serving = await start_rest(self.config, herder)
        runner = serving.runner
        statuses.worker_id = worker.worker_id = serving.worker_id
        try:
            await asyncio.to_thread(herder.start)
            for path in self.connector_files:
                name, config = load_connector_file(path)
                await asyncio.to_thread(herder.put_connector_config, name, config, False)
                log.info("Created connector %s", name)
            log.info("Kafka Connect started")
            await self.stop_event.wait()
            log.info("Kafka Connect stopping")
            return 0
        except ConnectException as exc:
            log.error("Stopping after connector error: %s", exc)
            return 1
        finally:
            await asyncio.to_thread(herder.stop)
            await runner.cleanup()
            log.info("Kafka Connect stopped")


def standalone_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="odradek connect-standalone", description="Run a standalone Kafka Connect worker (docs/connect.md)."
    )
    parser.add_argument("worker_properties")
    parser.add_argument("connector_configs", nargs="*")
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    tracing.configure_from_environment()
    try:
        configure_switch_interval(os.environ)
        process = ConnectStandalone(load_properties(args.worker_properties), args.connector_configs)
        return asyncio.run(process.run())
    except (StartupError, ConfigException, OSError, SwitchIntervalError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1


REQUIRED_DISTRIBUTED = ("config.storage.topic", "offset.storage.topic", "status.storage.topic")


class ConnectDistributed:
    """A distributed worker (Kafka's ConnectDistributed): REST server, backing stores, group member, herder."""

    def __init__(self, worker_props: dict[str, str]) -> None:
        transformer = ConfigTransformer.from_worker_config(worker_props)
        self.config = WorkerConfig.parse(transformer.transform(worker_props))
        for key in REQUIRED_DISTRIBUTED:
            if not self.config[key]:
                raise StartupError(f'Missing required configuration "{key}" which has no default value.')
        self.transformer = transformer
        self.plugins = Plugins(self.config["plugin.path"] or ())

    def _log(self, key: str, partitions_key: str | None) -> Any:
        from odradek.connect.distributed.stores import KafkaBasedLog, TopicSpec
        from odradek.connect.runtime.clients import client_config

        prefix = key.split(".")[0]
        spec = TopicSpec(
            self.config[f"{prefix}.storage.topic"],
            int(self.config[partitions_key]) if partitions_key else 1,
            int(self.config[f"{prefix}.storage.replication.factor"]),
        )
        consumer = client_config(self.config, "consumer", {})
        if prefix == "offset" and self.config.exactly_once_read_committed:
            # KIP-618: offsets written in an aborted transaction are never read.
            consumer["isolation.level"] = "read_committed"
        return KafkaBasedLog(
            spec,
            client_config(self.config, "producer", {}),
            consumer,
            client_config(self.config, "admin", {}),
        )

    async def run(self) -> int:
        from odradek.connect.distributed.herder import DistributedHerder
        from odradek.connect.distributed.member import WorkerGroupMember
        from odradek.connect.distributed.protocol import ConnectProtocolCompatibility
        from odradek.connect.distributed.stores import (
            KafkaConfigBackingStore,
            KafkaOffsetBackingStore,
            KafkaStatusBackingStore,
        )

        loop = asyncio.get_running_loop()
        stop_event = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_event.set)
        statuses = KafkaStatusBackingStore("", self._log("status", "status.storage.partitions"))
        offsets = KafkaOffsetBackingStore(self._log("offset", "offset.storage.partitions"))
        transactional = offsets if self.config.exactly_once_source_enabled else None
        worker = Worker("", self.config, self.plugins, offsets, statuses, self.transformer, transactional)
        serve_metrics(ConnectCollector(worker), self.config["metrics.port"], self.config["metrics.host"])
        # The REST server is up first (GET /health answers 503 "starting"); the herder needs its URL.
        herder = DistributedHerder(worker, self.plugins, statuses, self.config, "")
        herder.client_ssl = client_ssl_context(self.config)  # forwarding to an https leader
        serving = await start_rest(self.config, herder)
        runner = serving.runner
        worker_id = serving.worker_id
        statuses.worker_id = worker.worker_id = worker_id
        herder.url = serving.url
        member = None
        config_store = KafkaConfigBackingStore(self._log("config", None), herder)
        try:
            await asyncio.to_thread(offsets.start)
            await asyncio.to_thread(statuses.start)
            await asyncio.to_thread(config_store.start)
            member = await asyncio.to_thread(
                WorkerGroupMember,
                ",".join(self.config["bootstrap.servers"]),
                str(self.config["group.id"]),
                f"connect-{worker_id}",
                herder,
                ConnectProtocolCompatibility.of_setting(str(self.config["connect.protocol"])),
                int(self.config["session.timeout.ms"]),
                int(self.config["heartbeat.interval.ms"]),
                int(self.config["rebalance.timeout.ms"]),
            )
            herder.attach(config_store, member)
            await asyncio.to_thread(herder.start)
            log.info("Kafka Connect started")
            await stop_event.wait()
            log.info("Kafka Connect stopping")
            return 0
        except ConnectException as exc:
            log.error("Stopping after error: %s", exc)
            return 1
        finally:
            if member is not None:
                await asyncio.to_thread(herder.stop)
            for store in (config_store, statuses, offsets):
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(store.stop)
            await runner.cleanup()
            log.info("Kafka Connect stopped")


def distributed_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="odradek connect-distributed", description="Run a distributed Kafka Connect worker (docs/connect.md)."
    )
    parser.add_argument("worker_properties")
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    tracing.configure_from_environment()
    try:
        configure_switch_interval(os.environ)
        process = ConnectDistributed(load_properties(args.worker_properties))
        return asyncio.run(process.run())
    except (StartupError, ConfigException, OSError, SwitchIntervalError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(standalone_main(sys.argv[1:]))
