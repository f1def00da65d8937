"""`odradek connect-standalone worker.properties [connector.properties ...]` and `odradek connect-distributed
worker.properties`, as Kafka's connect-standalone.sh and connect-distributed.sh (docs/connect.md).

The Connect runtime lives in `odradek.connect` (imported when the command runs, so the other tools do not load
aiohttp).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    standalone: argparse.ArgumentParser = subparsers.add_parser(
        "connect-standalone", help="run a standalone Kafka Connect worker (connect-standalone)"
    )
    standalone.add_argument("worker_properties", help="worker configuration (Java properties)")
    standalone.add_argument("connector_configs", nargs="*", help="connector configurations (properties or JSON)")
    standalone.set_defaults(run=run_standalone)
    distributed: argparse.ArgumentParser = subparsers.add_parser(
        "connect-distributed", help="run a distributed Kafka Connect worker (connect-distributed)"
    )
    distributed.add_argument("worker_properties", help="worker configuration (Java properties)")
    distributed.set_defaults(run=run_distributed)


def run_standalone(args: argparse.Namespace) -> int:
    from odradek.connect.main import standalone_main

    return standalone_main([args.worker_properties, *args.connector_configs])


def run_distributed(args: argparse.Namespace) -> int:
    from odradek.connect.main import distributed_main

    return distributed_main([args.worker_properties])
