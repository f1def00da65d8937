"""`python -m odradek.broker [server.properties] [--override key=value ...]`, like kafka-server-start."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from odradek.broker.config.broker import BrokerConfig, load
from odradek.broker.config.definitions import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="odradek broker", description="Run an Odradek broker.")
    parser.add_argument("properties", nargs="?", help="a server.properties file (Kafka's key names)")
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a configuration key, overriding the file and the environment",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load(args.properties, args.override)
    except ConfigError as exc:
        print(f"odradek broker: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(config)
    except ConfigError as exc:  # found at start-up: a listener whose security protocol is not served yet
        print(f"odradek broker: {exc}", file=sys.stderr)
        return 2


def _run(config: BrokerConfig) -> int:
    from odradek.broker.app import run

    try:
        import uvloop
    except ImportError:
        return asyncio.run(run(config))
    return uvloop.run(run(config))


if __name__ == "__main__":
    sys.exit(main())
